"""The safety guard: env.py may only ever reach migguard's throwaway database.

Two layers. First, redirection: before env.py runs, every place a project commonly reads its
database location from (``DATABASE_URL`` and friends, ``POSTGRES_SERVER``/``POSTGRES_PORT``
style parts, any variable whose value is a database URL, and ``[tool.migguard.env]``) is
pointed at the throwaway database. Second, enforcement: the connection env.py hands to
``context.configure`` is asked which database it is on, and while env.py runs every statement
SQLAlchemy is about to send is checked against the throwaway databases. Anything else stops the
run with exit 2 before a single statement of DDL is sent.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from migguard.database.base import redact
from migguard.errors import MigguardError
from migguard.sqlalchemy_compat import rollback

URL_VARIABLES = (
    "DATABASE_URL",
    "DATABASE_URI",
    "DB_URL",
    "DB_URI",
    "SQLALCHEMY_DATABASE_URI",
    "SQLALCHEMY_DATABASE_URL",
    "SQLALCHEMY_URL",
    "POSTGRES_URL",
    "POSTGRES_URI",
    "POSTGRES_DSN",
    "POSTGRESQL_URL",
    "PG_DSN",
    "ASYNC_DATABASE_URL",
)
PART_VARIABLES: dict[str, tuple[str, ...]] = {
    "host": ("POSTGRES_SERVER", "POSTGRES_HOST", "DB_HOST", "DATABASE_HOST", "PGHOST"),
    "port": ("POSTGRES_PORT", "DB_PORT", "DATABASE_PORT", "PGPORT"),
    "user": (
        "POSTGRES_USER",
        "DB_USER",
        "DATABASE_USER",
        "PGUSER",
        "POSTGRES_USERNAME",
        "DB_USERNAME",
    ),
    "password": ("POSTGRES_PASSWORD", "DB_PASSWORD", "DATABASE_PASSWORD", "PGPASSWORD", "DB_PASS"),
    "database": (
        "POSTGRES_DB",
        "POSTGRES_DATABASE",
        "DB_NAME",
        "DATABASE_NAME",
        "PGDATABASE",
        "POSTGRES_DBNAME",
    ),
}
_URL_VALUE = re.compile(r"^(postgres(ql)?|sqlite|mysql|mariadb|oracle|mssql)(\+\w+)?://", re.I)


class UnsafeTargetError(MigguardError):
    """env.py (or a revision) tried to reach a database that is not the throwaway one."""

    def __init__(self, url: str, hint: str, subject: str = "env.py", **where: Any) -> None:
        super().__init__(
            f"{subject} tried to connect to {url}, not to migguard's throwaway database; "
            f"stopped before any migration ran. {hint}",
            **where,
        )
        self.url, self.hint = url, hint

    def in_revision(self, revision: str, path: str, line: int | None) -> UnsafeTargetError:
        """The same refusal, blamed on the revision that opened an engine of its own."""
        return UnsafeTargetError(
            self.url,
            "A revision must run its statements through op.get_bind() or op.execute(), "
            "never an engine of its own",
            f"revision {revision}",
            path=path,
            line=line,
        )


class OfflineConnectionError(MigguardError):
    """env.py tried to connect while running in offline mode, where no database is used."""


def parts_of(url: URL) -> dict[str, str]:
    return {
        "url": url.render_as_string(hide_password=False),
        "host": url.host or "",
        "port": str(url.port or ""),
        "user": url.username or "",
        "password": url.password or "",
        "database": url.database or "",
    }


def redirect_values(
    target: URL,
    *,
    default_driver: str,
    mapping: Mapping[str, str],
    existing: Mapping[str, str],
) -> dict[str, str]:
    """The environment variables to set so that env.py finds the throwaway database."""
    values: dict[str, str] = {}
    is_sqlite = target.get_backend_name() == "sqlite"
    for name, value in existing.items():
        if isinstance(value, str) and _URL_VALUE.match(value.strip()):
            values[name] = _render_like(target, value.strip(), default_driver)
    for name in URL_VARIABLES:
        values.setdefault(name, target.set(drivername=default_driver).render_as_string(False))
    if not is_sqlite:
        parts = parts_of(target)
        for part, names in PART_VARIABLES.items():
            for name in names:
                values[name] = parts[part]
    parts = parts_of(target.set(drivername=default_driver))
    for name, template in mapping.items():
        try:
            values[name] = template.format(**parts)
        except (KeyError, IndexError, ValueError) as exc:
            raise MigguardError(
                f"[tool.migguard.env] {name} = {template!r}: unknown placeholder {exc}; use "
                "{url}, {host}, {port}, {user}, {password} or {database}"
            ) from None
    return values


def _render_like(target: URL, original: str, default_driver: str) -> str:
    """Keep the driver the project wrote (asyncpg stays asyncpg), swap everything else."""
    try:
        driver = make_url(original).drivername
    except Exception:
        driver = default_driver
    if target.get_backend_name() == "sqlite" or not driver.startswith("postgres"):
        driver = target.drivername if target.get_backend_name() == "sqlite" else default_driver
    if driver == "postgres":
        driver = "postgresql"
    rendered = target.set(drivername=driver).render_as_string(hide_password=False)
    if original.startswith("postgres://"):
        rendered = "postgres://" + rendered.split("://", 1)[1]
    return rendered


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set variables for the duration of the run, then restore the caller's environment.

    ``load_dotenv(override=True)`` in env.py would write the real URL back over the redirected
    one, so while the run lasts python-dotenv's ``load_dotenv`` re-applies these values after
    loading: the file's other variables still arrive as the project expects.
    """
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        with _dotenv_cannot_override(values):
            yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def _dotenv_cannot_override(values: Mapping[str, str]) -> Iterator[None]:
    try:
        import dotenv
        import dotenv.main
    except ImportError:  # pragma: no cover - python-dotenv is a dependency
        yield
        return
    original = dotenv.main.load_dotenv

    def load_dotenv(*args: Any, **kwargs: Any) -> bool:
        loaded = original(*args, **kwargs)
        os.environ.update(values)
        return loaded

    dotenv.load_dotenv = dotenv.main.load_dotenv = load_dotenv
    try:
        yield
    finally:
        dotenv.load_dotenv = dotenv.main.load_dotenv = original


