"""Cutting a snapshot down: to some tables (:func:`restrict`), without some tables, or to
some schemas.

``schema-mismatch`` compares "migrations at head" with "``create_all`` of the models", and
``create_all`` only builds the models' tables, the enum/domain types their columns use and the
sequences they own or default from. Everything else the migrations made (views, functions,
triggers, extensions, tables the models do not map) is not a mismatch, so both sides are
restricted to the models' tables before diffing.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable

from migguard.schema.model import Sequence, Snapshot, Table, normalise_schema, qualify

TableKey = tuple[str | None, str]

_NEXTVAL = re.compile(r"nextval\('((?:[^']|'')+)'")


def restrict(snap: Snapshot, tables: set[tuple[str | None, str]]) -> Snapshot:
    """Only ``tables`` (``(schema, name)``, schema ``None``/``"public"`` for the default),
    their constraints and indexes, the enum and other types their columns use, and the
    sequences they own or take defaults from. Views, functions, triggers and extensions go."""
    keys = {(normalise_schema(schema), name) for schema, name in tables}
    kept = _keep_tables(snap, lambda key: key in keys)
    used_types = _type_references(kept.tables)
    return dataclasses.replace(
        kept,
        enums=tuple(e for e in kept.enums if _referenced(e.schema, e.name, used_types)),
        types=tuple(t for t in kept.types if _referenced(t.schema, t.name, used_types)),
        sequences=tuple(s for s in kept.sequences if _sequence_used(s, keys, kept.tables)),
        views=(),
        functions=(),
        triggers=(),
        extensions=(),
    )


def without_tables(snap: Snapshot, names: frozenset[str]) -> Snapshot:
    """Drop tables named ``name`` (any schema) or ``schema.name``, with everything on them:
    the version table is bookkeeping, not schema."""
    if not names:
        return snap

    def keep(key: TableKey) -> bool:
        return key[1] not in names and qualify(*key) not in names

    if all(keep(t.key) for t in snap.tables):
        return snap
    return _keep_tables(snap, keep)


def only_schemas(snap: Snapshot, schemas: Iterable[str]) -> Snapshot:
    """Objects of ``schemas`` only (extensions, being database-wide, are kept)."""
    wanted = {normalise_schema(schema) for schema in schemas}
    kept = _keep_tables(snap, lambda key: key[0] in wanted)
    return dataclasses.replace(
        kept,
        enums=tuple(e for e in kept.enums if e.schema in wanted),
        types=tuple(t for t in kept.types if t.schema in wanted),
        sequences=tuple(s for s in kept.sequences if s.schema in wanted),
        views=tuple(v for v in kept.views if v.schema in wanted),
        functions=tuple(f for f in kept.functions if f.schema in wanted),
    )


def _keep_tables(snap: Snapshot, keep: Callable[[TableKey], bool]) -> Snapshot:
    """Tables passing ``keep`` and their constraints, indexes, triggers and owned sequences."""
    return dataclasses.replace(
        snap,
        tables=tuple(t for t in snap.tables if keep(t.key)),
        constraints=tuple(c for c in snap.constraints if keep((c.schema, c.table))),
        indexes=tuple(i for i in snap.indexes if keep((i.schema, i.table))),
        triggers=tuple(t for t in snap.triggers if keep((t.schema, t.table))),
        sequences=tuple(s for s in snap.sequences if s.owned_by is None or keep(s.owned_by[:2])),
    )


def _type_references(tables: Iterable[Table]) -> set[str]:
    """Column type names without array brackets and quotes: ``"My Type"[]`` -> ``My Type``."""
    return {_bare(column.type) for table in tables for column in table.columns}


def _bare(type_name: str) -> str:
    while type_name.endswith("[]"):
        type_name = type_name[:-2]
    return type_name.replace('"', "")


def _referenced(schema: str | None, name: str, references: set[str]) -> bool:
    """``format_type`` omits the schema when it is on the search path, so accept both."""
    return name in references or qualify(schema, name) in references


def _sequence_used(sequence: Sequence, keys: set[TableKey], tables: Iterable[Table]) -> bool:
    if sequence.owned_by is not None:
        return sequence.owned_by[:2] in keys
    defaults = {
        _bare(match.replace("''", "'"))
        for table in tables
        for column in table.columns
        if column.default
        for match in _NEXTVAL.findall(column.default)
    }
    return _referenced(sequence.schema, sequence.name, defaults)
