"""The release's schema contract, exercised: what its ORM sends, each in a savepoint.

First every empty table gets rows as the production rehearsal writes them
(:mod:`migguard.rehearsal.rows`), so the statements meet tables that hold data. Then, for
every mapped class: the ORM's SELECT of its mapped columns, an INSERT as the ORM issues
it (the columns the application must set, Python-side defaults, explicit NULLs), an UPDATE of
its mapped columns, a DELETE; for each relationship the SELECT through its foreign key (or
association table) and, for association tables, the INSERT and DELETE of a link. Tables of
the metadata that no class maps get the SELECT of their columns. Everything is rolled back.

A failure is only called a break when the database proves it is the schema's doing: a mapped
table or column that does not exist (checked in the catalog after the failure), or a NOT NULL
column the model does not map at all, so that no INSERT of the release can fill it. Any other
failure (a value the generated row cannot satisfy, a type the row cannot be built for) is
"unjudged": it may be this exercise's fault, and it never becomes a finding.
"""

from __future__ import annotations

import inspect as pyinspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from migguard.deploy.models import (
    Declared,
    attribute_declared,
    class_declared,
    table_column_declared,
)
from migguard.deploy.objects import Objects, Unbuildable, leaves_to_database
from migguard.rehearsal import rows

_UNDEFINED_COLUMN, _UNDEFINED_TABLE, _NOT_NULL = "42703", "42P01", "23502"


@dataclass
class Cause:
    """What the schema lacks, and which declaration of the release needs it."""

    kind: str  # "missing-table", "missing-column", "not-null", "lost-default"
    table: str
    column: str | None
    declared: Declared


@dataclass
class Check:
    """One statement the release sends, and what the database said to it."""

    model: str
    statement: str  # SELECT, INSERT, UPDATE, DELETE
    attribute: str | None  # the relationship it goes through, if any
    status: str  # ok, broken, unjudged, not-run
    declared: Declared
    error: str | None = None
    causes: list[Cause] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.model}.{self.attribute}" if self.attribute else self.model

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Exercised:
    """The checks, and the tables the rehearsal's fill left empty (each with why)."""

    checks: list[Check]
    left_empty: list[str]


def exercise(connection: Any, mappers: list[Any], tables: list[Any]) -> Exercised:
    """Every check of every class, in one transaction that is rolled back: first every
    empty table gets rows as the production rehearsal writes them, so the statements meet
    tables that hold data, as the running release does."""
    checks: list[Check] = []
    outer = connection.begin()
    try:
        described, empty = rows.fill_every_table(
            connection.connection.dbapi_connection,
            batched=connection.dialect.driver == "psycopg2",
        )
        objects = Objects(described)
        for mapper in mappers:
            checks += _exercise_class(connection, mapper, objects)
        linked = {id(rel.secondary) for m in mappers for rel in m.relationships}
        mapped = {id(t) for m in mappers for t in m.tables} | linked
        for table in tables:
            if id(table) not in mapped:
                checks.append(_select_table(connection, table))
    finally:
        outer.rollback()
    labels = {t.oid: t.label for t in described}
    return Exercised(checks, [f"{labels[oid]} ({why})" for oid, why in sorted(empty.items())])


def _exercise_class(connection: Any, mapper: Any, objects: Objects) -> list[Check]:
    from sqlalchemy import select
    from sqlalchemy.orm import undefer

    cls = mapper.class_
    where = class_declared(cls)
    name = cls.__name__
    checks = [
        _attempt(
            connection,
            Check(name, "SELECT", None, "ok", where),
            mapper,
            lambda s: s.execute(select(cls).options(undefer("*")).limit(3)).scalars().all(),
        )
    ]
    checks += _write_chain(connection, mapper, objects, where)
    return checks


