"""rename-as-drop-add on a project shaped like the ones it used to misjudge.

``rename_precision`` holds, one revision each, the drops and adds that real projects write and
that are not a lost rename: an unrelated type (a TIMESTAMPTZ dropped, an INTEGER added, the
downgrade in raw SQL so the source does not say the type), data copied first through
``op.get_bind()`` and a row-by-row loop, a table rebuilt and renamed back, a table emptied on
purpose, five columns dropped for one new setting, and tables dropped behind an existence
check (one never created by any revision, one Alembic's batch temporary). 0008 is the real
rename (error), 0009 one whose backfill SQL lives in a file (statically a warning; the database
run sees the SQL and is silent).
"""

from __future__ import annotations

import pytest

from tests.conftest import FIXTURES, run_cli

pytestmark = pytest.mark.timeout(300)

FIXTURE = FIXTURES / "rename_precision"
RULE = "rename-as-drop-add"
TRUE_POSITIVE = ("migrations/versions/0008_item_name.py", 20, "0008_item_name")


def _line(relpath: str, text: str) -> int:
    lines = (FIXTURE / relpath).read_text().splitlines()
    [line] = [i for i, content in enumerate(lines, start=1) if text in content]
    return line


def test_static_reading_reports_only_the_real_rename_as_an_error() -> None:
    result = run_cli("check", "--static", "--format", "json", str(FIXTURE), timeout=60)
    assert result.code == 1, result.stderr
    findings = result.findings(RULE)
    errors = [f for f in findings if f["severity"] == "error"]
    assert [(f["path"], f["line"], f["revision"]) for f in errors] == [TRUE_POSITIVE]
    assert _line(TRUE_POSITIVE[0], 'op.drop_column("items", "title")') == TRUE_POSITIVE[1]
    assert errors[0]["hint"] == 'op.alter_column("items", "title", new_column_name="name")'
    [warning] = [f for f in findings if f["severity"] == "warning"]
    path = "migrations/versions/0009_item_details.py"
    assert (warning["path"], warning["line"]) == (
        path,
        _line(path, 'op.drop_column("items", "summary")'),
    )
    assert (
        "unless the statement on line 23 (which migguard cannot read) copies it"
        in (warning["message"])
    )


def test_database_run_reports_only_the_real_rename() -> None:
    result = run_cli("check", "--format", "json", "--db", "local", str(FIXTURE))
    assert result.code == 1, result.stderr
    findings = result.findings(RULE)
    assert [(f["path"], f["line"], f["revision"], f["severity"]) for f in findings] == [
        (*TRUE_POSITIVE, "error")
    ]
    assert result.findings("downgrade-mismatch") == []
    assert result.findings("upgrade-fails") == []
