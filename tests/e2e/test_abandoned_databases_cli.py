"""The sweep of abandoned ``migguard_*`` databases on a server the user names drops only what
it can prove is migguard's and abandoned: a database of a live run, of a run on another host
or in another container, one in use, one without a mark or of another name shape all stay."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import replace

import pytest
import sqlalchemy as sa

from migguard.database import new_database_name
from migguard.database.ownership import current_owner
from tests.conftest import FIXTURES, drop_databases, migguard_databases, run_cli

UNMARKED = "migguard_0123456789ab"


def _dead_pid() -> int:
    """A pid that was a process on this machine a moment ago and is now gone (reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _autocommit(admin_url: str) -> sa.Engine:
    return sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def _create(admin_url: str, name: str, comment: str | None) -> None:
    engine = _autocommit(admin_url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            if comment is not None:
                conn.execute(sa.text(f'COMMENT ON DATABASE "{name}" IS :c'), {"c": comment})
    finally:
        engine.dispose()


@pytest.fixture
def hand_made(pg_admin_url: str) -> Iterator[dict[str, str]]:
    """Databases made by hand, each with the comment its case needs; dropped afterwards."""
    dead = replace(current_owner(), pid=_dead_pid())
    comments: dict[str, str | None] = {
        "abandoned": dead.render(),
        "live_run": replace(dead, pid=os.getpid()).render(),
        "other_host": replace(dead, host="another-ci-runner").render(),
        "other_container": replace(dead, pidns="1").render(),
        "in_use": dead.render(),
        "unmarked": None,
        "person_written": f"{dead.render()} (keep: I am debugging this)",
    }
    names = {case: new_database_name() for case in comments}
    names["unmarked"] = UNMARKED
    names["other_shape"] = new_database_name() + "_copy"
    comments["other_shape"] = dead.render()
    drop_databases(pg_admin_url, {UNMARKED})  # a leftover of an interrupted earlier session
    try:
        for case, name in names.items():
            _create(pg_admin_url, name, comments[case])
        yield names
    finally:
        drop_databases(pg_admin_url, set(names.values()))


def test_sweep_drops_only_what_it_can_prove_abandoned(
    pg_admin_url: str, hand_made: dict[str, str]
) -> None:
    in_use = sa.create_engine(
        sa.make_url(pg_admin_url).set(database=hand_made["in_use"]), poolclass=sa.pool.NullPool
    )
    try:
        with in_use.connect():
            result = run_cli(
                "check", "--db", "url", "--database-url", pg_admin_url, str(FIXTURES / "clean_db")
            )
    finally:
        in_use.dispose()

    assert result.code == 0, result.stderr
    remaining = set(migguard_databases(pg_admin_url))
    assert hand_made["abandoned"] not in remaining  # the sweep did run
    survivors = {case for case, name in hand_made.items() if name in remaining}
    assert survivors == set(hand_made) - {"abandoned"}


@pytest.fixture
def unprivileged_url(pg_admin_url: str) -> Iterator[str]:
    """A role that may create databases but drop only its own, as on a shared server."""
    role = "migguard_test_ci_user"
    engine = _autocommit(pg_admin_url)
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        conn.execute(sa.text(f'CREATE ROLE "{role}" LOGIN CREATEDB'))
    try:
        url = sa.make_url(pg_admin_url).set(username=role, password=None)
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        engine.dispose()


def test_no_right_to_drop_an_abandoned_database_does_not_fail_the_run(
    pg_admin_url: str, unprivileged_url: str, hand_made: dict[str, str]
) -> None:
    result = run_cli(
        "check", "--db", "url", "--database-url", unprivileged_url, str(FIXTURES / "clean_db")
    )

    assert result.code == 0, result.stderr
    assert hand_made["abandoned"] in migguard_databases(pg_admin_url)  # owned by another role
