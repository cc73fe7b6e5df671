"""Ctrl-C or SIGTERM during a statement: whatever error the cancelled statement raises on its
way out (QueryCanceled, or a MigguardError wrapping it) must end as the interruption it is."""

from __future__ import annotations

import contextlib
import os
import signal

import pytest

from migguard import cli, signals
from migguard.errors import MigguardError


class QueryCanceled(Exception):
    """What psycopg2 raises after Ctrl-C cancels the statement on the server."""


def _interrupted_by(signum: int, error: Exception):
    def body() -> int:
        # the handler cli installs raises here; the statement's wait swallows it and cancels
        # the query on the server...
        with contextlib.suppress(KeyboardInterrupt, cli.Terminated):
            os.kill(os.getpid(), signum)
        raise error  # ...which then fails with the server's error

    return body


@pytest.mark.parametrize(
    ("signum", "code", "word"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
)
@pytest.mark.parametrize(
    "error",
    [
        QueryCanceled("canceling statement due to user request"),
        MigguardError("cannot create a database: canceling statement due to user request"),
    ],
)
def test_a_cancelled_statement_ends_as_the_interruption(
    capsys: pytest.CaptureFixture[str], signum: int, code: int, word: str, error: Exception
) -> None:
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert cli._run_guarded(False, _interrupted_by(signum, error)) == code
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        signals._received = None  # later tests in this process received nothing
    err = capsys.readouterr().err
    assert err.strip() == f"migguard: error: {word}; throwaway databases removed"


def test_without_a_signal_the_error_is_reported_as_it_is(
    capsys: pytest.CaptureFixture[str],
) -> None:
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def body() -> int:
        raise MigguardError("cannot create a database: permission denied")

    try:
        assert cli._run_guarded(False, body) == 2
        assert signals.received() is None
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    assert "permission denied" in capsys.readouterr().err
