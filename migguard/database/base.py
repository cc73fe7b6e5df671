"""What every provider hands back: a server migguard may create and drop databases on."""

from __future__ import annotations

import contextlib
import secrets
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import URL, make_url

from migguard import signals
from migguard.errors import MigguardError

# Internal connections always use psycopg2 (a hard dependency); env.py gets its own driver.
ADMIN_DRIVER = "postgresql+psycopg2"


def new_database_name(suffix: str = "") -> str:
    """``migguard_<random>``: unguessable, so the safety guard can treat it as a token."""
    return f"migguard_{secrets.token_hex(6)}{suffix}"


def redact(url: URL | str) -> str:
    """A URL fit for a message: the password never reaches a log or a CI page."""
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.render_as_string(hide_password=True)


@dataclass
class Server:
    """A PostgreSQL (or SQLite) server that belongs to this run, or a user's server on which
    this run owns only the databases it created."""

    kind: str
    admin_url: URL
    version: str = ""
    created: list[str] = field(default_factory=list)

    @property
    def is_sqlite(self) -> bool:
        return self.admin_url.get_backend_name() == "sqlite"

    def create_database(self, name: str | None = None, template: str | None = None) -> URL:
        """A new empty database (or a copy of ``template``); dropped when the server closes."""
        name = name or new_database_name()
        from sqlalchemy import create_engine, text

        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT", poolclass=_null_pool())
        try:
            with engine.connect() as conn:
                clause = f' TEMPLATE "{template}"' if template else ""
                conn.execute(text(f'CREATE DATABASE "{name}"{clause}'))
                self.created.append(name)
                if self.kind == "url":
                    _mark_owner(conn, name)
        except Exception as exc:
            signals.reraise_if_received()  # a Ctrl-C cancelled the CREATE: not a server error
            raise MigguardError(
                f"cannot create a database on {redact(self.admin_url)}: {_first_line(exc)}"
            ) from exc
        finally:
            engine.dispose()
        return self.admin_url.set(database=name)

    def drop_databases(self) -> None:
        """Drop every database this run created, terminating stray sessions first."""
        if not self.created:
            return
        from sqlalchemy import create_engine

        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT", poolclass=_null_pool())
        try:
            try:
                conn = engine.connect()
            except Exception as exc:  # the server died during the run
                if self.kind != "url":  # a private server: its databases go with its directory
                    self.created.clear()
                    return
                raise MigguardError(
                    f"cannot drop {', '.join(self.created)} on {redact(self.admin_url)} "
                    f"({_first_line(exc)}): drop them by hand"
                ) from exc
            with conn:
                for name in reversed(self.created):
                    drop_on(conn, name)
            self.created.clear()
        finally:
            engine.dispose()

    def drop_database(self, name: str) -> None:
        """Drop one database this run created now, rather than when the server closes."""
        from sqlalchemy import create_engine

        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT", poolclass=_null_pool())
        try:
            with engine.connect() as conn:
                drop_on(conn, name)
        finally:
            engine.dispose()
        if name in self.created:
            self.created.remove(name)


def drop_on(conn: Any, name: str, *, terminate: bool = True) -> None:
    """Terminate stray sessions on ``name`` (DROP DATABASE refuses while any remain), drop it.

    ``terminate=False`` is for a database this run did not create (an abandoned one): then a
    session someone opened on it makes the DROP fail rather than being cut off."""
    from sqlalchemy import text

    if terminate:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))


def _mark_owner(conn: Any, name: str) -> None:
    """Comment the new database with this run's host and pid: on a user's server, a run killed
    before it could drop its databases leaves them, and the next run on this machine drops
    them only if the mark proves they are migguard's and their run is dead. Best effort: a
    server that refuses the comment only loses that later cleanup, not this run."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from migguard.database.ownership import current_owner

    mark = current_owner().render()
    with contextlib.suppress(SQLAlchemyError):  # autocommit: the connection stays usable
        conn.execute(text(f'COMMENT ON DATABASE "{name}" IS :mark'), {"mark": mark})


@dataclass
class ThrowawayDB:
    """One database of a throwaway server, renderable with any driver."""

    server: Server
    sa_url: URL

    @property
    def name(self) -> str:
        return self.sa_url.database or ""

    def url(self, drivername: str | None = None) -> str:
        """The URL as a string with the password, rendered for ``drivername``."""
        url = self.sa_url.set(drivername=drivername) if drivername else self.sa_url
        return url.render_as_string(hide_password=False)


def _null_pool() -> type:
    from sqlalchemy.pool import NullPool

    return NullPool


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def alarm_deferred() -> Iterator[None]:
    """Cleanup that ``--timeout`` cannot cut short. The alarm raises wherever the run is; if
    that is half-way through stopping the server or dropping databases, a postmaster or a
    ``migguard_*`` database on the user's server would stay. Blocked, it arrives just after."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - Windows has no SIGALRM
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
