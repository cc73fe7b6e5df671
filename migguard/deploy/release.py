"""One run's rolling-deploy check: the other release's models against the schema it meets.

During a deploy two releases share one database. With ``deploy-order = "migrate-first"``
(the default) the migrations run while the release built from the pull request's merge base
still serves traffic: its models are exercised against the schema at the new head. With
``"code-first"`` the new release starts before its migrations run: the working tree's models
are exercised against the schema at the base head, the point in the stairway just before the
first new revision. Both sides are exercised at both points; only a statement that works at
its own release's schema and fails at the other is a break (so a row this exercise cannot
build, or a model that drifted long ago, is never blamed on the pull request).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migguard.deploy.blame import Blame, blame
from migguard.deploy.process import Worker, WorkerFailed

if TYPE_CHECKING:
    from migguard.config import Settings
    from migguard.project import Project
    from migguard.runner import RunResult

RULE_ID = "breaks-running-release"
_NOTED = 3  # statements named in the note on what could not be judged
# How long the worker may take to import the models, and to run every statement once (each
# statement is bounded by the database's statement_timeout as well).
_LOAD_SECONDS = 120.0
_EXERCISE_SECONDS = 300.0


# Why SQLite projects are not judged: the rows come from the production rehearsal, which
# reads PostgreSQL's catalog, and a break is proven by PostgreSQL's error codes and the
# table and column its errors name; on SQLite the statements would meet empty tables and
# their errors would be read from message text, and a guess is not an error migguard reports.
_SQLITE_NOTE = (
    f"{RULE_ID} skipped: the project's database is SQLite; the running release's statements "
    "are exercised on PostgreSQL only (against tables holding the production rehearsal's "
    "rows, with PostgreSQL's error codes as the proof of a break)"
)


@dataclass(frozen=True)
class Break:
    """A statement of one release that the other release's schema refuses."""

    kind: str  # missing-column, missing-table, not-null, lost-default
    table: str
    column: str | None
    statements: tuple[str, ...]  # "SELECT", "INSERT", "SELECT User.groups"
    error: str
    declared_path: str | None  # relative to the project root of that release
    declared_line: int | None
    declared_name: str  # "User.full_name"
    blame: Blame | None
    code_first: bool
    base: str  # the merge base commit


