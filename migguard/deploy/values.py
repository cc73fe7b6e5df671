"""Values the running release's models accept, for the rows the contract writes.

These are Python values for a model attribute (what application code assigns), chosen from the
attribute's SQLAlchemy type, not database literals: the ORM's own bind processing turns them
into parameters, as it does for the application. Every value is fresh within a run, so a
generated row does not collide with rows the tables already hold on a unique constraint.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import secrets
import uuid
from collections.abc import Callable
from typing import Any


class NoValue(Exception):
    """The attribute's type is one no value can be made for (a custom type without a
    python_type): the row cannot be written, and the contract says so instead of guessing."""


class Values:
    """Fresh values, one counter per run (per-run state, not module state)."""

    def __init__(self) -> None:
        self._next = secrets.randbelow(9_000) + 1_000  # small enough for a SMALLINT
        self._token = secrets.token_hex(3)

    def fresh(self, column: Any, *, second: bool = False) -> Any:
        """A value for ``column`` (``second``: a different one, for an UPDATE)."""
        self._next += 1
        sql_type = column.type
        impl = getattr(sql_type, "impl_instance", None) or getattr(sql_type, "impl", None)
        for candidate in (sql_type, impl):
            if candidate is None or isinstance(candidate, type):
                continue
            value = self._by_type(candidate, second)
            if value is not _UNKNOWN:
                return value
        raise NoValue(f"no value for a column of type {sql_type!r}")

    def _by_type(self, sql_type: Any, second: bool) -> Any:
        labels = _enum_labels(sql_type)
        if labels is not None:
            if not labels:
                return _UNKNOWN
            return labels[-1] if second and len(labels) > 1 else labels[0]
        if _is_uuid(sql_type):
            generated = uuid.uuid4()
            return generated if getattr(sql_type, "as_uuid", True) else str(generated)
        try:
            python_type = sql_type.python_type
        except (NotImplementedError, AttributeError):
            return _UNKNOWN
        make = self._makers().get(python_type)
        if make is None:
            return _UNKNOWN
        value = make(second)
        length = getattr(sql_type, "length", None)
        if isinstance(value, str) and isinstance(length, int) and length > 0:
            value = value[-length:]
        return value

    def _makers(self) -> dict[type, Callable[[bool], Any]]:
        n = self._next
        today = datetime.date(2024, 1, 1) + datetime.timedelta(days=n % 3650)
        return {
            bool: lambda second: not second,
            int: lambda second: n,
            float: lambda second: float(n),
            decimal.Decimal: lambda second: decimal.Decimal(n),
            str: lambda second: f"mg{self._token}{n}",
            bytes: lambda second: f"mg{n}".encode(),
            datetime.date: lambda second: today,
            datetime.datetime: lambda second: datetime.datetime.combine(today, datetime.time(12)),
            datetime.time: lambda second: datetime.time(12, n % 60),
            datetime.timedelta: lambda second: datetime.timedelta(seconds=n),
            uuid.UUID: lambda second: uuid.uuid4(),
            dict: lambda second: {},
            list: lambda second: [],
        }


_UNKNOWN = object()


def _enum_labels(sql_type: Any) -> list[Any] | None:
    """An Enum's values as the application assigns them: members of its Python enum class
    when it has one, else its labels; None when the type is no Enum."""
    from sqlalchemy import Enum

    if not isinstance(sql_type, Enum):
        return None
    enum_class = getattr(sql_type, "enum_class", None)
    if isinstance(enum_class, type) and issubclass(enum_class, enum.Enum):
        return list(enum_class)
    return list(sql_type.enums)


def _is_uuid(sql_type: Any) -> bool:
    return type(sql_type).__name__.upper() == "UUID" or type(sql_type).__name__ == "Uuid"
