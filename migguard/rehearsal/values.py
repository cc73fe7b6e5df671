"""Candidate values for one column of one generated row, as SQL literals cast to its type.

Four profiles per row, tried in order by :mod:`.rows` (the first that passes the table's
constraints wins): plain values (small positive numbers, digit strings, the first enum labels,
NULL in every nullable column of the second row, here and in the next profile, so that
``SET NOT NULL`` meets a NULL as it would in production); values just past the check
constraints' first number (``> 0``, ``BETWEEN 1 AND 5``) and their string literals
(``IN ('a', 'b')``); the check constraints' numbers themselves (``IN (10, 20)``); negative
numbers and word strings with every nullable column NULL. Each row differs from the others in
every column that can differ, so unique constraints hold and a migration that adds one fails
only if it creates duplicates itself.

Numbers are small (1, 2, 3, like the ids a sequence hands out first), so an integer column
that refers to another table without a foreign key yet points at rows that exist. Text is made
of digits on purpose: a cast a real table's text would survive (``'42'::int``)
must not fail here and be reported as an error the project would never meet.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from migguard.rehearsal.catalog import Column, literal

PROFILES = 4

_LAST = PROFILES - 1
_INTEGERS = {"int2", "int4", "int8", "oid", "numeric", "float4", "float8", "money"}
_TEXT = {"text", "varchar", "bpchar", "name", "citext"}
_STRING_LITERAL = re.compile(r"'((?:[^']|'')*)'")
_NUMBER_LITERAL = re.compile(r"(?<![\w.])(-?\d+(?:\.\d+)?)(?![\w.])")


def candidate(column: Column, row: int, profile: int, checks: list[str]) -> str | None:
    """The literal for ``column`` in ``row`` (0-based) under ``profile``; ``"NULL"`` for a
    deliberate NULL, None when no value of this type can be written."""
    if left_null(column, row, profile):
        return "NULL"
    text = _scalar(column, row, profile, checks)
    if text is None:
        return None
    if column.array:
        text = '{"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"}'
    return f"{literal(text)}::{column.type}"


def left_null(column: Column, row: int, profile: int) -> bool:
    """Nullable columns are NULL in the second row (production tables have NULLs where the
    schema allows them) and everywhere in the last profile."""
    return not column.not_null and (profile == _LAST or (profile < 2 and row == 1))


def _scalar(column: Column, row: int, profile: int, checks: list[str]) -> str | None:
    n = row + 1
    base = column.base
    if column.enum:
        return column.enum[(row + profile) % len(column.enum)]
    if base in _INTEGERS:
        numbers = _numbers(checks) if profile in (1, 2) else []
        if numbers and profile == 1:
            return _number(numbers[0] + n, base)
        if numbers:
            return _number(numbers[row % len(numbers)] + row // len(numbers), base)
        return str(-n if profile == _LAST else n)
    if base in _TEXT:
        return _text(column, row, profile, checks)
    simple = _SIMPLE.get(base)
    return simple(n) if simple is not None else None


def _number(value: float, base: str) -> str:
    if base in ("int2", "int4", "int8", "oid"):
        return str(int(value))
    return repr(value) if not float(value).is_integer() else str(int(value))


def _text(column: Column, row: int, profile: int, checks: list[str]) -> str:
    n = row + 1
    strings = _strings(checks) if profile in (1, 2) else []
    if strings:
        value = strings[(row + profile - 1) % len(strings)]
    elif profile == _LAST:
        value = f"v{n}@example.com"
    else:
        value = str(n)
    limit = column.max_length
    if limit is not None and len(value) > limit:
        value = value[:limit] if strings else value[-limit:]
    if limit == 1 and not strings:
        value = "abcdefghij"[row % 10]
    return value


def _strings(checks: list[str]) -> list[str]:
    """String literals of the check constraints (``status IN ('a', 'b')``), LIKE patterns
    with their wildcards filled in."""
    found: list[str] = []
    for expression in checks:
        for match in _STRING_LITERAL.finditer(expression):
            value = match.group(1).replace("''", "'").replace("%", "x").replace("_", "x")
            if value and value not in found:
                found.append(value)
    return found


def _numbers(checks: list[str]) -> list[float]:
    """The numbers of the check constraints, in the order written."""
    found: list[float] = []
    for expression in checks:
        for match in _NUMBER_LITERAL.finditer(_STRING_LITERAL.sub("''", expression)):
            value = float(match.group(1))
            if value not in found:
                found.append(value)
    return found


_SIMPLE: dict[str, Callable[[int], str]] = {
    "bool": lambda n: "true" if n % 2 else "false",
    "uuid": lambda n: f"00000000-0000-4000-8000-{n:012d}",
    "date": lambda n: f"2024-01-{n:02d}",
    "timestamp": lambda n: f"2024-01-{n:02d} 12:00:00",
    "timestamptz": lambda n: f"2024-01-{n:02d} 12:00:00+00",
    "time": lambda n: f"12:{n:02d}:00",
    "timetz": lambda n: f"12:{n:02d}:00+00",
    "interval": lambda n: f"{n} days",
    "json": lambda n: f'{{"n": {n}}}',
    "jsonb": lambda n: f'{{"n": {n}}}',
    "bytea": lambda n: f"\\x{n:02x}",
    "inet": lambda n: f"10.0.0.{n}",
    "cidr": lambda n: f"10.0.{n}.0/24",
    "macaddr": lambda n: f"08:00:2b:01:02:{n:02x}",
    "xml": lambda n: f"<v>{n}</v>",
    "tsvector": lambda n: f"v{n}",
    "tsquery": lambda n: f"v{n}",
    "bit": lambda n: "1",
    "varbit": lambda n: format(n, "b"),
    "point": lambda n: f"({n},{n})",
    "int4range": lambda n: f"[{n},{n + 1})",
    "int8range": lambda n: f"[{n},{n + 1})",
    "numrange": lambda n: f"[{n},{n + 1})",
    "daterange": lambda n: f"[2024-01-{n:02d},2024-02-01)",
    "tsrange": lambda n: f"[2024-01-{n:02d},2024-02-01)",
    "tstzrange": lambda n: f"[2024-01-{n:02d},2024-02-01)",
}
