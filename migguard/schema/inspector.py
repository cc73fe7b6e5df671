"""Snapshot through SQLAlchemy's Inspector, for SQLite and any non-PostgreSQL dialect.

Slower than the PostgreSQL catalog query (several queries per table) but SQLite projects are
small and local. The records are the same as on PostgreSQL so :func:`migguard.schema.diff`
does not care where a snapshot came from; there are no enums, sequences, functions or
extensions here. Definitions are rendered in a PostgreSQL-like DDL form so messages read the
same. Unnamed constraints (common on SQLite) get a stable synthetic name: PostgreSQL's
default (``books_pkey``, ``books_isbn_key``, ``books_author_id_fkey``) or, for a check, its
expression in parentheses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Inspector

from migguard.schema.model import (
    Column,
    Constraint,
    Index,
    Snapshot,
    Table,
    View,
    normalise_schema,
    sort_key,
)


def take(connection: Connection, schemas: tuple[str, ...] | None) -> Snapshot:
    """Reflect tables, columns, keys, checks, indexes and views of ``schemas``."""
    inspector = inspect(connection)
    tables: list[Table] = []
    constraints: list[Constraint] = []
    indexes: list[Index] = []
    views: list[View] = []
    for schema in schemas or (None,):
        norm = normalise_schema(schema, frozenset({"main", inspector.default_schema_name or ""}))
        tables.extend(_tables(inspector, schema, norm, connection))
        constraints.extend(_constraints(inspector, schema, norm, connection))
        indexes.extend(_indexes(inspector, schema, norm))
        views.extend(_views(inspector, schema, norm))
    return Snapshot(
        tables=tuple(sorted(tables, key=sort_key)),
        constraints=tuple(sorted(constraints, key=sort_key)),
        indexes=tuple(sorted(indexes, key=sort_key)),
        views=tuple(sorted(views, key=sort_key)),
    )


def _multi(method: Callable[..., dict[Any, Any]], schema: str | None) -> dict[Any, Any]:
    """An Inspector ``get_multi_*`` call, empty where the dialect does not implement it."""
    try:
        return method(schema=schema)
    except NotImplementedError:
        return {}


def _tables(
    inspector: Inspector, schema: str | None, norm: str | None, connection: Connection
) -> list[Table]:
    return [
        Table(
            schema=norm,
            name=name,
            columns=tuple(
                sorted((_column(col, connection) for col in columns), key=lambda c: c.name)
            ),
        )
        for (_, name), columns in _multi(inspector.get_multi_columns, schema).items()
    ]


def _column(col: dict[str, Any], connection: Connection) -> Column:
    computed = col.get("computed")
    identity = col.get("identity")
    return Column(
        name=col["name"],
        type=_type_string(col["type"], connection),
        nullable=bool(col.get("nullable", True)),
        default=None if col.get("default") is None else str(col["default"]),
        identity=("ALWAYS" if identity.get("always") else "BY DEFAULT") if identity else None,
        generated=_generated(computed) if computed else None,
        collation=getattr(col["type"], "collation", None),
    )


def _generated(computed: dict[str, Any]) -> str:
    """``(expr) STORED`` / ``(expr) VIRTUAL``, as on PostgreSQL."""
    expression = str(computed["sqltext"]).strip()
    if not expression.startswith("("):
        expression = f"({expression})"
    return f"{expression} {'STORED' if computed.get('persisted') else 'VIRTUAL'}"


def _type_string(type_: Any, connection: Connection) -> str:
    try:
        return str(type_.compile(dialect=connection.dialect))
    except Exception:  # NullType and friends cannot be compiled
        return str(type_)


def _constraints(
    inspector: Inspector, schema: str | None, norm: str | None, connection: Connection
) -> list[Constraint]:
    found: list[Constraint] = []
    for (_, table), pk in _multi(inspector.get_multi_pk_constraint, schema).items():
        if pk and pk.get("constrained_columns"):
            definition = f"PRIMARY KEY ({_join(pk['constrained_columns'])})"
            name = pk.get("name") or f"{table}_pkey"
            found.append(Constraint(norm, table, name, "primary key", definition))
    for (_, table), fks in _multi(inspector.get_multi_foreign_keys, schema).items():
        actions = _sqlite_fk_actions(connection, schema, table) if fks else {}
        for fk in fks:
            options = fk.get("options") or actions.get(_fk_shape(fk), {})
            found.append(Constraint(norm, table, *_foreign_key(table, fk, options)))
    for (_, table), uniques in _multi(inspector.get_multi_unique_constraints, schema).items():
        for uq in uniques + _sqlite_inline_uniques(connection, schema, table, uniques):
            definition = f"UNIQUE ({_join(uq['column_names'])})"
            name = uq.get("name") or f"{table}_{'_'.join(uq['column_names'])}_key"
            found.append(Constraint(norm, table, name, "unique", definition))
    for (_, table), checks in _multi(inspector.get_multi_check_constraints, schema).items():
        for ck in checks:
            definition = f"CHECK ({ck['sqltext']})"
            name = ck.get("name") or f"({' '.join(str(ck['sqltext']).split())})"
            found.append(Constraint(norm, table, name, "check", definition))
    return found


def _sqlite_inline_uniques(
    connection: Connection, schema: str | None, table: str, reflected: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Column-level ``UNIQUE`` constraints, which SQLAlchemy's SQLite reflection misses.

    SQLite backs every unique constraint with a ``sqlite_autoindex_*`` index whose origin is
    ``u``; those not already reflected (by their columns) are added, unnamed.
    """
    if connection.dialect.name != "sqlite":
        return []
    known = {tuple(uq["column_names"]) for uq in reflected}
    prefix = _sqlite_prefix(schema)
    found: list[dict[str, Any]] = []
    for row in connection.exec_driver_sql(f"PRAGMA {prefix}index_list({_quote(table)})"):
        if row[3] != "u" or not str(row[1]).startswith("sqlite_autoindex"):
            continue
        info = connection.exec_driver_sql(f"PRAGMA {prefix}index_info({_quote(row[1])})")
        columns = tuple(r[2] for r in sorted(info, key=lambda r: r[0]))
        if columns not in known:
            known.add(columns)
            found.append({"name": None, "column_names": list(columns)})
    return found


