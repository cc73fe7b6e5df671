"""``index-name`` and ``constraint-name``: names that do not follow the naming convention.

Three places are checked: the model metadata (env.py's ``target_metadata``), names written in
revision files (``op.create_index("idx_x", ...)``, ``sa.UniqueConstraint(..., name=...)``
inside ``op.create_table``, ``batch_op`` variants), and constraints that revisions leave
unnamed. Only ``upgrade()`` is read: a downgrade must restore whatever name the schema had.

The convention per kind is migguard's default, replaced by the project's own
``MetaData(naming_convention=...)`` and then by ``[tool.migguard.naming]``. Token rendering
lives in :mod:`migguard.naming_convention`.

Names in revisions are judged as Alembic applies them at run time: the migration's MetaData
carries ``target_metadata``'s naming convention (``alembic/operations/schemaobj.py``), so an
unnamed constraint of a kind that convention covers gets a convention name, a plain string is
run through a convention that uses ``%(constraint_name)s``, and ``op.f("x")`` is used as
written.
"""

from __future__ import annotations

import ast
import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from migguard import ops
from migguard.errors import MigguardError
from migguard.findings import Finding, Severity
from migguard.naming_convention import (
    INDEX_NAME_ALTERNATIVE,
    KIND_LABELS,
    KINDS,
    RECOMMENDED,
    RECOMMENDED_CONVENTIONS,
    SQLALCHEMY_DEFAULT_CONVENTION,
    ConventionError,
    MissingPart,
    NameParts,
    conventions_from_metadata,
    effective_conventions,
    expected_name,
    follows,
    render,
    templates_by_kind,
    tokens,
    validate,
)
from migguard.rules import Needs, Phase, Rule, Scope, produces, register

if TYPE_CHECKING:
    from migguard.checks import RunContext, StaticContext
    from migguard.checks.startup import SourceFile
    from migguard.project import RevisionFile

INDEX_NAME = register(
    Rule(
        id="index-name",
        family="naming",
        scope=Scope.REVISION,
        needs=Needs.STATIC,
        summary=(
            "an index name does not follow the naming convention (SQLAlchemy's default if none)"
        ),
        severity=Severity.WARNING,
        what=(
            "Checks index names in the models and in revision files against the naming "
            "convention: the project's own `MetaData(naming_convention=...)` or "
            "`[tool.migguard.naming] ix = ...` when it has one, otherwise SQLAlchemy's "
            "default `ix_%(column_0_label)s` (`ix_<table>_<first column>`; "
            "`ix_<table>_<every column>` passes too). Names SQLAlchemy generates from the "
            "convention always pass."
        ),
        why=(
            "Hand-written names drift (`idx_users_email`, `users_email_idx`, `email_index`), "
            "so nobody can guess a name when writing `op.drop_index`, autogenerate sees a "
            "rename as drop + create, and two people pick different names for the same index."
        ),
        example='op.create_index("idx_users_email", "users", ["email"])',
        use_instead='op.create_index(op.f("ix_users_email"), "users", ["email"])',
    )
)

CONSTRAINT_NAME = register(
    Rule(
        id="constraint-name",
        family="naming",
        scope=Scope.REVISION,
        needs=Needs.STATIC,
        summary="a constraint is unnamed or misnamed, for kinds the project has a convention for",
        severity=Severity.WARNING,
        what=(
            "Checks unique, foreign key, check and primary key constraints in the models and "
            "in revision files, for the kinds the project has a convention for: those its "
            "`MetaData(naming_convention=...)` declares, and those it opts in to with "
            '`[tool.migguard.naming]` (`uq = "recommended"` takes '
            "`uq_%(table_name)s_%(column_0_N_name)s`; likewise `fk`, `ck`, `pk`). Each such "
            "constraint has a name, and the name follows the convention. A project without "
            "a convention for a kind gets no finding for it."
        ),
        why=(
            "An unnamed constraint is named by PostgreSQL (`books_isbn_key`), by another "
            "rule on another database, and a later migration that must drop or alter it has "
            "to guess that name; a downgrade that guesses wrong fails. SQLAlchemy's "
            "documentation recommends a naming convention for exactly this reason."
        ),
        example=(
            "metadata = MetaData()\n\n"
            "class Book(Base):\n"
            '    __tablename__ = "books"\n'
            "    isbn: Mapped[str] = mapped_column(unique=True)  # named books_isbn_key by PG"
        ),
        use_instead=(
            "metadata = MetaData(naming_convention={\n"
            '    "ix": "ix_%(column_0_label)s",\n'
            '    "uq": "uq_%(table_name)s_%(column_0_name)s",\n'
            '    "ck": "ck_%(table_name)s_%(constraint_name)s",\n'
            '    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",\n'
            '    "pk": "pk_%(table_name)s",\n'
            "})"
        ),
    )
)

