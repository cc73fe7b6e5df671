"""Which revisions are rehearsed: the ones about to be deployed.

A finding on a revision that production ran a year ago is history, not news: a run over a
200-revision project must not print a warning per old index. So, by default, the rehearsal
covers the revisions a pull request adds (``--since``) or, without ``--since``, the head
revision(s), the one a developer is writing. ``all`` audits the whole history; ``none`` turns
the rehearsal off. Revisions outside it run exactly as without a rehearsal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from migguard.errors import MigguardError

if TYPE_CHECKING:
    from migguard.project import RevisionFile

MODES = ("auto", "all", "none")


def check_mode(value: str) -> str:
    """A ``--rehearse`` / ``rehearse =`` value, or a one-line error naming the choices."""
    mode = str(value).strip().lower()
    if mode not in MODES:
        raise MigguardError(f"rehearse must be one of {', '.join(MODES)}, not {value!r}")
    return mode


def rehearsed(mode: str, files: list[RevisionFile], new: set[str] | None) -> frozenset[str]:
    """The revision ids to rehearse under ``mode``; ``new`` is what ``--since`` found."""
    ids = {f.revision for f in files if f.revision is not None}
    if mode == "none":
        return frozenset()
    if mode == "all":
        return frozenset(ids)
    if new is not None:
        return frozenset(new)
    parents = {parent for f in files for parent in f.down_revisions}
    return frozenset(ids - parents)
