"""Ctrl-C and SIGTERM as exceptions, remembered so they cannot be mistaken for a finding.

A long statement is interrupted by psycopg2's ``wait_select`` wait callback, which cancels the
query on the server when Ctrl-C arrives; what surfaces is then a ``QueryCanceled`` error from
inside a revision, which the runner would otherwise report as a failing upgrade. The runner
asks :func:`reraise_if_received` after every failed step.
"""

from __future__ import annotations

import contextlib
import signal
from typing import Any

from migguard.errors import Terminated

_received: int | None = None


def install() -> None:
    """Turn SIGINT into KeyboardInterrupt and SIGTERM into Terminated, remembering both."""
    global _received
    _received = None

    def on_signal(signum: int, frame: Any) -> None:
        global _received
        _received = signum
        if signum == signal.SIGTERM:
            raise Terminated()
        raise KeyboardInterrupt()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    _interruptible_queries()


def received() -> int | None:
    """The signal this run received (SIGINT or SIGTERM), if any."""
    return _received


def reraise_if_received() -> None:
    if _received == signal.SIGINT:
        raise KeyboardInterrupt()
    if _received == signal.SIGTERM:
        raise Terminated()


def _interruptible_queries() -> None:
    """Let Ctrl-C cancel a running statement instead of waiting for it to finish."""
    try:
        import psycopg2.extensions
    except ImportError:  # pragma: no cover - psycopg2 is a dependency
        return
    psycopg2.extensions.set_wait_callback(wait_cancelling)


def wait_cancelling(conn: Any) -> None:
    """psycopg2's ``wait_select``, plus: whatever else a signal handler raises while the server
    works (SIGTERM, the ``--timeout`` alarm) first cancels the statement on the server.

    ``wait_select`` turns Ctrl-C into a server-side cancel and waits for the resulting error;
    any other exception escapes it, psycopg2 then closes the connection, and without a cancel
    the backend would go on running the statement (a ``pg_sleep(3600)``, a lock wait) on a
    server the user owns until the database is dropped.
    """
    import psycopg2.extras

    try:
        psycopg2.extras.wait_select(conn)
    except BaseException:
        with contextlib.suppress(Exception):  # the connection is going away: keep the cause
            conn.cancel()
        raise
