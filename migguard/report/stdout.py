"""migguard's stdout belongs to its report; the project's code writes to stderr.

env.py, the app, the models and every revision run inside migguard's process, and projects
print: a revision's ``print()``, a ``logging.StreamHandler(sys.stdout)`` configured at import
time, a rich console, Flask's `` * Loaded module``, a C extension or a subprocess writing to
file descriptor 1. Any of it in front of ``--format json`` breaks the consumer's parser. So
for the whole command, descriptor 1 is a copy of stderr, and the report goes to a duplicate of
the original stdout taken first. Redirecting the descriptor rather than swapping
``sys.stdout`` is what catches all of them: a handler holding the ``sys.stdout`` object, a
child process and C code all end up writing to descriptor 1.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


@contextmanager
def reserved_for_report() -> Iterator[TextIO]:
    """A stream on the original stdout, for the report only; descriptor 1 (and so
    ``sys.stdout``) writes to stderr until the block ends.

    Where stdout is not a real descriptor (the command invoked in-process by a test runner),
    there is nothing to redirect and ``sys.stdout`` itself is returned."""
    with project_output_on_stderr() as saved_fd:
        if saved_fd is None:
            yield sys.stdout
            return
        report = os.fdopen(os.dup(saved_fd), "w", encoding="utf-8", errors="replace")
        try:
            yield report
        finally:
            report.close()


@contextmanager
def project_output_on_stderr() -> Iterator[int | None]:
    """Descriptor 1 (and so ``sys.stdout``) writes to stderr until the block ends, then
    points where it pointed before; yields a duplicate of that original descriptor, or None
    where stdout is not a real descriptor (nothing is redirected then).

    The engine runs every check inside this, so ``migguard.check()`` called from a program
    that writes JSON to its own stdout, or from a pytest session, keeps the project's prints
    out of that stream too; nested blocks (the CLI's around the engine's) are harmless."""
    try:
        sys.stdout.flush()
        stdout_fd = sys.stdout.fileno()
        stderr_fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield None
        return
    saved_fd = os.dup(stdout_fd)
    os.dup2(stderr_fd, stdout_fd)
    line_buffered = _line_buffered(sys.stdout)
    try:
        yield saved_fd
    finally:
        sys.stdout.flush()
        _restore_buffering(sys.stdout, line_buffered)
        os.dup2(saved_fd, stdout_fd)
        os.close(saved_fd)


def _line_buffered(stream: TextIO) -> bool | None:
    """Make project output reach stderr line by line, interleaved with migguard's own lines,
    instead of in blocks when the buffer fills; return the previous setting."""
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is None:
        return None
    previous = bool(getattr(stream, "line_buffering", False))
    try:
        reconfigure(line_buffering=True)
    except (OSError, ValueError):
        return None
    return previous


def _restore_buffering(stream: TextIO, previous: bool | None) -> None:
    if previous is not None:
        with contextlib.suppress(OSError, ValueError):
            stream.reconfigure(line_buffering=previous)  # type: ignore[attr-defined]


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
