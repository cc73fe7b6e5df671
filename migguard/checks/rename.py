"""``rename-as-drop-add``: a rename written as drop + add loses the data.

Alembic's autogenerate cannot see renames: a renamed column shows up as ``drop_column`` of the
old name and ``add_column`` of the new one, and a renamed table as ``drop_table`` +
``create_table``. Committed as is, the upgrade empties the column. The matcher
(:func:`find_renames`) reads :mod:`migguard.ops` records from three sources:

* :func:`from_source`: the revision file's ``upgrade()`` (static mode);
* :func:`from_ops`: the operations the upgrade actually invoked (loops and helper functions
  included), recorded by the runner, with each dropped column's type read from the database
  just before the drop;
* :func:`drift_renames`: autogenerate's proposed ``UpgradeOps`` when models drift.

An error must be provable, so the matcher is strict about what a rename is. A drop and an add
pair only when both types are known and of one family (statically a dropped column's type is
known from the ``downgrade()`` that adds it back; in a database run from the catalog), never by
order alone: several candidates are told apart by name similarity or by being adjacent in the
order the upgrade runs, and stay unpaired otherwise. Nothing is reported when the data was
handled: a statement that reads the dropped column or writes the added one, an ORM session,
the added column or table renamed to the dropped name later, or the table emptied on purpose
(``DELETE FROM``, ``TRUNCATE``). A pair that is likely but not proven (the table loses more
columns than it gains and the names are unrelated, or a statement the reader cannot see into
runs before the drop) is a warning. The database run does not yet prove the loss with rows
(the dropped column held values and the added one holds none of them): without rows in the
tables, an error stays limited to what the types and the absence of data movement prove.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from migguard import ops as oprecords
from migguard.findings import Finding, Severity
from migguard.ops import Column, Op
from migguard.rules import Needs, Phase, Rule, Scope, produces, register

if TYPE_CHECKING:
    from migguard.checks import RunContext, StaticContext
    from migguard.project import Project, RevisionFile
    from migguard.runner import RunResult

RENAME_AS_DROP_ADD = register(
    Rule(
        id="rename-as-drop-add",
        family="rename",
        scope=Scope.REVISION,
        needs=Needs.STATIC,
        summary=(
            "a revision drops a column or table and adds one of the same type without "
            "moving the data"
        ),
        severity=Severity.ERROR,
        what=(
            "Checks each revision's upgrade for a column dropped and another added to the "
            "same table with a type of the same family, or a table dropped and another "
            "created with the same column types, while no statement moves the data. Pairs "
            "are made by type, then by name similarity or by running back to back, never by "
            "order alone. An error when the types are known and nothing reads or copies the "
            "data; a warning when a statement migguard cannot read (SQL loaded from a file) "
            "runs in the same upgrade. Never reported: unknown types, data read or copied "
            "first (`op.get_bind().execute(...)`, a copy loop, an ORM session), the added "
            "column or table renamed to the dropped name later, a table emptied on purpose "
            "(`DELETE`, `TRUNCATE`), several columns dropped for one unrelated new one, "
            "tables of unknown shape and Alembic's `_alembic_tmp_` tables."
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
_NOT_TYPES = frozenset(
    {"ForeignKey", "Sequence", "Identity", "Computed", "FetchedValue", "DefaultClause", "NullType"}
)
# Alembic's batch mode copies a table into ``_alembic_tmp_<table>``: its own, not user data.
_BATCH_TEMPORARY = "_alembic_tmp_"
# Two names this alike (difflib's ratio, or one containing the other's stem) are one thing
# renamed: ``pages`` -> ``page_count``, ``is_active`` -> ``active``.
_SIMILAR = 0.6


def type_family(type_name: str | None) -> str | None:
    """The family of a type class name (``VARCHAR`` -> ``string``); None when unknown."""
    if not type_name or type_name in _NOT_TYPES:
        return None
    return _FAMILY_OF.get(type_name, type_name.lower())


@dataclass(frozen=True)
class Rename:
    """A drop and an add that together look like a rename. ``unread`` is the line of a
    statement the reader cannot see into that runs in the same upgrade: it may be the one
    that copies the data, so the loss is not proven and the finding is a warning."""

    dropped: Op
    added: Op
    unread: int | None = None

    @property
    def proven(self) -> bool:
        return self.unread is None

    @property
    def is_table(self) -> bool:
        return self.dropped.kind == "drop_table"

    @property
    def old_column(self) -> str:
        return self.dropped.column or ""

    @property
    def new_column(self) -> str:
        columns = self.added.columns or ()
        return columns[0].name if columns else ""


@dataclass(frozen=True)
class _Candidate:
    drop: int  # positions in the upgrade's ops
    add: int
    similarity: float


def find_renames(upgrade: Sequence[Op], evidence: Sequence[Op] = ()) -> list[Rename]:
    """Drops and adds of one upgrade that pair as renames (see the module docstring).

    ``evidence`` holds more data records of the same upgrade (the static reading's
    ``get_bind().execute(...)`` calls, which a database run does not record); they count
    wherever they are, since their position among the recorded operations is not known.
    """
    data = [op for op in upgrade if op.is_data] + [op for op in evidence if op.is_data]
    if any(op.kind == "orm_session" for op in data):
        return []  # ORM code moves rows in ways a reader cannot follow: the author handled it
    renames: list[Rename] = []
    for kind in ("column", "table"):
        candidates = _candidates(upgrade, data, kind)
        renames.extend(_pair(upgrade, data, candidates))
    return sorted(renames, key=lambda r: r.dropped.line or 0)


def _candidates(upgrade: Sequence[Op], data: Sequence[Op], kind: str) -> list[_Candidate]:
    drop_kind, add_kind = (
        ("drop_column", "add_column") if kind == "column" else ("drop_table", "create_table")
    )
    dropped_keys = {_key(op) for op in upgrade if op.kind == drop_kind}
    added_keys = {_key(op) for op in upgrade if op.kind == add_kind}
    found: list[_Candidate] = []
    for i, drop in enumerate(upgrade):
        if drop.kind != drop_kind or _key(drop) in added_keys or not _is_user_data(drop):
            continue
        if _data_handled(drop, data):
            continue
        for j, add in enumerate(upgrade):
            if add.kind != add_kind or _key(add) in dropped_keys or not _is_user_data(add):
                continue
            if not _same_place(drop, add) or _renamed_back(add, drop, upgrade):
                continue
            if _writes(add, data):
                continue
            if kind == "column" and not _same_column_type(drop, add):
                continue
            if kind == "table" and not _same_table_shape(drop, add):
                continue
            found.append(_Candidate(i, j, _similarity(_subject(drop), _subject(add))))
    return found


def _pair(upgrade: Sequence[Op], data: Sequence[Op], candidates: list[_Candidate]) -> list[Rename]:
    """Accept the pairs nothing else competes for; resolve the rest by name similarity or
    adjacency, and leave what stays ambiguous unpaired."""
    adjacent_pairs = _adjacent_pairs(candidates)
    renames: list[Rename] = []
    used_drops: set[int] = set()
    used_adds: set[int] = set()
    progress = True
    while progress:
        progress = False
        open_ = [c for c in candidates if c.drop not in used_drops and c.add not in used_adds]
        for candidate in sorted(open_, key=lambda c: (-c.similarity, c.drop, c.add)):
            rivals = [
                c
                for c in open_
                if c is not candidate and (c.drop == candidate.drop or c.add == candidate.add)
            ]
            drop, add = upgrade[candidate.drop], upgrade[candidate.add]
            if not _plausible(drop, add, upgrade, candidate.similarity):
                continue
            adjacent = (candidate.drop, candidate.add) in adjacent_pairs
            by_name = candidate.similarity >= _SIMILAR and all(
                c.similarity < candidate.similarity for c in rivals
            )
            if rivals and not by_name and not (adjacent and _balanced(drop, upgrade)):
                continue
            used_drops.add(candidate.drop)
            used_adds.add(candidate.add)
            renames.append(_judged(drop, add, data))
            progress = True
            break
    return sorted(renames, key=lambda r: upgrade.index(r.dropped))


def _adjacent_pairs(candidates: list[_Candidate]) -> set[tuple[int, int]]:
    """Candidates that run back to back (an add right before or after its drop, as a helper
    called once per column does), taken from the start without overlapping: in
    add, drop, add, drop the first add goes with the first drop."""
    by_position = {(c.drop, c.add) for c in candidates}
    taken: set[int] = set()
    pairs: set[tuple[int, int]] = set()
    for first in sorted({min(c.drop, c.add) for c in candidates}):
        if first in taken or first + 1 in taken:
            continue
        pair = next((p for p in ((first, first + 1), (first + 1, first)) if p in by_position), None)
        if pair is not None:
            pairs.add(pair)
            taken.update(pair)
    return pairs


def _plausible(drop: Op, add: Op, upgrade: Sequence[Op], similarity: float) -> bool:
    """Whether a same-typed drop and add can be one thing renamed at all.

    Tables: their names are alike or the created table keeps the dropped one's column names
    (two association tables of two integers are not a rename of each other). Columns: their
    names are alike, or the table loses as many columns as it gains (five unrelated columns
    dropped and one new setting added is a clean-up, not a rename).
    """
    if similarity >= _SIMILAR:
        return True
    if drop.kind == "drop_table":
        return _columns_kept(drop, add)
    return _balanced(drop, upgrade)


def _balanced(drop: Op, upgrade: Sequence[Op]) -> bool:
    """As many drops as adds of the drop's kind at its place (its table, or its schema)."""
    adds = "add_column" if drop.kind == "drop_column" else "create_table"
    place = [op for op in upgrade if _is_user_data(op) and _same_place(drop, op)]
    return sum(op.kind == drop.kind for op in place) == sum(op.kind == adds for op in place)


