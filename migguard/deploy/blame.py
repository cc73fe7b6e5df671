"""Which new revision, at which line, took away what the other release needs.

Read from the operation records the runner kept while the revisions upgraded
(:mod:`migguard.ops`, each with its revision-file line): a ``drop_column`` or
``alter_column(new_column_name=)`` for a missing column, ``drop_table``/``rename_table`` for a
missing table; for a NOT NULL column the running release does not fill, an ``add_column``
NOT NULL without a server default, or the ``alter_column`` that sets ``nullable=False`` or
removes the server default (the recorded call says which); for a column the running release
leaves to the database, the ``alter_column`` that renames another column into its place or
removes its server default, or the ``add_column`` that adds it back without one. As a last
resort, an ``alter_column`` of the column that says neither (a type change), or a statement
that names both the table and the column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from migguard.ops import Op


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
    recorded_ops: dict[str, list[Op]],
    paths: dict[str, str],
    *,
    code_first: bool = False,
) -> Blame | None:
    """The first operation of the new revisions (in upgrade order) that explains the cause;
    failing that, the first that changes the column in a way the records cannot tell (an
    ``alter_column`` of its type, SQL naming it)."""
    name = table.rsplit(".", 1)[-1]
    explainers = [_adds] if code_first else [_takes_away, _changes]
    for explain in explainers:
        for revision in new_revisions:
            for op in recorded_ops.get(revision, ()):
                explained = explain(op, kind, name, column)
                if explained is not None:
                    did, hint = explained
                    return Blame(revision, paths.get(revision, ""), op.line, did, hint)
    return None


def _takes_away(op: Op, kind: str, table: str, column: str | None) -> tuple[str, str] | None:
    """migrate-first: the operation that removes what the running release needs."""
    qualified = f"{table}.{column}" if column else table
    on_table = op.table == table
    if kind == "missing-column" and on_table and op.column == column:
        if op.kind == "drop_column":
            return f"drops {qualified}", _STOP_READING.format(column=qualified)
        if op.kind == "alter_column" and op.new_name:
            return f"renames {qualified} to {table}.{op.new_name}", _RENAME_COLUMN.format(
                column=qualified, new=op.new_name
            )
    if kind in ("missing-column", "missing-table") and on_table:
        if op.kind == "drop_table":
            return f"drops table {table}", _STOP_USING_TABLE.format(table=table)
        if op.kind == "rename_table":
            new = op.new_name
            return f"renames table {table} to {new}", _RENAME_TABLE.format(table=table, new=new)
    if kind == "lost-default" and on_table:
        hint = _KEEP_DEFAULT.format(column=qualified)
        if op.kind == "alter_column" and op.new_name == column:
            return f"renames {table}.{op.column} into the place of {qualified}", hint
        removes_default = ("server_default", None) in op.options
        if op.kind == "alter_column" and op.column == column and removes_default:
            return f"removes the server default of {qualified}", hint
        added = [c for c in op.columns or () if c.name == column]
        if op.kind == "add_column" and added and not added[0].has_server_default:
            return f"adds {qualified} again without a server default", hint
    if kind == "not-null" and on_table:
        hint = _SERVER_DEFAULT.format(column=qualified)
        added = [c for c in op.columns or () if c.name == column and c.nullable is False]
        if op.kind == "add_column" and added and not added[0].has_server_default:
            return f"adds {qualified} NOT NULL without a server default", hint
        if op.kind == "alter_column" and op.column == column:
            if op.option("nullable") is False:
                return f"makes {qualified} NOT NULL (alter_column nullable=False)", hint
            if ("server_default", None) in op.options:
                return f"removes the server default of {qualified}", hint
    return None


def _changes(op: Op, kind: str, table: str, column: str | None) -> tuple[str, str] | None:
    """migrate-first, when no operation says it removes what is missing: an ``alter_column``
    of the column (its type, its nullability through ``existing_*``), or SQL naming it."""
    qualified = f"{table}.{column}" if column else table
    if op.table == table and op.kind == "alter_column" and column and op.column == column:
        did = f"changes the type of {qualified}" if op.type else f"alters {qualified}"
        if kind == "not-null":
            return did, _SERVER_DEFAULT.format(column=qualified)
        if kind == "lost-default":
            return did, _KEEP_DEFAULT.format(column=qualified)
        return did, _EXPAND_CONTRACT
    if _statement_names(op, table, column):
        return f"runs SQL that changes {qualified}", _EXPAND_CONTRACT
    return None


def _adds(op: Op, kind: str, table: str, column: str | None) -> tuple[str, str] | None:
    """code-first: the operation that adds what the new models need."""
    qualified = f"{table}.{column}" if column else table
    if kind == "missing-table":
        if op.kind == "create_table" and op.table == table:
            return f"creates table {table}", _MIGRATE_FIRST.format(thing=f"table {table}")
        if op.kind == "rename_table" and op.new_name == table:
            return f"renames {op.table} to {table}", _MIGRATE_FIRST.format(thing=f"table {table}")
    if kind == "missing-column" and op.table == table:
        if op.kind == "add_column" and any(c.name == column for c in op.columns or ()):
            return f"adds {qualified}", _MIGRATE_FIRST.format(thing=f"column {qualified}")
        if op.kind == "alter_column" and op.new_name == column:
            return (
                f"renames {table}.{op.column} to {column}",
                _MIGRATE_FIRST.format(thing=f"column {qualified}"),
            )
    if _statement_names(op, table, column):
        return f"runs SQL that adds {qualified}", _MIGRATE_FIRST.format(thing=qualified)
    return None


def _statement_names(op: Op, table: str, column: str | None) -> bool:
    """A statement whose text names the table (and the column): never an opaque one."""
    if not op.is_data or op.data is None or op.data.mentions is None:
        return False
    names = [table, column] if column else [table]
    return all(name.lower() in op.data.mentions for name in names)


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
_KEEP_DEFAULT = (
    "give {column} a server default the running release can rely on (for a UUID key: "
    "server_default=sa.text('gen_random_uuid()'); for an integer key: an Identity or the "
    "sequence it had), so its INSERTs, which leave the column to the database, still succeed"
)
_EXPAND_CONTRACT = (
    "expand/contract: change the schema in a way the running release still works with, and "
    "remove what it needs only in the release after it stops needing it"
)
_MIGRATE_FIRST = (
    'run the migrations before the new code starts (deploy-order = "migrate-first"), or add '
    "the {thing} in a release before the one whose code uses it"
)
