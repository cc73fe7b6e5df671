"""The PostgreSQL extensions a project's migrations create, found before any server starts.

Servers differ in the extensions they ship: the embedded wheel has no ``uuid-ossp`` or
``pgcrypto``, Debian's packages have no ``postgis`` or ``vector`` unless installed. Without
this, a revision's ``CREATE EXTENSION "uuid-ossp"`` would fail on the throwaway server and be
reported as ``upgrade-fails`` against a revision that is fine. Knowing the names up front lets
``--db auto`` pick a server that has them, and an explicit ``--db`` fail with exit 2 saying so.

A scan of the string literals in the revision scripts and env.py
(``op.execute("CREATE EXTENSION ...")`` is how migrations create them), not an import.
"""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from migguard.project import Project

# CREATE EXTENSION [IF NOT EXISTS] name | "name" | 'name' (and \"name\" in raw source text)
_CREATE_EXTENSION = re.compile(
    r"""CREATE\s+EXTENSION\s+(?:IF\s+NOT\s+EXISTS\s+)?\\?["']?([A-Za-z_][\w-]*)""",
    re.IGNORECASE,
)
_ALWAYS_THERE = {"plpgsql"}


def created_in(source: str, tree: ast.Module | None = None) -> list[tuple[str, int]]:
    """``(name, line)`` of every ``CREATE EXTENSION`` in the string literals of ``source``, in
    order. Comments and docstrings ("run CREATE EXTENSION postgis by hand first") do not
    count; a file that does not parse is read as plain text. ``tree``: ``source`` already
    parsed (revision files are, once, by :mod:`migguard.project`)."""
    found: list[tuple[str, int]] = []
    for text, first_line in _literals(source, tree):
        for match in _CREATE_EXTENSION.finditer(text):
            name = match.group(1).lower()
            if name not in _ALWAYS_THERE:
                found.append((name, first_line + text.count("\n", 0, match.start())))
    return found


def _literals(source: str, tree: ast.Module | None) -> list[tuple[str, int]]:
    """The string constants of a Python source with their first line, docstrings left out."""
    if tree is None:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            return [(source, 1)]
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    literals = [
        (node.value, node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]
    return sorted(literals, key=lambda item: item[1])


def required(project: Project) -> dict[str, str]:
    """Each extension the migrations create, with where it is first created (``path:line``)."""
    sources: list[tuple[str, str, ast.Module | None]] = [
        (project.relpath(project.env_py), _read(project), None)
    ]
    sources += [(f.relpath, f.source, f.tree) for f in project.revision_files()]
    needed: dict[str, str] = {}
    for relpath, source, tree in sources:
        for name, line in created_in(source, tree):
            needed.setdefault(name, f"{relpath}:{line}")
    return needed


def _read(project: Project) -> str:
    try:
        return project.env_py.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
