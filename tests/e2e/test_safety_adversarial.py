"""Adversarial env.py files against a live "production" database: it is never changed.

Each project under ``tests/fixtures/adversarial/<case>/`` finds its database a different way
(a variable, URL parts through pydantic-settings or a dataclass, a hard-coded URL, an engine in
a helper module, ``config.set_main_option``, ``config.attributes["connection"]``,
``load_dotenv(override=True)``, the full-stack-fastapi-template settings on psycopg 3 and on
asyncpg), and every way points at a real database holding a marker table. After
``migguard check`` that database must be exactly as it was, and migguard must either have
checked its throwaway database (the fixtures' deliberate ``downgrade-mismatch`` is found) or
have stopped with exit 2 and a message naming the setting to add.

Every case runs twice: with a private cluster (``--db local``) and with ``--db url`` on the very
server that holds production, where only the database name tells the two apart.
"""

from __future__ import annotations

import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from migguard import schema
from tests.conftest import FIXTURES, migguard_databases, run_cli

ADVERSARIAL = FIXTURES / "adversarial"
REFUSED = "not to migguard's throwaway database"


@pytest.fixture
def production(pg_server) -> Iterator[URL]:
    """A database with a marker table, standing in for a developer's real database."""
    url = pg_server.create_database(name=f"production_{secrets.token_hex(4)}")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE customers (id int primary key, name text)"))
        conn.execute(sa.text("INSERT INTO customers VALUES (1, 'keep me')"))
    engine.dispose()
    # the server trusts local connections; a password of its own shows whether one leaks
    yield url.set(password=f"hunter2-{secrets.token_hex(4)}")


