"""Where a table is defined in the project's model code, so drift points at a line to edit.

A text scan (``__tablename__ = "books"``, ``Table("books", ...)``, SQLModel ``table=True``
classes named after the table), not an import: it must work when the models raise on import
and cost nothing when there is no drift.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from migguard.sources import walk_python_files


def python_files(root: Path, skip: tuple[Path, ...] = ()) -> list[Path]:
    """The project's own .py files, as every rule sees them (``migguard.sources``)."""
    return list(walk_python_files(root.resolve(), {p.resolve() for p in skip}))


@lru_cache(maxsize=64)
def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def find_table(root: Path, table: str, skip: tuple[Path, ...] = ()) -> tuple[Path, int] | None:
    """The file and 1-based line where ``table`` is declared as a model, if it can be found."""
    name = re.escape(table)
    patterns = [
        re.compile(rf"__tablename__\s*(?::\s*\w+\s*)?=\s*['\"]{name}['\"]"),
        re.compile(rf"\bTable\(\s*['\"]{name}['\"]"),
    ]
    class_pattern = re.compile(r"^class\s+(\w+)\(.*table\s*=\s*True", re.M)
    fallback: tuple[Path, int] | None = None
    for path in python_files(root, skip):
        text = _read(path)
        if table not in text and "table=True" not in text.replace(" ", ""):
            continue
        for pattern in patterns:
            match = pattern.search(text)
            if match:
                return path, text.count("\n", 0, match.start()) + 1
        if fallback is None:
            for match in class_pattern.finditer(text):
                if match.group(1).lower() == table.replace("_", "").lower():
                    fallback = (path, text.count("\n", 0, match.start()) + 1)
    return fallback


def find_quoted_name(root: Path, name: str, skip: tuple[Path, ...] = ()) -> tuple[Path, int] | None:
    """The first ``"name"`` literal in the project's code: where an enum or index is named."""
    pattern = re.compile(rf"['\"]{re.escape(name)}['\"]")
    for path in python_files(root, skip):
        text = _read(path)
        if name not in text:
            continue
        match = pattern.search(text)
        if match:
            return path, text.count("\n", 0, match.start()) + 1
    return None
