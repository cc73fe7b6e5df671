"""Incremental snapshots for the runner: after the first, re-read only what DDL touched.

The runner snapshots the database three times per revision. A full catalog read costs time in
proportion to the schema, so on a long history most of a run went into deparsing, again and
again, tables that no revision had touched since the last snapshot (and the whole run grew with
the square of the history). A :class:`Tracker` reads everything once, then keeps the records
per object and re-reads only the objects that DDL has touched since its previous snapshot (and
the partitions and children of touched tables). When one of them was renamed, or may have been
(a column gone that was not dropped, a view, type or function changed), a second statement
re-reads whatever names it: the foreign keys pointing at a renamed table, the sequences it
owns, the views over it, the triggers calling a renamed function. The result is the same
:class:`Snapshot` that :func:`migguard.schema.snapshot` returns, record for record;
``tests/test_schema_tracking.py`` checks that on every kind of DDL, rollback and rename.

How it knows what DDL touched: on its first snapshot the tracker installs, in its own session
only, an event trigger (``ddl_command_end`` and ``sql_drop``, ``ENABLE ALWAYS`` so even
``session_replication_role = replica`` fires it) whose function lives in ``pg_temp`` and is
gone with the session. The function appends each touched or dropped object to the
session-level setting ``migguard.ddl_log``. Settings are transactional, like the catalog: when
a step rolls back, the entries and the DDL they describe disappear together. Each snapshot
checks that the log still starts with the epoch the previous snapshot wrote (a rollback or a
``RESET`` would have changed it) and starts a new epoch, in one prepared statement and one
round trip. Whenever it cannot vouch for the log it reads everything again (another prepared
statement; four times in the 300-revision benchmark run, 898 snapshots being deltas):

- the log lost its epoch (rolled back past a snapshot), or the triggers are gone;
- search_path or a setting that changes how values are printed differs, or more than one user
  schema is on the search path (a new object could then change how another one's name reads);
- DDL on a kind of object the per-object bookkeeping does not model (schemas, extensions,
  collations, operators...), or on a temporary object of the session;
- a transaction id was handed out since the previous snapshot that no logged DDL accounts
  for and that did not roll back: another session's transaction (only this session's DDL is
  logged), or one of ours that wrote without DDL; likewise when other transactions were
  running during the previous snapshot, since they may have committed DDL since.
  Transactions this process runs in another database (:func:`transaction_elsewhere`) do not
  count.

Only with psycopg2 (migguard's own driver, whose simple-query protocol lets the first call
install, prepare and run in one round trip) and as a superuser (event triggers need one);
anything else gets full snapshots, exactly as before.
"""

from __future__ import annotations

import dataclasses
import json
import weakref
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter
from typing import Any, Protocol, cast

from sqlalchemy.engine import Connection

from migguard.schema import postgres
from migguard.schema.capture import snapshot as full_snapshot
from migguard.schema.model import Snapshot, normalise_schema, qualify

_DELTA = "migguard_snapshot_delta"
_FULL = "migguard_snapshot_full"
_CLOSURE = "migguard_snapshot_closure"
_SETTING = "migguard.ddl_log"

# How deparsed text can read differently without any DDL: the search path and value output.
_ENV = """concat_ws(' ', current_setting('search_path'),
    array_to_string(pg_catalog.current_schemas(true), ','),
    current_setting('DateStyle'), current_setting('IntervalStyle'),
    current_setting('TimeZone'), current_setting('extra_float_digits'),
    current_setting('bytea_output'), current_setting('standard_conforming_strings'),
    current_setting('lc_monetary'), current_setting('lc_numeric'),
    current_setting('quote_all_identifiers'))"""

_LOG_FUNCTION = f"""CREATE OR REPLACE FUNCTION pg_temp.migguard_log_ddl()
RETURNS event_trigger LANGUAGE plpgsql AS $body$
DECLARE
  log text := current_setting('{_SETTING}', true);
  entry text := '';
  r record;
BEGIN
  IF log IS NULL OR log = '' THEN
    RETURN;  -- another session: the tracker sees its transaction id instead
  END IF;
  IF TG_EVENT = 'sql_drop' THEN
    FOR r IN SELECT * FROM pg_event_trigger_dropped_objects() LOOP
      entry := entry || json_build_array('d', r.classid, r.objid, r.objsubid, r.object_type,
                                         r.address_names, txid_current())::text || chr(10);
    END LOOP;
  ELSE
    FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
      entry := entry || json_build_array('c', r.classid, r.objid, r.objsubid, r.object_type,
                                         r.command_tag, txid_current())::text || chr(10);
    END LOOP;
  END IF;
  PERFORM set_config('{_SETTING}', log || entry, false);
END
$body$"""