_CONSTRUCTORS = {
    "ix": "Index",
    "uq": "UniqueConstraint",
    "ck": "CheckConstraint",
    "fk": "ForeignKeyConstraint",
    "pk": "PrimaryKeyConstraint",
}
# Unnamed primary keys are not reported: PostgreSQL always calls them <table>_pkey, the name
# every tutorial's schema has, and flagging each table would bury the findings that matter.
UNNAMED_KINDS_REPORTED = ("uq", "fk", "ck")


@produces(Phase.SOURCES, INDEX_NAME, CONSTRAINT_NAME)
def check(ctx: StaticContext) -> list[Finding]:
    """Naming findings for the model metadata (when known) and for the revision files.

    Without the metadata (static mode before env.py has run), the project's convention is
    read from a literal ``MetaData(naming_convention={...})`` in its source instead.
    """
    overrides = _validated_overrides(ctx.settings.naming)
    metadatas = _metadatas(ctx.metadata)
    if metadatas:
        findings = check_metadata(ctx)
        project_conventions: dict[str, str] = {}
        for metadata in metadatas:
            project_conventions = conventions_from_metadata(metadata.naming_convention)
            if project_conventions:
                break
        runtime = runtime_conventions(ctx.metadata)
    else:
        findings = []
        written = source_naming_convention(_sources(ctx, "naming_convention"))
        project_conventions = conventions_from_metadata(written)
        runtime = runtime_conventions(None) if written is None else templates_by_kind(written)
    conventions = effective_conventions(project_conventions, overrides)
    for revision in ctx.project.revision_files():
        findings.extend(check_revision(revision, conventions, runtime))
    return findings


@produces(Phase.RUN, INDEX_NAME, CONSTRAINT_NAME)
def after_run(run: RunContext) -> list[Finding]:
    """The models, once the run has the metadata env.py hands to Alembic."""
    if run.result.target_metadata is None:
        return []
    return check_metadata(run.static_context(run.result.target_metadata))


def check_metadata(ctx: StaticContext) -> list[Finding]:
    """Findings for the model metadata alone, located in the project's models files."""
    overrides = _validated_overrides(ctx.settings.naming)
    metadatas = _metadatas(ctx.metadata)
    if not metadatas:
        return []
    locators: list[_ModelLocator] = []

    def locate(
        table: str, name: str | None, kind: str, columns: tuple[str, ...]
    ) -> tuple[str | None, int | None]:
        if not locators:  # parsing the models costs time: only for a finding to place
            locators.append(_ModelLocator(_sources(ctx, *_MODEL_WORDS)))
        return locators[0].locate(table, name, kind, columns)

    findings: list[Finding] = []
    for metadata in metadatas:
        findings.extend(metadata_findings(metadata, overrides, locate))
    return findings


# Files without any of these cannot define a table, an index or a constraint.
_MODEL_WORDS = ("__tablename__", "Table(", "table=True", "Index(", "Constraint(", "ForeignKey(")


def _sources(ctx: StaticContext, *containing: str) -> list[SourceFile]:
    from migguard.checks.startup import project_sources

    return project_sources(ctx, containing)


