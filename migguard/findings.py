"""Findings and severities: plain data at the bottom of migguard, importing none of it.

A check makes a :class:`Finding` without a severity (unless it decided one for that finding,
say a warning for what it cannot prove); the engine fixes every finding's severity when it
finalises the run (``rules.finalise``: the project's override, else the check's, else the
rule's default), so reporters read a value instead of looking one up.
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
        """The severity fixed when the run finalised its findings."""
        if self.severity is None:
            raise ValueError(f"finding of {self.rule!r} reported before it was finalised")
        return self.severity

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


def sort_key(finding: Finding) -> tuple[str, int, str, str]:
    return (finding.path or "", finding.line or 0, finding.rule, finding.message)
