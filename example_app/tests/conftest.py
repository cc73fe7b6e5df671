"""Fixtures: a throwaway PostgreSQL, migrated by Alembic exactly as production would be.

Never ``create_all``: the tests must exercise the schema the migrations build, or a
migration that forgets a column would pass here and fail in production.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Protocol

import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from example_app.db import get_db
from example_app.main import app

ALEMBIC_INI = Path(__file__).resolve().parents[1] / "alembic.ini"


class TestDatabase(Protocol):
    """What ``migguard.database.provide_for_tests()`` yields."""

    def url(self, driver: str) -> str:
        """The database's URL with the given SQLAlchemy drivername."""
        ...


@pytest.fixture(scope="session")
def database() -> Iterator[TestDatabase]:
    """A fresh, empty database on a throwaway server, torn down after the session."""
    from migguard.database import provide_for_tests

    with provide_for_tests() as db:
        yield db


@pytest.fixture(scope="session")
def migrated_url(database: TestDatabase) -> str:
    """The asyncpg URL of the test database, after ``alembic upgrade head``."""
    url = database.url("postgresql+asyncpg")
    config = Config(str(ALEMBIC_INI))
    # ConfigParser treats "%" as interpolation, and URL-encoded passwords contain it.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "head")
    return url


@pytest.fixture(scope="session")
def sync_engine(database: TestDatabase, migrated_url: str) -> Iterator[Engine]:
    """A plain psycopg2 engine for test bookkeeping, kept off the app's event loop."""
    engine = create_engine(database.url("postgresql+psycopg2"))
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def app_client(migrated_url: str) -> Iterator[TestClient]:
    """The app with ``get_db`` pointed at the test database, started once per session.

    NullPool: TestClient runs the app on an event loop of its own and asyncpg connections
    must not cross loops; it also leaves no idle connection to block the database teardown.
    """
    engine = create_async_engine(migrated_url, poolclass=NullPool)
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def override_get_db() -> AsyncIterator[AsyncSession]:
        async with sessions() as session:
            yield session

    app.dependency_overrides[get_db] = override_get_db
    try:
        with TestClient(app) as client:
            yield client
    finally:
        app.dependency_overrides.pop(get_db, None)


@pytest.fixture
def client(app_client: TestClient, sync_engine: Engine) -> TestClient:
    """The app, on empty tables: tests can run alone and in any order."""
    with sync_engine.begin() as conn:
        conn.execute(text("TRUNCATE books, authors RESTART IDENTITY CASCADE"))
    return app_client
