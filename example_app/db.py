"""Engine and session plumbing.

The engine is created once per process: it owns the connection pool, and building one per
request would defeat pooling. ``create_async_engine`` is lazy, so importing this module
never touches the network (handy for Alembic, tooling and tests that override ``get_db``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from example_app.settings import get_settings

engine = create_async_engine(get_settings().database_url, pool_pre_ping=True)

# expire_on_commit=False: after commit we still serialise the objects in the response, and
# an expired attribute would need an implicit (and, under asyncio, forbidden) lazy load.
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


async def get_db() -> AsyncIterator[AsyncSession]:
    """One session per request, closed (and its connection returned) even on errors."""
    async with SessionLocal() as session:
        yield session
