"""The runner's incremental snapshots (:class:`migguard.schema.Tracker`) against full ones.

A tracker must return exactly what :func:`migguard.schema.snapshot` returns, after any DDL, in
or out of a transaction, after rollbacks, renames that change how other objects read, and DDL
from other sessions; and it must actually be incremental, or the runner is slow again. Real
PostgreSQL, real DDL; the full snapshot is the reference.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from migguard import schema
from migguard.schema.tracking import Tracker


@pytest.fixture
def engine(pg_server) -> Iterator[Engine]:
    engine = sa.create_engine(pg_server.create_database(), poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def quiet_engine(pg_server, engine: Engine) -> Iterator[Engine]:
    """``engine`` on a server where no other session takes a transaction id meanwhile.

    Transaction ids are per server: one taken anywhere between two snapshots (autovacuum's
    ANALYZE of the tables earlier tests left in their databases, when the machine is slow
    enough for it to land there) is, correctly, a sign of DDL the log did not see, and the
    tracker reads everything again. Tests that count which statements ran need the delta path
    every time, so autovacuum is off on the session's server while they run, and its workers
    have finished before they start."""
    admin = sa.create_engine(pg_server.admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql("ALTER SYSTEM SET autovacuum = off")
        conn.exec_driver_sql("SELECT pg_reload_conf()")
    try:
        for _ in range(600):
            with admin.connect() as conn:
                off = conn.exec_driver_sql("SHOW autovacuum").scalar() == "off"
                workers = conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
                ).scalar()
            if off and not workers:
                break
            time.sleep(0.1)
        else:
            pytest.fail("autovacuum workers still running a minute after autovacuum = off")
        yield engine
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql("ALTER SYSTEM RESET autovacuum")
            conn.exec_driver_sql("SELECT pg_reload_conf()")
        admin.dispose()


def _executions(conn: Connection) -> dict[str, int]:
    """How often the tracker's prepared statements ran on this session (PostgreSQL 14+)."""
    rows = conn.exec_driver_sql(
        "SELECT name, generic_plans + custom_plans FROM pg_prepared_statements"
    ).all()
    return {name: count for name, count in rows}


def _same(tracker: Tracker, conn: Connection, step: str) -> None:
    tracked = tracker.snapshot(conn)
    full = schema.snapshot(conn)
    assert tracked == full, f"after {step!r}: {schema.diff(full, tracked)}"


DDL = [
    "CREATE TABLE a (id serial PRIMARY KEY, name varchar(20) NOT NULL DEFAULT 'x',"
    " CONSTRAINT ck_a CHECK (id > 0))",
    "CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a (id), note text)",
    "CREATE INDEX ix_b_note ON b (note)",
    "CREATE TYPE mood AS ENUM ('sad', 'happy')",
    "ALTER TABLE b ADD COLUMN mood mood",
    "ALTER TYPE mood ADD VALUE 'ok'",
    "ALTER TABLE a RENAME COLUMN id TO a_key",  # changes b's foreign key text
    "ALTER TABLE a RENAME TO aa",
    "CREATE VIEW v AS SELECT a_key, name FROM aa",
    "ALTER TABLE aa RENAME COLUMN name TO title",  # changes v's definition
    "DROP INDEX ix_b_note",
    "ALTER TABLE b DROP CONSTRAINT b_a_id_fkey",
    "CREATE SEQUENCE s",
    "ALTER TABLE b ADD COLUMN n int DEFAULT nextval('s')",
    "ALTER SEQUENCE s RENAME TO s2",  # changes b.n's default text
    "DROP SEQUENCE s2 CASCADE",  # drops b.n's default with it
    "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$",
    "CREATE TRIGGER tr BEFORE INSERT ON b FOR EACH ROW EXECUTE FUNCTION f()",
    "ALTER FUNCTION f() RENAME TO g",  # changes the trigger's text
    "DROP TRIGGER tr ON b",
    "CREATE DOMAIN posint AS int CHECK (VALUE > 0)",
    "ALTER TABLE b ADD COLUMN p posint",
    "ALTER DOMAIN posint RENAME TO posint2",
    "ALTER TYPE mood RENAME TO feeling",
    "CREATE SCHEMA audit",
    "CREATE TABLE audit.log (id int)",
    "ALTER TABLE audit.log SET SCHEMA public",
    "DROP TABLE log",
    "ALTER TABLE b ALTER COLUMN note SET NOT NULL",
    "ALTER TABLE b ALTER COLUMN note TYPE varchar(50)",
    "CREATE MATERIALIZED VIEW mv AS SELECT id FROM b",
    "CREATE UNIQUE INDEX ix_mv ON mv (id)",
    "DROP VIEW v",
    "ALTER TABLE b DROP COLUMN mood",
    "DROP TYPE feeling",
    "SET search_path = audit, public",
    "CREATE TABLE audit.b (x int)",
    "RESET search_path",
    "GRANT SELECT ON b TO PUBLIC",
    "CREATE TABLE parts (id int, k int) PARTITION BY RANGE (k)",
    "CREATE TABLE parts_1 PARTITION OF parts FOR VALUES FROM (0) TO (10)",
    "CREATE INDEX ix_parts_id ON parts (id)",
    "COMMENT ON TABLE b IS 'hello'",
    "ALTER TABLE aa ADD COLUMN g int GENERATED ALWAYS AS (a_key * 2) STORED",
    "SET TimeZone = 'Asia/Tokyo'",
    "ALTER TABLE aa ADD COLUMN t timestamptz DEFAULT '2020-01-01 00:00+00'",
    "RESET TimeZone",  # changes how t's default reads
    "CREATE TEMP TABLE tmp (id int)",
    "SET session_replication_role = replica",
    "ALTER TABLE aa ADD COLUMN r int",
    "RESET session_replication_role",
    "CREATE TYPE pair AS (x int, y int)",
    "ALTER TYPE pair RENAME ATTRIBUTE y TO z",
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
]


