"""The floor: the DDL of a full up/down/up, through Alembic's own API and nothing else.

On a fresh database (created here, as migguard creates its own): ``alembic upgrade head``,
``alembic downgrade base``, ``alembic upgrade head`` on one connection shared with env.py
through ``config.attributes["connection"]`` (the Alembic cookbook's pattern), each command
committed. No snapshot, no comparison: whatever migguard spends above this is the price of its
checks. Run as a subprocess by ``benchmarks/run.py`` so that it pays the same interpreter
start-up as the CLI. Prints ``ddl_seconds=...``: the three commands alone, without the
database's creation.

    python benchmarks/alembic_floor.py PROJECT_DIR ADMIN_URL
"""

from __future__ import annotations

import os
import secrets
import sys
import time


def main(project: str, admin_url: str) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, make_url
    from sqlalchemy.pool import NullPool

    os.chdir(project)
    sys.path.insert(0, project)
    name = f"floor_{secrets.token_hex(6)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine = create_engine(make_url(admin_url).set(database=name), poolclass=NullPool)
    try:
        config = Config(os.path.join(project, "alembic.ini"))
        started = time.perf_counter()
        with engine.connect() as connection:
            config.attributes["connection"] = connection
            for run, target in (
                (command.upgrade, "head"),
                (command.downgrade, "base"),
                (command.upgrade, "head"),
            ):
                run(config, target)
                connection.commit()
        print(f"ddl_seconds={time.perf_counter() - started:.3f}")
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        admin.dispose()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} PROJECT_DIR ADMIN_URL")
    main(sys.argv[1], sys.argv[2])
