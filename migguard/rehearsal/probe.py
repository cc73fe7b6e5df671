"""One reading of what this backend holds and did on the tables that existed before a revision,
and what changed between two readings.

Each signal is read from the server, never inferred from the SQL text:

- locks: ``pg_locks`` of this backend. Relation locks are held to the end of the transaction,
  so the locks a statement took are the difference between the readings around it;
- rewrite: ``pg_class.relfilenode`` changes when PostgreSQL writes the table anew;
- scan: the transaction's own statistics (``pg_stat_get_xact_numscans`` and friends, the
  functions behind ``pg_stat_xact_user_tables``) grow when a statement reads the whole table;
- constraints, not-null columns and indexes from the catalog, to say *what* scanned or locked.

A reading is one query through a DBAPI cursor of the revision's own connection, in its
transaction (or, inside ``autocommit_block()``, right after the statement committed, when
its locks and transaction statistics are gone but the catalog still tells what it did).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from migguard.rehearsal import prepared

# The modes that block writes, weakest first; only ACCESS EXCLUSIVE also blocks reads.
WRITE_BLOCKING = (
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)
_ALL_MODES = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    *WRITE_BLOCKING,
)
MODE_NAMES = {
    "AccessShareLock": "ACCESS SHARE",
    "RowShareLock": "ROW SHARE",
    "RowExclusiveLock": "ROW EXCLUSIVE",
    "ShareUpdateExclusiveLock": "SHARE UPDATE EXCLUSIVE",
    "ShareLock": "SHARE",
    "ShareRowExclusiveLock": "SHARE ROW EXCLUSIVE",
    "ExclusiveLock": "EXCLUSIVE",
    "AccessExclusiveLock": "ACCESS EXCLUSIVE",
}

# Where the session's lock_timeout comes from (session, database, default...).
_SOURCE_SQL = "SELECT source FROM pg_settings WHERE name = 'lock_timeout'"

_SQL = """
WITH locks AS MATERIALIZED (
  SELECT l.relation, l.mode FROM pg_locks l
  WHERE l.locktype = 'relation' AND l.pid = pg_backend_pid() AND l.granted
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
)
SELECT json_build_object(
  'lock_timeout', current_setting('lock_timeout'),
  'lock_timeout_source', CASE WHEN current_setting('lock_timeout') <> '0' AND EXISTS (
     SELECT 1 FROM locks l WHERE l.mode = 'AccessExclusiveLock' AND l.relation = ANY({oids})
       AND l.relation <> ALL({exclusive}))
     THEN ({source}) END,
  'xid', txid_current_if_assigned(),
  'tables', (SELECT json_agg(json_build_array(
     c.oid, c.relfilenode,
     pg_stat_get_xact_numscans(c.oid), pg_stat_get_xact_tuples_returned(c.oid),
     pg_stat_get_xact_tuples_inserted(c.oid),
     (SELECT json_agg(DISTINCT l.mode) FROM locks l WHERE l.relation = c.oid),
     (SELECT json_agg(json_build_array(i.indexrelid, ic.relname))
      FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = c.oid),
     (SELECT json_agg(json_build_array(k.oid, k.contype, k.convalidated, k.conname))
      FROM pg_constraint k WHERE k.conrelid = c.oid),
     (SELECT json_agg(json_build_array(a.attnum, a.attnotnull, a.attname))
      FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
   )) FROM unnest({oids}) AS q(oid)
   CROSS JOIN LATERAL (SELECT * FROM pg_class c WHERE c.oid = q.oid OFFSET 0) c)
)::text
""".replace("{source}", _SOURCE_SQL)


@dataclass(frozen=True)
class Constraint:
    oid: int
    type: str  # pg_constraint.contype: c check, f foreign key, u unique, p primary key, n not null
    validated: bool
    name: str


@dataclass
class TableState:
    oid: int
    relfilenode: int
    scans: int
    rows_read: int
    inserted: int
    locks: frozenset[str]
    indexes: dict[int, str]  # oid -> name
    constraints: dict[int, Constraint]
    columns: dict[int, tuple[bool, str]]  # attnum -> (not null, name)


@dataclass
class Reading:
    """One probe: the session's lock_timeout and the state of every observed table.

    Where the lock_timeout comes from (``lock_timeout_source``) is read only when this
    backend holds ACCESS EXCLUSIVE on an observed table that did not hold it at the reading
    before (``exclusive`` of :func:`arguments`), the one case a finding asks for it (a
    statement that took that lock is seen taking it in the same reading): ``pg_settings``
    builds every setting of the server to return one, which cost three quarters of a
    reading, at every reading after the revision's first ALTER TABLE. :func:`read` reads it
    always, for a reading taken on its own."""

    lock_timeout: str
    xid: int | None
    tables: dict[int, TableState] = field(default_factory=dict)
    lock_timeout_source: str | None = None

    def project_lock_timeout(self) -> str:
        """The lock_timeout the migration runs with in production: migguard's own safety
        limit is a database setting of the throwaway database, so a value from that source
        is not the project's (which then has none: 0). Needs ``lock_timeout_source`` unless
        the value is 0."""
        if self.lock_timeout == "0":
            return "0"
        assert self.lock_timeout_source is not None, "read_source() first"
        return "0" if self.lock_timeout_source == "database" else self.lock_timeout


def read_source(cursor: Any, reading: Reading) -> None:
    """Fill in where ``reading``'s lock_timeout comes from, through ``cursor`` (a DBAPI
    cursor of the same session, before its next statement can change the setting)."""
    cursor.execute(_SOURCE_SQL)
    reading.lock_timeout_source = str(cursor.fetchone()[0])


def sql(oids: list[int], exclusive: Iterable[int] = ()) -> str:
    """The reading as one SELECT of one text value (JSON), for :func:`parse`."""
    listed, held = arguments(oids, exclusive)
    return _SQL.replace("{oids}", listed).replace("{exclusive}", held)


def read(cursor: Any, oids: list[int]) -> Reading:
    """One whole reading, its lock_timeout's source included."""
    cursor.execute(sql(oids))
    reading = parse(cursor.fetchone()[0])
    read_source(cursor, reading)
    return reading


