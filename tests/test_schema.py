"""Schema snapshots and diffs against a real throwaway PostgreSQL (and SQLite), no mocks.

One cluster for the session; every test gets its own fresh database. Round-trip tests take a
snapshot, run DDL on the same connection and take another, the way the runner brackets a
revision's upgrade and downgrade.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from migguard import schema
from migguard.database import ThrowawayDB, provide_for_tests
from migguard.schema import Difference, Snapshot


@pytest.fixture(scope="session")
def throwaway() -> Iterator[ThrowawayDB]:
    """One private PostgreSQL for the whole session, started by migguard's own provider."""
    with provide_for_tests() as db:
        yield db


def _fresh_engine(throwaway: ThrowawayDB) -> Engine:
    return sa.create_engine(throwaway.server.create_database(), poolclass=NullPool)


@pytest.fixture
def engine(throwaway: ThrowawayDB) -> Iterator[Engine]:
    """A fresh empty database for one test."""
    engine = _fresh_engine(throwaway)
    yield engine
    engine.dispose()


@pytest.fixture
def other_engine(throwaway: ThrowawayDB) -> Iterator[Engine]:
    """A second fresh database, for "migrations vs models" comparisons."""
    engine = _fresh_engine(throwaway)
    yield engine
    engine.dispose()


def _build(engine: Engine, ddl: str) -> Snapshot:
    with engine.begin() as conn:
        if ddl.strip():
            conn.exec_driver_sql(ddl)
        return schema.snapshot(conn)


def _round_trip(engine: Engine, setup: str, change: str) -> list[Difference]:
    """Snapshot after ``setup``, run ``change``, snapshot again: before vs after."""
    with engine.begin() as conn:
        if setup.strip():
            conn.exec_driver_sql(setup)
        before = schema.snapshot(conn)
        conn.exec_driver_sql(change)
        return schema.diff(before, schema.snapshot(conn))


def _roundtrip_messages(differences: list[Difference]) -> list[str]:
    return [d.describe_roundtrip() for d in differences]


def _models_messages(differences: list[Difference]) -> list[str]:
    return [d.describe_models() for d in differences]


BOOKS = """
CREATE TABLE books (
    id integer PRIMARY KEY,
    title varchar(100) NOT NULL,
    pages integer,
    isbn varchar(13)
);
"""


# -- equality ------------------------------------------------------------------------------


def test_identical_schemas_have_no_difference(engine: Engine, other_engine: Engine) -> None:
    ddl = (
        BOOKS
        + """
        CREATE TYPE status AS ENUM ('draft', 'published');
        ALTER TABLE books ADD COLUMN status status DEFAULT 'draft';
        CREATE INDEX ix_books_title ON books (lower(title)) WHERE pages > 0;
        CREATE VIEW long_books AS SELECT id FROM books WHERE pages > 500;
    """
    )
    before, after = _build(engine, ddl), _build(other_engine, ddl)
    assert before == after
    assert hash(before) == hash(after)
    assert schema.diff(before, after) == []


def test_column_order_is_ignored(engine: Engine, other_engine: Engine) -> None:
    before = _build(engine, "CREATE TABLE t (a integer, b text, c boolean)")
    after = _build(other_engine, "CREATE TABLE t (c boolean, a integer, b text)")
    assert before == after
    assert schema.diff(before, after) == []


def test_snapshot_order_does_not_depend_on_creation_order(
    engine: Engine, other_engine: Engine
) -> None:
    before = _build(
        engine,
        "CREATE TABLE b (x int); CREATE TABLE a (x int); CREATE SCHEMA s;CREATE TABLE s.a (x int)",
    )
    after = _build(
        other_engine,
        "CREATE SCHEMA s; CREATE TABLE s.a (x int);CREATE TABLE a (x int); CREATE TABLE b (x int)",
    )
    assert before == after
    assert [t.name for t in before.tables] == ["a", "b", "a"]
    assert [t.schema for t in before.tables] == [None, None, "s"]


# -- downgrade-mismatch phrasing -----------------------------------------------------------


def test_index_left_behind_is_reported(engine: Engine) -> None:
    found = _round_trip(engine, BOOKS, "CREATE INDEX ix_books_title ON books (title)")
    assert _roundtrip_messages(found) == ["index ix_books_title on books left behind"]
    assert found[0].kind == "index"
    assert found[0].table == "books"
    assert found[0].status == "added"
    assert "USING btree (title)" in found[0].detail