def _write_chain(connection: Any, mapper: Any, objects: Objects, where: Declared) -> list[Check]:
    """INSERT, UPDATE, the relationships, DELETE: one object's life, stopped at the first
    statement that fails (the ones after it need the row)."""
    from sqlalchemy.exc import DBAPIError

    name = mapper.class_.__name__
    stages = [Check(name, kind, None, "not-run", where) for kind in ("INSERT", "UPDATE")]
    delete = Check(name, "DELETE", None, "not-run", where)
    related: list[Check] = []
    current = stages[0]
    failure: DBAPIError | None = None
    with _savepoint(connection) as session:
        try:
            obj = objects.build(session, mapper)
            session.add(obj)
            session.flush()
            current.status = "ok"
            current = stages[1]
            if objects.change(session, obj, mapper):
                session.flush()
                current.status = "ok"
            for relationship in mapper.relationships:
                related += _relationship_checks(session, mapper, obj, relationship, objects, where)
            current = delete
            session.delete(obj)
            session.flush()
            current.status = "ok"
        except Unbuildable as exc:
            current.status, current.error = "unjudged", f"no row could be built: {exc}"
        except DBAPIError as exc:
            failure = exc
        except Exception as exc:
            current.status, current.error = "unjudged", _describe(exc)
    if failure is not None:  # the savepoint is rolled back: the catalog can be read
        _judge(current, failure, _Unit(mapper), connection)
    return [*stages, *related, delete]


def _relationship_checks(
    session: Any, mapper: Any, obj: Any, relationship: Any, objects: Objects, where: Declared
) -> list[Check]:
    """The SELECT through the relationship's foreign key or association table, and for an
    association table the INSERT of a link, each in its own savepoint."""
    from sqlalchemy import select
    from sqlalchemy.orm import with_parent

    cls = mapper.class_
    key = relationship.key
    attribute = attribute_declared(cls, key)
    target = relationship.mapper
    related = _Related(target, relationship)
    checks = [
        _attempt_nested(
            session,
            Check(cls.__name__, "SELECT", key, "ok", attribute),
            related,
            lambda: session.execute(
                select(target.class_).where(with_parent(obj, getattr(cls, key))).limit(3)
            ).all(),
        )
    ]
    if relationship.secondary is not None and not relationship.viewonly:

        def link() -> None:
            other = objects.build(session, target)
            session.add(other)
            if relationship.uselist:
                collection = getattr(obj, key)
                add = getattr(collection, "append", None) or collection.add
                add(other)
            else:
                setattr(obj, key, other)
            session.flush()

        insert = Check(cls.__name__, "INSERT", key, "ok", attribute)
        checks.append(_attempt_nested(session, insert, related, link))
    return checks


@dataclass
class _Unit:
    """What the ORM's unit of work touches when it writes an object: its own tables, and on
    DELETE the tables of every relationship it loads to cascade or unlink."""

    mapper: Any


@dataclass
class _Related:
    """What a relationship's statements touch: the target's mapping and the link table."""

    mapper: Any
    relationship: Any


def _attempt(connection: Any, check: Check, subject: Any, body: Callable[[Any], Any]) -> Check:
    from sqlalchemy.exc import DBAPIError

    failure: DBAPIError | None = None
    with _savepoint(connection) as session:
        try:
            body(session)
        except DBAPIError as exc:
            failure = exc
        except Exception as exc:
            check.status, check.error = "unjudged", _describe(exc)
    if failure is not None:
        _judge(check, failure, subject, connection)
    return check


def _attempt_nested(
    session: Any, check: Check, related: _Related, body: Callable[[], Any]
) -> Check:
    from sqlalchemy.exc import DBAPIError

    nested = session.begin_nested()
    try:
        body()
    except DBAPIError as exc:
        nested.rollback()
        _judge(check, exc, related, session.connection())
        return check
    except Unbuildable as exc:
        check.status, check.error = "unjudged", f"no row could be built: {exc}"
    except Exception as exc:
        check.status, check.error = "unjudged", _describe(exc)
    if nested.is_active:
        nested.rollback()
    return check


@contextmanager
def _savepoint(connection: Any) -> Iterator[Any]:
    """A Session inside a SAVEPOINT of the exercise's transaction, always rolled back."""
    from sqlalchemy.orm import Session

    savepoint = connection.begin_nested()
    options: dict[str, Any] = {"bind": connection, "autoflush": False}
    if "join_transaction_mode" in pyinspect.signature(Session.__init__).parameters:
        options["join_transaction_mode"] = "create_savepoint"
    session = Session(**options)
    try:
        yield session
    finally:
        session.close()
        if savepoint.is_active:
            savepoint.rollback()


