"""index-name and constraint-name: model metadata built in the test, revisions in tmp_path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from migguard.checks import StaticContext
from migguard.checks.naming import (
    CONSTRAINT_NAME,
    INDEX_NAME,
    check,
    check_metadata,
    check_revision,
    metadata_findings,
    runtime_conventions,
    source_naming_convention,
    written_names,
)
from migguard.config import Settings
from migguard.errors import MigguardError
from migguard.findings import Finding, Severity
from migguard.naming_convention import RECOMMENDED_CONVENTIONS, effective_conventions
from migguard.project import Project, RevisionFile, read_revision_file
from migguard.rules import load

CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def users(metadata: sa.MetaData, *extra: sa.SchemaItem) -> sa.Table:
    return sa.Table(
        "users",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(200)),
        sa.Column("org_id", sa.Integer),
        *extra,
    )


def messages(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.rule, f.message) for f in findings]


# --- (a) model metadata ---------------------------------------------------------------------


def test_an_explicit_index_name_off_the_default_convention_is_reported() -> None:
    metadata = sa.MetaData()
    users(metadata, sa.Index("idx_users_email", "email"))
    [finding] = metadata_findings(metadata)
    assert finding.rule == "index-name"
    assert finding.message == (
        "index name 'idx_users_email' does not follow the convention: expected 'ix_users_email'"
    )
    assert finding.hint == "name it 'ix_users_email' (convention 'ix_%(column_0_label)s')"
    assert (finding.path, finding.line, finding.revision) == (None, None, None)


def test_names_sqlalchemy_generates_from_the_convention_are_compliant() -> None:
    metadata = sa.MetaData(naming_convention=CONVENTION)
    sa.Table(
        "books",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("isbn", sa.String, unique=True),
        sa.Column("title", sa.String, index=True),
        sa.Column("author_id", sa.ForeignKey("authors.id")),
        sa.CheckConstraint("id > 0", name="positive_id"),
    )
    sa.Table("authors", metadata, sa.Column("id", sa.Integer, primary_key=True))
    assert metadata_findings(metadata) == []


def test_index_true_on_a_default_metadata_is_compliant() -> None:
    metadata = sa.MetaData()
    sa.Table("users", metadata, sa.Column("email", sa.String, index=True))
    assert metadata_findings(metadata) == []


def test_without_a_convention_constraints_are_not_judged() -> None:
    metadata = sa.MetaData()
    sa.Table("orgs", metadata, sa.Column("id", sa.Integer, primary_key=True))
    sa.Table(
        "experiments",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String, unique=True),
        sa.Column("org_id", sa.ForeignKey("orgs.id")),
        sa.CheckConstraint("id > 0", name="experiments_lifecycle_stage"),
        sa.Index("ix_experiments_email_org_id", "email", "org_id"),
    )
    assert metadata_findings(metadata) == []


def test_the_author_part_of_a_name_is_not_prefixed_twice() -> None:
    metadata = sa.MetaData()
    sa.Table(
        "experiments",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.CheckConstraint("id > 0", name="experiments_lifecycle_stage"),
    )
    [finding] = metadata_findings(metadata, {"ck": "recommended"})
    assert finding.message.endswith("expected 'ck_experiments_lifecycle_stage'")


def test_unnamed_unique_and_foreign_key_are_reported_once_opted_in() -> None:
    metadata = sa.MetaData()
    sa.Table("orgs", metadata, sa.Column("id", sa.Integer, primary_key=True))
    sa.Table(
        "users",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String, unique=True),
        sa.Column("org_id", sa.ForeignKey("orgs.id")),
    )
    assert messages(metadata_findings(metadata, {"uq": "recommended", "fk": "recommended"})) == [
        (
            "constraint-name",
            "unnamed unique constraint on users (email): PostgreSQL will name it itself "
            "('users_email_key')",
        ),
        (
            "constraint-name",
            "unnamed foreign key on users (org_id): PostgreSQL will name it itself "
            "('users_org_id_fkey')",
        ),
    ]


def test_unnamed_primary_keys_are_not_reported() -> None:
    metadata = sa.MetaData()
    sa.Table("users", metadata, sa.Column("id", sa.Integer, primary_key=True))
    assert metadata_findings(metadata) == []


def test_a_project_convention_replaces_the_default_for_explicit_names() -> None:
    metadata = sa.MetaData(naming_convention={"ix": "%(column_0_label)s_idx"})
    users(metadata, sa.Index("users_email_idx", "email"), sa.Index("ix_users_org_id", "org_id"))
    [finding] = metadata_findings(metadata)
    assert finding.message == (
        "index name 'ix_users_org_id' does not follow the convention: expected 'users_org_id_idx'"
    )


def test_settings_override_the_project_convention_even_for_generated_names() -> None:
    metadata = sa.MetaData(naming_convention=CONVENTION)
    sa.Table("users", metadata, sa.Column("email", sa.String, index=True))
    [finding] = metadata_findings(metadata, {"ix": "ix_%(table_name)s_%(column_0_N_name)s_idx"})
    assert finding.message == (
        "index name 'ix_users_email' does not follow the convention: expected 'ix_users_email_idx'"
    )


def test_a_check_constraint_name_of_the_convention_shape_is_accepted() -> None:
    metadata = sa.MetaData()
    users(
        metadata,
        sa.CheckConstraint("id > 0", name="ck_users_positive_id"),
        sa.CheckConstraint("id < 10", name="small_id"),
    )
    [finding] = metadata_findings(metadata, {"ck": "recommended"})
    assert finding.message == (
        "check constraint name 'small_id' does not follow the convention: "
        "expected 'ck_users_small_id'"
    )


def test_a_long_name_in_sqlalchemy_truncated_form_is_accepted() -> None:
    from migguard.naming_convention import truncate

    metadata = sa.MetaData()
    long_table = "t" * 40
    sa.Table(
        long_table,
        metadata,
        sa.Column("c" * 40, sa.Integer),
        sa.Index(truncate(f"ix_{long_table}_{'c' * 40}"), "c" * 40),
    )
    assert metadata_findings(metadata) == []


def test_the_locator_gives_the_models_file_and_line(tmp_path: Path) -> None:
    metadata = sa.MetaData()
    users(metadata, sa.Index("idx_users_email", "email"))
    calls = []

    def locate(table, name, kind, columns):
        calls.append((table, name, kind, columns))
        return "app/models.py", 12

    [finding] = metadata_findings(metadata, locate=locate)
    assert (finding.path, finding.line) == ("app/models.py", 12)
    assert calls == [("users", "idx_users_email", "ix", ("email",))]


# --- (b), (c) revision files ----------------------------------------------------------------


def revision(tmp_path: Path, upgrade: str, downgrade: str = "pass") -> RevisionFile:
    source = (
        '"""a revision"""\n'
        "import sqlalchemy as sa\n"
        "from alembic import op\n\n"
        'revision = "0002_names"\n'
        'down_revision = "0001_base"\n\n\n'
        "def upgrade():\n"
        + textwrap.indent(textwrap.dedent(upgrade).strip("\n"), "    ")
        + "\n\n\ndef downgrade():\n"
        + textwrap.indent(textwrap.dedent(downgrade).strip("\n"), "    ")
        + "\n"
    )
    path = tmp_path / "migrations" / "versions" / "0002_names.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")
    return read_revision_file(path, "migrations/versions/0002_names.py")


def line_of(rev: RevisionFile, text: str) -> int:
    [line] = [n for n, content in enumerate(rev.lines, start=1) if text in content]
    return line


DEFAULTS = effective_conventions()
OPTED_IN = effective_conventions(overrides=RECOMMENDED_CONVENTIONS)


def test_create_index_with_a_hand_written_name_is_reported(tmp_path: Path) -> None:
    rev = revision(tmp_path, 'op.create_index("idx_books_title", "books", ["title"])')
    [finding] = check_revision(rev, DEFAULTS)
    assert finding.rule == "index-name"
    assert finding.path == "migrations/versions/0002_names.py"
    assert finding.line == line_of(rev, "idx_books_title")
    assert finding.revision == "0002_names"
    assert finding.message == (
        "index name 'idx_books_title' does not follow the convention: expected 'ix_books_title'"
    )
    assert "'ix_books_title'" in (finding.hint or "")


def test_the_reported_line_is_the_line_the_name_is_written_on(tmp_path: Path) -> None:
    rev = revision(
        tmp_path,
        """
        op.create_index(
            "idx_books_title",
            "books",
            ["title"],
        )
        """,
    )
    [finding] = check_revision(rev, DEFAULTS)
    assert finding.line == line_of(rev, '"idx_books_title"')


def test_op_f_names_that_follow_the_convention_pass(tmp_path: Path) -> None:
    rev = revision(
        tmp_path,
        """
        op.create_index(op.f("ix_books_title"), "books", ["title"], unique=False)
        op.create_unique_constraint("uq_books_isbn", "books", ["isbn"])
        op.create_foreign_key(
            "fk_books_author_id_authors", "books", "authors", ["author_id"], ["id"]
        )
        op.create_check_constraint("ck_books_positive_price", "books", "price > 0")
        op.create_primary_key("pk_books", "books", ["id"])
        """,
    )
    assert check_revision(rev, OPTED_IN) == []


def test_constraints_inside_create_table_are_checked(tmp_path: Path) -> None:
    rev = revision(
        tmp_path,
        """
        op.create_table(
            "books",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("author_id", sa.Integer(), sa.ForeignKey("authors.id", name="books_fk")),
            sa.PrimaryKeyConstraint("id", name="books_pk"),
            sa.UniqueConstraint("isbn", name=op.f("uq_books_isbn")),
            sa.CheckConstraint("price > 0", name="positive_price"),
            sa.ForeignKeyConstraint(["editor_id"], ["people.id"], name="editor_fk"),
        )
        """,
    )
    assert [(f.line, f.message) for f in check_revision(rev, OPTED_IN)] == [
        (
            line_of(rev, "books_fk"),
            "foreign key name 'books_fk' does not follow the convention: "
            "expected 'fk_books_author_id_authors'",
        ),
        (
            line_of(rev, "books_pk"),
            "primary key name 'books_pk' does not follow the convention: expected 'pk_books'",
        ),
        (
            line_of(rev, "positive_price"),
            "check constraint name 'positive_price' does not follow the convention: "
            "expected 'ck_books_positive_price'",
        ),
        (
            line_of(rev, "editor_fk"),
            "foreign key name 'editor_fk' does not follow the convention: "
            "expected 'fk_books_editor_id_people'",
        ),
    ]
    assert {f.rule for f in check_revision(rev, OPTED_IN)} == {"constraint-name"}


def test_batch_operations_use_the_batch_table(tmp_path: Path) -> None:
    rev = revision(
        tmp_path,
        """
        with op.batch_alter_table("books", schema=None) as batch_op:
            batch_op.create_index("books_by_title", ["title"])
            batch_op.create_unique_constraint("uq_books_isbn", ["isbn"])
            batch_op.create_foreign_key("author_fk", "authors", ["author_id"], ["id"])
        """,
    )
    assert [f.message for f in check_revision(rev, OPTED_IN)] == [
        "index name 'books_by_title' does not follow the convention: expected 'ix_books_title'",
        "foreign key name 'author_fk' does not follow the convention: "
        "expected 'fk_books_author_id_authors'",
    ]


def test_downgrade_restores_old_names_and_is_not_checked(tmp_path: Path) -> None:
    rev = revision(
        tmp_path,
        'op.drop_index("idx_books_title", table_name="books")',
        'op.create_index("idx_books_title", "books", ["title"])',
    )
    assert check_revision(rev, DEFAULTS) == []


def test_names_that_are_computed_or_expression_indexes_are_not_judged(tmp_path: Path) -> None:
    rev = revision(
        tmp_path,
        """
        name = "idx_" + "books"
        op.create_index(name, "books", ["title"])
        op.create_index(f"idx_{name}", "books", ["title"])
        op.create_index("idx_lower_email", "users", [sa.text("lower(email)")])
        op.create_index("idx_x", table, ["title"])
        op.create_check_constraint("positive", "books", "price > 0", schema=None)
        """,
    )
    [finding] = check_revision(rev, OPTED_IN)
    assert "'positive'" in finding.message


def test_an_unnamed_unique_constraint_in_create_table_is_reported(tmp_path: Path) -> None:
    rev = revision(
        tmp_path,
        """
        op.create_table(
            "books",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("isbn", sa.String(20), nullable=False),
            sa.Column("code", sa.String(20), unique=True),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("isbn"),
        )
        """,
    )
    findings = check_revision(rev, OPTED_IN)
    assert [(f.rule, f.line, f.message) for f in findings] == [
        (
            "constraint-name",
            line_of(rev, '"code"'),
            "unnamed unique constraint on books (code): PostgreSQL will name it itself "
            "('books_code_key')",
        ),
        (
            "constraint-name",
            line_of(rev, 'UniqueConstraint("isbn")'),
            "unnamed unique constraint on books (isbn): PostgreSQL will name it itself "
            "('books_isbn_key')",
        ),
    ]
    assert findings[1].hint == "name it op.f('uq_books_isbn')"
    assert {f.revision for f in findings} == {"0002_names"}


def test_create_unique_constraint_with_none_is_reported(tmp_path: Path) -> None:
    rev = revision(tmp_path, 'op.create_unique_constraint(None, "books", ["title", "author"])')
    [finding] = check_revision(rev, OPTED_IN)
    assert finding.message == (
        "unnamed unique constraint on books (title, author): PostgreSQL will name it itself "
        "('books_title_author_key')"
    )


def test_target_metadata_convention_names_unnamed_constraints_at_run_time(
    tmp_path: Path,
) -> None:
    rev = revision(
        tmp_path,
        """
        op.create_unique_constraint(None, "books", ["isbn"])
        op.create_check_constraint("positive_price", "books", "price > 0")
        """,
    )
    metadata = sa.MetaData(naming_convention=CONVENTION)
    runtime = runtime_conventions(metadata)
    conventions = effective_conventions(CONVENTION)
    assert check_revision(rev, conventions, runtime) == []
    # Without the convention on target_metadata both stay as written.
    assert len(check_revision(rev, conventions, runtime_conventions(None))) == 2
    # A list of MetaData gives Alembic's operations no convention either.
    assert runtime_conventions([metadata]) == {"ix": "ix_%(column_0_label)s"}


def test_written_names_reads_op_f_as_final(tmp_path: Path) -> None:
    rev = revision(tmp_path, 'op.create_index(op.f("ix_books_title"), "books", ["title"])')
    [written] = written_names(rev)
    assert (written.kind, written.name, written.final) == ("ix", "ix_books_title", True)


# --- check(): the pieces together -----------------------------------------------------------


def context(tmp_path: Path, metadata=None, naming=None) -> StaticContext:
    project = Project(
        root=tmp_path.resolve(),
        config_path=tmp_path / "alembic.ini",
        script_location=tmp_path / "migrations",
        version_dirs=[tmp_path / "migrations" / "versions"],
    )
    return StaticContext(project, Settings(naming=naming or {}), metadata)


def test_check_locates_model_findings_in_the_models_file(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "models.py").write_text(
        textwrap.dedent(
            """
            class User(Base):
                __tablename__ = "users"
                __table_args__ = (Index("idx_users_email", "email"),)

                id: Mapped[int] = mapped_column(primary_key=True)
                org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))

            books = Table("books", metadata, Column("isbn", String, unique=True))
            """
        )
    )
    (tmp_path / "migrations" / "versions").mkdir(parents=True)
    metadata = sa.MetaData()
    sa.Table("orgs", metadata, sa.Column("id", sa.Integer, primary_key=True))
    sa.Table(
        "users",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String),
        sa.Column("org_id", sa.ForeignKey("orgs.id")),
        sa.Index("idx_users_email", "email"),
    )
    sa.Table("books", metadata, sa.Column("isbn", sa.String, unique=True))
    naming = {"uq": "recommended", "fk": "recommended"}
    findings = check(context(tmp_path, metadata, naming))
    assert [(f.rule, f.path, f.line) for f in findings] == [
        ("constraint-name", "app/models.py", 9),  # books.isbn unique=True
        ("index-name", "app/models.py", 4),
        ("constraint-name", "app/models.py", 7),  # users.org_id ForeignKey
    ]


def test_check_reads_revisions_with_the_metadata_convention(tmp_path: Path) -> None:
    revision(tmp_path, 'op.create_index("ix_users_email", "users", ["email"])')
    metadata = sa.MetaData(naming_convention={"ix": "%(column_0_label)s_idx"})
    [finding] = check(context(tmp_path, metadata))
    assert finding.message.endswith("expected 'users_email_idx'")
    assert finding.path is not None and finding.revision == "0002_names"


def test_without_metadata_the_convention_is_read_from_the_source(tmp_path: Path) -> None:
    (tmp_path / "db.py").write_text(
        textwrap.dedent(
            """
            NAMING_CONVENTION = {
                "ix": "%(column_0_label)s_idx",
                sa.UniqueConstraint: "%(table_name)s_%(column_0_name)s_key",
            }
            metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
            """
        )
    )
    revision(
        tmp_path,
        """
        op.create_index(op.f("users_email_idx"), "users", ["email"])
        op.create_unique_constraint(None, "users", ["email"])
        op.create_index("ix_users_name", "users", ["name"])
        """,
    )
    [finding] = check(context(tmp_path, metadata=None))
    assert finding.message.endswith("expected 'users_name_idx'")


def test_source_naming_convention_reads_literal_dicts_only(tmp_path: Path) -> None:
    from migguard.checks.startup import SourceFile

    def source(text: str) -> SourceFile:
        import ast

        text = textwrap.dedent(text)
        return SourceFile(tmp_path / "m.py", "m.py", "m", ast.parse(text), text)

    inline = source('MetaData(naming_convention={"pk": "pk_%(table_name)s", "x": 1})')
    assert source_naming_convention([inline]) == {"pk": "pk_%(table_name)s"}
    computed = source("MetaData(naming_convention=build_convention())")
    assert source_naming_convention([computed]) is None


def test_check_metadata_takes_the_context_like_the_engine_calls_it(tmp_path: Path) -> None:
    (tmp_path / "migrations" / "versions").mkdir(parents=True)
    revision(tmp_path, 'op.create_index("idx_users_email", "users", ["email"])')
    metadata = sa.MetaData()
    users(metadata, sa.Index("idx_users_email", "email"))
    [finding] = check_metadata(context(tmp_path, metadata))
    assert finding.revision is None  # revisions are check()'s business


def test_a_model_that_cannot_be_located_has_no_path(tmp_path: Path) -> None:
    (tmp_path / "migrations" / "versions").mkdir(parents=True)
    metadata = sa.MetaData()
    users(metadata, sa.Index("idx_users_email", "email"))
    [finding] = check(context(tmp_path, metadata))
    assert (finding.path, finding.line) == (None, None)


@pytest.mark.parametrize(
    ("naming", "message"),
    [
        ({"idx": "ix_%(table_name)s"}, "unknown kind 'idx'"),
        ({"ix": "ix_%(colum_0_name)s"}, "unknown token %(colum_0_name)s"),
    ],
)
def test_a_bad_naming_setting_is_a_configuration_error(
    tmp_path: Path, naming: dict[str, str], message: str
) -> None:
    with pytest.raises(MigguardError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check(context(tmp_path, naming=naming))


def test_both_rules_are_registered_as_warnings() -> None:
    for rule in (INDEX_NAME, CONSTRAINT_NAME):
        assert load()[rule.id] is rule
        assert rule.severity is Severity.WARNING
        assert all([rule.summary, rule.what, rule.why, rule.example, rule.use_instead])