def _state(url: URL) -> tuple[object, ...]:
    """Everything DDL or DML could change: the full catalog snapshot (alembic_version
    included), the schemas, and the marker rows."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            snap = schema.snapshot(conn, exclude_tables=frozenset())
            schemas = conn.execute(
                sa.text("SELECT nspname FROM pg_namespace WHERE nspname !~ '^pg_' ORDER BY 1")
            ).all()
            rows = conn.execute(sa.text("SELECT * FROM customers ORDER BY id")).all()
            return snap, schemas, rows
    finally:
        engine.dispose()


def _table_names(url: URL) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _parts(url: URL, prefix: str, database: str = "DB") -> dict[str, str]:
    names = {"HOST": url.host, "PORT": str(url.port), "USER": url.username}
    names |= {"PASSWORD": url.password, database: url.database}
    return {f"{prefix}{key}": str(value) for key, value in names.items()}


def _materialize(case: str, tmp_path: Path, production: URL) -> Path:
    """Copy a case, write the production URL (or its parts) where the case expects it, turn
    ``*.template`` files into the real ones, and return the directory holding alembic.ini."""
    target = tmp_path / case
    shutil.copytree(ADVERSARIAL / case, target)
    replacements = {
        "@@PRODUCTION_URL@@": production.render_as_string(hide_password=False),
        "@@HOST@@": str(production.host),
        "@@PORT@@": str(production.port),
        "@@USER@@": str(production.username),
        "@@PASSWORD@@": str(production.password),
        "@@DATABASE@@": str(production.database),
    }
    for path in list(target.rglob("*")):
        if not path.is_file() or path.suffix not in (".py", ".template"):
            continue
        text = path.read_text()
        for placeholder, value in replacements.items():
            text = text.replace(placeholder, value)
        path.write_text(text)
        if path.suffix == ".template":
            path.rename(path.with_suffix(""))
    return target / "backend" if (target / "backend").is_dir() else target


@dataclass(frozen=True)
class Case:
    """One way of finding the database, and what migguard must do about it."""

    name: str
    variables: Callable[[URL], dict[str, str]]
    code: int
    fragments: tuple[str, ...] = ()


def _none(url: URL) -> dict[str, str]:
    return {}


def _url_in(name: str) -> Callable[[URL], dict[str, str]]:
    return lambda url: {name: url.render_as_string(hide_password=False)}


CHECKED, STOPPED = 1, 2
CASES = [
    Case("database_url", _url_in("DATABASE_URL"), CHECKED),
    Case("pydantic_settings_parts", lambda url: _parts(url, "POSTGRES_"), CHECKED),
    Case("dataclass_settings_parts", lambda url: _parts(url, "POSTGRES_"), CHECKED),
    Case(
        "settings_custom_names",
        lambda url: _parts(url, "BILLING_DB_", database="NAME"),
        STOPPED,
        (REFUSED, "BILLING_DB_NAME", 'BILLING_DB_NAME = "{database}"', "[tool.migguard.env]"),
    ),
    Case("hardcoded_url", _none, STOPPED, (REFUSED, "sqlalchemy.url", ":***@")),
    Case("engine_in_helper_module", _url_in("APP_DATABASE_URL"), CHECKED),
    Case("setup_sql_before_configure", _none, STOPPED, (REFUSED,)),
    Case("set_main_option_from_settings", _url_in("MYAPP_DATABASE_URL"), CHECKED),
    Case("attributes_connection", _none, CHECKED),
    Case("dotenv_override", _url_in("DATABASE_URL"), CHECKED),
    Case("fastapi_template_psycopg3", _none, CHECKED),
    Case("async_asyncpg_settings", _none, CHECKED),
    Case(
        "revision_opens_production",
        _url_in("DATABASE_URL"),
        STOPPED,
        (
            "migrations/versions/0002_author_email.py:17: revision 0002_author_email tried to "
            "connect to",
            REFUSED,
            "op.get_bind()",
        ),
    ),
]


def _provider_args(provider: str, pg_admin_url: str) -> list[str]:
    if provider == "url":  # the throwaway database lives next to production
        return ["--db", "url", "--database-url", pg_admin_url]
    return ["--db", provider]


@pytest.mark.parametrize("provider", ["local", "url"])
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_production_database_is_never_changed(
    case: Case, provider: str, production: URL, pg_admin_url: str, tmp_path: Path
) -> None:
    project = _materialize(case.name, tmp_path, production)
    before = _state(production)
    databases_before = set(migguard_databases(pg_admin_url))

    result = run_cli(
        "check",
        "--format",
        "json",
        *_provider_args(provider, pg_admin_url),
        str(project),
        env=case.variables(production),
    )

    assert _state(production) == before, result.stdout + result.stderr
    assert "alembic_version" not in _table_names(production)
    assert set(migguard_databases(pg_admin_url)) <= databases_before
    assert "Traceback" not in result.stderr
    assert result.code == case.code, result.stdout + result.stderr
    if case.code == CHECKED:
        mismatches = result.findings("downgrade-mismatch")
        assert [(f["revision"], f["message"].rsplit(": ", 1)[-1]) for f in mismatches] == [
            ("0002_author_email", "column authors.email left behind")
        ], result.stdout
    else:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, lines
        for fragment in case.fragments:
            assert fragment in lines[0], lines[0]
        assert str(production.password) not in lines[0].replace(":***@", "")


def test_the_suggested_mapping_makes_a_refused_project_checkable(
    production: URL, tmp_path: Path
) -> None:
    """The refusal's hint is a setting to paste, not prose: pasted, the check goes through."""
    project = _materialize("settings_custom_names", tmp_path, production)
    variables = _parts(production, "BILLING_DB_", database="NAME")
    refused = run_cli("check", "--db", "local", str(project), env=variables)
    assert refused.code == 2, refused.stderr
    suggested = re.search(r"\[tool\.migguard\.env\]: (.*)$", refused.stderr.strip())
    assert suggested, refused.stderr
    (project / "pyproject.toml").write_text(
        "[tool.migguard.env]\n" + "\n".join(suggested.group(1).split(", ")) + "\n"
    )
    before = _state(production)

    result = run_cli("check", "--format", "json", "--db", "local", str(project), env=variables)

    assert result.code == 1, result.stdout + result.stderr
    assert [f["revision"] for f in result.findings("downgrade-mismatch")] == ["0002_author_email"]
    assert _state(production) == before


def test_static_mode_refuses_an_offline_branch_that_connects(
    production: URL, tmp_path: Path
) -> None:
    """--static runs env.py offline to read target_metadata; a connection there is refused
    before a packet is sent, and the run stops with exit 2 instead of a quiet note."""
    project = _materialize("offline_branch_connects", tmp_path, production)
    before = _state(production)

    result = run_cli("check", "--static", str(project))

    assert result.code == 2, result.stdout + result.stderr
    assert "tried to connect to" in result.stderr and "in offline mode" in result.stderr
    assert "--metadata" in result.stderr and "Traceback" not in result.stderr
    assert str(production.password) not in result.stderr.replace(":***@", "")
    assert _state(production) == before
    assert "offline_was_here" not in _table_names(production)


def test_online_mode_of_the_same_project_checks_the_throwaway_database(
    production: URL, tmp_path: Path
) -> None:
    """migguard runs env.py online for the database rules: the offline branch never runs."""
    project = _materialize("offline_branch_connects", tmp_path, production)
    before = _state(production)

    result = run_cli(
        "check",
        "--format",
        "json",
        "--db",
        "local",
        str(project),
        env=_url_in("DATABASE_URL")(production),
    )

    assert result.code == 1, result.stdout + result.stderr
    assert [f["revision"] for f in result.findings("downgrade-mismatch")] == ["0002_author_email"]
    assert _state(production) == before
