"""Finding the Alembic project from where a new user stands: the repository root.

Applications often keep theirs in ``backend/`` (the FastAPI full-stack template) or
``services/api/``; ``migguard check .`` from the root must find it, run env.py from there as
``alembic`` would, and print paths the terminal can open from the working directory.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import FIXTURES, run_cli


def _repository(tmp_path: Path, *projects: str) -> Path:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    for place in projects:
        shutil.copytree(
            FIXTURES / "missing_downgrade",
            repo / place,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    # an installed package's alembic.ini is not the project's
    (repo / ".venv" / "lib" / "pkg").mkdir(parents=True)
    shutil.copy(FIXTURES / "missing_downgrade" / "alembic.ini", repo / ".venv" / "lib" / "pkg")
    return repo


def test_the_one_project_below_the_repository_root_is_found(tmp_path: Path) -> None:
    repo = _repository(tmp_path, "backend")
    result = run_cli("check", "--static", "--format", "json", ".", cwd=repo)
    assert result.code == 0, result.stderr
    (finding,) = result.findings("missing-downgrade")
    assert finding["path"] == "migrations/versions/0002_add_email.py"  # JSON: project-relative
    assert finding["line"] == 22

    text = run_cli("check", "--static", ".", cwd=repo)
    assert text.stdout.startswith(
        "backend/migrations/versions/0002_add_email.py:22: warning [missing-downgrade]"
    ), text.stdout


def test_text_paths_are_relative_to_the_working_directory(tmp_path: Path) -> None:
    repo = _repository(tmp_path, "services/api")
    result = run_cli("check", "--static", "services/api", cwd=repo)
    assert "services/api/migrations/versions/0002_add_email.py:22:" in result.stdout
    inside = run_cli("check", "--static", ".", cwd=repo / "services" / "api")
    assert inside.stdout.startswith("migrations/versions/0002_add_email.py:22:"), inside.stdout


def test_from_a_subdirectory_the_project_above_is_found(tmp_path: Path) -> None:
    """As ruff and pytest find their configuration: from migrations/versions/, alembic.ini is
    the nearest one above; paths stay openable from where the user stands."""
    repo = _repository(tmp_path, "backend")
    versions = repo / "backend" / "migrations" / "versions"
    result = run_cli("check", "--static", "--format", "json", cwd=versions)
    assert result.code == 0, result.stderr
    (finding,) = result.findings("missing-downgrade")
    assert finding["path"] == "migrations/versions/0002_add_email.py"
    text = run_cli("check", "--static", cwd=versions)
    assert text.stdout.startswith("0002_add_email.py:22: warning [missing-downgrade]"), text.stdout
    beside = repo / "backend" / "docs"
    beside.mkdir()
    text = run_cli("check", "--static", cwd=beside)
    assert text.stdout.startswith(
        "../migrations/versions/0002_add_email.py:22: warning [missing-downgrade]"
    ), text.stdout


def test_the_search_upward_stops_at_the_repository_top(tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    shutil.copytree(FIXTURES / "missing_downgrade", outer)  # a project around the checkout
    repo = outer / "checkout"
    (repo / ".git").mkdir(parents=True)
    (repo / "src").mkdir()
    result = run_cli("check", "--static", cwd=repo / "src")
    assert result.code == 2, result.stdout
    (line,) = result.stderr.strip().splitlines()
    assert line == (
        "migguard: error: no alembic.ini in . (pass the directory that holds it, or "
        "-c/--config FILE)"
    )


def test_several_projects_below_the_root_are_a_one_line_error(tmp_path: Path) -> None:
    repo = _repository(tmp_path, "backend", "worker")
    result = run_cli("check", "--static", ".", cwd=repo)
    assert result.code == 2, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "backend/alembic.ini, worker/alembic.ini" in line


def _template_without_dotenv(tmp_path: Path) -> Path:
    """full-stack-fastapi-template's layout (backend/, settings from ../.env) in a CI checkout
    where no .env exists and the settings class requires more than the database."""
    repo = tmp_path / "template"
    shutil.copytree(
        FIXTURES / "adversarial" / "fastapi_template_psycopg3",
        repo,
        ignore=shutil.ignore_patterns("__pycache__", ".env.template"),
    )
    (repo / ".git").mkdir()
    config = repo / "backend" / "app" / "core" / "config.py"
    config.write_text(
        config.read_text().replace(
            "    POSTGRES_SERVER: str\n",
            "    SECRET_KEY: str\n    FIRST_SUPERUSER: str\n    POSTGRES_SERVER: str\n",
        )
    )
    return repo


def test_settings_fields_nobody_set_are_named_in_one_line(tmp_path: Path) -> None:
    repo = _template_without_dotenv(tmp_path)
    result = run_cli("check", "--db", "local", ".", cwd=repo)
    assert result.code == 2, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("migguard: error: backend/app/core/config.py:"), line  # from cwd
    assert "settings need SECRET_KEY, FIRST_SUPERUSER, which are not set" in line
    assert 'in [tool.migguard.env] (SECRET_KEY = "...", FIRST_SUPERUSER = "...")' in line
    assert "POSTGRES_SERVER" not in line  # migguard sets the database variables itself


def test_the_found_project_reads_its_own_pyproject(tmp_path: Path) -> None:
    repo = _template_without_dotenv(tmp_path)
    (repo / "backend" / "pyproject.toml").write_text(
        '[tool.migguard.env]\nSECRET_KEY = "check"\nFIRST_SUPERUSER = "admin@example.com"\n'
    )
    result = run_cli("check", "--db", "local", "--format", "json", ".", cwd=repo)
    assert result.code == 1, result.stderr  # the fixture's 0002 forgets its downgrade
    (finding,) = result.findings("downgrade-mismatch")
    assert finding["path"] == "app/alembic/versions/0002_author_email.py"
    assert finding["line"] == 16
