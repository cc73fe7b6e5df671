"""The observer's own queries as statements prepared once per server session.

A rehearsal of a whole history sends the same few catalog queries thousands of times, each on
a handful of tables: planning them costs about as much as running them. ``PREPARE`` keeps the
plan for the session (across transactions and rollbacks). A prepared statement here takes no
parameters: its values travel in transaction-local settings set in the same call
(:func:`parameter` reads one back, behind a scalar subquery), so PostgreSQL plans it once,
generically, and never again per execution. With parameters it planned the first five
executions each, and again and again later: a plan made while the schema was small looks
cheaper than one made now, and the catalog look-up, planned anew, cost two milliseconds.

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
    """One statement to prepare: its name in the session and its SQL, which reads its values
    with :func:`parameter`."""

    name: str
    body: str

    def call(self, arguments: Sequence[str], *, prepare: bool) -> str:
        """Set :func:`parameter` 1, 2... to ``arguments`` (SQL expressions, for the rest of
        the transaction), then ``EXECUTE``, preceded by the ``PREPARE`` when ``prepare``
        (the first execution on a connection). The call's result is the statement's."""
        values = ", ".join(
            f"set_config('{_SETTING}{number}', ({argument})::text, true)"
            for number, argument in enumerate(arguments, start=1)
        )
        execute = f"SELECT {values};\nEXECUTE {self.name}"
        if not prepare:
            return execute
        return f"PREPARE {self.name} AS {self.body.strip()};\n{execute}"


_SETTING = "migguard.rehearsal_parameter_"


def array(values: Iterable[str], of: str) -> str:
    """An array of SQL expressions as one SQL expression: ``ARRAY[1, 2]::oid[]``."""
    return f"ARRAY[{', '.join(values)}]::{of}[]"


def parameter(number: int, of: str) -> str:
    """The value :meth:`Statement.call` set for argument ``number`` (an array of ``of``), as
    a prepared body reads it: behind a scalar subquery, evaluated once per execution (and
    cast, so that ``= ANY(...)`` reads it as an array rather than as a subquery)."""
    return f"CAST((SELECT current_setting('{_SETTING}{number}')::{of}[]) AS {of}[])"


# How the observer's queries run: the plain SQL, the prepared statement and its arguments in,
# the first row of the result out.
Query = Callable[[str, Statement, Sequence[str]], Any]


def plain(cursor: Any) -> Query:
    """A :data:`Query` that always runs the plain SQL on ``cursor``."""

    def run(sql: str, statement: Statement, arguments: Sequence[str]) -> Any:
        cursor.execute(sql)
        return cursor.fetchone()

    return run
