"""migguard: migration-safety checks for SQLAlchemy + Alembic projects."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from migguard.engine import Report

__version__ = "0.1.0"


def check(path: Path | str = ".", **options: Any) -> Report:
    """Check the Alembic project in ``path`` as ``migguard check PATH`` does: settings from
    its ``[tool.migguard]``, overridden by ``options`` named like the settings (``db="local"``,
    ``select=("drift",)``, ``since="main"``). Returns the :class:`~migguard.engine.Report`;
    raises :class:`~migguard.errors.MigguardError` when the project cannot be checked.

    Imported lazily: this package is loaded by every pytest run of an environment that has
    migguard installed (its plugin), which must not pay for the engine."""
    from migguard.config import load_settings
    from migguard.engine import check as run_check

    return run_check(path, load_settings(Path(path), options))
