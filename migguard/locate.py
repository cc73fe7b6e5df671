"""Where a table is defined in the project's model code, so drift points at a line to edit.

A text scan (``__tablename__ = "books"``, ``Table("books", ...)``, SQLModel ``table=True`` and
Flask-SQLAlchemy ``db.Model`` classes named after the table), not an import: it must work when
the models raise on import and cost nothing when there is no drift.
"""

from __future__ import annotations

import ast
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
        # annotated too: ``__tablename__: ClassVar[str] = "books"`` (SQLModel, typed code)
        re.compile(rf"__tablename__\s*(?::\s*[\w.\[\], ]+?\s*)?=\s*['\"]{name}['\"]"),
        re.compile(rf"\bTable\(\s*['\"]{name}['\"]"),
    ]
    fallback: tuple[Path, int] | None = None
    for path in python_files(root, skip):
        text = _read(path)
        implicit = "table=True" in text.replace(" ", "") or "Model)" in text
        if table not in text and not implicit:
            continue
        for pattern in patterns:
            match = pattern.search(text)
            if match:
                return path, text.count("\n", 0, match.start()) + 1
        if fallback is None and implicit:
            fallback = _implicitly_named(text, path, table)
    return fallback


# Classes whose table name is derived from the class name: SQLModel's ``table=True`` models
# (the name lowercased) and Flask-SQLAlchemy's ``db.Model`` subclasses (snake_case).
_SQLMODEL_CLASS = re.compile(r"^class\s+(\w+)\(.*table\s*=\s*True", re.M)
_FLASK_MODEL_CLASS = re.compile(r"^class\s+(\w+)\((?:[^)]*[\s,.])?Model\)", re.M)


def _implicitly_named(text: str, path: Path, table: str) -> tuple[Path, int] | None:
    for pattern, derive in (
        (_SQLMODEL_CLASS, lambda c: c.lower()),
        (_FLASK_MODEL_CLASS, _snake_case),
    ):
        for match in pattern.finditer(text):
            if derive(match.group(1)) in (table, table.replace("_", "")):
                return path, text.count("\n", 0, match.start()) + 1
    return None


def _snake_case(name: str) -> str:
    """Flask-SQLAlchemy's ``camel_to_snake_case``: ``UserProfile`` -> ``user_profile``."""
    name = re.sub(r"((?<=[a-z0-9])[A-Z]|(?!^)[A-Z](?=[a-z]))", r"_\1", name)
    return name.lower().lstrip("_")


def find_column(
    root: Path, table: str, column: str, skip: tuple[Path, ...] = ()
) -> tuple[Path, int] | None:
    """The line of the model attribute (or ``Column("name", ...)`` of a ``Table``) that
    declares ``column`` of ``table``: drift about one column is fixed there, not at
    ``__tablename__``. None when the table or the column cannot be found (a column from a
    mixin, a file that does not parse)."""
    found = find_table(root, table, skip)
    if found is None:
        return None
    path, table_line = found
    try:
        tree = ast.parse(_read(path))
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and _spans(node, table_line):
            line = _attribute_line(node.body, column)
        elif isinstance(node, ast.Call) and _spans(node, table_line) and _is_table_call(node):
            line = _column_call_line(node.args, column)
        else:
            continue
        if line is not None:
            return path, line
    return None


def _spans(node: ast.stmt | ast.expr, line: int) -> bool:
    end = getattr(node, "end_lineno", None) or node.lineno
    return node.lineno <= line <= end


def _is_table_call(call: ast.Call) -> bool:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name == "Table"


def _attribute_line(body: list[ast.stmt], column: str) -> int | None:
    """``column = Column(...)``, ``column: Mapped[...] = mapped_column(...)``, or an attribute
    of another name whose ``mapped_column("column", ...)`` names the database column."""
    for statement in body:
        target: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target, value = statement.targets[0], statement.value
        elif isinstance(statement, ast.AnnAssign):
            target, value = statement.target, statement.value
        if not isinstance(target, ast.Name):
            continue
        named = _first_string_argument(value)
        if named == column or (named is None and target.id == column):
            return statement.lineno
    return None


def _column_call_line(arguments: list[ast.expr], column: str) -> int | None:
    for argument in arguments:
        if _first_string_argument(argument) == column:
            return argument.lineno
    return None


def _first_string_argument(value: ast.expr | None) -> str | None:
    if isinstance(value, ast.Call) and value.args:
        first = value.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value
    return None


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