@dataclass
class Guard:
    """Knows the throwaway databases and refuses every other target."""

    allowed_databases: set[str] = field(default_factory=set)
    allowed_files: set[str] = field(default_factory=set)
    env_py: Path | None = None
    variables_set: tuple[str, ...] = ()
    offline: bool = False  # env.py runs in offline (--sql) mode: no database at all
    administering: bool = False  # migguard's own server statements, between steps

    @contextmanager
    def administration(self) -> Iterator[None]:
        """migguard itself drops and creates the run's database (through the server's
        maintenance database) while env.py is running; no project code runs meanwhile."""
        self.administering = True
        try:
            yield
        finally:
            self.administering = False

    def allow(self, url: URL) -> None:
        if url.get_backend_name() == "sqlite":
            if url.database:
                self.allowed_files.add(str(Path(url.database).resolve()))
        elif url.database:
            self.allowed_databases.add(url.database)

    def check_connection(self, connection: Any) -> None:
        """Ask the server itself which database this is; names are random, so a match is
        proof."""
        dialect = connection.dialect.name
        if dialect == "sqlite":
            self._check_sqlite(connection.engine.url)
            return
        was_in_transaction = connection.in_transaction()
        name = connection.exec_driver_sql("SELECT current_database()").scalar()
        if not was_in_transaction:
            rollback(connection)
        if name not in self.allowed_databases:
            self._refuse(connection.engine.url)

    def check_url(self, url: URL | str) -> None:
        if self.administering:
            return
        parsed = make_url(url) if isinstance(url, str) else url
        if parsed.get_backend_name() == "sqlite":
            self._check_sqlite(parsed)
        elif parsed.database not in self.allowed_databases:
            self._refuse(parsed)

    def _check_sqlite(self, url: URL) -> None:
        database = url.database
        if not database or database == ":memory:":
            return
        if str(Path(database).resolve()) not in self.allowed_files:
            self._refuse(url)

    def _refuse(self, url: URL) -> None:
        if self.offline:
            raise OfflineConnectionError(
                f"env.py tried to connect to {redact(url)} in offline mode (migguard --static "
                "runs env.py with context.is_offline_mode() true to read target_metadata); "
                "refused before connecting. Offline mode needs no database: give "
                "context.configure(url=...) the URL without connecting in that branch, or name "
                "the models with --metadata module:attr"
            )
        raise UnsafeTargetError(redact(url), self.hint(url))

    def hint(self, url: URL | None = None) -> str:
        """Which setting would point env.py at the throwaway database."""
        skip = set(self.variables_set)
        read = sorted(set(env_variables_read(self.env_py)) - skip)
        holding = variables_holding(url, os.environ, skip) if url is not None else {}
        if holding and not set(holding) <= set(read):  # read through a settings object
            mapping = ", ".join(f'{name} = "{{{part}}}"' for name, part in holding.items())
            return (
                f"The URL env.py used comes from {', '.join(holding)}: map them in "
                f"pyproject.toml [tool.migguard.env]: {mapping}"
            )
        if read:
            mapping = ", ".join(f'{name} = "{{{placeholder_for(name)}}}"' for name in read)
            names = ", ".join(read)
            return f"env.py reads {names}: map them in [tool.migguard.env]: {mapping}"
        return (
            "Make env.py take its URL from config.get_main_option('sqlalchemy.url'), "
            "config.attributes['connection'] or an environment variable, and map that variable "
            'in pyproject.toml: [tool.migguard.env] NAME = "{url}"'
        )

    @contextmanager
    def watching_engines(self) -> Iterator[None]:
        """While env.py runs, refuse statements on any engine that is not the throwaway one."""
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        def before_execute(conn: Any, cursor: Any, statement: Any, *args: Any) -> None:
            self.check_url(conn.engine.url)

        def before_connect(dialect: Any, record: Any, cargs: Any, cparams: Any) -> None:
            self.check_connect_arguments(dialect, cargs, cparams)

        event.listen(Engine, "before_cursor_execute", before_execute)
        event.listen(Engine, "do_connect", before_connect)
        try:
            yield
        finally:
            event.remove(Engine, "before_cursor_execute", before_execute)
            event.remove(Engine, "do_connect", before_connect)

    def check_connect_arguments(self, dialect: Any, cargs: Any, cparams: Any) -> None:
        """Before the driver opens a connection: a database that is known not to be the
        throwaway one is refused without a packet sent (the server is asked later otherwise)."""
        if self.administering:
            return
        if dialect.name == "sqlite":
            self._check_sqlite(URL.create("sqlite", database=str(cargs[0]) if cargs else None))
            return
        database = cparams.get("dbname") or cparams.get("database")
        if self.offline or (database and database not in self.allowed_databases):
            port = cparams.get("port")
            self._refuse(
                URL.create(
                    f"{dialect.name}+{dialect.driver}",
                    username=cparams.get("user"),
                    password=cparams.get("password"),
                    host=cparams.get("host"),
                    port=int(port) if port else None,
                    database=database,
                )
            )