def _judged(drop: Op, add: Op, data: Sequence[Op]) -> Rename:
    """Proven, unless a statement the reader cannot see into runs in the upgrade: it may be
    the one that copies the data, so the rename is only likely (a warning)."""
    unread = next((op for op in data if op.data is not None and op.data.mentions is None), None)
    if unread is not None:
        return Rename(drop, add, unread.line or 0)
    return Rename(drop, add)


def _is_user_data(op: Op) -> bool:
    return op.table is not None and not op.table.startswith(_BATCH_TEMPORARY)


def _data_handled(drop: Op, data: Sequence[Op]) -> bool:
    """A statement reads the dropped column (or table), or empties the table first."""
    table = (drop.table or "").lower()
    for op in data:
        assert op.data is not None
        if table in op.data.emptied:
            return True
        if op.data.mentions is None:
            continue  # cannot tell: judged later, as a doubt
        subject = drop.column if drop.kind == "drop_column" else drop.table
        if subject and subject.lower() in op.data.mentions:
            return True
    return False


def _writes(add: Op, data: Sequence[Op]) -> bool:
    """A statement names the added column (or table): data was put into it."""
    subject = _subject(add).lower()
    return any(
        op.data is not None and op.data.mentions is not None and subject in op.data.mentions
        for op in data
    )


