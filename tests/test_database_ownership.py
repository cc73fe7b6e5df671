"""The owner mark on a ``migguard_*`` database: written by one run, judged by a later one."""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace

import pytest

from migguard.database.ownership import Owner, current_owner, parse_owner, pid_alive


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_mark_reads_back_as_the_run_that_wrote_it() -> None:
    owner = current_owner()
    assert parse_owner(owner.render()) == owner
    assert owner.render().startswith(f"migguard run: host={owner.host} pid={os.getpid()} ")


def test_a_mark_without_pid_namespace_still_parses() -> None:
    owner = parse_owner("migguard run: host=ci-7 pid=4242 started=1700000000")
    assert owner == Owner(host="ci-7", pid=4242, started=1700000000, pidns=None)


@pytest.mark.parametrize(
    "comment",
    [
        None,
        "",
        "scratch database, do not drop",
        "migguard run: host=ci-7 pid=4242",
        "migguard run: host=ci-7 pid=4242 started=1700000000 (keep me)",
        "note: migguard run: host=ci-7 pid=4242 started=1700000000",
        "migguard run: host=ci-7 pid=-1 started=1700000000",
    ],
)
def test_anything_but_an_exact_mark_is_nobodys(comment: str | None) -> None:
    assert parse_owner(comment) is None


def test_only_a_dead_run_on_this_machine_is_abandoned() -> None:
    me = current_owner()
    dead = replace(me, pid=_dead_pid())
    assert not me.is_abandoned()
    assert dead.is_abandoned()
    assert not replace(dead, host=me.host + "-elsewhere").is_abandoned()
    assert not replace(dead, pidns="1").is_abandoned()


def test_a_process_of_another_user_counts_as_alive() -> None:
    assert pid_alive(1)  # init: PermissionError for a user, alive for root
    assert pid_alive(os.getpid())
    assert not pid_alive(_dead_pid())
