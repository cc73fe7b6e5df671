"""The plain data a schema snapshot is made of, and the :class:`Difference` a diff reports.

Every record is a frozen dataclass of strings, booleans and tuples, and a :class:`Snapshot`
holds each kind as a tuple sorted by key. That makes two snapshots of the same schema equal
(``==`` is a cheap tuple comparison, which the runner does ~600 times on a long history),
hashable, deterministic in order whatever order the catalog returned rows in, and picklable.

Schema names are normalised: ``None`` stands for the default schema (``public`` on PostgreSQL,
``main`` on SQLite), the same convention SQLAlchemy's ``Table.schema`` uses, so
``(table.schema, table.name)`` from a model is directly a snapshot key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

DEFAULT_SCHEMAS = frozenset({"public", "main"})


def normalise_schema(
    schema: str | None, default: str | frozenset[str] = DEFAULT_SCHEMAS
) -> str | None:
    """``None`` for the default schema, so models and catalogs key tables the same way."""
    defaults = frozenset({default}) if isinstance(default, str) else default
    return None if schema is None or schema in defaults else schema


def qualify(schema: str | None, name: str) -> str:
    """``name`` in the default schema, ``schema.name`` elsewhere: how names read in messages."""
    return name if schema is None else f"{schema}.{name}"


def sort_key(record: Any) -> tuple[str, ...]:
    """Order of records in a snapshot: by schema (default first), table, name, arguments.

    That is each kind's identity, so the order is total and does not depend on the order the
    catalog returned rows in.
    """
    return (
        record.schema or "",
        getattr(record, "table", ""),
        record.name,
        getattr(record, "arguments", ""),
    )


@dataclass(frozen=True)
class Column:
    """One column; tables keep columns sorted by name because column order is not schema."""

    name: str
    type: str
    nullable: bool
    default: str | None = None
    identity: str | None = None  # "ALWAYS" / "BY DEFAULT"
    generated: str | None = None  # "(a * 2) STORED": expression and kind of a generated column
    collation: str | None = None  # only when it differs from the type's default

    def definition(self) -> str:
        """``varchar(20) NOT NULL DEFAULT 'x'``, close to how DDL would write it."""
        parts = [self.type]
        if self.collation:
            parts.append(f'COLLATE "{self.collation}"')
        if self.generated is not None:
            parts.append(f"GENERATED ALWAYS AS {self.generated}")
        if self.identity:
            parts.append(f"GENERATED {self.identity} AS IDENTITY")
        if not self.nullable:
            parts.append("NOT NULL")
        if self.default is not None:
            parts.append(f"DEFAULT {self.default}")
        return " ".join(parts)


@dataclass(frozen=True)
class Table:
    schema: str | None
    name: str
    columns: tuple[Column, ...]
    kind: str = "table"  # "table" or "partitioned table"

    @property
    def key(self) -> tuple[str | None, str]:
        return (self.schema, self.name)

    @property
    def qualified(self) -> str:
        return qualify(self.schema, self.name)


@dataclass(frozen=True)
class Constraint:
    """PK, FK, unique, check or exclusion constraint; ``definition`` is the catalog's DDL."""

    schema: str | None
    table: str
    name: str
    type: str  # "primary key", "foreign key", "unique", "check", "exclusion"
    definition: str


_CONSTRAINED = re.compile(
    r"^(?:PRIMARY KEY|UNIQUE(?: NULLS NOT DISTINCT)?|FOREIGN KEY) \(([^)]*)\)"
)


def constrained_columns(definition: str) -> tuple[str, ...]:
    """The columns of a catalog constraint definition (``FOREIGN KEY (author_id) REFERENCES
    authors(id)``, ``UNIQUE ("Order", sku)``), unquoted; ``()`` for other kinds."""
    found = _CONSTRAINED.match(definition)
    if found is None:
        return ()
    return tuple(part.strip().strip('"') for part in found.group(1).split(","))


@dataclass(frozen=True)
class Index:
    """An index that does not back a constraint (those are listed as constraints)."""

    schema: str | None
    table: str
    name: str
    unique: bool
    definition: str


@dataclass(frozen=True)
class EnumType:
    schema: str | None
    name: str
    labels: tuple[str, ...]  # in sort order: label order is part of the type


@dataclass(frozen=True)
class UserType:
    """Domains, composite and range types: compared by name and a rendered definition."""

    schema: str | None
    name: str
    kind: str  # "domain", "composite", "range"
    definition: str


@dataclass(frozen=True)
class Sequence:
    schema: str | None
    name: str
    data_type: str
    increment: str
    # (schema, table, column) of the column that owns it (serial / identity / OWNED BY)
    owned_by: tuple[str | None, str, str] | None = None


