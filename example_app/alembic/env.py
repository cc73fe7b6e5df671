"""Alembic environment: the async template, plus two ways for a caller to pick the database.

Where the database comes from, first match wins:

1. ``config.attributes["connection"]``: a (sync) Connection handed over by a caller that
   already holds one, e.g. inside ``AsyncConnection.run_sync`` (Alembic cookbook,
   "Sharing a Connection across one or more programmatic migration commands").
2. ``sqlalchemy.url`` set by the caller, e.g. ``Config.set_main_option`` in a test fixture.
3. ``DATABASE_URL`` via the app's settings, the same variable the app itself reads.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection

from example_app.models import Base
from example_app.settings import get_settings, to_async_url

config = context.config

# disable_existing_loggers=False: when migrations run inside another process (tests, CI
# tools) that process's loggers keep working.
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def database_url() -> str:
    return to_async_url(config.get_main_option("sqlalchemy.url") or get_settings().database_url)


def run_migrations_offline() -> None:
    """Emit SQL to stdout (``alembic upgrade head --sql``) for review or a DBA to apply."""
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    # compare_server_default is off by default; without it, a default changed in the
    # models but not in a migration would go unnoticed by autogenerate.
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        # A migration waiting behind a long query for its lock makes every query on that
        # table queue behind it: give up after a few seconds instead (the deploy is retried).
        context.execute("SET lock_timeout = '5s'")
        context.run_migrations()


async def run_async_migrations() -> None:
    # Imported here so offline mode and a shared sync connection work without the asyncio
    # extra (greenlet) installed, e.g. in a CI tool that only speaks psycopg2.
    from sqlalchemy.ext.asyncio import create_async_engine

    # NullPool: this engine lives for one command; there is nothing to pool.
    engine = create_async_engine(database_url(), poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        asyncio.run(run_async_migrations())
    else:
        do_run_migrations(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
