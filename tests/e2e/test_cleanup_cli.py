"""Nothing outlives a run: no postgres process, temp directory or migguard_* database,
whether the run passes, fails, is interrupted with Ctrl-C or SIGTERM, or is killed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from migguard.database.ownership import parse_owner
from tests.conftest import FIXTURES, migguard_databases, postgres_processes, run_cli

WORKDIR_PREFIX = "migguard-pg-"


def _workdirs() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*")}


@pytest.fixture
def no_new_leftovers(pg_server, pg_admin_url: str):
    """Snapshot processes, temp dirs and databases before a test; compare after it."""
    before = (set(postgres_processes()), _workdirs(), set(migguard_databases(pg_admin_url)))
    yield
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        after = (set(postgres_processes()), _workdirs(), set(migguard_databases(pg_admin_url)))
        if all(a <= b for a, b in zip(after, before, strict=True)):
            return
        time.sleep(0.2)
    assert after[0] <= before[0], f"postgres processes left: {after[0] - before[0]}"
    assert after[1] <= before[1], f"temp dirs left: {after[1] - before[1]}"
    assert after[2] <= before[2], f"databases left: {after[2] - before[2]}"


@pytest.mark.parametrize("fixture", ["clean_db", "upgrade_fails", "downgrade_mismatch"])
def test_runs_that_pass_or_fail_leave_nothing_behind(no_new_leftovers, fixture: str) -> None:
    result = run_cli("check", "--db", "local", str(FIXTURES / fixture))
    assert result.code in (0, 1), result.stderr


@pytest.mark.parametrize("fixture", ["clean_db", "upgrade_fails"])
def test_named_server_keeps_no_migguard_database(
    no_new_leftovers, pg_admin_url: str, fixture: str
) -> None:
    result = run_cli(
        "check", "--db", "url", "--database-url", pg_admin_url, str(FIXTURES / fixture)
    )
    assert result.code in (0, 1), result.stderr


def _start_slow_run(
    *args: str, project: Path = FIXTURES / "slow_revision"
) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIGGUARD_", "PG"))}
    env.pop("DATABASE_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "migguard", "check", *args, str(project)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_for_sleeping_statement(admin_url: str | None, timeout: float = 60) -> None:
    """Until the revision's pg_sleep is running (on a named server) or a cluster is up."""
    import sqlalchemy as sa

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if admin_url is None:
            if any("migguard-pg-" in p for p in postgres_processes()) and _workdirs():
                time.sleep(2.0)
                return
        else:
            engine = sa.create_engine(admin_url, poolclass=sa.pool.NullPool)
            with engine.connect() as conn:
                busy = conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(120)%'"
                        " AND pid <> pg_backend_pid()"
                    )
                ).scalar()
            engine.dispose()
            if busy:
                return
        time.sleep(0.1)
    raise AssertionError("the slow revision never started")


@pytest.mark.parametrize(
    ("sig", "code", "word"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
)
def test_interrupted_run_on_a_named_server_drops_its_database(
    no_new_leftovers, pg_admin_url: str, sig: int, code: int, word: str
) -> None:
    proc = _start_slow_run("--db", "url", "--database-url", pg_admin_url)
    _wait_for_sleeping_statement(pg_admin_url)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert word in stderr and "Traceback" not in stderr


def test_ctrl_c_during_a_long_statement_stops_the_private_cluster(
    pg_server, no_new_leftovers
) -> None:
    before = set(postgres_processes())
    proc = _start_slow_run("--db", "local")
    _wait_for_sleeping_statement(None)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert time.monotonic() - started < 30  # the 120 s statement was cancelled, not awaited
    assert set(postgres_processes()) <= before


def test_killed_run_leaves_a_cluster_the_next_run_removes(pg_server) -> None:
    before_dirs = _workdirs()
    before = set(postgres_processes())
    proc = _start_slow_run("--db", "local")
    _wait_for_sleeping_statement(None)
    proc.kill()
    proc.communicate(timeout=30)
    deadline = time.monotonic() + 20
    while set(postgres_processes()) - before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not set(postgres_processes()) - before, "the server outlived a SIGKILLed migguard"
    stale = _workdirs() - before_dirs
    assert stale, "expected the killed run's directory to remain until the next run"
    result = run_cli("check", "--db", "local", str(FIXTURES / "clean_db"))
    assert result.code == 0, result.stderr
    assert not (_workdirs() & stale)


def _sessions_and_marks(admin_url: str, names: set[str]) -> tuple[int, dict[str, str | None]]:
    """How many sessions are on ``names``, and the comment (owner mark) of each that exists."""
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            sessions = conn.execute(
                sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = ANY(:names)"),
                {"names": sorted(names)},
            ).scalar_one()
            rows = conn.execute(
                sa.text(
                    "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database"
                    " WHERE datname = ANY(:names)"
                ),
                {"names": sorted(names)},
            )
            return sessions, dict(rows.all())
    finally:
        engine.dispose()


def test_killed_run_leaves_databases_the_next_run_on_the_server_drops(
    drop_new_migguard_databases, pg_admin_url: str, tmp_path: Path
) -> None:
    project = tmp_path / "slow_revision"
    shutil.copytree(FIXTURES / "slow_revision", project)
    # The killed client's backend keeps sleeping until statement_timeout, as on a real server;
    # short here so the database is free for the next run within the test.
    (project / "pyproject.toml").write_text("[tool.migguard]\nstatement_timeout = 3\n")
    before = set(migguard_databases(pg_admin_url))
    proc = _start_slow_run("--db", "url", "--database-url", pg_admin_url, project=project)
    _wait_for_sleeping_statement(pg_admin_url)
    proc.kill()
    proc.communicate(timeout=30)
    stale = set(migguard_databases(pg_admin_url)) - before
    assert stale, "expected the killed run's databases to remain until the next run"
    deadline = time.monotonic() + 30
    while (state := _sessions_and_marks(pg_admin_url, stale))[0] and time.monotonic() < deadline:
        time.sleep(0.2)
    sessions, marks = state
    assert sessions == 0, "the killed run's sleeping statement outlived its statement_timeout"
    assert set(marks) == stale
    owners = [parse_owner(mark) for mark in marks.values()]
    assert all(owner is not None and owner.pid == proc.pid for owner in owners), marks

    result = run_cli(
        "check", "--db", "url", "--database-url", pg_admin_url, str(FIXTURES / "clean_db")
    )

    assert result.code == 0, result.stderr
    assert not set(migguard_databases(pg_admin_url)) & stale
