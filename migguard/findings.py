"""Findings, severities and the rule registry.

Every rule is declared once, as a :class:`Rule` next to the code that implements it, and the
registry feeds ``migguard rule``, the SARIF ``help`` text and the README table from that single
source, the way ruff documents its rules.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field, replace


class Severity(str, enum.Enum):
    """How a finding affects the exit code: errors fail the run, warnings do not."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Rule:
    """A stable rule id with its documentation in ruff's four parts."""

    id: str
    summary: str
    severity: Severity
    what: str
    why: str
    example: str
    use_instead: str
    needs_database: bool = False


@dataclass(frozen=True)
class Finding:
    """One problem at one place; ``path`` is relative to the project root."""

    rule: str
    message: str
    path: str | None = None
    line: int | None = None
    revision: str | None = None
    hint: str | None = None
    severity: Severity | None = None
    # Text that identifies the finding independently of its line number (for baselines).
    anchor: str = field(default="", compare=False)

    def with_severity(self, severity: Severity) -> Finding:
        return replace(self, severity=severity)

    @property
    def effective_severity(self) -> Severity:
        if self.severity is not None:
            return self.severity
        rule = RULES.get(self.rule)
        return rule.severity if rule else Severity.ERROR

    @property
    def fingerprint(self) -> str:
        """Stable across unrelated edits: rule, path, revision and message, never the line."""
        basis = "\x1f".join(
            [self.rule, self.path or "", self.revision or "", self.anchor or self.message]
        )
        return hashlib.sha256(basis.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "severity": self.effective_severity.value,
            "message": self.message,
            "path": self.path,
            "line": self.line,
            "revision": self.revision,
            "hint": self.hint,
        }


RULES: dict[str, Rule] = {}


def register(rule: Rule) -> Rule:
    """Add a rule to the registry; ids are unique so that suppressions stay unambiguous."""
    if rule.id in RULES and RULES[rule.id] != rule:
        raise ValueError(f"rule id {rule.id!r} registered twice")
    RULES[rule.id] = rule
    return rule


def sort_key(finding: Finding) -> tuple[str, int, str, str]:
    return (finding.path or "", finding.line or 0, finding.rule, finding.message)


def load_all_rules() -> dict[str, Rule]:
    """Import every module that registers rules, so that the registry is complete.

    Rules register themselves when their module is imported; a command that lists or
    documents rules (``migguard rules``, the SARIF ``rules`` array) must not depend on
    which checks happened to run.
    """
    import importlib
    import pkgutil

    import migguard.checks

    for info in pkgutil.iter_modules(migguard.checks.__path__):
        importlib.import_module(f"migguard.checks.{info.name}")
    importlib.import_module("migguard.suppress")
    return RULES


def rules_table() -> str:
    """README's rule table, generated from the registry so that the two cannot drift apart."""
    lines = ["| id | severity | needs | what |", "|---|---|---|---|"]
    for rule in sorted(load_all_rules().values(), key=lambda r: r.id):
        needs = "database" if rule.needs_database else "static"
        lines.append(f"| `{rule.id}` | {rule.severity.value} | {needs} | {rule.summary} |")
    return "\n".join(lines)