_INSTALL = f"""DO $migguard$
DECLARE
  suffix text := pg_backend_pid()::text;
BEGIN
  IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger
                     WHERE evtname = 'migguard_end_' || suffix) THEN
    EXECUTE $create${_LOG_FUNCTION}$create$;
    EXECUTE 'CREATE EVENT TRIGGER ' || quote_ident('migguard_end_' || suffix)
      || ' ON ddl_command_end EXECUTE PROCEDURE pg_temp.migguard_log_ddl()';
    EXECUTE 'CREATE EVENT TRIGGER ' || quote_ident('migguard_drop_' || suffix)
      || ' ON sql_drop EXECUTE PROCEDURE pg_temp.migguard_log_ddl()';
    EXECUTE 'ALTER EVENT TRIGGER ' || quote_ident('migguard_end_' || suffix) || ' ENABLE ALWAYS';
    EXECUTE 'ALTER EVENT TRIGGER ' || quote_ident('migguard_drop_' || suffix) || ' ENABLE ALWAYS';
  END IF;
END
$migguard$"""

# Catalogs whose DDL maps onto the objects a snapshot keeps (tracked), and catalogs whose
# objects a snapshot does not show at all (ignored). DDL on anything else: read everything.
_TRACKED_CLASSES = (
    "pg_class",
    "pg_type",
    "pg_proc",
    "pg_constraint",
    "pg_trigger",
    "pg_rewrite",
    "pg_attrdef",
)
_IGNORED_CLASSES = (
    "pg_statistic_ext",
    "pg_policy",
    "pg_default_acl",
    "pg_publication",
    "pg_publication_rel",
    "pg_event_trigger",
    "pg_largeobject_metadata",
)
_RELATION_DROPS = ("table", "partitioned table", "view", "materialized view", "sequence")
_FUNCTION_DROPS = ("function", "procedure", "aggregate")
_INDEX_DROPS = ("index", "partitioned index")
_SUBOBJECT_DROPS = ("table constraint", "trigger", "default value", "rule")
_IGNORED_DROPS = (
    "type",  # row and array types; a listed type's key is dropped from the cache by Python
    "toast table",
    "composite type",
    "foreign table",
    "policy",
    "statistics object",
    "publication relation",
)


def _classes(names: Iterable[str]) -> str:
    return ", ".join(f"'pg_catalog.{name}'::regclass" for name in names)


def _strings(values: Iterable[str]) -> str:
    return ", ".join("'" + value + "'" for value in values)


def _owners(source: str) -> str:
    """(kind, key) of the snapshot object each ``(classid, objid)`` of ``source`` belongs to:
    ``r`` a relation, ``t`` a type, ``f`` a function."""
    return f"""
    SELECT 'r' AS kind, c.oid AS key FROM {source} s JOIN pg_catalog.pg_class c ON c.oid = s.objid
    WHERE s.classid = 'pg_catalog.pg_class'::regclass AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
    UNION ALL
    SELECT 'r', i.indrelid FROM {source} s JOIN pg_catalog.pg_index i ON i.indexrelid = s.objid
    WHERE s.classid = 'pg_catalog.pg_class'::regclass
    UNION ALL
    SELECT 't', c.reltype FROM {source} s JOIN pg_catalog.pg_class c ON c.oid = s.objid
    WHERE s.classid = 'pg_catalog.pg_class'::regclass AND c.relkind = 'c'
    UNION ALL
    SELECT 't', s.objid FROM {source} s WHERE s.classid = 'pg_catalog.pg_type'::regclass
    UNION ALL
    SELECT 'f', s.objid FROM {source} s WHERE s.classid = 'pg_catalog.pg_proc'::regclass
    UNION ALL
    SELECT CASE WHEN k.conrelid <> 0 THEN 'r' ELSE 't' END,
           CASE WHEN k.conrelid <> 0 THEN k.conrelid ELSE k.contypid END
    FROM {source} s JOIN pg_catalog.pg_constraint k ON k.oid = s.objid
    WHERE s.classid = 'pg_catalog.pg_constraint'::regclass
    UNION ALL
    SELECT 'r', g.tgrelid FROM {source} s JOIN pg_catalog.pg_trigger g ON g.oid = s.objid
    WHERE s.classid = 'pg_catalog.pg_trigger'::regclass
    UNION ALL
    SELECT 'r', w.ev_class FROM {source} s JOIN pg_catalog.pg_rewrite w ON w.oid = s.objid
    WHERE s.classid = 'pg_catalog.pg_rewrite'::regclass
    UNION ALL
    SELECT 'r', d.adrelid FROM {source} s JOIN pg_catalog.pg_attrdef d ON d.oid = s.objid
    WHERE s.classid = 'pg_catalog.pg_attrdef'::regclass"""


