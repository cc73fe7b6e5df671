"""migguard: migration-safety checks for SQLAlchemy + Alembic projects."""

from __future__ import annotations

__version__ = "0.1.0"
