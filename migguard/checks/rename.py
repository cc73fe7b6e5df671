"""``rename-as-drop-add``: a rename written as drop + add loses the data.

Alembic's autogenerate cannot see renames: a renamed column shows up as ``drop_column`` of the
old name and ``add_column`` of the new one, and a renamed table as ``drop_table`` +
``create_table``. Committed as is, the upgrade empties the column. The same matcher
(:func:`find_renames`) serves three readers:

* :func:`from_source`: the revision file's ``upgrade()`` read with ``ast`` (static mode);
* :func:`from_ops`: the operation objects the upgrade actually invoked (loops and helper
  functions included), recorded by the runner;
* :func:`drift_renames`: autogenerate's proposed ``UpgradeOps`` when models drift.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from migguard.findings import Finding, Severity
from migguard.rules import Needs, Phase, Rule, Scope, produces, register

if TYPE_CHECKING:
    from migguard.checks import RunContext, StaticContext
    from migguard.project import RevisionFile

RENAME_AS_DROP_ADD = register(
    Rule(
        id="rename-as-drop-add",
        family="rename",
        scope=Scope.REVISION,
        needs=Needs.STATIC,
        summary="a revision drops a column or table and adds one of the same shape",
        severity=Severity.ERROR,
        what=(
            "Checks each revision's upgrade for a column dropped and another added to the "
            "same table with a compatible type, or a table dropped and another created with "
            "the same column types. The names differ, so this is almost always a rename that "
            "autogenerate wrote as drop + add."
        ),
        why=(
            "`drop_column`/`drop_table` deletes the data; the new column or table starts "
            "empty. On a development database nobody notices; in production the data is gone."
        ),
        example=(
            "def upgrade():\n"
            '    op.add_column("books", sa.Column("name", sa.String(200)))\n'
            '    op.drop_column("books", "title")'
        ),
        use_instead=(
            'def upgrade():\n    op.alter_column("books", "title", new_column_name="name")'
        ),
    )
)

ChangeKind = Literal["drop_column", "add_column", "drop_table", "create_table", "data"]

# Type names (SQLAlchemy generic and dialect classes) grouped by the data they can hold. Two
# columns of one family could hold the same values, so dropping one and adding the other
# looks like a rename; names not listed only match themselves.
_FAMILIES: dict[str, str] = {
    "string": "String VARCHAR NVARCHAR CHAR NCHAR Text TEXT Unicode UnicodeText CLOB CITEXT",
    "integer": "Integer INTEGER INT BigInteger BIGINT SmallInteger SMALLINT",
    "numeric": "Numeric NUMERIC DECIMAL Float FLOAT REAL Double DOUBLE DOUBLE_PRECISION",
    "boolean": "Boolean BOOLEAN",
    "datetime": "DateTime DATETIME TIMESTAMP",
    "date": "Date DATE",
    "time": "Time TIME",
    "interval": "Interval INTERVAL",
    "binary": "LargeBinary BYTEA BLOB BINARY VARBINARY _Binary",
    "json": "JSON JSONB",
    "uuid": "Uuid UUID",
    "enum": "Enum ENUM",
    "array": "ARRAY",
}
_FAMILY_OF = {name: family for family, names in _FAMILIES.items() for name in names.split()}
# Positional Column() arguments that are not a type (the type was left out).
_NOT_TYPES = frozenset(
    {"ForeignKey", "Sequence", "Identity", "Computed", "FetchedValue", "DefaultClause"}
)
_DATA_METHODS = frozenset({"execute", "bulk_insert", "exec_driver_sql", "executemany"})


@dataclass(frozen=True)
class ColumnShape:
    """A column as far as a rename is concerned: its name and type family (None: unknown)."""

    name: str
    type: str | None = None


@dataclass(frozen=True)
class Change:
    """One operation of an upgrade, in the order it runs.

    ``columns`` is None for a dropped table whose columns are not known; ``data`` changes
    (``op.execute``, ``bulk_insert``) only matter for their position: data copied from the
    old column into the new one before the drop is a deliberate migration, not a loss.
    """

    kind: ChangeKind
    table: str = ""
    schema: str | None = None
    column: ColumnShape | None = None
    columns: tuple[ColumnShape, ...] | None = None
    line: int | None = None


@dataclass(frozen=True)
class Rename:
    """A drop (``dropped``) and an add (``added``) that together look like a rename."""

    dropped: Change
    added: Change

    @property
    def is_table(self) -> bool:
        return self.dropped.kind == "drop_table"


def type_family(type_name: str | None) -> str | None:
    """The family of a type class name (``VARCHAR`` -> ``string``); None when unknown."""
    if not type_name or type_name in _NOT_TYPES or type_name == "NullType":
        return None
    return _FAMILY_OF.get(type_name, type_name.lower())


def _compatible(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a == b


def _same_table_shape(
    dropped: tuple[ColumnShape, ...] | None, created: tuple[ColumnShape, ...] | None
) -> bool:
    """Same number of columns and the same types in any order; unknown types match any."""
    if dropped is None or created is None:
        return True
    if len(dropped) != len(created):
        return False
    known_a = Counter(c.type for c in dropped if c.type is not None)
    known_b = Counter(c.type for c in created if c.type is not None)
    unknown_a = len(dropped) - sum(known_a.values())
    unknown_b = len(created) - sum(known_b.values())
    return (
        sum((known_a - known_b).values()) <= unknown_b
        and sum((known_b - known_a).values()) <= unknown_a
    )


def _exact(dropped: Change, added: Change) -> bool:
    """Both shapes fully known and equal: preferred when several adds could match a drop."""
    if dropped.kind == "drop_column":
        assert dropped.column is not None and added.column is not None
        return dropped.column.type is not None and dropped.column.type == added.column.type
    if dropped.columns is None or added.columns is None:
        return False
    types_a = [c.type for c in dropped.columns]
    types_b = [c.type for c in added.columns]
    return None not in types_a and None not in types_b and Counter(types_a) == Counter(types_b)


def find_renames(changes: Sequence[Change]) -> list[Rename]:
    """Pair each drop with an add of compatible shape on the same table (or schema).

    Not a rename: the same name dropped and added (a type change), an add whose data was
    copied in by an ``execute``/``bulk_insert`` between it and the drop, and adds and drops
    on different tables or schemas. Each add is used for at most one drop.
    """
    dropped_names = {_key(c) for c in changes if c.kind in ("drop_column", "drop_table")}
    added_names = {_key(c) for c in changes if c.kind in ("add_column", "create_table")}
    used: set[int] = set()
    renames: list[Rename] = []
    for i, drop in enumerate(changes):
        if drop.kind not in ("drop_column", "drop_table") or _key(drop) in added_names:
            continue
        wanted = "add_column" if drop.kind == "drop_column" else "create_table"
        candidates = []
        for j, add in enumerate(changes):
            if (
                j in used
                or add.kind != wanted
                or not _same_place(drop, add)
                or _key(add) in dropped_names
                or (j < i and any(c.kind == "data" for c in changes[j:i]))
            ):
                continue
            if wanted == "add_column":
                assert drop.column is not None and add.column is not None
                fits = _compatible(drop.column.type, add.column.type)
            else:
                fits = _same_table_shape(drop.columns, add.columns)
            if fits:
                candidates.append((not _exact(drop, add), j))
        if candidates:
            _, j = min(candidates)
            used.add(j)
            renames.append(Rename(dropped=drop, added=changes[j]))
    return renames


def _same_place(drop: Change, add: Change) -> bool:
    """Columns: the same table. Tables: the same schema (a rename does not move schemas)."""
    if drop.kind == "drop_column":
        return (drop.schema, drop.table) == (add.schema, add.table)
    return drop.schema == add.schema


def _key(change: Change) -> tuple[str | None, str, str | None]:
    """What a change is about: the column (schema, table, name) or the table (schema, name)."""
    if change.kind in ("drop_column", "add_column"):
        assert change.column is not None
        return (change.schema, change.table, change.column.name)
    return (change.schema, change.table, None)


# --- findings and sentences -----------------------------------------------------------------


def _qualified(schema: str | None, table: str) -> str:
    return f"{schema}.{table}" if schema else table


def _finding(rename: Rename, revision: str | None, relpath: str | None) -> Finding:
    drop, add = rename.dropped, rename.added
    schema_kw = f", schema={drop.schema!r}" if drop.schema else ""
    if rename.is_table:
        old, new = _qualified(drop.schema, drop.table), _qualified(add.schema, add.table)
        message = (
            f"table {old} dropped and {new} created with the same column types in the same "
            f"revision: the data in {old} is lost"
        )
        hint = f"op.rename_table({drop.table!r}, {add.table!r}{schema_kw})"
    else:
        assert drop.column is not None and add.column is not None
        table = _qualified(drop.schema, drop.table)
        old, new = f"{table}.{drop.column.name}", f"{table}.{add.column.name}"
        message = (
            f"column {old} dropped and {new} added in the same revision: the data in {old} is lost"
        )
        hint = (
            f"op.alter_column({drop.table!r}, {drop.column.name!r}, "
            f"new_column_name={add.column.name!r}{schema_kw})"
        )
    return Finding(
        rule=RENAME_AS_DROP_ADD.id,
        message=message,
        path=relpath,
        line=drop.line,
        revision=revision,
        hint=hint.replace("'", '"'),
    )


def drift_renames(upgrade_ops: Any) -> list[str]:
    """Sentences for the ``drift`` message: autogenerate's drops + adds that look like renames.

    ``upgrade_ops`` is ``produce_migrations(...).upgrade_ops`` (or any ``OpContainer``).
    """
    sentences = []
    for rename in find_renames(list(_changes_from_ops((op, None) for op in upgrade_ops.ops))):
        drop, add = rename.dropped, rename.added
        if rename.is_table:
            sentences.append(
                f"remove_table {_qualified(drop.schema, drop.table)} + add_table "
                f"{_qualified(add.schema, add.table)} looks like a rename; autogenerate cannot "
                "see renames, use op.rename_table(...)"
            )
        else:
            assert drop.column is not None and add.column is not None
            sentences.append(
                f"{_qualified(drop.schema, drop.table)}: remove_column {drop.column.name} + "
                f"add_column {add.column.name} looks like a rename; autogenerate cannot see "
                "renames, use op.alter_column(..., new_column_name=...)"
            )
    return sentences


# --- runtime: Alembic operation objects -----------------------------------------------------


@produces(Phase.RUN, RENAME_AS_DROP_ADD)
def after_run(run: RunContext) -> list[Finding]:
    """Renames among the operations each upgrade invoked (the recorded ops)."""
    findings: list[Finding] = []
    for revision, recorded in run.result.recorded_ops.items():
        findings += from_ops(revision, run.result.paths.get(revision, ""), recorded)
    return findings


def from_ops(revision: str, relpath: str, ops: list[tuple[object, int | None]]) -> list[Finding]:
    """Renames among the operations one upgrade invoked, each with its line in the revision.

    Batch operations (``batch_op.drop_column``) arrive as the same op classes with the
    table name filled in, so they need no special case. Besides Alembic ops, a statement the
    revision executed on the connection itself (a SQLAlchemy ``Executable`` or a SQL string,
    e.g. from ``op.get_bind().execute(...)``) may be passed: like ``op.execute`` it counts as a
    data copy between an add and a drop.
    """
    changes = list(_changes_from_ops(ops))
    return [_finding(rename, revision, relpath) for rename in find_renames(changes)]


def _changes_from_ops(ops: Iterable[tuple[object, int | None]]) -> Iterator[Change]:
    from alembic.operations import ops as alembic_ops
    from sqlalchemy.sql.base import Executable

    for op, line in ops:
        if isinstance(op, alembic_ops.ModifyTableOps | alembic_ops.UpgradeOps):
            yield from _changes_from_ops((inner, line) for inner in op.ops)
        elif isinstance(op, alembic_ops.DropColumnOp):
            reverse = op._reverse
            type_ = reverse.column.type if reverse is not None else None
            column = ColumnShape(op.column_name, _runtime_family(type_))
            yield Change("drop_column", op.table_name, op.schema, column=column, line=line)
        elif isinstance(op, alembic_ops.AddColumnOp):
            column = ColumnShape(op.column.name, _runtime_family(op.column.type))
            yield Change("add_column", op.table_name, op.schema, column=column, line=line)
        elif isinstance(op, alembic_ops.DropTableOp):
            columns = _runtime_columns(op._reverse.columns) if op._reverse else None
            yield Change("drop_table", op.table_name, op.schema, columns=columns, line=line)
        elif isinstance(op, alembic_ops.CreateTableOp):
            columns = _runtime_columns(op.columns)
            yield Change("create_table", op.table_name, op.schema, columns=columns, line=line)
        elif isinstance(op, alembic_ops.ExecuteSQLOp | alembic_ops.BulkInsertOp | str | Executable):
            yield Change("data", line=line)


def _runtime_columns(items: Iterable[object]) -> tuple[ColumnShape, ...]:
    from sqlalchemy import Column

    return tuple(
        ColumnShape(item.name, _runtime_family(item.type))
        for item in items
        if isinstance(item, Column)
    )


def _runtime_family(type_: object) -> str | None:
    """The family of a SQLAlchemy type instance, by its class or the closest known base."""
    if type_ is None:
        return None
    impl = getattr(type_, "impl_instance", None)  # TypeDecorator
    if impl is not None and impl is not type_:
        type_ = impl
    for cls in type(type_).__mro__:
        if cls.__name__ in _FAMILY_OF:
            return _FAMILY_OF[cls.__name__]
    return type_family(type(type_).__name__)


# --- static: the revision file's source -----------------------------------------------------


@produces(Phase.STATIC_READING, RENAME_AS_DROP_ADD)
def static_reading(ctx: StaticContext) -> list[Finding]:
    """Without a run (``--static``), renames read from each revision's source."""
    findings: list[Finding] = []
    for revision_file in ctx.project.revision_files():
        findings += from_source(revision_file)
    return findings


