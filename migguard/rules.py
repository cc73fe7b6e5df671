"""The rule registry: every rule migguard has, what it needs, and which check produces it.

Rules are data that drive execution, the way ruff's ``codes.rs`` maps codes to rules and
Alembic's ``comparators.dispatch_for`` maps comparison levels to functions. A rule module in
``migguard/checks/`` declares its rules with :func:`register` and decorates the functions that
produce them with :func:`produces`; everything else reads this registry instead of keeping a
list of its own:

- the engine runs the checks of each :class:`Phase` (sources, static reading, after the run);
- ``--since`` keeps findings of :attr:`Scope.REVISION` rules for new revisions only;
- the pytest plugin makes one item per family of rules that need a database, plus ``static``;
- ``--select``, ``--ignore`` and ``[tool.migguard.severity]`` are validated against it;
- ``migguard rules``, ``migguard rule ID``, SARIF's rule descriptors and README's table.

:func:`load` is the one loader: it imports every module of ``migguard.checks``, so a rule
module is loaded by being there, and a rule declared anywhere else is a test failure.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from migguard.errors import MigguardError
from migguard.findings import Finding, Severity

RULE_PACKAGE = "migguard.checks"


class Scope(str, enum.Enum):
    """What a finding is news about, which decides whether ``--since`` keeps it."""

    REVISION = "revision"
    """One revision's own code: for revisions already deployed it is history (``--since``
    drops it)."""
    PROJECT = "project"
    """The project as a whole (the graph, the models, a history that no longer applies):
    reported whichever revision it points at."""


class Needs(str, enum.Enum):
    """What the authoritative check of a rule needs; ``--static`` runs only ``STATIC`` ones
    (plus static readings of the others, see :attr:`Phase.STATIC_READING`)."""

    STATIC = "static"
    """Files, their syntax tree, the revision graph, the models when they import."""
    DATABASE = "database"
    """The stairway on a throwaway database."""
    REHEARSAL = "rehearsal"
    """The stairway with rows in the existing tables and every statement observed."""


class Phase(str, enum.Enum):
    """When the engine calls a check, and so what the check is given."""

    SOURCES = "sources"
    """Every run, before any database: ``check(context: checks.StaticContext)``."""
    STATIC_READING = "static-reading"
    """``--static`` only, standing in for a database check that does not run:
    ``check(context: checks.StaticContext)``."""
    RUN = "run"
    """After the stairway, on what it observed: ``check(run: checks.RunContext)``."""


@dataclass(frozen=True)
class Rule:
    """A stable rule id, how it runs, and its documentation in ruff's four parts."""

    id: str
    family: str
    scope: Scope
    needs: Needs
    severity: Severity
    summary: str
    what: str
    why: str
    example: str
    use_instead: str


CheckFunction = Callable[[Any], list[Finding]]
F = TypeVar("F", bound=CheckFunction)


@dataclass(frozen=True)
class Check:
    """A function that produces findings of ``rules`` when the engine reaches ``phase``."""

    phase: Phase
    rules: tuple[Rule, ...]
    function: CheckFunction

    @property
    def name(self) -> str:
        return f"{self.function.__module__}.{self.function.__qualname__}"


# Filled once, as the rule modules are imported (declarations, not per-run state).
_RULES: dict[str, Rule] = {}
_CHECKS: list[Check] = []


def register(rule: Rule) -> Rule:
    """Declare a rule; ids are unique so that selections and suppressions stay unambiguous."""
    if rule.id in _RULES and _RULES[rule.id] != rule:
        raise ValueError(f"rule id {rule.id!r} registered twice")
    _RULES[rule.id] = rule
    return rule


def produces(phase: Phase, *rules: Rule) -> Callable[[F], F]:
    """Decorate the function that produces findings of ``rules`` in ``phase``."""
    if not rules:
        raise ValueError("a check produces at least one rule")

    def decorate(function: F) -> F:
        check = Check(phase=phase, rules=rules, function=function)
        if all(existing.name != check.name for existing in _CHECKS):
            _CHECKS.append(check)
        return function

    return decorate


