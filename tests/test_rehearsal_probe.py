"""What the probe reads around one statement, on a real PostgreSQL, on a table with rows.

These are the signals the rehearsal rules stand on; each is PostgreSQL's own behaviour on the
server the tests run against (the facts that differ between versions are asserted only where
every supported version agrees)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from migguard.rehearsal import probe


@pytest.fixture
def connection(pg_server) -> Iterator[sa.Connection]:
    engine = sa.create_engine(pg_server.create_database(), poolclass=NullPool)
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id int PRIMARY KEY, a int, s text)")
        conn.exec_driver_sql("INSERT INTO t SELECT g, g, g::text FROM generate_series(1, 50) g")
        conn.commit()
        yield conn
        conn.rollback()
    engine.dispose()


def _change(conn: sa.Connection, statement: str) -> probe.Change:
    """The probe's difference around ``statement``, inside one transaction."""
    dbapi = conn.connection.dbapi_connection
    oid = conn.exec_driver_sql("SELECT 't'::regclass::oid").scalar_one()
    before = probe.read(dbapi.cursor(), [oid])
    conn.exec_driver_sql(statement)
    after = probe.read(dbapi.cursor(), [oid])
    (change,) = probe.changes(before, after)
    return change


def test_set_not_null_scans_without_rewriting(connection) -> None:
    change = _change(connection, "ALTER TABLE t ALTER COLUMN a SET NOT NULL")
    assert change.scans >= 1 and change.rows_read >= 50
    assert not change.rewritten
    assert change.not_null_columns == ("a",)
    assert change.strongest == "AccessExclusiveLock"
    assert probe.blocks(change.strongest) == "blocks reads and writes"


def test_constant_default_neither_scans_nor_rewrites(connection) -> None:
    change = _change(connection, "ALTER TABLE t ADD COLUMN b int DEFAULT 5")
    assert change.scans == 0
    assert not change.rewritten
    assert change.not_null_columns == ()


def test_volatile_default_rewrites(connection) -> None:
    change = _change(connection, "ALTER TABLE t ADD COLUMN c timestamptz DEFAULT clock_timestamp()")
    assert change.rewritten


def test_type_change_to_bigint_rewrites_and_rebuilt_indexes_are_not_new(connection) -> None:
    change = _change(connection, "ALTER TABLE t ALTER COLUMN id TYPE bigint")
    assert change.rewritten
    assert change.new_indexes == ()  # t_pkey is rebuilt under its own name
    assert change.checked_constraints == ()


def test_create_index_scans_under_a_share_lock(connection) -> None:
    change = _change(connection, "CREATE INDEX ix_t_a ON t (a)")
    assert change.scans >= 1
    assert "ShareLock" in change.taken
    assert change.new_indexes == ("ix_t_a",)
    assert probe.blocks(change.strongest) == "blocks writes"


def test_check_not_valid_does_not_scan_and_validates_nothing(connection) -> None:
    change = _change(connection, "ALTER TABLE t ADD CONSTRAINT ck_t_a CHECK (a > 0) NOT VALID")
    assert change.scans == 0
    assert change.checked_constraints == ()


def test_check_constraint_scans_and_is_validated(connection) -> None:
    change = _change(connection, "ALTER TABLE t ADD CONSTRAINT ck_t_a CHECK (a > 0)")
    assert change.scans >= 1
    assert [(k.type, k.name) for k in change.checked_constraints] == [("c", "ck_t_a")]


def test_lock_timeout_of_the_project_excludes_the_database_setting(connection) -> None:
    dbapi = connection.connection.dbapi_connection
    name = connection.exec_driver_sql("SELECT current_database()").scalar_one()
    connection.exec_driver_sql(f'ALTER DATABASE "{name}" SET lock_timeout = 10000')
    connection.commit()
    connection.exec_driver_sql("SET lock_timeout = DEFAULT")
    connection.exec_driver_sql("RESET lock_timeout")
    # a new session picks up the database setting: migguard's own, not the project's
    fresh = sa.create_engine(connection.engine.url, poolclass=NullPool)
    with fresh.connect() as other:
        raw = other.connection.dbapi_connection
        assert probe.read(raw.cursor(), []).project_lock_timeout() == "0"
        other.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
        assert probe.read(raw.cursor(), []).project_lock_timeout() == "5s"
    fresh.dispose()
    assert probe.read(dbapi.cursor(), []).lock_timeout in ("0", "10s")


def test_prepared_reading_is_the_plain_one(connection) -> None:
    """The observer's reading, prepared once per session and executed with a generic plan
    after a few runs, reads what the plain statement reads, statement after statement."""
    dbapi = connection.connection.dbapi_connection
    oid = connection.exec_driver_sql("SELECT 't'::regclass::oid").scalar_one()
    cursor = dbapi.cursor()
    for number, statement in enumerate(
        ["SELECT 1", *(f"ALTER TABLE t ADD COLUMN c{n} int" for n in range(7)),
         "ALTER TABLE t ALTER COLUMN a SET NOT NULL", "CREATE INDEX ON t (s)"]
    ):  # fmt: skip
        connection.exec_driver_sql(statement)
        cursor.execute(probe.STATEMENT.call(probe.arguments([oid]), prepare=number == 0))
        prepared = probe.parse(cursor.fetchone()[0])
        plain = dbapi.cursor()
        plain.execute(probe.sql([oid]))
        assert prepared == probe.parse(plain.fetchone()[0])
    cursor.execute(
        f"SELECT generic_plans FROM pg_prepared_statements WHERE name = '{probe.PREPARED}'"
    )
    assert cursor.fetchone()[0] > 0


def test_where_lock_timeout_comes_from_is_read_with_an_access_exclusive_lock(connection) -> None:
    """pg_settings is the dearest part of a reading and only missing-lock-timeout needs it:
    the reading carries it when this backend holds ACCESS EXCLUSIVE on an observed table that
    did not hold it at the reading before, and :func:`probe.read_source` supplies it
    otherwise."""
    dbapi = connection.connection.dbapi_connection
    oid = connection.exec_driver_sql("SELECT 't'::regclass::oid").scalar_one()
    connection.exec_driver_sql("SET LOCAL lock_timeout = '5s'")

    def reading(before: probe.Reading | None = None) -> probe.Reading:
        cursor = dbapi.cursor()
        cursor.execute(probe.sql([oid], probe.exclusive(before)))
        return probe.parse(cursor.fetchone()[0])

    shared = reading()
    assert shared.lock_timeout == "5s" and shared.lock_timeout_source is None
    probe.read_source(dbapi.cursor(), shared)
    assert shared.project_lock_timeout() == "5s"
    connection.exec_driver_sql("ALTER TABLE t ADD COLUMN z int")
    exclusive = reading()
    assert exclusive.lock_timeout_source == "session"
    assert exclusive.project_lock_timeout() == "5s"
    # held since the reading before: no statement took it now, no finding asks
    assert reading(exclusive).lock_timeout_source is None
    assert reading(shared).lock_timeout_source == "session"
