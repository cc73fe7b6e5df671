"""Diff two snapshots: one small pure function per object kind, run by a dispatcher.

Shaped like Alembic's ``autogenerate/compare.py``: each ``_compare_*`` function takes the two
snapshots and returns the differences of its kind, and :func:`diff` runs them in a fixed order
(tables, columns, constraints, indexes, triggers, types, sequences, views, functions,
extensions), each sorted by name, so the same two schemas always give the same list.

A diff should read like the fix it needs, not like a catalog dump, so it avoids echoes:
the columns, constraints, indexes and triggers of a table that was added or removed are not
listed again, and a sequence owned by a column (serial or identity) is not reported when that
column already differs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

from migguard.schema.model import (
    Change,
    Column,
    Constraint,
    Difference,
    EnumType,
    Function,
    Index,
    Sequence,
    Snapshot,
    Trigger,
    UserType,
    View,
    qualify,
)

Comparator = Callable[[Snapshot, Snapshot], list[Difference]]
_COMPARATORS: list[Comparator] = []

T = TypeVar("T")


def comparator(fn: Comparator) -> Comparator:
    """Register ``fn``; registration order is the order kinds appear in a diff."""
    _COMPARATORS.append(fn)
    return fn


def diff(before: Snapshot, after: Snapshot) -> list[Difference]:
    """What changed from ``before`` to ``after``; ``[]`` when the schemas are the same."""
    if before == after:
        return []
    return [found for compare in _COMPARATORS for found in compare(before, after)]


# -- generic keyed comparison -------------------------------------------------------------


def _pairs(
    before: Iterable[T], after: Iterable[T], key: Callable[[T], Hashable]
) -> list[tuple[T | None, T | None]]:
    """(before, after) per key, sorted by key; one side is None when only the other has it."""
    old = {key(item): item for item in before}
    new = {key(item): item for item in after}
    keys = sorted(old.keys() | new.keys(), key=_sortable)
    return [(old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)]


def _sortable(key: Any) -> Any:
    """Keys hold ``None`` for the default schema; sort it first, and never compare to str."""
    if isinstance(key, tuple):
        return tuple(_sortable(part) for part in key)
    return (0, "") if key is None else (1, key)


def _changes(*attributes: tuple[str, Any, Any]) -> tuple[Change, ...]:
    return tuple((name, _show(old), _show(new)) for name, old, new in attributes if old != new)


def _one_line(sql: str) -> str:
    """A deparsed view spans lines; a message shows it on one."""
    return " ".join(sql.split())


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _changed(
    kind: str, name: str, table: str | None, changes: tuple[Change, ...], subkind: str = ""
) -> Difference:
    detail = "; ".join(f"{attribute} {old} -> {new}" for attribute, old, new in changes)
    return Difference(kind, name, table, "changed", detail, subkind, changes)


def _presence(
    kind: str, name: str, table: str | None, old: Any, detail: str, subkind: str = ""
) -> Difference:
    """Added when ``old`` is None (only in after), else removed."""
    status = "added" if old is None else "removed"
    return Difference(kind, name, table, status, detail, subkind)


def _tables_in_both(before: Snapshot, after: Snapshot) -> set[tuple[str | None, str]]:
    """Tables and views (materialized views carry indexes, views INSTEAD OF triggers) present
    on both sides: only their own indexes, constraints and triggers are compared one by one."""
    return _relations(before) & _relations(after)


def _relations(snap: Snapshot) -> set[tuple[str | None, str]]:
    return {t.key for t in snap.tables} | {(v.schema, v.name) for v in snap.views}


# -- one comparator per kind --------------------------------------------------------------


@comparator
def _compare_tables(before: Snapshot, after: Snapshot) -> list[Difference]:
    found: list[Difference] = []
    for old, new in _pairs(before.tables, after.tables, lambda t: t.key):
        table = old or new
        assert table is not None
        if old is None or new is None:
            columns = "columns " + ", ".join(c.name for c in table.columns)
            found.append(
                _presence("table", table.qualified, None, old, columns, subkind=table.kind)
            )
        elif old.kind != new.kind:
            found.append(
                _changed("table", table.qualified, None, _changes(("kind", old.kind, new.kind)))
            )
    return found


@comparator
def _compare_columns(before: Snapshot, after: Snapshot) -> list[Difference]:
    """Columns keyed by name, so the same columns in another order are no difference."""
    new_tables = {t.key: t for t in after.tables}
    found: list[Difference] = []
    for old_table in before.tables:
        new_table = new_tables.get(old_table.key)
        if new_table is None or new_table.columns == old_table.columns:
            continue
        table = old_table.qualified
        for old, new in _pairs(old_table.columns, new_table.columns, lambda c: c.name):
            column = old or new
            assert column is not None
            name = f"{table}.{column.name}"
            if old is None or new is None:
                found.append(_presence("column", name, table, old, column.definition()))
            else:
                found.append(_changed("column", name, table, _column_changes(old, new)))
    return found


def _column_changes(old: Column, new: Column) -> tuple[Change, ...]:
    return _changes(
        ("type", old.type, new.type),
        ("nullability", _nullability(old), _nullability(new)),
        ("server default", old.default, new.default),
        ("identity", old.identity, new.identity),
        ("generated expression", old.generated, new.generated),
        ("collation", old.collation, new.collation),
    )


def _nullability(column: Column) -> str:
    return "NULL" if column.nullable else "NOT NULL"


@comparator
def _compare_constraints(before: Snapshot, after: Snapshot) -> list[Difference]:
    both = _tables_in_both(before, after)
    found: list[Difference] = []
    pairs = _pairs(_on(before.constraints, both), _on(after.constraints, both), _constraint_key)
    for old, new in pairs:
        constraint = old or new
        assert constraint is not None
        table = qualify(constraint.schema, constraint.table)
        if old is None or new is None:
            found.append(
                _presence(
                    "constraint",
                    constraint.name,
                    table,
                    old,
                    constraint.definition,
                    subkind=constraint.type,
                )
            )
        else:
            changes = _changes(
                ("type", old.type, new.type), ("definition", old.definition, new.definition)
            )
            found.append(_changed("constraint", old.name, table, changes, subkind=new.type))
    return _renamed(found, lambda d: d.detail)


def _constraint_key(constraint: Constraint) -> tuple[str | None, str, str]:
    return (constraint.schema, constraint.table, constraint.name)


def _on(items: Iterable[T], tables: set[tuple[str | None, str]]) -> list[T]:
    """The items (indexes, constraints, triggers) whose table is in both snapshots."""
    return [item for item in items if (item.schema, item.table) in tables]  # type: ignore[attr-defined]


@comparator
def _compare_indexes(before: Snapshot, after: Snapshot) -> list[Difference]:
    both = _tables_in_both(before, after)
    found: list[Difference] = []
    for old, new in _pairs(_on(before.indexes, both), _on(after.indexes, both), _index_key):
        index = old or new
        assert index is not None
        name = qualify(index.schema, index.name)
        table = qualify(index.schema, index.table)
        subkind = "unique" if index.unique else ""
        if old is None or new is None:
            found.append(_presence("index", name, table, old, index.definition, subkind))
        else:
            changes = _changes(
                ("table", old.table, new.table), ("definition", old.definition, new.definition)
            )
            found.append(_changed("index", name, table, changes, subkind))
    return _renamed(found, lambda d: _INDEX_NAME.sub("INDEX ON", d.detail, count=1))


_INDEX_NAME = re.compile(r"INDEX \S+ ON")


def _renamed(found: list[Difference], shape: Callable[[Difference], str]) -> list[Difference]:
    """One removed and one added object of the same kind, table and definition are one object
    with two names: a single difference says so, instead of "missing" plus "extra"."""

    def key(d: Difference) -> tuple[str, str | None, str, str]:
        return (d.kind, d.table, d.subkind, shape(d))

    removed = [d for d in found if d.status == "removed"]
    added = [d for d in found if d.status == "added"]
    partners: dict[int, Difference] = {}  # id of a removed difference -> its added twin
    for difference in removed:
        same = [d for d in added if key(d) == key(difference)]
        twins = [d for d in removed if key(d) == key(difference)]
        if len(same) == 1 and len(twins) == 1:
            partners[id(difference)] = same[0]
    # paired before the output is built: the added name may sort before the removed one
    paired = {id(new) for new in partners.values()}
    result: list[Difference] = []
    for difference in found:
        if id(difference) in paired:
            continue
        new = partners.get(id(difference))
        if new is None:
            result.append(difference)
            continue
        result.append(
            Difference(
                difference.kind,
                difference.name,
                difference.table,
                "renamed",
                difference.detail,
                difference.subkind,
                (("name", difference.name, new.name),),
            )
        )
    return result


def _index_key(index: Index) -> tuple[str | None, str]:
    return (index.schema, index.name)


@comparator
def _compare_triggers(before: Snapshot, after: Snapshot) -> list[Difference]:
    both = _tables_in_both(before, after)
    found: list[Difference] = []
    for old, new in _pairs(_on(before.triggers, both), _on(after.triggers, both), _trigger_key):
        trigger = old or new
        assert trigger is not None
        table = qualify(trigger.schema, trigger.table)
        if old is None or new is None:
            found.append(_presence("trigger", trigger.name, table, old, trigger.definition))
        else:
            changes = _changes(("definition", old.definition, new.definition))
            found.append(_changed("trigger", trigger.name, table, changes))
    return found


def _trigger_key(trigger: Trigger) -> tuple[str | None, str, str]:
    return (trigger.schema, trigger.table, trigger.name)


@comparator
def _compare_enums(before: Snapshot, after: Snapshot) -> list[Difference]:
    found: list[Difference] = []
    for old, new in _pairs(before.enums, after.enums, _schema_name):
        enum = old or new
        assert enum is not None
        name = qualify(enum.schema, enum.name)
        if old is None or new is None:
            found.append(_presence("enum", name, None, old, f"ENUM {_labels(enum)}"))
        else:
            changes = _changes(("labels", _labels(old), _labels(new)))
            found.append(_changed("enum", name, None, changes))
    return found


def _labels(enum: EnumType) -> str:
    return "(" + ", ".join("'" + label.replace("'", "''") + "'" for label in enum.labels) + ")"


def _schema_name(item: EnumType | UserType | Sequence | View) -> tuple[str | None, str]:
    return (item.schema, item.name)


@comparator
def _compare_types(before: Snapshot, after: Snapshot) -> list[Difference]:
    """Domains, composite and range types."""
    found: list[Difference] = []
    for old, new in _pairs(before.types, after.types, _schema_name):
        type_ = old or new
        assert type_ is not None
        name = qualify(type_.schema, type_.name)
        if old is None or new is None:
            found.append(_presence("type", name, None, old, type_.definition, type_.kind))
        else:
            changes = _changes(
                ("kind", old.kind, new.kind), ("definition", old.definition, new.definition)
            )
            found.append(_changed("type", name, None, changes, new.kind))
    return found


@comparator
def _compare_sequences(before: Snapshot, after: Snapshot) -> list[Difference]:
    """Sequences, minus those owned by a column that already differs (its serial/identity)."""
    old_columns, new_columns = _columns_by_key(before), _columns_by_key(after)
    found: list[Difference] = []
    for old, new in _pairs(before.sequences, after.sequences, _schema_name):
        sequence = old or new
        assert sequence is not None
        owners = {s.owned_by for s in (old, new) if s is not None and s.owned_by}
        if any(old_columns.get(owner) != new_columns.get(owner) for owner in owners):
            continue
        name = qualify(sequence.schema, sequence.name)
        owner = _owner(sequence)
        if old is None or new is None:
            found.append(_presence("sequence", name, owner, old, _sequence_detail(sequence)))
        else:
            changes = _changes(
                ("data type", old.data_type, new.data_type),
                ("increment", old.increment, new.increment),
                ("owned by", _owner_column(old), _owner_column(new)),
            )
            found.append(_changed("sequence", name, owner, changes))
    return found


def _columns_by_key(snap: Snapshot) -> dict[tuple[str | None, str, str], Column]:
    return {(t.schema, t.name, c.name): c for t in snap.tables for c in t.columns}


def _owner(sequence: Sequence) -> str | None:
    return qualify(*sequence.owned_by[:2]) if sequence.owned_by else None


def _owner_column(sequence: Sequence) -> str | None:
    if not sequence.owned_by:
        return None
    schema, table, column = sequence.owned_by
    return f"{qualify(schema, table)}.{column}"


def _sequence_detail(sequence: Sequence) -> str:
    detail = f"AS {sequence.data_type} INCREMENT BY {sequence.increment}"
    owner = _owner_column(sequence)
    return f"{detail} OWNED BY {owner}" if owner else detail


@comparator
def _compare_views(before: Snapshot, after: Snapshot) -> list[Difference]:
    found: list[Difference] = []
    for old, new in _pairs(before.views, after.views, _schema_name):
        view = old or new
        assert view is not None
        name = qualify(view.schema, view.name)
        subkind = "materialized" if view.materialized else ""
        if old is None or new is None:
            detail = _one_line(view.definition)
            found.append(_presence("view", name, None, old, detail, subkind))
        else:
            changes = _changes(
                ("materialized", old.materialized, new.materialized),
                ("definition", _one_line(old.definition), _one_line(new.definition)),
            )
            found.append(_changed("view", name, None, changes, subkind))
    return found


@comparator
def _compare_functions(before: Snapshot, after: Snapshot) -> list[Difference]:
    """Keyed by name and identity arguments; the body is compared by hash."""
    found: list[Difference] = []
    for old, new in _pairs(before.functions, after.functions, _function_key):
        function = old or new
        assert function is not None
        name = f"{qualify(function.schema, function.name)}({function.arguments})"
        if old is None or new is None:
            found.append(_presence("function", name, None, old, _function_detail(function)))
        else:
            changes = _changes(
                ("result", old.result, new.result),
                ("language", old.language, new.language),
                ("definition hash", old.body_hash, new.body_hash),
            )
            found.append(_changed("function", name, None, changes))
    return found


def _function_detail(function: Function) -> str:
    returns = f"RETURNS {function.result} " if function.result else ""
    return f"{returns}LANGUAGE {function.language}"


def _function_key(function: Function) -> tuple[str | None, str, str]:
    return (function.schema, function.name, function.arguments)


@comparator
def _compare_extensions(before: Snapshot, after: Snapshot) -> list[Difference]:
    return [
        _presence("extension", old or new or "", None, old, "")
        for old, new in _pairs(before.extensions, after.extensions, str)
    ]