def _renamed_back(add: Op, drop: Op, upgrade: Sequence[Op]) -> bool:
    """The added column (table) is renamed to the dropped one's name in the same upgrade:
    the old data was copied across and the swap completed."""
    old, new = _subject(drop), _subject(add)
    for op in upgrade:
        column_back = (
            add.kind == "add_column"
            and op.kind == "alter_column"
            and (op.table, op.column, op.new_name) == (add.table, new, old)
        )
        table_back = add.kind == "create_table" and op.kind == "rename_table"
        if column_back or (table_back and (op.table, op.new_name) == (new, old)):
            return True
    return False


def _subject(op: Op) -> str:
    """The column a column operation is about, or the table."""
    if op.kind == "drop_column":
        return op.column or ""
    if op.kind == "add_column":
        return op.columns[0].name if op.columns else ""
    return op.table or ""


def _key(op: Op) -> tuple[str | None, str | None, str | None]:
    if op.kind in ("drop_column", "add_column"):
        return (op.schema, op.table, _subject(op))
    return (op.schema, op.table, None)


def _same_place(drop: Op, add: Op) -> bool:
    """Columns: the same table. Tables: the same schema (a rename does not move schemas)."""
    if drop.kind in ("drop_column", "add_column"):
        return (drop.schema, drop.table) == (add.schema, add.table)
    return drop.schema == add.schema


def _column_type(op: Op) -> str | None:
    if not op.columns:
        return None
    name = op.column if op.kind == "drop_column" else op.columns[0].name
    column = next((c for c in op.columns if c.name == name), op.columns[0])
    return type_family(column.type)