# Transaction ids: the snapshot's xmax is one past the last *completed* one, so ours (if
# assigned) and any between xmax and ours belong to transactions still running; the next
# snapshot must account for every id from ``next_xid`` on.
def _log(elsewhere: str) -> str:
    """Common table expressions ``xid`` and ``log``. Transaction ids: the snapshot's xmax is
    one past the last *completed* one, so ours (if assigned) and any between xmax and ours
    belong to transactions still running; the next snapshot must account for every id from
    ``next_xid`` on. ``elsewhere`` (a bigint[] parameter) lists transactions known to run in
    another database, which cannot change this one's catalog."""
    return f"""xid AS MATERIALIZED (
    SELECT s AS snap, txid_snapshot_xmax(s) AS xmax, txid_current_if_assigned() AS ours
    FROM txid_current_snapshot() s
), log AS MATERIALIZED (
    SELECT current_setting('{_SETTING}', true) AS v, {_ENV} AS env,
           greatest(x.xmax, x.ours + 1) AS next_xid,
           (SELECT count(*) FROM (
                SELECT r FROM txid_snapshot_xip(x.snap) r
                UNION
                SELECT r FROM generate_series(
                    x.xmax, least(coalesce(x.ours, 0) - 1, x.xmax + 10000)) r) running
            WHERE r IS DISTINCT FROM x.ours AND r <> ALL ({elsewhere})) AS others_running
    FROM xid x
)"""


_HEADER = """'env', (SELECT env FROM log),
'next_xid', (SELECT next_xid FROM log),
'others_running', (SELECT others_running FROM log)"""


def _full_sql() -> str:
    """The full statement: everything, each row keyed by its object; $1 the epoch to start,
    $2 the transactions running elsewhere."""
    kinds = ",\n".join(
        f"'{kind}', ({query})" for kind, query in postgres.kinds_sql(keyed=True).items()
    )
    return f"""
WITH {postgres._CTES}, {_log("$2")}
SELECT json_build_object(
'everything', true,
{_HEADER},
'epoch', set_config('{_SETTING}', $1, false),
{kinds}
)::text
FROM log
"""


def _some_kinds() -> dict[str, str]:
    """Each kind's sub-select restricted to the objects in ``changed`` (through ``crel``)."""
    return postgres.kinds_sql(
        keyed=True,
        rel="crel",
        types="(SELECT t.* FROM changed k JOIN pg_catalog.pg_type t ON t.oid = k.key"
        " WHERE k.kind = 't') t",
        procs="(SELECT p.* FROM changed k JOIN pg_catalog.pg_proc p ON p.oid = k.key"
        " WHERE k.kind = 'f') p",
    )


def _crel() -> str:
    not_member = postgres._NOT_EXTENSION_MEMBER.format(catalog="pg_catalog.pg_class", oid="c.oid")
    return f"""crel AS MATERIALIZED (
    SELECT c.oid, c.relname, c.relkind, n.nspname
    FROM changed k
    JOIN pg_catalog.pg_class c ON c.oid = k.key
    JOIN ns n ON n.oid = c.relnamespace
    WHERE k.kind = 'r' AND c.relkind IN ('r', 'p', 'v', 'm', 'S') AND {not_member}
)"""


def _closure_sql() -> str:
    """The closure statement: the objects whose definitions name the given relations ($1),
    types ($2) or functions ($3) (foreign keys, views, owned sequences, defaults, triggers),
    re-read after one of those was renamed."""
    kinds = ",\n".join(f"'{kind}', ({query})" for kind, query in _some_kinds().items())
    return f"""
WITH {postgres._CTES}, refs AS MATERIALIZED (
    SELECT 'pg_catalog.pg_class'::regclass::oid AS refclassid, k AS refobjid
    FROM unnest($1::oid[]) k
    UNION ALL
    SELECT 'pg_catalog.pg_type'::regclass::oid, c.reltype
    FROM unnest($1::oid[]) k JOIN pg_catalog.pg_class c ON c.oid = k WHERE c.reltype <> 0
    UNION ALL
    SELECT 'pg_catalog.pg_type'::regclass::oid, k FROM unnest($2::oid[]) k
    UNION ALL
    SELECT 'pg_catalog.pg_proc'::regclass::oid, k FROM unnest($3::oid[]) k
), dependents AS MATERIALIZED (
    -- OFFSET 0 keeps the generic plan on pg_depend's index instead of a scan of all of it
    SELECT d.classid, d.objid FROM refs f, LATERAL (
        SELECT d.classid, d.objid FROM pg_catalog.pg_depend d
        WHERE d.refclassid = f.refclassid AND d.refobjid = f.refobjid OFFSET 0) d
), changed AS MATERIALIZED (
    SELECT DISTINCT kind, key FROM ({_owners("dependents")}) o WHERE key IS NOT NULL AND key <> 0
), {_crel()}
SELECT json_build_object(
'changed', (SELECT json_agg(json_build_array(kind, key)) FROM changed),
{kinds}
)::text
"""


