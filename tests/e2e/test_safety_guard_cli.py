"""The safety guard: a "production" database next to the throwaway one is never touched."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import FIXTURES, run_cli


@pytest.fixture
def production(pg_server) -> Iterator[str]:
    """A database with a marker table, standing in for a developer's real database."""
    url = pg_server.create_database()
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE customers (id int primary key, name text)"))
        conn.execute(sa.text("INSERT INTO customers VALUES (1, 'keep me')"))
    engine.dispose()
    yield url.render_as_string(hide_password=False)


def _catalog(url: str) -> list[tuple]:
    """Every relation, type and row count of the marker table: enough to see any DDL/DML."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            relations = conn.execute(
                sa.text(
                    "SELECT n.nspname, c.relname, c.relkind FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
                    "AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1, 2"
                )
            ).all()
            types = conn.execute(
                sa.text(
                    "SELECT typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                    "WHERE n.nspname = 'public' ORDER BY 1"
                )
            ).all()
            rows = conn.execute(sa.text("SELECT * FROM customers ORDER BY id")).all()
            return [*relations, *types, *rows]
    finally:
        engine.dispose()


def test_env_py_reading_database_url_is_redirected_and_production_untouched(
    production: str,
) -> None:
    before = _catalog(production)
    result = run_cli(
        "check",
        "--format",
        "json",
        "--db",
        "local",
        str(FIXTURES / "clean_db"),
        env={"DATABASE_URL": production},
    )
    assert result.code == 0, result.stdout + result.stderr
    assert result.findings() == []
    assert _catalog(production) == before
    assert ("public", "alembic_version", "r") not in _catalog(production)


def test_dotenv_pointing_at_production_is_redirected(production: str, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "clean_db", project)
    (project / ".env").write_text(f"DATABASE_URL={production}\n")
    before = _catalog(production)
    result = run_cli("check", "--format", "json", "--db", "local", str(project))
    assert result.code == 0, result.stdout + result.stderr
    assert _catalog(production) == before


def test_hard_coded_production_url_stops_before_any_ddl(production: str, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "unsafe_hardcoded_url", project)
    env_py = project / "migrations" / "env.py"
    env_py.write_text(
        env_py.read_text().replace("postgresql+psycopg2://app:secret@127.0.0.1:1/app", production)
    )
    before = _catalog(production)
    result = run_cli("check", "--db", "local", str(project))
    assert result.code == 2, result.stdout + result.stderr
    assert "not to migguard's throwaway database" in result.stderr
    assert "stopped before any migration ran" in result.stderr
    assert "Traceback" not in result.stderr
    assert ":***@" in result.stderr and ":postgres@" not in result.stderr  # password redacted
    assert _catalog(production) == before


def _production_parts(production: str) -> dict[str, str]:
    url = sa.engine.make_url(production)
    return {
        "APP_DB_USER": url.username or "",
        "APP_DB_PASSWORD": url.password or "",
        "APP_DB_HOST": url.host or "",
        "APP_DB_PORT": str(url.port),
        "APP_DB_NAME": url.database or "",
    }


def test_unmapped_url_parts_stop_with_the_setting_to_add(production: str) -> None:
    before = _catalog(production)
    result = run_cli(
        "check",
        "--db",
        "local",
        str(FIXTURES / "custom_env_parts"),
        env=_production_parts(production),
    )
    assert result.code == 2, result.stdout + result.stderr
    assert "env.py reads APP_DB_HOST" in result.stderr
    assert "[tool.migguard.env]" in result.stderr
    assert _catalog(production) == before


def test_mapped_url_parts_reach_the_throwaway_database(production: str, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "custom_env_parts", project)
    (project / "pyproject.toml").write_text(
        "[tool.migguard.env]\n"
        'APP_DB_USER = "{user}"\nAPP_DB_PASSWORD = "{password}"\nAPP_DB_HOST = "{host}"\n'
        'APP_DB_PORT = "{port}"\nAPP_DB_NAME = "{database}"\n'
    )
    before = _catalog(production)
    result = run_cli(
        "check",
        "--format",
        "json",
        "--db",
        "local",
        str(project),
        env=_production_parts(production),
    )
    assert result.code == 0, result.stdout + result.stderr
    assert _catalog(production) == before
