"""Which directory is the project when alembic.ini sits inside ``migrations/``.

Flask-Migrate's ``flask db`` passes that directory as script_location and runs where the
application imports from: one level up, and above the package when ``migrations/`` is inside
one. A plain Alembic project that keeps the same files there runs from inside it. The two can
differ only in env.py, so the layout is read from env.py too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from migguard.project import load_project
from tests.conftest import FIXTURES

IN_PACKAGE = FIXTURES / "flask_migrate_in_package"


def _copy(tmp_path: Path) -> Path:
    project = tmp_path / "repo"
    shutil.copytree(IN_PACKAGE, project, ignore=shutil.ignore_patterns("__pycache__"))
    return project


@pytest.mark.parametrize("written", [".", "./", "%(here)s", "", None])
def test_flask_migrate_directory_in_a_package_runs_above_the_package(
    tmp_path: Path, written: str | None
) -> None:
    project = _copy(tmp_path)
    migrations = project / "sharedbudget" / "migrations"
    ini = migrations / "alembic.ini"
    line = "" if written is None else f"script_location = {written}"
    ini.write_text(ini.read_text().replace("script_location = .", line))
    loaded = load_project(project)
    assert loaded.root == project.resolve()
    assert loaded.script_location == migrations.resolve()
    assert loaded.relpath(loaded.revision_files()[0].path).startswith(
        "sharedbudget/migrations/versions/"
    )


@pytest.mark.parametrize(
    "given", ["sharedbudget", "sharedbudget/migrations", "sharedbudget/migrations/versions"]
)
def test_every_way_into_the_package_finds_the_same_project(tmp_path: Path, given: str) -> None:
    project = _copy(tmp_path)
    loaded = load_project(project / given)
    assert loaded.root == project.resolve()
    assert loaded.script_location == (project / "sharedbudget" / "migrations").resolve()


def test_plain_alembic_directory_naming_itself_runs_from_inside_it(tmp_path: Path) -> None:
    """Without Flask-Migrate's env.py, ``script_location = .`` means what ``alembic`` run from
    that directory reads: the project is the directory itself."""
    project = _copy(tmp_path)
    migrations = project / "sharedbudget" / "migrations"
    (migrations / "env.py").write_text(
        "from alembic import context\n\nconfig = context.config\ntarget_metadata = None\n"
    )
    loaded = load_project(project)
    assert loaded.root == migrations.resolve()
    assert loaded.script_location == migrations.resolve()


def test_script_location_elsewhere_is_not_the_flask_migrate_layout(tmp_path: Path) -> None:
    """An alembic.ini inside migrations/ that names another directory is read as written."""
    project = _copy(tmp_path)
    migrations = project / "sharedbudget" / "migrations"
    shutil.copytree(
        migrations, project / "sharedbudget" / "alembic", ignore=shutil.ignore_patterns("*.ini")
    )
    ini = migrations / "alembic.ini"
    ini.write_text(ini.read_text().replace("script_location = .", "script_location = ../alembic"))
    loaded = load_project(project)
    assert loaded.root == migrations.resolve()
    assert loaded.script_location == (project / "sharedbudget" / "alembic").resolve()


@pytest.mark.parametrize("top", [".git", "pyproject.toml", "setup.py", "setup.cfg"])
def test_a_project_top_holding_an_init_py_is_as_far_up_as_it_goes(tmp_path: Path, top: str) -> None:
    """A repository whose root is itself a package (an ``__init__.py`` beside ``migrations/``)
    runs from its root, not from the directory that holds the repository."""
    project = tmp_path / "repo"
    shutil.copytree(
        FIXTURES / "flask_migrate", project, ignore=shutil.ignore_patterns("__pycache__")
    )
    (project / "__init__.py").write_text("")
    (tmp_path / "__init__.py").write_text("")
    marker = project / top
    if top == ".git":
        marker.mkdir()
    else:
        marker.write_text("")
    assert load_project(project / "migrations").root == project.resolve()
