"""Static rules through the real CLI, part 2: create-all-on-startup, index-name,
constraint-name, suppressions and the baseline.

`migguard check --static --format json FIXTURE` in a subprocess, against the README's JSON
contract: exit 1 for an error-level finding, 0 for warnings only or none. These fixtures are
otherwise clean, so each test states the complete list of findings.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, CliResult, run_cli

FINDING_KEYS = {"rule", "severity", "message", "path", "line", "revision", "hint"}


def check_static(fixture: str, *extra: str) -> CliResult:
    result = run_cli(
        "check", "--static", "--format", "json", *extra, str(FIXTURES / fixture), timeout=60
    )
    assert result.code in (0, 1), (result.code, result.stderr)
    document = result.json
    assert document["version"] == 1
    assert {"errors", "warnings", "revisions", "seconds"} <= set(document["summary"])
    for finding in document["findings"]:
        assert set(finding) == FINDING_KEYS
    return result


def line_of(fixture: str, relpath: str, text: str) -> int:
    lines = (FIXTURES / fixture / relpath).read_text().splitlines()
    [line] = [number for number, content in enumerate(lines, start=1) if text in content]
    return line


def located(result: CliResult) -> list[tuple[str, str | None, int | None, str | None]]:
    return sorted((f["rule"], f["path"], f["line"], f["revision"]) for f in result.findings())


# --- create-all-on-startup ------------------------------------------------------------------


def test_create_all_in_a_fastapi_lifespan_fails_the_check() -> None:
    result = check_static("create_all_lifespan")
    assert result.code == 1
    [finding] = result.findings()
    assert finding["rule"] == "create-all-on-startup"
    assert finding["severity"] == "error"
    assert finding["path"] == "app/main.py"
    assert finding["line"] == line_of(
        "create_all_lifespan", "app/main.py", "run_sync(Base.metadata.create_all)"
    )
    assert finding["revision"] is None
    assert finding["message"] == (
        "metadata.create_all reached from the FastAPI lifespan 'lifespan' in app/main.py"
    )
    assert "alembic upgrade head" in finding["hint"]
    assert result.json["summary"]["errors"] == 1


def test_test_fixtures_and_excluded_scripts_may_call_create_all() -> None:
    result = check_static("create_all_lifespan")
    paths = {f["path"] for f in result.findings()}
    assert "tests/conftest.py" not in paths
    assert "scripts/init_test_db.py" not in paths


def test_a_bootstrap_script_that_stamps_head_passes() -> None:
    result = check_static("create_all_bootstrap_ok")
    assert result.findings() == []
    assert result.code == 0


# --- index-name / constraint-name -----------------------------------------------------------


def test_a_hand_written_index_name_is_a_warning_in_models_and_revision() -> None:
    result = check_static("bad_index_name")
    assert result.code == 0
    revision = "migrations/versions/0001_create_users.py"
    assert located(result) == [
        (
            "index-name",
            "migrations/versions/0001_create_users.py",
            line_of("bad_index_name", revision, 'op.create_index("idx_users_email"'),
            "0001_create_users",
        ),
        (
            "index-name",
            "models.py",
            line_of("bad_index_name", "models.py", '"idx_users_email"'),
            None,
        ),
    ]
    for finding in result.findings():
        assert finding["severity"] == "warning"
        assert finding["message"] == (
            "index name 'idx_users_email' does not follow the convention: expected 'ix_users_email'"
        )
        assert "'ix_users_email'" in finding["hint"]
    assert result.json["summary"]["warnings"] == 2


def test_unnamed_unique_constraints_are_warnings_in_models_and_revisions() -> None:
    result = check_static("unnamed_constraint")
    assert result.code == 0
    first = "migrations/versions/0001_create_books.py"
    second = "migrations/versions/0002_add_author.py"
    assert located(result) == sorted(
        [
            (
                "constraint-name",
                first,
                line_of("unnamed_constraint", first, 'sa.UniqueConstraint("isbn")'),
                "0001_create_books",
            ),
            (
                "constraint-name",
                second,
                line_of("unnamed_constraint", second, "op.create_unique_constraint(None"),
                "0002_add_author",
            ),
            (
                "constraint-name",
                "models.py",
                line_of("unnamed_constraint", "models.py", "unique=True"),
                None,
            ),
            (
                "constraint-name",
                "models.py",
                line_of(
                    "unnamed_constraint", "models.py", 'sa.UniqueConstraint("title", "author")'
                ),
                None,
            ),
            (  # and the rehearsal's static reading of the NOT NULL column on existing books
                "upgrade-fails-with-rows",
                second,
                line_of("unnamed_constraint", second, 'op.add_column("books"'),
                "0002_add_author",
            ),
        ]
    )
    messages = {f["message"] for f in result.findings()}
    assert (
        "unnamed unique constraint on books (title, author): PostgreSQL will name it itself "
        "('books_title_author_key')"
    ) in messages


def test_a_project_naming_convention_replaces_the_default() -> None:
    result = check_static("custom_naming_convention")
    assert result.findings() == []
    assert result.code == 0


# --- suppressions ---------------------------------------------------------------------------


def test_suppressed_findings_are_dropped_and_unknown_rule_ids_are_reported() -> None:
    result = check_static("suppressed")
    assert result.code == 0
    revision = "migrations/versions/0001_create_users.py"
    [finding] = result.findings()
    assert (finding["rule"], finding["path"], finding["line"], finding["revision"]) == (
        "unknown-suppression",
        revision,
        line_of("suppressed", revision, "ignore[no-such-rule]"),
        None,
    )
    assert finding["severity"] == "warning"
    assert "'no-such-rule'" in finding["message"]
    assert finding["hint"] == "`migguard rules` lists the rule ids; fix the spelling or drop it"


# --- baseline -------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["create_all_lifespan", "bad_index_name"])
def test_a_baseline_accepts_todays_findings(fixture: str, tmp_path: Path) -> None:
    baseline = tmp_path / "migguard-baseline.json"
    written = run_cli("baseline", str(FIXTURES / fixture), "-o", str(baseline))
    assert written.code == 0, written.stderr
    document = json.loads(baseline.read_text())
    assert document["version"] == 1
    assert document["entries"], "the fixture has findings to record"

    result = check_static(fixture, "--baseline", str(baseline))
    assert result.findings() == []
    assert result.code == 0


def test_a_missing_baseline_file_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli(
        "check",
        "--static",
        "--format",
        "json",
        "--baseline",
        str(tmp_path / "nope.json"),
        str(FIXTURES / "bad_index_name"),
    )
    assert result.code == 2
    assert "baseline file not found" in result.stderr
