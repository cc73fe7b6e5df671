"""Rules about running the revisions: upgrade-fails, downgrade-fails, downgrade-mismatch.

The stairway (for each revision: upgrade, snapshot, downgrade, snapshot, compare, upgrade
again) catches a downgrade that forgets part of its upgrade right at the revision that is wrong,
which a full ``downgrade base`` hides whenever a later downgrade drops the whole table.
"""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING

from migguard.findings import Finding, Severity
from migguard.rules import Needs, Phase, Rule, Scope, produces, register

if TYPE_CHECKING:
    from migguard.checks import RunContext
    from migguard.project import Project
    from migguard.runner import RunResult
    from migguard.schema import Difference

UPGRADE_FAILS = register(
    Rule(
        id="upgrade-fails",
        family="round-trip",
        scope=Scope.PROJECT,
        needs=Needs.DATABASE,
        summary="a revision's upgrade raises on a fresh database",
        severity=Severity.ERROR,
        what="Runs every revision's upgrade() in order on a throwaway database and reports the "
        "first one that raises, with the database's error.",
        why="A migration that fails in CI fails in production, half-way through a deploy.",
        example='def upgrade():\n    op.add_column("books", sa.Column("isbn", sa.String(13), '
        "nullable=False))  # table has rows: NOT NULL without default fails",
        use_instead='def upgrade():\n    op.add_column("books", sa.Column("isbn", sa.String(13), '
        'nullable=False, server_default=""))',
    )
)
DOWNGRADE_FAILS = register(
    Rule(
        id="downgrade-fails",
        family="round-trip",
        scope=Scope.REVISION,
        needs=Needs.DATABASE,
        summary="a revision's downgrade raises right after its upgrade",
        severity=Severity.ERROR,
        what="Runs each revision's downgrade() right after its upgrade() and reports errors.",
        why="The downgrade is what you run during an incident; that is the worst time to find "
        "out it does not work.",
        example='def downgrade():\n    op.drop_index("ix_books_title")  # wrong name / table',
        use_instead="def downgrade():\n"
        '    op.drop_index(op.f("ix_books_title"), table_name="books")',
    )
)
DOWNGRADE_MISMATCH = register(
    Rule(
        id="downgrade-mismatch",
        family="round-trip",
        scope=Scope.REVISION,
        needs=Needs.DATABASE,
        summary="upgrade + downgrade does not return the schema to where it was",
        severity=Severity.ERROR,
        what="Compares a catalog snapshot before a revision's upgrade with one after its "
        "upgrade and downgrade: tables, columns, indexes, constraints, enum types, sequences "
        "and views left behind or lost are reported.",
        why="A downgrade that leaves an enum type or index behind makes the next upgrade fail; "
        "one that drops too much loses data.",
        example='def upgrade():\n    op.add_column("books", sa.Column("isbn", sa.String(13)))\n'
        '    op.create_index("ix_books_isbn", "books", ["isbn"])\n\n'
        'def downgrade():\n    op.drop_column("books", "isbn")  # the index goes with it, '
        "but an enum type would not",
        use_instead='def downgrade():\n    op.drop_index("ix_books_isbn", table_name="books")\n'
        '    op.drop_column("books", "isbn")',
    )
)


@produces(Phase.RUN, UPGRADE_FAILS, DOWNGRADE_FAILS, DOWNGRADE_MISMATCH)
def after_run(run: RunContext) -> list[Finding]:
    return check(run.result, run.project)


def check(result: RunResult, project: Project) -> list[Finding]:
    findings: list[Finding] = []
    for failure in result.failures:
        rule = UPGRADE_FAILS if failure.direction in ("upgrade", "re-upgrade") else DOWNGRADE_FAILS
        path = result.paths.get(failure.revision)
        what = {
            "upgrade": "upgrade failed",
            "re-upgrade": "upgrade failed when re-applied after its downgrade",
            "downgrade": "downgrade failed right after its upgrade",
        }[failure.direction]
        line = failure.line or _function_line(project, path, _function_for(failure.direction))
        first = bool(result.revisions) and failure.revision == result.revisions[0]
        if failure.direction == "upgrade" and first and result.started_empty:
            what = "upgrade failed on an empty database"
        special = _upgrade_hint(failure.message, result, first) if rule is UPGRADE_FAILS else None
        findings.append(
            Finding(
                rule=rule.id,
                message=f"revision {failure.revision}: {what}: {failure.message}",
                path=path,
                line=line,
                revision=failure.revision,
                hint=_timeout_hint(failure.message) or special or _hint_for(failure.direction),
                anchor=f"{failure.direction}:{failure.message}",
            )
        )
    for trip in result.round_trips:
        differences = [d for d in trip.differences if not _extension_kept(d, trip.again_failed)]
        if not differences and not trip.again:
            continue
        path = result.paths.get(trip.revision)
        described = [d.describe_roundtrip() for d in differences] or ["schema differs"]
        again = [d.describe_roundtrip() for d in trip.again]
        suffix = ""
        if again:
            suffix = f"; upgrading again differs from the first upgrade: {'; '.join(again)}"
        if any(_extension_left(d) for d in differences):  # reported because of that failure
            suffix = f"; upgrading again fails: {trip.again_failed}"
        findings.append(
            Finding(
                rule=DOWNGRADE_MISMATCH.id,
                message=f"revision {trip.revision}: downgrade does not undo upgrade: "
                + "; ".join(described)
                + suffix,
                path=path,
                line=_function_line(project, path, "downgrade"),
                revision=trip.revision,
                hint=_kept_extension_hint(differences)
                or "make downgrade() drop what upgrade() creates and restore what it drops",
                anchor="; ".join(sorted(described)),
            )
        )
    return findings