def _sqlite_prefix(schema: str | None) -> str:
    return f"{_quote(schema)}." if schema else ""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _fk_shape(fk: dict[str, Any]) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    return (fk["referred_table"], tuple(fk["constrained_columns"]), tuple(fk["referred_columns"]))


def _sqlite_fk_actions(
    connection: Connection, schema: str | None, table: str
) -> dict[tuple[str, tuple[str, ...], tuple[str, ...]], dict[str, str]]:
    """ON DELETE/UPDATE of every FK, from ``PRAGMA foreign_key_list``.

    SQLAlchemy reads actions from the table's SQL only for named ``CONSTRAINT ... FOREIGN KEY``
    clauses, not for inline ``REFERENCES``; a batch migration that recreates a table and drops
    ``ON DELETE CASCADE`` must still show up as a difference.
    """
    if connection.dialect.name != "sqlite":
        return {}
    prefix = _sqlite_prefix(schema)
    rows = connection.exec_driver_sql(f"PRAGMA {prefix}foreign_key_list({_quote(table)})").all()
    grouped: dict[int, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row[0], []).append(row)
    actions = {}
    for parts in grouped.values():
        parts.sort(key=lambda row: row[1])
        referred = tuple(row[4] for row in parts)
        if any(column is None for column in referred):
            continue  # REFERENCES t without columns: SQLAlchemy fills in the PK; rare
        shape = (parts[0][2], tuple(row[3] for row in parts), referred)
        options = {"onupdate": parts[0][5], "ondelete": parts[0][6]}
        actions[shape] = {k: v for k, v in options.items() if v and v != "NO ACTION"}
    return actions


def _foreign_key(table: str, fk: dict[str, Any], options: dict[str, Any]) -> tuple[str, str, str]:
    referred = fk["referred_table"]
    if fk.get("referred_schema"):
        referred = f"{fk['referred_schema']}.{referred}"
    definition = (
        f"FOREIGN KEY ({_join(fk['constrained_columns'])}) "
        f"REFERENCES {referred}({_join(fk['referred_columns'])})"
    )
    for option, clause in (("onupdate", "ON UPDATE"), ("ondelete", "ON DELETE")):
        if options.get(option):
            definition += f" {clause} {str(options[option]).upper()}"
    name = fk.get("name") or f"{table}_{'_'.join(fk['constrained_columns'])}_fkey"
    return name, "foreign key", definition


def _indexes(inspector: Inspector, schema: str | None, norm: str | None) -> list[Index]:
    found: list[Index] = []
    for (_, table), indexes in _multi(inspector.get_multi_indexes, schema).items():
        for ix in indexes:
            name = ix.get("name") or ""
            if name.startswith("sqlite_autoindex") or ix.get("duplicates_constraint"):
                continue
            found.append(Index(norm, table, name, bool(ix.get("unique")), _index_sql(table, ix)))
    return found


def _index_sql(table: str, ix: dict[str, Any]) -> str:
    expressions = ix.get("expressions") or [c for c in ix.get("column_names", []) if c]
    unique = "UNIQUE " if ix.get("unique") else ""
    sql = f"CREATE {unique}INDEX {ix.get('name')} ON {table} ({_join(expressions)})"
    where = next(
        (v for k, v in (ix.get("dialect_options") or {}).items() if k.endswith("_where")), None
    )
    return f"{sql} WHERE {where}" if where is not None else sql


def _views(inspector: Inspector, schema: str | None, norm: str | None) -> list[View]:
    try:
        names = inspector.get_view_names(schema=schema)
    except NotImplementedError:
        return []
    return [
        View(norm, name, False, str(inspector.get_view_definition(name, schema=schema)).strip())
        for name in names
    ]


def _join(items: Iterable[Any]) -> str:
    return ", ".join(str(item) for item in items)