def from_source(revision_file: RevisionFile) -> list[Finding]:
    """Renames visible in ``upgrade()``'s source: literal table/column names only.

    A dropped column's type is taken from the ``downgrade()`` that adds it back (and a
    dropped table's columns from the ``create_table`` that recreates it); without that
    evidence the type is unknown and any added column matches.
    """
    upgrade = revision_file.function("upgrade")
    if upgrade is None:
        return []
    op_names = _op_names(revision_file.tree)
    changes = _read_changes(upgrade, op_names)
    if not any(c.kind in ("drop_column", "drop_table") for c in changes):
        return []
    downgrade = revision_file.function("downgrade")
    if downgrade is not None:
        changes = _with_dropped_shapes(changes, _read_changes(downgrade, op_names))
    return [
        _finding(rename, revision_file.revision, revision_file.relpath)
        for rename in find_renames(changes)
    ]


def _with_dropped_shapes(changes: list[Change], downgrade: list[Change]) -> list[Change]:
    """Fill in what was dropped from what the downgrade puts back."""
    readded = {_key(c): c for c in downgrade if c.kind in ("add_column", "create_table")}
    result = []
    for change in changes:
        if change.kind == "drop_column" and change.column and change.column.type is None:
            back = readded.get(_key(change))
            if back is not None and back.column is not None:
                change = replace(change, column=back.column)
        elif change.kind == "drop_table" and change.columns is None:
            back = readded.get(_key(change))
            if back is not None:
                change = replace(change, columns=back.columns)
        result.append(change)
    return result


