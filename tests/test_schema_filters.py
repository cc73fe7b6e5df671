"""What env.py's include_object / include_name refuse is recorded with Alembic's own
arguments and cut out of a snapshot (migguard/schema/filters.py)."""

from __future__ import annotations

import sqlalchemy as sa

from migguard.schema.filters import Excluded, recording, without_excluded
from migguard.schema.model import Column, Constraint, Index, Snapshot, Table


def _documents() -> sa.Table:
    metadata = sa.MetaData()
    sa.Table("authors", metadata, sa.Column("id", sa.Integer, primary_key=True))
    return sa.Table(
        "documents",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("author_id", sa.Integer, sa.ForeignKey("authors.id")),
        sa.Column("search_vector", sa.Text),
    )


def test_recording_wraps_the_filters_and_puts_them_back() -> None:
    def include_object(obj, name, type_, reflected, compare_to):
        return name != "search_vector"

    opts = {"include_object": include_object, "compare_type": True}
    documents = _documents()
    with recording(opts) as excluded:
        wrapped = opts["include_object"]
        assert wrapped is not include_object and "include_name" not in opts
        assert wrapped(documents.c.search_vector, "search_vector", "column", False, None) is False
        assert wrapped(documents.c.id, "id", "column", False, None) is True
    assert opts == {"include_object": include_object, "compare_type": True}
    assert excluded.hides((None, "documents"), "search_vector")
    assert not excluded.hides((None, "documents"), "id")


def test_name_filter_refusals_key_tables_and_their_objects() -> None:
    opts = {"include_name": lambda name, type_, parents: False}
    with recording(opts) as excluded:
        include_name = opts["include_name"]
        include_name("legacy", "schema", {})
        include_name("spatial_ref_sys", "table", {"schema_name": None})
        include_name("legacy_code", "column", {"table_name": "documents", "schema_name": "public"})
    assert excluded.hides_table(("legacy", "anything"))
    assert excluded.hides_table(("public", "spatial_ref_sys"))
    assert excluded.hides((None, "documents"), "legacy_code")


def test_an_unnamed_foreign_key_is_matched_by_its_columns() -> None:
    excluded = Excluded()
    [fk] = _documents().foreign_key_constraints
    excluded.record_object(fk, None, "foreign_key_constraint")
    named_by_postgres = Constraint(
        None,
        "documents",
        "documents_author_id_fkey",
        "foreign key",
        "FOREIGN KEY (author_id) REFERENCES authors(id)",
    )
    assert excluded.hides_constraint(named_by_postgres)


def test_without_excluded_drops_the_refused_objects_only() -> None:
    excluded = Excluded(tables={(None, "apscheduler_jobs")})
    excluded.names[(None, "documents")] = {"search_vector", "ix_documents_search_vector"}
    snap = Snapshot(
        tables=(
            Table(None, "apscheduler_jobs", (Column("id", "text", False),)),
            Table(
                None,
                "documents",
                (Column("id", "integer", False), Column("search_vector", "tsvector", True)),
            ),
        ),
        constraints=(
            Constraint(None, "apscheduler_jobs", "apscheduler_jobs_pkey", "primary key", ""),
            Constraint(None, "documents", "documents_pkey", "primary key", "PRIMARY KEY (id)"),
        ),
        indexes=(
            Index(None, "documents", "ix_documents_search_vector", False, "CREATE INDEX ..."),
            Index(None, "documents", "ix_documents_title", False, "CREATE INDEX ..."),
        ),
    )
    cut = without_excluded(snap, excluded)
    assert [t.name for t in cut.tables] == ["documents"]
    assert [c.name for c in cut.tables[0].columns] == ["id"]
    assert [c.name for c in cut.constraints] == ["documents_pkey"]
    assert [i.name for i in cut.indexes] == ["ix_documents_title"]
    assert without_excluded(snap, Excluded()) is snap


def test_the_models_indexes_alembic_did_not_ask_about_are_asked_after_the_comparison() -> None:
    """An index autogenerate finds unchanged is never passed to include_object by Alembic;
    the project's refusal of it still counts, asked with Alembic's arguments for a model's
    object."""
    calls = []

    def include_object(obj, name, type_, reflected, compare_to):
        calls.append((name, type_, reflected, compare_to))
        return name != "ix_documents_search_vector"

    documents = _documents()
    sa.Index("ix_documents_search_vector", documents.c.search_vector)
    opts = {"include_object": include_object}
    with recording(opts, documents.metadata) as excluded:
        pass  # Alembic's comparison asked about nothing
    assert excluded.hides((None, "documents"), "ix_documents_search_vector")
    assert ("ix_documents_search_vector", "index", False, None) in calls
    assert opts == {"include_object": include_object}
