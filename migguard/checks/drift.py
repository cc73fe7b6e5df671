"""Rules comparing models with migrations: ``drift`` and ``schema-mismatch``.

``drift`` is Alembic's own autogenerate comparison, run at head on the same MigrationContext
env.py configured, so the user's ``include_object``, ``compare_type`` and friends apply and the
result is exactly what ``alembic revision --autogenerate`` would write. ``schema-mismatch``
compares the catalog of "migrations applied" with "models created" for what autogenerate does
not look at: check constraints, enum labels, index expressions and predicates, server defaults
(when compare_server_default is off) and generated names.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import textwrap
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from migguard.findings import Finding, Severity
from migguard.locate import find_column, find_quoted_name, find_table
from migguard.rules import Needs, Phase, Rule, Scope, produces, register

if TYPE_CHECKING:
    from migguard.checks import RunContext
    from migguard.project import Project
    from migguard.runner import RunResult
    from migguard.schema import Difference

DRIFT = register(
    Rule(
        id="drift",
        family="drift",
        scope=Scope.PROJECT,
        needs=Needs.DATABASE,
        summary="models and migrations disagree: autogenerate would write a new revision",
        severity=Severity.ERROR,
        what="Upgrades a throwaway database to head and runs Alembic's autogenerate "
        "comparison against target_metadata with env.py's own options.",
        why="A model change without its migration ships code that expects a column the "
        "production database does not have.",
        example="class Book(Base):\n    isbn: Mapped[str]  # no revision adds books.isbn",
        use_instead='alembic revision --autogenerate -m "add books.isbn"  # and review it',
    )
)
SCHEMA_MISMATCH = register(
    Rule(
        id="schema-mismatch",
        family="drift",
        scope=Scope.PROJECT,
        needs=Needs.DATABASE,
        summary="the schema the migrations build differs from the one the models create",
        severity=Severity.ERROR,
        what="Creates the models with metadata.create_all in a second throwaway database and "
        "compares both catalogs: check constraints, enum labels, index expressions and "
        "predicates, server defaults and constraint names that autogenerate does not compare.",
        why="Tests that build the schema with create_all pass against a schema production "
        "never had.",
        example='status = mapped_column(Enum("draft", "published", "archived", '
        'name="book_status"))\n# the migration created book_status with only two labels',
        use_instead="op.execute(\"ALTER TYPE book_status ADD VALUE 'archived'\")",
    )
)


@produces(Phase.RUN, DRIFT, SCHEMA_MISMATCH)
def after_run(run: RunContext) -> list[Finding]:
    """Both compare at head: nothing to say when the history stopped before it, or when
    env.py gives no models to compare with."""
    result = run.result
    if not result.reached_head:
        return []
    if result.target_metadata is None:
        run.notes.append("env.py passes no target_metadata: drift and schema-mismatch were skipped")
        return []
    findings = check_drift(result, run.project)
    return findings + check_schema_mismatch(run.models_differences(), result, run.project)


def check_drift(result: RunResult, project: Project) -> list[Finding]:
    """One finding per table (or per schema-level object) autogenerate wants to change, with
    all of that table's operations."""
    if result.drift_ops is None or result.drift_ops.is_empty():
        return []
    from alembic.autogenerate import render_python_code
    from alembic.operations import ops

    head = result.revisions[-1] if result.revisions else None
    renames = _rename_sentences(result.drift_ops)
    unimported = _unimported_models(result.drift_ops, project)
    findings: list[Finding] = []
    if unimported:
        findings.append(_unimported_finding(unimported, project, head))
    for table_ops in _by_table(result.drift_ops.ops):
        table = getattr(table_ops[0], "table_name", None)
        if any(isinstance(op, ops.DropTableOp) and _key(op) in unimported for op in table_ops):
            continue  # its model exists: the one finding at env.py covers it
        rendered = textwrap.dedent(
            "\n".join(
                line
                for line in render_python_code(ops.UpgradeOps(ops=table_ops)).splitlines()
                if line.strip() and not line.lstrip().startswith("#")
            )
        )
        added = next(filter(None, map(_added_column, table_ops)), None)
        path, line = _model_location(project, table, result, head, added)
        subject = f"table {table}" if table else "schema"
        message = (
            f"models and migrations differ on {subject}; autogenerate would add to a new "
            f"revision:\n{rendered}"
        )
        rename_notes = [s for s in renames if table and s.startswith(f"{table}:")]
        if rename_notes:
            message += "\n" + "\n".join(rename_notes)
        findings.append(
            Finding(
                rule=DRIFT.id,
                message=message,
                path=path,
                line=line,
                revision=head,
                hint='alembic revision --autogenerate -m "..." and review the result'
                if not rename_notes
                else "write the rename by hand: op.alter_column(..., new_column_name=...)",
                anchor=f"{subject}:{rendered}",
            )
        )
    return findings