def test_tracked_snapshot_equals_full_snapshot_after_every_kind_of_ddl(engine: Engine) -> None:
    tracker = Tracker()
    with engine.connect() as conn:
        for number, step in enumerate(DDL):
            _same(tracker, conn, step)
            conn.exec_driver_sql(step)
            if number % 3 == 0:  # some steps commit, some stay in an open transaction
                conn.commit()
        _same(tracker, conn, DDL[-1])


def test_plain_history_is_read_in_full_only_once(quiet_engine: Engine) -> None:
    tracker = Tracker()
    with quiet_engine.connect() as conn:
        for n in range(12):
            conn.exec_driver_sql(f"CREATE TABLE t{n} (id int PRIMARY KEY, v text)")
            conn.exec_driver_sql(f"CREATE INDEX ix_t{n}_v ON t{n} (v)")
            conn.commit()
            _same(tracker, conn, f"t{n}")
            conn.exec_driver_sql(f"ALTER TABLE t{n} ADD COLUMN w int")
            _same(tracker, conn, f"t{n}.w")  # inside the transaction
            conn.commit()
        executions = _executions(conn)
    assert executions == {
        "migguard_snapshot_full": 1,
        "migguard_snapshot_delta": 23,
        "migguard_snapshot_closure": 0,  # nothing renamed: no one else's definition changed
    }


def test_rollback_past_a_snapshot_is_seen(engine: Engine) -> None:
    tracker = Tracker()
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE kept (id int)")
        conn.commit()
        before = tracker.snapshot(conn)
        conn.exec_driver_sql("CREATE TABLE gone (id int)")
        conn.exec_driver_sql("ALTER TABLE kept ADD COLUMN x int")
        _same(tracker, conn, "inside the transaction")
        conn.exec_driver_sql("ALTER TABLE kept ADD COLUMN y int")
        conn.rollback()
        after = tracker.snapshot(conn)
        assert after == schema.snapshot(conn)
        assert after == before


def test_ddl_committed_by_another_session_is_seen_even_inside_a_transaction(
    engine: Engine,
) -> None:
    tracker = Tracker()
    with engine.connect() as conn, engine.connect() as other:
        conn.exec_driver_sql("CREATE TABLE mine (id int)")
        conn.commit()
        tracker.snapshot(conn)
        conn.exec_driver_sql("ALTER TABLE mine ADD COLUMN x int")  # our transaction is open
        other.exec_driver_sql("CREATE TABLE theirs (id int)")
        other.commit()
        tracked = tracker.snapshot(conn)
        assert tracked == schema.snapshot(conn)
        assert [t.name for t in tracked.tables] == ["mine", "theirs"]


