"""The release's models, as its own env.py finds them, seen from inside the worker process.

The classes mapped onto the tables of env.py's ``target_metadata`` are the release's schema
contract: what its ORM selects, inserts, updates and deletes. Runs only in the worker.
"""

from __future__ import annotations

import ast
import inspect
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from migguard.errors import MigguardError


@dataclass(frozen=True)
class Declared:
    """Where a model or one of its attributes is written: ``models.py:42 User.full_name``."""

    path: str | None
    line: int | None
    name: str  # "User.full_name", or "User" for the class, or the table for a Core table


def tables_of(metadata: Any) -> list[Any]:
    """Every Table of env.py's target_metadata (a MetaData or a sequence of them)."""
    metadatas = metadata if isinstance(metadata, list | tuple) else [metadata]
    return [table for m in metadatas if m is not None for table in m.tables.values()]


def mapped_classes(tables: list[Any]) -> list[Any]:
    """The mappers whose tables are among ``tables``, in a stable order (module, class)."""
    from sqlalchemy.orm import configure_mappers

    try:
        configure_mappers()
    except Exception as exc:
        raise MigguardError(f"the models do not configure: {type(exc).__name__}: {exc}") from exc
    wanted = set(map(id, tables))
    mappers = []
    for registry in _registries():
        for mapper in registry.mappers:
            local = mapper.local_table
            if id(local) in wanted and not getattr(mapper, "non_primary", False):
                mappers.append(mapper)
    return sorted(mappers, key=lambda m: (m.class_.__module__, m.class_.__qualname__))


def _registries() -> list[Any]:
    from sqlalchemy.orm import mapperlib

    every = getattr(mapperlib, "_all_registries", None)
    if every is not None:
        return list(every())
    return list(getattr(mapperlib, "_mapper_registries", {}))  # pragma: no cover - 1.4


def foreign_modules(mappers: list[Any], root: str, foreign_root: str | None) -> list[str]:
    """Model modules that were imported from ``foreign_root`` instead of the release's own
    tree under ``root`` (an editable install or a PYTHONPATH pointing at the working tree):
    their classes are not the release's, and checking them would prove nothing."""
    if foreign_root is None:
        return []
    import sys

    found = []
    for mapper in mappers:
        module = sys.modules.get(mapper.class_.__module__)
        filename = os.path.realpath(getattr(module, "__file__", None) or "")
        if filename.startswith(foreign_root + os.sep) and not filename.startswith(root + os.sep):
            found.append(mapper.class_.__module__)
    return sorted(set(found))


def class_declared(cls: type) -> Declared:
    path, line = _class_position(cls)
    return Declared(path, line, cls.__name__)


def attribute_declared(cls: type, key: str) -> Declared:
    """The line assigning ``key`` in the class body, or in the mixin or base class that
    declares it; the class line when no body assigns it (an imperative mapping)."""
    for owner in cls.__mro__:
        if owner is object:
            continue
        path, line = _class_position(owner)
        if path is None or line is None:
            continue
        found = _assignment_line(path, line, owner.__name__, key)
        if found is not None:
            return Declared(path, found, f"{cls.__name__}.{key}")
    path, line = _class_position(cls)
    return Declared(path, line, f"{cls.__name__}.{key}")


def table_column_declared(table: Any, column: str | None) -> Declared:
    """A Core ``Table("items", ..., Column("name", ...))``: where it is written, by text."""
    from migguard.locate import find_table

    name = f"{table.name}.{column}" if column else table.name
    found = find_table(Path.cwd(), table.name)
    if found is None:
        return Declared(None, None, name)
    path, line = found
    if column:
        lines = _source_lines(str(path))
        for number in range(line, min(len(lines), line + 200) + 1):
            text = lines[number - 1]
            if f'"{column}"' in text or f"'{column}'" in text:
                return Declared(str(path), number, name)
    return Declared(str(path), line, name)


def _class_position(cls: type) -> tuple[str | None, int | None]:
    try:
        path = inspect.getsourcefile(cls)
        _, line = inspect.getsourcelines(cls)
    except (OSError, TypeError):
        return None, None
    return (os.path.realpath(path), line) if path else (None, None)


def _assignment_line(path: str, class_line: int, class_name: str, key: str) -> int | None:
    tree = _parsed(path)
    if tree is None:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if first != class_line and node.lineno != class_line:
                continue
            for statement in node.body:
                targets: list[ast.expr] = []
                if isinstance(statement, ast.Assign):
                    targets = statement.targets
                elif isinstance(statement, ast.AnnAssign):
                    targets = [statement.target]
                elif isinstance(statement, ast.FunctionDef) and statement.name == key:
                    return statement.lineno  # a declared_attr
                if any(isinstance(t, ast.Name) and t.id == key for t in targets):
                    return statement.lineno
    return None


@lru_cache(maxsize=256)
def _parsed(path: str) -> ast.Module | None:
    try:
        return ast.parse("\n".join(_source_lines(path)))
    except SyntaxError:
        return None


@lru_cache(maxsize=256)
def _source_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read().splitlines()
    except OSError:
        return []
