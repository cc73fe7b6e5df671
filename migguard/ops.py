"""The one reader of Alembic operations: revision files and recorded runs become :class:`Op`.

Every rule that asks "what does this revision do" (rename-as-drop-add, the naming rules, the
static readings of the rehearsal rules) reads these records instead of walking syntax itself,
so they all see the same operations: ``op`` imported under another name, ``alembic.op``,
``with op.batch_alter_table("t") as batch_op`` (each call takes its enclosing block's table),
names wrapped in ``op.f()``/``conv()``, helper functions called from ``upgrade()`` (read at
the call, in the order they run), and ``*args`` that hide an argument (read as unknown, never
guessed).

Two sources, one record type:

* :func:`read_revision` reads a parsed revision file (``RevisionFile.tree``; the project parses
  each file once). Names, types and defaults are known only where they are literals.
* :func:`from_operations` turns Alembic operation objects (autogenerate's proposals, or what
  an upgrade invoked) into the same records. :func:`observe` is what the runner's recorder
  calls as each operation is about to run, loops and helpers included: for a drop it also
  reads the dropped columns' real types from the database, which a hand-written
  ``op.drop_column`` does not carry. ``RunResult.recorded_ops`` holds these records.

Besides schema operations, the records carry the evidence that data is being handled: every
statement executed (``op.execute``, ``op.get_bind().execute(...)``, ``conn.exec_driver_sql``,
``bulk_insert``), with the identifiers it mentions and whether it empties a table
(``DELETE FROM t``, ``TRUNCATE t``), and ORM sessions opened in the revision.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from migguard.project import RevisionFile

Function = Literal["upgrade", "downgrade"]
ConstraintKind = Literal["ix", "uq", "ck", "fk", "pk"]

# The value :meth:`Op.option` gives for a keyword passed as an expression, not a literal.
NOT_LITERAL: object = Ellipsis

# Op kinds that carry data rather than schema: the statement's content is in ``Op.data``.
DATA_KINDS = frozenset({"execute", "bulk_insert", "statement", "orm_session", "call"})


@dataclass(frozen=True)
class Name:
    """An index or constraint name as written.

    ``text`` is the literal (unwrapped from ``op.f``/``conv``); ``final`` when it was wrapped
    and is used exactly as written; ``known`` False when it is an expression migguard cannot
    read (then ``text`` is None). An unnamed object has ``text=None, known=True``.
    """

    text: str | None
    final: bool = False
    known: bool = True
    line: int | None = None


UNNAMED = Name(None)


@dataclass(frozen=True)
class Constraint:
    """An index or constraint an operation creates (``create_index``, a ``UniqueConstraint``
    inside ``create_table``, a column's ``unique=True`` or ``ForeignKey``...).

    ``columns`` None when they cannot be read (an expression index, a check's SQL text).
    """

    kind: ConstraintKind
    name: Name
    columns: tuple[str, ...] | None
    line: int
    referred_table: str | None = None
    referred_columns: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Column:
    """A column as an operation defines it. ``type`` is the type's class name as written
    (``String``, ``TIMESTAMP``) or, at run time, its SQLAlchemy class; None when unknown.
    ``nullable`` None when not a literal; ``server_default`` the literal default text."""

    name: str
    type: str | None = None
    nullable: bool | None = None
    server_default: str | None = None
    has_server_default: bool = False
    primary_key: bool = False
    line: int | None = None


@dataclass(frozen=True)
class Data:
    """A statement a revision executes, or an ORM session it opens.

    ``mentions`` are the identifiers the statement names (lowercased: tables, columns, SQL
    words), or None when its content cannot be read (SQL loaded from a file, a statement
    from outside the revision, an ORM session): then it may touch anything. ``emptied`` are
    the tables it empties on purpose.
    """

    mentions: frozenset[str] | None
    emptied: frozenset[str] = frozenset()
    sql: str | None = None

    def mentions_any(self, *names: str) -> bool:
        """Whether the statement may read or write one of ``names`` (True when opaque)."""
        if self.mentions is None:
            return True
        return any(n.lower() in self.mentions for n in names)


@dataclass(frozen=True)
class Op:
    """One operation of a revision, in the order it runs.

    ``kind`` is the Alembic method (``add_column``, ``drop_table``, ``create_index``,
    ``alter_column``, ``rename_table``, ``execute``...) or, for data handled outside
    Alembic's operations, ``statement`` (a connection's ``execute``), ``orm_session`` and
    ``call`` (a helper from the project or a third-party package called for its effect).
    ``table``/``schema`` are None when not literal. ``columns`` lists what ``add_column``
    adds and ``create_table`` creates (None: hidden behind ``*args`` or not literal; for a
    drop observed at run time, the columns the database held). ``column`` is the column a
    ``drop_column``/``alter_column`` names, ``new_name`` the new name an ``alter_column`` or
    ``rename_table`` gives, ``type`` the type an ``alter_column`` sets. ``name`` is the name
    a ``create_*``/``drop_index``/``drop_constraint`` call gives; ``constraints`` every index
    and constraint the operation creates (``create_table``'s own and its columns', or the
    one ``create_index``/``create_*_constraint`` makes); ``data`` what a data kind executes.
    ``batch_table`` is the enclosing ``batch_alter_table``'s table;
    ``conditional`` when the call sits under an ``if``/``for``/``while``/``try``;
    ``autocommit`` when it runs inside ``op.get_context().autocommit_block()`` (outside the
    migration's transaction). ``options`` are the call's keyword arguments (see
    :meth:`option`); the static reader fills them, recorded operations carry only an
    ``alter_column``'s ``nullable`` and ``server_default`` (the latter None when it removes
    the default), when the call changes them.
    """

    kind: str
    line: int | None
    table: str | None = None
    schema: str | None = None
    function: Function | None = None
    columns: tuple[Column, ...] | None = None
    column: str | None = None
    new_name: str | None = None
    type: str | None = None
    name: Name | None = None
    constraints: tuple[Constraint, ...] = ()
    batch_table: str | None = None
    conditional: bool = False
    data: Data | None = None
    options: tuple[tuple[str, object], ...] = ()
    autocommit: bool = False

    @property
    def is_data(self) -> bool:
        return self.kind in DATA_KINDS

    def option(self, keyword: str, default: object = None) -> object:
        """A keyword argument the call passed (``postgresql_concurrently``, ``unique``,
        ``postgresql_not_valid``...): its literal value, :data:`NOT_LITERAL` when it is an
        expression, ``default`` when it was not passed."""
        return next((value for name, value in self.options if name == keyword), default)


# --- static: the parsed revision file ----------------------------------------------------------

# Parameters of each Alembic operation in order, for ``op.<method>(...)``; a batch operation
# takes the same without the table (the block gives it).
_PARAMETERS: dict[str, tuple[str, ...]] = {
    "add_column": ("table_name", "column"),
    "drop_column": ("table_name", "column_name"),
    "alter_column": ("table_name", "column_name"),
    "create_table": ("table_name",),
    "drop_table": ("table_name",),
    "rename_table": ("old_table_name", "new_table_name"),
    "create_index": ("index_name", "table_name", "columns"),
    "drop_index": ("index_name", "table_name"),
    "create_unique_constraint": ("constraint_name", "table_name", "columns"),
    "create_primary_key": ("constraint_name", "table_name", "columns"),
    "create_check_constraint": ("constraint_name", "table_name", "condition"),
    "create_foreign_key": (
        "constraint_name",
        "source_table",
        "referent_table",
        "local_cols",
        "remote_cols",
    ),
    "drop_constraint": ("constraint_name", "table_name", "type_"),
    "execute": ("sqltext",),
    "bulk_insert": ("table", "rows"),
}
_TABLE_PARAMETERS = frozenset({"table_name", "source_table", "old_table_name"})
_NOT_BATCH = frozenset({"create_table", "drop_table", "rename_table", "execute", "bulk_insert"})
_STATEMENT_METHODS = frozenset({"execute", "exec_driver_sql", "executemany", "scalar", "scalars"})
_SESSION_FACTORIES = frozenset({"Session", "sessionmaker", "scoped_session"})
_FINAL_NAME_CALLS = frozenset({"f", "conv"})
# Positional Column() arguments that are not a type (the type was left out).
_NOT_TYPES = frozenset(
    {"ForeignKey", "Sequence", "Identity", "Computed", "FetchedValue", "DefaultClause"}
)
_CONSTRAINT_CLASSES: dict[str, ConstraintKind] = {
    "Index": "ix",
    "UniqueConstraint": "uq",
    "CheckConstraint": "ck",
    "ForeignKeyConstraint": "fk",
    "PrimaryKeyConstraint": "pk",
}
_CREATED_KINDS: dict[str, ConstraintKind] = {
    "create_unique_constraint": "uq",
    "create_primary_key": "pk",
    "create_check_constraint": "ck",
}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
# SQL read from a file: what it touches is not in the revision.
_FILE_READS = frozenset({"read_text", "read_bytes", "read", "open", "get_data", "files"})
# SQLAlchemy constructs whose statement the reader can see (tables and columns by name).
_STATEMENT_CONSTRUCTS = frozenset(
    {"select", "insert", "update", "delete", "table", "Table", "bulk_insert"}
)


def read_revision(revision: RevisionFile, function: Function = "upgrade") -> list[Op]:
    """The operations ``upgrade()`` (or ``downgrade()``) of a parsed revision file runs."""
    node = revision.function(function)
    if node is None:
        return []
    return _Reader(revision.tree, function).read(node)


class _Reader:
    """Reads one entry function's body in execution order, following local helper calls."""

    def __init__(self, tree: ast.Module, function: Function) -> None:
        self.function: Function = function
        self.op_names = _op_names(tree)
        self.module_functions = {
            node.name: node
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        self.module_assignments = _assignments(tree)
        self.project_imports = _project_imports(tree)
        self.ops: list[Op] = []
        self.active: list[str] = []  # helper functions being read (no recursion)

    def read(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[Op]:
        self._body(node, {}, {}, conditional=False)
        return self.ops

    def _body(
        self,
        function: ast.FunctionDef | ast.AsyncFunctionDef,
        batches: dict[str, tuple[str | None, str | None]],
        outer_locals: dict[str, ast.FunctionDef | ast.AsyncFunctionDef],
        *,
        conditional: bool,
        autocommit: bool = False,
    ) -> None:
        nested = {
            n.name: n
            for n in ast.walk(function)
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n is not function
        }
        local_functions = {**outer_locals, **nested}
        called = {
            n.func.id
            for n in ast.walk(function)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
        }
        assignments = {**self.module_assignments, **_assignments(function)}
        walker = _StatementWalker(self, batches, local_functions, called, assignments)
        walker.conditional, walker.autocommit = conditional, autocommit
        for statement in function.body:
            walker.visit(statement)

    def inline(
        self,
        name: str,
        local_functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef],
        batches: dict[str, tuple[str | None, str | None]],
        conditional: bool,
        autocommit: bool = False,
    ) -> bool:
        """Read a called helper (nested or module-level) where it is called, in the
        caller's circumstances (under an ``if``, inside an autocommit block)."""
        target = local_functions.get(name) or self.module_functions.get(name)
        if target is None or name in self.active or name in ("upgrade", "downgrade"):
            return False
        self.active.append(name)
        try:
            self._body(
                target,
                dict(batches),
                local_functions,
                conditional=conditional,
                autocommit=autocommit,
            )
        finally:
            self.active.pop()
        return True


class _StatementWalker(ast.NodeVisitor):
    def __init__(
        self,
        reader: _Reader,
        batches: dict[str, tuple[str | None, str | None]],
        local_functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef],
        called: set[str],
        assignments: dict[str, list[ast.expr]],
    ) -> None:
        self.reader = reader
        self.batches = batches
        self.local_functions = local_functions
        self.called = called
        self.assignments = assignments
        self.conditional = False
        self.autocommit = False

    # -- structure ---------------------------------------------------------------------------

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        outer, outer_autocommit = dict(self.batches), self.autocommit
        for item in node.items:
            self.visit(item.context_expr)
            target = self._batch_table(item.context_expr)
            if target is not None and isinstance(item.optional_vars, ast.Name):
                self.batches[item.optional_vars.id] = target
            call = item.context_expr
            if isinstance(call, ast.Call) and _callee(call) == "autocommit_block":
                self.autocommit = True
        for statement in node.body:
            self.visit(statement)
        self.batches, self.autocommit = outer, outer_autocommit

    visit_AsyncWith = visit_With

    def _branch(self, node: ast.AST) -> None:
        outer, self.conditional = self.conditional, True
        self.generic_visit(node)
        self.conditional = outer

    visit_If = visit_For = visit_AsyncFor = visit_While = visit_Try = _branch
    visit_IfExp = _branch

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        """A nested function is read where it is called; one never called by name (passed
        as a callback) where it is defined."""
        if node.name not in self.called:
            self.reader.inline(node.name, self.local_functions, self.batches, True, self.autocommit)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        """A lambda's body runs only if something calls it."""

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        """A class in a revision (an ORM model for a data migration) defines, it does not run."""

    # -- calls -------------------------------------------------------------------------------

    def visit_Expr(self, node: ast.Expr) -> None:
        """A helper of the project's (or a package's) called for its effect, as in
        ``copy_column(op, "books", "title", "name")``: what it does cannot be seen here."""
        call = node.value
        if isinstance(call, ast.Call) and self._is_imported_helper(call.func):
            self._add(Op("call", call.lineno, data=_call_mentions(call)))
        self.generic_visit(node)

    def _is_imported_helper(self, func: ast.expr) -> bool:
        imported = self.reader.project_imports
        if isinstance(func, ast.Name):
            return func.id in imported
        return (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id in imported
        )

    def visit_Call(self, node: ast.Call) -> None:
        self.generic_visit(node)
        func = node.func
        if isinstance(func, ast.Name):
            if func.id in _SESSION_FACTORIES:
                self._add(Op("orm_session", node.lineno, data=Data(None)))
            elif func.id in self.called:
                self.reader.inline(
                    func.id, self.local_functions, self.batches, self.conditional, self.autocommit
                )
            return
        if not isinstance(func, ast.Attribute):
            return
        method = func.attr
        receiver = func.value
        if isinstance(receiver, ast.Name) and receiver.id in self.batches:
            table, schema = self.batches[receiver.id]
            if method not in _NOT_BATCH:
                self._operation(method, node, table, schema, batch=True)
            return
        if self._is_op(receiver):
            self._operation(method, node, None, None, batch=False)
            return
        if method in _SESSION_FACTORIES:
            self._add(Op("orm_session", node.lineno, data=Data(None)))
        elif method in _STATEMENT_METHODS:
            argument = _argument(node, 0, "statement")
            self._add(Op("statement", node.lineno, data=self._data(argument)))

    def _is_op(self, node: ast.expr) -> bool:
        if isinstance(node, ast.Name):
            return node.id in self.reader.op_names
        return (
            isinstance(node, ast.Attribute)
            and node.attr == "op"
            and isinstance(node.value, ast.Name)
            and node.value.id == "alembic"
        )

    def _batch_table(self, node: ast.expr) -> tuple[str | None, str | None] | None:
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "batch_alter_table"
            and self._is_op(node.func.value)
        ):
            return _string(_argument(node, 0, "table_name")), _schema(node)
        return None

    def _add(self, op: Op) -> None:
        self.reader.ops.append(
            replace(
                op,
                function=self.reader.function,
                conditional=self.conditional,
                autocommit=self.autocommit,
            )
        )

    def _operation(
        self, method: str, node: ast.Call, table: str | None, schema: str | None, *, batch: bool
    ) -> None:
        parameters = _PARAMETERS.get(method)
        if parameters is None:
            return
        if batch:
            parameters = tuple(p for p in parameters if p not in _TABLE_PARAMETERS)

        def arg(parameter: str) -> ast.expr | None:
            position = parameters.index(parameter) if parameter in parameters else None
            return _argument(node, position, parameter)

        if not batch:
            table = _string(next((arg(p) for p in _TABLE_PARAMETERS if p in parameters), None))
            schema = _schema(node, "source_schema" if method == "create_foreign_key" else "schema")
        op = Op(
            method,
            node.lineno,
            table=table,
            schema=schema,
            batch_table=table if batch else None,
            options=tuple((k.arg, _literal(k.value)) for k in node.keywords if k.arg),
        )
        self._add(self._details(method, node, op, arg, batch))

    def _details(self, method: str, node: ast.Call, op: Op, arg: Any, batch: bool) -> Op:
        if method == "add_column":
            column_node = arg("column")
            column = _column(column_node)
            constraints = (
                _column_constraints(column_node, column.name)
                if column and isinstance(column_node, ast.Call)
                else ()
            )
            return replace(
                op, columns=(column,) if column else None, constraints=tuple(constraints)
            )
        if method in ("drop_column", "alter_column"):
            return replace(
                op,
                column=_string(arg("column_name")),
                new_name=_string(_keyword(node, "new_column_name")),
                type=_type_name(_keyword(node, "type_")),
            )
        if method == "create_table":
            return _create_table(op, node)
        if method == "rename_table":
            return replace(op, new_name=_string(arg("new_table_name")))
        if method in ("drop_index", "drop_constraint"):
            return replace(
                op, name=_name(arg("index_name" if method == "drop_index" else "constraint_name"))
            )
        if method == "create_index":
            name = _name(arg("index_name"))
            columns = _columns(arg("columns"))
            constraint = Constraint("ix", name, columns, node.lineno)
            return replace(op, name=name, constraints=(constraint,))
        if method in ("create_unique_constraint", "create_primary_key", "create_check_constraint"):
            kind = _CREATED_KINDS[method]
            name = _name(arg("constraint_name"))
            columns = None if kind == "ck" else _columns(arg("columns"))
            return replace(
                op, name=name, constraints=(Constraint(kind, name, columns, node.lineno),)
            )
        if method == "create_foreign_key":
            name = _name(arg("constraint_name"))
            constraint = Constraint(
                "fk",
                name,
                _columns(arg("local_cols")),
                node.lineno,
                referred_table=_string(arg("referent_table")),
                referred_columns=_columns(arg("remote_cols")),
            )
            return replace(op, name=name, constraints=(constraint,))
        if method == "execute":
            return replace(op, table=None, schema=None, data=self._data(arg("sqltext")))
        if method == "bulk_insert":
            return replace(op, table=_bulk_table(arg("table")), data=self._data(arg("table")))
        return op

    def _data(self, node: ast.expr | None) -> Data:
        """What a statement mentions: its literals' identifiers and the names it uses, with
        variables followed to what was assigned to them. A statement is readable when that
        leads to text (SQL, table or column names) or to SQLAlchemy's statement constructs;
        SQL read from a file or built by a function is opaque (it may touch anything)."""
        if node is None:
            return Data(None)
        words: set[str] = set()
        texts: list[str] = []
        pending: list[ast.AST] = [node]
        seen: set[str] = set()
        readable = from_file = False
        while pending:
            current = pending.pop()
            for child in ast.walk(current):
                if isinstance(child, ast.Constant) and isinstance(child.value, str):
                    texts.append(child.value)
                    words.update(w.lower() for w in _IDENTIFIER.findall(child.value))
                    readable |= bool(child.value.strip())
                elif isinstance(child, ast.Attribute):
                    words.add(child.attr.lower())
                elif isinstance(child, ast.Name):
                    words.add(child.id.lower())
                    if child.id not in seen:
                        seen.add(child.id)
                        pending.extend(self.assignments.get(child.id, ()))
                elif isinstance(child, ast.Call):
                    readable |= _callee(child) in _STATEMENT_CONSTRUCTS
                    from_file |= _callee(child) in _FILE_READS
        if from_file or not readable:
            return Data(None)
        sql = "\n".join(texts) or None
        emptied = emptied_tables(sql) if sql else frozenset()
        return Data(frozenset(words), emptied, sql)


