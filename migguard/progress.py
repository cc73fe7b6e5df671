"""One updating line on stderr while a long stairway runs: ``migguard: round trip 37/300 0042``.

A 300-revision history takes a while; a silent terminal looks hung. The line appears only on
a terminal and only once the stairway has run for a couple of seconds, so short runs, pipes,
CI logs and JSON consumers never see it, and it is erased before the report is printed.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

DELAY_SECONDS = 2.0
_MIN_INTERVAL = 0.1  # redraw at most this often: a terminal need not see every step
_CLEAR = "\r\033[K"


class ProgressLine:
    """The ``on_revision`` callback of :class:`migguard.runner.RunPlan`, drawn on ``stream``."""

    def __init__(self, stream: TextIO, delay: float = DELAY_SECONDS) -> None:
        self.stream = stream
        self.delay = delay
        self.started: float | None = None
        self.drawn_at: float | None = None

    def __call__(self, number: int, total: int, revision: str) -> None:
        now = time.monotonic()
        if self.started is None:
            self.started = now
        if now - self.started < self.delay:
            return
        if self.drawn_at is not None and now - self.drawn_at < _MIN_INTERVAL and number < total:
            return
        width = len(str(total))
        line = f"migguard: round trip {number:>{width}}/{total} {revision}"
        columns = shutil.get_terminal_size((80, 24)).columns
        self._write(_CLEAR + line[: max(columns - 1, 10)])
        self.drawn_at = now

    def clear(self) -> None:
        """Erase the line, if one was drawn, so the report starts at column 0."""
        if self.drawn_at is not None:
            self._write(_CLEAR)
            self.drawn_at = None

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a closed or broken terminal must not fail the check


@contextmanager
def on_stderr() -> Iterator[ProgressLine | None]:
    """A progress callback when stderr is a terminal (None otherwise); always erased after."""
    stream = sys.stderr
    if not _is_terminal(stream) or os.environ.get("TERM") == "dumb":
        yield None
        return
    progress = ProgressLine(stream)
    try:
        yield progress
    finally:
        progress.clear()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
