"""migguard's side of the worker: start it, talk to it over its own pipes, stop it.

The release's models are only ever imported in the worker (``python -c`` running
:mod:`migguard.deploy.worker`), never in migguard's process, where the other release's modules
of the same names live. Its stdout is discarded and its stderr kept in a log file for the
one-line error when it dies, so nothing the project prints reaches migguard's output.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

import migguard
from migguard.errors import MigguardError

# Runs the worker with the same migguard as this process, installed or not.
_BOOT = (
    "import importlib.util, sys\n"
    "if importlib.util.find_spec('migguard') is None: sys.path.append(sys.argv[1])\n"
    "from migguard.deploy.worker import main\n"
    "raise SystemExit(main(sys.argv[2:]))\n"
)
_STOP_SECONDS = 5.0


class WorkerFailed(MigguardError):
    """The worker could not load or exercise the models; the rule is skipped with a note."""


class Worker:
    """One worker process and its two pipes."""

    def __init__(self, cwd: Path, request: dict[str, Any]) -> None:
        command_read, command_write = os.pipe()
        reply_read, reply_write = os.pipe()
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        try:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _BOOT,
                    str(Path(migguard.__file__).resolve().parent.parent),
                    str(command_read),
                    str(reply_write),
                ],
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._log,
                pass_fds=(command_read, reply_write),
            )
        except OSError:
            for fd in (command_read, command_write, reply_read, reply_write):
                os.close(fd)
            self._log.close()
            raise
        os.close(command_read)
        os.close(reply_write)
        self._commands: IO[str] = os.fdopen(command_write, "w", encoding="utf-8", buffering=1)
        self._replies: IO[str] = os.fdopen(reply_read, "r", encoding="utf-8")
        self._send(request)

    def ask(self, command: dict[str, Any] | None = None, *, seconds: float) -> dict[str, Any]:
        """Send ``command`` (if any) and wait up to ``seconds`` for the next reply: models
        that hang on import (a network call at module level) cost the rule, not the run."""
        if command is not None:
            self._send(command)
        # one reply per question, so nothing waits in the reader's buffer: the pipe tells
        ready, _, _ = select.select([self._replies], [], [], seconds)
        if not ready:
            raise WorkerFailed(f"no answer from the worker process in {seconds:g} s")
        line = self._replies.readline()
        if not line:
            raise WorkerFailed(f"the worker process ended: {self._last_words()}")
        reply: dict[str, Any] = json.loads(line)
        if reply.get("event") == "failed":
            raise WorkerFailed(str(reply.get("message")))
        return reply

    def stop(self) -> None:
        """End the worker: EOF on its commands, then a kill if it does not go."""
        for stream in (self._commands, self._replies):
            with contextlib.suppress(OSError):
                stream.close()
        try:
            self._process.wait(timeout=_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        finally:
            self._log.close()

    def _send(self, message: dict[str, Any]) -> None:
        try:
            self._commands.write(json.dumps(message) + "\n")
            self._commands.flush()
        except BrokenPipeError:
            raise WorkerFailed(f"the worker process ended: {self._last_words()}") from None

    def _last_words(self) -> str:
        """The last line the worker wrote to stderr (a traceback's exception line)."""
        self._process.poll()
        try:
            self._log.seek(0)
            lines = self._log.read().decode(errors="replace").strip().splitlines()
        except (OSError, ValueError):
            lines = []
        code = self._process.returncode
        return lines[-1] if lines else f"exit code {code}"
