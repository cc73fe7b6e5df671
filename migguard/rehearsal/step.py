"""One revision's upgrade as a rehearsal: rows first, the upgrade under observation, rows gone.

Inside the transaction the runner opened for the upgrade:

1. run the upgrade with every statement observed (:mod:`.observe`), each existing table
   getting its rows (:mod:`.rows`) right before the first statement that names it;
2. on success, delete the rows again, so the round trip and every later step see what they
   would have seen without a rehearsal. That is exact when the revision inserted no row into
   those tables (the transaction's own insert counters say so); otherwise, and whenever the
   deletes are refused, the transaction is rolled back and the upgrade runs again, plainly;
3. on failure, roll back and run the upgrade again on the empty tables: if it then succeeds,
   the failure was caused by the rows, which is ``upgrade-fails-with-rows``; if it fails
   again, it is an ordinary ``upgrade-fails``, reported by the runner as always.

A revision that commits part of its work itself (``autocommit_block()``) cannot be rolled
back: its rows are deleted where that is exact, and a failure after the commit is reported as
the runner reports any failed upgrade.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from migguard import signals
from migguard.errors import MigguardError
from migguard.rehearsal import catalog, observe, probe

if TYPE_CHECKING:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import Script


@dataclass
class Failure:
    """The upgrade failed with rows in the tables and succeeded without them."""

    error: str
    line: int | None
    sql: str | None


@dataclass
class Rehearsed:
    """What one revision's rehearsal saw."""

    revision: str
    tables: dict[int, catalog.Table]
    statements: list[observe.Statement] = field(default_factory=list)
    failure: Failure | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Rehearsal:
    """The rehearsal of one run: which revisions, the server, and what each one did."""

    revisions: frozenset[str]
    server_version: str = ""
    rehearsed: list[Rehearsed] = field(default_factory=list)
    session: observe.Session = field(default_factory=observe.Session)
    done: set[str] = field(default_factory=set)  # the revisions in ``rehearsed``

    def close(self) -> None:
        """The run is over: its engine's events go to no observer any more."""
        self.session.close()

    def covers(self, revision: str) -> bool:
        """Rehearsed once: a replay of the history after a failure runs it plainly."""
        return revision in self.revisions and revision not in self.done

    def upgrade(self, context: MigrationContext, sc: Script, body: Callable[[], None]) -> None:
        """Run ``body`` (the revision's upgrade) as a rehearsal, in the runner's step."""
        connection = context.connection
        assert connection is not None
        if connection.dialect.name != "postgresql":
            body()  # SQLite: no locks, no relfilenodes, nothing to observe
            return
        dbapi = connection.connection.dbapi_connection
        if not self.server_version:
            self.server_version = _server_version(dbapi)
        memo = _memo_copy(context)
        record = Rehearsed(sc.revision, {})
        self.rehearsed.append(record)
        self.done.add(sc.revision)
        observer, error = self._observed(context, sc, body, record)
        deleted: bool | None = None
        if error is None and _deletes_with_last_reading(observer):
            deleted = _read_and_delete(observer)
            if deleted is None:  # refused: the last reading went with the transaction
                _restart(context)
                _restore(context, memo)
                observer, error = self._observed(context, sc, body, record)
        if deleted is None:
            observer.flush()
        record.statements = observer.statements
        if observer.empty:
            empty = ", ".join(
                f"{observer.tables[oid].label} ({why})"
                for oid, why in sorted(observer.empty.items())
            )
            record.notes.append(f"rehearsal of {sc.revision}: left empty: {empty}")
        if observer.broken is not None:
            record.notes.append(
                f"rehearsal of {sc.revision} not conclusive, its observations are dropped: "
                f"{observe.first_line(observer.broken)}"
            )
            record.statements = []
        if error is not None:
            self._after_failure(context, sc, body, record, observer, memo, error)
        elif observer.broken is not None or not (
            deleted if deleted is not None else _deleted_rows(observer)
        ):
            if observer.committed:
                record.notes.append(
                    f"rehearsal of {sc.revision}: the revision committed part of its work, and "
                    "the generated rows could not be removed exactly: they were left"
                )
            else:
                _run_again(context, body, memo)

    def _observed(
        self, context: MigrationContext, sc: Script, body: Callable[[], None], record: Rehearsed
    ) -> tuple[observe.Observer, Exception | None]:
        """``body`` run once under a new observer; the error it raised, if any."""
        connection = context.connection
        assert connection is not None
        observer = observe.Observer(connection, sc.path, context.version_table, self.session)
        record.tables = observer.tables
        with observer:
            try:
                body()
            except MigguardError:
                raise
            except Exception as exc:
                signals.reraise_if_received()  # Ctrl-C cancelled the statement: stop here
                if connection.invalidated:  # the server is gone: the runner says so
                    raise
                return observer, exc
        return observer, None

    def _after_failure(
        self,
        context: MigrationContext,
        sc: Script,
        body: Callable[[], None],
        record: Rehearsed,
        observer: observe.Observer,
        memo: dict[Any, Any],
        error: Exception,
    ) -> None:
        if observer.committed:  # nothing to go back to: the runner reports the failure
            record.notes.append(
                f"rehearsal of {sc.revision}: the upgrade failed with rows in the tables after "
                "part of it had committed, so it could not be tried again without them"
            )
            record.statements = []
            raise error
        try:
            _run_again(context, body, memo)
        except BaseException:  # it fails without rows too: upgrade-fails says it, alone
            record.statements = []
            raise
        failed = next((s for s in reversed(record.statements) if s.error), None)
        if failed is not None and _collided(failed):
            record.notes.append(
                f"rehearsal of {sc.revision}: rows it inserts collided with the generated "
                f"ones ({failed.error}); not reported, production data may hold other keys"
            )
        elif observer.broken is None:
            record.failure = Failure(
                error=failed.error if failed and failed.error else observe.first_line(error),
                line=(failed.line if failed else None) or observe.line_in(error, sc.path),
                sql=failed.sql if failed else None,
            )


