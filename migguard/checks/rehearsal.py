"""The production rehearsal's rules: what a revision did to tables that already held rows.

Each rule reads what :mod:`migguard.rehearsal` observed on the server while the revision's
upgrade ran statement by statement on tables holding generated rows: the locks taken, the
tables rewritten and scanned, the constraints validated, the upgrade failing only with rows.
Tables the revision creates itself are never looked at (no rows, no readers). Every finding
names the line of the ``op.*`` call that sent the statement and the server it was observed on.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from migguard.findings import Finding, Severity
from migguard.rehearsal import probe
from migguard.rules import Needs, Phase, Rule, Scope, produces, register

if TYPE_CHECKING:
    from migguard.checks import RunContext, StaticContext
    from migguard.rehearsal.observe import Statement
    from migguard.rehearsal.step import Rehearsal, Rehearsed

_FAMILY = "rehearsal"

UPGRADE_FAILS_WITH_ROWS = register(
    Rule(
        id="upgrade-fails-with-rows",
        family=_FAMILY,
        scope=Scope.REVISION,
        needs=Needs.REHEARSAL,
        summary="the upgrade succeeds on empty tables and fails once they hold rows",
        severity=Severity.ERROR,
        what="Before the upgrade of a rehearsed revision, every existing table gets a few "
        "rows generated from the catalog (nullable columns hold NULLs too). When the upgrade "
        "then fails, it is rolled back and run again on the empty tables; if it succeeds "
        "there, the rows caused the failure, and the database's error is reported at the "
        "line that sent the statement: as an error when a column the statement adds as NOT "
        "NULL without a default met existing rows (that fails whatever they hold), as a "
        "warning when generated values broke it (NULLs before SET NOT NULL, a foreign key, "
        "check, cast or unique constraint: the project's own values may not).",
        why="Tests and CI run migrations on empty tables; production has rows. A NOT NULL "
        "column without a default, a cast some values do not survive or a unique constraint "
        "over duplicates passes everywhere except where it matters, half-way through a "
        "deploy.",
        example='def upgrade():\n    op.add_column("products", sa.Column("stock", '
        "sa.Integer(), nullable=False))",
        use_instead='def upgrade():\n    op.add_column("products", sa.Column("stock", '
        "sa.Integer(), nullable=True))\n"
        '    op.execute("UPDATE products SET stock = 0 WHERE stock IS NULL")\n'
        '    op.alter_column("products", "stock", nullable=False)',
    )
)
TABLE_REWRITE = register(
    Rule(
        id="table-rewrite",
        family=_FAMILY,
        scope=Scope.REVISION,
        needs=Needs.REHEARSAL,
        summary="a statement rewrote an existing table under an ACCESS EXCLUSIVE lock",
        severity=Severity.WARNING,
        what="Reports a statement after which an existing table's relfilenode changed: "
        "PostgreSQL wrote the whole table anew (a type change that is not binary-coercible, "
        "a volatile default such as clock_timestamp(), an identity or stored generated "
        "column), holding an ACCESS EXCLUSIVE lock the whole time.",
        why="Rewriting a large table takes as long as copying it, and nothing can read or "
        "write the table meanwhile: the application stalls for the duration.",
        example='def upgrade():\n    op.alter_column("events", "id", type_=sa.BigInteger())',
        use_instead="def upgrade():  # expand; backfill in batches; switch; drop the old one\n"
        '    op.add_column("events", sa.Column("id_new", sa.BigInteger()))',
    )
)
INDEX_WITHOUT_CONCURRENTLY = register(
    Rule(
        id="index-without-concurrently",
        family=_FAMILY,
        scope=Scope.REVISION,
        needs=Needs.REHEARSAL,
        summary="an index built on an existing table without CONCURRENTLY (blocks writes)",
        severity=Severity.WARNING,
        what="Reports an index that appeared on a table that existed before the revision, "
        "built under a SHARE lock (or stronger) instead of CONCURRENTLY. Indexes on tables "
        "the revision creates are not reported.",
        why="CREATE INDEX holds a SHARE lock on the table until the index is built: every "
        "INSERT, UPDATE and DELETE waits, for minutes on a large table.",
        example='def upgrade():\n    op.create_index("ix_orders_customer_id", "orders", '
        '["customer_id"])',
        use_instead="def upgrade():\n    with op.get_context().autocommit_block():\n"
        '        op.create_index("ix_orders_customer_id", "orders", ["customer_id"], '
        "postgresql_concurrently=True)",
    )
)
VALIDATION_UNDER_LOCK = register(
    Rule(
        id="validation-under-lock",
        family=_FAMILY,
        scope=Scope.REVISION,
        needs=Needs.REHEARSAL,
        summary="a constraint scanned an existing table while holding a lock that blocks writes",
        severity=Severity.WARNING,
        what="Reports a CHECK, FOREIGN KEY, NOT NULL, UNIQUE or PRIMARY KEY that PostgreSQL "
        "verified against every row of an existing table (the table was scanned) while the "
        "revision held a lock on it that blocks writes.",
        why="The verification reads the whole table; under ACCESS EXCLUSIVE or SHARE ROW "
        "EXCLUSIVE the application cannot write to it (or read it) until the scan ends.",
        example='def upgrade():\n    op.create_foreign_key("fk_orders_customer", "orders", '
        '"customers", ["customer_id"], ["id"])',
        use_instead='def upgrade():\n    op.create_foreign_key("fk_orders_customer", "orders", '
        '"customers", ["customer_id"], ["id"], postgresql_not_valid=True)\n'
        "    with op.get_context().autocommit_block():\n"
        '        op.execute("ALTER TABLE orders VALIDATE CONSTRAINT fk_orders_customer")',
    )
)
MISSING_LOCK_TIMEOUT = register(
    Rule(
        id="missing-lock-timeout",
        family=_FAMILY,
        scope=Scope.REVISION,
        needs=Needs.REHEARSAL,
        summary="ACCESS EXCLUSIVE taken on an existing table with lock_timeout = 0",
        severity=Severity.WARNING,
        what="Reports the first statement of a revision that takes an ACCESS EXCLUSIVE lock "
        "on an existing table while the session's lock_timeout, as the server reports it, is "
        "0 (migguard's own safety limit on the throwaway database does not count).",
        why="Behind one long-running query the ALTER waits for its lock, and every query on "
        "the table queues behind the ALTER: a lock queue that takes the application down "
        "although the migration itself is instant.",
        example='def upgrade():\n    op.add_column("orders", sa.Column("note", sa.Text()))',
        use_instead="def upgrade():\n    op.execute(\"SET LOCAL lock_timeout = '5s'\")\n"
        '    op.add_column("orders", sa.Column("note", sa.Text()))',
    )
)

_TRUNCATE = re.compile(r"^\s*TRUNCATE\b", re.IGNORECASE)
_CONCURRENTLY = re.compile(r"\bCONCURRENTLY\b", re.IGNORECASE)
_KIND = {"c": "CHECK", "f": "FOREIGN KEY", "u": "UNIQUE", "p": "PRIMARY KEY", "x": "EXCLUDE"}


_RULES = (
    UPGRADE_FAILS_WITH_ROWS,
    TABLE_REWRITE,
    INDEX_WITHOUT_CONCURRENTLY,
    VALIDATION_UNDER_LOCK,
    MISSING_LOCK_TIMEOUT,
)


@produces(Phase.RUN, *_RULES)
def check(run: RunContext) -> list[Finding]:
    """The findings of every rehearsed revision; its notes say which tables stayed empty."""
    rehearsal: Rehearsal | None = run.result.rehearsal
    if rehearsal is None:
        return []
    findings: list[Finding] = []
    for rehearsed in rehearsal.rehearsed:
        path = run.result.paths.get(rehearsed.revision)
        on = f"observed on PostgreSQL {rehearsal.server_version}"
        findings += _failure(rehearsed, path)
        findings += _statement_findings(rehearsed, path, on)
        run.notes.extend(rehearsed.notes)
    return findings


def _finding(rule: Rule, rehearsed: Rehearsed, path: str | None, line: int | None,
             message: str, hint: str, anchor: str) -> Finding:  # fmt: skip
    return Finding(
        rule=rule.id,
        message=f"revision {rehearsed.revision}: {message}",
        path=path,
        line=line,
        revision=rehearsed.revision,
        hint=hint,
        anchor=anchor,
    )


def _failure(rehearsed: Rehearsed, path: str | None) -> list[Finding]:
    failure = rehearsed.failure
    if failure is None:
        return []
    found = _finding(
        UPGRADE_FAILS_WITH_ROWS,
        rehearsed,
        path,
        failure.line,
        f"upgrade fails once the tables hold rows: {failure.error} (it succeeds on empty tables)",
        _failure_hint(failure.error, failure.sql),
        failure.error,
    )
    if not _fails_on_any_rows(failure.error, failure.sql):
        found = replace(
            found,
            message=found.message + "; the values were migguard's, so whether yours break it "
            "too depends on them",
            severity=Severity.WARNING,
        )
    return [found]


_ADDS_COLUMN = re.compile(r"\bADD\s+(COLUMN\s+)?(?!CONSTRAINT\b)", re.IGNORECASE)


def _fails_on_any_rows(error: str, sql: str | None) -> bool:
    """Only a column the statement itself adds as NOT NULL, without a default, fails whatever
    the rows hold: every existing row gets NULL there. That is an error. Everything else
    depends on values migguard made up: NULLs in an existing nullable column (production may
    have none before SET NOT NULL), a foreign key, check, cast or unique constraint the
    generated values broke, a data migration copying them. A warning."""
    lowered = error.lower()
    null_met = "null value" in lowered or "contains null values" in lowered
    return null_met and sql is not None and _ADDS_COLUMN.search(sql) is not None


def _failure_hint(error: str, sql: str | None) -> str:
    lowered = error.lower()
    if "contains null values" in lowered and sql and "SET NOT NULL" in sql.upper():
        return (
            "if no row can be NULL there, this is safe; otherwise backfill first in the same "
            "revision, op.execute(UPDATE ... SET col = ... WHERE col IS NULL), then "
            "alter_column(..., nullable=False)"
        )
    if "null value" in lowered or "contains null values" in lowered:
        return (
            "add the column nullable (or with a server_default), backfill it with "
            "op.execute(UPDATE ...), then alter_column(..., nullable=False), in that order"
        )
    if "could not create unique index" in lowered or "duplicate key" in lowered:
        return "remove or merge the duplicate rows first, in the same revision, then add it"
    if "invalid input syntax" in lowered or "cannot be cast" in lowered:
        return "convert with postgresql_using=... that handles every existing value"
    if "violates check constraint" in lowered or "violates foreign key" in lowered:
        return (
            "fix the existing rows first, or add the constraint with postgresql_not_valid=True "
            "and validate it once the data is clean"
        )
    return "make the upgrade work on tables that hold rows (backfill before constraining)"


def _statement_findings(rehearsed: Rehearsed, path: str | None, on: str) -> list[Finding]:
    findings: list[Finding] = []
    lock_timeout_reported = False
    for statement in rehearsed.statements:
        if statement.error is not None:
            continue
        for change in statement.changes:
            table = rehearsed.tables.get(change.oid)
            if table is None:
                continue
            label = table.label
            findings += _rewrite(rehearsed, path, statement, change, label, on)
            findings += _index(rehearsed, path, statement, change, label, on)
            findings += _validation(rehearsed, path, statement, change, label, on)
            if not lock_timeout_reported:
                found = _lock_timeout(rehearsed, path, statement, change, label, on)
                lock_timeout_reported = bool(found)
                findings += found
    return findings


def _lock_words(statement: Statement, change: probe.Change) -> str:
    mode = change.strongest
    if statement.autocommit or mode is None:
        return "outside a transaction (its lock is released before it can be read)"
    return f"under {probe.MODE_NAMES[mode]} ({probe.blocks(mode)})"


def _rewrite(rehearsed: Rehearsed, path: str | None, statement: Statement,
             change: probe.Change, label: str, on: str) -> list[Finding]:  # fmt: skip
    if not change.rewritten or _TRUNCATE.match(statement.sql):
        return []
    return [
        _finding(
            TABLE_REWRITE,
            rehearsed,
            path,
            statement.line,
            f"table {label} was rewritten {_lock_words(statement, change)}: "
            f"{_summary(statement.sql)}; {on}",
            "avoid the rewrite: add a new column and backfill it in batches instead of "
            "changing the type, or add the column without a volatile default and set it after",
            f"table-rewrite:{label}:{_summary(statement.sql)}",
        )
    ]


def _index(rehearsed: Rehearsed, path: str | None, statement: Statement,
           change: probe.Change, label: str, on: str) -> list[Finding]:  # fmt: skip
    if not change.new_indexes:
        return []
    if any(k.type in ("u", "p", "x") for k in change.checked_constraints):
        return []  # a constraint's own index: validation-under-lock says it
    if statement.autocommit:
        if _CONCURRENTLY.search(statement.sql):
            return []
    elif not any(mode in probe.WRITE_BLOCKING for mode in change.held):
        return []
    return [
        _finding(
            INDEX_WITHOUT_CONCURRENTLY,
            rehearsed,
            path,
            statement.line,
            f"index built on existing table {label} without CONCURRENTLY "
            f"{_lock_words(statement, change)}: {_summary(statement.sql)}; {on}",
            "build it with postgresql_concurrently=True inside "
            "`with op.get_context().autocommit_block():`",
            f"index:{label}:{_summary(statement.sql)}",
        )
    ]


def _validation(rehearsed: Rehearsed, path: str | None, statement: Statement,
                change: probe.Change, label: str, on: str) -> list[Finding]:  # fmt: skip
    if not change.validated_something or not change.scans:
        return []
    mode = change.strongest
    if statement.autocommit or mode not in probe.WRITE_BLOCKING:
        return []
    what = [f'NOT NULL on column "{name}"' for name in change.not_null_columns]
    what += [f'{_KIND.get(k.type, k.type)} "{k.name}"' for k in change.checked_constraints]
    return [
        _finding(
            VALIDATION_UNDER_LOCK,
            rehearsed,
            path,
            statement.line,
            f"{', '.join(what)} scanned existing table {label} "
            f"{_lock_words(statement, change)}; {on}",
            _validation_hint(change),
            f"validation:{label}:{','.join(sorted(what))}",
        )
    ]


def _validation_hint(change: probe.Change) -> str:
    kinds = {k.type for k in change.checked_constraints}
    if change.not_null_columns and not kinds:
        return (
            "add CHECK (column IS NOT NULL) with postgresql_not_valid=True, VALIDATE it in its "
            "own transaction, then SET NOT NULL (PostgreSQL 12+ skips the scan)"
        )
    if kinds & {"u", "p"}:
        return (
            "create the unique index with postgresql_concurrently=True in an "
            "autocommit_block(), then add the constraint USING INDEX"
        )
    return (
        "add it with postgresql_not_valid=True, then VALIDATE CONSTRAINT in its own "
        "transaction (an autocommit_block() or the next revision)"
    )


def _lock_timeout(rehearsed: Rehearsed, path: str | None, statement: Statement,
                  change: probe.Change, label: str, on: str) -> list[Finding]:  # fmt: skip
    if "AccessExclusiveLock" not in change.taken or statement.lock_timeout not in ("0", "0ms"):
        return []
    return [
        _finding(
            MISSING_LOCK_TIMEOUT,
            rehearsed,
            path,
            statement.line,
            f"ACCESS EXCLUSIVE lock on existing table {label} (blocks reads and writes) "
            f"taken with lock_timeout = 0: {_summary(statement.sql)}; {on}",
            'set a lock_timeout before the first ALTER: op.execute("SET LOCAL lock_timeout = '
            "'5s'\") in upgrade(), or once for every revision in env.py",
            f"lock-timeout:{label}",
        )
    ]


def _summary(sql: str) -> str:
    """The statement on one line, shortened."""
    text = " ".join(sql.split())
    return text if len(text) <= 90 else text[:87] + "..."


_STATIC = "static reading of the source (--static); a run on the database observes it instead"


@produces(Phase.STATIC_READING, *_RULES[:-1])
def static_reading(ctx: StaticContext) -> list[Finding]:
    """``--static``: the rehearsal rules read from each revision's operations, where the text
    makes them likely. Only the database run, which sees what PostgreSQL does (a backfill
    before the NOT NULL, a fast default, a binary-coercible type), proves one; these are
    warnings that say they are a static reading, and a database run replaces them."""
    from migguard import ops

    findings: list[Finding] = []
    for file in ctx.project.revision_files():
        findings += from_ops(ops.read_revision(file), file.relpath, file.revision)
    return findings


def from_ops(records: list[Any], path: str | None, revision: str | None) -> list[Finding]:
    """The static readings of one revision's operation records (:mod:`migguard.ops`)."""
    findings: list[Finding] = []
    created: set[str] = set()
    for op in records:
        table = op.batch_table or op.table
        if op.kind == "create_table" and table:
            created.add(table)
            continue
        if table is None or table in created:
            continue  # a table the revision creates has no rows and no readers
        reading = _static_reading(op, table)
        if reading is None:
            continue
        rule, message, hint = reading
        findings.append(
            Finding(
                rule=rule.id,
                message=f"revision {revision}: {message} ({_STATIC})",
                path=path,
                line=op.line,
                revision=revision,
                hint=hint,
                severity=Severity.WARNING,
                anchor=f"static:{table}:{message}",
            )
        )
    return findings