def _validated_overrides(naming: Mapping[str, str] | None) -> dict[str, str]:
    overrides = dict(naming or {})
    for kind, template in overrides.items():
        if kind not in KINDS:
            raise MigguardError(
                f"unknown kind {kind!r} in [tool.migguard.naming] (known: {', '.join(KINDS)})"
            )
        try:
            validate(RECOMMENDED_CONVENTIONS[kind] if template == RECOMMENDED else template)
        except ConventionError as exc:
            raise MigguardError(f"[tool.migguard.naming] {kind}: {exc}") from None
    return overrides


def _metadatas(metadata: Any) -> list[Any]:
    if metadata is None:
        return []
    if hasattr(metadata, "tables"):
        return [metadata]
    if isinstance(metadata, Iterable):
        return [m for m in metadata if hasattr(m, "tables")]
    return []


def runtime_conventions(metadata: Any) -> dict[str, str]:
    """The templates Alembic's operations apply at run time: ``target_metadata``'s
    convention when it is one MetaData, otherwise a plain ``MetaData()``'s."""
    convention = getattr(metadata, "naming_convention", None)
    if convention is None:
        convention = SQLALCHEMY_DEFAULT_CONVENTION
    return templates_by_kind(convention)


# --- (a) the model metadata -----------------------------------------------------------------

Locate = Callable[[str, "str | None", str, "tuple[str, ...]"], "tuple[str | None, int | None]"]


def metadata_findings(
    metadata: Any,
    overrides: Mapping[str, str] | None = None,
    locate: Locate | None = None,
) -> list[Finding]:
    """Findings for the indexes and constraints of one SQLAlchemy ``MetaData``.

    ``locate(table, name, kind, columns)`` returns the (path, line) to report; without it
    findings carry no location.
    """
    from sqlalchemy.sql.elements import conv

    from migguard.sqlalchemy_compat import none_name

    none = none_name()

    overrides = dict(overrides or {})
    conventions = effective_conventions(
        conventions_from_metadata(metadata.naming_convention), overrides
    )
    findings: list[Finding] = []
    for table in sorted(metadata.tables.values(), key=lambda t: t.key):
        for obj, kind, parts in _table_objects(table):
            name = obj.name
            unnamed = name is None or name is none
            if unnamed:
                if kind not in UNNAMED_KINDS_REPORTED or kind not in conventions:
                    continue
                finding: Finding | None = _unnamed(kind, parts, conventions, None, None, None)
            elif isinstance(name, conv) and kind not in overrides:
                continue  # generated by SQLAlchemy from the project's own convention
            else:
                finding = _judge(str(name), kind, parts, conventions, None, None, None)
            if finding is None:
                continue
            if locate is not None:
                path, line = locate(
                    table.name, None if unnamed else str(name), kind, parts.columns or ()
                )
                finding = replace(finding, path=path, line=line)
            findings.append(finding)
    return findings


def _table_objects(table: Any) -> Iterator[tuple[Any, str, NameParts]]:
    from sqlalchemy import (
        CheckConstraint,
        ForeignKeyConstraint,
        Index,
        PrimaryKeyConstraint,
        UniqueConstraint,
    )

    kinds = (
        (PrimaryKeyConstraint, "pk"),
        (UniqueConstraint, "uq"),
        (ForeignKeyConstraint, "fk"),
        (CheckConstraint, "ck"),
        (Index, "ix"),
    )
    objects = [*table.constraints, *table.indexes]
    found = []
    for obj in objects:
        kind = next((k for cls, k in kinds if isinstance(obj, cls)), None)
        if kind is None:
            continue
        if kind == "pk" and not list(obj.columns):
            continue
        found.append((obj, kind, _parts_of(table, obj, kind)))
    found.sort(key=lambda item: (KINDS.index(item[1]), str(item[0].name), item[2].columns))
    yield from found


def _parts_of(table: Any, obj: Any, kind: str) -> NameParts:
    referred_table = None
    referred: tuple[str, ...] = ()
    if kind == "fk":
        columns = tuple(element.parent.name for element in obj.elements)
        keys = tuple(element.parent.key for element in obj.elements)
        labels = tuple(element.parent._ddl_label for element in obj.elements)
        targets = [element.target_fullname.split(".") for element in obj.elements]
        if targets and len(targets[0]) >= 2:
            referred_table = targets[0][-2]
        referred = tuple(t[-1] for t in targets)
    else:
        cols = list(obj.columns)
        columns = tuple(c.name for c in cols)
        keys = tuple(c.key for c in cols)
        labels = tuple(c._ddl_label for c in cols)
    name = obj.name
    return NameParts(
        table=table.name,
        columns=columns,
        schema=table.schema,
        referred_table=referred_table,
        referred_columns=referred,
        constraint_name=str(name) if isinstance(name, str) else None,
        column_keys=keys,
        column_labels=labels,
    )