def load() -> dict[str, Rule]:
    """Every rule, after importing every module of ``migguard.checks`` (the one loader).

    A command that lists, documents or validates rules must not depend on which checks
    happened to be imported first.
    """
    import importlib
    import pkgutil

    package = importlib.import_module(RULE_PACKAGE)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        importlib.import_module(f"{RULE_PACKAGE}.{info.name}")
    return dict(_RULES)


def get(rule_id: str) -> Rule | None:
    return load().get(rule_id)


def checks(phase: Phase) -> list[Check]:
    """The checks of one phase, in the order their modules were loaded."""
    load()
    return [check for check in _CHECKS if check.phase is phase]


def all_checks() -> list[Check]:
    load()
    return list(_CHECKS)


def revision_scoped() -> frozenset[str]:
    """Ids of the rules about one revision's own code (what ``--since`` narrows)."""
    return frozenset(r.id for r in load().values() if r.scope is Scope.REVISION)


# --- rule ids written by users --------------------------------------------------------------


def closest(rule_id: str) -> str | None:
    """The registered id nearest to a misspelt one, if any is near enough to suggest."""
    matches = difflib.get_close_matches(rule_id, sorted(load()), n=1, cutoff=0.6)
    return matches[0] if matches else None


def matches_some_rule(pattern: str) -> bool:
    """An exact id, or a ``prefix*`` pattern that selects at least one rule."""
    ids = load()
    if pattern.endswith("*"):
        return any(rule_id.startswith(pattern[:-1]) for rule_id in ids)
    return pattern in ids


def unknown_id_message(rule_id: str, where: str | None = None) -> str:
    """``unknown rule id 'drfit' in --select; did you mean 'drift'?``"""
    place = f" in {where}" if where else ""
    if rule_id.endswith("*"):
        return f"rule pattern {rule_id!r}{place} matches no rule id (`migguard rules` lists them)"
    said = f"unknown rule id {rule_id!r}{place}"
    suggestion = closest(rule_id)
    if suggestion is not None:
        return f"{said}; did you mean {suggestion!r}?"
    return f"{said} (`migguard rules` lists them)"


def validate_ids(
    patterns: Iterable[str], where: str, *, path: str | None = None, line: int | None = None
) -> None:
    """Raise MigguardError (exit 2) for the first pattern that names no rule."""
    for pattern in patterns:
        if not matches_some_rule(pattern):
            raise MigguardError(unknown_id_message(pattern, where), path=path, line=line)


# --- severity -------------------------------------------------------------------------------


def finalise(findings: Iterable[Finding], overrides: Mapping[str, Severity]) -> list[Finding]:
    """Each finding with its severity fixed: ``[tool.migguard.severity]`` (an exact id wins
    over a ``prefix*`` pattern), else what the check decided for that finding, else the
    rule's default."""
    registered = load()
    result = []
    for finding in findings:
        severity = _override(finding.rule, overrides) or finding.severity
        if severity is None:
            rule = registered.get(finding.rule)
            if rule is None:
                raise ValueError(f"finding of unregistered rule {finding.rule!r}")
            severity = rule.severity
        result.append(finding.with_severity(severity))
    return result


def _override(rule_id: str, overrides: Mapping[str, Severity]) -> Severity | None:
    if rule_id in overrides:
        return Severity(overrides[rule_id])
    for pattern, level in overrides.items():
        if pattern.endswith("*") and rule_id.startswith(pattern[:-1]):
            return Severity(level)
    return None


# --- documentation --------------------------------------------------------------------------


def table() -> str:
    """README's rule table, generated from the registry so that the two cannot drift apart."""
    lines = ["| id | severity | needs | scope | what |", "|---|---|---|---|---|"]
    for rule in sorted(load().values(), key=lambda r: r.id):
        cells = [f"`{rule.id}`", rule.severity.value, rule.needs.value, rule.scope.value]
        lines.append(f"| {' | '.join(cells)} | {rule.summary} |")
    return "\n".join(lines)