def test_enum_type_left_behind_is_reported(engine: Engine) -> None:
    found = _round_trip(engine, "", "CREATE TYPE shipment_status AS ENUM ('pending', 'shipped')")
    assert _roundtrip_messages(found) == ["enum type shipment_status left behind"]


def test_column_left_behind_is_reported(engine: Engine) -> None:
    found = _round_trip(engine, BOOKS, "ALTER TABLE books ADD COLUMN subtitle text")
    assert _roundtrip_messages(found) == ["column books.subtitle left behind"]
    assert found[0].name == "books.subtitle"
    assert found[0].table == "books"


def test_lost_column_is_reported(engine: Engine) -> None:
    found = _round_trip(engine, BOOKS, "ALTER TABLE books DROP COLUMN isbn")
    assert _roundtrip_messages(found) == ["column books.isbn lost"]


def test_lost_table_is_reported_once_without_its_columns_and_indexes(engine: Engine) -> None:
    setup = BOOKS + "CREATE INDEX ix_books_pages ON books (pages);"
    found = _round_trip(engine, setup, "DROP TABLE books")
    assert _roundtrip_messages(found) == ["table books lost"]


def test_column_type_change_is_described(engine: Engine) -> None:
    found = _round_trip(engine, BOOKS, "ALTER TABLE books ALTER COLUMN title TYPE varchar(200)")
    assert _roundtrip_messages(found) == [
        "column books.title changed: type character varying(100) -> character varying(200)"
    ]


def test_nullability_and_default_changes_are_described(engine: Engine) -> None:
    found = _round_trip(
        engine,
        BOOKS,
        "ALTER TABLE books ALTER COLUMN pages SET NOT NULL, ALTER COLUMN pages SET DEFAULT 1",
    )
    assert _roundtrip_messages(found) == [
        "column books.pages changed: nullability NULL -> NOT NULL; server default none -> 1"
    ]


def test_enum_label_added_is_seen(engine: Engine) -> None:
    found = _round_trip(
        engine,
        "CREATE TYPE status AS ENUM ('draft', 'published')",
        "ALTER TYPE status ADD VALUE 'archived'",
    )
    assert _roundtrip_messages(found) == [
        "enum type status changed: labels ('draft', 'published') -> "
        "('draft', 'published', 'archived')"
    ]


def test_enum_label_order_matters(engine: Engine, other_engine: Engine) -> None:
    before = _build(engine, "CREATE TYPE status AS ENUM ('a', 'b')")
    after = _build(other_engine, "CREATE TYPE status AS ENUM ('b', 'a')")
    assert [d.kind for d in schema.diff(before, after)] == ["enum"]


def test_partial_index_predicate_difference_is_seen(engine: Engine, other_engine: Engine) -> None:
    before = _build(engine, BOOKS + "CREATE INDEX ix_books_isbn ON books (isbn) WHERE pages > 0")
    after = _build(
        other_engine, BOOKS + "CREATE INDEX ix_books_isbn ON books (isbn) WHERE pages > 10"
    )
    (found,) = schema.diff(before, after)
    assert (found.kind, found.name, found.status) == ("index", "ix_books_isbn", "changed")
    assert "WHERE (pages > 0)" in found.detail
    assert "WHERE (pages > 10)" in found.detail


def test_index_expression_and_method_differences_are_seen(
    engine: Engine, other_engine: Engine
) -> None:
    before = _build(engine, BOOKS + "CREATE INDEX ix_books_title ON books (title)")
    after = _build(
        other_engine, BOOKS + "CREATE INDEX ix_books_title ON books USING hash (lower(title))"
    )
    (found,) = schema.diff(before, after)
    assert found.status == "changed"
    assert "USING hash (lower((title)::text))" in found.detail


def test_check_constraint_definition_change_is_seen(engine: Engine) -> None:
    found = _round_trip(
        engine,
        BOOKS + "ALTER TABLE books ADD CONSTRAINT ck_books_pages CHECK (pages > 0);",
        "ALTER TABLE books DROP CONSTRAINT ck_books_pages;"
        "ALTER TABLE books ADD CONSTRAINT ck_books_pages CHECK (pages > 1)",
    )
    assert _roundtrip_messages(found) == [
        "check constraint ck_books_pages on books changed: "
        "definition CHECK ((pages > 0)) -> CHECK ((pages > 1))"
    ]