def _delta_sql() -> str:
    """The delta statement: what DDL touched since the previous snapshot. $1 the epoch the
    log must start with, $2 the settings of the previous snapshot, $3 the epoch to start, $4 the
    next transaction id at the previous snapshot, $5 the transactions running elsewhere. When
    the log cannot be trusted the document
    says ``everything`` and the caller runs the full statement instead."""
    kinds = ",\n".join(
        f"'{kind}', CASE WHEN NOT decided.everything THEN ({query}) END"
        for kind, query in _some_kinds().items()
    )
    return f"""
WITH {postgres._CTES}, {_log("$5")}, flags AS MATERIALIZED (
    SELECT coalesce(left(l.v, length($1)) = $1, false)
       AND l.env = $2
       AND cardinality(pg_catalog.current_schemas(false)) <= 1
       AND (SELECT count(*) FROM pg_catalog.pg_event_trigger
            WHERE evtname IN ('migguard_end_' || pg_backend_pid(),
                              'migguard_drop_' || pg_backend_pid())
              AND evtenabled = 'A') = 2
       AND $4 IS NOT NULL AND l.next_xid - $4 BETWEEN 0 AND 10000 AS armed
    FROM log l
), entries AS MATERIALIZED (
    SELECT e.j ->> 0 AS what, (e.j ->> 1)::oid AS classid, (e.j ->> 2)::oid AS objid,
           (e.j ->> 3)::int AS objsubid, e.j ->> 4 AS object_type, e.j -> 5 AS extra,
           (e.j ->> 6)::bigint AS xid
    FROM log l, flags f,
         LATERAL (SELECT line::json AS j
                  FROM regexp_split_to_table(substr(l.v, length($1) + 1), chr(10)) line
                  WHERE line <> '') e
    WHERE f.armed
), decision AS MATERIALIZED (
    SELECT NOT f.armed OR EXISTS (
        -- a transaction since the last snapshot that logged no DDL here: another session's
        -- (its DDL is not in this log), or one of ours that wrote without DDL
        SELECT 1 FROM log l, generate_series($4, l.next_xid - 1) x
        WHERE x IS DISTINCT FROM txid_current_if_assigned() AND x <> ALL ($5)
          AND x NOT IN (SELECT e.xid FROM entries e)
          -- a rolled-back transaction (the runner's round trip) changed nothing
          AND txid_status(x) IS DISTINCT FROM 'aborted'
    ) OR EXISTS (
        SELECT 1 FROM entries e
        WHERE (e.what = 'c' AND e.classid NOT IN ({_classes(_TRACKED_CLASSES)},
                                                   {_classes(_IGNORED_CLASSES)}))
           OR (e.what = 'c' AND pg_catalog.pg_my_temp_schema() IN (
                SELECT c.relnamespace FROM pg_catalog.pg_class c
                WHERE e.classid = 'pg_catalog.pg_class'::regclass AND c.oid = e.objid
                UNION ALL
                SELECT t.typnamespace FROM pg_catalog.pg_type t
                WHERE e.classid = 'pg_catalog.pg_type'::regclass AND t.oid = e.objid
                OFFSET 0))
           OR (e.what = 'd' AND e.object_type NOT IN (
                {_strings(_RELATION_DROPS + _FUNCTION_DROPS + _INDEX_DROPS)},
                {_strings(_SUBOBJECT_DROPS + _IGNORED_DROPS)})
               AND right(e.object_type, 7) <> ' column')
    ) AS everything
    FROM flags f
), touched AS MATERIALIZED (
    SELECT classid, objid FROM entries WHERE what = 'c'
    UNION ALL
    SELECT classid, objid FROM entries
    WHERE what = 'd' AND classid = 'pg_catalog.pg_class'::regclass AND objsubid > 0
), changed0 AS MATERIALIZED (
    SELECT DISTINCT kind, key FROM (
        {_owners("touched")}
        UNION ALL
        SELECT 'r', to_regclass(quote_ident(e.extra ->> 0) || '.'
                                || quote_ident(e.extra ->> 1))::oid
        FROM entries e
        WHERE e.what = 'd' AND e.object_type IN ({_strings(_SUBOBJECT_DROPS)})
    ) o WHERE key IS NOT NULL AND key <> 0
), changed AS MATERIALIZED (
    -- and what inherits from them: ALTER TABLE on a parent changes its partitions too
    WITH RECURSIVE tree(kind, key) AS (
        SELECT kind, key FROM changed0
        UNION
        SELECT 'r', i.inhrelid FROM tree t JOIN pg_catalog.pg_inherits i ON i.inhparent = t.key
        WHERE t.kind = 'r'
    ) SELECT kind, key FROM tree
), {_crel()}
SELECT json_build_object(
'everything', decided.everything,
{_HEADER},
'changed', CASE WHEN NOT decided.everything THEN (
    SELECT json_agg(json_build_array(kind, key)) FROM changed) END,
'dropped', CASE WHEN NOT decided.everything THEN (
    SELECT json_agg(json_build_array(object_type, objid, extra))
    FROM entries WHERE what = 'd') END,
'epoch', set_config('{_SETTING}', $3, false),
{kinds}
)::text
FROM decision decided
"""