def test_random_histories_match_full_snapshots(engine: Engine) -> None:
    """Seeded random table/column/index/enum/rename steps, up and down, as a history does."""
    rng = random.Random(7)
    tracker = Tracker()
    tables: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for step in range(120):
            choice = rng.random()
            if not tables or choice < 0.2:
                name = f"t{step}"
                ref = rng.choice(sorted(tables)) if tables and rng.random() < 0.5 else None
                fk = f", ref_id int REFERENCES {ref} (id)" if ref else ""
                ddl = f"CREATE TABLE {name} (id int PRIMARY KEY, c0 text{fk})"
                tables[name] = ["c0"] + (["ref_id"] if ref else [])
            else:
                name = rng.choice(sorted(tables))
                columns = tables[name]
                if choice < 0.4:
                    column = f"c{step}"
                    ddl = f"ALTER TABLE {name} ADD COLUMN {column} varchar({rng.randint(5, 50)})"
                    columns.append(column)
                elif choice < 0.5 and columns:
                    ddl = f"CREATE INDEX ix_{name}_{step} ON {name} ({rng.choice(columns)})"
                elif choice < 0.6 and columns:
                    old = rng.choice(columns)
                    new = f"r{step}"
                    ddl = f"ALTER TABLE {name} RENAME COLUMN {old} TO {new}"
                    columns[columns.index(old)] = new
                elif choice < 0.7:
                    ddl = f"ALTER TABLE {name} RENAME TO {name}_{step}"
                    tables[f"{name}_{step}"] = tables.pop(name)
                elif choice < 0.8:
                    ddl = (
                        f"CREATE TYPE e{step} AS ENUM ('a', 'b'); "
                        f"ALTER TABLE {name} ADD COLUMN e{step} e{step}"
                    )
                    columns.append(f"e{step}")
                elif choice < 0.9 and len(columns) > 1:
                    column = columns.pop()
                    ddl = f"ALTER TABLE {name} DROP COLUMN {column} CASCADE"
                else:
                    ddl = f"DROP TABLE {name} CASCADE"
                    del tables[name]
            conn.exec_driver_sql(ddl)
            if rng.random() < 0.1:
                conn.rollback()
                tables = _tables_now(conn)
            elif rng.random() < 0.6:
                conn.commit()
            _same(tracker, conn, ddl)


def _tables_now(conn: Connection) -> dict[str, list[str]]:
    snap = schema.snapshot(conn)
    return {t.name: [c.name for c in t.columns if c.name != "id"] for t in snap.tables}


def test_other_drivers_get_full_snapshots(pg_server) -> None:
    pytest.importorskip("psycopg")
    url = pg_server.create_database()
    engine = sa.create_engine(url.set(drivername="postgresql+psycopg"), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("CREATE TABLE t (id int PRIMARY KEY)")
            assert Tracker().snapshot(conn) == schema.snapshot(conn)
            triggers = conn.exec_driver_sql("SELECT count(*) FROM pg_event_trigger").scalar()
            assert triggers == 0
    finally:
        engine.dispose()


def test_without_superuser_every_snapshot_is_full_and_correct(pg_server) -> None:
    url = pg_server.create_database()
    admin = sa.create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    role = f"plain_{url.database}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN PASSWORD 'x'")
        conn.exec_driver_sql(f"GRANT ALL ON SCHEMA public TO {role}")
    engine = sa.create_engine(url.set(username=role, password="x"), poolclass=NullPool)
    tracker = Tracker()
    try:
        with engine.connect() as conn:
            for n in range(3):
                conn.exec_driver_sql(f"CREATE TABLE t{n} (id int)")
                _same(tracker, conn, f"t{n}")
            executions = _executions(conn)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")
        admin.dispose()
    # no event trigger without superuser: every delta defers to a full read
    assert executions == {
        "migguard_snapshot_full": 3,
        "migguard_snapshot_delta": 2,
        "migguard_snapshot_closure": 0,
    }


