"""The settings migguard gives the run's database, which it created: every session on it has
them, the project's included, and no other database is touched."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from migguard import engine
from migguard.config import Settings


def _setting(url: sa.URL, name: str) -> str:
    session = sa.create_engine(url, poolclass=NullPool)
    try:
        with session.connect() as conn:
            return str(conn.exec_driver_sql(f"SHOW {name}").scalar_one())
    finally:
        session.dispose()


def test_the_run_database_has_the_timeouts_and_no_jit(pg_server) -> None:
    url = pg_server.create_database()
    engine._set_database_settings(pg_server, url, Settings(lock_timeout=7))
    assert _setting(url, "jit") == "off"
    assert _setting(url, "lock_timeout") == "7s"


def test_a_database_the_run_did_not_create_is_left_as_it_is(pg_server) -> None:
    admin = sa.create_engine(pg_server.admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    url = pg_server.admin_url.set(database="not_migguards")
    with admin.connect() as conn:
        conn.exec_driver_sql('CREATE DATABASE "not_migguards"')
    try:
        with pytest.raises(RuntimeError, match="not a database this run created"):
            engine._set_database_settings(pg_server, url, Settings())
        assert _setting(url, "jit") == _setting(pg_server.admin_url, "jit")
        assert _setting(url, "lock_timeout") == "0"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql('DROP DATABASE "not_migguards"')
        admin.dispose()