def _op_names(tree: ast.Module) -> set[str]:
    """Names the module binds to ``alembic.op`` (``op`` unless imported under another)."""
    names = {"op"}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "alembic":
            names.update(a.asname for a in node.names if a.name == "op" and a.asname)
    return names


def _read_changes(
    function: ast.FunctionDef | ast.AsyncFunctionDef, op_names: set[str]
) -> list[Change]:
    reader = _ChangeReader(op_names)
    for statement in function.body:
        reader.visit(statement)
    return reader.changes


class _ChangeReader(ast.NodeVisitor):
    """Collects the schema changes of one function body in source order."""

    def __init__(self, op_names: set[str]) -> None:
        self.op_names = op_names
        self.batch: dict[str, tuple[str, str | None]] = {}
        self.changes: list[Change] = []

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        outer = dict(self.batch)
        for item in node.items:
            self.visit(item.context_expr)
            target = self._batch_table(item.context_expr)
            if target is not None and isinstance(item.optional_vars, ast.Name):
                self.batch[item.optional_vars.id] = target
        for statement in node.body:
            self.visit(statement)
        self.batch = outer

    visit_AsyncWith = visit_With  # type: ignore[assignment]

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        """A nested function runs only if called: the runtime reader sees those."""

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]
    visit_Lambda = visit_FunctionDef  # type: ignore[assignment]
    visit_ClassDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Call(self, node: ast.Call) -> None:
        self.generic_visit(node)
        func = node.func
        if not isinstance(func, ast.Attribute):
            return
        if func.attr in _DATA_METHODS:
            self.changes.append(Change("data", line=node.lineno))
            return
        if not isinstance(func.value, ast.Name):
            return
        receiver = func.value.id
        if receiver in self.batch:
            table, schema = self.batch[receiver]
            change = self._batch_call(func.attr, node, table, schema)
        elif receiver in self.op_names:
            change = self._op_call(func.attr, node)
        else:
            return
        if change is not None:
            self.changes.append(change)

    def _batch_table(self, node: ast.expr) -> tuple[str, str | None] | None:
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "batch_alter_table"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in self.op_names
        ):
            table = _string(_argument(node, 0, "table_name"))
            if table is not None:
                return table, _schema(node)
        return None

    def _op_call(self, method: str, node: ast.Call) -> Change | None:
        table = _string(_argument(node, 0, "table_name"))
        if table is None:
            return None
        schema = _schema(node)
        if method == "drop_column":
            name = _string(_argument(node, 1, "column_name"))
            if name is not None:
                return Change("drop_column", table, schema, ColumnShape(name), line=node.lineno)
        elif method == "add_column":
            column = _column(_argument(node, 1, "column"))
            if column is not None:
                return Change("add_column", table, schema, column, line=node.lineno)
        elif method == "drop_table":
            return Change("drop_table", table, schema, line=node.lineno)
        elif method == "create_table":
            columns = _table_columns(node.args[1:])
            return Change("create_table", table, schema, columns=columns, line=node.lineno)
        return None

    def _batch_call(
        self, method: str, node: ast.Call, table: str, schema: str | None
    ) -> Change | None:
        if method == "drop_column":
            name = _string(_argument(node, 0, "column_name"))
            if name is not None:
                return Change("drop_column", table, schema, ColumnShape(name), line=node.lineno)
        elif method == "add_column":
            column = _column(_argument(node, 0, "column"))
            if column is not None:
                return Change("add_column", table, schema, column, line=node.lineno)
        return None


