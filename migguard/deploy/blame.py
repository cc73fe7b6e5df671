"""Which new revision, at which line, took away what the other release needs.

Read from the operations the runner recorded while the revisions upgraded (the op object and
the revision-file line that invoked it): a ``drop_column``/``alter_column(new_column_name=)``
for a missing column, ``drop_table``/``rename_table`` for a missing table, an ``add_column``
or ``alter_column(nullable=False)`` for a NOT NULL column, and raw SQL that names both the
table and the column as a last resort.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Blame:
    """The operation responsible, in words, with the fix that keeps both releases working."""

    revision: str
    path: str
    line: int | None
    did: str  # "drops users.full_name"
    hint: str


def blame(
    kind: str,
    table: str,
    column: str | None,
    new_revisions: list[str],
    recorded_ops: dict[str, list[tuple[Any, int | None]]],
    paths: dict[str, str],
    *,
    code_first: bool = False,
) -> Blame | None:
    """The first operation of the new revisions (in upgrade order) that explains the cause."""
    name = table.rsplit(".", 1)[-1]
    for revision in new_revisions:
        for operation, line in recorded_ops.get(revision, ()):
            explained = _explains(operation, kind, name, column, code_first)
            if explained is not None:
                did, hint = explained
                return Blame(revision, paths.get(revision, ""), line, did, hint)
    return None


def _explains(
    operation: Any, kind: str, table: str, column: str | None, code_first: bool
) -> tuple[str, str] | None:
    op_name = type(operation).__name__
    op_table = getattr(operation, "table_name", None)
    qualified = f"{table}.{column}" if column else table
    if code_first:
        return _adds(operation, op_name, op_table, kind, table, column, qualified)
    if kind == "missing-column":
        if op_name == "DropColumnOp" and op_table == table and operation.column_name == column:
            return f"drops {qualified}", _STOP_READING.format(column=qualified)
        if (
            op_name == "AlterColumnOp"
            and op_table == table
            and operation.column_name == column
            and operation.modify_name
        ):
            renamed = f"{table}.{operation.modify_name}"
            return f"renames {qualified} to {renamed}", _RENAME_COLUMN.format(
                column=qualified, new=operation.modify_name
            )
    if kind in ("missing-column", "missing-table"):
        if op_name == "DropTableOp" and op_table == table:
            return f"drops table {table}", _STOP_USING_TABLE.format(table=table)
        if op_name == "RenameTableOp" and op_table == table:
            new = operation.new_table_name
            return f"renames table {table} to {new}", _RENAME_TABLE.format(table=table, new=new)
    if kind == "not-null" and op_table == table:
        if op_name == "AddColumnOp" and operation.column.name == column:
            return f"adds {qualified} NOT NULL without a server default", _SERVER_DEFAULT.format(
                column=qualified
            )
        if (
            op_name == "AlterColumnOp"
            and operation.column_name == column
            and operation.modify_nullable is False
        ):
            return f"makes {qualified} NOT NULL", _SERVER_DEFAULT.format(column=qualified)
    if op_name == "ExecuteSQLOp" and _mentions(operation, table, column):
        return "runs SQL that changes " + qualified, _EXPAND_CONTRACT
    return None


def _adds(
    operation: Any,
    op_name: str,
    op_table: str | None,
    kind: str,
    table: str,
    column: str | None,
    qualified: str,
) -> tuple[str, str] | None:
    """code-first: the operation that adds what the new models need."""
    if kind == "missing-table" and op_name == "CreateTableOp" and op_table == table:
        return f"creates table {table}", _MIGRATE_FIRST.format(thing=f"table {table}")
    if kind == "missing-table" and op_name == "RenameTableOp" and operation.new_table_name == table:
        return f"renames {op_table} to {table}", _MIGRATE_FIRST.format(thing=f"table {table}")
    if kind == "missing-column" and op_table == table:
        if op_name == "AddColumnOp" and operation.column.name == column:
            return f"adds {qualified}", _MIGRATE_FIRST.format(thing=f"column {qualified}")
        if op_name == "AlterColumnOp" and operation.modify_name == column:
            return (
                f"renames {table}.{operation.column_name} to {column}",
                _MIGRATE_FIRST.format(thing=f"column {qualified}"),
            )
    if op_name == "ExecuteSQLOp" and _mentions(operation, table, column):
        return "runs SQL that adds " + qualified, _MIGRATE_FIRST.format(thing=qualified)
    return None


def _mentions(operation: Any, table: str, column: str | None) -> bool:
    text = str(getattr(operation, "sqltext", ""))
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_$]*", text))
    return table in words and (column is None or column in words)


_STOP_READING = (
    "expand/contract: stop reading {column} in one release (remove it from the model), and "
    "drop the column in the release after it"
)
_RENAME_COLUMN = (
    "expand/contract: add {new} next to {column}, write both and read {new} in one "
    "release, drop {column} in the release after it"
)
_STOP_USING_TABLE = (
    "expand/contract: stop using {table} in one release, drop the table in the release after it"
)
_RENAME_TABLE = (
    "expand/contract: add the new table {new} and keep {table} until the release that stops "
    "using it (or leave a view named {table} in its place)"
)
_SERVER_DEFAULT = (
    "add a server_default to {column} (server_default=sa.text(...)), so the running "
    "release's INSERTs, which do not name it, still succeed"
)
_EXPAND_CONTRACT = (
    "expand/contract: change the schema in a way the running release still works with, and "
    "remove what it needs only in the release after it stops needing it"
)
_MIGRATE_FIRST = (
    'run the migrations before the new code starts (deploy-order = "migrate-first"), or add '
    "the {thing} in a release before the one whose code uses it"
)
