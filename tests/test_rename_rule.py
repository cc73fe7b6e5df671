"""rename-as-drop-add: the static reader, the runtime reader and the drift sentences."""

from __future__ import annotations

import io
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import produce_migrations
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.operations import ops as alembic_ops
from alembic.operations.base import AbstractOperations
from alembic.util import load_python_file

from migguard.checks import rename
from migguard.checks.rename import ColumnShape, find_renames, from_ops, from_source
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


def record_upgrade(file: RevisionFile) -> list[tuple[object, int | None]]:
    """Run a revision's upgrade() offline (PostgreSQL dialect, SQL to a buffer) and record
    every operation it invokes with its line in the revision file, as the runner does."""
    recorded: list[tuple[object, int | None]] = []
    original = AbstractOperations.invoke
    target = str(file.path)

    def invoke(self: AbstractOperations, operation: object) -> object:
        frame = sys._getframe(1)
        while frame is not None and frame.f_code.co_filename != target:
            frame = frame.f_back
        recorded.append((operation, frame.f_lineno if frame is not None else None))
        return original(self, operation)

    module = load_python_file(file.path.parent, file.path.name)
    context = MigrationContext.configure(
        dialect_name="postgresql", opts={"as_sql": True, "output_buffer": io.StringIO()}
    )
    AbstractOperations.invoke = invoke  # type: ignore[method-assign]
    try:
        with Operations.context(context):
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


def test_unknown_dropped_type_matches_any_added_column(tmp_path: Path) -> None:
    file = revision_file(
        tmp_path,
        """
        op.drop_column("books", "pages")
        op.add_column("books", sa.Column("summary", sa.Text()))
        """,
    )
    assert len(from_source(file)) == 1


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


def test_runtime_table_rename_with_unknown_dropped_columns_is_reported() -> None:
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
    assert from_ops("r", "r.py", [(add, 3), (drop_pages, 4)]) == []
    [finding] = from_ops("r", "r.py", [(add, 3), (drop_title, 4)])
    assert finding.line == 4


def test_runtime_execute_between_add_and_drop_is_a_data_copy() -> None:
    add = alembic_ops.AddColumnOp("books", sa.Column("name", sa.String()))
    copy = alembic_ops.ExecuteSQLOp("UPDATE books SET name = title")
    drop = alembic_ops.DropColumnOp("books", "title")
    assert from_ops("r", "r.py", [(add, 1), (copy, 2), (drop, 3)]) == []
    assert len(from_ops("r", "r.py", [(add, 1), (drop, 3)])) == 1
    statement = sa.text("UPDATE books SET name = title")
    assert from_ops("r", "r.py", [(add, 1), (statement, 2), (drop, 3)]) == []


# --- the shared matcher ----------------------------------------------------------------------


def test_matcher_is_shared_and_pure() -> None:
    changes = [
        rename.Change("add_column", "t", None, ColumnShape("b", "string"), line=1),
        rename.Change("drop_column", "t", None, ColumnShape("a", None), line=2),
    ]
    [pair] = find_renames(changes)
    assert (pair.dropped.line, pair.added.line) == (2, 1)
    assert changes[0].column == ColumnShape("b", "string")  # inputs untouched


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
