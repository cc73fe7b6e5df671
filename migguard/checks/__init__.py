"""Rule implementations: one module per rule family, each a thin function returning findings.

Static checks read the project (files, AST, the revision graph, model metadata when known) and
need no database. Database checks live in the runner's results (``checks/drift.py``,
``checks/roundtrip.py``) and turn what the runner observed into findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from migguard.config import Settings
    from migguard.project import Project


@dataclass
class StaticContext:
    """What a static check may look at. ``metadata`` is env.py's target_metadata when known
    (a MetaData, a sequence of them, or None when it could not be obtained)."""

    project: Project
    settings: Settings
    metadata: Any = None
    notes: list[str] = field(default_factory=list)
