"""The rule registry is complete, documented, and what execution derives from.

Adding a rule is one module in ``migguard/checks/`` (its declaration and the check that
produces it), its fixtures and its tests: these tests fail when a rule is declared where the
loader does not look, lacks documentation or a check, or has no end-to-end test.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from migguard import rules, since
from migguard.findings import Finding, Severity
from migguard.rules import Needs, Phase, Rule, Scope

REPO = Path(__file__).parent.parent
PACKAGE = REPO / "migguard"
RULE_DIRECTORY = PACKAGE / "checks"
E2E = REPO / "tests" / "e2e"


def _id(rule: Rule) -> str:
    return rule.id


def _declares_rules(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name == "Rule":
                return True
    return False


def test_rules_are_declared_only_where_the_loader_imports_them() -> None:
    declaring = [
        path.relative_to(REPO).as_posix()
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.parent != RULE_DIRECTORY and path != PACKAGE / "rules.py"
        if _declares_rules(path)
    ]
    assert declaring == [], (
        f"{declaring} declare rules that rules.load() never imports: declare each rule in a "
        "module of migguard/checks/"
    )


def test_every_rule_module_is_loaded_and_registers_a_rule() -> None:
    loaded = {rule_module(rule) for rule in rules.load().values()}
    for path in sorted(RULE_DIRECTORY.glob("*.py")):
        if path.name != "__init__.py":
            assert f"migguard.checks.{path.stem}" in loaded, f"{path.name} registers no rule"


def rule_module(rule: Rule) -> str:
    for check in rules.all_checks():
        if rule in check.rules:
            return check.function.__module__
    import sys

    for name, module in list(sys.modules.items()):
        if name.startswith("migguard.checks.") and rule in vars(module).values():
            return name
    raise AssertionError(f"{rule.id} is registered by no module of migguard.checks")


@pytest.mark.parametrize("rule", sorted(rules.load().values(), key=lambda r: r.id), ids=_id)
def test_every_rule_is_declared_whole(rule: Rule) -> None:
    assert re.fullmatch(r"[a-z]+(-[a-z]+)*", rule.id), rule.id
    assert re.fullmatch(r"[a-z]+(-[a-z]+)*", rule.family), rule.family
    assert isinstance(rule.scope, Scope) and isinstance(rule.needs, Needs)
    assert isinstance(rule.severity, Severity)
    assert rule.summary and rule.what and rule.why, rule.id
    assert rule.example and rule.use_instead, rule.id


@pytest.mark.parametrize("rule", sorted(rules.load().values(), key=lambda r: r.id), ids=_id)
def test_every_rule_is_produced_by_a_check(rule: Rule) -> None:
    producers = [check for check in rules.all_checks() if rule in check.rules]
    if rule.id == "unknown-suppression":  # made while the findings are finalised
        source = (PACKAGE / "suppress.py").read_text(encoding="utf-8")
        assert "UNKNOWN_SUPPRESSION.id" in source
        return
    assert producers, f"no function decorated with rules.produces(..., {rule.id})"
    if rule.needs is Needs.STATIC:
        static_phases = (Phase.SOURCES, Phase.STATIC_READING)  # what --static runs
        assert any(check.phase in static_phases for check in producers), rule.id


@pytest.mark.parametrize("rule", sorted(rules.load().values(), key=lambda r: r.id), ids=_id)
def test_every_rule_has_an_end_to_end_test(rule: Rule) -> None:
    quoted = (f'"{rule.id}"', f"'{rule.id}'")
    assert any(
        any(q in path.read_text(encoding="utf-8") for q in quoted)
        for path in sorted(E2E.glob("test_*.py"))
    ), f"no test in tests/e2e/ names {rule.id!r}"


def test_every_rule_is_in_the_readme_table() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for rule_id in rules.load():
        assert f"| `{rule_id}` |" in readme, rule_id


def test_since_narrows_the_rules_about_one_revisions_code() -> None:
    assert rules.revision_scoped() == {
        "breaks-running-release",
        "constraint-name",
        "downgrade-fails",
        "downgrade-mismatch",
        "index-name",
        "index-without-concurrently",
        "missing-downgrade",
        "missing-lock-timeout",
        "rename-as-drop-add",
        "table-rewrite",
        "upgrade-fails-with-rows",
        "validation-under-lock",
    }


def test_pytest_items_are_the_database_families_then_static() -> None:
    from migguard.pytest_plugin import family_of, item_names

    assert item_names() == ["deploy", "drift", "rehearsal", "round-trip", "static"]
    assert family_of("schema-mismatch") == "drift"
    assert family_of("upgrade-fails") == "round-trip"
    assert family_of("table-rewrite") == "rehearsal"
    assert family_of("rename-as-drop-add") == "static"


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rules registered by a test stay out of every other test."""
    rules.load()
    monkeypatch.setattr(rules, "_RULES", dict(rules._RULES))
    monkeypatch.setattr(rules, "_CHECKS", list(rules._CHECKS))


