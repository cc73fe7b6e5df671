"""Rule modules: each declares its rules (``rules.register``) and the functions that produce
them (``rules.produces``); ``rules.load`` imports every module of this package.

A check is given the context of its phase: :class:`StaticContext` for what can be read from
the project's files (and its models, when they import), :class:`RunContext` for what the
stairway observed on the throwaway database (``checks/drift.py``, ``checks/roundtrip.py``
turn it into findings).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from migguard.config import Settings
    from migguard.project import Project
    from migguard.runner import RunResult
    from migguard.schema import Difference


@dataclass
class StaticContext:
    """What a static check may look at. ``metadata`` is env.py's target_metadata when known
    (a MetaData, a sequence of them, or None when it could not be obtained)."""

    project: Project
    settings: Settings
    metadata: Any = None
    notes: list[str] = field(default_factory=list)


@dataclass
class RunContext:
    """What a check after the stairway may look at: the run's result, and the run's notes to
    say why something was not checked."""

    project: Project
    settings: Settings
    result: RunResult
    notes: list[str]
    compare_models: Callable[[], list[Difference]]
    # With --since GIT_REF: the other release's models, ready to meet the schema at head
    # (migguard.deploy.release.RunningRelease); None when breaks-running-release cannot run.
    running_release: Any = None
    _differences: list[Difference] | None = field(default=None, repr=False)

    def models_differences(self) -> list[Difference]:
        """The schema the migrations built at head against the one ``create_all`` builds;
        compared on first use (it needs a second database)."""
        if self._differences is None:
            self._differences = self.compare_models()
        return self._differences

    def static_context(self, metadata: Any) -> StaticContext:
        """A static check's view, with the metadata env.py handed to the run."""
        return StaticContext(project=self.project, settings=self.settings, metadata=metadata)