def test_foreign_key_on_delete_change_is_seen(engine: Engine) -> None:
    setup = (
        BOOKS
        + """
        CREATE TABLE reviews (id int PRIMARY KEY, book_id int,
            CONSTRAINT fk_reviews_book FOREIGN KEY (book_id) REFERENCES books (id));
    """
    )
    found = _round_trip(
        engine,
        setup,
        "ALTER TABLE reviews DROP CONSTRAINT fk_reviews_book;"
        "ALTER TABLE reviews ADD CONSTRAINT fk_reviews_book FOREIGN KEY (book_id)"
        " REFERENCES books (id) ON DELETE CASCADE",
    )
    (difference,) = found
    assert difference.describe_roundtrip().startswith(
        "foreign key fk_reviews_book on reviews changed: definition"
    )
    assert difference.detail.endswith("REFERENCES books(id) ON DELETE CASCADE")


def test_exclusion_constraint_is_listed(engine: Engine) -> None:
    found = _round_trip(
        engine,
        "CREATE TABLE rooms (id int, during tsrange)",
        "ALTER TABLE rooms ADD CONSTRAINT ex_rooms EXCLUDE USING gist (during WITH &&)",
    )
    assert _roundtrip_messages(found) == ["exclusion constraint ex_rooms on rooms left behind"]


def test_constraint_indexes_appear_only_as_constraints(engine: Engine) -> None:
    snap = _build(engine, BOOKS + "ALTER TABLE books ADD CONSTRAINT uq_books_isbn UNIQUE (isbn)")
    assert [(c.name, c.type) for c in snap.constraints] == [
        ("books_pkey", "primary key"),
        ("uq_books_isbn", "unique"),
    ]
    assert snap.indexes == ()


def test_serial_sequence_is_not_reported_when_its_column_is(engine: Engine) -> None:
    found = _round_trip(engine, BOOKS, "ALTER TABLE books ADD COLUMN n serial")
    assert _roundtrip_messages(found) == ["column books.n left behind"]


def test_identity_sequence_is_not_reported_when_its_column_is(engine: Engine) -> None:
    found = _round_trip(
        engine, BOOKS, "ALTER TABLE books ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY"
    )
    assert _roundtrip_messages(found) == ["column books.n left behind"]


def test_standalone_sequence_left_behind_is_reported(engine: Engine) -> None:
    found = _round_trip(engine, "", "CREATE SEQUENCE order_numbers INCREMENT BY 10")
    assert _roundtrip_messages(found) == ["sequence order_numbers left behind"]
    assert found[0].detail == "AS bigint INCREMENT BY 10"


def test_identity_and_generated_columns_are_captured(engine: Engine) -> None:
    snap = _build(
        engine,
        "CREATE TABLE t (id bigint GENERATED BY DEFAULT AS IDENTITY,"
        " doubled bigint GENERATED ALWAYS AS (id * 2) STORED)",
    )
    columns = {c.name: c for c in snap.tables[0].columns}
    assert columns["id"].identity == "BY DEFAULT"
    assert columns["doubled"].generated == "(id * 2) STORED"
    assert columns["doubled"].default is None
    owned = [s.owned_by for s in snap.sequences]
    assert owned == [(None, "t", "id")]


def test_view_definition_change_is_seen(engine: Engine) -> None:
    setup = BOOKS + "CREATE VIEW long_books AS SELECT id FROM books WHERE pages > 500;"
    found = _round_trip(
        engine,
        setup,
        "CREATE OR REPLACE VIEW long_books AS SELECT id FROM books WHERE pages > 800",
    )
    (difference,) = found
    assert difference.kind == "view"
    assert "(pages > 800)" in difference.detail


def test_materialized_view_left_behind_is_reported(engine: Engine) -> None:
    found = _round_trip(
        engine, BOOKS, "CREATE MATERIALIZED VIEW book_count AS SELECT count(*) FROM books"
    )
    assert _roundtrip_messages(found) == ["materialized view book_count left behind"]


def test_index_on_materialized_view_is_compared(engine: Engine) -> None:
    setup = BOOKS + "CREATE MATERIALIZED VIEW long_books AS SELECT id FROM books;"
    found = _round_trip(engine, setup, "CREATE INDEX ix_long_books_id ON long_books (id)")
    assert _roundtrip_messages(found) == ["index ix_long_books_id on long_books left behind"]


def test_function_body_change_is_seen(engine: Engine) -> None:
    found = _round_trip(
        engine,
        "CREATE FUNCTION answer(x int) RETURNS int LANGUAGE sql AS 'SELECT 42'",
        "CREATE OR REPLACE FUNCTION answer(x int) RETURNS int LANGUAGE sql AS 'SELECT 43'",
    )
    (difference,) = found
    assert (difference.kind, difference.name, difference.status) == (
        "function",
        "answer(x integer)",
        "changed",
    )


