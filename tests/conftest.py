"""Shared fixtures: the real CLI in a subprocess, and one throwaway PostgreSQL per session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

collect_ignore = ["fixtures"]

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).parent.parent


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict:
        return json.loads(self.stdout)

    def findings(self, rule: str | None = None) -> list[dict]:
        found = self.json["findings"]
        return [f for f in found if rule is None or f["rule"] == rule]


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 240
) -> CliResult:
    """``python -m migguard ARGS`` as a user would run it, with a clean environment."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("MIGGUARD_", "PG"))}
    full_env.pop("DATABASE_URL", None)
    full_env["NO_COLOR"] = "1"
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "migguard", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or REPO,
        timeout=timeout,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    """One private PostgreSQL for the whole session (the project's own local provider)."""
    from migguard import database

    kind = "local" if database.availability("local") is None else "embedded"
    with database.provide(kind) as server:
        yield server


@pytest.fixture(scope="session")
def pg_admin_url(pg_server) -> str:
    return pg_server.admin_url.render_as_string(hide_password=False)


def postgres_processes() -> list[str]:
    """Postmasters started by migguard (their data dir lives under the migguard prefix)."""
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "migguard-pg-" in line and "postgres" in line]


def migguard_databases(admin_url: str) -> list[str]:
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT datname FROM pg_database WHERE datname LIKE 'migguard\\_%'")
            )
            return [r[0] for r in rows]
    finally:
        engine.dispose()


def drop_databases(admin_url: str, names: set[str]) -> None:
    """Drop ``names``, ending their sessions first: test cleanup, whatever the outcome."""
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            for name in sorted(names):
                conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    finally:
        engine.dispose()


@pytest.fixture
def drop_new_migguard_databases(pg_admin_url: str) -> Iterator[None]:
    """No ``migguard_*`` database a test made (by hand, or left by a run it killed) outlives
    the test on the session server, whether the test passes or not."""
    before = set(migguard_databases(pg_admin_url))
    yield
    drop_databases(pg_admin_url, set(migguard_databases(pg_admin_url)) - before)
