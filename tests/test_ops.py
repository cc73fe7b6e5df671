"""migguard.ops: the one reader of Alembic operations, static and recorded."""

from __future__ import annotations

import textwrap
from pathlib import Path

import sqlalchemy as sa
from alembic.operations import ops as alembic_ops

from migguard import ops
from migguard.project import RevisionFile, read_revision_file


def revision(tmp_path: Path, body: str, header: str = "from alembic import op") -> RevisionFile:
    source = (
        f"import sqlalchemy as sa\n{header}\n\n"
        'revision = "0002"\ndown_revision = "0001"\n\n\n' + textwrap.dedent(body).strip() + "\n"
    )
    path = tmp_path / "0002.py"
    path.write_text(source)
    return read_revision_file(path, "versions/0002.py")


def kinds(records: list[ops.Op]) -> list[tuple[str, str | None, int | None]]:
    return [(op.kind, op.table, op.line) for op in records]


def test_batch_calls_take_their_own_blocks_table(tmp_path: Path) -> None:
    rev = revision(
        tmp_path,
        """
        def upgrade():
            with op.batch_alter_table("books") as batch_op:
                batch_op.create_index("ix_books_title", ["title"])
            with op.batch_alter_table("authors", schema="lib") as batch_op:
                batch_op.create_index("ix_authors_name", ["name"])
        """,
    )
    records = ops.read_revision(rev)
    assert [(op.table, op.schema, op.batch_table) for op in records] == [
        ("books", None, "books"),
        ("authors", "lib", "authors"),
    ]
    assert [op.constraints[0].columns for op in records] == [("title",), ("name",)]


def test_op_aliases_and_alembic_op_are_read(tmp_path: Path) -> None:
    rev = revision(
        tmp_path,
        """
        import alembic

        def upgrade():
            migration.drop_column("books", "title")
            alembic.op.drop_table("sessions")
        """,
        header="from alembic import op as migration",
    )
    assert kinds(ops.read_revision(rev)) == [
        ("drop_column", "books", 11),
        ("drop_table", "sessions", 12),
    ]


def test_helpers_are_read_where_they_are_called_in_run_order(tmp_path: Path) -> None:
    rev = revision(
        tmp_path,
        """
        def _drop(table):
            op.drop_table(table)
            op.drop_table("audit")

        def upgrade():
            def add_name():
                op.add_column("books", sa.Column("name", sa.String()))

            op.create_table("first")
            add_name()
            _drop("x")
        """,
    )
    assert kinds(ops.read_revision(rev)) == [
        ("create_table", "first", 16),
        ("add_column", "books", 14),
        ("drop_table", None, 9),
        ("drop_table", "audit", 10),
    ]


def test_star_args_hide_what_they_cover(tmp_path: Path) -> None:
    rev = revision(
        tmp_path,
        """
        def upgrade():
            op.create_table("books", *COLUMNS)
            op.create_index(*INDEX)
            op.create_index("ix_books_title", "books", *COLUMNS)
        """,
    )
    first, second, third = ops.read_revision(rev)
    assert (first.table, first.columns) == ("books", None)
    assert (second.table, second.name) == (None, ops.UNNAMED)
    assert third.table == "books" and third.constraints[0].columns is None


def test_names_wrapped_in_op_f_are_final(tmp_path: Path) -> None:
    rev = revision(
        tmp_path,
        """
        def upgrade():
            op.create_index(op.f("ix_books_title"), "books", ["title"])
            op.create_unique_constraint(NAME, "books", ["isbn"])
        """,
    )
    first, second = ops.read_revision(rev)
    assert first.name == ops.Name("ix_books_title", final=True, line=9)
    assert second.name is not None and not second.name.known


def test_columns_carry_literal_types_nullability_and_defaults(tmp_path: Path) -> None:
    rev = revision(
        tmp_path,
        """
        def upgrade():
            op.add_column(
                "books",
                sa.Column("stock", sa.Integer(), nullable=False, server_default=sa.text("0")),
            )
        """,
    )
    [add] = ops.read_revision(rev)
    assert add.columns == (
        ops.Column("stock", "Integer", False, "0", has_server_default=True, line=11),
    )