def _same_column_type(drop: Op, add: Op) -> bool:
    """Both types known and of one family: an unknown type never matches."""
    dropped, added = _column_type(drop), _column_type(add)
    return dropped is not None and dropped == added


def _families(columns: tuple[Column, ...] | None) -> Counter[str] | None:
    if columns is None:
        return None
    families = [type_family(c.type) for c in columns]
    if not families or None in families:
        return None
    return Counter(f for f in families if f is not None)


def _same_table_shape(drop: Op, add: Op) -> bool:
    """Every column's type known on both sides, the same families the same number of times.
    A dropped table whose shape is unknown (created outside the migrations, dropped behind an
    existence check) never matches."""
    dropped, created = _families(drop.columns), _families(add.columns)
    return dropped is not None and dropped == created


def _columns_kept(drop: Op, add: Op) -> bool:
    """At least half of the dropped table's column names come back in the created one."""
    old = {c.name for c in drop.columns or ()}
    new = {c.name for c in add.columns or ()}
    return bool(old) and len(old & new) * 2 >= len(old)


def _similarity(old: str, new: str) -> float:
    old, new = old.lower(), new.lower()
    ratio = difflib.SequenceMatcher(None, old, new).ratio()
    stem_old, stem_new = old.rstrip("s"), new.rstrip("s")
    if len(stem_old) >= 3 and len(stem_new) >= 3 and (stem_old in new or stem_new in old):
        return max(ratio, 0.8)
    return ratio


# --- findings and sentences -----------------------------------------------------------------


def _qualified(schema: str | None, table: str | None) -> str:
    return f"{schema}.{table}" if schema else str(table)


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
        table = _qualified(drop.schema, drop.table)
        old, new = f"{table}.{rename.old_column}", f"{table}.{rename.new_column}"
        message = (
            f"column {old} dropped and {new} added in the same revision: the data in {old} is lost"
        )
        hint = (
            f"op.alter_column({drop.table!r}, {rename.old_column!r}, "
            f"new_column_name={rename.new_column!r}{schema_kw})"
        )
    severity = None
    if not rename.proven:
        where = f" on line {rename.unread}" if rename.unread else ""
        message = message.replace(
            ": the data in",
            f": unless the statement{where} (which migguard cannot read) copies it, the data in",
        )
        severity = Severity.WARNING
    return Finding(
        rule=RENAME_AS_DROP_ADD.id,
        message=message,
        path=relpath,
        line=drop.line,
        revision=revision,
        hint=hint.replace("'", '"'),
        severity=severity,
    )


def drift_renames(upgrade_ops: Any) -> list[str]:
    """Sentences for the ``drift`` message: autogenerate's drops + adds that look like renames.

    ``upgrade_ops`` is ``produce_migrations(...).upgrade_ops`` (or any ``OpContainer``).
    """
    sentences = []
    records = oprecords.from_operations((op, None) for op in upgrade_ops.ops)
    for rename in find_renames(records):
        drop, add = rename.dropped, rename.added
        if rename.is_table:
            sentences.append(
                f"remove_table {_qualified(drop.schema, drop.table)} + add_table "
                f"{_qualified(add.schema, add.table)} looks like a rename; autogenerate cannot "
                "see renames, use op.rename_table(...)"
            )
        else:
            sentences.append(
                f"{_qualified(drop.schema, drop.table)}: remove_column {rename.old_column} + "
                f"add_column {rename.new_column} looks like a rename; autogenerate cannot see "
                "renames, use op.alter_column(..., new_column_name=...)"
            )
    return sentences


# --- the two readers ------------------------------------------------------------------------


def from_ops(
    revision: str, relpath: str, records: Sequence[Op], evidence: Sequence[Op] = ()
) -> list[Finding]:
    """Renames among the operations one upgrade invoked (the runner's records, each with its
    line in the revision, drops with their database types); ``evidence`` holds the data
    statements the static reading of the same ``upgrade()`` found, which run outside
    Alembic's operations."""
    return [_finding(rename, revision, relpath) for rename in find_renames(records, evidence)]


@produces(Phase.RUN, RENAME_AS_DROP_ADD)
def after_run(run: RunContext) -> list[Finding]:
    """Renames among the operations each upgrade invoked (the recorded ops)."""
    return from_run(run.result, run.project)


