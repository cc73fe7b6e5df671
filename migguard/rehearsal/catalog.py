"""The tables that exist before a revision: their names (one cheap query), and the details row
generation needs for the ones a statement is about to touch (one query for those, their
partitions and the foreign-key parents their rows point at).

Only what is needed to write rows PostgreSQL accepts: each column's type (resolved through
domains and arrays to a base type name, with enum labels), nullability and default, identity
and generated columns, the foreign keys (to fill parents first and pick existing parent rows),
and the check constraints (their expressions filter candidate rows, their literals suggest
values). Tables of extensions, system schemas and the version table are not the project's data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from migguard.rehearsal import prepared

# Tables outside the system's schemas, not temporary and not Alembic's.
_USER_TABLE = r"""c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_%'
  AND c.relpersistence <> 't'
  AND c.relname <> ALL({excluded})"""

# A table an extension made (not the project's data).
_EXTENSION_TABLE = r"""EXISTS (
    SELECT 1 FROM pg_depend d
    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')"""

# The project's own tables: those, without an extension's.
_PROJECT_TABLE = f"{_USER_TABLE}\n  AND NOT {_EXTENSION_TABLE}"

_NAMES_SQL = r"""
SELECT json_agg(json_build_array(c.oid, n.nspname, c.relname))::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {project}
"""

# The tables asked for (by oid or by name), with their partitions and foreign-key parents
# (rows to point at), and so on from every table whose rows need the next one's (``needed``):
# a key column that is NOT NULL, or under a check constraint of the table or of its domain
# (``CHECK (customer_id IS NOT NULL)``, the first step of the safe way to SET NOT NULL), may
# refuse a NULL; from the parent of any other foreign key, not. Each column's type is
# fetched by its oid (the OFFSET 0 keeps that subquery apart): joined plainly, the generic
# plan hashed all of pg_type for every table. Tables are looked up by oid or name, and in
# pg_depend, the same way (LATERAL subqueries the planner cannot flatten): the generic plan,
# made while the catalog is small, otherwise scans all of pg_class and pg_depend each time.
_TABLES_SQL = r"""
WITH RECURSIVE asked(oid) AS (
  SELECT c.oid FROM unnest({oids}) AS q(oid)
  CROSS JOIN LATERAL (SELECT c.oid FROM pg_class c WHERE c.oid = q.oid OFFSET 0) c
  UNION
  SELECT c.oid FROM unnest({names}) AS q(name)
  CROSS JOIN LATERAL (SELECT c.oid FROM pg_class c WHERE c.relname = q.name OFFSET 0) c
), wanted(oid, needed) AS (
  SELECT oid, true FROM asked
  UNION
  SELECT x.oid, x.needed FROM wanted w CROSS JOIN LATERAL (
    SELECT k.confrelid AS oid, EXISTS (
      SELECT 1 FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
      WHERE a.attrelid = k.conrelid AND a.attnum = ANY(k.conkey)
        AND (a.attnotnull OR t.typnotnull OR EXISTS (
          SELECT 1 FROM pg_constraint dc WHERE dc.contypid = t.oid AND dc.contype = 'c'))
    ) OR EXISTS (
      SELECT 1 FROM pg_constraint ck
      WHERE ck.conrelid = k.conrelid AND ck.contype = 'c' AND ck.conkey && k.conkey
    ) AS needed
    FROM pg_constraint k WHERE k.conrelid = w.oid AND k.contype = 'f'
    UNION ALL
    SELECT i.inhrelid, true FROM pg_inherits i WHERE i.inhparent = w.oid) x
  WHERE w.needed
)
SELECT json_agg(json_build_object(
  'oid', c.oid, 'schema', n.nspname, 'name', c.relname, 'kind', c.relkind,
  'partition', c.relispartition,
  'needed', w.needed,
  'columns', (
    SELECT coalesce(json_agg(json_build_object(
      'num', a.attnum, 'name', a.attname,
      'type', CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod)
                   ELSE format_type(a.atttypid, a.atttypmod) END,
      'base', coalesce(eb.typname, b.typname),
      'array', b.typcategory = 'A',
      'enum', CASE WHEN coalesce(eb.typtype, b.typtype) = 'e' THEN (
        SELECT json_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e
        WHERE e.enumtypid = coalesce(eb.oid, b.oid)) END,
      'typmod', CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END,
      'not_null', a.attnotnull OR coalesce(t.typnotnull, false),
      'has_default', a.atthasdef OR t.typdefaultbin IS NOT NULL,
      'identity', a.attidentity <> '', 'generated', a.attgenerated <> '',
      'domain_checks', CASE WHEN t.typtype = 'd' THEN (
        SELECT json_agg(pg_get_expr(dc.conbin, 0)) FROM pg_constraint dc
        WHERE dc.contypid = a.atttypid AND dc.contype = 'c') END
    ) ORDER BY a.attnum), '[]'::json)
    FROM pg_attribute a
    CROSS JOIN LATERAL (SELECT * FROM pg_type t WHERE t.oid = a.atttypid OFFSET 0) t
    JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
    LEFT JOIN pg_type eb ON eb.oid = b.typelem AND b.typcategory = 'A'
    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
  'constraints', (
    SELECT coalesce(json_agg(json_build_object(
      'type', k.contype, 'columns', k.conkey, 'parent', k.confrelid,
      'parent_columns', k.confkey,
      'expression', CASE WHEN k.contype = 'c' THEN pg_get_expr(k.conbin, k.conrelid) END
    )), '[]'::json)
    FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype IN ('c', 'f', 'p', 'u'))
) ORDER BY c.oid)::text
FROM (SELECT oid, bool_or(needed) AS needed FROM wanted GROUP BY oid) w
CROSS JOIN LATERAL (
  SELECT * FROM pg_class c WHERE c.oid = w.oid AND NOT {extension} OFFSET 0) c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {user}
"""


@dataclass(frozen=True)
class Column:
    """One column as row generation sees it; ``base`` is the type name under domains and
    arrays (``int4``, ``varchar``, an enum's name), ``type`` the SQL to cast a literal to
    (a domain's base type: the domain's checks filter candidates instead of failing a cast)."""

    num: int
    name: str
    type: str
    base: str
    array: bool
    enum: tuple[str, ...]
    typmod: int
    not_null: bool
    has_default: bool
    identity: bool
    generated: bool
    domain_checks: tuple[str, ...] = ()

    @property
    def max_length(self) -> int | None:
        """varchar(n)/char(n): n (the type modifier holds n + 4)."""
        if self.base in ("varchar", "bpchar") and self.typmod > 4:
            return self.typmod - 4
        return None


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[int, ...]
    parent: int
    parent_columns: tuple[int, ...]


@dataclass(frozen=True)
class Check:
    columns: tuple[int, ...]
    expression: str


@dataclass
class Table:
    """A table that exists before the revision runs; ``oid`` survives renames."""

    oid: int
    schema: str
    name: str
    partitioned: bool
    partition: bool
    columns: list[Column] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    unique: list[tuple[int, ...]] = field(default_factory=list)
    # asked for, or needed by a table that is (a partition of it, or the parent of a foreign
    # key whose columns may refuse a NULL: NOT NULL or under a check); the parent of another
    # foreign key is only there to be pointed at, if it holds rows
    needed: bool = True

    @property
    def qualified(self) -> str:
        return f"{quote(self.schema)}.{quote(self.name)}"

    @property
    def label(self) -> str:
        """As a finding names it: ``books``, or ``shop.books`` outside ``public``."""
        return self.name if self.schema == "public" else f"{self.schema}.{self.name}"

    def column(self, num: int) -> Column | None:
        return next((c for c in self.columns if c.num == num), None)


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal. Statements here carry no parameters: the drivers migguard meets
    (psycopg2, psycopg, asyncpg) disagree on parameter styles at the DBAPI level."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class TableName:
    """An existing table by name, before its details are read."""

    oid: int
    schema: str
    name: str


def table_names(cursor: Any, excluded: tuple[str, ...] = ("alembic_version",)) -> list[TableName]:
    """Every ordinary or partitioned table of the project's schemas, through a DBAPI cursor of
    the migration's own connection (so it sees the revision's transaction)."""
    cursor.execute(_NAMES_SQL.replace("{project}", _project(excluded)))
    raw = cursor.fetchone()[0]
    return [TableName(int(oid), schema, name) for oid, schema, name in json.loads(raw or "[]")]


def read_tables(
    cursor: Any,
    *,
    oids: Iterable[int] = (),
    names: Iterable[str] = (),
    excluded: tuple[str, ...] = ("alembic_version",),
) -> list[Table]:
    """The project's tables among ``oids`` or named one of ``names`` (in any schema), with
    their partitions and foreign-key parents (further up only from a :attr:`Table.needed`
    one), in detail."""
    return tables(prepared.plain(cursor), oids=oids, names=names, excluded=excluded)


def tables(
    query: prepared.Query,
    *,
    oids: Iterable[int] = (),
    names: Iterable[str] = (),
    excluded: tuple[str, ...] = ("alembic_version",),
) -> list[Table]:
    """:func:`read_tables` through ``query`` (the observer's, which may run it prepared)."""
    oid_list, name_list = list(oids), list(names)
    if not oid_list and not name_list:
        return []
    arguments = [_oids(oid_list), _names(name_list), _names(excluded)]
    sql = _substitute(_TABLES_SQL, arguments)
    (raw,) = query(sql, TABLES, arguments)
    return [_table(entry) for entry in json.loads(raw or "[]")]


def tables_and_names(
    query: prepared.Query, names: Iterable[str], *, excluded: tuple[str, ...] = ("alembic_version",)
) -> tuple[list[Table], dict[str, set[int]]]:
    """:func:`tables` named one of ``names``, and the oids of every table outside the
    system's schemas by name (the project's, and an extension's), in one round trip: the
    observer of a revision reads them at its first statement, and then skips the catalog for
    every statement that names no table it has not observed yet."""
    arguments = [_oids(()), _names(names), _names(excluded)]
    sql = _substitute(_TABLES_AND_NAMES_SQL, arguments)
    details, listed = query(sql, TABLES_AND_NAMES, arguments)
    found = [_table(entry) for entry in json.loads(details or "[]")]
    by_name: dict[str, set[int]] = {}
    for oid, _, name in json.loads(listed or "[]"):
        by_name.setdefault(name, set()).add(int(oid))
    return found, by_name


def _project(excluded: tuple[str, ...]) -> str:
    return _PROJECT_TABLE.replace("{excluded}", _names(excluded))


def _oids(oids: Iterable[int]) -> str:
    return prepared.array((str(int(o)) for o in oids), "oid")


def _names(names: Iterable[str]) -> str:
    return prepared.array((literal(n) for n in names), "name")


def _substitute(template: str, arguments: list[str]) -> str:
    """``template``'s parameters ``{oids}``, ``{names}`` and ``{excluded}`` replaced by
    ``arguments`` (SQL expressions): the plain statement, or with the parameters of
    :data:`TABLES`, the prepared one."""
    oids, names, excluded = arguments
    return (
        template.replace("{project}", _PROJECT_TABLE)
        .replace("{user}", _USER_TABLE)
        .replace("{extension}", _EXTENSION_TABLE)
        .replace("{oids}", oids)
        .replace("{names}", names)
        .replace("{excluded}", excluded)
    )


# The names there are the observer's list of what to skip (tables_and_names): an extension's
# table in it costs a look-up, which leaves the table out, while looking each table up in
# pg_depend cost a third of the listing, read at every revision's first statement.
_TABLES_AND_NAMES_SQL = (
    f"SELECT ({_TABLES_SQL.strip()}), ({_NAMES_SQL.strip().replace('{project}', _USER_TABLE)})"
)
_PARAMETERS = [prepared.parameter(n, of) for n, of in ((1, "oid"), (2, "name"), (3, "name"))]

# The two as statements prepared once per session (:mod:`.prepared`): the observer looks
# tables up before many of a revision's statements.
TABLES = prepared.Statement(
    "migguard_rehearsal_tables",
    _substitute(_TABLES_SQL, _PARAMETERS),
)
TABLES_AND_NAMES = prepared.Statement(
    "migguard_rehearsal_tables_and_names",
    _substitute(_TABLES_AND_NAMES_SQL, _PARAMETERS),
)


def _table(entry: dict[str, Any]) -> Table:
    table = Table(
        oid=int(entry["oid"]),
        schema=entry["schema"],
        name=entry["name"],
        partitioned=entry["kind"] == "p",
        partition=bool(entry["partition"]),
        needed=bool(entry["needed"]),
    )
    for col in entry["columns"]:
        table.columns.append(
            Column(
                num=int(col["num"]),
                name=col["name"],
                type=col["type"],
                base=col["base"],
                array=bool(col["array"]),
                enum=tuple(col["enum"] or ()),
                typmod=int(col["typmod"]),
                not_null=bool(col["not_null"]),
                has_default=bool(col["has_default"]),
                identity=bool(col["identity"]),
                generated=bool(col["generated"]),
                domain_checks=tuple(col["domain_checks"] or ()),
            )
        )
    for con in entry["constraints"]:
        columns = tuple(con["columns"] or ())
        if con["type"] == "f":
            table.foreign_keys.append(
                ForeignKey(columns, int(con["parent"]), tuple(con["parent_columns"] or ()))
            )
        elif con["type"] == "c" and con["expression"]:
            table.checks.append(Check(columns, con["expression"]))
        elif con["type"] in ("p", "u"):
            table.unique.append(columns)
    return table
