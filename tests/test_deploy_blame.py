"""Which recorded operation of the new revisions explains what the other release lacks."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import ops

from migguard.deploy.blame import blame
from migguard.ops import from_operations

PATHS = {"0002": "versions/0002.py", "0003": "versions/0003.py"}


def _blame(kind: str, table: str, column: str | None, recorded: dict, **kw: bool):
    """``recorded``: Alembic operation objects with their lines, as an upgrade invokes them."""
    records = {revision: from_operations(pairs) for revision, pairs in recorded.items()}
    return blame(kind, table, column, ["0002", "0003"], records, PATHS, **kw)


def test_the_drop_of_a_mapped_column_is_blamed_at_its_line() -> None:
    recorded = {
        "0002": [(ops.AddColumnOp("users", sa.Column("age", sa.Integer())), 12)],
        "0003": [(ops.DropColumnOp("users", "full_name"), 14)],
    }
    found = _blame("missing-column", "users", "full_name", recorded)
    assert found is not None
    assert (found.revision, found.path, found.line) == ("0003", "versions/0003.py", 14)
    assert found.did == "drops users.full_name"
    assert "stop reading users.full_name in one release" in found.hint


def test_a_column_rename_and_a_table_rename_say_so() -> None:
    column = {"0002": [(ops.AlterColumnOp("users", "full_name", modify_name="name"), 9)]}
    table = {"0002": [(ops.RenameTableOp("posts", "articles"), 10)]}
    renamed_column = _blame("missing-column", "users", "full_name", column)
    renamed_table = _blame("missing-table", "posts", None, table)
    assert renamed_column is not None and renamed_column.did == (
        "renames users.full_name to users.name"
    )
    assert renamed_table is not None and renamed_table.line == 10
    assert "keep posts until the release that stops using it" in renamed_table.hint


def test_not_null_is_blamed_on_the_add_column_without_default_not_on_other_tables() -> None:
    recorded = {
        "0002": [
            (ops.AddColumnOp("teams", sa.Column("age", sa.Integer(), nullable=False)), 7),
            (ops.AddColumnOp("users", sa.Column("age", sa.Integer(), nullable=False)), 8),
        ]
    }
    found = _blame("not-null", "users", "age", recorded)
    assert found is not None and found.line == 8
    assert "server_default" in found.hint


def test_code_first_blames_the_revision_that_adds_the_column() -> None:
    recorded = {"0002": [(ops.AddColumnOp("users", sa.Column("nickname", sa.String())), 11)]}
    found = _blame("missing-column", "users", "nickname", recorded, code_first=True)
    assert found is not None and found.did == "adds users.nickname"
    assert "migrate-first" in found.hint
    assert _blame("missing-column", "users", "nickname", recorded) is None


def test_raw_sql_naming_table_and_column_is_the_last_resort() -> None:
    recorded = {"0002": [(ops.ExecuteSQLOp("ALTER TABLE users DROP COLUMN full_name"), 5)]}
    found = _blame("missing-column", "users", "full_name", recorded)
    assert found is not None and found.line == 5
    assert _blame("missing-column", "users", "email", recorded) is None


def test_not_null_set_by_alter_column_is_blamed_there_not_on_the_nullable_add() -> None:
    recorded = {
        "0002": [(ops.AddColumnOp("users", sa.Column("age", sa.Integer(), nullable=True)), 7)],
        "0003": [(ops.AlterColumnOp("users", "age", modify_nullable=False), 12)],
    }
    found = _blame("not-null", "users", "age", recorded)
    assert found is not None
    assert (found.revision, found.path, found.line) == ("0003", "versions/0003.py", 12)
    assert found.did == "makes users.age NOT NULL (alter_column nullable=False)"
    assert "server_default" in found.hint


def test_a_removed_server_default_is_blamed_at_the_alter_column() -> None:
    with_default = sa.Column("age", sa.Integer(), nullable=False, server_default="0")
    recorded = {
        "0002": [
            (ops.AddColumnOp("users", with_default), 7),
            (ops.AlterColumnOp("users", "age", modify_comment="years"), 8),
            (ops.AlterColumnOp("users", "age", modify_server_default=None), 9),
        ]
    }
    found = _blame("not-null", "users", "age", recorded)
    assert found is not None and found.line == 9
    assert found.did == "removes the server default of users.age"


def test_an_alter_column_that_says_nothing_else_is_blamed_as_a_last_resort() -> None:
    recorded = {
        "0002": [(ops.AlterColumnOp("teams", "age", modify_nullable=False), 5)],
        "0003": [(ops.AlterColumnOp("users", "age", modify_type=sa.BigInteger()), 6)],
    }
    found = _blame("not-null", "users", "age", recorded)
    assert found is not None and (found.revision, found.line) == ("0003", 6)
    assert found.did == "changes the type of users.age"


def test_a_lost_default_is_blamed_on_what_replaced_or_stripped_the_column() -> None:
    """The running release leaves ``users.id`` to the database: what took its default away
    is the rename of another column into its place, the removal of its server default, or an
    add_column that brings it back without one; the drop before a rename is not the cause."""
    replaced = {
        "0002": [
            (ops.DropColumnOp("users", "id"), 20),
            (ops.AlterColumnOp("users", "new_id", modify_name="id"), 21),
        ]
    }
    stripped = {"0002": [(ops.AlterColumnOp("users", "id", modify_server_default=None), 5)]}
    added_back = {
        "0003": [
            (ops.DropColumnOp("users", "id"), 6),
            (ops.AddColumnOp("users", sa.Column("id", sa.Integer(), nullable=False)), 7),
        ]
    }
    found = [_blame("lost-default", "users", "id", r) for r in (replaced, stripped, added_back)]
    assert [(f.revision, f.line, f.did) for f in found if f is not None] == [
        ("0002", 21, "renames users.new_id into the place of users.id"),
        ("0002", 5, "removes the server default of users.id"),
        ("0003", 7, "adds users.id again without a server default"),
    ]
    assert all("server default the running release can rely on" in f.hint for f in found if f)
