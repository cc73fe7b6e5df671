"""The PostgreSQL extensions a project's migrations create, found before any server starts.

Servers differ in the extensions they ship: the embedded wheel has no ``uuid-ossp`` or
``pgcrypto``, Debian's packages have no ``postgis`` or ``vector`` unless installed. Without
this, a revision's ``CREATE EXTENSION "uuid-ossp"`` would fail on the throwaway server and be
reported as ``upgrade-fails`` against a revision that is fine. Knowing the names up front lets
``--db auto`` pick a server that has them, and an explicit ``--db`` fail with exit 2 saying so.

A text scan of the revision scripts and env.py (``op.execute("CREATE EXTENSION ...")`` is how
migrations create them), not an import.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from migguard.project import Project

# CREATE EXTENSION [IF NOT EXISTS] name | "name" | \"name\" (inside a Python string) | 'name'
_CREATE_EXTENSION = re.compile(
    r"""CREATE\s+EXTENSION\s+(?:IF\s+NOT\s+EXISTS\s+)?\\?["']?([A-Za-z_][\w-]*)""",
    re.IGNORECASE,
)
_ALWAYS_THERE = {"plpgsql"}


def created_in(source: str) -> list[tuple[str, int]]:
    """``(name, line)`` of every ``CREATE EXTENSION`` in ``source``, in order."""
    found: list[tuple[str, int]] = []
    for match in _CREATE_EXTENSION.finditer(source):
        name = match.group(1).lower()
        if name not in _ALWAYS_THERE:
            found.append((name, source.count("\n", 0, match.start()) + 1))
    return found


def required(project: Project) -> dict[str, str]:
    """Each extension the migrations create, with where it is first created (``path:line``)."""
    sources = [(project.relpath(project.env_py), _read(project))]
    sources += [(f.relpath, f.source) for f in project.revision_files()]
    needed: dict[str, str] = {}
    for relpath, source in sources:
        for name, line in created_in(source):
            needed.setdefault(name, f"{relpath}:{line}")
    return needed


def _read(project: Project) -> str:
    try:
        return project.env_py.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
