"""Taking a snapshot: the catalog query on PostgreSQL, the Inspector anywhere else."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from migguard.schema import inspector, postgres
from migguard.schema.model import Snapshot
from migguard.schema.subset import only_schemas, without_tables


def snapshot(
    connection: Connection,
    *,
    exclude_tables: frozenset[str] = frozenset({"alembic_version"}),
    schemas: tuple[str, ...] | None = None,
) -> Snapshot:
    """The schema as seen by ``connection``, including its own uncommitted DDL.

    Read-only: it never begins, commits or rolls back, so the runner can snapshot between
    steps of one transaction. ``exclude_tables`` names tables (``name`` in any schema, or
    ``schema.name``) to leave out with their indexes and constraints, by default Alembic's
    version table. ``schemas`` limits the snapshot to those schemas (``"public"`` and
    ``"main"`` mean the default one); ``None`` means every non-system schema.
    """
    if connection.dialect.name == "postgresql":
        snap = postgres.take(connection)
    else:
        snap = inspector.take(connection, schemas)
    if schemas is not None:
        snap = only_schemas(snap, schemas)
    return without_tables(snap, exclude_tables)
