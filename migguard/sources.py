"""The project's own Python source files: which ones count, found once for every rule.

The start-up rule, the naming rule and the drift locator all look at "the project's code":
the same walk decides what that is, so a virtualenv or a ``tests/`` directory is skipped the
same way everywhere.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator
from pathlib import Path

# Directory names that never hold the project's own application code.
SKIP_DIR_NAMES = frozenset(
    {
        ".git",
        ".hg",
        ".venv",
        "venv",
        "site-packages",
        "node_modules",
        "__pycache__",
        "build",
        "dist",
        "tests",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".eggs",
    }
)


def is_test_file(relpath: str) -> bool:
    """``tests/`` anywhere in the path, ``test_*.py``, ``*_test.py`` or ``conftest.py``."""
    parts = relpath.split("/")
    name = parts[-1]
    return (
        "tests" in parts[:-1]
        or name == "conftest.py"
        or name.startswith("test_")
        or name.endswith("_test.py")
    )


def is_excluded(relpath: str, patterns: tuple[str, ...]) -> bool:
    """Whether a root-relative path matches one of the ``exclude`` glob patterns (a pattern
    naming a directory excludes what is under it)."""
    for pattern in patterns:
        pattern = pattern.strip()
        if pattern.startswith("./"):
            pattern = pattern[2:]
        if not pattern:
            continue
        candidates = [pattern, pattern.rstrip("/") + "/*"]
        if pattern.startswith("**/"):
            candidates += [pattern[3:], pattern[3:].rstrip("/") + "/*"]
        if any(fnmatch.fnmatchcase(relpath, c) for c in candidates):
            return True
    return False


def is_foreign_directory(directory: Path) -> bool:
    """A directory that never holds the project's own code or configuration: a virtualenv,
    installed packages, caches, build output, tests, anything hidden."""
    name = directory.name
    return (
        name in SKIP_DIR_NAMES
        or name.startswith(".")
        or name.endswith(".egg-info")
        or (directory / "pyvenv.cfg").exists()
    )


def walk_python_files(root: Path, skip: set[Path], exclude: tuple[str, ...] = ()) -> Iterator[Path]:
    """The project's own .py files, sorted: no tests, virtualenvs, caches, build output,
    hidden directories, nothing under ``skip`` (resolved paths) or matching ``exclude``."""
    for directory, dirnames, filenames in os.walk(root):
        here = Path(directory)
        kept = []
        for name in sorted(dirnames):
            child = here / name
            if is_foreign_directory(child) or child.resolve() in skip:
                continue
            if is_excluded(child.relative_to(root).as_posix(), exclude):
                continue
            kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            if not name.endswith(".py"):
                continue
            relpath = (here / name).relative_to(root).as_posix()
            if is_test_file(relpath) or is_excluded(relpath, exclude):
                continue
            yield here / name
