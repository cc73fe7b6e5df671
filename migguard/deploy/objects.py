"""New objects of a mapped class, filled the way the application must fill them.

The ORM writes what the object holds plus the model's Python-side defaults, and an explicit
NULL for every other column it maps: so only columns that are NOT NULL in the model and have
no default of either kind get a value here, as application code must give them one.

The values come from the production rehearsal's generator (:func:`rows.one_more_row`): the
row the rehearsal would write next into that table at the schema being exercised, past the
rows the fill already wrote there, its foreign keys pointing at parent rows the fill wrote.
They are read back through the model's own column types, so the ORM binds Python values as it
binds what the application assigns (an enum member, a UUID, a datetime).
"""

from __future__ import annotations

from typing import Any

from migguard.rehearsal import catalog, rows

_ROW_NUMBERS = 24  # rows past the fill's: small, so dates and times stay valid (see values)


class Unbuildable(Exception):
    """No row can be written for the class (a type without values, a table the generated
    values do not fit): its write statements are not judged."""


class Objects:
    """Builds objects against one schema, described by the catalog as read after the fill."""

    def __init__(self, tables: list[catalog.Table]) -> None:
        self._by_oid = {t.oid: t for t in tables}
        self._tables = tables
        self._next = 0

    def build(self, session: Any, mapper: Any) -> Any:
        """A pending object of ``mapper``'s class with the columns the application sets."""
        wanted = [
            (prop.key, prop.columns[0])
            for prop in mapper.column_attrs
            if _is_table_column(prop.columns[0]) and _application_sets(prop.columns[0], mapper)
        ]
        obj = _new_instance(mapper)
        found = self._values(session, wanted)
        missing = [key for key, _ in wanted if key not in found]
        if missing:
            raise Unbuildable(f"{mapper.class_.__name__}: no value for {', '.join(missing)}")
        for key, value in found.items():
            setattr(obj, key, value)
        return obj

    def change(self, session: Any, obj: Any, mapper: Any) -> list[str]:
        """Give every plain mapped column a new value (an UPDATE of what the model maps);
        the attribute keys changed."""
        wanted = [
            (prop.key, prop.columns[0])
            for prop in mapper.column_attrs
            if _is_table_column(prop.columns[0]) and _plain(prop.columns[0], mapper)
        ]
        found = self._values(session, wanted)
        for key, value in found.items():
            setattr(obj, key, value)
        return list(found)

    def _values(self, session: Any, wanted: list[tuple[str, Any]]) -> dict[str, Any]:
        """The next generated row's values for ``wanted`` (attribute key, mapped column), as
        the columns' types read them. A column the database lacks gets None (the statement
        fails on its name, whatever the value); one it has but no value can be made for is
        left out."""
        from sqlalchemy import literal_column, null, select, type_coerce
        from sqlalchemy.exc import DBAPIError

        if not wanted:
            return {}
        row = rows.ROWS + self._next % _ROW_NUMBERS
        self._next += 1
        literals: dict[int, dict[str, str] | None] = {}
        selected: list[tuple[str, Any]] = []
        cursor = session.connection().connection.dbapi_connection.cursor()
        try:
            for key, column in wanted:
                if id(column.table) not in literals:
                    table = self._table(column.table)
                    literals[id(column.table)] = (
                        rows.one_more_row(cursor, table, self._by_oid, row) if table else None
                    )
                table_literals = literals[id(column.table)]
                present = table_literals is not None and self._has(column)
                literal = table_literals.get(column.name) if table_literals else None
                if present and literal is None:
                    continue
                expression = literal_column(literal) if literal else null()
                selected.append((key, type_coerce(expression, column.type)))
        except Exception as exc:
            raise Unbuildable(f"no row generated for {wanted[0][1].table.name}: {exc}") from None
        finally:
            cursor.close()
        if not selected:
            return {}
        statement = select(*(expr.label(f"v{i}") for i, (_, expr) in enumerate(selected)))
        try:
            values = session.execute(statement).one()
        except DBAPIError as exc:
            raise Unbuildable(f"the generated values were refused: {exc.orig}") from None
        return {key: value for (key, _), value in zip(selected, values, strict=True)}

    def _table(self, table: Any) -> catalog.Table | None:
        """The catalog's table for a model's table: by schema and name (no schema: the
        ``public`` one, or the only one of that name)."""
        named = [t for t in self._tables if t.name == table.name]
        if table.schema:
            return next((t for t in named if t.schema == table.schema), None)
        public = [t for t in named if t.schema == "public"]
        return (public or named)[0] if len(public or named) == 1 else None

    def _has(self, column: Any) -> bool:
        table = self._table(column.table)
        return table is not None and any(c.name == column.name for c in table.columns)


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


def _plain(column: Any, mapper: Any) -> bool:
    """A column an UPDATE of the application may set: not a key, not computed, not the
    ORM's own bookkeeping."""
    return not (
        column.primary_key
        or column.foreign_keys
        or column.computed is not None
        or column is getattr(mapper, "version_id_col", None)
        or column is getattr(mapper, "polymorphic_on", None)
    )


def leaves_to_database(column: Any) -> bool:
    """Whether the model leaves this column's value to the schema (a server default, a
    generated value, an autoincrement key) and sends no Python-side default: the ORM of that
    release leaves it out of its INSERTs, relying on the database to fill it."""
    if column.default is not None:
        return False  # the ORM sends the Python-side default
    if column.server_default is not None or column.computed is not None:
        return True
    if getattr(column, "identity", None) is not None:
        return True
    if column.primary_key and not column.foreign_keys:
        table = column.table
        return column is getattr(table, "autoincrement_column", table._autoincrement_column)
    return False


def _application_sets(column: Any, mapper: Any) -> bool:
    """Whether application code must give this column a value for the INSERT to be valid
    under the model's own declaration."""
    if column.default is not None or leaves_to_database(column):
        return False
    if column is getattr(mapper, "polymorphic_on", None):
        return False
    if column.primary_key:
        return not column.foreign_keys  # joined inheritance: the ORM copies the parent's key
    return not column.nullable