def test_trigger_left_behind_is_reported(engine: Engine) -> None:
    setup = (
        BOOKS
        + """
        CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
    """
    )
    found = _round_trip(
        engine,
        setup,
        "CREATE TRIGGER trg_books_touch BEFORE UPDATE ON books"
        " FOR EACH ROW EXECUTE FUNCTION touch()",
    )
    assert _roundtrip_messages(found) == ["trigger trg_books_touch on books left behind"]


def test_foreign_key_internal_triggers_are_not_listed(engine: Engine) -> None:
    snap = _build(
        engine, BOOKS + "CREATE TABLE reviews (id int, book_id int REFERENCES books (id))"
    )
    assert snap.triggers == ()


def test_domain_and_composite_types_are_listed(engine: Engine) -> None:
    found = _round_trip(
        engine,
        "",
        "CREATE DOMAIN positive AS integer NOT NULL CHECK (VALUE > 0);"
        "CREATE TYPE point2 AS (x double precision, y double precision)",
    )
    assert _roundtrip_messages(found) == [
        "composite type point2 left behind",
        "domain positive left behind",
    ]
    assert found[1].detail == "integer NOT NULL CHECK ((VALUE > 0))"


def test_extension_functions_are_not_listed_individually(engine: Engine) -> None:
    found = _round_trip(engine, "", "CREATE EXTENSION pg_trgm")
    assert _roundtrip_messages(found) == ["extension pg_trgm left behind"]


def test_non_public_schema_names_are_qualified(engine: Engine) -> None:
    found = _round_trip(
        engine,
        "CREATE SCHEMA inventory; CREATE TABLE inventory.items (id int, sku text);",
        "CREATE INDEX ix_items_sku ON inventory.items (sku);"
        "ALTER TABLE inventory.items ADD COLUMN qty int;"
        "CREATE TYPE inventory.state AS ENUM ('in', 'out')",
    )
    assert _roundtrip_messages(found) == [
        "column inventory.items.qty left behind",
        "index inventory.ix_items_sku on inventory.items left behind",
        "enum type inventory.state left behind",
    ]


def test_alembic_version_table_is_excluded_by_default(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);"
            "CREATE TABLE my_versions (version_num varchar(32) PRIMARY KEY)"
        )
        assert [t.name for t in schema.snapshot(conn).tables] == ["my_versions"]
        custom = schema.snapshot(conn, exclude_tables=frozenset({"my_versions"}))
    assert [t.name for t in custom.tables] == ["alembic_version"]
    assert [c.table for c in custom.constraints] == ["alembic_version"]


def test_schemas_argument_limits_the_snapshot(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE SCHEMA audit; CREATE TABLE audit.log (id int); CREATE TABLE books (id int)"
        )
        only_audit = schema.snapshot(conn, schemas=("audit",))
        only_public = schema.snapshot(conn, schemas=("public",))
    assert [t.key for t in only_audit.tables] == [("audit", "log")]
    assert [t.key for t in only_public.tables] == [(None, "books")]


# -- schema-mismatch phrasing --------------------------------------------------------------


def test_check_constraint_only_in_models_is_described(engine: Engine, other_engine: Engine) -> None:
    migrations = _build(engine, BOOKS)
    models = _build(
        other_engine,
        BOOKS + "ALTER TABLE books ADD CONSTRAINT ck_books_pages CHECK (pages > 0)",
    )
    assert _models_messages(schema.diff(migrations, models)) == [
        "check constraint ck_books_pages on books is in the models but not created by the "
        "migrations: CHECK ((pages > 0))"
    ]
    assert _models_messages(schema.diff(models, migrations)) == [
        "check constraint ck_books_pages on books is created by the migrations but not in the "
        "models: CHECK ((pages > 0))"
    ]


def test_server_default_difference_is_described_for_models(
    engine: Engine, other_engine: Engine
) -> None:
    migrations = _build(engine, "CREATE TABLE books (created_at timestamptz DEFAULT now())")
    models = _build(
        other_engine, "CREATE TABLE books (created_at timestamptz DEFAULT CURRENT_TIMESTAMP)"
    )
    assert _models_messages(schema.diff(migrations, models)) == [
        "column books.created_at server default: migrations now(), models CURRENT_TIMESTAMP"
    ]


