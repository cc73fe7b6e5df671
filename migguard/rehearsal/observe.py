"""Every statement the revision's connection sends, with what it did and the line that sent it.

SQLAlchemy's cursor events on the migration's engine see each statement of the revision,
also the ones inside ``autocommit_block()`` (Alembic switches the same connection to
AUTOCOMMIT there). Right before a statement runs, the existing tables it names (read from the
SQL PostgreSQL is about to receive, so dynamic names and ``op.execute`` count) get their rows
(:mod:`.rows`) if they have none yet, and join the observed tables; after it, the
:mod:`.probe` reads the server again, and the difference is that statement's doing. That
reading is taken at the next thing that happens on the connection (the next statement, a
commit, the end of the upgrade, where it shares the round trip that deletes the rows), so
that the end of an upgrade costs one round trip instead of two.

Filling only the tables a revision touches keeps a rehearsal of a whole history cheap: most
revisions touch one or two of a hundred tables. A table reached only through a function or a
trigger is not filled or observed (a miss, never a false finding). Statements of other
connections of the same engine are ignored, and the observer's own queries go through DBAPI
cursors, below the events.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sys
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from types import FrameType, TracebackType
from typing import Any

from migguard.rehearsal import catalog, prepared, probe, rows

_COMMIT = re.compile(r"^\s*(COMMIT|END)\b", re.IGNORECASE)
_READ_ONLY = re.compile(r"^\s*(SELECT|SHOW)\b", re.IGNORECASE)
_DISCARDS = re.compile(r"\b(DISCARD|DEALLOCATE)\b", re.IGNORECASE)
_QUOTED = r'(?:[^"]|"")+'  # inside the double quotes
_BARE = r"[A-Za-z_][A-Za-z0-9_$]*"
_IDENTIFIER = re.compile(rf'"({_QUOTED})"|({_BARE})')
# SQLAlchemy's and Alembic's own look-ups in the catalog (does this type exist?): no table
_INTROSPECTION = re.compile(r"\b(pg_catalog|information_schema)\s*\.", re.IGNORECASE)
_NAME = rf'(?:"{_QUOTED}"|{_BARE})'
# A new table with its own column list: the existing tables it names it only references
# (REFERENCES, LIKE). Not a partition, a child (INHERITS) or CREATE TABLE ... AS, which reach
# into an existing table; an ambiguous text reads as one of those.
_CREATE_TABLE = re.compile(
    r"^\s*CREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?(?:(?:TEMPORARY|TEMP|UNLOGGED)\s+)?TABLE\s+"
    rf"(?P<maybe>IF\s+NOT\s+EXISTS\s+)?(?:{_NAME}\s*\.\s*)*(?P<name>{_NAME})\s*\(",
    re.IGNORECASE,
)
_REACHES_INTO = re.compile(r"\bPARTITION\s+OF\b|\bINHERITS\b|\)\s*AS\b", re.IGNORECASE)
# A new enum type: it names no table.
_CREATE_ENUM = re.compile(
    rf"^\s*CREATE\s+TYPE\s+(?:{_NAME}\s*\.\s*)*{_NAME}\s+AS\s+ENUM\b", re.IGNORECASE
)
# A new index: of the names in it only the table it is built on can be an existing table (the
# index's own name is new; its columns, expressions and predicate name no other table).
_CREATE_INDEX = re.compile(
    r"^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?"
    rf"(?:{_NAME}\s+)?ON\s+(?:ONLY\s+)?(?:{_NAME}\s*\.\s*)*(?P<table>{_NAME})",
    re.IGNORECASE,
)


@dataclass
class Statement:
    """One statement as the server ran it."""

    sql: str
    line: int | None
    autocommit: bool  # ran outside a transaction: its locks were gone before they could be read
    changes: list[probe.Change] = field(default_factory=list)
    # the project's while it ran; read only for a statement that took ACCESS EXCLUSIVE on an
    # observed table, the one thing it is asked for
    lock_timeout: str | None = None
    error: str | None = None


@dataclass
class Session:
    """What the observers of one run know of the server session they read through (per run,
    handed to each revision's :class:`Observer`).

    The probe and the catalog's look-ups are statements prepared in the session
    (:mod:`.prepared`; ``PREPARE`` lasts as long as the session, across transactions and
    rollbacks): ``prepared_on`` holds the DBAPI connection each was prepared on, and a new one
    (a replay of the history reconnects) prepares it again. ``usable`` turns False for the
    rest of the run when a revision may have discarded prepared statements (``DISCARD``,
    ``DEALLOCATE``) or a prepared query failed: they then go as plain SQL, as with drivers
    that take one statement per call."""

    prepared_on: dict[str, Any] = field(default_factory=dict)  # statement name -> connection
    usable: bool = True
    # The revision's observer, which the engine's events go to. The listeners are put on an
    # engine once per run (:meth:`listen`) and taken off at its end (:meth:`close`): adding
    # and removing five listeners around every revision cost more than its reading.
    observer: Observer | None = None
    engines: list[Any] = field(default_factory=list)

    def listen(self, engine: Any) -> None:
        """Send ``engine``'s statement events to :attr:`observer` from now on."""
        from sqlalchemy import event

        if any(known is engine for known in self.engines):
            return
        for name, listener in self._listeners():
            event.listen(engine, name, listener)
        self.engines.append(engine)

    def close(self) -> None:
        """Take the listeners off every engine :meth:`listen` put them on."""
        from sqlalchemy import event

        for engine in self.engines:
            for name, listener in self._listeners():
                event.remove(engine, name, listener)
        self.engines.clear()
        self.observer = None

    def _listeners(self) -> list[tuple[str, Any]]:
        return [
            ("before_cursor_execute", self._before),
            ("after_cursor_execute", self._after),
            ("handle_error", self._error),
            ("commit", self._commit),
            ("rollback", self._rollback),
        ]

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.observer is not None:
            self.observer.before(conn, statement)

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.observer is not None:
            self.observer.after(conn)

    def _error(self, context: Any) -> None:
        if self.observer is not None:
            self.observer.error(context)

    def _commit(self, conn: Any) -> None:
        if self.observer is not None:
            self.observer.commit(conn)

    def _rollback(self, conn: Any) -> None:
        if self.observer is not None:
            self.observer.rollback(conn)


class Observer:
    """Fills and watches the tables one revision's upgrade touches (a context manager).

    ``version_table`` is Alembic's, never filled; ``session`` is the run's (a fresh one when
    none is given)."""

    def __init__(
        self,
        connection: Any,
        revision_path: str,
        version_table: str,
        session: Session | None = None,
    ) -> None:
        self.engine = connection.engine
        self.dbapi = connection.connection.dbapi_connection
        self.batched = connection.dialect.driver == "psycopg2"
        self.session = session if session is not None else Session()
        self._own_session = session is None  # its listeners go when this observer ends
        self.revision_path = _realpath(revision_path)
        self.excluded = (version_table,)
        # every name looked up once: a table the revision creates is named first by its
        # CREATE, when it does not exist yet, and so is never observed
        self.looked_up: set[str] = set()
        # the project's tables before the revision's first statement, by name (read with the
        # first look-up): a statement naming none of them, or only ones already observed,
        # has no table to fill
        self.existing: dict[str, set[int]] | None = None
        self.tables: dict[int, catalog.Table] = {}  # the observed ones, in detail
        self.fill_order: list[int] = []  # tables written to, parents first
        self.filled_counts: dict[int, int] = {}  # rows inserted in each, right after the fill
        self.empty: dict[int, str] = {}  # tables left without rows, and why
        self.statements: list[Statement] = []
        self.committed = False  # the revision ended the transaction the rows were written in
        self.broken: BaseException | None = None  # something failed: nothing here is trusted
        self.last: probe.Reading | None = None
        self._pending: Statement | None = None
        # the last statement that ran, whose reading waits for the next thing that happens on
        # the connection (a statement, a commit, the end of the upgrade): at the end it shares
        # the round trip that removes the generated rows
        self._unread: Statement | None = None
        self._busy = False
        self._wrote = False  # the revision has sent a statement that may write

    def __enter__(self) -> Observer:
        self.session.listen(self.engine)
        self.session.observer = self
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.session.observer = None
        if self._own_session:
            self.session.close()

    def _ours(self, conn: Any) -> bool:
        if self._busy or self.broken is not None:
            return False
        try:
            return bool(conn.connection.dbapi_connection is self.dbapi)
        except Exception:
            return False

    def before(self, conn: Any, statement: str) -> None:
        """Right before ``statement`` goes to the server (SQLAlchemy's
        ``before_cursor_execute``)."""
        if not self._ours(conn):
            return
        self.flush()  # the previous statement's doing, before this one adds to it
        if self.broken is not None:
            return
        autocommit = bool(getattr(self.dbapi, "autocommit", False))
        if autocommit or _COMMIT.match(statement):
            self.committed = True
        if _DISCARDS.search(statement):
            self.session.usable = False
        self._pending = Statement(statement, self._line(sys._getframe(1)), autocommit)
        named = [] if _INTROSPECTION.search(statement) else self._named(statement)
        try:
            if named:
                self._fill(named)
        except Exception as exc:  # the step then runs the upgrade again, unobserved
            self.broken = exc
            self._pending = None
        if not _READ_ONLY.match(statement):
            self._wrote = True

    def after(self, conn: Any) -> None:
        """The statement ran (``after_cursor_execute``)."""
        if not self._ours(conn) or self._pending is None:
            return
        done, self._pending = self._pending, None
        if self.tables and self.last is not None:
            self._unread = done
        self.statements.append(done)

    def flush(self) -> None:
        """Read what the last statement did, if that is still to do: right before the next
        statement runs, before a commit or rollback ends the transaction whose locks and
        statistics say it, and at the end of the upgrade."""
        if self._unread is None or self.broken is not None or _failed(self.dbapi):
            return  # a failed transaction reads nothing: the statement keeps no changes
        try:
            self.take(self._read())
        except Exception as exc:
            self.broken = exc

    @property
    def unread(self) -> bool:
        """The last statement's reading is still to be taken."""
        return self._unread is not None and self.broken is None

    def take(self, reading: probe.Reading) -> None:
        """``reading``, taken after the last statement, is what that statement did."""
        done, self._unread = self._unread, None
        assert done is not None and self.last is not None
        done.changes = probe.changes(self.last, reading)
        if any("AccessExclusiveLock" in change.taken for change in done.changes):
            done.lock_timeout = reading.project_lock_timeout()
        self.last = reading

    def error(self, context: Any) -> None:
        """The statement failed (``handle_error``)."""
        if not self._ours(context.connection) or self._pending is None:
            return
        failed, self._pending = self._pending, None
        failed.error = first_line(context.original_exception)
        self.statements.append(failed)

    def commit(self, conn: Any) -> None:
        """A commit through SQLAlchemy ends the transaction the rows were written in (and the
        locks and statistics the last statement's reading is taken from: that first)."""
        if self._ours(conn):
            self.flush()
            self.committed = True

    def rollback(self, conn: Any) -> None:
        """A rollback through SQLAlchemy: the last statement's reading first."""
        if self._ours(conn):
            self.flush()

    def _named(self, statement: str) -> list[str]:
        """The names in the statement not looked up yet (bare words folded to lower case, as
        PostgreSQL does; SQL keywords among them simply match no table).

        Of a ``CREATE TABLE``, only the new table's name counts (an existing table of that
        name, ``IF NOT EXISTS`` or in another schema, is filled as before): the existing
        tables it references (a foreign key's parent, ``LIKE``) get a SHARE ROW EXCLUSIVE
        lock at most, are neither read nor written, and cannot make it fail whatever rows
        they hold, so no rule has anything to see there. They are left to the next
        statement that names them: a revision creating a table that references the
        customers fills no customers unless it also alters or reads them. Without ``IF NOT
        EXISTS`` the new name is not even looked up: a table of that name where it is created
        makes the statement fail, one in another schema is not touched.

        Of a ``CREATE INDEX``, only the table it is built on counts; a ``CREATE TYPE ... AS
        ENUM`` names none. A revision that creates a table, its enum type and its indexes
        thus reads no catalog at all."""
        if _CREATE_ENUM.match(statement):
            return []
        created = _CREATE_TABLE.match(statement)
        if created is not None and not _REACHES_INTO.search(statement):
            if created.group("maybe") is None:
                self.looked_up.update(_names(created.group("name")))
                return []
            statement = created.group("name")
        indexed = _CREATE_INDEX.match(statement)
        if indexed is not None:
            statement = indexed.group("table")
        found = [name for name in _names(statement) if name not in self.looked_up]
        self.looked_up.update(found)
        return found

    def _fill(self, names: list[str]) -> None:
        """Rows for the existing tables ``names`` before the statement runs, and for the tables
        those rows need (:attr:`catalog.Table.needed`); they are observed from here on. The other
        foreign-key ancestors the catalog returns are only read from: rows point at the rows
        they already hold, or keep a nullable key NULL. Filling them (and deleting their rows
        again) cost more than half of a rehearsal, for tables no statement had named."""
        if self.existing is not None and all(
            self.existing.get(name, set()) <= self.tables.keys() for name in names
        ):
            return  # names no table the revision met that is not observed yet
        self._busy = True
        try:
            if self.existing is None:
                details, self.existing = catalog.tables_and_names(
                    self._query, names, excluded=self.excluded
                )
            else:
                details = catalog.tables(self._query, names=names, excluded=self.excluded)
            new = [t for t in details if t.needed and t.oid not in self.tables]
            if not new:
                return
            referenced = [t for t in details if not t.needed and t.oid not in self.tables]
            observed = [*self.tables, *(t.oid for t in new)]
            after_fill: probe.Reading | None = None

            def holding(row: Any) -> set[int]:
                nonlocal after_fill
                after_fill = probe.parse(row[0])
                return {oid for oid, state in after_fill.tables.items() if state.inserted}

            # a starting point, which no finding asks where its lock_timeout comes from
            arguments = probe.arguments(observed, exclusive=observed)
            reading = self.batch_sql(probe.sql(observed, observed), probe.STATEMENT, arguments)
            with self.batch(probe.STATEMENT):
                done = rows.fill(
                    lambda: self.dbapi.cursor(),
                    new,
                    self._restart,
                    batched=self.batched,
                    known=[*self.tables.values(), *referenced],
                    then=reading,
                    holding=holding,
                )
        finally:
            self._busy = False
        for table in new:
            self.tables[table.oid] = table
        self.fill_order += done.order
        self.empty.update(done.empty)
        assert after_fill is not None  # rows.fill hands the reading to holding() once
        self.last = after_fill
        if done.read_after:  # its look into the tables counts as a scan: not the statement's
            self.last = self._read()
        for oid in done.order:
            state = self.last.tables.get(oid)
            self.filled_counts[oid] = state.inserted if state is not None else 0

    def _restart(self) -> None:
        """A refused fill aborts the transaction: start it over if the revision has not
        written anything in it yet (its first statements), below SQLAlchemy, which is in the
        middle of sending the statement; its transaction goes on on the new one."""
        if self._wrote or self.fill_order:
            raise RuntimeError("generated rows refused after the revision had started writing")
        self.dbapi.rollback()

    def _read(self) -> probe.Reading:
        self._busy = True
        try:
            oids, held = list(self.tables), probe.exclusive(self.last)
            (text,) = self._query(
                probe.sql(oids, held), probe.STATEMENT, probe.arguments(oids, held)
            )
            return probe.parse(text)
        finally:
            self._busy = False

    def _query(self, sql: str, statement: prepared.Statement, arguments: Sequence[str]) -> Any:
        """The first row of ``statement`` run prepared with ``arguments`` on the revision's
        connection when the session allows it, else of the plain ``sql``."""
        cursor = self.dbapi.cursor()
        try:
            with self.batch(statement):
                cursor.execute(self.batch_sql(sql, statement, arguments))
            return cursor.fetchone()
        finally:
            cursor.close()

    def batch_sql(self, sql: str, statement: prepared.Statement, arguments: Sequence[str]) -> str:
        """What runs ``statement`` with ``arguments`` in a call to the driver: ``EXECUTE``,
        after its ``PREPARE`` the first time on this connection, when the session allows it,
        else the plain ``sql``. The call runs inside :meth:`batch`."""
        if not (self.batched and self.session.usable):
            return sql
        prepare = self.session.prepared_on.get(statement.name) is not self.dbapi
        return statement.call(arguments, prepare=prepare)

    @contextlib.contextmanager
    def batch(self, statement: prepared.Statement) -> Iterator[None]:
        """Around the call that holds :meth:`batch_sql`'s text: when it succeeds,
        ``statement`` is prepared on this connection; when it fails, prepared or not, none
        is used again (the error goes on)."""
        try:
            yield
        except Exception:
            if self.batched and self.session.usable:
                self.session.usable = False
            raise
        if self.batched and self.session.usable:
            self.session.prepared_on[statement.name] = self.dbapi

    def _line(self, frame: FrameType | None) -> int | None:
        """The innermost line of the revision file on the stack: the ``op.*`` call (or the
        ``execute``) that sent the statement."""
        while frame is not None:
            if _realpath(frame.f_code.co_filename) == self.revision_path:
                return frame.f_lineno
            frame = frame.f_back
        return None


def _names(text: str) -> list[str]:
    """The identifiers in ``text``, as PostgreSQL reads them: bare words folded to lower case,
    quoted ones as written; each once, in order."""
    found: dict[str, None] = {}
    for match in _IDENTIFIER.finditer(text):
        quoted, bare = match.groups()
        found[quoted.replace('""', '"') if quoted is not None else bare.lower()] = None
    return list(found)


def _failed(dbapi: Any) -> bool:
    """The connection's transaction failed (a statement below SQLAlchemy's events raised),
    as psycopg2 and psycopg report it (libpq's ``PQTRANS_INERROR``)."""
    info = getattr(dbapi, "info", None)
    return getattr(info, "transaction_status", None) == 3


@functools.lru_cache(maxsize=4096)
def _realpath(filename: str) -> str:
    """Each statement walks the whole stack: resolve each code file once."""
    return os.path.realpath(filename)


def first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return f"{type(orig).__name__}: {text[0] if text else ''}".strip()


def line_in(exc: BaseException, path: str) -> int | None:
    """The deepest line of the revision file in the traceback of ``exc``."""
    target = _realpath(path)
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if _realpath(frame.f_code.co_filename) == target:
            line = lineno
    return line
