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


def test_several_projects_below_the_root_are_a_one_line_error(tmp_path: Path) -> None:
    repo = _repository(tmp_path, "backend", "worker")
    result = run_cli("check", "--static", ".", cwd=repo)
    assert result.code == 2, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "backend/alembic.ini, worker/alembic.ini" in line
