"""The observer's own queries as statements prepared once per server session.

A rehearsal of a whole history sends the same few catalog queries thousands of times, each on
a handful of tables: planning them costs about as much as running them. ``PREPARE`` keeps the
plan for the session (across transactions and rollbacks). Every parameter sits behind a
scalar subquery (:func:`parameter`), so that every plan PostgreSQL makes for a statement costs
the same and it settles on one generic plan instead of planning each execution.

A prepared statement goes as ``PREPARE ...; EXECUTE ...`` in one call the first time on a
connection, then as ``EXECUTE`` alone: only for drivers that take several statements in one
call (psycopg2). The others, and a session that may have lost its prepared statements, run
the plain SQL (:func:`plain`), which reads the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Statement:
    """One statement to prepare: its name in the session, its parameters' types and its SQL
    with ``$1``, ``$2``... for them."""

    name: str
    types: tuple[str, ...]
    body: str

    def call(self, arguments: Sequence[str], *, prepare: bool) -> str:
        """``EXECUTE`` with ``arguments`` (SQL expressions), preceded by the ``PREPARE`` when
        ``prepare`` (the first execution on a connection)."""
        execute = f"EXECUTE {self.name} ({', '.join(arguments)})"
        if not prepare:
            return execute
        return f"PREPARE {self.name} ({', '.join(self.types)}) AS {self.body.strip()};\n{execute}"


def array(values: Iterable[str], of: str) -> str:
    """An array of SQL expressions as one SQL expression: ``ARRAY[1, 2]::oid[]``."""
    return f"ARRAY[{', '.join(values)}]::{of}[]"


def parameter(number: int, of: str) -> str:
    """Parameter ``$number`` (an array of ``of``) as a prepared body reads it: behind a
    scalar subquery, so that the plan does not depend on its value (and cast, so that
    ``= ANY(...)`` reads it as an array rather than as a subquery)."""
    return f"CAST((SELECT ${number}::{of}[]) AS {of}[])"


# How the observer's queries run: the plain SQL, the prepared statement and its arguments in,
# the first row of the result out.
Query = Callable[[str, Statement, Sequence[str]], Any]


def plain(cursor: Any) -> Query:
    """A :data:`Query` that always runs the plain SQL on ``cursor``."""

    def run(sql: str, statement: Statement, arguments: Sequence[str]) -> Any:
        cursor.execute(sql)
        return cursor.fetchone()

    return run
