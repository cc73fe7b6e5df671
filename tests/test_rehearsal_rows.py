"""Row generation on a real PostgreSQL: every kind of column and constraint a project has."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from migguard.rehearsal import catalog, rows

SCHEMA = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
CREATE SCHEMA shop;
CREATE TABLE authors (
  id serial PRIMARY KEY,
  name varchar(200) NOT NULL,
  email varchar(320) NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE shop.books (
  id integer PRIMARY KEY,
  author_id int NOT NULL REFERENCES authors (id),
  title varchar(300) NOT NULL,
  pages int NOT NULL CHECK (pages > 0),
  price numeric(8, 2) CHECK (price >= 100),
  kind text NOT NULL CHECK (kind IN ('hardcover', 'paperback')),
  mood mood,
  tags text[] NOT NULL,
  moods mood[],
  data jsonb NOT NULL,
  ref uuid NOT NULL UNIQUE,
  published date,
  code char(1) NOT NULL,
  copies positive NOT NULL,
  flag boolean NOT NULL,
  UNIQUE (author_id, title)
);
CREATE TABLE pairs (a int, b int, c int GENERATED ALWAYS AS (a + b) STORED, PRIMARY KEY (a, b));
CREATE TABLE pair_refs (x int NOT NULL, y int NOT NULL, FOREIGN KEY (x, y) REFERENCES pairs);
CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamp NOT NULL,
                     span interval, addr inet, payload bytea);
CREATE TABLE seeded (id int PRIMARY KEY);
INSERT INTO seeded VALUES (42);
CREATE TABLE tree (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES tree (id));
"""


@pytest.fixture
def connection(pg_server) -> Iterator[sa.Connection]:
    engine = sa.create_engine(pg_server.create_database(), poolclass=NullPool)
    with engine.connect() as conn:
        conn.exec_driver_sql(SCHEMA)
        conn.commit()
        yield conn
        conn.rollback()
    engine.dispose()


def _fill(conn: sa.Connection, *, batched: bool = True) -> tuple[rows.Fill, dict[str, list]]:
    dbapi = conn.connection.dbapi_connection
    names = catalog.table_names(dbapi.cursor())
    tables = catalog.read_tables(dbapi.cursor(), oids=[n.oid for n in names])

    def restart() -> None:  # the transaction holds only the fill: start it over
        dbapi.rollback()

    filled = rows.fill(dbapi.cursor, tables, restart, batched=batched)
    labels = {t.oid: t.label for t in tables}
    contents = {
        t.label: conn.exec_driver_sql(f"SELECT * FROM {t.qualified}").mappings().all()
        for t in tables
    }
    return rows.Fill(empty={labels[oid]: why for oid, why in filled.empty.items()}), contents


@pytest.mark.parametrize("batched", [True, False])
def test_every_table_gets_rows_that_satisfy_its_constraints(connection, batched) -> None:
    filled, contents = _fill(connection, batched=batched)
    assert set(filled.empty) == {"tree"}  # NOT NULL self reference: nothing to point at
    assert "satisfied" in filled.empty["tree"]
    assert len(contents["authors"]) == rows.ROWS
    books = contents["shop.books"]
    assert len(books) == rows.ROWS
    assert {b["kind"] for b in books} <= {"hardcover", "paperback"}
    assert all(b["pages"] > 0 and b["copies"] > 0 for b in books)
    assert all(b["price"] is None or b["price"] >= 100 for b in books)
    assert {b["author_id"] for b in books} == {a["id"] for a in contents["authors"]}
    assert len({b["ref"] for b in books}) == rows.ROWS
    assert isinstance(books[0]["data"], dict) and isinstance(books[0]["tags"], list)
    assert len(contents["pair_refs"]) == rows.ROWS
    assert all(e["id"] is not None for e in contents["events"])


def test_nullable_columns_hold_nulls_too(connection) -> None:
    _, contents = _fill(connection)
    books = contents["shop.books"]
    for column in ("price", "mood", "moods", "published"):
        assert any(b[column] is None for b in books), column
        assert any(b[column] is not None for b in books), column
    assert any(e["span"] is None for e in contents["events"])


def test_a_table_that_holds_rows_is_left_as_it_is(connection) -> None:
    _, contents = _fill(connection)
    assert contents["seeded"] == [{"id": 42}]


def test_a_table_postgresql_refuses_is_left_empty_with_the_reason(connection) -> None:
    connection.exec_driver_sql(
        "CREATE TABLE parted (id int NOT NULL, note text) PARTITION BY RANGE (id);"
        "CREATE TABLE parted_far PARTITION OF parted FOR VALUES FROM (1000) TO (2000)"
    )
    connection.commit()
    filled, contents = _fill(connection)
    assert "PostgreSQL refused the generated rows" in filled.empty["parted"]
    assert "no partition" in filled.empty["parted"]
    assert len(contents["shop.books"]) == rows.ROWS  # the others are filled all the same


def test_prepared_catalog_reads_what_the_plain_one_reads(connection) -> None:
    """The observer's look-ups, prepared once per session and executed with a generic plan
    after a few runs, read what the plain statements read, also after the schema changed."""
    from migguard.rehearsal import prepared

    dbapi = connection.connection.dbapi_connection
    cursor = dbapi.cursor()
    done: set[str] = set()

    def run_prepared(sql: str, statement: prepared.Statement, arguments) -> object:
        cursor.execute(statement.call(arguments, prepare=statement.name not in done))
        done.add(statement.name)
        return cursor.fetchone()

    plain = prepared.plain(dbapi.cursor())
    for number in range(8):
        connection.exec_driver_sql(f"ALTER TABLE authors ADD COLUMN c{number} int NOT NULL")
        for names in (["authors"], ["books", "tree"], ["nothing"]):
            assert catalog.tables(run_prepared, names=names) == catalog.tables(plain, names=names)
            assert catalog.tables_and_names(run_prepared, names) == catalog.tables_and_names(
                plain, names
            )
        assert catalog.tables(run_prepared, names=["pair_refs"], excluded=("pairs",)) == (
            catalog.tables(plain, names=["pair_refs"], excluded=("pairs",))
        )
    assert any(c.name == "c7" for c in catalog.tables(run_prepared, names=["authors"])[0].columns)
    cursor.execute(
        "SELECT name, generic_plans FROM pg_prepared_statements "
        "WHERE name LIKE 'migguard_rehearsal_tables%'"
    )
    assert {name: plans > 0 for name, plans in cursor.fetchall()} == {
        catalog.TABLES.name: True,
        catalog.TABLES_AND_NAMES.name: True,
    }
