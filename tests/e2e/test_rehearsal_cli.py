"""The production rehearsal end to end: the head revision of each fixture runs on tables that
hold rows, and the CLI reports what PostgreSQL did (rule id, file, line, exit code)."""

from __future__ import annotations

import pytest

from tests.conftest import FIXTURES, run_cli

pytestmark = pytest.mark.timeout(300)

REHEARSAL_RULES = {
    "upgrade-fails-with-rows",
    "table-rewrite",
    "index-without-concurrently",
    "validation-under-lock",
    "missing-lock-timeout",
}


def _check(fixture: str, *extra: str):
    return run_cli("check", "--format", "json", "--db", "local", *extra, str(FIXTURES / fixture))


def _rehearsal_findings(result) -> list[tuple[str, str, int]]:
    return sorted(
        (f["rule"], f["path"], f["line"]) for f in result.findings() if f["rule"] in REHEARSAL_RULES
    )


def _head(fixture: str) -> str:
    (path,) = (FIXTURES / fixture / "migrations" / "versions").glob("0002_*.py")
    return f"migrations/versions/{path.name}"


def test_not_null_column_without_default_fails_once_the_table_has_rows() -> None:
    result = _check("rehearsal_not_null_without_default")
    assert result.code == 1, result.stderr
    (finding,) = result.findings("upgrade-fails-with-rows")
    assert (finding["path"], finding["line"]) == (_head("rehearsal_not_null_without_default"), 13)
    assert finding["severity"] == "error"
    assert 'column "priority" of relation "orders" contains null values' in finding["message"]
    assert "succeeds on empty tables" in finding["message"]
    assert "backfill" in finding["hint"]
    assert result.findings("upgrade-fails") == []  # the empty-table upgrade succeeded


def test_nullable_backfill_then_not_null_in_one_revision_is_no_error() -> None:
    result = _check("rehearsal_backfill_then_not_null")
    assert result.code == 0, result.stdout
    assert result.findings("upgrade-fails-with-rows") == []
    # the SET NOT NULL still reads every row under ACCESS EXCLUSIVE: said, as a warning
    (scan,) = result.findings("validation-under-lock")
    assert scan["line"] == 15
    assert 'NOT NULL on column "priority"' in scan["message"]
    assert "blocks reads and writes" in scan["message"]


def test_type_change_that_rewrites_an_existing_table_is_reported() -> None:
    result = _check("rehearsal_table_rewrite")
    assert result.code == 0, result.stdout
    (finding,) = result.findings("table-rewrite")
    assert (finding["path"], finding["line"]) == (_head("rehearsal_table_rewrite"), 13)
    assert finding["severity"] == "warning"
    assert "table orders was rewritten under ACCESS EXCLUSIVE" in finding["message"]
    assert "blocks reads and writes" in finding["message"]
    assert "observed on PostgreSQL " in finding["message"]


def test_binary_coercible_type_change_is_no_rewrite() -> None:
    result = _check("rehearsal_binary_coercible_type")
    assert result.code == 0, result.stdout
    assert result.findings("table-rewrite") == []
    assert result.findings("index-without-concurrently") == []


def test_index_on_an_existing_table_without_concurrently_is_reported() -> None:
    result = _check("rehearsal_index_plain")
    assert result.code == 0, result.stdout
    (finding,) = result.findings("index-without-concurrently")
    assert (finding["path"], finding["line"]) == (_head("rehearsal_index_plain"), 13)
    assert "existing table orders" in finding["message"]
    assert "under SHARE (blocks writes)" in finding["message"]
    assert "postgresql_concurrently=True" in finding["hint"]
    assert "autocommit_block" in finding["hint"]


def test_concurrent_index_in_an_autocommit_block_is_clean() -> None:
    result = _check("rehearsal_index_concurrently")
    assert result.code == 0, result.stdout
    assert result.findings() == []


def test_foreign_key_validated_under_a_write_lock_is_reported() -> None:
    result = _check("rehearsal_foreign_key_validated")
    assert result.code == 0, result.stdout
    (finding,) = result.findings("validation-under-lock")
    assert (finding["path"], finding["line"]) == (_head("rehearsal_foreign_key_validated"), 13)
    assert 'FOREIGN KEY "fk_orders_approved_by_customers"' in finding["message"]
    assert "SHARE ROW EXCLUSIVE (blocks writes)" in finding["message"]
    assert "NOT VALID" in finding["hint"] or "not_valid" in finding["hint"]


