"""Runtime settings, read from the environment so the same code runs locally and in CI."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy.engine import make_url

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres:postgres@localhost:5432/example_app"

# Drivers people (and PaaS providers) commonly hand us that cannot back an async engine.
_SYNC_DRIVERS = {"postgres", "postgresql", "postgresql+psycopg2"}


def to_async_url(url: str) -> str:
    """Point a PostgreSQL URL at asyncpg.

    ``DATABASE_URL`` is usually written for sync tools (``postgresql://...``); rewriting it
    here means one variable serves psql, Alembic and the app alike.
    """
    parsed = make_url(url)
    if parsed.drivername in _SYNC_DRIVERS:
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


@dataclass(frozen=True)
class Settings:
    database_url: str


@lru_cache
def get_settings() -> Settings:
    """Cached so the environment is read once, at the moment the app first needs it."""
    return Settings(database_url=to_async_url(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)))
