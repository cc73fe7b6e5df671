"""schema-mismatch compares what autogenerate compares, and says nothing drift already said.

Found on real projects: env.py keeps objects out of autogenerate (``include_object``,
``include_name``, ``include_schemas``) and the full schema comparison reported them anyway; an
unnamed foreign key the migrations forgot was one ``drift`` and one ``schema-mismatch``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, run_cli

pytestmark = pytest.mark.timeout(300)

FILTERS = FIXTURES / "autogenerate_filters"


def _check(project: Path):
    return run_cli("check", "--format", "json", "--db", "local", str(project))


def test_objects_env_py_keeps_out_of_autogenerate_are_no_schema_mismatch() -> None:
    """A trigger-maintained column and its index (include_object), a hand-written index with an
    operator class that autogenerate finds unchanged (so Alembic never asks about it), a column
    the models dropped (include_name), a view-backed model and a table APScheduler creates
    (include_object on tables), a second schema (include_schemas with include_name): no
    finding at all."""
    result = _check(FILTERS)
    assert result.code == 0, result.stdout + result.stderr
    assert result.findings() == []


def test_a_real_mismatch_on_an_included_table_is_still_found(tmp_path: Path) -> None:
    """The same project with a check constraint the models declare and no revision creates:
    that one mismatch, on the table whose excluded column and index stay unreported."""
    project = tmp_path / "docs"
    shutil.copytree(FILTERS, project)
    models = project / "app" / "models.py"
    text = models.read_text()
    with_check = text.replace(
        '    __tablename__ = "documents"\n',
        '    __tablename__ = "documents"\n'
        '    __table_args__ = (sa.CheckConstraint("length(title) > 0", name="title_not_empty"),)\n',
    )
    assert with_check != text
    models.write_text(with_check)
    result = _check(project)
    assert result.code == 1, result.stdout + result.stderr
    [finding] = result.findings()
    assert (finding["rule"], finding["path"], finding["line"], finding["revision"]) == (
        "schema-mismatch",
        "app/models.py",
        29,  # __tablename__ = "documents"
        "3c4d5e6f7a8b",
    )
    assert finding["message"] == (
        "check constraint ck_documents_title_not_empty on documents is in the models but not "
        "created by the migrations: CHECK ((length((title)::text) > 0))"
    )


def test_an_unnamed_constraint_autogenerate_reports_is_one_drift_finding() -> None:
    """The models' foreign key and unique constraint are unnamed; the migrations forgot both.
    autogenerate writes ``create_foreign_key(None, ...)`` and ``create_unique_constraint(None,
    ...)``; PostgreSQL names them books_author_id_fkey and books_isbn_key in the models'
    database. One difference, one finding: drift's."""
    result = _check(FIXTURES / "drift_unnamed_foreign_key")
    assert result.code == 1, result.stdout + result.stderr
    assert result.findings("schema-mismatch") == []
    [drift] = result.findings("drift")
    assert (drift["path"], drift["line"], drift["revision"]) == (
        "app/models.py",
        19,  # __tablename__ = "books"
        "0002_book_author",
    )
    assert (
        "op.create_foreign_key(None, 'books', 'authors', ['author_id'], ['id'])"
        in (drift["message"])
    )
    assert "op.create_unique_constraint(None, 'books', ['isbn'])" in drift["message"]
    assert result.json["summary"]["errors"] == 1


def test_a_new_table_with_an_index_is_one_drift_finding(tmp_path: Path) -> None:
    """autogenerate writes a model no revision creates as ``create_table`` and then one
    ``create_index`` per indexed column, two operations of one table: one finding, at the
    model (found on georchestra/datafeeder: a model of another application's table)."""
    project = tmp_path / "books"
    shutil.copytree(FIXTURES / "drift_unnamed_foreign_key", project)
    models = project / "app" / "models.py"
    models.write_text(
        models.read_text()
        + "\n\nclass Review(Base):\n"
        + '    __tablename__ = "reviews"\n\n'
        + "    id: Mapped[int] = mapped_column(primary_key=True)\n"
        + "    rating: Mapped[int] = mapped_column(index=True)\n"
    )
    result = _check(project)
    assert result.code == 1, result.stdout + result.stderr
    reviews = [f for f in result.findings("drift") if "table reviews" in f["message"]]
    assert [(f["path"], f["line"]) for f in reviews] == [("app/models.py", 28)]
    assert "op.create_table('reviews'" in reviews[0]["message"]
    assert (
        "op.create_index(op.f('ix_reviews_rating'), 'reviews', ['rating']"
        in (reviews[0]["message"])
    )
    assert len(result.findings("drift")) == 2  # books' forgotten constraints, and reviews


def test_models_create_all_cannot_build_is_a_one_line_note(tmp_path: Path) -> None:
    """A model whose server default is a quoted string where SQL was meant
    (``server_default="gen_random_uuid()"``, found on georchestra/datafeeder) makes
    ``create_all`` fail: schema-mismatch is skipped with the database's error and the table,
    not the whole CREATE TABLE statement."""
    project = tmp_path / "books"
    shutil.copytree(FIXTURES / "drift_unnamed_foreign_key", project)
    models = project / "app" / "models.py"
    models.write_text(
        models.read_text()
        + "\n\nclass Token(Base):\n"
        + '    __tablename__ = "tokens"\n\n'
        + "    id: Mapped[int] = mapped_column(primary_key=True)\n"
        + '    value: Mapped[str] = mapped_column(sa.Uuid(), server_default="gen_random_uuid()")\n'
    )
    result = _check(project)
    [note] = [n for n in result.json["notes"] if n.startswith("metadata.create_all failed")]
    assert note == (
        "metadata.create_all failed, schema-mismatch skipped: invalid input syntax for type "
        'uuid: "gen_random_uuid()" (in CREATE TABLE tokens)'
    )
