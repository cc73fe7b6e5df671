"""Schema snapshots and diffs: the machinery behind ``downgrade-mismatch`` and
``schema-mismatch``.

:func:`snapshot` reads a whole schema (one catalog query on PostgreSQL, the Inspector
elsewhere) into a :class:`Snapshot` of plain, sorted, comparable data; :func:`diff` lists the
:class:`Difference` objects between two snapshots; :func:`restrict` cuts a snapshot down to
the tables a set of models maps. Modules:

- ``model``: the records, :class:`Snapshot` and :class:`Difference` (with its phrasings)
- ``postgres``: the single catalog query and its parsing
- ``inspector``: the SQLAlchemy Inspector fallback (SQLite and other dialects)
- ``compare``: one comparison function per object kind, and :func:`diff`
- ``subset``: :func:`restrict` and the table/schema filters
- ``filters``: what env.py's ``include_object``/``include_name`` keep out of autogenerate
- ``capture``: :func:`snapshot`, which picks the reader
- ``tracking``: :class:`Tracker`, snapshots that re-read only what DDL touched (the runner's)
"""

from __future__ import annotations

from migguard.schema.capture import snapshot
from migguard.schema.compare import diff
from migguard.schema.model import (
    Column,
    Constraint,
    Difference,
    EnumType,
    Function,
    Index,
    Sequence,
    Snapshot,
    Table,
    Trigger,
    UserType,
    View,
)
from migguard.schema.subset import restrict
from migguard.schema.tracking import Tracker

__all__ = [
    "Column",
    "Constraint",
    "Difference",
    "EnumType",
    "Function",
    "Index",
    "Sequence",
    "Snapshot",
    "Table",
    "Tracker",
    "Trigger",
    "UserType",
    "View",
    "diff",
    "restrict",
    "snapshot",
]