_INSERT = re.compile(r"^\s*(INSERT|COPY)\b", re.IGNORECASE)
_KEY_CONFLICTS = ("UniqueViolation", "ExclusionViolation", "duplicate key", "conflicting key")


def _collided(statement: observe.Statement) -> bool:
    """The revision's own INSERT met one of the generated rows' keys: that proves nothing
    about the production data, whose keys are not ours."""
    error = statement.error or ""
    return bool(_INSERT.match(statement.sql)) and any(k in error for k in _KEY_CONFLICTS)


def _run_again(context: MigrationContext, body: Callable[[], None], memo: dict[Any, Any]) -> None:
    """Roll back everything the rehearsal did and run the upgrade plainly."""
    _restart(context)
    _restore(context, memo)
    body()


def _restore(context: MigrationContext, memo: dict[Any, Any]) -> None:
    context.impl.memo.clear()
    context.impl.memo.update(memo)


def _filled(observer: observe.Observer) -> list[int]:
    """The tables the fill wrote rows into."""
    return [oid for oid, inserted in observer.filled_counts.items() if inserted]


def _children_first(observer: observe.Observer) -> list[int]:
    """The tables the fill wrote rows into, children before parents (the reverse of the
    fill): the order to delete the rows in. A table the fill wrote no row into is not
    deleted from: whatever it holds is the revision's."""
    filled = set(_filled(observer))
    return [oid for oid in reversed(observer.fill_order) if oid in filled]


def _deletes_with_last_reading(observer: observe.Observer) -> bool:
    """Whether the last statement's reading and the deletes of :func:`_deleted_rows` can go
    in one round trip (:func:`_read_and_delete`): psycopg2 takes several statements in one
    call, and nothing committed (then the counters the deletes are decided on restarted)."""
    return (
        observer.batched and observer.unread and not observer.committed and bool(_filled(observer))
    )


def _read_and_delete(observer: observe.Observer) -> bool | None:
    """:func:`_deleted_rows` and the last statement's reading in one round trip: the reading
    first (into a transaction-local setting, before the deletes add their own scans), then
    the deletes, decided on the server on the same counters. True when the rows are gone,
    False when the revision inserted rows into those tables, None when PostgreSQL refused a
    delete: that aborted the transaction and the reading with it."""
    oids, held = list(observer.tables), probe.exclusive(observer.last)
    reading = observer.batch_sql(
        probe.kept_sql(oids, held), probe.KEPT, probe.arguments(oids, held)
    )
    cursor = observer.dbapi.cursor()
    try:
        try:
            with observer.batch(probe.KEPT):
                cursor.execute(
                    f"SELECT set_config('{_DELETED}', 'no', true);\n{reading};\n"
                    f"{_deletes(observer)};\n"
                    f"SELECT current_setting('{probe.KEPT_SETTING}'), current_setting('{_DELETED}')"
                )
        except Exception:
            signals.reraise_if_received()  # Ctrl-C cancelled it: stop here
            return None
        text, deleted = cursor.fetchone()
    finally:
        cursor.close()
    observer.take(probe.parse(text))
    return bool(deleted == "yes")


