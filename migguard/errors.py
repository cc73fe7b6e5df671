"""The one exception type that turns into exit code 2 with a single clear line."""

from __future__ import annotations

from pathlib import Path


class MigguardError(Exception):
    """A usage, configuration or environment problem: the project could not be checked.

    The message is shown to the user as one line, so it names the file, server or setting at
    fault and, where there is one, the fix.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        root: Path | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        # What a relative ``path`` is relative to: the project's directory, once the project
        # is known (the engine fills it in); the working directory otherwise.
        self.root = root

    @property
    def message(self) -> str:
        """The message without its location, for outputs that carry the location apart."""
        return str(super().__str__())

    def __str__(self) -> str:
        message = super().__str__()
        if self.path:
            where = f"{self.path}:{self.line}" if self.line else self.path
            return f"{where}: {message}"
        return message


def describe_exit(exc: SystemExit) -> str:
    """``sys.exit('SECRET_KEY is not set')``: project code that exits while migguard loads it
    says why in its exit code, so the message quotes it."""
    return f"sys.exit({exc.code!r})" if exc.code is not None else "sys.exit()"


class Terminated(BaseException):
    """SIGTERM, turned into an exception so that every cleanup block still runs.

    A BaseException, like KeyboardInterrupt, so that code catching a revision's errors does
    not mistake it for one.
    """
