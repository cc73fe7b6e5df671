"""New objects of a mapped class, filled the way the application must fill them.

The ORM writes what the object holds plus the model's Python-side defaults, and an explicit
NULL for every other column it maps: so only columns that are NOT NULL in the model and have
no default of either kind get a value here, as application code must give them one. Foreign
keys point at a parent object built the same way (the relationship's INSERT order), so the
child's INSERT names real parents.
"""

from __future__ import annotations

from typing import Any

from migguard.deploy.values import NoValue, Values

_MAX_DEPTH = 4  # parents of parents: deep enough for real schemas, finite for cyclic ones


class Unbuildable(Exception):
    """No row can be written for the class (a type without values, a parent table that is
    not mapped and holds no row): its write statements are not judged."""


class Rows:
    """Builds objects for one exercise; remembers nothing between exercises."""

    def __init__(self, mappers: list[Any]) -> None:
        self.values = Values()
        self._by_table = {id(m.local_table): m for m in mappers}

    def build(self, session: Any, mapper: Any, depth: int = 0) -> Any:
        """A pending object of ``mapper``'s class, its parents already flushed."""
        if depth > _MAX_DEPTH:
            raise Unbuildable(f"{mapper.class_.__name__}: foreign keys nest too deep")
        obj = _new_instance(mapper)
        for prop in mapper.column_attrs:
            column = prop.columns[0]
            if not _is_table_column(column) or not _application_sets(column, mapper):
                continue
            value = self._foreign_value(session, mapper, column, depth)
            if value is None:
                value = self._fresh(column)
            setattr(obj, prop.key, value)
        return obj

    def change(self, obj: Any, mapper: Any) -> list[str]:
        """Give every plain mapped column a new value (an UPDATE of what the model maps);
        the attribute keys changed."""
        changed = []
        for prop in mapper.column_attrs:
            column = prop.columns[0]
            if (
                not _is_table_column(column)
                or column.primary_key
                or column.foreign_keys
                or column.computed is not None
                or column is getattr(mapper, "version_id_col", None)
                or column is getattr(mapper, "polymorphic_on", None)
            ):
                continue
            try:
                setattr(obj, prop.key, self.values.fresh(column, second=True))
            except NoValue:
                continue
            changed.append(prop.key)
        return changed

    def _fresh(self, column: Any) -> Any:
        try:
            return self.values.fresh(column)
        except NoValue as exc:
            raise Unbuildable(f"{column.table.name}.{column.name}: {exc}") from None

    def _foreign_value(self, session: Any, mapper: Any, column: Any, depth: int) -> Any:
        """The referenced key of a parent row for a foreign key column, or None when the
        column is no foreign key."""
        if not column.foreign_keys:
            return None
        foreign_key = next(iter(column.foreign_keys))
        target = foreign_key.column
        parent_mapper = self._by_table.get(id(target.table))
        if parent_mapper is not None:
            parent = self.build(session, parent_mapper, depth + 1)
            session.add(parent)
            session.flush()
            return getattr(parent, parent_mapper.get_property_by_column(target).key)
        from sqlalchemy import select

        existing = session.execute(select(target).limit(1)).scalar()
        if existing is None:
            raise Unbuildable(f"{column.table.name}.{column.name} needs a row in {target.table}")
        return existing


def _new_instance(mapper: Any) -> Any:
    """The class as application code makes it (``User()``); when its constructor needs
    arguments, a bare instance with the polymorphic identity the constructor would set."""
    try:
        return mapper.class_()
    except Exception:
        obj = mapper.class_manager.new_instance()
        from sqlalchemy import inspect

        set_identity = getattr(mapper, "_set_polymorphic_identity", None)
        if set_identity is not None:
            set_identity(inspect(obj))
        return obj


def _is_table_column(column: Any) -> bool:
    from sqlalchemy import Column, Table

    return isinstance(column, Column) and isinstance(column.table, Table)


def _application_sets(column: Any, mapper: Any) -> bool:
    """Whether application code must give this column a value for the INSERT to be valid
    under the model's own declaration."""
    if column.default is not None or column.server_default is not None:
        return False
    if column.computed is not None or getattr(column, "identity", None) is not None:
        return False
    if column is getattr(mapper, "polymorphic_on", None):
        return False
    if column.primary_key:
        if column.foreign_keys:  # joined inheritance: the ORM copies the parent's key
            return False
        table = column.table
        return column is not getattr(table, "autoincrement_column", table._autoincrement_column)
    return not column.nullable
