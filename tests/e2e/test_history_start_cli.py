"""Where a history starts and which revisions it has, as Alembic itself sees them: a schema
built before the first revision (bootstrap, bootstrap-sql), named sections of alembic.ini, and
Alembic's own reading of script_location and version_locations."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import FIXTURES, REPO, run_cli

pytestmark = pytest.mark.timeout(300)


def _check(target: str, *extra: str, cwd=None):
    return run_cli("check", "--format", "json", "--db", "local", *extra, target, cwd=cwd)


def test_history_bootstrapped_by_a_create_all_function_is_checked_from_its_start() -> None:
    """[tool.migguard] bootstrap names the function the first release ran; 0001 alters a table
    only it creates, and 0002's downgrade forgets a column."""
    result = _check(str(FIXTURES / "bootstrap_function"))
    assert result.code == 1, result.stderr
    assert result.findings("upgrade-fails") == []
    (mismatch,) = result.findings("downgrade-mismatch")
    assert mismatch["path"] == "migrations/versions/0002_posts.py"
    assert mismatch["line"] == 27
    assert "column users.last_login left behind" in mismatch["message"]
    assert result.findings("drift") == [] and result.findings("schema-mismatch") == []
    assert result.json["summary"]["checked"] == 2


def test_history_bootstrapped_by_a_schema_dump_is_checked_from_its_start() -> None:
    dump = FIXTURES / "bootstrap_sql" / "db" / "schema.sql"
    result = _check(str(FIXTURES / "bootstrap_sql"), "--bootstrap-sql", str(dump))
    assert result.code == 1, result.stderr
    assert result.findings("upgrade-fails") == []
    (mismatch,) = result.findings("downgrade-mismatch")
    assert mismatch["path"] == "migrations/versions/0002_posts.py"
    assert mismatch["line"] == 27
    assert "column users.last_login left behind" in mismatch["message"]
    assert result.findings("drift") == []  # the dump's table comment (with a %) arrived


def test_bootstrap_sql_relative_to_the_working_directory(tmp_path) -> None:
    result = _check(
        "tests/fixtures/bootstrap_sql",
        "--bootstrap-sql",
        "tests/fixtures/bootstrap_sql/db/schema.sql",
        cwd=REPO,
    )
    assert result.code == 1, result.stderr
    assert len(result.findings("downgrade-mismatch")) == 1


def test_first_revision_on_an_empty_database_names_bootstrap() -> None:
    """Without its base schema, the first revision fails: the error says the database was
    empty and how to give migguard the start."""
    result = _check(str(FIXTURES / "bootstrap_sql"))
    assert result.code == 1, result.stderr
    (finding,) = result.findings("upgrade-fails")
    assert finding["path"] == "migrations/versions/0001_user_display_name.py"
    assert finding["line"] == 13
    assert "upgrade failed on an empty database" in finding["message"]
    assert 'relation "users" does not exist' in finding["message"]
    assert "bootstrap" in finding["hint"] and "bootstrap-sql" in finding["hint"]
    summary = result.json["summary"]
    assert (
        summary["skipped"] == 2
        and "stopped at 0001_user_display_name" in (summary["skipped_reason"])
    )


def test_bootstrap_settings_that_cannot_work_are_exit_2() -> None:
    missing = _check(str(FIXTURES / "bootstrap_sql"), "--bootstrap-sql", "no/such/schema.sql")
    assert missing.code == 2
    assert "bootstrap-sql" in missing.stderr and "no such file" in missing.stderr
    malformed = _check(str(FIXTURES / "bootstrap_sql"), "--bootstrap", "app.initial_schema")
    assert malformed.code == 2
    assert "package.module:function" in malformed.stderr
    assert "Traceback" not in missing.stderr + malformed.stderr


