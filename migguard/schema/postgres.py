"""PostgreSQL catalog snapshot in one round trip.

The runner snapshots ~3 times per revision, so a history of 300 revisions means ~900
snapshots; SQLAlchemy's Inspector issues dozens of queries per table and would dominate the
run. Instead one statement builds a single JSON document with one ``json_agg`` sub-select per
object kind, and Python turns it into records. The text is cast to ``text`` so every driver
(psycopg2, psycopg 3, asyncpg through SQLAlchemy's adapter) hands back a ``str``; an already
parsed value is accepted too.

Definitions come from the server's own deparsers (``format_type``, ``pg_get_expr``,
``pg_get_constraintdef``, ``pg_get_indexdef``, ``pg_get_viewdef``, ``pg_get_triggerdef``), so
two schemas built by different DDL compare equal when PostgreSQL considers them the same.

Left out on purpose: system schemas (``pg_catalog``, ``information_schema``, ``pg_toast*``,
``pg_temp*``), objects that belong to an extension (``pg_depend.deptype = 'e'``: installing
``pg_trgm`` is one extension, not fifty functions), indexes backing a primary key, unique or
exclusion constraint (they are the constraint), NOT NULL constraints (PostgreSQL 18 lists them
in ``pg_constraint``; nullability is a column attribute here) and internal triggers (FKs).

The statement has no bind parameters and no ``%`` character, so it runs unchanged through
``exec_driver_sql`` whatever the driver's paramstyle. Needs PostgreSQL 12 or later.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy.engine import Connection

from migguard.schema.model import (
    Column,
    Constraint,
    EnumType,
    Function,
    Index,
    Sequence,
    Snapshot,
    Table,
    Trigger,
    UserType,
    View,
    normalise_schema,
    sort_key,
)

_NOT_EXTENSION_MEMBER = """NOT EXISTS (SELECT 1 FROM ext
         WHERE ext.classid = '{catalog}'::regclass AND ext.objid = {oid})"""

# Common table expressions every snapshot query starts with: user schemas, extension members
# (found through pg_depend's index on the referenced extension rather than a scan), and the
# user's relations.
_CTES = f"""ns AS (
    SELECT oid, nspname FROM pg_catalog.pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema')
      AND nspname !~ '^pg_(toast|temp_)'
), ext AS MATERIALIZED (
    SELECT classid, objid FROM pg_catalog.pg_depend
    WHERE refclassid = 'pg_catalog.pg_extension'::regclass AND deptype = 'e'
), rel AS MATERIALIZED (
    SELECT c.oid, c.relname, c.relkind, n.nspname
    FROM pg_catalog.pg_class c JOIN ns n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S')
      AND {_NOT_EXTENSION_MEMBER.format(catalog="pg_catalog.pg_class", oid="c.oid")}
)"""

# One json_agg sub-select per object kind, in document order. ``{rel}`` is the relation set
# read (all of ``rel``, or a subset), ``{types}``/``{procs}`` the pg_type/pg_proc rows read,
# and ``{kr}``/``{kt}``/``{kp}`` put the owning relation, type or function oid in front of each
# row when a caller keeps rows per object (:mod:`migguard.schema.tracking`).
KIND_QUERIES: dict[str, str] = {
    "tables": """
    SELECT json_agg(json_build_array({kr}r.nspname, r.relname, r.relkind))
    FROM {rel} r WHERE r.relkind IN ('r', 'p')""",
    "columns": """
    SELECT json_agg(json_build_array(
        {kr}r.nspname, r.relname, a.attname,
        pg_catalog.format_type(a.atttypid, a.atttypmod),
        a.attnotnull,
        pg_catalog.pg_get_expr(d.adbin, d.adrelid),
        a.attidentity,
        a.attgenerated,
        CASE WHEN a.attcollation <> t.typcollation THEN co.collname END))
    FROM {rel} r
    JOIN pg_catalog.pg_attribute a
      ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
    JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
    LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
    WHERE r.relkind IN ('r', 'p')""",
    "constraints": """
    SELECT json_agg(json_build_array(
        {kr}r.nspname, r.relname, c.conname, c.contype,
        pg_catalog.pg_get_constraintdef(c.oid)))
    FROM pg_catalog.pg_constraint c JOIN {rel} r ON r.oid = c.conrelid
    WHERE c.contype IN ('p', 'f', 'u', 'c', 'x') AND r.relkind IN ('r', 'p')""",
    "indexes": """
    SELECT json_agg(json_build_array(
        {kr}r.nspname, r.relname, ic.relname, i.indisunique,
        pg_catalog.pg_get_indexdef(i.indexrelid)))
    FROM pg_catalog.pg_index i
    JOIN {rel} r ON r.oid = i.indrelid
    JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
    WHERE NOT EXISTS (
        SELECT 1 FROM pg_catalog.pg_constraint c
        WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid
          AND c.contype IN ('p', 'u', 'x'))""",
    "types": """
    SELECT json_agg(json_build_array(
        {kt}n.nspname, t.typname, t.typtype,
        CASE t.typtype
          WHEN 'e' THEN (
            SELECT json_agg(e.enumlabel ORDER BY e.enumsortorder)
            FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid)
          WHEN 'd' THEN to_json(
            pg_catalog.format_type(t.typbasetype, t.typtypmod)
            || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END
            || coalesce(' DEFAULT ' || t.typdefault, '')
            || coalesce((
                SELECT string_agg(' ' || pg_catalog.pg_get_constraintdef(c.oid), ''
                                  ORDER BY c.conname)
                FROM pg_catalog.pg_constraint c
                WHERE c.contypid = t.oid AND c.contype = 'c'), ''))
          WHEN 'c' THEN to_json((
            SELECT string_agg(
                quote_ident(a.attname) || ' '
                || pg_catalog.format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
            FROM pg_catalog.pg_attribute a
            WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped))
          WHEN 'r' THEN to_json((
            SELECT 'RANGE (SUBTYPE = ' || pg_catalog.format_type(g.rngsubtype, NULL) || ')'
            FROM pg_catalog.pg_range g WHERE g.rngtypid = t.oid))
        END))
    FROM {types} JOIN ns n ON n.oid = t.typnamespace
    WHERE (t.typtype IN ('e', 'd', 'r')
           OR (t.typtype = 'c' AND EXISTS (
                SELECT 1 FROM pg_catalog.pg_class k
                WHERE k.oid = t.typrelid AND k.relkind = 'c')))
      AND {not_ext_type}""",
    "sequences": """
    SELECT json_agg(json_build_array(
        {kr}r.nspname, r.relname, pg_catalog.format_type(s.seqtypid, NULL),
        s.seqincrement::text, tn.nspname, tc.relname, ta.attname))
    FROM {rel} r
    JOIN pg_catalog.pg_sequence s ON s.seqrelid = r.oid
    LEFT JOIN pg_catalog.pg_depend d
      ON d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = r.oid
     AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjsubid > 0
     AND d.deptype IN ('a', 'i')
    LEFT JOIN pg_catalog.pg_class tc ON tc.oid = d.refobjid
    LEFT JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace
    LEFT JOIN pg_catalog.pg_attribute ta
      ON ta.attrelid = d.refobjid AND ta.attnum = d.refobjsubid
    WHERE r.relkind = 'S'""",
    "views": """
    SELECT json_agg(json_build_array(
        {kr}r.nspname, r.relname, r.relkind, pg_catalog.pg_get_viewdef(r.oid)))
    FROM {rel} r WHERE r.relkind IN ('v', 'm')""",
    "extensions": """
    SELECT json_agg(x.extname) FROM pg_catalog.pg_extension x
    JOIN ns n ON n.oid = x.extnamespace""",
    "functions": """
    SELECT json_agg(json_build_array(
        {kp}n.nspname, p.proname,
        pg_catalog.pg_get_function_identity_arguments(p.oid),
        coalesce(pg_catalog.pg_get_function_result(p.oid), ''),
        l.lanname,
        left(encode(sha256(convert_to(
            CASE WHEN p.prokind IN ('f', 'p') THEN pg_catalog.pg_get_functiondef(p.oid)
                 ELSE coalesce(p.prosrc, '') END, 'UTF8')), 'hex'), 16)))
    FROM {procs}
    JOIN ns n ON n.oid = p.pronamespace
    JOIN pg_catalog.pg_language l ON l.oid = p.prolang
    WHERE {not_ext_proc}""",
    "triggers": """
    SELECT json_agg(json_build_array(
        {kr}r.nspname, r.relname, g.tgname, pg_catalog.pg_get_triggerdef(g.oid)))
    FROM pg_catalog.pg_trigger g JOIN {rel} r ON r.oid = g.tgrelid
    WHERE NOT g.tgisinternal""",
}


def kinds_sql(
    *,
    keyed: bool = False,
    rel: str = "rel",
    types: str = "pg_catalog.pg_type t",
    procs: str = "pg_catalog.pg_proc p",
) -> dict[str, str]:
    """Each kind's sub-select, for the ``json_build_object`` of a snapshot query."""
    values = {
        "rel": rel,
        "types": types,
        "procs": procs,
        "kr": "r.oid, " if keyed else "",
        "kt": "t.oid, " if keyed else "",
        "kp": "p.oid, " if keyed else "",
        "not_ext_type": _NOT_EXTENSION_MEMBER.format(catalog="pg_catalog.pg_type", oid="t.oid"),
        "not_ext_proc": _NOT_EXTENSION_MEMBER.format(catalog="pg_catalog.pg_proc", oid="p.oid"),
    }
    return {kind: query.format(**values) for kind, query in KIND_QUERIES.items()}


SNAPSHOT_SQL = f"""
WITH {_CTES}
SELECT json_build_object(
{", ".join(f"'{kind}', ({query})" for kind, query in kinds_sql().items())}
)::text
"""

_CONSTRAINT_TYPES = {
    "p": "primary key",
    "f": "foreign key",
    "u": "unique",
    "c": "check",
    "x": "exclusion",
}
_TYPE_KINDS = {"d": "domain", "c": "composite", "r": "range"}
_IDENTITY = {"a": "ALWAYS", "d": "BY DEFAULT"}
_GENERATED = {"s": "STORED", "v": "VIRTUAL"}  # VIRTUAL: PostgreSQL 18

T = TypeVar("T")


def _schema(name: str | None) -> str | None:
    return normalise_schema(name, "public")


def take(connection: Connection) -> Snapshot:
    """Run the catalog query on ``connection`` (inside whatever transaction it is in)."""
    raw = connection.exec_driver_sql(SNAPSHOT_SQL).scalar_one()
    document: dict[str, Any] = json.loads(raw) if isinstance(raw, (str, bytes)) else raw
    return parse(document)


def parse(document: dict[str, Any]) -> Snapshot:
    """Records from the JSON document; each kind is sorted so equal schemas compare equal."""
    rows = {key: value or [] for key, value in document.items()}
    return Snapshot(
        tables=_tables(rows["tables"], rows["columns"]),
        constraints=_sorted(_constraints(rows["constraints"])),
        indexes=_sorted(_indexes(rows["indexes"])),
        enums=_sorted(_enums(rows["types"])),
        types=_sorted(_user_types(rows["types"])),
        sequences=_sorted(_sequences(rows["sequences"])),
        views=_sorted(_views(rows["views"])),
        extensions=tuple(sorted(rows["extensions"])),
        functions=_sorted(_functions(rows["functions"])),
        triggers=_sorted(_triggers(rows["triggers"])),
    )


def _tables(tables: list[list[Any]], columns: list[list[Any]]) -> tuple[Table, ...]:
    by_table: dict[tuple[str, str], list[Column]] = defaultdict(list)
    for schema, table, name, type_, notnull, expr, identity, generated, collation in columns:
        is_generated = generated in _GENERATED
        by_table[(schema, table)].append(
            Column(
                name=name,
                type=type_,
                nullable=not notnull,
                default=None if is_generated else expr,
                identity=_IDENTITY.get(identity or ""),
                generated=f"{expr} {_GENERATED[generated]}" if is_generated else None,
                collation=collation,
            )
        )
    return _sorted(
        Table(
            schema=_schema(schema),
            name=name,
            columns=tuple(sorted(by_table.get((schema, name), []), key=_column_name)),
            kind="partitioned table" if relkind == "p" else "table",
        )
        for schema, name, relkind in tables
    )


def _sorted(records: Iterable[T]) -> tuple[T, ...]:
    return tuple(sorted(records, key=sort_key))


def _column_name(column: Column) -> str:
    return column.name


def _constraints(rows: list[list[Any]]) -> list[Constraint]:
    return [
        Constraint(_schema(schema), table, name, _CONSTRAINT_TYPES[contype], definition)
        for schema, table, name, contype, definition in rows
    ]


def _indexes(rows: list[list[Any]]) -> list[Index]:
    return [
        Index(_schema(schema), table, name, bool(unique), definition)
        for schema, table, name, unique, definition in rows
    ]


def _enums(rows: list[list[Any]]) -> list[EnumType]:
    return [
        EnumType(_schema(schema), name, tuple(labels or ()))
        for schema, name, typtype, labels in rows
        if typtype == "e"
    ]


def _user_types(rows: list[list[Any]]) -> list[UserType]:
    return [
        UserType(_schema(schema), name, _TYPE_KINDS[typtype], definition or "")
        for schema, name, typtype, definition in rows
        if typtype in _TYPE_KINDS
    ]


def _sequences(rows: list[list[Any]]) -> list[Sequence]:
    return [
        Sequence(
            _schema(schema),
            name,
            data_type,
            increment,
            (_schema(owner_schema), owner_table, owner_column) if owner_table else None,
        )
        for schema, name, data_type, increment, owner_schema, owner_table, owner_column in rows
    ]


def _views(rows: list[list[Any]]) -> list[View]:
    return [
        View(_schema(schema), name, relkind == "m", (definition or "").strip())
        for schema, name, relkind, definition in rows
    ]


def _functions(rows: list[list[Any]]) -> list[Function]:
    return [
        Function(_schema(schema), name, args, result, language, body_hash)
        for schema, name, args, result, language, body_hash in rows
    ]


def _triggers(rows: list[list[Any]]) -> list[Trigger]:
    return [
        Trigger(_schema(schema), table, name, definition)
        for schema, table, name, definition in rows
    ]
