"""The database rules end to end: the real CLI, a real throwaway PostgreSQL, fixture projects."""

from __future__ import annotations

import pytest

from tests.conftest import FIXTURES, REPO, run_cli

pytestmark = pytest.mark.timeout(300)


def _check(fixture: str, *extra: str):
    return run_cli("check", "--format", "json", "--db", "local", *extra, str(FIXTURES / fixture))


def test_clean_project_has_no_findings() -> None:
    result = _check("clean_db")
    assert result.code == 0, result.stderr
    assert result.findings() == []
    assert result.json["summary"]["revisions"] == 2


def test_model_column_without_migration_is_drift() -> None:
    result = _check("drift")
    assert result.code == 1, result.stderr
    (finding,) = result.findings("drift")
    assert finding["path"] == "models.py"
    assert finding["line"] == 17  # bio: Mapped[str | None] = mapped_column(sa.Text())
    assert finding["revision"] == "0002_author_email"
    assert "op.add_column('authors', sa.Column('bio'" in finding["message"]


def test_broken_sql_in_upgrade_is_reported_with_its_line() -> None:
    result = _check("upgrade_fails")
    assert result.code == 1, result.stderr
    (finding,) = result.findings("upgrade-fails")
    assert finding["path"] == "migrations/versions/0002_bad_sql.py"
    assert finding["line"] == 13
    assert finding["revision"] == "0002_bad_sql"
    assert 'relation "authorz" does not exist' in finding["message"]


def test_downgrade_that_raises_is_reported() -> None:
    result = _check("downgrade_fails")
    assert result.code == 1, result.stderr
    (finding,) = result.findings("downgrade-fails")
    assert finding["path"] == "migrations/versions/0002_author_email.py"
    assert finding["line"] == 17
    assert "ix_author_email" in finding["message"]


def test_downgrade_failing_after_an_orm_session_backfill_is_reported_not_an_internal_error() -> (
    None
):
    """Found on mealie: the upgrade fills a column through ``orm.Session(bind=op.get_bind())``
    and commits it (psycopg 3), the downgrade is autogenerate's ``drop_constraint(None, ...)``.
    Confirming the failure replays the revision in sessions of its own; the session's commit
    left a transaction on the connection, which must end before it reconnects."""
    result = _check("downgrade_fails_after_session_backfill")
    assert result.code == 1, result.stdout + result.stderr
    assert "internal error" not in result.stderr
    (finding,) = result.findings("downgrade-fails")
    assert finding["path"] == "migrations/versions/0002_list_owner.py"
    assert finding["line"] == 31
    assert "it has no name" in finding["message"]
    assert result.json["summary"]["checked"] == 2


def test_round_trip_that_committed_part_of_its_work_is_replayed_and_the_rest_checked() -> None:
    """The downgrade drops an index in an autocommit block, then fails: rolling back cannot
    bring the index back, so the history up to 0002 is replayed on a fresh database and 0003
    is round-tripped from the state `alembic upgrade` leaves. The failure reproduces on a
    plain replay, so it is reported."""
    result = run_cli("check", "--db", "local", str(FIXTURES / "downgrade_fails_after_commit"))
    assert result.code == 1, result.stderr
    assert "downgrade-fails" in result.stdout
    assert "migrations/versions/0002_author_email_index.py:23" in result.stdout
    assert 'column "e_mail" of relation "authors" does not exist' in result.stdout
    assert "upgrade-fails" not in result.stdout
    assert "3 round-tripped, 0 skipped" in result.stdout


def test_downgrade_that_forgets_a_column_is_caught_even_when_downgrade_base_hides_it() -> None:
    result = _check("downgrade_mismatch")
    assert result.code == 1, result.stderr
    by_revision = {f["revision"]: f for f in result.findings("downgrade-mismatch")}
    forgot = by_revision["0002_author_email"]
    assert forgot["path"] == "migrations/versions/0002_author_email.py"
    assert forgot["line"] == 15  # def downgrade
    assert "column authors.email left behind" in forgot["message"]
    enum = by_revision["0004_book_status"]
    assert "enum type shipment_status left behind" in enum["message"]
    assert "0003_books" not in by_revision


def test_constraints_and_enum_labels_autogenerate_misses_are_schema_mismatch() -> None:
    result = _check("schema_mismatch")
    assert result.code == 1, result.stderr
    messages = [f["message"] for f in result.findings("schema-mismatch")]
    assert any("ck_books_pages_positive" in m for m in messages), messages
    assert any("book_status" in m and "archived" in m for m in messages), messages
    for finding in result.findings("schema-mismatch"):
        assert finding["path"] == "models.py"
        assert finding["revision"] == "0002_books"


def test_backfill_server_default_the_model_repeats_as_python_default_is_no_mismatch() -> None:
    """``add_column(..., nullable=False, server_default="0")`` with ``default=0`` on the model
    (found on CTFd): the create_all schema only lacks a default the application always
    supplies (an enum member too). A model default that is not the database's still is a
    mismatch."""
    result = _check("backfill_server_default")
    assert result.code == 1, result.stdout + result.stderr
    (finding,) = result.findings("schema-mismatch")
    assert finding["message"] == "column tickets.priority server default: migrations 5, models none"
    assert finding["path"] == "models.py" and finding["line"] == 25
    assert finding["revision"] == "0002_ticket_triage"
    assert result.json["summary"]["errors"] == 1


def test_example_app_is_clean_on_the_embedded_default() -> None:
    result = run_cli("check", "--format", "json", str(REPO / "example_app"))
    assert result.code == 0, result.stdout + result.stderr
    assert result.findings() == []
    assert result.json["summary"]["revisions"] >= 3