@dataclass
class RunningRelease:
    """The worker holding the other release's models, and what it observed at both points."""

    project: Project
    order: str
    base: str  # commit
    root: Path  # that release's project directory (a temp dir for the merge base)
    settings: Settings
    new: set[str]  # the revisions the deploy runs
    notes: list[str] = field(default_factory=list)
    _worker: Worker | None = None
    _loaded: bool = False
    _observed: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def code_first(self) -> bool:
        return self.order == "code-first"

    def start(self, url: Any, is_sqlite: bool, environment: dict[str, str]) -> None:
        """Start the worker on the run's database; it loads the models while the stairway
        runs. ``environment``: the variables env.py sees (pointed at the throwaway one)."""
        if is_sqlite:
            self.notes.append(_SQLITE_NOTE)
            return
        foreign = None if self.code_first else os.path.realpath(self.project.root)
        config_file = self.settings.config_file
        if config_file is not None and not self.code_first:
            try:
                relative = config_file.resolve().relative_to(self.project.root)
                config_file = self.root / relative
            except ValueError:
                config_file = None
        request = {
            "root": str(self.root),
            "config_file": str(config_file) if config_file else None,
            "flask_app": self.settings.flask_app,
            "metadata": self.settings.metadata,
            "environment": environment,
            "url": url.render_as_string(hide_password=False),
            "foreign_root": foreign,
        }
        try:
            self._worker = Worker(self.root, request)
        except OSError as exc:
            self._skip(f"the worker process did not start: {exc}")

    def at_base_head(self) -> None:
        """The stairway is about to upgrade the first new revision."""
        self._observe("base")

    def at_new_head(self) -> None:
        """The stairway reached the new head."""
        self._observe("head")

    def breaks(self, result: RunResult) -> list[Break]:
        """What works at the release's own schema and fails at the other one."""
        own, other = ("head", "base") if self.code_first else ("base", "head")
        if own not in self._observed or other not in self._observed:
            return []
        working = {
            (c["model"], c["statement"], c["attribute"])
            for c in self._observed[own]
            if c["status"] == "ok"
        }
        ordered_new = [revision for revision in result.revisions if revision in self.new]
        grouped: dict[tuple[str, str, str | None], list[tuple[dict[str, Any], dict[str, Any]]]]
        grouped = {}
        unjudged: list[str] = []
        for check in self._observed[other]:
            key = (check["model"], check["statement"], check["attribute"])
            if key not in working:
                continue
            if check["status"] == "broken":
                for cause in check["causes"]:
                    grouped.setdefault((cause["kind"], cause["table"], cause["column"]), []).append(
                        (check, cause)
                    )
            elif check["status"] == "unjudged":
                unjudged.append(f"{_statement(check)} ({check['error']})")
        if unjudged:
            shown = "; ".join(unjudged[:_NOTED])
            more = f"; and {len(unjudged) - _NOTED} more" if len(unjudged) > _NOTED else ""
            self.notes.append(
                f"{RULE_ID}: not judged (the generated row may be at fault, not the schema): "
                f"{shown}{more}"
            )
        found = []
        for (kind, table, column), pairs in grouped.items():
            # the declaring class's own statements first (a child's INSERT fails through the
            # parent row it needs: that is the same cause, seen second-hand)
            pairs.sort(key=lambda pair: not _declares(pair[1], pair[0]))
            check, cause = pairs[0]
            declared = cause["declared"]
            found.append(
                Break(
                    kind=kind,
                    table=table,
                    column=column,
                    statements=tuple(dict.fromkeys(_statement(c) for c, _ in pairs)),
                    error=str(check["error"]),
                    declared_path=self._relative(declared["path"]),
                    declared_line=declared["line"],
                    declared_name=declared["name"],
                    blame=blame(
                        kind,
                        table,
                        column,
                        ordered_new,
                        result.recorded_ops,
                        result.paths,
                        code_first=self.code_first,
                    ),
                    code_first=self.code_first,
                    base=self.base,
                )
            )
        return found

    def _observe(self, point: str) -> None:
        if self._worker is None or point in self._observed:
            return
        try:
            if not self._loaded:
                self._worker.ask(seconds=_LOAD_SECONDS)
                self._loaded = True
            reply = self._worker.ask({"do": "exercise"}, seconds=_EXERCISE_SECONDS)
            self._observed[point] = reply["checks"]
            if reply.get("empty"):
                where = "the base head" if point == "base" else "the new head"
                self.notes.append(
                    f"{RULE_ID}: at {where}, tables left empty (no generated row fits them): "
                    + ", ".join(reply["empty"])
                )
        except WorkerFailed as exc:
            self._skip(str(exc))

    def _skip(self, reason: str) -> None:
        which = "the new release's" if self.code_first else f"the release at {self.base[:12]}'s"
        self.notes.append(f"{RULE_ID} skipped: {which} models could not be exercised: {reason}")
        self.stop()

    def _relative(self, path: str | None) -> str | None:
        if not path:
            return None
        root = os.path.realpath(self.root)
        try:
            return Path(os.path.relpath(path, root)).as_posix()
        except ValueError:
            return path

    def stop(self) -> None:
        if self._worker is not None:
            worker, self._worker = self._worker, None
            worker.stop()


def _declares(cause: dict[str, Any], check: dict[str, Any]) -> bool:
    return bool(str(cause["declared"]["name"]).split(".")[0] == check["model"])


def _subject(check: dict[str, Any]) -> str:
    return f"{check['model']}.{check['attribute']}" if check["attribute"] else check["model"]


def _statement(check: dict[str, Any]) -> str:
    return f"{check['statement']} {_subject(check)}"


@contextmanager
def running_release(
    project: Project, settings: Settings, new: set[str] | None
) -> Iterator[tuple[RunningRelease | None, list[str]]]:
    """The run's RunningRelease (None when the rule cannot run, with the note saying why);
    the worker is stopped and the release's checkout removed when the block ends."""
    from migguard import since
    from migguard.deploy.checkout import checked_out

    order = settings.deploy_order
    if not settings.rule_enabled(RULE_ID):
        yield None, []
        return
    if not settings.since:
        yield (
            None,
            [
                f"{RULE_ID} skipped: no base release to compare with (run with --since <git ref>, "
                "as the GitHub Action does on pull requests)"
            ],
        )
        return
    if since.names_revision(project, settings.since):
        yield (
            None,
            [
                f"{RULE_ID} skipped: --since {settings.since} is a revision id; the running "
                "release's code needs a git ref (a branch, tag or commit)"
            ],
        )
        return
    if not new:
        yield None, [f"{RULE_ID} skipped: no revision added since {settings.since}"]
        return
    top, base = since.merge_base(project, settings.since)
    with ExitStack() as stack:
        if order == "code-first":
            root = project.root
        else:
            tree = stack.enter_context(checked_out(top, base))
            root = tree / project.root.resolve().relative_to(top)
        release = RunningRelease(project, order, base, root, settings, new)
        stack.callback(release.stop)
        yield release, release.notes
