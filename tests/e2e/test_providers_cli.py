"""Each throwaway-database provider, through the CLI."""

from __future__ import annotations

import json

import pytest

from migguard import database
from tests.conftest import FIXTURES, REPO, run_cli


def test_sqlite_project_is_checked_on_a_temporary_file() -> None:
    result = run_cli("check", "--format", "json", str(FIXTURES / "sqlite_project"))
    assert result.code == 0, result.stderr
    assert result.json["summary"]["checked"] == 2
    assert not (FIXTURES / "sqlite_project" / "app.db").exists()  # never the project's own


def test_embedded_provider_runs_as_root_or_user() -> None:
    result = run_cli("check", "--db", "embedded", str(FIXTURES / "clean_db"))
    assert result.code == 0, result.stderr
    assert "on embedded 18" in result.stdout


def test_doctor_lists_every_provider_with_its_version_or_a_reason() -> None:
    result = run_cli("doctor")
    assert result.code == 0
    *providers, auto = result.stdout.splitlines()
    assert [line.split()[1] for line in providers] == [
        "url",
        "embedded",
        "local",
        "docker",
        "sqlite",
    ]
    assert "ok embedded  PostgreSQL 18." in result.stdout
    assert "ok local     PostgreSQL 15." in result.stdout
    assert auto.startswith("auto: embedded (PostgreSQL 18."), auto


def test_doctor_says_which_provider_auto_picks_for_a_version() -> None:
    result = run_cli("doctor", "--postgres-version", "15")
    assert result.code == 0
    assert result.stdout.splitlines()[-1].startswith("auto: local (PostgreSQL 15."), result.stdout


def test_postgres_version_picks_the_provider_that_has_it_and_findings_say_so() -> None:
    fixture = str(FIXTURES / "downgrade_mismatch")
    result = run_cli("check", "--postgres-version", "15", "--format", "json", fixture)
    assert result.code == 1, result.stderr
    database = result.json["summary"]["database"]
    assert database["provider"] == "local" and database["version"].startswith("15."), database
    text = run_cli("check", "--postgres-version", "15", fixture)
    assert " on local 15." in text.stdout.splitlines()[-1]
    sarif = run_cli("check", "--postgres-version", "15", "--format", "sarif", fixture)
    [invocation] = json.loads(sarif.stdout)["runs"][0]["invocations"]
    assert invocation["properties"]["databaseProvider"] == "local"
    assert invocation["properties"]["serverVersion"].startswith("15.")


def test_a_provider_without_the_version_is_exit_2_listing_what_each_has() -> None:
    result = run_cli(
        "check", "--db", "embedded", "--postgres-version", "15", str(FIXTURES / "clean_db")
    )
    assert result.code == 2, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(
        "migguard: error: --postgres-version 15: --db embedded cannot start PostgreSQL 15 here"
    ), line
    assert "embedded has PostgreSQL 18." in line and "local has PostgreSQL 15." in line


def test_no_provider_with_the_version_is_exit_2_before_anything_starts() -> None:
    result = run_cli(
        "check", "--postgres-version", "9", "--format", "json", str(FIXTURES / "clean_db")
    )
    assert result.code == 2, result.stdout + result.stderr
    message = result.json["error"]["message"]
    assert message.startswith("--postgres-version 9: no provider can start PostgreSQL 9 here")
    assert "embedded has PostgreSQL 18." in message and "local has PostgreSQL 15." in message


def test_a_named_server_of_another_version_is_refused(pg_admin_url: str) -> None:
    result = run_cli(
        "check", "--db", "url", "--postgres-version", "14", str(FIXTURES / "clean_db"),
        env={"MIGGUARD_DATABASE_URL": pg_admin_url},
    )  # fmt: skip
    assert result.code == 2, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(
        "migguard: error: --postgres-version 14: the url server runs PostgreSQL 15."
    ), line


docker_reason = database.availability("docker")


@pytest.mark.docker
@pytest.mark.skipif(docker_reason is not None, reason=f"no Docker engine: {docker_reason}")
def test_docker_provider_matches_a_postgres_version() -> None:
    result = run_cli(
        "check",
        "--db",
        "docker",
        "--postgres-version",
        "16",
        "--format",
        "json",
        str(REPO / "example_app"),
        timeout=600,
    )
    assert result.code == 0, result.stderr


def test_docker_without_engine_is_a_clear_error() -> None:
    if docker_reason is None:
        pytest.skip("a Docker engine answers here")
    result = run_cli("check", "--db", "docker", str(FIXTURES / "clean_db"))
    assert result.code == 2
    assert "--db docker:" in result.stderr and "Traceback" not in result.stderr


# The embedded wheel ships no uuid-ossp; Debian's PostgreSQL packages (the `local` provider
# here and in CI) do. A revision creating it must not be reported as upgrade-fails.
EXTENSION = FIXTURES / "extension_uuid_ossp"


def test_auto_passes_over_a_server_without_an_extension_the_migrations_create() -> None:
    result = run_cli("check", str(EXTENSION))
    assert result.code == 0, result.stdout + result.stderr
    assert "3 round-tripped" in result.stdout
    assert "on local 15" in result.stdout


def test_a_named_provider_without_the_extension_is_exit_2_naming_it() -> None:
    result = run_cli("check", "--db", "embedded", str(EXTENSION))
    assert result.code == 2, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(
        "migguard: error: migrations/versions/0003_author_public_id.py:12 creates the "
        'PostgreSQL extension "uuid-ossp"'
    ), line
    assert "embedded 18.6 has no uuid-ossp" in line
    assert "--db local" in line
