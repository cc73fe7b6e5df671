"""rename-as-drop-add: the static reader, the runtime reader and the drift sentences."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import produce_migrations
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.operations import ops as alembic_ops
from alembic.operations.base import AbstractOperations
from alembic.util import load_python_file

from migguard import ops
from migguard.checks import rename
from migguard.checks.rename import find_renames, from_ops, from_source
from migguard.findings import Severity
from migguard.project import RevisionFile, load_project, read_revision_file
from migguard.rules import load

FIXTURES = Path(__file__).parent / "fixtures"


def revision_file(tmp_path: Path, upgrade: str, downgrade: str = "pass") -> RevisionFile:
    source = (
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        'revision = "0002_change"\ndown_revision = "0001_books"\n\n\n'
        f"def upgrade():\n{textwrap.indent(textwrap.dedent(upgrade).strip(), '    ')}\n\n\n"
        f"def downgrade():\n{textwrap.indent(textwrap.dedent(downgrade).strip(), '    ')}\n"
    )
    path = tmp_path / "0002_change.py"
    path.write_text(source)
    return read_revision_file(path, "migrations/versions/0002_change.py")


def fixture_file(fixture: str, name: str) -> RevisionFile:
    project = load_project(FIXTURES / fixture)
    [file] = [f for f in project.revision_files() if f.path.name == name]
    return file


def line_of(file: RevisionFile, text: str) -> int:
    [line] = [i for i, content in enumerate(file.lines, start=1) if text in content]
    return line


BOOKS = (
    "CREATE TABLE books (id INTEGER PRIMARY KEY, title VARCHAR(200), author VARCHAR(200),"
    " pages INTEGER)"
)


def record_upgrade(
    file: RevisionFile, before: Sequence[RevisionFile] | None = None, setup: str = BOOKS
) -> list[ops.Op]:
    """Run a revision's upgrade() on a real SQLite database and record every operation it
    invokes with its line in the revision file, as the runner does (drops observed with the
    types the database holds). The schema before comes from ``before`` (the earlier revision
    files, by default those of the same directory that sort first) or ``setup``."""
    recorded: list[ops.Op] = []
    original = AbstractOperations.invoke
    target = str(file.path)

    def invoke(self: AbstractOperations, operation: object) -> object:
        frame = sys._getframe(1)
        while frame is not None and frame.f_code.co_filename != target:
            frame = frame.f_back
        line = frame.f_lineno if frame is not None else None
        recorded.extend(ops.observe(operation, self.migration_context, line))
        return original(self, operation)

    if before is None:
        before = [
            read_revision_file(p, p.name)
            for p in sorted(file.path.parent.glob("*.py"))
            if p.name < file.path.name
        ]
    engine = sa.create_engine("sqlite://")
    with engine.begin() as connection:
        context = MigrationContext.configure(connection)
        with Operations.context(context):
            if not before:
                connection.exec_driver_sql(setup)
            for earlier in before:
                load_python_file(earlier.path.parent, earlier.path.name).upgrade()
            module = load_python_file(file.path.parent, file.path.name)
            AbstractOperations.invoke = invoke  # type: ignore[method-assign]
            try:
                module.upgrade()
            finally:
                AbstractOperations.invoke = original  # type: ignore[method-assign]
    return recorded


def test_rule_is_registered_as_an_error_with_docs() -> None:
    rule = load()["rename-as-drop-add"]
    assert rule.severity is Severity.ERROR
    assert all(p.strip() for p in (rule.what, rule.why, rule.example, rule.use_instead))


# --- static ---------------------------------------------------------------------------------


def test_drop_and_add_of_same_type_is_a_rename() -> None:
    file = fixture_file("rename_as_drop_add", "0002_rename.py")
    [finding] = from_source(file)
    assert finding.rule == "rename-as-drop-add"
    assert finding.path == "migrations/versions/0002_rename.py"
    assert finding.line == line_of(file, 'op.drop_column("books", "title")')
    assert finding.revision == "0002_rename"
    assert finding.message == (
        "column books.title dropped and books.name added in the same revision: "
        "the data in books.title is lost"
    )
    assert finding.hint == 'op.alter_column("books", "title", new_column_name="name")'


def test_drop_table_and_create_of_same_shape_is_a_rename() -> None:
    file = fixture_file("rename_table_as_drop_create", "0002_rename_table.py")
    [finding] = from_source(file)
    assert finding.line == line_of(file, 'op.drop_table("users")')
    assert finding.revision == "0002_rename_table"
    assert "table users dropped and accounts created" in finding.message
    assert finding.hint == 'op.rename_table("users", "accounts")'


def test_renames_inside_a_helper_are_invisible_to_the_static_reader() -> None:
    assert from_source(fixture_file("rename_in_loop", "0002_rename_columns.py")) == []


def test_alter_column_rename_is_not_reported() -> None:
    for file in load_project(FIXTURES / "clean_static").revision_files():
        assert from_source(file) == []


@pytest.mark.parametrize(
    "fixture", ["multiple_heads", "missing_downgrade", "broken_down_revision", "clean_static"]
)
def test_other_fixtures_have_no_rename(fixture: str) -> None:
    for file in load_project(FIXTURES / fixture).revision_files():
        assert from_source(file) == []


def test_drop_before_add_is_a_rename_too(tmp_path: Path) -> None:
    file = revision_file(
        tmp_path,
        """
        op.drop_column("books", "title")
        op.add_column("books", sa.Column("name", sa.String(200), nullable=True))
        """,
        'op.add_column("books", sa.Column("title", sa.String(200)))',
    )
    [finding] = from_source(file)
    assert finding.line == 9


def test_batch_drop_and_add_is_a_rename(tmp_path: Path) -> None:
    file = revision_file(
        tmp_path,
        """
        with op.batch_alter_table("books", schema="library") as batch_op:
            batch_op.add_column(sa.Column("name", sa.String(200)))
            batch_op.drop_column("title")
        """,
        """
        with op.batch_alter_table("books", schema="library") as batch_op:
            batch_op.add_column(sa.Column("title", sa.String(200)))
        """,
    )
    [finding] = from_source(file)
    assert finding.line == 11
    assert "column library.books.title dropped and library.books.name added" in finding.message
    assert finding.hint == (
        'op.alter_column("books", "title", new_column_name="name", schema="library")'
    )


def test_separate_batch_blocks_keep_their_own_tables(tmp_path: Path) -> None:
    file = revision_file(
        tmp_path,
        """
        with op.batch_alter_table("books") as batch_op:
            batch_op.drop_column("title")
        with op.batch_alter_table("authors") as batch_op:
            batch_op.add_column(sa.Column("name", sa.String(200)))
        """,
    )
    assert from_source(file) == []


def test_same_name_dropped_and_added_is_a_type_change_not_a_rename(tmp_path: Path) -> None:
    file = revision_file(
        tmp_path,
        """
        op.drop_column("books", "title")
        op.add_column("books", sa.Column("title", sa.Text()))
        op.add_column("books", sa.Column("subtitle", sa.Text()))
        """,
    )
    assert from_source(file) == []


def test_an_unknown_dropped_type_never_matches(tmp_path: Path) -> None:
    file = revision_file(
        tmp_path,
        """
        op.drop_column("books", "pages")
        op.add_column("books", sa.Column("summary", sa.Text()))
        """,
    )
    assert from_source(file) == []


def test_downgrade_shows_the_dropped_type_and_rules_out_a_mismatch(tmp_path: Path) -> None:
    file = revision_file(
        tmp_path,
        """
        op.drop_column("books", "pages")
        op.add_column("books", sa.Column("summary", sa.Text()))
        """,
        """
        op.drop_column("books", "summary")
        op.add_column("books", sa.Column("pages", sa.Integer()))
        """,
    )
    assert from_source(file) == []


def test_varchar_and_string_are_compatible(tmp_path: Path) -> None:
    file = revision_file(
        tmp_path,
        """
        op.drop_column("books", "title")
        op.add_column("books", sa.Column("name", postgresql.VARCHAR(length=20)))
        """,
        'op.add_column("books", sa.Column("title", sa.String()))',
    )
    assert len(from_source(file)) == 1


def test_columns_of_different_tables_are_not_a_rename(tmp_path: Path) -> None:
    file = revision_file(
        tmp_path,
        """
        op.drop_column("books", "title")
        op.add_column("authors", sa.Column("name", sa.String(200)))
        """,
    )
    assert from_source(file) == []


def test_schema_keyword_separates_tables(tmp_path: Path) -> None:
    file = revision_file(
        tmp_path,
        """
        op.drop_column("books", "title", schema="old")
        op.add_column("books", sa.Column("name", sa.String(200)), schema="new")
        """,
    )
    assert from_source(file) == []


def test_data_copied_before_the_drop_is_not_a_rename(tmp_path: Path) -> None:
    file = revision_file(
        tmp_path,
        """
        op.add_column("books", sa.Column("name", sa.String(200)))
        op.execute("UPDATE books SET name = title")
        op.drop_column("books", "title")
        """,
    )
    assert from_source(file) == []


def test_create_table_of_another_shape_is_not_a_rename(tmp_path: Path) -> None:
    file = revision_file(
        tmp_path,
        """
        op.create_table(
            "audit_log",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("event", sa.Text()),
            sa.Column("at", sa.DateTime()),
        )
        op.drop_table("sessions")
        """,
        """
        op.create_table(
            "sessions",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("token", sa.String(64)),
        )
        op.drop_table("audit_log")
        """,
    )
    assert from_source(file) == []


def test_table_recreated_under_its_own_name_is_not_a_rename(tmp_path: Path) -> None:
    file = revision_file(
        tmp_path,
        """
        op.drop_table("books")
        op.create_table("books", sa.Column("id", sa.Integer(), primary_key=True))
        """,
    )
    assert from_source(file) == []


def test_copying_rows_into_the_new_table_is_not_a_rename(tmp_path: Path) -> None:
    file = revision_file(
        tmp_path,
        """
        op.create_table("accounts", sa.Column("id", sa.Integer(), primary_key=True))
        op.execute("INSERT INTO accounts (id) SELECT id FROM users")
        op.drop_table("users")
        """,
    )
    assert from_source(file) == []


def test_loop_variables_are_not_guessed_statically(tmp_path: Path) -> None:
    file = revision_file(
        tmp_path,
        """
        for old, new in [("title", "name")]:
            op.drop_column("books", old)
            op.add_column("books", sa.Column(new, sa.String()))
        """,
    )
    assert from_source(file) == []


def test_each_add_pairs_with_one_drop_preferring_the_exact_type(tmp_path: Path) -> None:
    file = revision_file(
        tmp_path,
        """
        op.drop_column("books", "title")
        op.drop_column("books", "pages")
        op.add_column("books", sa.Column("page_count", sa.BigInteger()))
        """,
        """
        op.add_column("books", sa.Column("title", sa.String()))
        op.add_column("books", sa.Column("pages", sa.Integer()))
        """,
    )
    [finding] = from_source(file)
    assert "books.pages dropped and books.page_count added" in finding.message


def test_op_imported_under_another_name_is_recognised(tmp_path: Path) -> None:
    file = revision_file(
        tmp_path,
        """
        ops.drop_column("books", "title")
        ops.add_column("books", sa.Column("name", sa.String()))
        """,
        'ops.add_column("books", sa.Column("title", sa.String()))',
    )
    text = file.path.read_text().replace(
        "from alembic import op\n", "from alembic import op as ops\n"
    )
    file.path.write_text(text)
    assert len(from_source(read_revision_file(file.path, file.relpath))) == 1


def test_revision_without_upgrade_has_no_rename(tmp_path: Path) -> None:
    path = tmp_path / "x.py"
    path.write_text('revision = "x"\ndown_revision = None\n')
    assert from_source(read_revision_file(path, "x.py")) == []


# --- runtime --------------------------------------------------------------------------------


def test_renames_in_a_loop_are_caught_at_run_time() -> None:
    file = fixture_file("rename_in_loop", "0002_rename_columns.py")
    findings = from_ops(file.revision, file.relpath, record_upgrade(file))
    assert [f.message for f in findings] == [
        "column books.title dropped and books.name added in the same revision: "
        "the data in books.title is lost",
        "column books.author dropped and books.writer added in the same revision: "
        "the data in books.author is lost",
    ]
    drop_line = line_of(file, "op.drop_column(table, old)")
    assert {(f.path, f.line, f.revision) for f in findings} == {
        ("migrations/versions/0002_rename_columns.py", drop_line, "0002_rename_columns")
    }


def test_runtime_reader_agrees_with_the_static_one_on_the_fixtures() -> None:
    for fixture, name in [
        ("rename_as_drop_add", "0002_rename.py"),
        ("clean_static", "0002_rename_name.py"),
        ("multiple_heads", "0002_add_email.py"),
    ]:
        file = fixture_file(fixture, name)
        runtime = from_ops(file.revision, file.relpath, record_upgrade(file))
        assert runtime == from_source(file)


def test_runtime_table_rename_reads_the_dropped_shape_from_the_database() -> None:
    file = fixture_file("rename_table_as_drop_create", "0002_rename_table.py")
    [finding] = from_ops(file.revision, file.relpath, record_upgrade(file))
    assert finding.hint == 'op.rename_table("users", "accounts")'
    assert finding.line == line_of(file, 'op.drop_table("users")')


def test_runtime_batch_operations_carry_their_table(tmp_path: Path) -> None:
    file = revision_file(
        tmp_path,
        """
        with op.batch_alter_table("books") as batch_op:
            for old, new in [("title", "name")]:
                batch_op.add_column(sa.Column(new, sa.String(200)))
                batch_op.drop_column(old)
        """,
    )
    assert from_source(file) == []
    [finding] = from_ops("0002_change", file.relpath, record_upgrade(file))
    assert finding.line == 12
    assert "books.title dropped and books.name added" in finding.message


def test_runtime_dropped_type_from_reverse_rules_out_a_mismatch() -> None:
    books = sa.Table(
        "books", sa.MetaData(), sa.Column("pages", sa.Integer()), sa.Column("title", sa.String())
    )
    add = alembic_ops.AddColumnOp("books", sa.Column("summary", sa.Text()))
    drop_pages = alembic_ops.DropColumnOp.from_column_and_tablename(None, "books", books.c.pages)
    drop_title = alembic_ops.DropColumnOp.from_column_and_tablename(None, "books", books.c.title)
    assert from_ops("r", "r.py", ops.from_operations([(add, 3), (drop_pages, 4)])) == []
    [finding] = from_ops("r", "r.py", ops.from_operations([(add, 3), (drop_title, 4)]))
    assert finding.line == 4


def test_runtime_execute_between_add_and_drop_is_a_data_copy() -> None:
    books = sa.Table("books", sa.MetaData(), sa.Column("title", sa.String()))
    add = alembic_ops.AddColumnOp("books", sa.Column("name", sa.String()))
    copy = alembic_ops.ExecuteSQLOp("UPDATE books SET name = title")
    drop = alembic_ops.DropColumnOp.from_column_and_tablename(None, "books", books.c.title)
    assert from_ops("r", "r.py", ops.from_operations([(add, 1), (copy, 2), (drop, 3)])) == []
    assert len(from_ops("r", "r.py", ops.from_operations([(add, 1), (drop, 3)]))) == 1
    statement = sa.text("UPDATE books SET name = title")
    assert from_ops("r", "r.py", ops.from_operations([(add, 1), (statement, 2), (drop, 3)])) == []


# --- the shared matcher ----------------------------------------------------------------------


def test_matcher_is_shared_and_pure() -> None:
    records = [
        ops.Op("add_column", 1, "t", columns=(ops.Column("b", "String"),)),
        ops.Op("drop_column", 2, "t", column="a", columns=(ops.Column("a", "TEXT"),)),
    ]
    [pair] = find_renames(records)
    assert (pair.dropped.line, pair.added.line) == (2, 1)
    assert records[0].columns == (ops.Column("b", "String"),)  # inputs untouched


@pytest.mark.parametrize(
    ("a", "b", "compatible"),
    [
        ("VARCHAR", "Text", True),
        ("Integer", "BIGINT", True),
        ("JSONB", "JSON", True),
        ("Integer", "String", False),
        ("DateTime", "Date", False),
        ("MyType", "MyType", True),
    ],
)
def test_type_families(a: str, b: str, compatible: bool) -> None:
    assert (rename.type_family(a) == rename.type_family(b)) is compatible


# --- drift sentences -------------------------------------------------------------------------


def autogenerate(old: sa.MetaData, new: sa.MetaData) -> object:
    engine = sa.create_engine("sqlite://")
    old.create_all(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return produce_migrations(context, new).upgrade_ops


def test_drift_names_a_renamed_column() -> None:
    old, new = sa.MetaData(), sa.MetaData()
    sa.Table(
        "books",
        old,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(200)),
    )
    sa.Table(
        "books",
        new,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200)),
    )
    assert rename.drift_renames(autogenerate(old, new)) == [
        "books: remove_column title + add_column name looks like a rename; autogenerate "
        "cannot see renames, use op.alter_column(..., new_column_name=...)"
    ]


def test_drift_names_a_renamed_table() -> None:
    old, new = sa.MetaData(), sa.MetaData()
    sa.Table(
        "users",
        old,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(255)),
    )
    sa.Table(
        "accounts",
        new,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(255)),
    )
    [sentence] = rename.drift_renames(autogenerate(old, new))
    assert sentence.startswith("remove_table users + add_table accounts looks like a rename")
    assert "op.rename_table(...)" in sentence


def test_drift_of_different_types_is_not_a_rename() -> None:
    old, new = sa.MetaData(), sa.MetaData()
    sa.Table(
        "books",
        old,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(200)),
    )
    sa.Table(
        "books", new, sa.Column("id", sa.Integer, primary_key=True), sa.Column("pages", sa.Integer)
    )
    assert rename.drift_renames(autogenerate(old, new)) == []


def test_drift_without_changes_has_no_sentences() -> None:
    assert rename.drift_renames(alembic_ops.UpgradeOps(ops=[])) == []


# --- precision: what is not a lost rename ---------------------------------------------------


def test_a_table_emptied_first_loses_its_data_on_purpose(tmp_path: Path) -> None:
    file = revision_file(
        tmp_path,
        """
        op.execute("TRUNCATE TABLE books")
        op.add_column("books", sa.Column("name", sa.String(200)))
        op.drop_column("books", "title")
        """,
        'op.add_column("books", sa.Column("title", sa.String(200)))',
    )
    assert from_source(file) == []


def test_the_added_column_renamed_to_the_dropped_name_is_a_completed_swap(
    tmp_path: Path,
) -> None:
    file = revision_file(
        tmp_path,
        """
        op.add_column("books", sa.Column("title_new", sa.Text()))
        op.drop_column("books", "title")
        op.alter_column("books", "title_new", new_column_name="title")
        """,
        'op.add_column("books", sa.Column("title", sa.String(200)))',
    )
    assert from_source(file) == []


def test_reading_the_dropped_column_through_the_connection_handles_it(tmp_path: Path) -> None:
    file = revision_file(
        tmp_path,
        """
        conn = op.get_bind()
        titles = conn.execute(sa.text("SELECT id, title FROM books")).fetchall()
        op.add_column("books", sa.Column("name", sa.String(200)))
        op.drop_column("books", "title")
        """,
        'op.add_column("books", sa.Column("title", sa.String(200)))',
    )
    assert from_source(file) == []


def test_an_orm_session_in_the_upgrade_handles_the_data(tmp_path: Path) -> None:
    file = revision_file(
        tmp_path,
        """
        session = sa.orm.Session(bind=op.get_bind())
        op.add_column("books", sa.Column("name", sa.String(200)))
        op.drop_column("books", "title")
        """,
        'op.add_column("books", sa.Column("title", sa.String(200)))',
    )
    assert from_source(file) == []


def test_several_drops_for_one_unrelated_add_are_not_a_rename(tmp_path: Path) -> None:
    file = revision_file(
        tmp_path,
        """
        op.drop_column("users", "locale")
        op.drop_column("users", "theme")
        op.drop_column("users", "is_superuser")
        op.add_column("users", sa.Column("email_notifications", sa.Boolean()))
        """,
        """
        op.add_column("users", sa.Column("is_superuser", sa.Boolean()))
        op.add_column("users", sa.Column("theme", sa.String(16)))
        op.add_column("users", sa.Column("locale", sa.String(16)))
        """,
    )
    assert from_source(file) == []


def test_several_candidates_pair_by_name_not_by_order(tmp_path: Path) -> None:
    file = revision_file(
        tmp_path,
        """
        op.drop_column("books", "subtitle")
        op.drop_column("books", "title")
        op.add_column("books", sa.Column("book_title", sa.String(200)))
        op.add_column("books", sa.Column("sub_title", sa.String(200)))
        """,
        """
        op.add_column("books", sa.Column("subtitle", sa.String(200)))
        op.add_column("books", sa.Column("title", sa.String(200)))
        """,
    )
    pairs = sorted((f.message.split()[1], f.message.split()[4]) for f in from_source(file))
    assert pairs == [("books.subtitle", "books.sub_title"), ("books.title", "books.book_title")]


def test_a_table_of_unknown_shape_never_pairs_with_a_created_one(tmp_path: Path) -> None:
    file = revision_file(
        tmp_path,
        """
        if "legacy_sessions" in sa.inspect(op.get_bind()).get_table_names():
            op.drop_table("legacy_sessions")
        op.drop_table("_alembic_tmp_books")
        op.create_table("api_tokens", sa.Column("id", sa.Integer(), primary_key=True))
        """,
        """
        op.create_table("_alembic_tmp_books", sa.Column("id", sa.Integer(), primary_key=True))
        """,
    )
    assert from_source(file) == []


def test_a_statement_that_cannot_be_read_makes_the_rename_a_warning(tmp_path: Path) -> None:
    file = revision_file(
        tmp_path,
        """
        op.add_column("books", sa.Column("name", sa.String(200)))
        op.execute(open("backfill.sql").read())
        op.drop_column("books", "title")
        """,
        'op.add_column("books", sa.Column("title", sa.String(200)))',
    )
    [finding] = from_source(file)
    assert finding.severity is Severity.WARNING
    assert "unless the statement on line 10 (which migguard cannot read) copies it" in (
        finding.message
    )


def test_runtime_types_from_the_database_rule_out_an_unrelated_add() -> None:
    created_at = sa.Table(
        "users", sa.MetaData(), sa.Column("created_at", sa.TIMESTAMP(timezone=True))
    )
    drop = alembic_ops.DropColumnOp.from_column_and_tablename(None, "users", created_at.c[0])
    add = alembic_ops.AddColumnOp("users", sa.Column("login_count", sa.Integer()))
    assert from_ops("r", "r.py", ops.from_operations([(drop, 1), (add, 2)])) == []


def test_the_history_gives_the_type_a_downgrade_does_not(tmp_path: Path) -> None:
    first = tmp_path / "0001_books.py"
    first.write_text(
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        'revision = "0001_books"\ndown_revision = None\n\n\n'
        "def upgrade():\n"
        '    op.create_table("books", sa.Column("id", sa.Integer()), '
        'sa.Column("title", sa.String(200)), sa.Column("pages", sa.Integer()))\n'
        '    op.alter_column("books", "pages", type_=sa.BigInteger())\n'
    )
    history = rename.column_types([read_revision_file(first, "0001_books.py")])
    assert set(history) == {(None, "books", "id"), (None, "books", "title")}
    file = revision_file(
        tmp_path,
        """
        op.add_column("books", sa.Column("name", sa.String(200)))
        op.drop_column("books", "title")
        """,
        'raise NotImplementedError("no way back")',
    )
    assert from_source(file) == []
    [finding] = from_source(file, history)
    assert finding.severity is None  # the rule's default: error
    assert "books.title dropped and books.name added" in finding.message


def test_a_project_helper_given_the_dropped_column_handles_it(tmp_path: Path) -> None:
    file = revision_file(
        tmp_path,
        """
        op.add_column("books", sa.Column("name", sa.String(200)))
        copy_column(op, "books", "title", "name")
        op.drop_column("books", "title")
        """,
        'op.add_column("books", sa.Column("title", sa.String(200)))',
    )
    source = file.path.read_text().replace(
        "from alembic import op\n",
        "from alembic import op\n\nfrom app.migration_utils import copy_column\n",
    )
    file.path.write_text(source)
    assert from_source(read_revision_file(file.path, file.relpath)) == []
    silent = source.replace('copy_column(op, "books", "title", "name")', "copy_column()")
    file.path.write_text(silent)
    [finding] = from_source(read_revision_file(file.path, file.relpath))
    assert finding.severity is Severity.WARNING