def _by_table(upgrade_ops: list[Any]) -> list[list[Any]]:
    """autogenerate's operations, those of one table together in the order they come: a new
    table is a ``create_table`` and then a ``create_index`` per indexed column, one change."""
    groups: dict[Any, list[Any]] = {}
    for number, op in enumerate(upgrade_ops):
        table = getattr(op, "table_name", None)
        groups.setdefault((getattr(op, "schema", None), table) if table else number, []).append(op)
    return list(groups.values())


def _key(op: Any) -> tuple[str | None, str]:
    return (op.schema, op.table_name)


def _unimported_models(upgrade_ops: Any, project: Project) -> dict[tuple[str | None, str], str]:
    """Tables autogenerate would drop although the project defines a model for them: the
    metadata env.py passes lacks their module (env.py imports some model modules, not all),
    so each table is (schema, name) -> the file its model is in."""
    from alembic.operations import ops

    skip = (project.script_location, *project.version_dirs)
    found: dict[tuple[str | None, str], str] = {}
    for op in upgrade_ops.ops:
        if isinstance(op, ops.DropTableOp):
            located = find_table(project.root, op.table_name, skip)
            if located is not None:
                found[_key(op)] = project.relpath(located[0])
    return found


def _unimported_finding(
    unimported: dict[tuple[str | None, str], str], project: Project, head: str | None
) -> Finding:
    modules = sorted({_module_name(path) for path in unimported.values()})
    tables = sorted(name for _, name in unimported)
    shown = ", ".join(tables[:5]) + (f" and {len(tables) - 5} more" if len(tables) > 5 else "")
    message = (
        f"target_metadata lacks {len(tables)} table(s) the migrations create and the project "
        f"has models for ({shown}): the modules defining them are not imported when env.py "
        f"builds the metadata, so autogenerate would drop these tables"
    )
    imports = "; ".join(f"import {module}  # noqa: F401" for module in modules)
    return Finding(
        rule=DRIFT.id,
        message=message,
        path=project.relpath(project.env_py),
        line=_target_metadata_line(project),
        revision=head,
        hint=f"import the model modules before target_metadata is read: {imports}",
        anchor=f"unimported models: {', '.join(modules)}",
    )


def _module_name(relpath: str) -> str:
    """``app/models/user.py`` -> ``app.models.user`` (``src/`` layouts without ``src``)."""
    parts = relpath.removesuffix(".py").split("/")
    if parts[0] == "src" and len(parts) > 1:
        parts = parts[1:]
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _target_metadata_line(project: Project) -> int | None:
    try:
        lines = project.env_py.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for number, text in enumerate(lines, start=1):
        if text.lstrip().startswith("target_metadata") and "=" in text:
            return number
    return None


def check_schema_mismatch(
    differences: list[Difference], result: RunResult, project: Project
) -> list[Finding]:
    """Catalog differences between migrations and models, minus what drift already said."""
    covered = _drift_subjects(result.drift_ops)
    head = result.revisions[-1] if result.revisions else None
    findings: list[Finding] = []
    for found in differences:
        difference = _without_backfill_defaults(found, result.target_metadata)
        if difference is None or _covered_by_drift(difference, covered):
            continue
        if difference.table:
            path, line = _model_location(project, difference.table, result, head)
        else:
            path, line = _named_location(project, difference.name, result, head)
        message = difference.describe_models()
        findings.append(
            Finding(
                rule=SCHEMA_MISMATCH.id,
                message=message,
                path=path,
                line=line,
                revision=head,
                hint=_rename_hint(difference)
                or "change the model or add a revision so that both build the same schema",
                anchor=message,
            )
        )
    return findings


def _without_backfill_defaults(difference: Difference, metadata: Any) -> Difference | None:
    """The difference minus server defaults only the migrations have where the model gives the
    same value as a Python-side ``default``: ``add_column(..., nullable=False,
    server_default="0")`` is how a NOT NULL column is added to a table that has rows, and the
    model's ``default=0`` fills it for every insert the application makes. The create_all
    schema is the stricter one there, so tests built on it pass nothing production would
    refuse; None when nothing else differs."""
    if difference.kind != "column" or difference.status != "changed" or not difference.table:
        return difference
    column = _model_column(metadata, difference.table, difference.name.split(".")[-1])
    if column is None:
        return difference
    kept = tuple(
        change
        for change in difference.changes
        if not (
            change[0] == "server default"
            and change[2] == "none"
            and _same_value(change[1], getattr(column.default, "arg", None))
        )
    )
    if kept == difference.changes:
        return difference
    if not kept:
        return None
    detail = "; ".join(f"{attribute} {old} -> {new}" for attribute, old, new in kept)
    return dataclasses.replace(difference, changes=kept, detail=detail)


def _model_column(metadata: Any, table: str, column: str) -> Any:
    for one in metadata if isinstance(metadata, list | tuple) else [metadata]:
        found = getattr(one, "tables", {}).get(table)
        if found is not None and column in found.c:
            return found.c[column]
    return None


_CAST = re.compile(r"::[\w\s\".\[\]]+$")