@dataclass
class _Part:
    """The records of one relation, type or function, and where they sort."""

    order: tuple[str, ...]
    snap: Snapshot
    _visible: dict[frozenset[str], Snapshot] = field(default_factory=dict)

    def visible(self, exclude_tables: frozenset[str]) -> Snapshot:
        """The records a snapshot keeps with ``exclude_tables`` left out, as
        :func:`migguard.schema.subset.without_tables` would leave them."""
        found = self._visible.get(exclude_tables)
        if found is None:
            found = self._visible[exclude_tables] = _without(self.snap, exclude_tables)
        return found


class _Named(Protocol):
    """The first record of a snapshot's family: a table, view, sequence, enum or type."""

    @property
    def schema(self) -> str | None: ...

    @property
    def name(self) -> str: ...


def _without(snap: Snapshot, exclude_tables: frozenset[str]) -> Snapshot:
    def keep(schema: str | None, name: str) -> bool:
        return name not in exclude_tables and qualify(schema, name) not in exclude_tables

    sequences = tuple(s for s in snap.sequences if s.owned_by is None or keep(*s.owned_by[:2]))
    head = cast("_Named | None", next(iter(snap.tables or snap.views or snap.sequences), None))
    if head is None or keep(head.schema, head.name):
        return dataclasses.replace(snap, sequences=sequences)
    return dataclasses.replace(
        snap, tables=(), constraints=(), indexes=(), triggers=(), sequences=sequences
    )


_FAMILY_KINDS = {
    "relations": ("tables", "constraints", "indexes", "sequences", "views", "triggers"),
    "types": ("enums", "types"),
    "functions": ("functions",),
}