def _project_imports(tree: ast.Module) -> set[str]:
    """Names bound to the project's own code or a third-party helper (not Alembic,
    SQLAlchemy or the standard library): ``from app.migration_utils import copy_column``.
    What such a helper does with the names it is given cannot be seen from the revision."""
    import sys

    known = {"alembic", "sqlalchemy", "__future__", *sys.stdlib_module_names}
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] not in known:
                names.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):  # a relative import: the project's own
            names.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] not in known:
                    names.add(alias.asname or alias.name.split(".")[0])
    return names


def _call_mentions(node: ast.Call) -> Data:
    """A helper call as data evidence: the literal names it is given (``"books"``,
    ``"title"``) are what it may read or write; given none, it may touch anything."""
    words = {
        w.lower()
        for child in ast.walk(node)
        if isinstance(child, ast.Constant) and isinstance(child.value, str)
        for w in _IDENTIFIER.findall(child.value)
    }
    return Data(frozenset(words) if words else None)


def _op_names(tree: ast.Module) -> set[str]:
    """Names the module binds to ``alembic.op`` (``op`` unless imported under another)."""
    names = {"op"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "alembic":
            names.update(a.asname for a in node.names if a.name == "op" and a.asname)
    return names


def _assignments(scope: ast.AST) -> dict[str, list[ast.expr]]:
    """Name -> the expressions assigned to it anywhere in a function (or, for the module,
    at its top level: a SQL constant shared by upgrade and downgrade)."""
    found: dict[str, list[ast.expr]] = {}
    nodes = scope.body if isinstance(scope, ast.Module) else ast.walk(scope)
    for node in nodes:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found.setdefault(target.id, []).append(node.value)
        elif isinstance(node, ast.AnnAssign | ast.AugAssign) and node.value is not None:
            if isinstance(node.target, ast.Name):
                found.setdefault(node.target.id, []).append(node.value)
        elif isinstance(node, ast.For | ast.AsyncFor) and isinstance(node.target, ast.Name):
            found.setdefault(node.target.id, []).append(node.iter)
    return found


_EMPTIES = re.compile(
    r"\b(?:TRUNCATE\s+(?:TABLE\s+)?(?:ONLY\s+)?|DELETE\s+FROM\s+(?:ONLY\s+)?)"
    r"((?:\"?[A-Za-z_][\w$]*\"?\.)?\"?[A-Za-z_][\w$]*\"?)([^;]*)",
    re.IGNORECASE,
)


def emptied_tables(sql: str) -> frozenset[str]:
    """Tables a SQL text empties on purpose: ``TRUNCATE t``, ``DELETE FROM t`` without WHERE."""
    found = set()
    for match in _EMPTIES.finditer(sql):
        rest = match.group(2)
        if match.group(0).upper().startswith("DELETE") and re.search(r"\bWHERE\b", rest, re.I):
            continue
        found.add(match.group(1).replace('"', "").split(".")[-1].lower())
    return frozenset(found)


def _create_table(op: Op, node: ast.Call) -> Op:
    items = node.args[1:]
    hidden = any(isinstance(a, ast.Starred) for a in items)
    columns: list[Column] = []
    constraints: list[Constraint] = []
    primary: list[tuple[str, int]] = []
    explicit_primary_key = False
    for item in items:
        if not isinstance(item, ast.Call):
            continue
        constructor = _callee(item)
        if constructor == "Column":
            column = _column(item)
            if column is None:
                hidden = True
                continue
            columns.append(column)
            if column.primary_key:
                primary.append((column.name, item.lineno))
            constraints.extend(_column_constraints(item, column.name))
        elif constructor in _CONSTRAINT_CLASSES:
            kind = _CONSTRAINT_CLASSES[constructor]
            explicit_primary_key |= kind == "pk"
            constraints.append(_table_constraint(kind, item))
    if primary and not explicit_primary_key:
        names = tuple(name for name, _ in primary)
        constraints.append(Constraint("pk", UNNAMED, names, primary[0][1]))
    return replace(op, columns=None if hidden else tuple(columns), constraints=tuple(constraints))


def _table_constraint(kind: ConstraintKind, item: ast.Call) -> Constraint:
    name = _name(_keyword(item, "name"))
    if kind in ("uq", "pk"):
        return Constraint(kind, name, _columns(ast.Tuple(elts=list(item.args))), item.lineno)
    if kind == "ck":
        return Constraint(kind, name, None, item.lineno)
    if kind == "fk":
        referred_table, referred_columns = _referred(
            _columns(_argument(item, 1, "refcolumns"), dotted=True)
        )
        return Constraint(
            kind,
            name,
            _columns(_argument(item, 0, "columns")),
            item.lineno,
            referred_table=referred_table,
            referred_columns=referred_columns,
        )
    name = _name(_argument(item, 0, "name"))
    return Constraint(kind, name, _columns(ast.Tuple(elts=list(item.args[1:]))), item.lineno)


def _column_constraints(column: ast.Call, name: str) -> list[Constraint]:
    """The constraints a ``Column(...)`` declares itself: ``unique=True``, ``ForeignKey``."""
    found: list[Constraint] = []
    if _constant_true(_keyword(column, "unique")) and not _constant_true(_keyword(column, "index")):
        found.append(Constraint("uq", UNNAMED, (name,), column.lineno))
    for argument in column.args[1:]:
        if isinstance(argument, ast.Call) and _callee(argument) == "ForeignKey":
            referred_table, referred_columns = _referred(
                _columns(ast.Tuple(elts=argument.args[:1]), dotted=True)
            )
            found.append(
                Constraint(
                    "fk",
                    _name(_keyword(argument, "name")),
                    (name,),
                    argument.lineno,
                    referred_table=referred_table,
                    referred_columns=referred_columns,
                )
            )
    return found


def _column(node: ast.expr | None) -> Column | None:
    """``sa.Column("name", sa.String(50), nullable=False, ...)``; None if not a named Column."""
    if not isinstance(node, ast.Call) or _callee(node) != "Column":
        return None
    if any(isinstance(a, ast.Starred) for a in node.args):
        return None
    keywords = {kw.arg: kw.value for kw in node.keywords if kw.arg}
    positional = list(node.args)
    name_node: ast.expr | None
    if "name" in keywords:
        name_node, rest = keywords["name"], positional
    else:
        name_node, rest = (positional[0] if positional else None), positional[1:]
    name = _string(name_node)
    if name is None:
        return None
    type_node = keywords.get("type_", rest[0] if rest else None)
    type_name = _type_name(type_node)
    if type_name in _NOT_TYPES:
        type_name = None
    nullable_node = keywords.get("nullable")
    nullable = (
        nullable_node.value
        if isinstance(nullable_node, ast.Constant) and isinstance(nullable_node.value, bool)
        else None
    )
    default_node = keywords.get("server_default")
    has_default = default_node is not None and not (
        isinstance(default_node, ast.Constant) and default_node.value is None
    )
    default = None
    if isinstance(default_node, ast.Call) and default_node.args:
        default = _string(default_node.args[0])  # sa.text("0")
    elif default_node is not None:
        default = _string(default_node)
    return Column(
        name=name,
        type=type_name,
        nullable=nullable,
        server_default=default,
        has_server_default=has_default,
        primary_key=_constant_true(keywords.get("primary_key")),
        line=node.lineno,
    )


def _type_name(node: ast.expr | None) -> str | None:
    """``sa.String(50)`` -> ``String``; ``sa.JSON().with_variant(...)`` -> ``JSON``."""
    while isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("with_variant", "evaluates_none"):
            node = func.value
        else:
            node = func
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def _bulk_table(node: ast.expr | None) -> str | None:
    """``op.bulk_insert(sa.table("books", ...), rows)`` -> "books"."""
    if isinstance(node, ast.Call) and _callee(node) in ("table", "Table"):
        return _string(_argument(node, 0, "name"))
    return None


def _argument(node: ast.Call, position: int | None, keyword: str) -> ast.expr | None:
    """A call's argument by keyword, else by position; None when absent or when a ``*args``
    before it hides which argument lands there."""
    for kw in node.keywords:
        if kw.arg == keyword:
            return kw.value
    if position is None or len(node.args) <= position:
        return None
    if any(isinstance(a, ast.Starred) for a in node.args[: position + 1]):
        return None
    return node.args[position]


def _literal(node: ast.expr) -> object:
    """A keyword's value when it is a literal (``True``, ``"x"``, ``None``), else
    :data:`NOT_LITERAL`."""
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return NOT_LITERAL


def _keyword(node: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in node.keywords if k.arg == name), None)