def test_statements_say_what_they_mention_and_what_they_empty(tmp_path: Path) -> None:
    rev = revision(
        tmp_path,
        """
        COPY = "UPDATE books SET name = title"

        def upgrade():
            op.execute(COPY)
            conn = op.get_bind()
            conn.execute(sa.text("TRUNCATE TABLE audit"))
            op.get_bind().execute(sa.text("DELETE FROM sessions WHERE expired"))
            conn.execute(statement_from_elsewhere)
            session = Session(bind=conn)
        """,
    )
    records = ops.read_revision(rev)
    assert [op.kind for op in records] == [
        "execute",
        "statement",
        "statement",
        "statement",
        "orm_session",
    ]
    copy, truncate, delete, opaque, session = (op.data for op in records)
    assert copy is not None and copy.mentions_any("title") and not copy.emptied
    assert truncate is not None and truncate.emptied == {"audit"}
    assert delete is not None and delete.emptied == frozenset()  # a WHERE keeps rows
    assert opaque is not None and opaque.mentions is None
    assert session is not None and session.mentions is None


def test_conditional_operations_are_marked(tmp_path: Path) -> None:
    rev = revision(
        tmp_path,
        """
        def upgrade():
            if "legacy" in sa.inspect(op.get_bind()).get_table_names():
                op.drop_table("legacy")
            op.drop_table("other")
        """,
    )
    assert [op.conditional for op in ops.read_revision(rev)] == [True, False]


def test_downgrade_is_read_on_request(tmp_path: Path) -> None:
    rev = revision(
        tmp_path,
        """
        def upgrade():
            op.drop_column("books", "title")

        def downgrade():
            op.add_column("books", sa.Column("title", sa.String(200)))
        """,
    )
    [add] = ops.read_revision(rev, "downgrade")
    assert (add.kind, add.function, add.columns[0].type) == ("add_column", "downgrade", "String")


def test_recorded_operations_become_the_same_records() -> None:
    recorded = [
        (alembic_ops.AddColumnOp("books", sa.Column("name", sa.String(200))), 3),
        (alembic_ops.AlterColumnOp("books", "name", modify_name="title"), 4),
        (alembic_ops.RenameTableOp("old", "new"), 5),
        (alembic_ops.ExecuteSQLOp("TRUNCATE books"), 6),
        (sa.text("UPDATE books SET a = b"), 7),
    ]
    add, alter, rename, execute, statement = ops.from_operations(recorded)
    assert add.columns == (ops.Column("name", "String", True),)
    assert (alter.column, alter.new_name) == ("name", "title")
    assert (rename.table, rename.new_name) == ("old", "new")
    assert execute.data is not None and execute.data.emptied == {"books"}
    assert statement.data is not None and statement.data.mentions_any("b")


def test_observed_drop_reads_the_real_type_from_the_database() -> None:
    from alembic.migration import MigrationContext

    engine = sa.create_engine("sqlite://")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE books (id INTEGER, published TIMESTAMP)")
        context = MigrationContext.configure(connection)
        [record] = ops.observe(alembic_ops.DropColumnOp("books", "published"), context, 9)
        [table] = ops.observe(alembic_ops.DropTableOp("books"), context, 10)
    assert (record.kind, record.line, record.columns) == (
        "drop_column",
        9,
        (ops.Column("published", "TIMESTAMP", True),),
    )
    assert [c.name for c in table.columns] == ["id", "published"]


def test_keyword_options_and_autocommit_blocks_are_recorded(tmp_path: Path) -> None:
    rev = revision(
        tmp_path,
        """
        def _index():
            op.create_index("ix_books_title", "books", ["title"], postgresql_concurrently=True)

        def upgrade():
            with op.get_context().autocommit_block():
                _index()
            op.create_index("ix_books_isbn", "books", ["isbn"], unique=FLAG)
        """,
    )
    inside, outside = ops.read_revision(rev)
    assert (inside.autocommit, inside.option("postgresql_concurrently")) == (True, True)
    assert (outside.autocommit, outside.option("postgresql_concurrently")) == (False, None)
    assert outside.option("unique") is ops.NOT_LITERAL