@dataclass
class _State:
    """What one database session's tracker knows; lives as long as the DBAPI connection.

    Besides the parts, it keeps each kind's records joined in snapshot order, and joins again
    only the kinds a changed part has records of: most snapshots change one or two tables."""

    prepared: bool = False
    epoch: int = 0
    env: str = ""
    next_xid: int | None = None
    others_running: bool = False
    relations: dict[int, _Part] = field(default_factory=dict)
    types: dict[int, _Part] = field(default_factory=dict)
    functions: dict[int, _Part] = field(default_factory=dict)
    extensions: tuple[str, ...] = ()
    _keys: dict[str, list[int]] = field(default_factory=dict)
    _positions: dict[int, int] = field(default_factory=dict)  # relation key -> place in order
    _visible: dict[frozenset[str], list[Snapshot]] = field(default_factory=dict)
    _joined: dict[tuple[frozenset[str], str], tuple[Any, ...]] = field(default_factory=dict)
    _assembled: dict[frozenset[str], Snapshot] = field(default_factory=dict)

    def epoch_text(self) -> str:
        return f"migguard:{self.epoch}:"

    def next_epoch(self) -> str:
        self.epoch += 1
        return self.epoch_text()

    def put(self, family: str, key: int, part: _Part | None) -> None:
        """Set (or with None, remove) one object's part, forgetting what it invalidates."""
        parts: dict[int, _Part] = getattr(self, family)
        old = parts.pop(key, None)
        if part is not None:
            parts[key] = part
        if old is None and part is None:
            return
        if old is None or part is None or old.order != part.order:
            self._keys.pop(family, None)
            if family == "relations":
                self._visible.clear()
        elif family == "relations" and self._visible:
            # same place in the order: swap the one entry instead of rebuilding the lists
            position = self._positions[key]
            for exclude_tables, visible in self._visible.items():
                visible[position] = part.visible(exclude_tables)
        for kind in _FAMILY_KINDS[family]:
            if (old is not None and getattr(old.snap, kind)) or (
                part is not None and getattr(part.snap, kind)
            ):
                for cached in [k for k in self._joined if k[1] == kind]:
                    del self._joined[cached]
        self._assembled.clear()

    def copy(self) -> _State:
        """An independent copy: :meth:`put` mutates the dictionaries and the visible lists in
        place. Parts themselves are never changed, only replaced, so they are shared."""
        return dataclasses.replace(
            self,
            relations=dict(self.relations),
            types=dict(self.types),
            functions=dict(self.functions),
            _keys={family: list(keys) for family, keys in self._keys.items()},
            _positions=dict(self._positions),
            _visible={key: list(snaps) for key, snaps in self._visible.items()},
            _joined=dict(self._joined),
            _assembled=dict(self._assembled),
        )

    def clear(self) -> None:
        for family in _FAMILY_KINDS:
            getattr(self, family).clear()
        self._keys.clear()
        self._visible.clear()
        self._joined.clear()
        self._assembled.clear()

    def joined(self, family: str, kind: str, exclude_tables: frozenset[str]) -> tuple[Any, ...]:
        """All records of ``kind``, in the order a full snapshot sorts them into: by schema,
        then by the relation, type or function they belong to, each part sorted within."""
        found = self._joined.get((exclude_tables, kind))
        if found is None:
            found = tuple(
                chain.from_iterable(map(attrgetter(kind), self._snaps(family, exclude_tables)))
            )
            self._joined[(exclude_tables, kind)] = found
        return found

    def _snaps(self, family: str, exclude_tables: frozenset[str]) -> list[Snapshot]:
        parts: dict[int, _Part] = getattr(self, family)
        keys = self._keys.get(family)
        if keys is None:
            keys = self._keys[family] = sorted(parts, key=lambda key: parts[key].order)
            if family == "relations":
                self._positions = {key: position for position, key in enumerate(keys)}
        if family != "relations":
            return [parts[key].snap for key in keys]
        visible = self._visible.get(exclude_tables)
        if visible is None:
            visible = self._visible[exclude_tables] = [
                parts[key].visible(exclude_tables) for key in keys
            ]
        return visible


_STATES: weakref.WeakKeyDictionary[Any, _State] = weakref.WeakKeyDictionary()
_ELSEWHERE: set[int] = set()


def transaction_elsewhere(xid: int) -> None:
    """Note a transaction of this process that runs in another database of the same server
    (the engine's models database): its id is no sign that this database changed."""
    _ELSEWHERE.add(int(xid))


def _elsewhere() -> str:
    return "{" + ",".join(map(str, sorted(_ELSEWHERE))) + "}"


_FAMILIES = {"r": "relations", "t": "types", "f": "functions"}
_REL_KINDS = ("tables", "columns", "constraints", "indexes", "sequences", "views", "triggers")


class Tracker:
    """Snapshots of one connection's database, each after the first re-reading only what
    changed. Same arguments and results as :func:`migguard.schema.snapshot`."""

    def snapshot(
        self,
        connection: Connection,
        *,
        exclude_tables: frozenset[str] = frozenset({"alembic_version"}),
    ) -> Snapshot:
        if not _tracked(connection):
            return full_snapshot(connection, exclude_tables=exclude_tables)
        dbapi = _dbapi(connection)
        state = _STATES.get(dbapi)
        if state is None:
            state = _STATES[dbapi] = _State()
        document = _query(connection, state)
        renamed = _apply(state, document)
        if any(renamed.values()):  # what names them reads differently now: read it again
            arrays = tuple("{" + ",".join(map(str, renamed[k])) + "}" for k in "rtf")
            raw = _value(
                connection, f"EXECUTE {_CLOSURE} (%s::oid[], %s::oid[], %s::oid[])", arrays
            )
            _apply_rows(state, json.loads(raw))
        return _assemble(state, exclude_tables)

    def mark(self, connection: Connection) -> Mark | None:
        """What the tracker knows right after a snapshot, to :meth:`rewind` to once a
        transaction begun after it has rolled back; None where snapshots are full anyway."""
        if not _tracked(connection):
            return None
        state = _STATES.get(_dbapi(connection))
        if state is None or not state.prepared or state.next_xid is None:
            return None
        return Mark(state.copy())

    def rewind(self, connection: Connection, mark: Mark) -> None:
        """Forget the snapshots taken since ``mark``: their transaction rolled back, and with
        it their epochs in the log, so the log again starts with the mark's epoch. The
        rolled-back transaction ids are no reason to read everything (they are aborted); the
        next snapshot still checks the epoch, and reads everything if anything else
        happened."""
        _STATES[_dbapi(connection)] = mark.state.copy()