# A statement after which a filled table may no longer be found under the name it was filled
# under, or at all (DROP COLUMN, INDEX or CONSTRAINT do not drop tables without CASCADE).
_MAY_RENAME = re.compile(
    r"\bRENAME\b|\bSCHEMA\b|\bCASCADE\b|\bDROP\s+(?:TABLE|OWNED)\b", re.IGNORECASE
)


def _deletes(observer: observe.Observer) -> str:
    """The deletes of :func:`_read_and_delete` from the tables the fill wrote rows into,
    children before parents (the reverse of the fill), when the rows the fill counted are
    all those tables got: plain DELETEs by name, or,
    once the revision may have renamed or dropped one, a DO block that finds each by oid
    (compiled anew at each call, it cost as much as the reading)."""
    counts = observer.filled_counts
    filled = _filled(observer)
    order = _children_first(observer)
    if not any(_MAY_RENAME.search(statement.sql) for statement in observer.statements):
        exact = " AND ".join(
            f"pg_stat_get_xact_tuples_inserted({int(oid)}) = {int(counts[oid])}" for oid in filled
        )
        return f"SELECT set_config('{_DELETED}', 'yes', true) WHERE {exact};\n" + ";\n".join(
            f"DELETE FROM {observer.tables[oid].qualified}"
            f" WHERE current_setting('{_DELETED}') = 'yes'"
            for oid in order
        )
    exists = "EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid = {oid})"
    exact = " AND ".join(
        f"(NOT {exists.format(oid=int(oid))}"
        f" OR pg_stat_get_xact_tuples_inserted({int(oid)}) = {int(counts[oid])})"
        for oid in filled
    )
    deletes = " ".join(
        f"IF {exists.format(oid=int(oid))} THEN EXECUTE 'DELETE FROM ' || {int(oid)}::regclass;"
        " END IF;"
        for oid in order
    )
    return (
        f"DO $migguard$ BEGIN IF {exact} THEN {deletes}"
        f" PERFORM set_config('{_DELETED}', 'yes', true); END IF; END $migguard$"
    )


_DELETED = "migguard.rehearsal_deleted"


def _deleted_rows(observer: observe.Observer) -> bool:
    """Delete the generated rows when that is exact: the revision inserted none into those
    tables. False when they are still there (and, outside a commit, the transaction is then
    unusable: the caller rolls it back)."""
    last = observer.last.tables if observer.last is not None else {}
    counts = observer.filled_counts
    filled = _filled(observer)
    if not filled:
        return True
    if observer.committed:  # the counters restarted with the commit: only what was seen counts
        inserted = any(c.inserted for s in observer.statements for c in s.changes)
    else:
        inserted = any(oid in last and last[oid].inserted != counts[oid] for oid in filled)
    if inserted:
        return False
    # by oid: the revision may rename
    order = _children_first(observer)
    deletes = " ".join(
        f"EXECUTE 'DELETE FROM ' || {int(oid)}::regclass;" for oid in order if oid in last
    )
    cursor = observer.dbapi.cursor()
    try:
        if observer.committed:
            cursor.execute("SAVEPOINT migguard_rehearsal")
        try:
            cursor.execute(f"DO $migguard$ BEGIN {deletes} END $migguard$")
        except Exception:
            if observer.committed:
                cursor.execute("ROLLBACK TO SAVEPOINT migguard_rehearsal")
            return False
        if observer.committed:
            cursor.execute("RELEASE SAVEPOINT migguard_rehearsal")
        return True
    finally:
        cursor.close()


def _restart(context: MigrationContext) -> None:
    """Roll the step's transaction back and begin another, as the runner's step does."""
    connection = context.connection
    assert connection is not None
    if context._transaction is not None and context._transaction.is_active:
        context._transaction.rollback()
    elif connection.in_transaction():
        connection.rollback()
    context._transaction = connection.begin()


def _memo_copy(context: MigrationContext) -> dict[Any, Any]:
    """SQLAlchemy's record of the types it created (a set mutated in place): what a second
    run of the upgrade must start from."""
    return {k: set(v) if isinstance(v, set) else v for k, v in context.impl.memo.items()}


def _server_version(dbapi: Any) -> str:
    cursor = dbapi.cursor()
    try:
        cursor.execute("SELECT current_setting('server_version')")
        return str(cursor.fetchone()[0]).split()[0]
    finally:
        cursor.close()