def from_run(result: RunResult, project: Project) -> list[Finding]:
    """Renames in every upgrade the database run recorded."""
    files = {f.revision: f for f in project.revision_files() if f.revision}
    findings: list[Finding] = []
    for revision, recorded in result.recorded_ops.items():
        if not any(op.kind in ("drop_column", "drop_table") for op in recorded):
            continue
        file = files.get(revision)
        # Alembic's own op.execute/bulk_insert are in the record, with their real SQL
        evidence = [
            op
            for op in (oprecords.read_revision(file) if file else [])
            if op.kind in ("statement", "orm_session", "call")
        ]
        findings += from_ops(revision, result.paths.get(revision, ""), recorded, evidence)
    return findings


@produces(Phase.STATIC_READING, RENAME_AS_DROP_ADD)
def static_reading(ctx: StaticContext) -> list[Finding]:
    """Without a run (``--static``), renames read from each revision's source."""
    return from_project(ctx.project)


def from_project(project: Project) -> list[Finding]:
    """Renames in every revision file, statically, with the types the history gives."""
    files = project.revision_files()
    history = column_types(files)
    findings: list[Finding] = []
    for file in files:
        findings += from_source(file, history)
    return findings


ColumnKey = tuple[str | None, str, str]


def column_types(files: Sequence[RevisionFile]) -> dict[ColumnKey, Column]:
    """Each column's definition where the revisions agree on it: every ``create_table`` and
    ``add_column`` that makes it gives one type family, and nothing changes its type
    (``alter_column(type_=...)``, or SQL that names it next to ``TYPE``). A column whose
    history is ambiguous is left out, so its drop pairs with nothing."""
    seen: dict[ColumnKey, list[Column]] = {}
    changed: set[ColumnKey] = set()
    retyped: set[str] = set()
    for file in files:
        for op in oprecords.read_revision(file, "upgrade"):
            if op.kind in ("create_table", "add_column") and op.table and op.columns:
                for column in op.columns:
                    seen.setdefault((op.schema, op.table, column.name), []).append(column)
            elif op.kind == "alter_column" and op.table and op.column and op.type:
                changed.add((op.schema, op.table, op.column))
            elif op.data is not None and op.data.mentions and "type" in op.data.mentions:
                retyped.update(op.data.mentions)
    known: dict[ColumnKey, Column] = {}
    for key, columns in seen.items():
        families = {type_family(c.type) for c in columns}
        steady = key not in changed and key[2].lower() not in retyped
        if steady and len(families) == 1 and None not in families:
            known[key] = columns[0]
    return known


def from_source(
    revision_file: RevisionFile, history: dict[ColumnKey, Column] | None = None
) -> list[Finding]:
    """Renames visible in ``upgrade()``'s source: literal table and column names only.

    A dropped column's type is taken from the ``downgrade()`` that adds it back (and a
    dropped table's columns from the ``create_table`` that recreates it), else from the
    revisions that created it (``history``, see :func:`column_types`); without that
    evidence the type is unknown and the drop pairs with nothing.
    """
    upgrade = oprecords.read_revision(revision_file, "upgrade")
    if not any(op.kind in ("drop_column", "drop_table") for op in upgrade):
        return []
    downgrade = oprecords.read_revision(revision_file, "downgrade")
    upgrade = _with_dropped_shapes(upgrade, downgrade, history or {})
    return [
        _finding(rename, revision_file.revision, revision_file.relpath)
        for rename in find_renames(upgrade)
    ]


def _with_dropped_shapes(
    upgrade: list[Op], downgrade: list[Op], history: dict[ColumnKey, Column]
) -> list[Op]:
    """Fill in what was dropped from what the downgrade puts back, or the history made."""
    from dataclasses import replace

    readded = {_key(op): op for op in downgrade if op.kind in ("add_column", "create_table")}
    result = []
    for op in upgrade:
        if op.kind in ("drop_column", "drop_table") and op.columns is None:
            back = readded.get(_key(op))
            if back is not None and back.columns is not None:
                op = replace(op, columns=back.columns)
            elif op.kind == "drop_column" and op.table and op.column:
                made = history.get((op.schema, op.table, op.column))
                if made is not None:
                    op = replace(op, columns=(made,))
        result.append(op)
    return result
