"""Throwaway databases: one module per provider and one entry point, :func:`provide`.

``--db auto`` tries, in order: a server the user named (``url``), the embedded wheel, local
server binaries, Docker, and SQLite for SQLite projects. Each provider is a context manager
that removes everything it created, whatever happens inside.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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


def choose(kind: str, *, database_url: str | None, wants_sqlite: bool) -> str:
    """Resolve ``auto`` to the first provider that can work here."""
    if kind != "auto":
        return kind
    if wants_sqlite:
        return "sqlite"
    if database_url:
        return "url"
    for candidate in ("embedded", "local", "docker"):
        if availability(candidate) is None:
            return candidate
    raise MigguardError(
        "no way to start PostgreSQL here: "
        + "; ".join(f"{name}: {availability(name)}" for name in ("embedded", "local", "docker"))
    )


@contextmanager
def provide(
    kind: str = "auto",
    *,
    database_url: str | None = None,
    postgres_version: str | None = None,
    wants_sqlite: bool = False,
) -> Iterator[Server]:
    """A throwaway server for one run; all it created is gone when the block exits."""
    chosen = choose(kind, database_url=database_url, wants_sqlite=wants_sqlite)
    with _opener(chosen, database_url, postgres_version)() as server:
        try:
            yield server
        finally:
            with alarm_deferred():
                server.drop_databases()


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
