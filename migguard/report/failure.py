"""Why a project could not be checked (exit 2), in the shape every output format renders.

A CI job that parses ``--format json`` or uploads SARIF must learn that the check did not
happen, and where the cause is, from the same channel that normally carries findings: an
empty stdout (or a line of plain text) would read as a crash of the parser, or worse, as "no
findings". Locations follow the findings' rules: relative to the working directory on the
terminal, to the project in JSON, to the repository in GitHub annotations and SARIF.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from migguard.errors import MigguardError
from migguard.report.location import shown_path


@dataclass(frozen=True)
class Failure:
    """The one-line reason and, where there is one, the file and line at fault."""

    message: str
    path: Path | None = None  # absolute
    line: int | None = None
    root: Path | None = None  # the project's directory, when it was found

    @classmethod
    def from_error(cls, exc: MigguardError) -> Failure:
        path = None
        if exc.path:
            base = exc.root if exc.root is not None else Path.cwd()
            path = (base / exc.path).resolve()
        return cls(exc.message, path, exc.line if path is not None else None, exc.root)

    def shown(self) -> str:
        """The terminal's one line: ``path:line: message``, the path as it can be opened from
        the working directory (``backend/app/core/config.py:12``)."""
        if self.path is None:
            return self.message
        where = shown_path(self.path, self.root)
        if self.line:
            where += f":{self.line}"
        return f"{where}: {self.message}"

    def project_path(self) -> str | None:
        """The path relative to the project, as JSON findings give theirs (relative to the
        working directory when no project was found)."""
        if self.path is None:
            return None
        return Path(os.path.relpath(self.path, self.root or Path.cwd())).as_posix()