def test_tracking_leaves_nothing_behind(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id int)")
        Tracker().snapshot(conn)
        conn.commit()
        assert conn.exec_driver_sql("SELECT count(*) FROM pg_event_trigger").scalar() == 2
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM pg_event_trigger").scalar() == 0
        conn.exec_driver_sql("CREATE TABLE after (id int)")  # no trigger left to fire
        assert [t.name for t in schema.snapshot(conn).tables] == ["after", "t"]


def test_snapshot_between_steps_leaves_the_connection_out_of_any_transaction(
    engine: Engine,
) -> None:
    import psycopg2.extensions

    tracker = Tracker()
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id int)")
        conn.commit()
        for _ in range(2):
            assert [t.name for t in tracker.snapshot(conn).tables] == ["t"]
            assert not conn.in_transaction()
            status = conn.connection.dbapi_connection.info.transaction_status
            assert status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
        conn.exec_driver_sql("ALTER TABLE t ADD COLUMN x int")  # SQLAlchemy's own transaction
        _same(tracker, conn, "add x")
        assert conn.in_transaction()
        conn.rollback()
        _same(tracker, conn, "rolled back")


def test_renaming_a_referenced_table_rereads_what_names_it(quiet_engine: Engine) -> None:
    tracker = Tracker()
    with quiet_engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE authors (id serial PRIMARY KEY)")
        conn.exec_driver_sql("CREATE TABLE books (id int PRIMARY KEY, author_id int)")
        conn.exec_driver_sql(
            "ALTER TABLE books ADD CONSTRAINT fk_books_author "
            "FOREIGN KEY (author_id) REFERENCES authors (id)"
        )
        conn.commit()
        tracker.snapshot(conn)
        conn.exec_driver_sql("ALTER TABLE authors RENAME TO writers")  # logs writers only
        snap = tracker.snapshot(conn)
        assert snap == schema.snapshot(conn)
        fk = next(c for c in snap.constraints if c.name == "fk_books_author")
        assert "REFERENCES writers(id)" in fk.definition
        assert [s.owned_by for s in snap.sequences] == [(None, "writers", "id")]
        assert _executions(conn)["migguard_snapshot_closure"] == 1


def test_round_trip_rolled_back_to_a_mark_costs_no_full_read(engine: Engine) -> None:
    """The runner's round trip: snapshot (mark), then in a transaction DDL and snapshots,
    rolled back; rewound, the tracker goes on with deltas, and matches full snapshots."""
    from migguard.schema import tracking

    tracker = Tracker()
    with engine.connect() as conn:
        for n in range(5):
            conn.exec_driver_sql(f"CREATE TABLE t{n} (id int PRIMARY KEY, v text)")
            conn.commit()
            up = tracker.snapshot(conn)
            mark = tracker.mark(conn)
            assert mark is not None
            conn.exec_driver_sql(f"DROP TABLE t{n}")
            _same(tracker, conn, f"drop t{n} in the round trip")
            conn.exec_driver_sql(f"CREATE TABLE t{n} (id int PRIMARY KEY)")
            _same(tracker, conn, f"t{n} again, differently")
            conn.rollback()
            assert not tracking.committed_since(conn, mark.next_xid)
            tracker.rewind(conn, mark)
            assert tracker.snapshot(conn) == up == schema.snapshot(conn)
        executions = _executions(conn)
    assert executions["migguard_snapshot_full"] == 1


def test_work_committed_inside_a_rolled_back_round_trip_is_detected(engine: Engine) -> None:
    from migguard.schema import tracking

    tracker = Tracker()
    with engine.connect() as conn, engine.connect() as other:
        conn.exec_driver_sql("CREATE TABLE t (id int)")
        conn.commit()
        tracker.snapshot(conn)
        mark = tracker.mark(conn)
        assert mark is not None
        conn.exec_driver_sql("ALTER TABLE t ADD COLUMN x int")
        conn.rollback()
        assert not tracking.committed_since(conn, mark.next_xid)
        conn.rollback()
        other.exec_driver_sql("CREATE TABLE theirs (id int)")  # a second connection writes
        other.commit()
        assert tracking.committed_since(conn, mark.next_xid)
        conn.rollback()
        since = tracking.next_transaction_id(conn)
        conn.exec_driver_sql("ALTER TABLE t ADD COLUMN y int")
        conn.commit()  # the revision commits part of its work itself
        assert tracking.committed_since(conn, since)