# --- (b), (c) revision files ----------------------------------------------------------------


@dataclass(frozen=True)
class WrittenName:
    """An index or constraint a revision creates, with its name as written.

    ``name`` is None when the revision leaves it unnamed; ``final`` when it is wrapped in
    ``op.f()``/``conv()`` and used exactly as written; ``parts`` None when the table or
    columns cannot be read from the source.
    """

    kind: str
    name: str | None
    final: bool
    line: int
    parts: NameParts | None


def check_revision(
    revision: RevisionFile,
    conventions: Mapping[str, str],
    runtime: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Findings for the names one revision's ``upgrade()`` gives, or forgets to give."""
    runtime = dict(runtime if runtime is not None else SQLALCHEMY_DEFAULT_CONVENTION)
    findings = []
    for written in written_names(revision):
        if written.parts is None:
            continue
        template = runtime.get(written.kind)
        name = written.name
        if (
            not written.final
            and template is not None
            and (name is None or "constraint_name" in tokens(template))
        ):
            # Alembic's MetaData names it through the convention at run time.
            try:
                name = render(template, _with_constraint_name(written.parts, name))
            except MissingPart:
                pass  # an unnamed constraint the convention cannot name
            except ConventionError:
                continue  # a custom token: SQLAlchemy names it, migguard cannot say how
        if name is None:
            if written.kind not in UNNAMED_KINDS_REPORTED or written.kind not in conventions:
                continue
            findings.append(
                _unnamed(
                    written.kind,
                    written.parts,
                    conventions,
                    revision.relpath,
                    written.line,
                    revision.revision,
                )
            )
            continue
        finding = _judge(
            name,
            written.kind,
            written.parts,
            conventions,
            revision.relpath,
            written.line,
            revision.revision,
        )
        if finding is not None:
            findings.append(finding)
    return findings


def _with_constraint_name(parts: NameParts, name: str | None) -> NameParts:
    return NameParts(
        table=parts.table,
        columns=parts.columns,
        schema=parts.schema,
        referred_table=parts.referred_table,
        referred_columns=parts.referred_columns,
        constraint_name=name,
        column_keys=parts.column_keys,
        column_labels=parts.column_labels,
    )


def written_names(revision: RevisionFile) -> list[WrittenName]:
    """Indexes and constraints the revision's ``upgrade()`` creates, in source order, as the
    shared operation reader (:mod:`migguard.ops`) sees them: a ``batch_op`` call takes its
    own block's table."""
    found: list[WrittenName] = []
    for op in ops.read_revision(revision, "upgrade"):
        for constraint in op.constraints:
            found.append(_written(op, constraint))
    found.sort(key=lambda w: w.line)
    return found


def _written(op: ops.Op, constraint: ops.Constraint) -> WrittenName:
    name = constraint.name
    line = name.line if name.text is not None and name.line else constraint.line
    parts = None
    if op.table is not None and name.known:
        parts = NameParts(
            table=op.table,
            columns=constraint.columns,
            schema=op.schema,
            referred_table=constraint.referred_table,
            referred_columns=constraint.referred_columns or (),
            constraint_name=name.text,
        )
    return WrittenName(
        kind=constraint.kind, name=name.text, final=name.final, line=line, parts=parts
    )


def _callee(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _string(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _constant_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


# --- judging --------------------------------------------------------------------------------


def _rule_for(kind: str) -> str:
    return INDEX_NAME.id if kind == "ix" else CONSTRAINT_NAME.id


def _judge(
    name: str,
    kind: str,
    parts: NameParts,
    conventions: Mapping[str, str],
    path: str | None,
    line: int | None,
    revision: str | None,
) -> Finding | None:
    template = conventions.get(kind)
    if template is None:
        return None
    accepted = [template]
    if kind == "ix" and template == SQLALCHEMY_DEFAULT_CONVENTION["ix"]:
        accepted.append(INDEX_NAME_ALTERNATIVE)
    try:
        if any(follows(name, t, parts) for t in accepted):
            return None
        bare = _bare(name, kind, parts.table)
        expected = expected_name(template, _with_constraint_name(parts, bare))
    except (ConventionError, MissingPart):
        return None  # needs a part that cannot be read (an expression, a custom token)
    label = KIND_LABELS[kind]
    return Finding(
        rule=_rule_for(kind),
        message=f"{label} name {name!r} does not follow the convention: expected {expected!r}",
        path=path,
        line=line,
        revision=revision,
        hint=f"name it {expected!r} (convention {template!r})",
    )


def _bare(name: str, kind: str, table: str) -> str:
    """The author's part of a name, for ``%(constraint_name)s``, without the kind and table
    the template adds again: 'ck_positive' and 'experiments_lifecycle_stage' (on table
    experiments) give 'positive' and 'lifecycle_stage', not 'ck_experiments_experiments_...'."""
    for prefix in (f"{kind}_", f"{table}_"):
        if name.startswith(prefix) and len(name) > len(prefix):
            name = name[len(prefix) :]
    return name


def _unnamed(
    kind: str,
    parts: NameParts,
    conventions: Mapping[str, str],
    path: str | None,
    line: int | None,
    revision: str | None,
) -> Finding:
    columns = ", ".join(parts.columns or ())
    on = f"{parts.table} ({columns})" if columns else parts.table
    postgres = _postgres_default_name(kind, parts)
    itself = f" ({postgres!r})" if postgres else ""
    suggestion = ""
    with contextlib.suppress(ConventionError, MissingPart):
        suggestion = expected_name(conventions[kind], parts)
    if revision is not None:
        hint = f"name it op.f({suggestion!r})" if suggestion else "give it a name"
    else:
        named = f"name it {suggestion!r}" if suggestion else "name it"
        hint = f"{named}, or add {kind!r} to the MetaData's naming_convention"
    return Finding(
        rule=_rule_for(kind),
        message=f"unnamed {KIND_LABELS[kind]} on {on}: PostgreSQL will name it itself{itself}",
        path=path,
        line=line,
        revision=revision,
        hint=hint,
    )


def _postgres_default_name(kind: str, parts: NameParts) -> str | None:
    """What PostgreSQL calls an unnamed constraint (before its own 63-character cut)."""
    columns = "_".join(parts.columns or ())
    if kind == "pk":
        return f"{parts.table}_pkey"
    if kind == "uq" and columns:
        return f"{parts.table}_{columns}_key"
    if kind == "fk" and columns:
        return f"{parts.table}_{columns}_fkey"
    return None


# --- the convention as written in the source ---------------------------------------------

_CLASS_KEYS = {
    "Index": "ix",
    "UniqueConstraint": "uq",
    "CheckConstraint": "ck",
    "ForeignKeyConstraint": "fk",
    "PrimaryKeyConstraint": "pk",
}


def source_naming_convention(sources: Iterable[SourceFile]) -> dict[str, str] | None:
    """The first ``naming_convention=`` given as a literal dict (or a module-level name bound
    to one) in the project's source, with class keys turned into kind names."""
    for source in sources:
        if "naming_convention" not in source.text:
            continue
        assignments: dict[str, ast.expr] = {}
        for statement in source.tree.body:
            if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
                target, value = statement.targets[0], statement.value
            elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
                target, value = statement.target, statement.value
            else:
                continue
            if isinstance(target, ast.Name):
                assignments[target.id] = value
        for node in ast.walk(source.tree):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                if keyword.arg != "naming_convention":
                    continue
                value = keyword.value
                if isinstance(value, ast.Name):
                    value = assignments.get(value.id, value)
                convention = _literal_convention(value)
                if convention:
                    return convention
    return None


def _literal_convention(node: ast.expr) -> dict[str, str] | None:
    if not isinstance(node, ast.Dict):
        return None
    result: dict[str, str] = {}
    for key, value in zip(node.keys, node.values, strict=True):
        template = _string(value)
        if key is None or template is None:
            continue
        name = _string(key) or _callee(key)
        kind = _CLASS_KEYS.get(name or "", name)
        if kind in KINDS:
            result[kind] = template
    return result


# --- where models are written ---------------------------------------------------------------


@dataclass
class _TableSite:
    source: SourceFile
    node: ast.AST
    line: int


class _ModelLocator:
    """Finds the file and line of a table, index or constraint in the project's models."""

    def __init__(self, sources: list[SourceFile]) -> None:
        self.tables: dict[str, _TableSite] = {}
        self.strings: dict[str, tuple[str, int]] = {}
        for source in sources:
            for node in ast.walk(source.tree):
                if isinstance(node, ast.ClassDef):
                    self._class(source, node)
                elif isinstance(node, ast.Call):
                    if _callee(node.func) == "Table" and node.args:
                        table = _string(node.args[0])
                        if table is not None:
                            site = _TableSite(source, node, node.args[0].lineno)
                            self.tables.setdefault(table, site)
                    for value in [*node.args, *(k.value for k in node.keywords)]:
                        text = _string(value)
                        if text is not None:
                            self.strings.setdefault(text, (source.relpath, value.lineno))

    def _class(self, source: SourceFile, node: ast.ClassDef) -> None:
        for statement in node.body:
            target, value = None, None
            if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
                target, value = statement.targets[0], statement.value
            elif isinstance(statement, ast.AnnAssign):
                target, value = statement.target, statement.value
            if isinstance(target, ast.Name) and target.id == "__tablename__":
                table = _string(value)
                if table is not None and value is not None:
                    self.tables.setdefault(table, _TableSite(source, node, value.lineno))
                    return
        if any(k.arg == "table" and _constant_true(k.value) for k in node.keywords):
            self.tables.setdefault(node.name.lower(), _TableSite(source, node, node.lineno))

    def locate(
        self, table: str, name: str | None, kind: str, columns: tuple[str, ...]
    ) -> tuple[str | None, int | None]:
        site = self.tables.get(table)
        if name is not None:
            if site is not None:
                line = _string_line(site.node, name)
                if line is not None:
                    return site.source.relpath, line
            if name in self.strings:
                return self.strings[name]
        if site is None:
            return None, None
        line = _constraint_line(site.node, kind, columns) if columns else None
        return site.source.relpath, line or site.line


def _string_line(node: ast.AST, text: str) -> int | None:
    for child in ast.walk(node):
        if _string(child) == text:  # type: ignore[arg-type]
            return int(child.lineno)  # type: ignore[attr-defined]
    return None


def _constraint_line(node: ast.AST, kind: str, columns: tuple[str, ...]) -> int | None:
    """The constructor call naming these columns, else the first column's definition."""
    constructor = _CONSTRUCTORS[kind]
    for child in ast.walk(node):
        if isinstance(child, ast.Call) and _callee(child.func) == constructor:
            arguments = child.args[1:] if kind == "ix" else child.args
            if kind == "fk" and arguments and isinstance(arguments[0], ast.List | ast.Tuple):
                arguments = list(arguments[0].elts)
            written = tuple(_column_reference(a) for a in arguments)
            if written == columns:
                return child.lineno
    column = columns[0]
    for child in ast.walk(node):
        if isinstance(child, ast.Assign | ast.AnnAssign):
            targets = child.targets if isinstance(child, ast.Assign) else [child.target]
            if any(isinstance(t, ast.Name) and t.id == column for t in targets):
                return child.lineno
        if (
            isinstance(child, ast.Call)
            and _callee(child.func) in ("Column", "mapped_column", "Field")
            and child.args
            and _string(child.args[0]) == column
        ):
            return child.lineno
    return None


def _column_reference(node: ast.expr) -> str | None:
    """``"email"``, ``User.email`` or ``email`` -> "email"."""
    text = _string(node)
    if text is not None:
        return text.split(".")[-1]
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None
