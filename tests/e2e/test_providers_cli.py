"""Each throwaway-database provider, through the CLI."""

from __future__ import annotations

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


def test_doctor_lists_every_provider_with_a_reason() -> None:
    result = run_cli("doctor")
    assert result.code == 0
    kinds = [line.split()[1] for line in result.stdout.splitlines()]
    assert kinds == ["url", "embedded", "local", "docker", "sqlite"]
    assert "ok embedded" in result.stdout


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
