"""The schema a history starts from, when that is not an empty database.

Many applications build their first tables outside Alembic: ``metadata.create_all()`` at first
start, then ``alembic upgrade`` (the first revision alters tables it never created), or a dump
of a squashed base schema. ``bootstrap = "package.module:function"`` (called once with a
SQLAlchemy ``Connection``, committed) or ``bootstrap-sql = "path/schema.sql"`` gives migguard
that start; the stairway then runs over every revision as usual. It runs again whenever the
stairway replays the history on a fresh database.
"""

from __future__ import annotations

import importlib
import os
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migguard.errors import MigguardError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from migguard.config import Settings
    from migguard.project import Project


def configured(settings: Settings) -> bool:
    return bool(settings.bootstrap or settings.bootstrap_sql)


def validate(settings: Settings) -> None:
    """Bad settings are exit 2 before any database starts."""
    if settings.bootstrap and settings.bootstrap_sql:
        raise MigguardError("bootstrap and bootstrap-sql both set: the history has one start")
    if settings.bootstrap_sql is not None and not settings.bootstrap_sql.is_file():
        raise MigguardError(f"bootstrap-sql {settings.bootstrap_sql}: no such file")
    if settings.bootstrap:
        module, _, function = settings.bootstrap.partition(":")
        if not module or not function:
            raise MigguardError(
                f"bootstrap {settings.bootstrap!r}: expected package.module:function"
            )


def apply(url: URL, settings: Settings, project: Project) -> None:
    """Build the starting schema on the empty database at ``url``, committed. Runs with the
    project's working directory, sys.path and environment, like env.py."""
    if not configured(settings):
        return
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            if settings.bootstrap_sql is not None:
                _load_dump(connection, settings.bootstrap_sql)
            else:
                _call(connection, settings.bootstrap or "", project)
    finally:
        engine.dispose()


def _call(connection: Any, spec: str, project: Project) -> None:
    module_name, _, attribute = spec.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise MigguardError(f"bootstrap {spec}: {type(exc).__name__}: {exc}") from exc
    try:
        target(connection)
    except MigguardError:
        raise
    except Exception as exc:
        path, line = _where(exc, project)
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise MigguardError(
            f"bootstrap {spec} raised {type(exc).__name__}: {detail[0] if detail else ''}",
            path=path,
            line=line,
        ) from exc


def _load_dump(connection: Any, path: Path) -> None:
    """A ``pg_dump --schema-only`` file as psql would run it: psql's own backslash commands
    (``\\connect``, ``\\restrict``) are not SQL and are left out."""
    text = path.read_text(encoding="utf-8")
    sql = "\n".join(line for line in text.splitlines() if not line.startswith("\\"))
    dbapi = connection.connection.dbapi_connection
    try:
        if connection.dialect.name == "sqlite":
            dbapi.executescript(sql)
        else:
            with dbapi.cursor() as cursor:
                cursor.execute(sql)  # no parameters: % in the dump stays as written
    except Exception as exc:
        detail = str(exc).strip().splitlines()
        raise MigguardError(
            f"bootstrap-sql {path}: {type(exc).__name__}: {detail[0] if detail else ''}"
        ) from exc


def _where(exc: BaseException, project: Project) -> tuple[str | None, int | None]:
    """The deepest frame in the project's own files: where the bootstrap function failed."""
    root = str(project.root) + os.sep
    path: str | None = None
    line: int | None = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        filename = os.path.realpath(frame.f_code.co_filename)
        if filename.startswith(root) and "site-packages" not in filename:
            path, line = project.relpath(filename), lineno
    return path, line
