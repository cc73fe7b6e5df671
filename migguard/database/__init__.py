"""Throwaway databases: one module per provider and one entry point, :func:`provide`.

``--db auto`` tries, in order: a server the user named (``url``), the embedded wheel, local
server binaries, Docker, and SQLite for SQLite projects. Each provider is a context manager
that removes everything it created, whatever happens inside.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager

from migguard.database.base import (
    Server,
    ThrowawayDB,
    alarm_deferred,
    new_database_name,
    redact,
)
from migguard.errors import MigguardError

__all__ = [
    "Server",
    "ThrowawayDB",
    "availability",
    "new_database_name",
    "provide",
    "provide_for_tests",
    "redact",
]


def _opener(
    kind: str, database_url: str | None, postgres_version: str | None
) -> Callable[[], AbstractContextManager[Server]]:
    if kind == "url":
        if not database_url:
            raise MigguardError("--db url needs --database-url or MIGGUARD_DATABASE_URL")
        from migguard.database import url

        return lambda: url.provide(database_url)
    if kind == "embedded":
        from migguard.database import embedded

        return embedded.provide
    if kind == "local":
        from migguard.database import local

        return lambda: local.provide(postgres_version)
    if kind == "docker":
        from migguard.database import docker

        return lambda: docker.provide(postgres_version)
    if kind == "sqlite":
        from migguard.database import sqlite

        return sqlite.provide
    raise MigguardError(f"unknown database provider {kind!r}")


def choose(
    kind: str,
    *,
    database_url: str | None,
    wants_sqlite: bool,
    postgres_version: str | None = None,
) -> str:
    """Resolve ``auto`` to the first provider that can work here."""
    return candidates(
        kind,
        database_url=database_url,
        wants_sqlite=wants_sqlite,
        postgres_version=postgres_version,
    )[0]


def candidates(
    kind: str,
    *,
    database_url: str | None,
    wants_sqlite: bool,
    postgres_version: str | None = None,
) -> list[str]:
    """The providers to try, in order: the one asked for, or for ``auto`` every one that can
    work here (a server the user named is never traded for another); with
    ``postgres_version``, only those that can start that major version."""
    found = _candidates(kind, database_url=database_url, wants_sqlite=wants_sqlite)
    if postgres_version and found != ["sqlite"]:
        from migguard.database import versions

        return versions.choose(postgres_version, found)
    return found


def _candidates(kind: str, *, database_url: str | None, wants_sqlite: bool) -> list[str]:
    if kind != "auto":
        return [kind]
    if wants_sqlite:
        return ["sqlite"]
    if database_url:
        return ["url"]
    usable = [name for name in ("embedded", "local", "docker") if availability(name) is None]
    if not usable:
        raise MigguardError(
            "no way to start PostgreSQL here: "
            + "; ".join(f"{name}: {availability(name)}" for name in ("embedded", "local", "docker"))
        )
    return usable


@contextmanager
def provide(
    kind: str = "auto",
    *,
    database_url: str | None = None,
    postgres_version: str | None = None,
    wants_sqlite: bool = False,
    extensions: Mapping[str, str] | None = None,
) -> Iterator[Server]:
    """A throwaway server for one run; all it created is gone when the block exits.

    ``extensions`` (name -> where the migrations create it) must be installable on the server:
    with ``auto`` a provider without them is stopped and the next one tried; otherwise, or when
    none has them, the run ends with exit 2 before any migration, rather than blaming a
    revision for what the server lacks."""
    needed = dict(extensions or {})
    lacking: dict[str, list[str]] = {}  # server -> the needed extensions it does not have
    chosen = candidates(
        kind,
        database_url=database_url,
        wants_sqlite=wants_sqlite,
        postgres_version=postgres_version,
    )
    for candidate in chosen:
        with _opener(candidate, database_url, postgres_version)() as server:
            if postgres_version and not server.is_sqlite:
                from migguard.database import versions

                versions.check_server(postgres_version, server.kind, server.version)
            available = _available_extensions(server) if needed else None
            missing = [n for n in needed if n not in available] if available is not None else []
            if missing:
                lacking[f"{server.kind} {server.version}"] = missing
                continue
            try:
                yield server
            finally:
                with alarm_deferred():
                    server.drop_databases()
            return
    name = next(iter(lacking.values()))[0]
    servers = "; ".join(f"{where} has no {', '.join(names)}" for where, names in lacking.items())
    raise MigguardError(
        f'{needed[name]} creates the PostgreSQL extension "{name}", which the throwaway server '
        f"cannot install ({servers}): use --db local with the distribution's contrib package, "
        "--db docker with an image that has it, or --db url with a server that has it"
    )


def _available_extensions(server: Server) -> frozenset[str] | None:
    """What ``CREATE EXTENSION`` can install on ``server``; None: not asked (SQLite)."""
    if server.is_sqlite:
        return None
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(server.admin_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT name FROM pg_catalog.pg_available_extensions"))
            return frozenset(row[0] for row in rows)
    finally:
        engine.dispose()


def availability(kind: str) -> str | None:
    """None if the provider can be used on this machine, else the reason it cannot."""
    if kind == "embedded":
        from migguard.database import embedded

        return embedded.availability()
    if kind == "local":
        from migguard.database import local

        return local.availability()
    if kind == "docker":
        from migguard.database import docker

        return docker.availability()
    if kind == "sqlite":
        return None
    if kind == "url":
        import os

        return None if os.environ.get("MIGGUARD_DATABASE_URL") else "no --database-url given"
    return f"unknown provider {kind!r}"


@contextmanager
def provide_for_tests(kind: str = "auto", database_url: str | None = None) -> Iterator[ThrowawayDB]:
    """A fresh empty database on a throwaway server, for a project's own test suite."""
    with provide(kind, database_url=database_url) as server:
        yield ThrowawayDB(server=server, sa_url=server.create_database())
