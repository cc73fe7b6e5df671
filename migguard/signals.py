"""Ctrl-C and SIGTERM as exceptions, remembered so they cannot be mistaken for a finding.

A long statement is interrupted by psycopg2's ``wait_select`` wait callback, which cancels the
query on the server when Ctrl-C arrives; what surfaces is then a ``QueryCanceled`` error from
inside a revision, which the runner would otherwise report as a failing upgrade. The runner
asks :func:`reraise_if_received` after every failed step.
"""

from __future__ import annotations

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


def reraise_if_received() -> None:
    if _received == signal.SIGINT:
        raise KeyboardInterrupt()
    if _received == signal.SIGTERM:
        raise Terminated()


def _interruptible_queries() -> None:
    """Let Ctrl-C cancel a running statement instead of waiting for it to finish."""
    try:
        import psycopg2.extensions
        import psycopg2.extras
    except ImportError:  # pragma: no cover - psycopg2 is a dependency
        return
    psycopg2.extensions.set_wait_callback(psycopg2.extras.wait_select)