@dataclass(frozen=True)
class View:
    schema: str | None
    name: str
    materialized: bool
    definition: str


@dataclass(frozen=True)
class Function:
    """A function or procedure, keyed by name and identity arguments (overloads differ)."""

    schema: str | None
    name: str
    arguments: str
    result: str
    language: str
    body_hash: str  # of the full definition: body, volatility, security, ...


@dataclass(frozen=True)
class Trigger:
    schema: str | None
    table: str
    name: str
    definition: str


@dataclass(frozen=True)
class Snapshot:
    """A whole schema as sorted tuples of records; ``==`` means "same schema".

    ``extensions`` holds bare extension names: extensions are database-wide and the engine
    installs them by name before ``create_all``.
    """

    tables: tuple[Table, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    indexes: tuple[Index, ...] = ()
    enums: tuple[EnumType, ...] = ()
    types: tuple[UserType, ...] = ()
    sequences: tuple[Sequence, ...] = ()
    views: tuple[View, ...] = ()
    extensions: tuple[str, ...] = ()
    functions: tuple[Function, ...] = ()
    triggers: tuple[Trigger, ...] = ()


# (attribute, value before, value after), e.g. ("type", "varchar(100)", "varchar(200)")
Change = tuple[str, str, str]


@dataclass(frozen=True)
class Difference:
    """One object that differs between two snapshots.

    ``before``/``after`` mean different things to the two rules that use a diff, so the
    sentence is built by :meth:`describe_roundtrip` (before upgrade vs after up+down) or
    :meth:`describe_models` (migrations at head vs ``create_all``) rather than stored.
    ``subkind`` refines the noun ("check" constraint, "materialized" view, "domain" type) and
    ``changes`` keeps each changed attribute's two values for the models phrasing.
    """

    kind: str
    name: str
    table: str | None
    # "added" (only in after), "removed" (only in before), "changed", "renamed" (the same
    # object under another name in after: ``changes`` holds the two names)
    status: str
    detail: str
    subkind: str = ""
    changes: tuple[Change, ...] = ()

    @property
    def noun(self) -> str:
        """``check constraint``, ``unique index``, ``column``..."""
        return _NOUNS.get((self.kind, self.subkind)) or _NOUNS.get((self.kind, "")) or self.kind

    @property
    def label(self) -> str:
        """``check constraint ck_books_pages on books``, ``column books.isbn``, ..."""
        if self.table and self.kind not in ("column", "table"):
            return f"{self.noun} {self.name} on {self.table}"
        return f"{self.noun} {self.name}"

    @property
    def new_name(self) -> str:
        """For a ``renamed`` difference, the name on the ``after`` side."""
        return next((after for attribute, _, after in self.changes if attribute == "name"), "")

    def describe_roundtrip(self) -> str:
        """Phrased for "upgrade then downgrade should be a no-op"."""
        if self.status == "renamed":
            return f"{self.label} comes back named {self.new_name}: {self.detail}"
        if self.status == "added":
            return f"{self.label} left behind"
        if self.status == "removed":
            return f"{self.label} lost"
        return f"{self.label} changed: {self.detail}"

    def describe_models(self) -> str:
        """Phrased for "the migrations at head should build what the models build"."""
        if self.status == "renamed":
            on = f" on {self.table}" if self.table else ""
            return (
                f"{self.noun}{on} is named {self.name} by the migrations, {self.new_name} by "
                f"the models: {self.detail}"
            )
        if self.status == "added":
            return _with_detail(
                f"{self.label} is in the models but not created by the migrations", self.detail
            )
        if self.status == "removed":
            return _with_detail(
                f"{self.label} is created by the migrations but not in the models", self.detail
            )
        if not self.changes:
            return f"{self.label} differs: {self.detail}"
        return "; ".join(
            f"{self.label} {attribute}: migrations {before}, models {after}"
            for attribute, before, after in self.changes
        )


def _with_detail(sentence: str, detail: str) -> str:
    return f"{sentence}: {detail}" if detail else sentence


_NOUNS: dict[tuple[str, str], str] = {
    ("constraint", "primary key"): "primary key",
    ("constraint", "foreign key"): "foreign key",
    ("constraint", "unique"): "unique constraint",
    ("constraint", "check"): "check constraint",
    ("constraint", "exclusion"): "exclusion constraint",
    ("index", "unique"): "unique index",
    ("enum", ""): "enum type",
    ("type", ""): "type",
    ("type", "domain"): "domain",
    ("type", "composite"): "composite type",
    ("type", "range"): "range type",
    ("view", "materialized"): "materialized view",
    ("table", "partitioned table"): "partitioned table",
}