def test_named_section_is_checked_with_name() -> None:
    """`alembic -n analytics`: only that section's history, its downgrade defect found."""
    ini = FIXTURES / "named_sections"
    analytics = _check(str(ini), "-n", "analytics")
    assert analytics.code == 1, analytics.stderr
    (mismatch,) = analytics.findings("downgrade-mismatch")
    assert mismatch["path"] == "analytics/versions/a002_event_account.py"
    assert mismatch["line"] == 16
    assert "column events.account_id left behind" in mismatch["message"]
    assert analytics.json["summary"]["revisions"] == 2
    core = _check(str(ini), "--name", "core")
    assert core.code == 0, core.stdout + core.stderr
    assert [f for f in core.findings() if f["severity"] == "error"] == []
    assert core.json["summary"]["revisions"] == 2


def test_ini_without_an_alembic_section_lists_its_sections() -> None:
    result = _check(str(FIXTURES / "named_sections"))
    assert result.code == 2
    assert "no [alembic] section" in result.stderr
    assert "[core], [analytics]" in result.stderr  # not the logging sections
    assert "-n/--name" in result.stderr
    unknown = _check(str(FIXTURES / "named_sections"), "-n", "reporting")
    assert unknown.code == 2
    assert "no [reporting] section" in unknown.stderr and "[core], [analytics]" in unknown.stderr


def test_name_from_pyproject(tmp_path) -> None:
    import shutil

    project = tmp_path / "named"
    shutil.copytree(FIXTURES / "named_sections", project)
    (project / "pyproject.toml").write_text('[tool.migguard]\nname = "analytics"\n')
    result = _check(str(project))
    assert result.code == 1, result.stderr
    assert len(result.findings("downgrade-mismatch")) == 1


def _alembic_history(cwd, *args: str) -> set[str]:
    """The revision ids `alembic ... history` prints."""
    out = subprocess.run(
        [sys.executable, "-m", "alembic", *args, "history"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {
        line.split("->")[1].split(",")[0].split()[0] for line in out.splitlines() if "->" in line
    }


def test_config_in_a_subdirectory_finds_exactly_what_alembic_history_lists() -> None:
    """script_location and version_locations are relative to where `alembic -c` runs; only the
    PostgreSQL directory is a version location, and its archive/ is not read (no
    recursive_version_locations), so neither the SQLite history nor the draft joins the graph."""
    fixture = FIXTURES / "config_in_subdirectory"
    listed = _alembic_history(fixture, "-c", "sub/alembic.ini")
    assert listed == {"0001_notes", "0002_note_tag"}
    result = _check(".", "-c", "sub/alembic.ini", cwd=fixture)
    assert result.code == 0, result.stdout + result.stderr
    assert [f for f in result.findings() if f["severity"] == "error"] == []
    assert result.json["summary"]["revisions"] == len(listed)
    assert result.json["summary"]["checked"] == len(listed)


def test_recursive_version_locations_reads_subdirectories(tmp_path) -> None:
    import shutil

    project = tmp_path / "recursive"
    shutil.copytree(FIXTURES / "config_in_subdirectory", project)
    ini = project / "sub" / "alembic.ini"
    ini.write_text(ini.read_text() + "recursive_version_locations = true\n")
    result = run_cli(
        "check", "--format", "json", "--static", "-c", "sub/alembic.ini", ".", cwd=project
    )
    assert result.json["summary"]["revisions"] == 3  # the archived draft is read now
    (broken,) = result.findings("broken-graph")
    assert broken["path"] == "sub/migrations/versions/postgresql/archive/0000_draft.py"


def test_package_script_location_is_found_like_alembic_finds_it() -> None:
    result = _check(str(FIXTURES / "package_script_location"))
    assert result.code == 1, result.stderr
    (mismatch,) = result.findings("downgrade-mismatch")
    assert mismatch["path"] == "src/shop/db/migrations/versions/0001_orders.py"
    assert mismatch["line"] == 20
    assert "table orders left behind" in mismatch["message"]