def test_not_valid_foreign_key_validated_outside_the_transaction_is_clean() -> None:
    result = _check("rehearsal_foreign_key_not_valid")
    assert result.code == 0, result.stdout
    assert result.findings() == []


def test_access_exclusive_lock_without_lock_timeout_is_reported() -> None:
    result = _check("rehearsal_lock_timeout_missing")
    assert result.code == 0, result.stdout
    (finding,) = result.findings("missing-lock-timeout")
    assert (finding["path"], finding["line"]) == (_head("rehearsal_lock_timeout_missing"), 13)
    assert "ACCESS EXCLUSIVE lock on existing table orders" in finding["message"]
    assert "lock_timeout = 0" in finding["message"]


def test_lock_timeout_set_by_the_revision_is_clean() -> None:
    result = _check("rehearsal_lock_timeout_set")
    assert result.code == 0, result.stdout
    assert result.findings() == []


def test_table_created_in_the_same_revision_is_exempt() -> None:
    """Index, type change and foreign key all on a table the revision creates: no readers."""
    result = _check("rehearsal_new_table_exempt")
    assert result.code == 0, result.stdout
    assert result.findings() == []


def test_only_the_head_is_rehearsed_unless_asked_for_all() -> None:
    """0001 creates tables (exempt); the head's index is news. With --rehearse none nothing is
    observed, and the run is exactly as without a rehearsal."""
    assert _rehearsal_findings(_check("rehearsal_index_plain")) == [
        ("index-without-concurrently", _head("rehearsal_index_plain"), 13)
    ]
    off = _check("rehearsal_not_null_without_default", "--rehearse", "none")
    assert off.code == 0, off.stdout
    assert _rehearsal_findings(off) == []


def test_rehearse_all_audits_every_revision() -> None:
    """The example application's whole history, rehearsed: its enum column has a server
    default and env.py sets a lock_timeout, so nothing is reported; without the
    lock_timeout, the column it adds to existing books would be."""
    result = run_cli(
        "check", "--format", "json", "--db", "local", "--rehearse", "all", "example_app"
    )
    assert result.code == 0, result.stdout + result.stderr
    assert result.findings() == []
    assert result.json["summary"]["checked"] == 3


def test_rehearse_value_in_config_is_checked(tmp_path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text('[tool.migguard]\nrehearse = "sometimes"\n')
    (project / "alembic.ini").write_text("[alembic]\nscript_location = migrations\n")
    result = run_cli("check", str(project))
    assert result.code == 2
    assert "rehearse must be one of auto, all, none" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("fixture", "rule"),
    [
        ("rehearsal_not_null_without_default", "upgrade-fails-with-rows"),
        ("rehearsal_table_rewrite", "table-rewrite"),
        ("rehearsal_index_plain", "index-without-concurrently"),
        ("rehearsal_foreign_key_validated", "validation-under-lock"),
    ],
)
def test_static_mode_reads_the_same_rules_from_the_source(fixture: str, rule: str) -> None:
    result = run_cli("check", "--format", "json", "--static", str(FIXTURES / fixture))
    assert result.code == 0, result.stdout + result.stderr  # a guess is never an error
    (finding,) = [f for f in result.findings() if f["rule"] in REHEARSAL_RULES]
    assert (finding["rule"], finding["path"], finding["line"]) == (rule, _head(fixture), 13)
    assert finding["severity"] == "warning"
    assert "static reading" in finding["message"]


@pytest.mark.parametrize(
    "fixture",
    [
        "rehearsal_backfill_then_not_null",
        "rehearsal_index_concurrently",
        "rehearsal_foreign_key_not_valid",
        "rehearsal_new_table_exempt",
    ],
)
def test_static_mode_leaves_the_safe_patterns_alone(fixture: str) -> None:
    result = run_cli("check", "--format", "json", "--static", str(FIXTURES / fixture))
    assert result.code == 0, result.stdout + result.stderr
    assert [f for f in result.findings() if f["rule"] in REHEARSAL_RULES] == []