def test_example_app_is_clean_on_local_binaries() -> None:
    result = run_cli("check", "--format", "json", "--db", "local", str(REPO / "example_app"))
    assert result.code == 0, result.stdout + result.stderr
    assert result.findings() == []


def test_example_app_is_clean_on_a_named_server(pg_admin_url: str) -> None:
    result = run_cli(
        "check",
        "--format",
        "json",
        "--db",
        "url",
        "--database-url",
        pg_admin_url,
        str(REPO / "example_app"),
    )
    assert result.code == 0, result.stdout + result.stderr
    assert result.findings() == []


def test_text_output_shows_the_line_and_a_summary() -> None:
    result = run_cli("check", "--db", "local", str(FIXTURES / "upgrade_fails"))
    assert result.code == 1
    assert "migrations/versions/0002_bad_sql.py:13: error [upgrade-fails]" in result.stdout
    assert 'op.execute("CREATE INDEX ix_authors_email ON authorz (email)")' in result.stdout
    assert "1 error" in result.stdout.splitlines()[-1]


def test_async_env_py_runs_through_asyncpg_and_is_checked_the_same() -> None:
    result = _check("async_env")
    assert result.code == 1, result.stderr
    by_revision = {f["revision"]: f for f in result.findings("downgrade-mismatch")}
    assert set(by_revision) == {"0002_author_email", "0004_book_status"}
    assert by_revision["0002_author_email"]["line"] == 15
    assert result.json["summary"]["checked"] == 4


def test_renamed_model_column_shows_up_in_drift_as_a_probable_rename() -> None:
    result = _check("drift_rename")
    assert result.code == 1, result.stderr
    (finding,) = result.findings("drift")
    assert finding["path"] == "models.py" and finding["line"] == 15  # full_name: ...
    assert "op.drop_column('authors', 'name')" in finding["message"]
    assert "looks like a rename" in finding["message"]
    assert "new_column_name" in finding["hint"]


def test_drop_and_add_generated_in_a_loop_are_caught_from_the_recorded_operations() -> None:
    result = _check("rename_in_loop")
    assert result.code == 1, result.stderr
    findings = result.findings("rename-as-drop-add")
    assert {f["revision"] for f in findings} == {"0002_rename_columns"}
    assert {f["path"] for f in findings} == {"migrations/versions/0002_rename_columns.py"}
    assert {f["line"] for f in findings} == {22}  # op.drop_column inside the helper
    assert any("books.title dropped and books.name added" in f["message"] for f in findings)


def test_static_mode_starts_no_database() -> None:
    from tests.conftest import postgres_processes

    before = set(postgres_processes())
    # An unreachable server as the only provider: any attempt to use a database would exit 2.
    result = run_cli(
        "check",
        "--static",
        "--format",
        "json",
        "--db",
        "url",
        "--database-url",
        "postgresql://nobody@127.0.0.1:1/none",
        str(REPO / "example_app"),
    )
    assert result.code == 0, result.stderr
    assert result.findings() == []
    assert set(postgres_processes()) <= before
    assert result.json["summary"]["checked"] == 0


def test_a_foreign_key_named_differently_is_one_schema_mismatch() -> None:
    result = _check("schema_mismatch_fk_name")
    assert result.code == 1, result.stderr
    [finding] = result.findings("schema-mismatch")
    assert (finding["path"], finding["line"], finding["revision"]) == (
        "models.py",
        26,
        "0001_initial",
    )
    assert finding["message"] == (
        "foreign key on books is named books_author_id_fkey by the migrations, "
        "fk_books_author_id_authors by the models: FOREIGN KEY (author_id) REFERENCES authors(id)"
    )
    assert finding["hint"] == (
        'op.execute("ALTER TABLE books RENAME CONSTRAINT books_author_id_fkey TO '
        "fk_books_author_id_authors\") in a new revision, or name it 'books_author_id_fkey' "
        "in the model"
    )


def test_a_foreign_key_whose_models_name_sorts_first_is_one_finding_not_two() -> None:
    """Found on mealie: the migrations name it fk_books_author_id, the models get PostgreSQL's
    books_author_id_fkey, which sorts first. Still one renamed object, not also "in the models
    but not created by the migrations", which would be false."""
    result = _check("schema_mismatch_fk_named_in_migration")
    assert result.code == 1, result.stdout + result.stderr
    [finding] = result.findings("schema-mismatch")
    assert (finding["path"], finding["line"], finding["revision"]) == (
        "models.py",
        20,
        "0002_book_author",
    )
    assert finding["message"] == (
        "foreign key on books is named fk_books_author_id by the migrations, "
        "books_author_id_fkey by the models: FOREIGN KEY (author_id) REFERENCES authors(id)"
    )
    assert result.json["summary"]["errors"] == 1


def test_models_env_py_does_not_import_are_one_finding_at_env_py() -> None:
    """env.py's metadata comes from app/db/base.py, which imports the user model only: the
    tables of app/models/item.py and tag.py are one finding naming those modules, not a drift
    error per table blamed on model files; the real drift (users.full_name) stays."""
    result = _check("drift_unimported_models")
    assert result.code == 1, result.stderr
    located = sorted((f["path"], f["line"]) for f in result.findings("drift"))
    assert located == [("app/models/user.py", 12), ("migrations/env.py", 11)]  # full_name: ...
    [env] = [f for f in result.findings("drift") if f["path"] == "migrations/env.py"]
    assert env["message"].startswith(
        "target_metadata lacks 3 table(s) the migrations create and the project has models "
        "for (item_tags, items, tags)"
    )
    assert "import app.models.item" in env["hint"]
    assert "import app.models.tag" in env["hint"]
    [user] = [f for f in result.findings("drift") if f["path"] == "app/models/user.py"]
    assert "full_name" in user["message"]
