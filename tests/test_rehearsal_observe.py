"""Which existing tables the observer fills and watches, on a real PostgreSQL: the tables a
statement names, right before it runs, and not the ones a new table only references."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from migguard.rehearsal import observe


@pytest.fixture
def connection(pg_server) -> Iterator[sa.Connection]:
    engine = sa.create_engine(pg_server.create_database(), poolclass=NullPool)
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL)")
        conn.exec_driver_sql(
            "CREATE TABLE orders (id int PRIMARY KEY,"
            " customer_id int NOT NULL REFERENCES customers (id))"
        )
        conn.commit()
        yield conn
        conn.rollback()
    engine.dispose()


def _rows(conn: sa.Connection, table: str) -> int:
    """Counted below SQLAlchemy's events, where the observer does not see it."""
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(f"SELECT count(*) FROM {table}")
        return int(cursor.fetchone()[0])
    finally:
        cursor.close()


def _observed(observer: observe.Observer) -> set[str]:
    return {table.name for table in observer.tables.values()}


def test_a_new_table_fills_none_of_the_tables_it_references(connection) -> None:
    """A foreign key to customers locks them (SHARE ROW EXCLUSIVE) and reads nothing: rows
    there could not change what CREATE TABLE does. The next statement naming customers
    fills them."""
    observer = observe.Observer(connection, __file__, "alembic_version")
    with observer:
        connection.exec_driver_sql(
            "CREATE TABLE refunds (id int PRIMARY KEY,"
            ' order_id int NOT NULL REFERENCES orders (id), "customers" int)'
        )
        assert _observed(observer) == set()
        assert _rows(connection, "customers") == 0
        connection.exec_driver_sql("ALTER TABLE customers ADD COLUMN note text")
        assert _observed(observer) == {"customers"}
        assert _rows(connection, "customers") > 0
        assert _rows(connection, "orders") == 0
    observer.flush()
    (change,) = observer.statements[-1].changes
    assert "AccessExclusiveLock" in change.taken


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE orders_copy (LIKE orders) INHERITS (orders)",
        "CREATE TABLE order_ids (id) AS SELECT id FROM orders",
        "CREATE TABLE IF NOT EXISTS orders (id int PRIMARY KEY)",
    ],
)
def test_a_table_made_from_an_existing_one_fills_it(connection, statement: str) -> None:
    """A child (INHERITS) or CREATE TABLE ... AS reads or locks the table it is made from,
    and IF NOT EXISTS may meet the existing table itself: those are filled as any statement
    naming them."""
    observer = observe.Observer(connection, __file__, "alembic_version")
    with observer:
        connection.exec_driver_sql(statement)
        assert "orders" in _observed(observer)
        assert _rows(connection, "orders") > 0


def test_only_the_parents_a_row_cannot_do_without_are_filled(connection) -> None:
    """notes.order_id is nullable: orders stay empty and the generated notes keep the key
    NULL; notes.tag_id points at the row tags already holds; orders.customer_id is NOT
    NULL, so filling orders fills customers too."""
    for statement in (
        "CREATE TABLE tags (id int PRIMARY KEY)",
        "INSERT INTO tags VALUES (7)",
        "CREATE TABLE notes (id int PRIMARY KEY, order_id int REFERENCES orders (id),"
        " tag_id int REFERENCES tags (id), body text NOT NULL)",
    ):
        connection.exec_driver_sql(statement)
    connection.commit()
    observer = observe.Observer(connection, __file__, "alembic_version")
    with observer:
        connection.exec_driver_sql("ALTER TABLE notes ADD COLUMN note text")
        assert _observed(observer) == {"notes"}
        assert _rows(connection, "notes") > 0
        assert _rows(connection, "orders") == 0
        assert _rows(connection, "notes WHERE order_id IS NOT NULL") == 0
        assert _rows(connection, "notes WHERE tag_id = 7") > 0
        assert _rows(connection, "tags") == 1
        connection.exec_driver_sql("ALTER TABLE orders ADD COLUMN note text")
        assert _observed(observer) == {"notes", "orders", "customers"}
        assert _rows(connection, "orders") > 0
        assert _rows(connection, "customers") > 0
    assert observer.empty == {}


def test_a_run_listens_once_and_leaves_no_listener_behind(connection) -> None:
    """The run's session puts its listeners on the engine at the first revision and takes
    them off at the end of the run; between revisions they send nothing anywhere."""
    engine = connection.engine
    session = observe.Session()
    for _ in range(3):
        with observe.Observer(connection, __file__, "alembic_version", session):
            assert len(engine.dispatch.before_cursor_execute) == 1
        assert session.observer is None
    connection.exec_driver_sql("ALTER TABLE customers ADD COLUMN note text")
    assert _rows(connection, "customers") == 0
    session.close()
    assert len(engine.dispatch.before_cursor_execute) == 0
    with observe.Observer(connection, __file__, "alembic_version"):  # a session of its own
        assert len(engine.dispatch.commit) == 1
    assert len(engine.dispatch.commit) == 0