def _string(node: ast.expr | None) -> str | None:
    """A literal string, also wrapped as ``op.f("...")`` or ``conv("...")``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Call) and len(node.args) == 1 and _callee(node) in _FINAL_NAME_CALLS:
        return _string(node.args[0])
    return None


def _name(node: ast.expr | None) -> Name:
    """A name as written: a literal, ``op.f("x")``/``conv("x")`` (final), None/absent, or an
    expression (unknown)."""
    if node is None or (isinstance(node, ast.Constant) and node.value is None):
        return UNNAMED
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return Name(node.value, line=node.lineno)
    if (
        isinstance(node, ast.Call)
        and _callee(node) in _FINAL_NAME_CALLS
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return Name(node.args[0].value, final=True, line=node.lineno)
    return Name(None, known=False, line=getattr(node, "lineno", None))


def _schema(node: ast.Call, keyword: str = "schema") -> str | None:
    """The schema keyword: its value, or its source text when it is not a literal."""
    value = _keyword(node, keyword)
    if value is None:
        return None
    if isinstance(value, ast.Constant):
        return None if value.value is None else str(value.value)
    return ast.unparse(value)


def _callee(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _constant_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _columns(node: ast.expr | None, *, dotted: bool = False) -> tuple[str, ...] | None:
    """Column names from a list of string literals; None when any entry is an expression."""
    if not isinstance(node, ast.List | ast.Tuple):
        return None
    names = []
    for element in node.elts:
        value = _string(element)
        if value is None:
            return None
        if not all(_IDENTIFIER.fullmatch(p) for p in (value.split(".") if dotted else [value])):
            return None
        names.append(value)
    return tuple(names)


def _referred(targets: tuple[str, ...] | None) -> tuple[str | None, tuple[str, ...] | None]:
    """``("authors.id",)`` -> ("authors", ("id",))."""
    if not targets:
        return None, None
    split = [t.split(".") for t in targets]
    if any(len(s) < 2 for s in split):
        return None, None
    return split[0][-2], tuple(s[-1] for s in split)


# --- runtime: the operation objects an upgrade invoked -------------------------------------------


def observe(operation: Any, migration_context: Any, line: int | None) -> list[Op]:
    """The records of an operation about to run, as the runner's recorder keeps them.

    A ``drop_column``/``drop_table`` carries the columns the database holds at that moment
    (their real types: the revision's own text does not say what it drops). Reading the
    catalog costs a query per drop, nothing for any other operation.
    """
    from alembic.operations import ops as alembic_ops

    records = from_operations([(operation, line)])
    if not isinstance(operation, alembic_ops.DropColumnOp | alembic_ops.DropTableOp):
        return records
    connection = getattr(migration_context, "connection", None)
    if connection is None:
        return records
    try:
        from sqlalchemy import inspect

        found = inspect(connection).get_columns(operation.table_name, schema=operation.schema)
    except Exception:  # a table that is not there: the operation itself will say so
        return records
    columns = tuple(
        Column(c["name"], _runtime_type(c["type"]), c.get("nullable"))
        for c in found
        if isinstance(operation, alembic_ops.DropTableOp) or c["name"] == operation.column_name
    )
    return [replace(record, columns=columns or record.columns) for record in records]


def from_operations(
    recorded: Iterable[tuple[Any, int | None]], function: Function = "upgrade"
) -> list[Op]:
    """Records for Alembic operation objects (and statements run on the connection), each
    with its line in the revision file."""
    return list(_records(recorded, function))


def _records(recorded: Iterable[tuple[Any, int | None]], function: Function) -> Iterator[Op]:
    from alembic.operations import ops as alembic_ops
    from sqlalchemy.sql.base import Executable

    for operation, line in recorded:
        if isinstance(operation, alembic_ops.ModifyTableOps | alembic_ops.UpgradeOps):
            yield from _records(((inner, line) for inner in operation.ops), function)
        elif isinstance(operation, alembic_ops.DropColumnOp):
            reverse: Any = operation._reverse  # AddColumnOp here, CreateTableOp below
            columns: tuple[Column, ...] | None = (
                (Column(operation.column_name, _runtime_type(reverse.column.type)),)
                if reverse is not None
                else None
            )
            yield Op(
                "drop_column",
                line,
                operation.table_name,
                operation.schema,
                function,
                columns=columns,
                column=operation.column_name,
            )
        elif isinstance(operation, alembic_ops.AddColumnOp):
            yield Op(
                "add_column",
                line,
                operation.table_name,
                operation.schema,
                function,
                columns=(_runtime_column(operation.column),),
            )
        elif isinstance(operation, alembic_ops.DropTableOp):
            reverse = operation._reverse
            columns = _runtime_columns(reverse.columns) if reverse is not None else None
            yield Op("drop_table", line, operation.table_name, operation.schema, function, columns)
        elif isinstance(operation, alembic_ops.CreateTableOp):
            columns = _runtime_columns(operation.columns)
            yield Op(
                "create_table", line, operation.table_name, operation.schema, function, columns
            )
        elif isinstance(operation, alembic_ops.AlterColumnOp):
            yield Op(
                "alter_column",
                line,
                operation.table_name,
                operation.schema,
                function,
                column=operation.column_name,
                new_name=operation.modify_name,
                type=_runtime_type(operation.modify_type) if operation.modify_type else None,
                options=_altered(operation),
            )
        elif isinstance(operation, alembic_ops.RenameTableOp):
            yield Op(
                "rename_table",
                line,
                operation.table_name,
                operation.schema,
                function,
                new_name=operation.new_table_name,
            )
        elif isinstance(operation, alembic_ops.ExecuteSQLOp):
            yield Op("execute", line, function=function, data=_runtime_data(operation.sqltext))
        elif isinstance(operation, alembic_ops.BulkInsertOp):
            table = getattr(operation.table, "name", None)
            yield Op("bulk_insert", line, table, function=function, data=_runtime_data(table))
        elif isinstance(operation, str | Executable):
            yield Op("statement", line, function=function, data=_runtime_data(operation))


def _altered(operation: Any) -> tuple[tuple[str, object], ...]:
    """The nullability and server default an ``alter_column`` changes, as the static reader
    keeps its keywords (Alembic marks an unchanged default with False, a removed one with
    None)."""
    options: list[tuple[str, object]] = []
    if operation.modify_nullable is not None:
        options.append(("nullable", bool(operation.modify_nullable)))
    default = operation.modify_server_default
    if default is not False:
        options.append(("server_default", None if default is None else str(default)))
    return tuple(options)


def _runtime_data(statement: Any) -> Data:
    if statement is None:
        return Data(None)
    try:
        sql = str(statement)
    except Exception:
        return Data(None)
    return Data(frozenset(w.lower() for w in _IDENTIFIER.findall(sql)), emptied_tables(sql), sql)


def _runtime_columns(items: Iterable[object]) -> tuple[Column, ...]:
    from sqlalchemy import Column as SAColumn

    return tuple(_runtime_column(item) for item in items if isinstance(item, SAColumn))


def _runtime_column(column: Any) -> Column:
    return Column(
        column.name,
        _runtime_type(column.type),
        column.nullable,
        has_server_default=column.server_default is not None,
        primary_key=bool(column.primary_key),
    )


def _runtime_type(type_: Any) -> str | None:
    """The SQLAlchemy class name of a type instance (a TypeDecorator's implementation, a
    project's subclass of ``String`` as ``String``); None for ``NullType``."""
    if type_ is None:
        return None
    impl = getattr(type_, "impl_instance", None)  # TypeDecorator
    if impl is not None and impl is not type_:
        type_ = impl
    for cls in type(type_).__mro__:
        if cls.__module__.startswith("sqlalchemy"):
            return None if cls.__name__ == "NullType" else cls.__name__
    return type(type_).__name__
