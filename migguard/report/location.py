"""Finding paths as CI sees them: relative to the repository root, not to the project.

Findings carry paths relative to the Alembic project (``migrations/versions/0002.py``), but
GitHub annotations and code scanning resolve paths against the checked-out repository: a
project in ``services/api/`` must report ``services/api/migrations/versions/0002.py`` or the
annotation lands on no file. The repository root is the nearest directory above the project
that holds ``.git`` (a directory, or a file for worktrees and submodules); outside a
repository, the current directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from migguard.engine import Report
    from migguard.findings import Finding


def git_root(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` that holds ``.git``, if any."""
    resolved = start.resolve()
    for directory in [resolved, *resolved.parents]:
        if (directory / ".git").exists():
            return directory
    return None


def repository_root(project_root: Path | None) -> Path:
    """The git top level containing ``project_root``; the current directory otherwise."""
    found = git_root(project_root) if project_root is not None else None
    return found or Path.cwd().resolve()


def project_root(report: Report) -> Path:
    return (report.root or Path.cwd()).resolve()


def relative_to_repository(path: Path, repository: Path) -> str:
    """``path`` relative to ``repository`` with forward slashes (``..`` when outside it)."""
    resolved = path.resolve()
    try:
        relative = resolved.relative_to(repository)
    except ValueError:
        relative = Path(os.path.relpath(resolved, repository))
    return relative.as_posix()


def finding_path(report: Report, finding: Finding, repository: Path) -> str | None:
    """The finding's file relative to the repository root, or None for project-wide findings."""
    if not finding.path:
        return None
    return relative_to_repository(project_root(report) / finding.path, repository)


def shown_path(path: Path, root: Path | None) -> str:
    """A path as the terminal can open it, as ruff and pytest print theirs: relative to the
    working directory when it is below it (``backend/models.py`` after ``migguard check
    backend``) or when the working directory is inside the project (``../env.py`` from
    ``migrations/versions``); relative to the project otherwise (a project elsewhere on disk,
    named by its path); absolute when there is no project."""
    resolved = path.resolve()
    try:
        cwd = Path.cwd().resolve()
    except OSError:
        cwd = None
    if cwd is not None:
        if resolved.is_relative_to(cwd):
            return resolved.relative_to(cwd).as_posix()
        if root is not None and cwd.is_relative_to(root.resolve()):
            return Path(os.path.relpath(resolved, cwd)).as_posix()
    if root is not None:
        return relative_to_repository(resolved, root.resolve())
    return resolved.as_posix()