def _judge(check: Check, exc: Any, subject: Any, connection: Any) -> None:
    """broken (with its causes) when the catalog proves the schema is at fault, else
    unjudged. Runs after the failed savepoint is rolled back, so the catalog can be read."""
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)
    check.error = _describe(exc)
    check.status = "unjudged"
    if code in (_UNDEFINED_COLUMN, _UNDEFINED_TABLE):
        check.causes = _missing(connection, subject)
    elif code == _NOT_NULL:
        check.causes = _unmapped_not_null(orig, subject)
    if check.causes:
        check.status = "broken"


def _missing(connection: Any, subject: Any) -> list[Cause]:
    """The mapped tables and columns the database does not have."""
    from sqlalchemy import inspect

    inspector = inspect(connection)
    causes: list[Cause] = []
    for table, owner, keyed in _mapped_columns(subject):
        try:
            present = {c["name"] for c in inspector.get_columns(table.name, schema=table.schema)}
        except Exception:  # NoSuchTableError
            causes.append(Cause("missing-table", _qualified(table), None, owner))
            continue
        for column_name, declared in keyed:
            if column_name not in present:
                causes.append(Cause("missing-column", _qualified(table), column_name, declared))
    unique = {(c.kind, c.table, c.column): c for c in reversed(causes)}
    return list(reversed(unique.values()))


def _mapped_columns(subject: Any) -> list[tuple[Any, Declared, list[tuple[str, Declared]]]]:
    """(table, who declares the table, [(column, who declares it)]) for what a statement of
    ``subject`` (a mapper, a relationship, or a Core table) names."""
    from sqlalchemy import Table

    if isinstance(subject, Table):
        return [
            (
                subject,
                table_column_declared(subject, None),
                [(c.name, table_column_declared(subject, c.name)) for c in subject.columns],
            )
        ]
    if isinstance(subject, _Unit):
        found = _mapped_columns(subject.mapper)
        for relationship in subject.mapper.relationships:
            found += _relationship_tables(relationship)
        return found
    if isinstance(subject, _Related):
        return _mapped_columns(subject.relationship.parent) + _relationship_tables(
            subject.relationship
        )
    cls = subject.class_
    found = []
    for table in subject.tables:
        if not isinstance(table, Table):
            continue
        keyed = []
        for column in table.columns:
            try:
                prop = subject.get_property_by_column(column)
            except Exception:
                continue  # a column of the table the class does not map: the ORM never names it
            keyed.append((column.name, attribute_declared(cls, prop.key)))
        found.append((table, class_declared(cls), keyed))
    return found


def _relationship_tables(relationship: Any) -> list[Any]:
    """The target's mapped tables and the association table a relationship goes through."""
    from sqlalchemy import Table

    found = _mapped_columns(relationship.mapper)
    secondary = relationship.secondary
    if isinstance(secondary, Table):
        link = attribute_declared(relationship.parent.class_, relationship.key)
        found.append((secondary, link, [(c.name, link) for c in secondary.columns]))
    return found


def _unmapped_not_null(orig: Any, subject: Any) -> list[Cause]:
    """A NOT NULL violation on a column no INSERT of this release can ever fill: one the
    model does not map, or one it maps but leaves to the database (an autoincrement key, a
    server default) that has no default in the new schema. Any other mapped column is the
    application's to fill, and the generated row may be at fault: unprovable."""
    diag = getattr(orig, "diag", None)
    column = getattr(diag, "column_name", None)
    table_name = getattr(diag, "table_name", None)
    if not column or not table_name:
        return []
    for table, owner, keyed in _mapped_columns(subject):
        if table.name != table_name:
            continue
        declared = dict(keyed)
        if column not in declared:
            return [Cause("not-null", _qualified(table), column, owner)]
        mapped = table.columns.get(column)
        if mapped is not None and leaves_to_database(mapped):
            return [Cause("lost-default", _qualified(table), column, declared[column])]
        return []
    return []


def _select_table(connection: Any, table: Any) -> Check:
    """A Core table no class maps: the SELECT of its columns that code using it sends."""
    from sqlalchemy import select

    where = table_column_declared(table, None)
    check = Check(f"table {table.name}", "SELECT", None, "ok", where)
    return _attempt(connection, check, table, lambda s: s.execute(select(table).limit(3)).all())


def _qualified(table: Any) -> str:
    return f"{table.schema}.{table.name}" if table.schema else table.name


def _describe(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return f"{type(orig or exc).__name__}: {text[0] if text else ''}".strip()