def _static_reading(op: Any, table: str) -> tuple[Rule, str, str] | None:
    if op.kind == "create_index" and op.option("postgresql_concurrently", False) is False:
        return (
            INDEX_WITHOUT_CONCURRENTLY,
            f"index on existing table {table} without postgresql_concurrently=True",
            "build it with postgresql_concurrently=True inside "
            "`with op.get_context().autocommit_block():`",
        )
    if op.kind == "add_column" and op.columns:
        column = op.columns[0]
        if column.nullable is False and not column.has_server_default and not column.primary_key:
            return (
                UPGRADE_FAILS_WITH_ROWS,
                f'column "{column.name}" added to existing table {table} as NOT NULL without '
                "a server_default: fails once the table holds rows",
                _failure_hint("contains null values", None),
            )
    if op.kind == "alter_column" and op.option("type_") is not None:
        return (
            TABLE_REWRITE,
            f'type of column "{op.column}" of existing table {table} changed: PostgreSQL '
            "rewrites the table unless the cast is binary-coercible",
            "add a new column and backfill it in batches instead of changing the type",
        )
    if op.kind in ("create_foreign_key", "create_check_constraint") and (
        op.option("postgresql_not_valid", False) is False
    ):
        kind = "foreign key" if op.kind == "create_foreign_key" else "check constraint"
        return (
            VALIDATION_UNDER_LOCK,
            f"{kind} on existing table {table} without postgresql_not_valid=True: validated "
            "against every row under a lock that blocks writes",
            "add it with postgresql_not_valid=True, then VALIDATE CONSTRAINT in its own "
            "transaction (an autocommit_block() or the next revision)",
        )
    return None