# The reading as a statement prepared once per session (:mod:`.prepared`): a revision reads
# after each of its statements, and planning the reading cost about as much as running it.
PREPARED = "migguard_rehearsal_probe"
STATEMENT = prepared.Statement(
    PREPARED,
    _SQL.replace("{oids}", prepared.parameter(1, "oid")).replace(
        "{exclusive}", prepared.parameter(2, "oid")
    ),
)


# The reading kept in a transaction-local setting instead of returned, for a round trip
# whose last statement returns something else (the step's read-and-delete at the end of an
# upgrade).
KEPT_SETTING = "migguard.rehearsal_reading"


def _kept(reading: str) -> str:
    """``reading`` (the plain or the prepared body) kept in :data:`KEPT_SETTING`."""
    return f"SELECT set_config('{KEPT_SETTING}', ({reading.strip()}), true)"


KEPT = prepared.Statement("migguard_rehearsal_probe_kept", _kept(STATEMENT.body))


def kept_sql(oids: list[int], exclusive: Iterable[int] = ()) -> str:
    """:data:`KEPT` as plain SQL."""
    return _kept(sql(oids, exclusive))


def arguments(oids: list[int], exclusive: Iterable[int] = ()) -> list[str]:
    """:data:`STATEMENT`'s arguments for a reading of ``oids``; ``exclusive``: the tables
    that held ACCESS EXCLUSIVE at the reading before (:func:`exclusive`)."""
    return [
        prepared.array((str(int(o)) for o in oids), "oid"),
        prepared.array((str(int(o)) for o in exclusive), "oid"),
    ]


def exclusive(reading: Reading | None) -> list[int]:
    """The tables ``reading`` saw this backend hold ACCESS EXCLUSIVE on."""
    if reading is None:
        return []
    return [oid for oid, state in reading.tables.items() if "AccessExclusiveLock" in state.locks]


def parse(text: str) -> Reading:
    document = json.loads(text)
    reading = Reading(
        lock_timeout=document["lock_timeout"],
        lock_timeout_source=document["lock_timeout_source"],
        xid=document["xid"],
    )
    for row in document["tables"] or ():
        oid, relfilenode, scans, rows_read, inserted, locks, indexes, constraints, columns = row
        reading.tables[int(oid)] = TableState(
            oid=int(oid),
            relfilenode=int(relfilenode),
            scans=int(scans or 0),
            rows_read=int(rows_read or 0),
            inserted=int(inserted or 0),
            locks=frozenset(locks or ()),
            indexes={int(i[0]): i[1] for i in indexes or ()},
            constraints={
                int(k[0]): Constraint(int(k[0]), k[1], bool(k[2]), k[3]) for k in constraints or ()
            },
            columns={int(a[0]): (bool(a[1]), a[2]) for a in columns or ()},
        )
    return reading


@dataclass
class Change:
    """What one statement did to one table that existed before the revision."""

    oid: int
    held: frozenset[str]  # every lock this backend holds on it after the statement
    taken: frozenset[str]  # the locks the statement added
    rewritten: bool
    scans: int
    rows_read: int
    inserted: int
    new_indexes: tuple[str, ...]  # names of indexes that did not exist before
    # constraints that now hold for every row: added valid, or validated
    checked_constraints: tuple[Constraint, ...]
    not_null_columns: tuple[str, ...]  # existing columns that became NOT NULL

    @property
    def strongest(self) -> str | None:
        """The strongest lock held, by PostgreSQL's conflict order."""
        held = [m for m in _ALL_MODES if m in self.held]
        return held[-1] if held else None

    @property
    def validated_something(self) -> bool:
        return bool(self.checked_constraints or self.not_null_columns)


def changes(before: Reading, after: Reading) -> list[Change]:
    """Per table present in both readings, what changed; tables gone are left out (a table
    the revision drops has no readers left to block)."""
    found: list[Change] = []
    for oid, old in before.tables.items():
        new = after.tables.get(oid)
        if new is None:
            continue
        # a constraint rebuilt under the same name (a type change re-creates the indexes and
        # constraints on the column) verified nothing new: the rewrite is the news there
        held_before = {(k.type, k.name) for k in old.constraints.values() if k.validated}
        checked = tuple(
            k
            for k in new.constraints.values()
            if k.validated and k.type != "n" and (k.type, k.name) not in held_before
        )
        not_null = tuple(
            name
            for num, (is_not_null, name) in new.columns.items()
            if is_not_null and num in old.columns and not old.columns[num][0]
        )
        found.append(
            Change(
                oid=oid,
                held=new.locks,
                taken=new.locks - old.locks,
                rewritten=new.relfilenode != old.relfilenode,
                scans=max(new.scans - old.scans, 0),
                rows_read=max(new.rows_read - old.rows_read, 0),
                inserted=max(new.inserted - old.inserted, 0),
                # an index rebuilt under its name (by a type change) is not a new one
                new_indexes=tuple(
                    name for name in new.indexes.values() if name not in old.indexes.values()
                ),
                checked_constraints=checked,
                not_null_columns=not_null,
            )
        )
    return found


def blocks(mode: str | None) -> str:
    """In words, what ``mode`` blocks for other sessions."""
    if mode == "AccessExclusiveLock":
        return "blocks reads and writes"
    if mode in WRITE_BLOCKING:
        return "blocks writes"
    return "blocks neither reads nor writes"