def variables_holding(url: URL, environ: Mapping[str, str], skip: set[str]) -> dict[str, str]:
    """Variables whose values are that URL or its parts: where a settings object that env.py
    imports (pydantic-settings, a dataclass) most likely found it. Name -> placeholder.

    Only trusted when one of them names the database itself; a lone ``5432`` proves nothing.
    """
    parts = {
        "host": url.host,
        "port": str(url.port) if url.port else None,
        "user": url.username,
        "password": url.password,
        "database": url.database,
    }
    found: dict[str, str] = {}
    for name in sorted(environ):
        value = environ[name].strip()
        if name in skip or not value:
            continue
        if _URL_VALUE.match(value):
            try:
                other = make_url(value)
            except Exception:
                continue
            if (other.host, other.database) == (url.host, url.database):
                found[name] = "url"
            continue
        part = placeholder_for(name)
        if part != "url" and value == parts.get(part):
            found[name] = part
    return found if {"url", "database"} & set(found.values()) else {}


def placeholder_for(name: str) -> str:
    """The ``[tool.migguard.env]`` placeholder a variable's name suggests."""
    upper = name.upper()
    for suffixes, placeholder in (
        (("HOST", "SERVER", "HOSTNAME"), "host"),
        (("PORT",), "port"),
        (("USER", "USERNAME", "LOGIN"), "user"),
        (("PASSWORD", "PASS", "PWD"), "password"),
        (("DB", "NAME", "DATABASE", "DBNAME"), "database"),
    ):
        if upper.endswith(suffixes):
            return placeholder
    return "url"


def env_variables_read(path: Path | None) -> list[str]:
    """Names env.py reads with os.environ[...], os.getenv(...) or environ.get(...)."""
    if path is None or not path.is_file():
        return []
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except SyntaxError:
        return []
    names: list[str] = []
    for node in ast.walk(tree):
        key: ast.expr | None = None
        if isinstance(node, ast.Subscript) and _is_environ(node.value):
            key = node.slice
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr in ("getenv", "get")
                and (func.attr == "getenv" or _is_environ(func.value))
            ):
                key = node.args[0]
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            names.append(key.value)
    return list(dict.fromkeys(names))


def _is_environ(node: ast.expr) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ"
    )