@pytest.mark.parametrize(
    ("statement", "left"),
    [
        ("ALTER TABLE orders ADD COLUMN note text", "orders"),
        ("ALTER TABLE orders DROP COLUMN customer_id", "orders"),
        ("ALTER TABLE orders RENAME TO purchases", "purchases"),  # found again by oid
    ],
)
def test_the_generated_rows_go_in_the_round_trip_of_the_last_reading(
    connection, statement: str, left: str
) -> None:
    from migguard.rehearsal import step

    observer = observe.Observer(connection, __file__, "alembic_version")
    with observer:
        connection.exec_driver_sql(statement)
    assert _rows(connection, left) > 0 and _rows(connection, "customers") > 0
    assert step._read_and_delete(observer) is True
    assert _rows(connection, left) == 0 and _rows(connection, "customers") == 0
    (change,) = [c for c in observer.statements[-1].changes if c.oid in observer.fill_order[1:]]
    assert "AccessExclusiveLock" in change.taken


def test_a_revision_that_only_creates_reads_no_catalog(connection) -> None:
    """A new enum, a new table and its indexes name no existing table: nothing is looked up,
    nothing filled."""
    observer = observe.Observer(connection, __file__, "alembic_version")
    with observer:
        connection.exec_driver_sql("CREATE TYPE state AS ENUM ('orders', 'customers')")
        connection.exec_driver_sql(
            "CREATE TABLE returns (id int PRIMARY KEY, customers int,"
            " order_id int REFERENCES orders (id), state state)"
        )
        connection.exec_driver_sql("CREATE INDEX ix_returns_customers ON returns (customers)")
        connection.exec_driver_sql("CREATE UNIQUE INDEX ON public.returns (order_id)")
    assert observer.existing is None  # the catalog was never read
    assert _observed(observer) == set()


def test_an_index_on_an_existing_table_fills_that_table_only(connection) -> None:
    """The columns of an index are no tables, even when one has a table's name."""
    connection.exec_driver_sql("ALTER TABLE orders ADD COLUMN customers int")
    connection.commit()
    observer = observe.Observer(connection, __file__, "alembic_version")
    with observer:
        connection.exec_driver_sql("CREATE INDEX ix_orders_customers ON ONLY orders (customers)")
        assert _observed(observer) == {"orders", "customers"}  # a NOT NULL key's parent
        connection.exec_driver_sql("ALTER TABLE customers ADD COLUMN note text")
    observer.flush()
    assert [s.changes != [] for s in observer.statements] == [True, True]


def test_a_check_on_a_nullable_key_fills_its_parent(connection) -> None:
    """``CHECK (order_id IS NOT NULL)`` (the first step of the safe way to SET NOT NULL) turns
    a row with a NULL key away: the parent is filled, and the shipments get rows."""
    connection.exec_driver_sql(
        "CREATE TABLE shipments (id int PRIMARY KEY, order_id int REFERENCES orders (id),"
        " CONSTRAINT ck_shipments_order_id CHECK (order_id IS NOT NULL) NOT VALID)"
    )
    connection.commit()
    observer = observe.Observer(connection, __file__, "alembic_version")
    with observer:
        connection.exec_driver_sql("ALTER TABLE shipments ADD COLUMN note text")
        assert _observed(observer) == {"shipments", "orders", "customers"}
        assert _rows(connection, "shipments WHERE order_id IS NOT NULL") > 0
    assert observer.empty == {}


def test_telling_a_table_that_holds_rows_from_an_empty_one_is_no_scan_of_the_statement(
    connection,
) -> None:
    """customers already hold a row, so the fill writes none and looks whether the table is
    empty: that look is migguard's, not the SET NOT NULL's, which a validated check spares
    reading the table (no validation-under-lock for the safe pattern)."""
    other = sa.create_engine(connection.engine.url, poolclass=NullPool)
    with other.begin() as seeding:  # another session: none of its inserts count in this one
        for statement in (
            "ALTER TABLE customers ADD COLUMN nick text",
            "INSERT INTO customers VALUES (1, 'a@example.com', 'a')",
            "ALTER TABLE customers ADD CONSTRAINT ck_customers_nick CHECK (nick IS NOT NULL)",
        ):
            seeding.exec_driver_sql(statement)
    other.dispose()
    observer = observe.Observer(connection, __file__, "alembic_version")
    with observer:
        connection.exec_driver_sql("ALTER TABLE customers ALTER COLUMN nick SET NOT NULL")
    observer.flush()
    (change,) = observer.statements[-1].changes
    assert change.not_null_columns == ("nick",)
    assert change.scans == 0
    assert observer.empty == {}
