"""Static rules through the real CLI: `migguard check --static --format json FIXTURE`.

Covers multiple-heads, broken-graph, missing-downgrade and rename-as-drop-add against the JSON
contract in the README: exit 1 for an error-level finding, 0 for warnings only or none.
"""

from __future__ import annotations

import pytest

from tests.conftest import FIXTURES, CliResult, run_cli

FINDING_KEYS = {"rule", "severity", "message", "path", "line", "revision", "hint"}
OUR_RULES = {"multiple-heads", "broken-graph", "missing-downgrade", "rename-as-drop-add"}


def check_static(fixture: str) -> CliResult:
    result = run_cli("check", "--static", "--format", "json", str(FIXTURES / fixture), timeout=60)
    assert result.code in (0, 1), (result.code, result.stderr)
    document = result.json
    assert document["version"] == 1
    assert {"errors", "warnings", "revisions", "seconds"} <= set(document["summary"])
    for finding in document["findings"]:
        assert set(finding) == FINDING_KEYS
    return result


def line_of(fixture: str, relpath: str, text: str) -> int:
    lines = (FIXTURES / fixture / relpath).read_text().splitlines()
    [line] = [i for i, content in enumerate(lines, start=1) if text in content]
    return line


def ours(result: CliResult) -> list[dict]:
    return [f for f in result.findings() if f["rule"] in OUR_RULES]


def test_rename_written_as_drop_and_add_fails_the_check() -> None:
    result = check_static("rename_as_drop_add")
    assert result.code == 1
    [finding] = ours(result)
    path = "migrations/versions/0002_rename.py"
    assert finding["rule"] == "rename-as-drop-add"
    assert finding["severity"] == "error"
    assert finding["path"] == path
    drop = 'op.drop_column("books", "title")'
    assert finding["line"] == line_of("rename_as_drop_add", path, drop)
    assert finding["revision"] == "0002_rename"
    assert "books.title" in finding["message"]
    assert finding["hint"] == 'op.alter_column("books", "title", new_column_name="name")'
    assert result.json["summary"]["errors"] >= 1


def test_table_rename_written_as_drop_and_create_fails_the_check() -> None:
    result = check_static("rename_table_as_drop_create")
    assert result.code == 1
    [finding] = ours(result)
    path = "migrations/versions/0002_rename_table.py"
    assert finding["rule"] == "rename-as-drop-add"
    assert finding["path"] == path
    assert finding["line"] == line_of("rename_table_as_drop_create", path, 'op.drop_table("users")')
    assert finding["revision"] == "0002_rename_table"
    assert finding["hint"] == 'op.rename_table("users", "accounts")'


def test_rename_inside_a_helper_is_left_to_the_database_run() -> None:
    result = check_static("rename_in_loop")
    assert ours(result) == []
    assert result.code == 0


def test_two_heads_fail_the_check_and_both_are_named() -> None:
    result = check_static("multiple_heads")
    assert result.code == 1
    findings = ours(result)
    assert {f["rule"] for f in findings} == {"multiple-heads"}
    assert {(f["path"], f["line"], f["revision"]) for f in findings} == {
        ("migrations/versions/0002_add_email.py", 12, "0002_add_email"),
        ("migrations/versions/0002_add_phone.py", 12, "0002_add_phone"),
    }
    for finding in findings:
        assert finding["severity"] == "error"
        assert "0002_add_email" in finding["message"] and "0002_add_phone" in finding["message"]
        assert finding["hint"].startswith('alembic merge -m "merge heads" ')


def test_down_revision_typo_fails_the_check() -> None:
    result = check_static("broken_down_revision")
    assert result.code == 1
    [finding] = ours(result)
    path = "migrations/versions/0002_add_email.py"
    assert finding["rule"] == "broken-graph"
    assert finding["path"] == path
    assert finding["line"] == line_of("broken_down_revision", path, "down_revision")
    assert finding["revision"] == "0002_add_email"
    assert "0001_user" in finding["message"]


def test_missing_downgrade_is_a_warning_and_passes() -> None:
    result = check_static("missing_downgrade")
    assert result.code == 0
    [finding] = ours(result)
    path = "migrations/versions/0002_add_email.py"
    assert finding["rule"] == "missing-downgrade"
    assert finding["severity"] == "warning"
    assert finding["path"] == path
    assert finding["line"] == line_of("missing_downgrade", path, "def downgrade")
    assert finding["revision"] == "0002_add_email"
    assert result.json["summary"]["warnings"] >= 1


def test_clean_project_passes_with_none_of_these_rules() -> None:
    result = check_static("clean_static")
    assert result.code == 0
    assert ours(result) == []


@pytest.mark.parametrize("fixture", ["multiple_heads", "rename_as_drop_add"])
def test_ignored_rule_no_longer_fails_the_check(fixture: str) -> None:
    rule = "multiple-heads" if fixture == "multiple_heads" else "rename-as-drop-add"
    result = run_cli(
        "check", "--static", "--format", "json", "--ignore", rule, str(FIXTURES / fixture)
    )
    assert result.code == 0, result.stderr
    assert [f for f in result.findings() if f["rule"] == rule] == []