def _extension_kept(difference: Difference, again_failed: str) -> bool:
    """An extension the upgrade creates and the downgrade keeps: deliberate and common
    (``CREATE EXTENSION IF NOT EXISTS pg_trgm`` up, no ``DROP EXTENSION`` down), since other
    objects, other revisions or other applications of the database may use it, and dropping
    it needs a superuser that production's migration role often is not. The snapshot never
    lists the functions and types an extension brings, so nothing else of it is left behind.
    It stays a mismatch when upgrading again fails on it (the upgrade creates it without ``IF
    NOT EXISTS``), and so does a downgrade that drops an extension the revision found
    installed."""
    return _extension_left(difference) and f'extension "{difference.name}"' not in again_failed


def _extension_left(difference: Difference) -> bool:
    return difference.kind == "extension" and difference.status == "added"


def _kept_extension_hint(differences: list[Difference]) -> str | None:
    """Only extensions left behind, and upgrading again failed: the upgrade is what to fix."""
    if not differences or not all(_extension_left(d) for d in differences):
        return None
    names = ", ".join(d.name for d in differences)
    return (
        f"create it with CREATE EXTENSION IF NOT EXISTS so that the upgrade applies again "
        f"after its downgrade, or drop it in downgrade() ({names})"
    )


def _function_for(direction: str) -> str:
    return "downgrade" if direction == "downgrade" else "upgrade"


def _timeout_hint(message: str) -> str | None:
    """A step stopped by a time limit needs another fix than one that raised."""
    if "timed out after" not in message:
        return None
    if message.endswith("(--timeout)"):
        return "the whole run reached --timeout during this step: make it faster or raise --timeout"
    if message.endswith("(lock_timeout)"):
        return (
            "the step waited for a lock another session held (often the revision's own "
            "migration transaction, seen from a second connection it opened); or raise "
            "lock_timeout in [tool.migguard]"
        )
    return "make the statement faster, or raise statement_timeout in [tool.migguard]"


_MISSING = re.compile(r'(relation|schema|type) "([^"]+)" does not exist')
_MISSING_CONSTRAINT = re.compile(r'constraint "([^"]+)" of relation "([^"]+)" does not exist')
# The names PostgreSQL gives constraints created without one, by the suffix it appends
_POSTGRES_SUFFIXES = {
    "_pkey": "primary key",
    "_key": "unique",
    "_fkey": "foreign key",
    "_check": "check",
    "_excl": "exclusion",
}
_CONVENTION_KINDS = {"primary key": "pk", "unique": "uq", "foreign key": "fk", "check": "ck"}


def _upgrade_hint(message: str, result: RunResult, first: bool) -> str | None:
    """Two upgrade failures that are not the revision's own mistake: a history that starts
    from tables built outside Alembic, and a naming convention introduced after the revisions
    that created unnamed constraints."""
    if first and result.started_empty and _MISSING.search(message):
        return (
            "the first revision expects a schema it does not create: the history starts from "
            "tables built outside Alembic (metadata.create_all(), a SQL dump). Give migguard "
            'that start in [tool.migguard]: bootstrap = "package.module:function" or '
            'bootstrap-sql = "path/schema.sql"'
        )
    return _late_convention_hint(message, result)


def _late_convention_hint(message: str, result: RunResult) -> str | None:
    """``constraint "products_sku_key" does not exist``: the name PostgreSQL gave an unnamed
    constraint in production. Once target_metadata declares a naming convention, Alembic
    names the same constraint by it on a fresh database, so only the fresh database lacks the
    name. Said only when the convention covers that kind and the table has such a constraint
    under another name."""
    found = _MISSING_CONSTRAINT.search(message)
    if found is None:
        return None
    name, table = found.group(1), found.group(2).rpartition(".")[2]
    suffixes = _POSTGRES_SUFFIXES.items()
    kind = next((k for suffix, k in suffixes if name.endswith(suffix)), None)
    if not name.startswith(f"{table}_"):
        kind = None
    convention = _naming_convention(result.target_metadata)
    if kind is None or _CONVENTION_KINDS.get(kind, "") not in convention:
        return None
    schema = result.failed_on
    others = sorted(
        c.name
        for c in (schema.constraints if schema is not None else ())
        if c.table == table and c.type == kind and c.name != name
    )
    if not others:
        return None
    called = " or ".join(repr(other) for other in others)
    return (
        f"{name!r} is the name PostgreSQL gave this unnamed {kind} constraint before the "
        f"project declared a naming_convention; on a fresh database the convention names it "
        f"{called}, so the revision fails wherever the history runs from scratch. Use a "
        f"name that holds in both: rename it in production and drop op.f({others[0]!r}), or "
        f"drop each name with ALTER TABLE {table} DROP CONSTRAINT IF EXISTS; or check from "
        "the production schema with bootstrap-sql"
    )


def _naming_convention(metadata: object) -> dict[object, object]:
    """The declared convention, or the union of several metadatas'; SQLAlchemy's default
    (indexes only) counts as none."""
    metadatas = metadata if isinstance(metadata, list | tuple) else [metadata]
    convention: dict[object, object] = {}
    for item in metadatas:
        convention.update(getattr(item, "naming_convention", None) or {})
    return convention


def _hint_for(direction: str) -> str:
    if direction == "downgrade":
        return "run the revision's downgrade() against its own upgrade() and fix the error shown"
    if direction == "re-upgrade":
        return "the downgrade leaves something behind that the upgrade then collides with"
    return "fix the statement shown; the revision must apply on an empty database"


def _function_line(project: Project, relpath: str | None, name: str) -> int | None:
    if relpath is None:
        return None
    for revision_file in project.revision_files():
        if revision_file.relpath == relpath:
            node = revision_file.function(name)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                return node.lineno
            return revision_file.revision_line
    return None