@pytest.mark.usefixtures("scratch_registry")
def test_a_rehearsal_rule_about_one_revision_is_expressible() -> None:
    from migguard.config import Settings
    from migguard.pytest_plugin import family_of, item_names

    rule = rules.register(
        Rule(
            id="example-observed",
            family="rehearsal",
            scope=Scope.REVISION,
            needs=Needs.REHEARSAL,
            severity=Severity.WARNING,
            summary="s",
            what="w",
            why="y",
            example="e",
            use_instead="u",
        )
    )

    @rules.produces(Phase.RUN, rule)
    def observed(run: object) -> list[Finding]:
        return []

    assert observed in [check.function for check in rules.checks(Phase.RUN)]
    assert "example-observed" in rules.revision_scoped()
    old = Finding(rule="example-observed", message="m", revision="old")
    new = Finding(rule="example-observed", message="m", revision="new")
    assert since.in_scope([old, new], {"new"}) == [new]
    assert family_of("example-observed") == "rehearsal"
    assert item_names() == ["deploy", "drift", "rehearsal", "round-trip", "static"]
    rules.validate_ids(["example-observed"], "--select")
    assert not Settings(select=("drift",)).rule_enabled("example-observed")
    [finalised] = rules.finalise([new], {})
    assert finalised.severity is Severity.WARNING


@pytest.mark.usefixtures("scratch_registry")
def test_a_rule_id_is_registered_once() -> None:
    drift = rules.load()["drift"]
    rules.register(drift)  # the same declaration again (a module imported twice) is fine
    with pytest.raises(ValueError, match="registered twice"):
        rules.register(Rule(**{**vars(drift), "summary": "another"}))


def test_severity_is_fixed_when_findings_are_finalised() -> None:
    unfinalised = Finding(rule="missing-downgrade", message="m")
    with pytest.raises(ValueError, match="before it was finalised"):
        unfinalised.effective_severity  # noqa: B018
    [default, decided] = rules.finalise(
        [unfinalised, Finding(rule="drift", message="m", severity=Severity.WARNING)], {}
    )
    assert default.severity is Severity.WARNING  # the rule's default
    assert decided.severity is Severity.WARNING  # what the check decided for that finding
    [overridden] = rules.finalise([unfinalised], {"missing-*": Severity.ERROR})
    assert overridden.severity is Severity.ERROR


@pytest.mark.parametrize(
    ("written", "suggestion"),
    [("drfit", "drift"), ("index-names", "index-name"), ("downgrade-fail", "downgrade-fails")],
)
def test_the_closest_id_is_suggested(written: str, suggestion: str) -> None:
    assert rules.closest(written) == suggestion


def test_a_prefix_pattern_must_select_some_rule() -> None:
    assert rules.matches_some_rule("downgrade-*")
    assert not rules.matches_some_rule("downgrades-*")
    assert not rules.matches_some_rule("drfit")
