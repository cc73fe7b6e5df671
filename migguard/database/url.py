"""A server the user names: migguard creates ``migguard_<random>`` there and drops it after.

The database in the URL is only used to connect; it is never migrated, which is what makes it
safe to point migguard at a shared development server or a CI service container.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from migguard.database.base import ADMIN_DRIVER, Server, redact
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
    server = Server(kind="url", admin_url=url, version=version)
    try:
        yield server
    finally:
        server.drop_databases()


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