# -- transactions, drivers, SQLite ---------------------------------------------------------


def test_snapshot_sees_uncommitted_ddl_in_open_transaction(engine: Engine) -> None:
    with engine.connect() as conn:
        transaction = conn.begin()
        conn.exec_driver_sql(BOOKS)
        inside = schema.snapshot(conn)
        assert conn.in_transaction()
        assert transaction.is_active
        transaction.rollback()
        outside = schema.snapshot(conn)
    assert [t.name for t in inside.tables] == ["books"]
    assert outside.tables == ()


def test_snapshot_is_one_round_trip(engine: Engine) -> None:
    statements: list[str] = []

    def record(conn: Connection, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    with engine.begin() as conn:
        conn.exec_driver_sql(BOOKS)
        sa.event.listen(engine, "before_cursor_execute", record)
        try:
            schema.snapshot(conn)
        finally:
            sa.event.remove(engine, "before_cursor_execute", record)
    assert len(statements) == 1


@pytest.mark.skipif(importlib.util.find_spec("psycopg") is None, reason="psycopg 3 not installed")
def test_snapshot_is_the_same_through_psycopg3(throwaway: ThrowawayDB) -> None:
    url = throwaway.server.create_database()
    via_psycopg2 = sa.create_engine(url, poolclass=NullPool)
    via_psycopg3 = sa.create_engine(url.set(drivername="postgresql+psycopg"), poolclass=NullPool)
    try:
        expected = _build(via_psycopg2, BOOKS + "CREATE TYPE s AS ENUM ('a')")
        with via_psycopg3.connect() as conn:
            assert schema.snapshot(conn) == expected
    finally:
        via_psycopg2.dispose()
        via_psycopg3.dispose()


@pytest.mark.skipif(importlib.util.find_spec("asyncpg") is None, reason="asyncpg not installed")
def test_snapshot_is_the_same_through_asyncpg(throwaway: ThrowawayDB) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    url = throwaway.server.create_database()
    sync_engine = sa.create_engine(url, poolclass=NullPool)
    expected = _build(sync_engine, BOOKS + "CREATE TYPE s AS ENUM ('a')")
    sync_engine.dispose()

    async def take() -> Snapshot:
        async_engine = create_async_engine(
            url.set(drivername="postgresql+asyncpg"), poolclass=NullPool
        )
        try:
            async with async_engine.connect() as conn:
                return await conn.run_sync(lambda sync_conn: schema.snapshot(sync_conn))
        finally:
            await async_engine.dispose()

    assert asyncio.run(take()) == expected


def test_sqlite_snapshot_uses_inspector(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'app.db'}", poolclass=NullPool)
    try:
        with engine.begin() as conn:
            for statement in (
                "CREATE TABLE authors (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL UNIQUE)",
                "CREATE TABLE books (id INTEGER PRIMARY KEY, title VARCHAR(100) DEFAULT 'x',"
                " author_id INTEGER REFERENCES authors (id) ON DELETE CASCADE,"
                " pages INTEGER, CONSTRAINT ck_books_pages CHECK (pages > 0))",
                "CREATE INDEX ix_books_title ON books (title) WHERE pages > 0",
                "CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)",
            ):
                conn.exec_driver_sql(statement)
            before = schema.snapshot(conn)
            conn.exec_driver_sql("CREATE INDEX ix_books_pages ON books (pages)")
            conn.exec_driver_sql("ALTER TABLE books ADD COLUMN isbn VARCHAR(13)")
            after = schema.snapshot(conn)
    finally:
        engine.dispose()

    assert [t.name for t in before.tables] == ["authors", "books"]
    books = before.tables[1]
    assert {c.name: (c.type, c.nullable, c.default) for c in books.columns}["title"] == (
        "VARCHAR(100)",
        True,
        "'x'",
    )
    assert [i.name for i in before.indexes] == ["ix_books_title"]  # no sqlite_autoindex_*
    assert "WHERE pages > 0" in before.indexes[0].definition
    definitions = {(c.table, c.type): c.definition for c in before.constraints}
    assert definitions[("books", "foreign key")] == (
        "FOREIGN KEY (author_id) REFERENCES authors(id) ON DELETE CASCADE"
    )
    assert definitions[("books", "check")] == "CHECK (pages > 0)"
    assert definitions[("authors", "unique")] == "UNIQUE (name)"
    assert before.enums == before.sequences == ()
    assert _roundtrip_messages(schema.diff(before, after)) == [
        "column books.isbn left behind",
        "index ix_books_pages on books left behind",
    ]


# -- restrict ------------------------------------------------------------------------------


def test_restrict_keeps_only_named_tables(engine: Engine) -> None:
    snap = _build(
        engine,
        BOOKS
        + """
        CREATE TYPE book_status AS ENUM ('draft', 'published');
        CREATE TYPE mood AS ENUM ('happy');
        ALTER TABLE books ADD COLUMN status book_status, ADD COLUMN tags book_status[];
        CREATE SEQUENCE book_numbers;
        ALTER TABLE books ADD COLUMN number bigint DEFAULT nextval('book_numbers'),
            ADD COLUMN serial_no serial;
        CREATE SEQUENCE unrelated;
        CREATE INDEX ix_books_title ON books (title);
        CREATE TABLE audit (id int PRIMARY KEY, what mood);
        CREATE INDEX ix_audit_what ON audit (what);
        CREATE VIEW long_books AS SELECT id FROM books WHERE pages > 500;
        CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';
        """,
    )
    kept = schema.restrict(snap, {(None, "books")})
    assert [t.name for t in kept.tables] == ["books"]
    assert [c.name for c in kept.constraints] == ["books_pkey"]
    assert [i.name for i in kept.indexes] == ["ix_books_title"]
    assert [e.name for e in kept.enums] == ["book_status"]
    assert [s.name for s in kept.sequences] == ["book_numbers", "books_serial_no_seq"]
    assert kept.views == kept.functions == kept.triggers == ()
    assert schema.restrict(snap, {("public", "books")}) == kept


# -- speed ---------------------------------------------------------------------------------


def test_snapshot_of_fifty_tables_is_fast(engine: Engine) -> None:
    """Prints the time; a slow CI machine should not fail the suite over it."""
    ddl = ["CREATE TYPE status AS ENUM ('a', 'b', 'c');"]
    for n in range(50):
        ddl.append(
            f"""
            CREATE TABLE t{n} (
                id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                name varchar(100) NOT NULL DEFAULT '',
                status status,
                created_at timestamptz NOT NULL DEFAULT now(),
                parent_id bigint {f"REFERENCES t{n - 1} (id) ON DELETE CASCADE" if n else ""},
                amount numeric(10, 2) CHECK (amount >= 0),
                CONSTRAINT uq_t{n}_name UNIQUE (name)
            );
            CREATE INDEX ix_t{n}_created ON t{n} (created_at) WHERE status = 'a';
            CREATE INDEX ix_t{n}_lower ON t{n} (lower(name));
            """
        )
    with engine.begin() as conn:
        conn.exec_driver_sql("\n".join(ddl))
        first = schema.snapshot(conn)
        runs = 30
        start = time.perf_counter()
        for _ in range(runs):
            again = schema.snapshot(conn)
        per_snapshot = (time.perf_counter() - start) / runs
        start = time.perf_counter()
        for _ in range(runs):
            schema.diff(first, again)
        per_diff = (time.perf_counter() - start) / runs
    assert again == first
    assert len(first.tables) == 50
    print(
        f"\n50-table snapshot: {per_snapshot * 1000:.1f} ms, "
        f"diff of equal snapshots: {per_diff * 1e6:.1f} us"
    )


def test_an_index_under_another_name_is_one_renamed_difference(engine: Engine) -> None:
    found = _round_trip(
        engine,
        BOOKS + "CREATE INDEX books_title_idx ON books (title);",
        "ALTER INDEX books_title_idx RENAME TO ix_books_title",
    )
    assert _models_messages(found) == [
        "index on books is named books_title_idx by the migrations, ix_books_title by the "
        "models: CREATE INDEX books_title_idx ON public.books USING btree (title)"
    ]
    assert _roundtrip_messages(found) == [
        "index books_title_idx on books comes back named ix_books_title: "
        "CREATE INDEX books_title_idx ON public.books USING btree (title)"
    ]


def test_two_constraints_of_one_shape_renamed_stay_two_pairs_of_differences(
    engine: Engine,
) -> None:
    found = _round_trip(
        engine,
        BOOKS + "ALTER TABLE books ADD CONSTRAINT a CHECK (pages > 0), "
        "ADD CONSTRAINT b CHECK (pages > 0);",
        "ALTER TABLE books RENAME CONSTRAINT a TO c; ALTER TABLE books RENAME CONSTRAINT b TO d",
    )
    assert sorted(d.status for d in found) == ["added", "added", "removed", "removed"]