def _argument(node: ast.Call, position: int, keyword: str) -> ast.expr | None:
    for kw in node.keywords:
        if kw.arg == keyword:
            return kw.value
    if len(node.args) > position and not any(
        isinstance(a, ast.Starred) for a in node.args[: position + 1]
    ):
        return node.args[position]
    return None


def _string(node: ast.expr | None) -> str | None:
    """A literal string, also wrapped as ``op.f("...")`` or ``conv("...")``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Call) and len(node.args) == 1 and _callee(node) in ("f", "conv"):
        return _string(node.args[0])
    return None


def _schema(node: ast.Call) -> str | None:
    """The ``schema=`` keyword: its value, or its source text when it is not a literal."""
    for kw in node.keywords:
        if kw.arg == "schema":
            if isinstance(kw.value, ast.Constant):
                return None if kw.value.value is None else str(kw.value.value)
            return ast.unparse(kw.value)
    return None


def _callee(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _column(node: ast.expr | None) -> ColumnShape | None:
    """``sa.Column("name", sa.String(50), ...)`` as a shape; None if not a named Column."""
    if not isinstance(node, ast.Call) or _callee(node) != "Column":
        return None
    keywords = {kw.arg: kw.value for kw in node.keywords}
    positional = [a for a in node.args if not isinstance(a, ast.Starred)]
    if "name" in keywords:
        name_node, rest = keywords["name"], positional
    else:
        name_node, rest = (positional[0] if positional else None), positional[1:]
    name = _string(name_node)
    if name is None:
        return None
    type_node = keywords.get("type_", rest[0] if rest else None)
    return ColumnShape(name, type_family(_type_name(type_node)))


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


def _table_columns(arguments: Sequence[ast.expr]) -> tuple[ColumnShape, ...] | None:
    """The named columns of ``create_table``; None when ``*columns`` hides them."""
    if any(isinstance(a, ast.Starred) for a in arguments):
        return None
    columns = []
    for argument in arguments:
        column = _column(argument)
        if column is not None:
            columns.append(column)
        elif isinstance(argument, ast.Call) and _callee(argument) == "Column":
            return None  # a Column whose name is not a literal
    return tuple(columns)
