"""A downgrade that keeps the extension its upgrade created is no downgrade-mismatch.

``CREATE EXTENSION IF NOT EXISTS pg_trgm`` in upgrade() and no ``DROP EXTENSION`` in
downgrade() is common and deliberate; nor are the functions and types the extension brings
(pg_trgm's operator classes, citext's type) anything the downgrade left behind.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, run_cli

pytestmark = pytest.mark.timeout(300)

KEPT = FIXTURES / "extension_kept_by_downgrade"
SEARCH = "migrations/versions/0002_name_search.py"


def _check(project: Path):
    return run_cli("check", "--format", "json", "--db", "local", str(project))


def _mismatch_at_search_downgrade(result) -> dict:
    assert result.code == 1, result.stdout + result.stderr
    [finding] = result.findings("downgrade-mismatch")
    assert (finding["path"], finding["line"], finding["revision"]) == (
        SEARCH,
        26,  # def downgrade()
        "0002_name_search",
    )
    return finding


def _patched(tmp_path: Path, old: str, new: str) -> Path:
    project = tmp_path / "users"
    shutil.copytree(KEPT, project)
    revision = project / SEARCH
    text = revision.read_text()
    assert old in text
    revision.write_text(text.replace(old, new))
    return project


def test_extensions_kept_by_their_downgrades_are_not_a_mismatch() -> None:
    result = _check(KEPT)
    assert result.code == 0, result.stdout + result.stderr
    assert result.findings("downgrade-mismatch") == []
    assert result.json["summary"]["errors"] == 0
    assert result.json["summary"]["checked"] == 3


def test_what_else_the_downgrade_leaves_is_reported_without_the_extension(
    tmp_path: Path,
) -> None:
    project = _patched(
        tmp_path, '    op.drop_index("ix_users_name", table_name="users")\n', "    pass\n"
    )
    finding = _mismatch_at_search_downgrade(_check(project))
    assert finding["message"] == (
        "revision 0002_name_search: downgrade does not undo upgrade: "
        "index ix_users_name on users left behind"
    )


def test_an_extension_the_upgrade_cannot_create_again_is_a_mismatch(tmp_path: Path) -> None:
    """Without IF NOT EXISTS, `alembic downgrade -1 && alembic upgrade +1` fails: the kept
    extension is the defect then, and the hint says how to fix either side."""
    project = _patched(
        tmp_path, "CREATE EXTENSION IF NOT EXISTS pg_trgm", "CREATE EXTENSION pg_trgm"
    )
    finding = _mismatch_at_search_downgrade(_check(project))
    assert finding["message"] == (
        "revision 0002_name_search: downgrade does not undo upgrade: extension pg_trgm left "
        'behind; upgrading again fails: DuplicateObject: extension "pg_trgm" already exists'
    )
    assert "CREATE EXTENSION IF NOT EXISTS" in finding["hint"]
