"""SQLAlchemy ``naming_convention`` templates, rendered from plain names instead of objects.

A convention such as ``ix_%(table_name)s_%(column_0_N_name)s`` is filled in the way
``sqlalchemy/sql/naming.py`` (``ConventionDict``) fills it, from the table, column and referred
names that a revision file writes as strings, so a name can be checked without building
``Table`` objects. Names longer than PostgreSQL's 63 characters are shortened the way
SQLAlchemy shortens convention names (``conv``/``op.f``) when it renders DDL: the first 55
characters, ``_`` and the last four hex digits of the md5 of the full name
(``_truncate_and_render_maxlen_name``). Pure functions only; no SQLAlchemy import.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

KINDS = ("ix", "uq", "ck", "fk", "pk")

KIND_LABELS = {
    "ix": "index",
    "uq": "unique constraint",
    "ck": "check constraint",
    "fk": "foreign key",
    "pk": "primary key",
}

# What ``MetaData().naming_convention`` is when the project sets none, and so the only kind
# checked without a declared convention: the names ``index=True`` and ``op.f`` give.
SQLALCHEMY_DEFAULT_CONVENTION: Mapping[str, str] = {"ix": "ix_%(column_0_label)s"}

# Index names that also pass under SQLAlchemy's default: the table and every column, the
# name autogenerate and most hand-written multi-column indexes use.
INDEX_NAME_ALTERNATIVE = "ix_%(table_name)s_%(column_0_N_name)s"

# The convention SQLAlchemy's documentation recommends, per kind: what
# ``[tool.migguard.naming] <kind> = "recommended"`` opts in to.
RECOMMENDED = "recommended"
RECOMMENDED_CONVENTIONS: Mapping[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

POSTGRESQL_MAX_IDENTIFIER_LENGTH = 63

# naming_convention keys may be SQLAlchemy classes instead of the short kind names.
_CLASS_KINDS = {
    "Index": "ix",
    "UniqueConstraint": "uq",
    "CheckConstraint": "ck",
    "ForeignKeyConstraint": "fk",
    "PrimaryKeyConstraint": "pk",
}

_COLUMN_TOKEN = re.compile(r"(referred_)?column_(\d+)(_?N)?_(name|label|key)")
_TOKEN = re.compile(r"%\((\w+)\)s")
_SHAPE_MARK = "\x00"


class ConventionError(ValueError):
    """A convention template that cannot be rendered: unknown token or bad ``%`` syntax."""


class MissingPart(LookupError):
    """The convention needs a part the caller does not know (say, columns of an expression)."""


@dataclass(frozen=True)
class NameParts:
    """What a constraint or index name is made of.

    ``columns=None`` means the columns are unknown (an expression index, a check constraint
    written as SQL text); rendering a template that needs them raises :class:`MissingPart`.
    ``column_keys`` and ``column_labels`` default to what SQLAlchemy derives from the names.
    """

    table: str
    columns: tuple[str, ...] | None = ()
    schema: str | None = None
    referred_table: str | None = None
    referred_columns: tuple[str, ...] = ()
    constraint_name: str | None = None
    column_keys: tuple[str, ...] | None = None
    column_labels: tuple[str, ...] | None = None


def conventions_from_metadata(naming_convention: Mapping[Any, Any] | None) -> dict[str, str]:
    """The per-kind templates a project's ``MetaData(naming_convention=...)`` declares
    (SQLAlchemy's own default, ``{"ix": "ix_%(column_0_label)s"}``, declares no kind)."""
    if not naming_convention or dict(naming_convention) == dict(SQLALCHEMY_DEFAULT_CONVENTION):
        return {}
    return templates_by_kind(naming_convention)


def templates_by_kind(naming_convention: Mapping[Any, Any] | None) -> dict[str, str]:
    """Every kind a ``naming_convention`` mapping names, SQLAlchemy's default included.

    Keys may be kind names or classes (``Index``, ``UniqueConstraint``...); entries that
    define custom tokens are left out.
    """
    result: dict[str, str] = {}
    for key, value in (naming_convention or {}).items():
        kind = _kind_of_key(key)
        if kind is not None and isinstance(value, str):
            result[kind] = value
    return result


def _kind_of_key(key: Any) -> str | None:
    if isinstance(key, str):
        return key if key in KINDS else None
    if isinstance(key, type):
        for cls in key.__mro__:
            if cls.__name__ in _CLASS_KINDS:
                return _CLASS_KINDS[cls.__name__]
    return None


def effective_conventions(
    metadata_conventions: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The kinds whose names are checked, each with its template: SQLAlchemy's index default,
    replaced or joined per kind by the project's declared convention, then by explicit
    ``[tool.migguard.naming]`` settings. A constraint kind that neither declares is not
    checked: a project that chose no convention for it has none to follow."""
    result = dict(SQLALCHEMY_DEFAULT_CONVENTION)
    result.update(metadata_conventions or {})
    for kind, template in (overrides or {}).items():
        result[kind] = RECOMMENDED_CONVENTIONS[kind] if template == RECOMMENDED else template
    return result


def tokens(template: str) -> list[str]:
    """The ``%(token)s`` names a template uses, in order."""
    return _TOKEN.findall(template)


def validate(template: str) -> None:
    """Raise :class:`ConventionError` unless every token is one this module can render."""
    sample = NameParts(
        table="t",
        columns=("a", "b"),
        schema="s",
        referred_table="r",
        referred_columns=("id",),
        constraint_name="c",
    )
    render(template, sample)


def render(template: str, parts: NameParts) -> str:
    """The name the template gives, before any length truncation."""
    try:
        return template % _Tokens(parts)
    except _UnknownToken as exc:
        raise ConventionError(f"unknown token %({exc.args[0]})s in {template!r}") from None
    except (TypeError, ValueError) as exc:
        raise ConventionError(f"cannot render {template!r}: {exc}") from None


def truncate(name: str, max_length: int = POSTGRESQL_MAX_IDENTIFIER_LENGTH) -> str:
    """SQLAlchemy's shortening of a convention name that is too long for the database."""
    if len(name) <= max_length:
        return name
    digest = hashlib.md5(name.encode("utf-8"), usedforsecurity=False).hexdigest()
    return name[: max_length - 8] + "_" + digest[-4:]


def expected_name(
    template: str, parts: NameParts, max_length: int = POSTGRESQL_MAX_IDENTIFIER_LENGTH
) -> str:
    """The name as it reaches the database: rendered, then truncated like SQLAlchemy does."""
    return truncate(render(template, parts), max_length)


def follows(
    name: str,
    template: str,
    parts: NameParts,
    max_length: int = POSTGRESQL_MAX_IDENTIFIER_LENGTH,
) -> bool:
    """Whether ``name`` is what the convention gives for ``parts``.

    The full rendered name and SQLAlchemy's truncated form are both accepted. With a
    ``%(constraint_name)s`` token any name of the right shape (prefix and suffix around a
    non-empty middle) is accepted, since the middle is the author's choice.
    """
    if "constraint_name" in tokens(template):
        return _has_shape(name, template, parts, max_length)
    full = render(template, parts)
    return name in (full, truncate(full, max_length))


def _has_shape(name: str, template: str, parts: NameParts, max_length: int) -> bool:
    marked = render(template, _replace(parts, constraint_name=_SHAPE_MARK))
    prefix, _, suffix = marked.partition(_SHAPE_MARK)
    suffix = suffix.replace(_SHAPE_MARK, "")
    if name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix) + len(suffix):
        return True
    # A name SQLAlchemy truncated: the kept head must still start like the convention.
    if len(name) == max_length - 3 and re.fullmatch(r".*_[0-9a-f]{4}", name):
        head = name[: max_length - 8]
        return head.startswith(prefix) or prefix.startswith(head)
    return False


def _replace(parts: NameParts, **changes: Any) -> NameParts:
    values = {f: getattr(parts, f) for f in parts.__dataclass_fields__}
    values.update(changes)
    return NameParts(**values)


def column_label(table: str, column: str, schema: str | None = None) -> str:
    """SQLAlchemy's ``Column._ddl_label``: ``<schema>_<table>_<column>``, dots in the schema
    becoming underscores."""
    if schema:
        return f"{schema.replace('.', '_')}_{table}_{column}"
    return f"{table}_{column}"


class _UnknownToken(KeyError):
    pass


class _Tokens(Mapping[str, str]):
    """The mapping ``template % mapping`` reads tokens from, like SQLAlchemy's ConventionDict."""

    def __init__(self, parts: NameParts) -> None:
        self.parts = parts

    def __getitem__(self, key: str) -> str:
        parts = self.parts
        if key == "table_name":
            return parts.table
        if key == "constraint_name":
            if parts.constraint_name is None:
                raise MissingPart("constraint_name")
            return parts.constraint_name
        if key == "referred_table_name":
            if parts.referred_table is None:
                raise MissingPart("referred_table_name")
            return parts.referred_table
        match = _COLUMN_TOKEN.fullmatch(key)
        if match is None:
            raise _UnknownToken(key)
        referred, index, multiples, attribute = match.groups()
        if referred:
            if attribute != "name":
                raise _UnknownToken(key)
            values: tuple[str, ...] = parts.referred_columns
        else:
            values = self._column_values(attribute)
        if multiples:
            if index != "0":
                raise _UnknownToken(key)
            return ("_" if multiples.startswith("_") else "").join(values)
        position = int(index)
        return values[position] if position < len(values) else ""

    def _column_values(self, attribute: str) -> tuple[str, ...]:
        parts = self.parts
        if parts.columns is None:
            raise MissingPart("columns")
        if attribute == "key":
            return parts.column_keys if parts.column_keys is not None else parts.columns
        if attribute == "label":
            if parts.column_labels is not None:
                return parts.column_labels
            return tuple(column_label(parts.table, c, parts.schema) for c in parts.columns)
        return parts.columns

    def __iter__(self) -> Iterator[Any]:  # pragma: no cover - only item access is used by ``%``
        return iter(())

    def __len__(self) -> int:  # pragma: no cover
        return 0