def _same_value(server_default: str, value: Any) -> bool:
    """Whether PostgreSQL's text of a server default (``0``, ``false``,
    ``'standard'::character varying``) is the literal of a scalar Python default (an enum
    member's name or value)."""
    if isinstance(value, enum.Enum):  # SQLAlchemy's Enum stores the name, values_callable the value
        return _same_value(server_default, value.name) or _same_value(server_default, value.value)
    text = _CAST.sub("", server_default.strip()).strip()
    if isinstance(value, bool):
        return text.lower() == ("true" if value else "false")
    if isinstance(value, int | float):
        try:
            return float(text.strip("()")) == value
        except ValueError:
            return False
    if isinstance(value, str):
        return text == "'" + value.replace("'", "''") + "'"
    return False


def _rename_hint(difference: Difference) -> str | None:
    """For one object the two sides name differently: the revision that renames it."""
    if difference.status != "renamed":
        return None
    old, new = difference.name.split(".")[-1], difference.new_name.split(".")[-1]
    if difference.kind == "index":
        sql = f"ALTER INDEX {difference.name} RENAME TO {new}"
    else:
        sql = f"ALTER TABLE {difference.table} RENAME CONSTRAINT {old} TO {new}"
    return f'op.execute("{sql}") in a new revision, or name it {old!r} in the model'


def _added_column(op: Any) -> str | None:
    """The column a table's drift adds (autogenerate's ``add_column``): the model attribute
    declaring it is where the fix goes."""
    from alembic.operations import ops

    for inner in getattr(op, "ops", ()):
        if isinstance(inner, ops.AddColumnOp):
            return str(inner.column.name)
    return None


def _model_location(
    project: Project,
    table: str | None,
    result: RunResult,
    head: str | None,
    column: str | None = None,
) -> tuple[str | None, int | None]:
    if table:
        skip = (project.script_location, *project.version_dirs)
        name = table.split(".")[-1]
        found = find_column(project.root, name, column, skip) if column else None
        found = found or find_table(project.root, name, skip)
        if found:
            return project.relpath(found[0]), found[1]
    if head and head in result.paths:
        return result.paths[head], None
    return project.relpath(project.env_py), None


def _named_location(
    project: Project, name: str, result: RunResult, head: str | None
) -> tuple[str | None, int | None]:
    found = find_quoted_name(
        project.root, name.split(".")[-1], (project.script_location, *project.version_dirs)
    )
    if found:
        return project.relpath(found[0]), found[1]
    return _model_location(project, None, result, head)


def _drift_subjects(upgrade_ops: Any) -> dict[str, set[str]]:
    """Table -> names (columns, indexes, constraints) autogenerate already reported; '*' for
    a whole table."""
    subjects: dict[str, set[str]] = defaultdict(set)
    if upgrade_ops is None:
        return subjects
    for diff in upgrade_ops.as_diffs():
        for item in diff if isinstance(diff, list) else [diff]:
            kind = item[0]
            if kind in ("add_table", "remove_table"):
                subjects[item[1].name].add("*")
            elif kind in ("add_column", "remove_column"):
                subjects[item[2]].add(item[3].name)
            elif kind.startswith("modify_"):
                subjects[item[2]].add(item[3])
            elif kind in (
                "add_index",
                "remove_index",
                "add_constraint",
                "remove_constraint",
                "add_fk",
                "remove_fk",
            ):
                obj = item[1]
                table = getattr(getattr(obj, "table", None), "name", None) or getattr(
                    getattr(obj, "parent", None), "name", None
                )
                if table:
                    subjects[table].add(str(obj.name) if obj.name else _unnamed(obj))
    return subjects


def _unnamed(constraint: Any) -> str:
    """A constraint the models leave unnamed (``create_foreign_key(None, ...)``) by its kind
    and columns: PostgreSQL names it ``books_author_id_fkey`` in the models' database, and
    the catalog difference about it is recognised by the same key."""
    from sqlalchemy import ForeignKeyConstraint, UniqueConstraint

    kind = {ForeignKeyConstraint: "foreign key", UniqueConstraint: "unique"}.get(type(constraint))
    return _constraint_key(kind or "", [str(column.name) for column in constraint.columns])


def _constraint_key(kind: str, columns: Iterable[str]) -> str:
    return f"{kind} ({', '.join(columns)})"


def _covered_by_drift(difference: Difference, covered: dict[str, set[str]]) -> bool:
    from migguard.schema.model import constrained_columns

    table = (difference.table or "").split(".")[-1]
    names = covered.get(table) or covered.get(difference.table or "")
    if not names:
        if difference.kind == "table":
            return bool(covered.get(difference.name.split(".")[-1]))
        return False
    if "*" in names:
        return True
    leaf = difference.name.split(".")[-1]
    if leaf in names or difference.name in names:
        return True
    unnamed = _constraint_key(difference.subkind, constrained_columns(difference.detail))
    return difference.kind == "constraint" and unnamed in names


def _rename_sentences(upgrade_ops: Any) -> list[str]:
    from migguard.checks.rename import drift_renames

    return drift_renames(upgrade_ops)
