"""A few rows in every empty table that exists before a revision, written in one round trip;
the one generator of rows in migguard (the deploy check fills the tables at a head with
:func:`fill_every_table` and takes the values its ORM objects write from :func:`one_more_row`).

Each table gets one ``INSERT ... SELECT`` over candidate rows (:mod:`.values`): the rows that
would break a NOT NULL column or a check constraint are filtered out by the constraints' own
expressions, unique conflicts are skipped (``ON CONFLICT DO NOTHING``), foreign keys point at
rows of the parent (filled first), and at most :data:`ROWS` rows go in. Nothing here may fail
the revision: the statements are built so that PostgreSQL accepts them, and when one is
refused anyway (a trigger, an exclusion constraint, a partition that takes no row) the fill
starts over without that table, which is left empty with a note.

The statements run as top-level statements of the revision's transaction, without savepoints:
a subtransaction would hand out transaction ids that no DDL accounts for, and the schema
tracker would then re-read the whole catalog at the next snapshot.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from migguard.rehearsal import catalog, values
from migguard.rehearsal.catalog import Column, Table, quote

ROWS = 3
_VALUE = re.compile(r"\bVALUE\b")


@dataclass
class Fill:
    """What the fill did: the tables written to, parents first, the tables that hold no row
    afterwards, each with why, and the first row of the statement asked for after it;
    ``read_after``: it read tables after that statement (to tell one that already held rows
    from one left empty), which a reading of their scans in that row does not include."""

    order: list[int] = field(default_factory=list)
    empty: dict[int, str] = field(default_factory=dict)
    then: Any = None
    read_after: bool = False


def fill(
    cursor_for: Callable[[], Any],
    tables: list[Table],
    restart: Callable[[], None],
    *,
    batched: bool,
    known: list[Table] = (),  # type: ignore[assignment]
    then: str = "SELECT NULL",
    holding: Callable[[Any], set[int]] = lambda row: set(),
) -> Fill:
    """Insert rows into every empty table of ``tables``.

    ``cursor_for()`` gives a DBAPI cursor of the revision's connection; ``restart()`` rolls
    the revision's transaction back and begins a new one (nothing else has run in it yet);
    ``batched``: the driver takes several statements in one call (psycopg2); ``known``:
    tables not to fill whose rows foreign keys may point at (filled earlier, or holding
    what they hold: a foreign key to an empty one stays NULL); ``then``: a statement run
    right after the inserts (in the same round trip when batched), its first row kept in
    :attr:`Fill.then`; ``holding(row)``: the tables that row already shows to hold rows
    (the observer's reading counts the inserts), which are then not looked at again."""
    result = Fill()
    by_oid = {t.oid: t for t in [*known, *tables]}
    statements: dict[int, str] = {}
    for table in _parents_first([t for t in tables if not t.partition]):
        statement, reason = insert_statement(table, by_oid)
        if statement is None:
            result.empty[table.oid] = reason
        else:
            statements[table.oid] = statement
    kept, row = _run(cursor_for, statements, then, restart, result, batched=batched)
    result.order = kept
    result.then = row
    held = holding(row)
    unknown = [oid for oid in kept if oid not in held]
    result.read_after = bool(unknown)
    present_rows = _hold_rows(cursor_for, [by_oid[oid] for oid in unknown])
    for oid, present in zip(unknown, present_rows, strict=True):
        if not present:
            result.empty[oid] = "no generated row satisfied its constraints"
    return result


def _hold_rows(cursor_for: Callable[[], Any], tables: list[Table]) -> list[bool]:
    """Whether each of ``tables`` holds a row."""
    if not tables:
        return []
    checks = ", ".join(f"EXISTS (SELECT 1 FROM {t.qualified})" for t in tables)
    cursor = cursor_for()
    try:
        cursor.execute(f"SELECT ARRAY[{checks}]::boolean[]")
        return [bool(present) for present in cursor.fetchone()[0]]
    finally:
        cursor.close()


def fill_every_table(dbapi: Any, *, batched: bool) -> tuple[list[Table], dict[int, str]]:
    """Rows in every empty table of the project, on ``dbapi`` (a DBAPI connection whose
    transaction nothing has written in yet: a refused insert rolls it back), for the deploy
    check, which meets the schema at a head rather than before one revision's statements.
    The tables as the catalog describes them, and the ones left empty, each with why."""
    cursor = dbapi.cursor()
    try:
        names = catalog.table_names(cursor)
        tables = catalog.read_tables(cursor, oids=[n.oid for n in names])
    finally:
        cursor.close()
    done = fill(dbapi.cursor, tables, dbapi.rollback, batched=batched)
    return tables, done.empty


def _run(
    cursor_for: Callable[[], Any],
    statements: dict[int, str],
    final: str,
    restart: Callable[[], None],
    result: Fill,
    *,
    batched: bool,
) -> tuple[list[int], Any]:
    """Execute the inserts, then ``final``; the oids whose insert went in, and the row of
    ``final``. When an insert is refused, the transaction starts over and the others run
    again without it, one at a time."""
    pending = dict(statements)
    if batched:
        cursor = cursor_for()
        try:
            cursor.execute(";\n".join([*pending.values(), final]))
            return list(pending), cursor.fetchone()
        except Exception:
            restart()  # which table it was is found below, one statement at a time
        finally:
            cursor.close()
    while True:
        refused, row = _first_refused(cursor_for, [*pending.items(), (None, final)])
        if refused is None:
            return list(pending), row
        oid, error = refused
        if oid is None:  # the final statement itself: nothing to leave out
            raise RuntimeError(error)
        restart()
        result.empty[oid] = f"PostgreSQL refused the generated rows ({error})"
        del pending[oid]


def _first_refused(
    cursor_for: Callable[[], Any], statements: list[tuple[int | None, str]]
) -> tuple[tuple[int | None, str] | None, Any]:
    """Run ``statements`` in order: the (oid, error) of the first refused, or the last row."""
    cursor = cursor_for()
    try:
        for oid, statement in statements:
            try:
                cursor.execute(statement)
            except Exception as exc:
                return (oid, _first_line(exc)), None
        return None, cursor.fetchone()
    finally:
        cursor.close()


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def insert_statement(table: Table, tables: dict[int, Table]) -> tuple[str | None, str]:
    """The INSERT for ``table``, or None and why no row can be written."""
    columns = _fill_columns(table)
    if not columns:
        return None, "it has no column migguard can write"
    sources, picks = _parent_arrays(table, tables)
    rows = _candidates(table, tables, columns, range(ROWS), picks=picks)
    for column, cells in zip(columns, zip(*rows, strict=True), strict=True):
        if column.not_null and None in cells:
            return None, f'column "{column.name}" has a type ({column.type}) ' + (
                "migguard cannot generate"
            )
    names = ", ".join(quote(c.name) for c in columns)
    where = " AND ".join(
        [f"NOT EXISTS (SELECT 1 FROM {table.qualified})", *_filters(table, columns)]
    )
    selected = ", ".join(f"v.{quote(c.name)}" for c in columns)
    return (
        f"INSERT INTO {table.qualified} ({names}) SELECT {selected} FROM "
        f"{_with_parent_rows(columns, rows, sources, picks)} AS v(_migguard_k, {names}) "
        f"WHERE {where} ORDER BY v._migguard_k LIMIT {ROWS} ON CONFLICT DO NOTHING"
    ), ""


def _with_parent_rows(
    columns: list[Column],
    rows: list[list[str | None]],
    sources: list[tuple[str, str]],
    picks: dict[int, tuple[str, str]],
) -> str:
    """The candidate rows as a subquery, each foreign-key cell (which holds the number of a
    parent row) replaced by that row's value from :func:`_parent_arrays`. The parent's rows
    are read once per foreign key, into one array per column: a subquery per cell made the
    planning of the INSERT cost more than running it."""
    if not picks:
        return f"(VALUES {_values(rows)})"
    names = ", ".join(quote(c.name) for c in columns)
    candidates = f"(VALUES {_values(rows)}) AS c(_migguard_k, {names})"
    cells = ["c._migguard_k"]
    for column in columns:
        pick = picks.get(column.num)
        if pick is None:
            cells.append(f"c.{quote(column.name)}")
        else:
            alias, array = pick
            cells.append(
                f"({alias}.{array})[1 + c.{quote(column.name)} "
                f"% greatest(cardinality({alias}.{array}), 1)]"
            )
    joins = " ".join(f"CROSS JOIN ({source}) AS {alias}" for alias, source in sources)
    return f"(SELECT {', '.join(cells)} FROM {candidates} {joins})"


def _parent_arrays(
    table: Table, tables: dict[int, Table]
) -> tuple[list[tuple[str, str]], dict[int, tuple[str, str]]]:
    """Per foreign key whose parent is known, an alias and the query reading the parent's key
    columns as arrays ``a0``, ``a1``..., all in the order of the key; and per foreign-key
    column, the (alias, array) its value is picked from (the first key it belongs to)."""
    sources: list[tuple[str, str]] = []
    picks: dict[int, tuple[str, str]] = {}
    for number, fk in enumerate(table.foreign_keys):
        parent = tables.get(fk.parent)
        if parent is None:
            continue
        alias = f"f{number}"
        keys = [parent.column(n) for n in fk.parent_columns]
        order = ", ".join(quote(c.name) for c in keys if c is not None)
        arrays = []
        for i, (num, key) in enumerate(zip(fk.columns, keys, strict=False)):
            if key is not None:
                arrays.append(f"array_agg(p.{quote(key.name)} ORDER BY {order}) AS a{i}")
                picks.setdefault(num, (alias, f"a{i}"))
        if arrays:
            sources.append((alias, f"SELECT {', '.join(arrays)} FROM {parent.qualified} p"))
    return sources, picks


def one_more_row(cursor: Any, table: Table, tables: dict[int, Table], row: int) -> dict[str, str]:
    """The literals of one row past the ones the fill writes (``row`` >= :data:`ROWS`, so
    it differs from them wherever a column can differ), for code that writes the row itself
    (the deploy check's ORM objects): the first candidate, over the same profiles, that the
    table's NOT NULL and check constraints accept, asked of the database through ``cursor``
    (a DBAPI cursor). Keyed by column name, for every column a value can be made for
    (identity and generated ones excepted), defaults or not: the caller decides which it
    sets. A candidate whose unique keys the table already holds is passed over. When no
    candidate passes, the first profile's, for the database to refuse."""
    columns = [c for c in table.columns if not (c.identity or c.generated)]
    rows = _candidates(table, tables, columns, [row])
    known = [i for i, c in enumerate(columns) if all(r[i] is not None for r in rows)]
    columns = [columns[i] for i in known]
    rows = [[r[i] for i in known] for r in rows]
    if not columns:
        return {}
    names = ", ".join(quote(c.name) for c in columns)
    by_num = {c.num: c for c in columns}
    taken = [
        f"NOT EXISTS (SELECT 1 FROM {table.qualified} t WHERE "
        + " AND ".join(f"t.{quote(by_num[n].name)} = v.{quote(by_num[n].name)}" for n in key)
        + ")"
        for key in table.unique
        if key and all(n in by_num for n in key)
    ]
    where = " AND ".join([*_filters(table, columns), *taken]) or "true"
    cursor.execute(
        f"SELECT v._migguard_k FROM (VALUES {_values(rows)}) AS v(_migguard_k, {names}) "
        f"WHERE {where} ORDER BY v._migguard_k LIMIT 1"
    )
    found = cursor.fetchone()
    chosen = rows[int(found[0]) if found else 0]
    return {c.name: str(cell) for c, cell in zip(columns, chosen, strict=True)}


def _fill_columns(table: Table) -> list[Column]:
    parents = {num for fk in table.foreign_keys for num in fk.columns}
    in_checks = {num for check in table.checks for num in check.columns}
    return [c for c in table.columns if _written(c, c.num in parents or c.num in in_checks)]


def _candidates(
    table: Table,
    tables: dict[int, Table],
    columns: list[Column],
    numbers: Iterable[int],
    *,
    picks: dict[int, tuple[str, str]] | None = None,
) -> list[list[str | None]]:
    """Candidate rows (every profile for each row number, in the order to try them): a
    literal per column, None where no value of its type can be written. A foreign-key
    column's cell reads its value from the parent; a column in ``picks``
    (:func:`_parent_arrays`) holds the number of the parent row instead, and
    :func:`_with_parent_rows` picks the value."""
    parents = {num: fk for fk in table.foreign_keys for num in fk.columns}
    picks = picks or {}
    numbers = list(numbers)
    rows: list[list[str | None]] = []
    for profile in range(values.PROFILES):
        for row in numbers:
            cells: list[str | None] = []
            for column in columns:
                fk = parents.get(column.num)
                if column.num in picks:
                    null = values.left_null(column, row, profile)
                    cells.append("NULL::int" if null else str(row))
                elif fk is not None and fk.parent in tables:
                    cells.append(_parent_value(column, fk, tables, row, profile))
                else:
                    cells.append(values.candidate(column, row, profile, _checks_on(table, column)))
            rows.append(cells)
    return rows


def _values(rows: list[list[str | None]]) -> str:
    """``(k, cell, ...)`` rows for a VALUES list, k numbering them; no value is NULL."""
    return ", ".join(
        "(" + ", ".join([str(k), *(c if c is not None else "NULL" for c in cells)]) + ")"
        for k, cells in enumerate(rows)
    )


def _filters(table: Table, columns: list[Column]) -> list[str]:
    """What a candidate row ``v`` must pass: the NOT NULL columns, the check constraints on
    the columns written, the domains' checks."""
    filters = [f"v.{quote(c.name)} IS NOT NULL" for c in columns if c.not_null]
    written = {c.num for c in columns}
    for check in table.checks:
        if set(check.columns) <= written:
            filters.append(f"({check.expression}) IS NOT FALSE")
    for column in columns:
        for expression in column.domain_checks:
            filters.append(f"({_VALUE.sub('v.' + quote(column.name), expression)}) IS NOT FALSE")
    return filters


def _written(column: Column, needed: bool) -> bool:
    """Identity and generated columns take their value from the server; columns with a
    default keep it, unless a foreign key or a check constraint needs a chosen value."""
    if column.identity or column.generated:
        return False
    return needed or not column.has_default


def _checks_on(table: Table, column: Column) -> list[str]:
    found = [c.expression for c in table.checks if column.num in c.columns]
    return found + list(column.domain_checks)


def _parent_value(column: Column, fk: Any, tables: dict[int, Table], row: int, profile: int) -> str:
    """A value of an existing parent row: the same parent row for every column of one
    foreign key, a different one per generated row while the parent has that many."""
    if values.left_null(column, row, profile):
        return "NULL"
    parent = tables[fk.parent]
    index = fk.columns.index(column.num)
    parent_column = parent.column(fk.parent_columns[index])
    if parent_column is None:
        return "NULL"
    order = ", ".join(
        quote(c.name) for c in (parent.column(n) for n in fk.parent_columns) if c is not None
    )
    return (
        f"(SELECT p.{quote(parent_column.name)} FROM {parent.qualified} p ORDER BY {order} "
        f"LIMIT 1 OFFSET {row} % (SELECT greatest(count(*), 1) FROM {parent.qualified}))"
    )


def _parents_first(tables: list[Table]) -> list[Table]:
    """Foreign-key order (parents before children); a cycle keeps its tables' catalog order."""
    present = {t.oid for t in tables}
    ordered: list[Table] = []
    placed: set[int] = set()
    remaining = list(tables)
    while remaining:
        ready = [
            t
            for t in remaining
            if all(fk.parent in placed or fk.parent == t.oid or fk.parent not in present
                   for fk in t.foreign_keys)
        ]  # fmt: skip
        if not ready:
            ready = remaining[:1]
        for table in ready:
            ordered.append(table)
            placed.add(table.oid)
        remaining = [t for t in remaining if t.oid not in placed]
    return ordered