@dataclass(frozen=True)
class Mark:
    """A tracker's knowledge at one snapshot (:meth:`Tracker.mark`)."""

    state: _State

    @property
    def next_xid(self) -> int:
        """The first transaction id the snapshot did not account for."""
        assert self.state.next_xid is not None
        return self.state.next_xid


def _tracked(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg2"


def _dbapi(connection: Connection) -> Any:
    return connection.connection.dbapi_connection


def next_transaction_id(connection: Connection) -> int:
    """The id the server hands out next: what :func:`committed_since` counts from."""
    from sqlalchemy import text

    value = connection.execute(text("SELECT txid_snapshot_xmax(txid_current_snapshot())"))
    return int(value.scalar_one())


def committed_since(connection: Connection, xid: int) -> bool:
    """Whether any transaction from ``xid`` on committed (or may have: its status is not known
    to be aborted), apart from those in this process's other databases. After a rollback,
    False proves the database is as it was when ``xid`` was next: nothing but the rolled-back
    work happened since, and that left no trace. True when the work committed itself
    (``autocommit_block()``, ``COMMIT``) or another session wrote."""
    statement = (
        "SELECT EXISTS (SELECT 1 FROM generate_series(CAST({since} AS bigint),"
        " txid_snapshot_xmax(txid_current_snapshot()) - 1) x"
        " WHERE x <> ALL (CAST(CAST({elsewhere} AS text) AS bigint[]))"
        " AND txid_status(x) IS DISTINCT FROM 'aborted')"
    )
    if connection.dialect.driver == "psycopg2":  # once per revision: no SQLAlchemy around it
        raw = statement.format(since="%s", elsewhere="%s")
        return bool(_value(connection, raw, (xid, _elsewhere())))
    from sqlalchemy import text

    bound = text(statement.format(since=":since", elsewhere=":elsewhere"))
    return bool(connection.execute(bound, {"since": xid, "elsewhere": _elsewhere()}).scalar_one())


def _query(connection: Connection, state: _State) -> dict[str, Any]:
    """One round trip (two when the delta says it cannot be trusted, which is rare)."""
    if not state.prepared:
        epoch = state.next_epoch()
        statement = (
            f"{_INSTALL};\n"
            f"PREPARE {_DELTA} (text, text, text, bigint, bigint[]) AS {_delta_sql()};\n"
            f"PREPARE {_FULL} (text, bigint[]) AS {_full_sql()};\n"
            f"PREPARE {_CLOSURE} (oid[], oid[], oid[]) AS {_closure_sql()};\n"
            f"EXECUTE {_FULL} ('{epoch}', '{_elsewhere()}')"
        )
        raw = _value(connection, statement)
        state.prepared = True
        return dict(json.loads(raw))
    if not state.others_running:
        expected = state.epoch_text()
        raw = _value(
            connection,
            f"EXECUTE {_DELTA} (%s, %s, %s, %s, %s::bigint[])",
            (expected, state.env, state.next_epoch(), state.next_xid, _elsewhere()),
        )
        document: dict[str, Any] = json.loads(raw)
        if not document["everything"]:
            return document
    raw = _value(
        connection, f"EXECUTE {_FULL} (%s, %s::bigint[])", (state.next_epoch(), _elsewhere())
    )
    return dict(json.loads(raw))


def _value(connection: Connection, statement: str, params: tuple[Any, ...] | None = None) -> Any:
    """The statement's one value, through psycopg2 itself. Between steps the connection is in
    no transaction, and a snapshot needs none: run in autocommit there, where SQLAlchemy would
    open one (a BEGIN round trip now and a COMMIT one at the next step) around a read."""
    import psycopg2.extensions

    dbapi: Any = connection.connection.dbapi_connection  # psycopg2's, whose cursor is a context
    idle = (
        not connection.in_transaction()
        and dbapi.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    )
    if idle:
        dbapi.autocommit = True
    try:
        with dbapi.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchone()[0]
    finally:
        if idle:
            dbapi.autocommit = False


def _apply(state: _State, document: dict[str, Any]) -> dict[str, list[int]]:
    """Bring the per-object records up to date with one query's document; return the
    objects that were renamed (or may have been), by family: what refers to them by name
    (a foreign key, a view, a sequence's owner, a trigger) must be read again."""
    renamed: dict[str, list[int]] = {"r": [], "t": [], "f": []}
    state.env = document["env"]
    state.next_xid = document["next_xid"]
    state.others_running = bool(document["others_running"])
    extensions = tuple(sorted(document["extensions"] or ()))
    if not (
        document["everything"]
        or document["changed"]
        or document["dropped"]
        or extensions != state.extensions
    ):
        return renamed  # nothing touched: the last snapshot still holds
    if extensions != state.extensions:
        state.extensions = extensions
        state._assembled.clear()
    if document["everything"]:
        state.clear()
        _apply_rows(state, document)
        return renamed
    dropped_columns: dict[int, set[str]] = defaultdict(set)
    for object_type, oid, names in document["dropped"] or ():
        if object_type.endswith(" column") and names:
            dropped_columns[oid].add(names[-1])
        _forget(state, object_type, oid, names)
    old = {
        (kind, key): getattr(state, _FAMILIES[kind]).get(key)
        for kind, key in document["changed"] or ()
    }
    _apply_rows(state, document)
    for (kind, key), before in old.items():
        after = getattr(state, _FAMILIES[kind]).get(key)
        if before is not None and _maybe_renamed(kind, before, after, dropped_columns[key]):
            renamed[kind].append(key)
    return renamed


def _maybe_renamed(kind: str, before: _Part, after: _Part | None, dropped: set[str]) -> bool:
    """Whether other objects' definitions may read differently after this change: the name
    (or schema) changed, a table lost a column it did not drop, a view, type or function
    changed at all. Conservative: a false yes costs a closure read, a false no a wrong
    snapshot."""
    if after is None:
        return False  # dropped: whatever named it was dropped with it, and logged
    if before.order != after.order:
        return True
    if kind == "r":
        if before.snap.views != after.snap.views:
            return True
        lost = {c.name for t in before.snap.tables for c in t.columns} - {
            c.name for t in after.snap.tables for c in t.columns
        }
        return bool(lost - dropped)
    if kind == "t":
        return before.snap != after.snap
    return False


def _apply_rows(state: _State, document: dict[str, Any]) -> None:
    """Replace the parts of every object the document lists in ``changed`` (or, reading
    everything, of every object it has rows for) with what the rows say now."""
    rows_by_key: dict[tuple[str, int], dict[str, list[Any]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for kind in _REL_KINDS:
        for key, *row in document[kind] or ():
            rows_by_key[("r", key)][kind].append(row)
    for key, *row in document["types"] or ():
        rows_by_key[("t", key)]["types"].append(row)
    for key, *row in document["functions"] or ():
        rows_by_key[("f", key)]["functions"].append(row)
    for kind, key in document.get("changed") or ():
        if (kind, key) not in rows_by_key:
            state.put(_FAMILIES[kind], key, None)  # gone, or not an object a snapshot shows
    for (kind, key), rows in rows_by_key.items():
        state.put(_FAMILIES[kind], key, _part(kind, rows))


def _forget(state: _State, object_type: str, oid: int, names: list[str] | None) -> None:
    if object_type in _RELATION_DROPS:
        state.put("relations", oid, None)
    elif object_type == "type":
        state.put("types", oid, None)
    elif object_type in _FUNCTION_DROPS:
        state.put("functions", oid, None)
    elif object_type in _INDEX_DROPS and names:
        schema, name = normalise_schema(names[0], "public"), names[-1]
        for key, part in list(state.relations.items()):
            kept = tuple(i for i in part.snap.indexes if (i.schema, i.name) != (schema, name))
            if len(kept) != len(part.snap.indexes):
                state.put("relations", key, _Part(part.order, _replace(part.snap, indexes=kept)))


def _replace(snap: Snapshot, **changes: Any) -> Snapshot:
    return dataclasses.replace(snap, **changes)


def _part(kind: str, rows: dict[str, list[Any]]) -> _Part | None:
    """One object's records, parsed by the same code as a full snapshot."""
    document = {name: rows.get(name, []) for name in postgres.KIND_QUERIES}
    snap = postgres.parse(document)
    if kind == "r":
        head = cast("_Named | None", next(iter(snap.tables or snap.views or snap.sequences), None))
        if head is None:
            return None
        return _Part((head.schema or "", head.name), snap)
    if kind == "t":
        head = cast("_Named | None", next(iter(snap.enums or snap.types), None))
        if head is None:
            return None
        return _Part((head.schema or "", head.name), snap)
    function = next(iter(snap.functions), None)
    if function is None:
        return None
    return _Part((function.schema or "", "", function.name, function.arguments), snap)


def _assemble(state: _State, exclude_tables: frozenset[str]) -> Snapshot:
    """The snapshot, equal record for record to a full one taken now."""
    found = state._assembled.get(exclude_tables)
    if found is None:
        kinds = {
            kind: state.joined(family, kind, exclude_tables)
            for family, family_kinds in _FAMILY_KINDS.items()
            for kind in family_kinds
        }
        found = Snapshot(extensions=state.extensions, **kinds)
        state._assembled[exclude_tables] = found
    return found
