"""The version matrix: ``nox`` runs every session, ``nox -s oldest`` one of them.

migguard runs inside the project's own environment, so every range pyproject.toml declares is
exercised here by the end-to-end tests that depend on versions (one fixture per env.py style,
the Flask-Migrate fixtures), against a real PostgreSQL:

- ``newest-3.10`` ... ``newest-3.13``: today's releases of everything on each supported Python;
- ``sqlalchemy2.0``: the SQLAlchemy 2.0 series with the first Alembic that reads
  pyproject.toml (1.16) and Flask 3.0;
- ``oldest``: the floors: Python 3.10, SQLAlchemy 1.4, Alembic 1.13, Flask 2.2,
  Flask-SQLAlchemy 2.5, Flask-Migrate 2.5.

Environments are built with uv (``pip install nox uv``) from the package index, never with
interpreters uv would download: the Pythons come from PATH or pyenv.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True

# uv may find no interpreter for "3.12" on PATH (pyenv's shims answer only for the selected
# version) and would then download one; use pyenv's installed versions, and never download.
os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")
_PYENV_VERSIONS = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
if _PYENV_VERSIONS.is_dir():
    _bins = [str(p / "bin") for p in sorted(_PYENV_VERSIONS.iterdir()) if (p / "bin").is_dir()]
    os.environ["PATH"] = os.pathsep.join([*_bins, os.environ.get("PATH", "")])

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]

# The end-to-end tests that depend on versions: env.py styles (sync, async, custom parts),
# drivers (psycopg2, asyncpg, psycopg 3), Flask-Migrate, the rules that read the database, and
# the fixtures of the oldest releases.
VERSION_TESTS = [
    "tests/e2e/test_supported_versions_cli.py",
    "tests/e2e/test_flask_migrate_cli.py",
    "tests/e2e/test_database_rules_cli.py",
    "tests/e2e/test_safety_guard_cli.py",
    # the psycopg 3 driver (SQLAlchemy 2 only)
    "tests/e2e/test_safety_adversarial.py::test_production_database_is_never_changed"
    "[fastapi_template_psycopg3-local]",
]
# Of those files, the tests that run env.py on a database: the rest (static mode, usage
# errors) is the same on every set, and the suite runs it.
ON_A_DATABASE = ("-m", "postgres")
# The other fixtures are written for SQLAlchemy 2.0 (DeclarativeBase, Mapped): they cannot be
# imported on 1.4, whatever migguard does.
# The deploy check's worker (the running release's ORM on the throwaway database) is run
# there with models in classic declarative style, which 1.4 imports.
OLDEST_TESTS = [
    "tests/e2e/test_supported_versions_cli.py",
    "tests/e2e/test_running_release_cli.py::test_classic_declarative_models_break_and_are_blamed_alike",
    "tests/test_deploy_objects.py",
]

# What the suite needs beyond migguard itself on a set that is not the dev extra's.
TEST_TOOLS = ["pytest>=8.4", "pytest-timeout>=2.3", "hypothesis>=6.100", "gevent>=24.2"]

OLDEST = [
    "sqlalchemy==1.4.54",
    "alembic==1.13.0",
    "flask==2.2.5",
    "werkzeug==2.2.3",
    "flask-sqlalchemy==2.5.1",
    "flask-migrate==2.5.3",
    "asyncpg==0.29.0",
    "psycopg2-binary==2.9.9",
]

SQLALCHEMY_2_0 = [
    "sqlalchemy[asyncio]>=2.0,<2.1",
    "alembic==1.16.0",
    "flask>=3.0,<3.1",
    "flask-sqlalchemy>=3.1,<3.2",
    "flask-migrate>=4.0,<4.1",
    "asyncpg",
    "psycopg[binary]>=3.1",
    "pydantic-settings>=2.0",
]


def _pytest(
    session: nox.Session, tests: list[str], *options: str, skips_allowed: bool = True
) -> None:
    """pytest on ``tests``; with ``skips_allowed=False`` a skipped test fails the session, so
    that a test meant for this set cannot pass by not running."""
    session.run(
        "python",
        "-c",
        "import alembic, sqlalchemy, sys; "
        "print('Python', sys.version.split()[0], '| SQLAlchemy', sqlalchemy.__version__, "
        "'| Alembic', alembic.__version__)",
    )
    report = Path(session.create_tmp()) / "junit.xml"
    session.run(
        "python",
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        f"--junitxml={report}",
        *options,
        *tests,
        *session.posargs,
    )
    if not skips_allowed:
        import xml.etree.ElementTree as ElementTree

        suite = ElementTree.parse(report).getroot()
        skipped = sum(int(s.get("skipped", 0)) for s in suite.iter("testsuite"))
        if skipped:
            session.error(f"{skipped} test(s) skipped on the {session.name} set: see -rs above")


@nox.session(python=PYTHONS)
def newest(session: nox.Session) -> None:
    """Today's releases of everything, as ``pip install -e '.[dev]'`` resolves them."""
    session.install("-e", ".[dev]")
    _pytest(session, VERSION_TESTS, *ON_A_DATABASE)


@nox.session(name="sqlalchemy2.0", python="3.12")
def sqlalchemy_2_0(session: nox.Session) -> None:
    """SQLAlchemy 2.0 with Alembic 1.16.0, Flask 3.0."""
    session.install("-e", ".", *SQLALCHEMY_2_0, *TEST_TOOLS)
    _pytest(session, VERSION_TESTS, *ON_A_DATABASE)


@nox.session(python="3.10")
def oldest(session: nox.Session) -> None:
    """The floors of every declared range."""
    session.install("-e", ".", *OLDEST, *TEST_TOOLS)
    _pytest(session, OLDEST_TESTS, skips_allowed=False)
