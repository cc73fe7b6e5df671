"""``--since REV|GIT_REF``: which revisions a pull request adds.

A reviewer of a pull request wants the new revisions put through the up/down/up stairway, not
the three hundred that were reviewed long ago. ``--since`` names where the branch started,
either as a revision id of this project (every descendant of it is new) or as a git ref (the
revision files added since the merge base of ``HEAD`` and that ref, committed or not, are new).

Old revisions are still upgraded, straight and without snapshots, so the new ones run on the
schema they will meet in production; drift and graph rules still look at the whole project.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from migguard.errors import MigguardError

if TYPE_CHECKING:
    from migguard.findings import Finding
    from migguard.project import Project, RevisionFile

_MIN_PREFIX = 4  # Alembic's own minimum for partial revision ids
_GIT_TIMEOUT = 30.0


def new_revisions(project: Project, since: str) -> set[str]:
    """The ids of the revisions added since ``since`` (a revision id, a unique prefix of one,
    or a git ref); raises MigguardError when it is neither.

    Revision ids are read from the files as written (no import), so this works in --static
    mode in well under a second and on a graph Alembic would refuse to load.
    """
    value = since.strip()
    if not value:
        raise MigguardError("--since needs a revision id or a git ref")
    files = project.revision_files()
    revision = _matching_revision(files, value)
    if revision is not None:
        return _descendants(files, revision)
    return _added_in_git(project, value)


def in_scope(findings: Iterable[Finding], new: set[str]) -> list[Finding]:
    """Drop findings about old revisions' own code (rules of revision scope); graph rules,
    drift and a history that no longer applies are reported whatever revision they point at."""
    from migguard.rules import revision_scoped

    per_revision = revision_scoped()
    return [
        finding
        for finding in findings
        if finding.rule not in per_revision or finding.revision is None or finding.revision in new
    ]


def _matching_revision(files: list[RevisionFile], value: str) -> str | None:
    ids = sorted({file.revision for file in files if file.revision is not None})
    if value in ids:
        return value
    if len(value) < _MIN_PREFIX:
        return None
    matches = [rev for rev in ids if rev.startswith(value)]
    if len(matches) > 1:
        shown = ", ".join(matches[:3])
        raise MigguardError(f"--since {value}: several revisions start with it ({shown})")
    return matches[0] if matches else None


def _descendants(files: list[RevisionFile], revision: str) -> set[str]:
    """Every revision that has ``revision`` among its ancestors (through down_revision)."""
    children: dict[str, list[str]] = {}
    for file in files:
        if file.revision is not None:
            for parent in file.down_revisions:
                children.setdefault(parent, []).append(file.revision)
    found: set[str] = set()
    pending = list(children.get(revision, ()))
    while pending:
        current = pending.pop()
        if current not in found:
            found.add(current)
            pending.extend(children.get(current, ()))
    return found


def names_revision(project: Project, value: str) -> bool:
    """Whether ``--since`` names a revision of this project rather than a git ref."""
    return _matching_revision(project.revision_files(), value.strip()) is not None


def merge_base(project: Project, ref: str) -> tuple[Path, str]:
    """The repository's top level and the commit where ``HEAD`` left ``ref``: the code that
    was reviewed and released before this branch (``ref`` itself when git knows no merge
    base); raises MigguardError when ``ref`` is not a commit of the project's repository."""
    toplevel = _git(project.root, "rev-parse", "--show-toplevel", ref=ref)
    if toplevel.returncode != 0:
        said = (toplevel.stderr.strip().splitlines() or [""])[0]
        where = (
            f"{project.root} is not in a git repository"
            if "not a git repository" in said or not said
            else f"git cannot read {project.root}: {said}"  # e.g. safe.directory ownership
        )
        raise MigguardError(f"--since {ref}: not a revision id of this project, and {where}")
    top = Path(toplevel.stdout.strip()).resolve()
    commit = _git(top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", ref=ref)
    if commit.returncode:
        raise MigguardError(
            f"--since {ref}: neither a revision id of this project nor a git ref"
            + _shallow_advice(top, ref)
        )
    found = _git(top, "merge-base", "HEAD", ref, ref=ref)
    if found.returncode != 0 and _is_shallow(top, ref):
        # the branch point was cut off: diffing against the tip of ref instead would call
        # every revision that ref gained meanwhile "added" (or miss the branch's own)
        raise MigguardError(
            f"--since {ref}: HEAD and {ref} have no common commit in this shallow clone"
            + _shallow_advice(top, ref)
        )
    base = found.stdout.strip() if found.returncode == 0 else commit.stdout.strip()
    return top, base


def _added_in_git(project: Project, ref: str) -> set[str]:
    """Revision files added since the merge base of HEAD and ``ref``, plus untracked ones."""
    top, base = merge_base(project, ref)
    pathspecs = _pathspecs(project, top)
    if not pathspecs:
        return set()
    diff = _git(
        top, "diff", "--name-only", "--no-renames", "--diff-filter=A", "-z", base, "--",
        *pathspecs, ref=ref,
    )  # fmt: skip
    if diff.returncode != 0:
        said = (diff.stderr.strip().splitlines() or ["failed"])[0]
        raise MigguardError(f"--since {ref}: git diff against {base}: {said}")
    untracked = _git(
        top, "ls-files", "--others", "--exclude-standard", "--full-name", "-z", "--",
        *pathspecs, ref=ref,
    )  # fmt: skip
    names = diff.stdout + (untracked.stdout if untracked.returncode == 0 else "")
    added = {(top / name).resolve() for name in names.split("\0") if name.strip()}
    return {
        file.revision
        for file in project.revision_files()
        if file.revision is not None and file.path.resolve() in added
    }


def _is_shallow(top: Path, ref: str) -> bool:
    answer = _git(top, "rev-parse", "--is-shallow-repository", ref=ref)
    return answer.returncode == 0 and answer.stdout.strip() == "true"


def _shallow_advice(top: Path, ref: str) -> str:
    """CI checkouts are shallow by default (actions/checkout fetches one commit): say how to
    get the history ``--since`` compares against."""
    if not _is_shallow(top, ref):
        return ""
    return (
        "; this clone is shallow: fetch the history (actions/checkout with fetch-depth: 0, "
        f"or git fetch --unshallow origin) so that {ref} and the branch point are there"
    )


def _pathspecs(project: Project, top: Path) -> list[str]:
    """The version directories as paths relative to the repository's top level."""
    specs = []
    for directory in project.version_dirs:
        try:
            specs.append(directory.resolve().relative_to(top).as_posix() or ".")
        except ValueError:
            continue  # outside this repository: nothing git can say about it
    return specs


def _git(cwd: Path, *args: str, ref: str) -> subprocess.CompletedProcess[str]:
    """git's answer; a missing git is an environment error."""
    try:
        return subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT,
        )
    except FileNotFoundError as exc:
        raise MigguardError(
            f"--since {ref}: not a revision id of this project, and git is not installed"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise MigguardError(f"--since {ref}: git {args[0]} timed out") from exc
