"""A server the user names: migguard creates ``migguard_<random>`` there and drops it after.

The database in the URL is only used to connect; it is never migrated, which is what makes it
safe to point migguard at a shared development server or a CI service container.

A run that is SIGKILLed cannot drop its databases; the next run on the same machine does,
once their owner mark (see :mod:`migguard.database.ownership`) proves them abandoned.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from migguard import signals
from migguard.database.base import ADMIN_DRIVER, Server, drop_on, redact
from migguard.database.ownership import parse_owner
from migguard.errors import MigguardError


def admin_url(database_url: str) -> URL:
    try:
        url = make_url(database_url)
    except ArgumentError as exc:
        raise MigguardError(f"--database-url is not a database URL: {exc}") from exc
    if url.get_backend_name() != "postgresql":
        raise MigguardError(
            f"--database-url must name a PostgreSQL server, not {url.get_backend_name()!r}"
        )
    return url.set(drivername=ADMIN_DRIVER, database=url.database or "postgres")


@contextmanager
def provide(database_url: str) -> Iterator[Server]:
    url = admin_url(database_url)
    version = _check_reachable(url)
    sweep_abandoned_databases(url)
    server = Server(kind="url", admin_url=url, version=version)
    try:
        yield server
    finally:
        server.drop_databases()


# Exactly what new_database_name() makes (no caller adds a suffix): a name of another shape is
# not one of ours, whatever its comment says.
_OWN_NAME = r"^migguard_[0-9a-f]{12}$"

_CANDIDATES = f"""
SELECT d.datname,
       shobj_description(d.oid, 'pg_database'),
       EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datid = d.oid)
FROM pg_database d
WHERE d.datname ~ '{_OWN_NAME}'
"""


def sweep_abandoned_databases(url: URL) -> list[str]:
    """Drop the databases that runs on this machine created and could not drop (SIGKILL, the
    OOM killer, a CI job timeout), and return their names.

    This is the user's server, so a database goes only when everything proves it abandoned:
    its name is one migguard makes, its comment is a migguard mark from this host and pid
    namespace, that pid is dead here, and no session is connected to it. Anything else,
    including parallel runs on other machines, is left alone. The sweep never fails the run:
    without the rights to read the catalog or to drop, it skips quietly.
    """
    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.pool import NullPool

    dropped: list[str] = []
    engine = create_engine(
        url, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"connect_timeout": 5}
    )
    try:
        with engine.connect() as conn:
            for name in _abandoned_databases(conn):
                if _drop_abandoned(conn, name):
                    dropped.append(name)
    except SQLAlchemyError:
        # No rights on the catalog, or the server went away: the run goes on without the
        # sweep. But a Ctrl-C during a statement surfaces as a cancelled query: not lost here.
        signals.reraise_if_received()
    finally:
        engine.dispose()
    return dropped


def _abandoned_databases(conn: Any) -> list[str]:
    """Names of ``migguard_*`` databases whose mark proves a dead run here, with no session."""
    from sqlalchemy import text

    rows = conn.execute(text(_CANDIDATES)).all()
    return [name for name, comment, busy in rows if not busy and _is_abandoned(comment)]


def _is_abandoned(comment: str | None) -> bool:
    """A mark from a run on this machine whose process is gone; no mark is never abandoned."""
    owner = parse_owner(comment)
    return owner is not None and owner.is_abandoned()


def _drop_abandoned(conn: Any, name: str) -> bool:
    """Drop one abandoned database without terminating anyone: a session opened since the
    check makes PostgreSQL refuse, and so does a database owned by another role."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        drop_on(conn, name, terminate=False)
    except SQLAlchemyError:
        signals.reraise_if_received()
        return False
    return True


def _check_reachable(url: URL) -> str:
    import psycopg2

    try:
        conn = psycopg2.connect(
            host=url.host or "localhost",
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            dbname=url.database,
            connect_timeout=5,
        )
    except psycopg2.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MigguardError(f"cannot connect to {redact(url)}: {reason}") from exc
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW server_version")
            row = cur.fetchone()
        return str(row[0]) if row else ""
    finally:
        conn.close()
