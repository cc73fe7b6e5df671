"""The worker process: one release's models, imported where they cannot mix with migguard's.

Started by :mod:`migguard.deploy.process` with two pipes of its own (commands in, replies
out), so whatever the project's code prints cannot corrupt the conversation. The first
command carries the request: the release's project directory, the environment env.py is to
see (the database variables pointed at the throwaway database, ``[tool.migguard.env]``), the
throwaway database's URL. The models are loaded once, as env.py loads them in offline mode;
each later ``exercise`` command runs the contract on the database as it is at that moment.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TextIO

from migguard.errors import MigguardError


class _Release:
    """The loaded models and what is needed to exercise them: this process's only state."""

    def __init__(self, request: dict[str, Any], stack: ExitStack) -> None:
        from migguard import runner, safety
        from migguard.deploy import models
        from migguard.project import load_project

        config_file = request.get("config_file")
        project = load_project(Path(request["root"]), Path(config_file) if config_file else None)
        project.flask_app = request.get("flask_app")
        config = project.alembic_config()
        stack.enter_context(safety.environment(request["environment"]))
        stack.enter_context(runner.project_cwd(project, config))
        self.url: str = request["url"]
        self.env_py = project.env_py
        if request.get("metadata"):
            from migguard.config import Settings
            from migguard.engine import metadata_override

            metadata = metadata_override(Settings(metadata=request["metadata"]))
        else:
            metadata = runner.load_metadata_offline(
                project, config, safety.Guard(env_py=project.env_py)
            )
        if metadata is None:
            raise MigguardError("env.py passes no target_metadata: no models to exercise")
        self.tables = models.tables_of(metadata)
        self.mappers = models.mapped_classes(self.tables)
        foreign = models.foreign_modules(
            self.mappers, os.path.realpath(request["root"]), request.get("foreign_root")
        )
        if foreign:
            raise MigguardError(
                f"the release's models were imported from the working tree ({', '.join(foreign)}"
                "), not from the release's commit: an editable install or PYTHONPATH shadows them"
            )

    def exercise(self) -> dict[str, Any]:
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        from migguard import safety
        from migguard.deploy import contract

        guard = safety.Guard(env_py=self.env_py)
        engine = create_engine(self.url, poolclass=NullPool)
        guard.allow(engine.url)
        try:
            with guard.watching_engines(), engine.connect() as connection:
                done = contract.exercise(connection, self.mappers, self.tables)
        finally:
            engine.dispose()
        return {"checks": [check.to_dict() for check in done.checks], "empty": done.left_empty}


def main(argv: list[str]) -> int:
    """``argv``: the fd commands arrive on, the fd replies go to."""
    commands = os.fdopen(int(argv[0]), "r", encoding="utf-8")
    replies = os.fdopen(int(argv[1]), "w", encoding="utf-8", buffering=1)
    sys.stdout = sys.stderr  # the project's prints go to the worker's log, never a pipe
    try:
        return _serve(commands, replies)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # migguard went away: nothing left to answer
        return 1


def _serve(commands: TextIO, replies: TextIO) -> int:
    def send(message: dict[str, Any]) -> None:
        replies.write(json.dumps(message) + "\n")
        replies.flush()

    with ExitStack() as stack:
        request = json.loads(commands.readline() or "{}")
        try:
            release = _Release(request, stack)
        except MigguardError as exc:
            send({"event": "failed", "message": str(exc)})
            return 0
        except Exception as exc:
            send({"event": "failed", "message": f"{type(exc).__name__}: {exc}"})
            return 0
        send({"event": "loaded", "classes": [m.class_.__name__ for m in release.mappers]})
        for line in commands:
            command = json.loads(line)
            if command.get("do") != "exercise":
                break
            try:
                send({"event": "exercised", **release.exercise()})
            except MigguardError as exc:
                send({"event": "failed", "message": str(exc)})
            except Exception as exc:
                send({"event": "failed", "message": f"{type(exc).__name__}: {exc}"})
    return 0
