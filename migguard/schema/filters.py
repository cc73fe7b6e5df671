"""What env.py's ``include_object`` and ``include_name`` keep out of autogenerate.

A project tells autogenerate to leave some objects alone: a table another tool creates
(APScheduler's job store, PostGIS's ``spatial_ref_sys``), a model mapped onto a view, a column
and index a trigger maintains, a column the models dropped but another service still reads, a
schema of another application. ``schema-mismatch`` compares more than autogenerate does, but
not other objects: what the project keeps out of ``alembic revision --autogenerate`` is not a
mismatch either.

The filters are the project's own functions and read whatever Alembic hands them
(``object.info``, ``reflected``, ``compare_to``, the parents' names), so migguard does not call
them a second time with objects of its own making. While Alembic's own comparison runs at head
they are wrapped, and every object they turn away is recorded from the arguments Alembic gave
them: :func:`recording` (which then asks about the models' indexes and constraints that
comparison never asked about). :func:`without_excluded` cuts those objects out of a snapshot
(with ``include_schemas``, Alembic asks ``include_name`` about each schema; without it, it
reads the default schema only and asks about nothing else).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from migguard.schema.model import (
    Constraint,
    Snapshot,
    Table,
    constrained_columns,
    normalise_schema,
)

TableKey = tuple[str | None, str]

# Alembic's kinds of constraints, as include_object and include_name name them
_CONSTRAINT_KINDS = {"unique_constraint": "unique", "foreign_key_constraint": "foreign key"}


@dataclass
class Excluded:
    """The objects env.py's filters turned away, keyed like snapshot records (schema ``None``
    for the default one). A constraint the models leave unnamed is recorded by its kind and
    columns, which is how its catalog twin (``books_author_id_fkey``) is recognised."""

    schemas: set[str | None] = field(default_factory=set)
    tables: set[TableKey] = field(default_factory=set)
    names: dict[TableKey, set[str]] = field(default_factory=dict)  # columns, indexes, constraints
    unnamed: dict[TableKey, set[tuple[str, tuple[str, ...]]]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.schemas or self.tables or self.names or self.unnamed)

    def hides_table(self, key: TableKey) -> bool:
        schema = normalise_schema(key[0])
        return schema in self.schemas or (schema, key[1]) in self.tables

    def hides(self, table: TableKey, name: str) -> bool:
        """A column, index or named constraint of ``table``."""
        return name in self.names.get((normalise_schema(table[0]), table[1]), ())

    def hides_constraint(self, constraint: Constraint) -> bool:
        table = (constraint.schema, constraint.table)
        if self.hides(table, constraint.name):
            return True
        columns = constrained_columns(constraint.definition)
        return (constraint.type, columns) in self.unnamed.get(table, ())

    def _name(self, table: Any, name: str) -> None:
        key = (normalise_schema(getattr(table, "schema", None)), str(table.name))
        self.names.setdefault(key, set()).add(name)

    def record_object(self, obj: Any, name: Any, type_: str) -> None:
        """One ``include_object`` refusal."""
        if type_ == "table":
            self.tables.add((normalise_schema(obj.schema), str(name)))
            return
        table = getattr(obj, "table", None)
        if table is None:
            return
        if name is not None:
            self._name(table, str(name))
        elif type_ in _CONSTRAINT_KINDS:
            key = (normalise_schema(table.schema), str(table.name))
            columns = tuple(str(column.name) for column in obj.columns)
            self.unnamed.setdefault(key, set()).add((_CONSTRAINT_KINDS[type_], columns))

    def record_name(self, name: Any, type_: str, parent_names: dict[str, Any]) -> None:
        """One ``include_name`` refusal."""
        schema = normalise_schema(parent_names.get("schema_name"))
        if type_ == "schema":
            self.schemas.add(normalise_schema(name))
        elif type_ == "table":
            self.tables.add((schema, str(name)))
        elif name is not None and parent_names.get("table_name"):
            key = (schema, str(parent_names["table_name"]))
            self.names.setdefault(key, set()).add(str(name))


@contextmanager
def recording(opts: dict[str, Any], metadata: Any = None) -> Iterator[Excluded]:
    """Wrap the ``include_object`` and ``include_name`` of a MigrationContext's ``opts`` (what
    env.py passed to ``context.configure``) for the block, recording what they refuse; then
    ask ``include_object`` about the models' indexes and constraints Alembic did not ask
    about (:func:`_ask_about_models`)."""
    excluded = Excluded()
    include_object: Callable[..., Any] | None = opts.get("include_object")
    include_name: Callable[..., Any] | None = opts.get("include_name")

    def object_filter(obj: Any, name: Any, type_: str, reflected: bool, compare_to: Any) -> bool:
        assert include_object is not None
        kept = bool(include_object(obj, name, type_, reflected, compare_to))
        if not kept:
            excluded.record_object(obj, name, type_)
        return kept

    def name_filter(name: Any, type_: str, parent_names: dict[str, Any]) -> bool:
        assert include_name is not None
        kept = bool(include_name(name, type_, parent_names))
        if not kept:
            excluded.record_name(name, type_, parent_names)
        return kept

    originals = {"include_object": include_object, "include_name": include_name}
    wrappers = {"include_object": object_filter, "include_name": name_filter}
    wrapped = [key for key, original in originals.items() if original is not None]
    opts.update({key: wrappers[key] for key in wrapped})
    try:
        yield excluded
        if include_object is not None:
            _ask_about_models(object_filter, metadata, excluded)
    finally:
        opts.update({key: originals[key] for key in wrapped})


def _ask_about_models(
    include_object: Callable[..., Any], metadata: Any, excluded: Excluded
) -> None:
    """Alembic asks ``include_object`` about an index or a unique or foreign key constraint
    only when its comparison finds it added, removed or changed. A project often keeps one
    out precisely because autogenerate cannot see what matters about it (an operator class,
    a predicate) and so finds it unchanged, while the catalogs differ. Each of the models'
    indexes and constraints on a table still compared is asked about here the way Alembic
    asks about one it is about to add: ``(object, name, type_, False, None)``."""
    from sqlalchemy import ForeignKeyConstraint, UniqueConstraint

    metadatas = metadata if isinstance(metadata, list | tuple) else [metadata]
    for one in metadatas:
        for table in getattr(one, "tables", {}).values():
            if excluded.hides_table((table.schema, table.name)):
                continue
            asked: list[tuple[Any, str]] = [(index, "index") for index in table.indexes]
            for constraint in table.constraints:
                if isinstance(constraint, UniqueConstraint):
                    asked.append((constraint, "unique_constraint"))
                elif isinstance(constraint, ForeignKeyConstraint):
                    asked.append((constraint, "foreign_key_constraint"))
            for item, type_ in asked:
                try:
                    include_object(item, item.name, type_, False, None)
                except Exception:  # a filter that cannot answer this leaves the object in
                    continue


def without_excluded(snap: Snapshot, excluded: Excluded) -> Snapshot:
    """``snap`` minus what the filters turned away: whole tables (and schemas), and on the
    other tables the columns, indexes and constraints they refused."""
    if not excluded:
        return snap

    def kept_table(table: Table) -> Table:
        columns = tuple(c for c in table.columns if not excluded.hides(table.key, c.name))
        return table if columns == table.columns else dataclasses.replace(table, columns=columns)

    def on_kept(item: Any) -> bool:
        return not excluded.hides_table((item.schema, item.table))

    return dataclasses.replace(
        snap,
        tables=tuple(kept_table(t) for t in snap.tables if not excluded.hides_table(t.key)),
        constraints=tuple(
            c for c in snap.constraints if on_kept(c) and not excluded.hides_constraint(c)
        ),
        indexes=tuple(
            i
            for i in snap.indexes
            if on_kept(i) and not excluded.hides((i.schema, i.table), i.name)
        ),
        triggers=tuple(t for t in snap.triggers if on_kept(t)),
    )
