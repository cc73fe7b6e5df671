"""Runs env.py once and drives every migration step itself on the connection env.py opens.

Alembic calls the ``fn`` given to :class:`EnvironmentContext` from inside
``MigrationContext.run_migrations``, with the fully configured context: the user's connection
(sync or async through ``run_sync``), their ``target_metadata`` and compare options. migguard's
``fn`` does the whole stairway right there -- upgrade one revision, downgrade it, snapshot,
compare, upgrade it again, snapshot -- and then the autogenerate comparison at head, and returns
an empty list so Alembic itself runs nothing. One env.py execution, one engine, one connection
for the entire history, instead of an ``alembic upgrade``/``downgrade`` per step.

Each step gets a transaction of its own (committed on success, rolled back on failure), managed
through the MigrationContext's own transaction slot so revisions that use
``autocommit_block()`` (``CREATE INDEX CONCURRENTLY``) work as they do under Alembic.
"""

from __future__ import annotations

import functools
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migguard import signals
from migguard.errors import MigguardError, Terminated, describe_exit
from migguard.safety import Guard, UnsafeTargetError
from migguard.sqlalchemy_compat import commit, rollback

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import Script, ScriptDirectory

    from migguard.ops import Op
    from migguard.project import Project
    from migguard.schema import Difference, Snapshot
    from migguard.schema.filters import Excluded


@dataclass
class StepFailure:
    revision: str
    direction: str  # "upgrade", "downgrade", "re-upgrade"
    message: str
    line: int | None


@dataclass
class RoundTrip:
    """A downgrade that does not return the schema to where the upgrade found it;
    ``again``: what upgrading once more leaves different from the first upgrade, or
    ``again_failed``: the error it raised instead."""

    revision: str
    differences: list[Difference]
    again: list[Difference] = field(default_factory=list)
    again_failed: str = ""  # why upgrading again after the downgrade failed, when it did


@dataclass
class RunResult:
    """Everything the database rules need, observed in one pass."""

    revisions: list[str] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)
    checked: list[str] = field(default_factory=list)
    failures: list[StepFailure] = field(default_factory=list)
    round_trips: list[RoundTrip] = field(default_factory=list)
    recorded_ops: dict[str, list[Op]] = field(default_factory=dict)  # per upgrade, in order
    target_metadata: Any = None
    context_opts: dict[str, Any] = field(default_factory=dict)
    reached_head: bool = False
    drift_diffs: list[Any] = field(default_factory=list)
    drift_ops: Any = None
    # what env.py's include_object/include_name kept out of that comparison
    autogenerate_excluded: Excluded | None = None
    head_snapshot: Snapshot | None = None
    notes: list[str] = field(default_factory=list)
    stopped: str = ""  # why the stairway ended before head, for revisions it did not check
    failed_on: Snapshot | None = None  # the schema an upgrade that failed for good met
    started_empty: bool = True  # no bootstrap: the first revision met an empty database
    rehearsal: Any = None  # the plan's rehearsal, with what it observed


@dataclass
class RunPlan:
    """What to do on the database: which revisions get the up/down/up stairway."""

    stairway: bool = True
    since: set[str] | None = None  # revisions to round-trip; None = all
    drift: bool = True
    metadata_override: Any = None
    # Called with (number, total, revision id) as each revision is reached, for progress.
    on_revision: Callable[[int, int, str], None] | None = None
    # Called with the target metadata before the first step (the engine builds the models'
    # database meanwhile).
    on_metadata: Callable[[Any], None] | None = None
    # Called once, committed, just before the first revision of ``since`` upgrades: the
    # schema the release being replaced runs on (breaks-running-release looks at it).
    on_base_head: Callable[[], None] | None = None
    # Drops the throwaway database and creates it again, empty (bootstrapped, if the project
    # says so): where the stairway replays the history plainly.
    fresh_database: Callable[[], None] | None = None
    # The production rehearsal (migguard.rehearsal.step.Rehearsal) of the revisions it covers.
    rehearsal: Any = None


class _Abort(Exception):
    """Carries an exception from migguard's own code out through env.py untouched."""


class TimedOut(BaseException):
    """``--timeout`` ran out. Raised by the engine's alarm wherever the run happens to be; when
    a revision step is running, the runner reports it on that revision and stops there.

    A BaseException, like KeyboardInterrupt, so that a revision's ``except Exception`` (a retry
    loop) cannot swallow it and keep the run going past its limit.
    """


@dataclass
class _Running:
    """This run's revision step in progress. An async env.py's event loop, not the revision,
    is where the alarm lands, so the step cannot be read from the traceback."""

    script: Script | None = None
    phase: list[str] = field(default_factory=lambda: ["upgrade"])  # a round trip updates it


def _record_timeout(result: RunResult, exc: TimedOut, running: _Running) -> bool:
    """The step that ran out of time becomes its revision's failure; False outside a step."""
    sc, phase = running.script, running.phase[0]
    running.script = None
    if sc is None or phase not in ("upgrade", "downgrade", "re-upgrade"):
        return False  # env.py, a snapshot, the drift comparison: the run could not finish
    result.failures.append(StepFailure(sc.revision, phase, str(exc), _line_in(exc, sc)))
    result.stopped = f"stopped at {sc.revision}: {exc}; later steps were not run"
    result.notes.append(result.stopped)
    return True


def run(
    project: Project,
    script: ScriptDirectory,
    config: Config,
    guard: Guard,
    plan: RunPlan,
) -> RunResult:
    """Execute env.py against the throwaway database (already in ``config``) and observe."""
    result = RunResult()
    running = _Running()
    try:
        ordered = _ordered_revisions(script)  # imports every revision module
    except (Exception, SystemExit) as exc:  # a settings module may exit when a secret is unset
        raise _revision_import_error(exc, project) from exc
    result.revisions = [sc.revision for sc in ordered]
    result.paths = {sc.revision: project.relpath(sc.path) for sc in ordered}
    captured: dict[str, Any] = {}

    def fn(heads: Any, context: MigrationContext) -> list[Any]:
        try:
            kw = captured.get("__run_kw__", {})
            _drive(context, ordered, result, plan, kw, running, recorder)
        except TimedOut as exc:
            if not _record_timeout(result, exc, running):
                raise
        except MigguardError:
            raise
        except Exception as exc:  # migguard's own failure: not to be blamed on env.py
            raise _Abort() from exc
        return []

    env = _guarded_environment_class()(config, script, fn=fn)
    env.migguard_guard = guard
    env.migguard_captured = captured
    recorder = _Recorder(paths={os.path.realpath(sc.path) for sc in ordered})
    with quiet_env_logging(), _recording_ops(recorder), guard.watching_engines(), env:
        try:
            with _app_context(project):
                script.run_env()
        except TimedOut as exc:  # an async env.py: the alarm landed in its event loop
            if not _record_timeout(result, exc, running):
                raise
            return result
        except MigguardError:
            raise
        except _Abort as abort:
            assert abort.__cause__ is not None
            if getattr(abort.__cause__, "connection_invalidated", False):  # between steps
                raise MigguardError(
                    "lost the connection to the throwaway database "
                    f"({_describe(abort.__cause__)}): the server stopped"
                ) from abort.__cause__
            raise abort.__cause__ from None
        except (Exception, SystemExit) as exc:  # SystemExit: project code loading, not a step
            raise _env_error(exc, project, guard) from exc
    if not captured and not result.checked and not result.reached_head:
        raise MigguardError(
            "env.py never called context.configure()/run_migrations() in online mode",
            path=project.relpath(project.env_py),
        )
    result.context_opts = {k: v for k, v in captured.items() if not k.startswith("__")}
    return result


_GUARDED: type | None = None


def _guarded_environment_class() -> type:
    """env.py's ``context``: checks the target before Alembic gets a connection.

    Alembic's ``alembic.context`` module proxy is registered per class, so the subclass shares
    the registration of :class:`EnvironmentContext` to be installed as ``context``.
    """
    global _GUARDED
    if _GUARDED is not None:
        return _GUARDED
    from alembic.runtime.environment import EnvironmentContext

    class GuardedEnvironment(EnvironmentContext):
        migguard_guard: Guard
        migguard_captured: dict[str, Any]

        migguard_offline = False

        def configure(self, connection: Any = None, url: Any = None, **kw: Any) -> None:  # type: ignore[override]
            if self.migguard_offline:
                pass  # no database: nothing to guard, the SQL goes to a discarded buffer
            elif connection is not None:
                self.migguard_guard.check_connection(connection)
            elif url is not None:
                self.migguard_guard.check_url(url)
            self.migguard_captured.update(kw)
            super().configure(connection=connection, url=url, **kw)

        def run_migrations(self, **kw: Any) -> None:
            self.migguard_captured["__run_kw__"] = kw
            super().run_migrations(**kw)

    EnvironmentContext._setups[GuardedEnvironment] = EnvironmentContext._setups[EnvironmentContext]
    _GUARDED = GuardedEnvironment
    return GuardedEnvironment


def load_metadata_offline(project: Project, config: Config, guard: Guard) -> Any:
    """env.py's target_metadata without a database: run env.py in offline (--sql) mode.

    Nothing is emitted anywhere: fn returns no steps and the SQL buffer is discarded. Any
    engine env.py creates is still watched, and no database is allowed, so even an offline
    branch that connects cannot change anything.
    """
    import io

    from alembic.script import ScriptDirectory

    captured: dict[str, Any] = {}

    def fn(heads: Any, context: MigrationContext) -> list[Any]:
        return []

    config.output_buffer = io.StringIO()
    script = ScriptDirectory.from_config(config)
    env = _guarded_environment_class()(
        config, script, fn=fn, as_sql=True, starting_rev=None, destination_rev="heads"
    )
    env.migguard_guard = guard
    env.migguard_captured = captured
    env.migguard_offline = guard.offline = True
    with quiet_env_logging(), guard.watching_engines(), env:
        try:
            with _app_context(project):
                script.run_env()
        except MigguardError:
            raise
        except (Exception, SystemExit) as exc:
            raise _env_error(exc, project) from exc
    return captured.get("target_metadata")


def _app_context(project: Project) -> AbstractContextManager[None]:
    """What ``flask db`` sets up before env.py: the app context Flask-Migrate's env.py reads
    its engine and models from (nothing for any other env.py)."""
    from migguard import flask_app

    return flask_app.app_context(project.env_py, project.root, project.flask_app)


def _ordered_revisions(script: ScriptDirectory) -> list[Script]:
    """Base first, parents before children, so each step's down-state is well defined."""
    return list(reversed(list(script.walk_revisions("base", "heads"))))


def _drive(
    context: MigrationContext,
    ordered: list[Script],
    result: RunResult,
    plan: RunPlan,
    run_kw: dict[str, Any],
    running: _Running,
    recorder: _Recorder,
) -> None:
    result.target_metadata = (
        plan.metadata_override
        if plan.metadata_override is not None
        else context.opts.get("target_metadata")
    )
    if plan.on_metadata is not None and result.target_metadata is not None:
        plan.on_metadata(result.target_metadata)
    result.rehearsal = plan.rehearsal
    stairway = _Stairway(context, ordered, result, plan, run_kw, running, recorder)
    try:
        with _counting_connections(stairway):
            if not stairway.walk():
                return
    finally:
        if plan.rehearsal is not None:
            plan.rehearsal.close()
    result.reached_head = True
    if plan.drift and result.target_metadata is not None:
        _compare_at_head(context, result)
    result.head_snapshot = stairway.snap()


class _Stop(Exception):
    """The stairway cannot go on; the message says why, for the report's notes."""


class _Stairway:
    """One run's walk over the history, revision by revision.

    The database only ever holds what ``alembic upgrade`` of the revisions so far leaves: each
    revision's upgrade is committed, and its round trip (downgrade, snapshot, upgrade again)
    runs in a transaction that is always rolled back. What a round trip cannot roll back (work
    the revision commits itself, or a second connection writes) is detected from the
    transactions that committed meanwhile; if the schema then differs, the history up to the
    revision is replayed on a fresh database. A step that fails here is replayed the way users
    run Alembic (a fresh database, ``alembic upgrade`` to the revision before, then each
    command in a session of its own) and reported only if it fails there too.
    """

    def __init__(
        self,
        context: MigrationContext,
        ordered: list[Script],
        result: RunResult,
        plan: RunPlan,
        kw: dict[str, Any],
        running: _Running,
        recorder: _Recorder,
    ) -> None:
        from migguard import schema

        self.context = context
        self.ordered = ordered
        self.result = result
        self.plan = plan
        self.kw = kw
        self.running = running  # the step in progress, for --timeout
        self.recorder = recorder
        self.tracker = schema.Tracker()  # after the first snapshot, re-reads only what changed
        self.exclude = frozenset({context.version_table})
        self.postgres = context.dialect.name == "postgresql"
        self.before: Snapshot | None = None  # the schema before the next upgrade, when known
        self.memo_before: dict[Any, Any] = {}  # SQLAlchemy's DDL memo before that upgrade
        self.plain = True  # the database has seen upgrades only, as a plain replay would
        self.connections_opened = 0  # by anyone, counted by _counting_connections

    def snap(self) -> Snapshot:
        assert self.context.connection is not None
        return self.tracker.snapshot(self.context.connection, exclude_tables=self.exclude)

    def walk(self) -> bool:
        """Every revision in order; False when the stairway stopped before head."""
        for number, sc in enumerate(self.ordered, start=1):
            if self.plan.on_revision is not None:
                self.plan.on_revision(number, len(self.ordered), sc.revision)
            round_trip = self.plan.stairway and (
                self.plan.since is None or sc.revision in self.plan.since
            )
            if (
                self.plan.on_base_head is not None
                and self.plan.since
                and sc.revision in self.plan.since
            ):
                self.plan.on_base_head()
                self.plan.on_base_head = None
            try:
                if not self.upgrade(number, sc, round_trip):
                    return False
                if round_trip:
                    self.round_trip(number, sc)
                else:
                    self.before = None
            except _Stop as stop:
                self.result.stopped = str(stop)
                self.result.notes.append(str(stop))
                return False
        return True

    def upgrade(self, number: int, sc: Script, round_trip: bool) -> bool:
        """The revision's upgrade, committed as ``alembic upgrade`` would; False when it fails
        on a plain replay too, which is where production would stop as well."""
        if round_trip and self.before is None:
            self.before = self.snap()
        self.memo_before = _memo(self.context)
        failure = _upgrade(
            self.context, sc, self.result, self.kw, self.running, self.recorder, self.plan.rehearsal
        )
        if failure is None:
            return True
        if not self.plain:  # earlier round trips ran in this session: does it reproduce?
            replayed = self.replay_round_trip(number, sc, ("upgrade",))
            if replayed.get("upgrade") is None:  # the replayed database holds it: go on there
                self.result.notes.append(
                    f"revision {sc.revision}: its upgrade failed after the round trips of the "
                    f"revisions before it ({failure[0]}), but applies on a plain replay of the "
                    "history; the stairway went on from the replayed database"
                )
                self.plain = True
                return True
            failure = replayed["upgrade"] or failure
        self.result.failures.append(StepFailure(sc.revision, "upgrade", *failure))
        self.result.failed_on = self.snap()
        later = len(self.ordered) - number
        rest = {0: "it could not", 1: "neither it nor the revision after it could"}.get(
            later, f"neither it nor the {later} revisions after it could"
        )
        self.result.stopped = (
            f"stopped at {sc.revision}: its upgrade fails, on a plain `alembic upgrade` "
            f"too, so {rest} be round-tripped"
        )
        if later:  # the finding itself explains the failing revision
            self.result.notes.append(self.result.stopped)
        return False

    def round_trip(self, number: int, sc: Script) -> None:
        """Downgrade, snapshot, upgrade again, in a transaction that is always rolled back, so
        that the next revision starts from the upgraded state whatever the downgrade did."""
        from migguard import schema

        context, result = self.context, self.result
        connection = context.connection
        assert connection is not None and self.before is not None
        result.checked.append(sc.revision)
        before, up = self.before, self.snap()
        mark = self.tracker.mark(connection)
        since = _next_transaction(connection, mark) if self.postgres else None
        memo_up = _memo(context)
        phase = ["downgrade"]
        seen: dict[str, Snapshot] = {}
        opened = self.connections_opened

        def down_and_up() -> None:
            sc.module.downgrade(**self.kw)
            phase[0] = "snapshot"
            seen["down"] = self.snap()
            # SQLAlchemy remembers the types it created per DDL run (impl.memo); the
            # re-upgrade starts from the memo the first upgrade started from, as a separate
            # `alembic upgrade` would, or an Enum inside create_table is skipped silently.
            _restore_memo(context, self.memo_before)
            phase[0] = "re-upgrade"
            sc.module.upgrade(**self.kw)
            # The re-upgrade meets the schema the first upgrade met unless the downgrade got
            # it wrong, or the revision looks at what it cannot see inside the round trip (a
            # connection of its own sees committed state only): then its result is compared.
            if seen["down"] != before or self.connections_opened > opened:
                phase[0] = "snapshot"
                seen["up"] = self.snap()

        failure = _step(context, down_and_up, sc, self.running, phase, keep=False)
        _restore_memo(context, memo_up)
        if failure is not None and phase[0] == "snapshot":
            raise MigguardError(
                f"schema snapshot failed in the round trip of {sc.revision}: {failure[0]}"
            )
        self.plain = False
        down = seen.get("down")
        mismatch = down is not None and down != before
        confirm = failure is not None and not (phase[0] == "re-upgrade" and mismatch)
        committed = self.settle(number, sc, up, mark, since, replay=not confirm)
        if mismatch:
            assert down is not None
            again = seen.get("up")
            result.round_trips.append(
                RoundTrip(
                    sc.revision,
                    schema.diff(before, down),
                    schema.diff(up, again) if again is not None and again != up else [],
                    failure[0] if failure is not None and phase[0] == "re-upgrade" else "",
                )
            )
        elif failure is None and "up" in seen and seen["up"] != up:
            differences = "; ".join(d.describe_roundtrip() for d in schema.diff(up, seen["up"])[:3])
            result.notes.append(
                f"revision {sc.revision}: upgrading again after its downgrade gave another "
                f"schema than its first upgrade ({differences}): "
                f"{_why_different(self.connections_opened > opened, committed)}; the stairway "
                "went on from its first upgrade"
            )
        if confirm:
            assert failure is not None
            why = _why_different(self.connections_opened > opened, committed)
            self.confirm(number, sc, phase[0], failure, why)  # ends on a replayed database
        self.before = up

    def settle(
        self, number: int, sc: Script, up: Snapshot, mark: Any, since: int | None, *, replay: bool
    ) -> bool:
        """After the rollback: prove the database is back at ``up``, or (``replay``) make it
        so by a replay. True when something committed during the round trip."""
        from migguard.schema import tracking

        connection = self.context.connection
        assert connection is not None
        if since is not None and not tracking.committed_since(connection, since):
            if mark is not None:
                self.tracker.rewind(connection, mark)
            return False
        if replay and self.snap() != up:
            self.result.notes.append(
                f"revision {sc.revision}: its round trip changed what a rollback cannot restore "
                "(work it commits itself, or another connection's); the history up to it was "
                "replayed on a fresh database before going on"
            )
            self.rebuild(number)
        return self.postgres

    def confirm(
        self, number: int, sc: Script, direction: str, failure: tuple[str, int | None], why: str
    ) -> None:
        """A step that failed in the round trip is a finding only if it fails as users run
        it; either way the stairway goes on from the upgraded revision."""
        steps = (
            ("upgrade", "downgrade")
            if direction == "downgrade"
            else ("upgrade", "downgrade", "upgrade")
        )
        replayed = self.replay_round_trip(number, sc, steps)
        reproduced = replayed.get("re-upgrade" if direction == "re-upgrade" else direction)
        if reproduced is not None:
            self.result.failures.append(StepFailure(sc.revision, direction, *reproduced))
        else:
            self.result.notes.append(
                f"revision {sc.revision}: its {direction} failed inside migguard's round trip "
                f"({failure[0]}) but not on a plain replay (`alembic upgrade`, "
                f"`alembic downgrade`, `alembic upgrade`, each on its own): {why}"
            )
        self.rebuild(number)

    def replay_round_trip(
        self, number: int, sc: Script, steps: tuple[str, ...]
    ) -> dict[str, tuple[str, int | None] | None]:
        """On a fresh database, the history before ``sc`` as ``alembic upgrade`` applies it,
        then ``steps`` of ``sc``, each in a session of its own as separate ``alembic``
        commands are: the failure of each step (None when it succeeded), by direction."""
        self.rebuild(number - 1)
        self.before, self.memo_before = self.snap(), {}  # what the replayed upgrade meets
        outcome: dict[str, tuple[str, int | None] | None] = {}
        direction = ""
        for step in steps:
            direction = "re-upgrade" if direction == "downgrade" else step
            self.new_session()
            failure = _step(self.context, self._function(sc, step), sc, self.running, [direction])
            outcome[direction] = failure
            if failure is not None:
                break
        self.plain = False
        return outcome

    def rebuild(self, upto: int) -> None:
        """A fresh database holding the first ``upto`` revisions, applied as ``alembic
        upgrade`` applies them; the stairway's connection reconnects to it."""
        if self.plan.fresh_database is None:
            raise _Stop("the throwaway database cannot be recreated: the stairway stopped here")
        connection = self.context.connection
        assert connection is not None
        _rollback(self.context, connection, quietly=True)
        connection.invalidate()  # the database is about to go; reconnects on next use
        self.plan.fresh_database()
        self.new_session()
        for sc in self.ordered[:upto]:
            failure = _step(self.context, self._function(sc, "upgrade"), sc, self.running)
            if failure is not None:
                raise _Stop(
                    f"replaying the history on a fresh database failed at {sc.revision} "
                    f"({failure[0]}): the revisions after it were not checked"
                )
        self.plain = True
        self.before = None

    def _function(self, sc: Script, name: str) -> Callable[[], None]:
        """The revision's upgrade or downgrade as a step's body: looked up inside the step,
        where a module without one is the revision's failure, not migguard's."""
        return lambda: getattr(sc.module, name)(**self.kw)

    def new_session(self) -> None:
        """The next step in a session of its own, as the next ``alembic`` command would be:
        the same connection object (env.py's connect events and options), a new server
        session, SQLAlchemy's DDL memo empty."""
        from sqlalchemy import text

        connection = self.context.connection
        assert connection is not None
        if not connection.invalidated:
            connection.invalidate()
        if connection.in_transaction():  # a step that committed through it began another
            rollback(connection)  # SQLAlchemy reconnects only once that one has ended
        connection.execute(text("SELECT 1"))
        rollback(connection)
        self.context.impl.memo.clear()


def _why_different(opened_connection: bool, committed: bool) -> str:
    reasons = []
    if opened_connection:
        reasons.append(
            "it opens another connection, which sees only committed state, not the round "
            "trip's uncommitted downgrade"
        )
    if committed:
        reasons.append("it commits part of its work itself")
    return "; ".join(reasons) or "it depends on state a rolled-back round trip leaves behind"


def _next_transaction(connection: Any, mark: Any) -> int:
    from migguard.schema import tracking

    return mark.next_xid if mark is not None else tracking.next_transaction_id(connection)


@contextmanager
def _counting_connections(stairway: _Stairway) -> Iterator[None]:
    """Connections opened while steps run: a revision that looks through one of its own sees
    committed state only, which is why it can behave differently inside a round trip."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def opened(**kw: Any) -> None:
        stairway.connections_opened += 1

    event.listen(Engine, "engine_connect", opened, named=True)
    try:
        yield
    finally:
        event.remove(Engine, "engine_connect", opened)


def _upgrade(
    context: MigrationContext,
    sc: Script,
    result: RunResult,
    kw: dict[str, Any],
    running: _Running,
    recorder: _Recorder,
    rehearsal: Any = None,
) -> tuple[str, int | None] | None:
    """The first upgrade of a revision, with its operations recorded for the static rules;
    rehearsed (on tables holding rows, under observation) when the rehearsal covers it."""
    recorded = result.recorded_ops.setdefault(sc.revision, [])
    recorder.current = recorded

    def upgrade() -> None:
        recorded.clear()  # a rehearsal may run it twice: the ops are those of the last run
        sc.module.upgrade(**kw)

    body = upgrade
    if rehearsal is not None and rehearsal.covers(sc.revision):
        body = functools.partial(rehearsal.upgrade, context, sc, upgrade)
    try:
        return _step(context, body, sc, running)
    finally:
        recorder.current = None


def _memo(context: MigrationContext) -> dict[Any, Any]:
    # a copy of each value too: SQLAlchemy adds created type names to the memo's sets
    return {key: _copied(value) for key, value in context.impl.memo.items()}


def _restore_memo(context: MigrationContext, memo: dict[Any, Any]) -> None:
    context.impl.memo.clear()
    context.impl.memo.update({key: _copied(value) for key, value in memo.items()})


def _copied(value: Any) -> Any:
    """A memo entry as it was: PostgreSQL named types record ``(schema, name)`` in a set that
    later DDL mutates in place, so restoring a shallow copy would keep the upgrade's types
    marked as created and the re-upgrade's ``create_table`` would skip ``CREATE TYPE``."""
    return set(value) if isinstance(value, set) else value


def _step(
    context: MigrationContext,
    body: Callable[[], None],
    sc: Script,
    running: _Running,
    phase: list[str] | None = None,
    *,
    keep: bool = True,
) -> tuple[str, int | None] | None:
    """Run user code in its own transaction; return (message, line) on failure. ``keep``:
    commit it on success, else roll it back (a round trip leaves nothing behind)."""
    connection = context.connection
    assert connection is not None
    if context._transaction is not None:  # env.py's begin_transaction(): ours from here on
        context._transaction.commit()
        context._transaction = None
    elif connection.in_transaction():
        commit(connection)
    context._transaction = connection.begin()
    running.script, running.phase = sc, phase or ["upgrade"]
    try:
        body()
    except UnsafeTargetError as exc:  # the revision opened an engine of its own
        _rollback(context, connection, quietly=True)
        raise exc.in_revision(sc.revision, _relpath(sc), _line_in(exc, sc)) from None
    except (MigguardError, TimedOut, KeyboardInterrupt, Terminated):  # guard, signals
        _rollback(context, connection, quietly=True)  # the run is ending: keep its own error
        raise
    except SystemExit as exc:
        running.script = None
        _rollback(context, connection)
        return (f"the revision called sys.exit({exc.code!r})", _line_in(exc, sc))
    except BaseException as exc:  # any failure of user code is a finding...
        if _is_cancellation(exc):  # asyncio.run() unwinding after the alarm or Ctrl-C
            raise
        running.script = None
        _rollback(context, connection, quietly=True)
        signals.reraise_if_received()  # ...unless it is Ctrl-C cancelling a statement
        if connection.invalidated:  # ...or the server is gone: nothing left to check on
            raise MigguardError(
                f"lost the connection to the throwaway database while revision {sc.revision} "
                f"ran ({_describe(exc)}): the server stopped, or the revision ended migguard's "
                "session",
                path=_relpath(sc),
                line=_line_in(exc, sc),
            ) from exc
        return (_describe_failure(exc, connection), _line_in(exc, sc))
    running.script = None
    context.connection = context.impl.connection = connection
    if not keep:
        _rollback(context, connection)
        return None
    if context._transaction is not None and context._transaction.is_active:
        context._transaction.commit()
    elif connection.in_transaction():
        commit(connection)
    context._transaction = None
    return None


def _is_cancellation(exc: BaseException) -> bool:
    asyncio = sys.modules.get("asyncio")  # not imported: no event loop, no cancellation
    return asyncio is not None and isinstance(exc, asyncio.CancelledError)


def _relpath(sc: Script) -> str:
    """A revision's path as reported; the run's working directory is the project root."""
    return Path(os.path.relpath(sc.path)).as_posix()


def _rollback(context: MigrationContext, connection: Any, *, quietly: bool = False) -> None:
    """Undo a failed step. ``quietly``: a rollback that fails (the statement was abandoned by
    a signal, the server died) must not replace the error that explains why."""
    context.connection = context.impl.connection = connection
    try:
        if connection.in_transaction():
            rollback(connection)
    except Exception:
        if not quietly:
            raise
    finally:
        context._transaction = None


_TIMEOUT_SETTINGS = (("statement timeout", "statement_timeout"), ("lock timeout", "lock_timeout"))


def _describe_failure(exc: BaseException, connection: Any) -> str:
    """The error of a failed step as the user should read it: a statement cancelled by
    ``statement_timeout``/``lock_timeout`` says so, and after how long."""
    message = _describe(exc)
    text = str(getattr(exc, "orig", None) or exc)
    for phrase, setting in _TIMEOUT_SETTINGS:
        if phrase in text:
            seconds = _setting_seconds(connection, setting)
            after = f" after {seconds:g} s" if seconds is not None else ""
            what = "statement" if setting == "statement_timeout" else "lock wait"
            return f"{what} timed out{after} ({setting})"
    return message


def _setting_seconds(connection: Any, setting: str) -> float | None:
    """A millisecond setting as the failed session saw it (a database default or env.py's)."""
    from sqlalchemy import text

    try:
        value = connection.execute(
            text("SELECT setting FROM pg_settings WHERE name = :name"), {"name": setting}
        ).scalar()
        rollback(connection)
        return int(value) / 1000
    except Exception:
        return None


def _compare_at_head(context: MigrationContext, result: RunResult) -> None:
    """Alembic's own autogenerate, on the same MigrationContext and the user's options; what
    their filters keep out of it is recorded for schema-mismatch."""
    from alembic.autogenerate import produce_migrations

    from migguard.schema import filters

    with filters.recording(context.opts, result.target_metadata) as excluded:
        migration = produce_migrations(context, result.target_metadata)
    result.autogenerate_excluded = excluded
    upgrade_ops = migration.upgrade_ops
    assert upgrade_ops is not None
    result.drift_ops = upgrade_ops
    result.drift_diffs = list(upgrade_ops.as_diffs())
    if context.connection is not None and context.connection.in_transaction():
        rollback(context.connection)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return describe_exit(exc)
    orig = getattr(exc, "orig", None)
    if orig is not None:
        text = str(orig).strip().splitlines()
        return f"{type(orig).__name__}: {text[0] if text else ''}".strip()
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _line_in(exc: BaseException, sc: Script) -> int | None:
    """The deepest line of the revision file in the traceback: where the user looks first."""
    target = os.path.realpath(sc.path)
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if os.path.realpath(frame.f_code.co_filename) == target:
            line = lineno
    return line


def _revision_import_error(exc: BaseException, project: Project) -> MigguardError:
    """A revision module that does not import (a missing package, a NameError at module
    level), named by the deepest line of a revision file in the traceback."""
    directories = tuple(os.path.realpath(d) + os.sep for d in project.version_dirs)
    path: str | None = project.relpath(project.config_path)
    line: int | None = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        filename = os.path.realpath(frame.f_code.co_filename)
        if filename.startswith(directories):
            path, line = project.relpath(filename), lineno
    missing = _unset_settings(exc)
    if missing:
        message = f"importing the revision: {_settings_needed(missing)}"
    else:
        message = f"revision failed to import: {_describe(exc)}"
    return MigguardError(message, path=path, line=line)


def _env_error(exc: BaseException, project: Project, guard: Guard | None = None) -> MigguardError:
    from migguard import flask_app

    env_path = os.path.realpath(project.env_py)
    where_path, where_line = project.relpath(project.env_py), None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        filename = os.path.realpath(frame.f_code.co_filename)
        if filename == env_path:
            where_line = lineno
        elif (
            filename.startswith(str(project.root) + os.sep)
            and os.path.isfile(filename)
            and "site-packages" not in filename
            and not filename.startswith(_MIGGUARD_DIR)
        ):
            where_path, where_line = project.relpath(filename), lineno
    if isinstance(exc, SyntaxError) and exc.filename:
        where_path, where_line = project.relpath(exc.filename), exc.lineno
    missing = _unset_settings(exc)
    if isinstance(exc, ModuleNotFoundError | ImportError):
        message = f"env.py failed to import: {_describe(exc)}"
    elif missing:
        message = f"env.py's {_settings_needed(missing)}"
    elif isinstance(exc, SystemExit):
        message = f"the project exited while migguard loaded env.py: {_describe(exc)}"
    elif guard is not None and _is_connection_failure(exc):
        message = (
            f"env.py could not connect ({_describe(exc)}); it is not using migguard's "
            f"throwaway database. {guard.hint()}"
        )
    elif flask_app.queried_database_while_loading(exc):
        message = (
            f"the Flask app queried its database while it loaded ({_describe(exc)}): migguard "
            "loads the app on the empty throwaway database with its start-up migrations "
            "switched off; set flask-app in [tool.migguard] to a factory that does not query "
            "the database"
        )
    else:
        message = f"env.py raised {_describe(exc)}"
    return MigguardError(message, path=where_path, line=where_line)


def _settings_needed(missing: list[str]) -> str:
    names = ", ".join(missing)
    constants = ", ".join(f'{name} = "..."' for name in missing[:3])
    return (
        f"settings need {names}, which are not set: export them, put them in .env, or give "
        f"them values for the check in [tool.migguard.env] ({constants}); the database "
        "variables are migguard's to set"
    )


def _unset_settings(exc: BaseException) -> list[str]:
    """The fields a pydantic settings class reported missing (``Field required``), by their
    name: in CI there is often no .env, and "3 validation errors for Settings" alone does not
    say which variables to provide. Duck-typed, so pydantic is never imported for it."""
    errors = getattr(exc, "errors", None)
    if type(exc).__name__ != "ValidationError" or not callable(errors):
        return []
    try:
        details = errors()
    except Exception:
        return []
    return [
        ".".join(str(part) for part in detail.get("loc", ()))
        for detail in details
        if isinstance(detail, dict) and detail.get("type") == "missing" and detail.get("loc")
    ]


_MIGGUARD_DIR = os.path.dirname(os.path.realpath(__file__)) + os.sep


def _is_connection_failure(exc: BaseException) -> bool:
    from sqlalchemy.exc import OperationalError

    return isinstance(exc, OperationalError | ConnectionError | OSError) and not isinstance(
        exc, FileNotFoundError
    )


@dataclass
class _Recorder:
    """Where this run's revisions' operations go, with the revision-file line that invoked
    them: ``current`` is the list of the upgrade being recorded (None between them)."""

    paths: set[str]  # the revision files, resolved
    current: list[Op] | None = None


@contextmanager
def _recording_ops(recorder: _Recorder) -> Iterator[None]:
    from alembic.operations.base import AbstractOperations

    from migguard import ops

    _realpath.cache_clear()  # files may have moved since a previous run in this process
    original = AbstractOperations.invoke

    def invoke(self: Any, operation: Any) -> Any:
        if recorder.current is not None:
            # a drop is recorded with the dropped columns' types, read before they are gone
            line = _caller_line(recorder.paths)
            recorder.current.extend(ops.observe(operation, self.migration_context, line))
        return original(self, operation)

    AbstractOperations.invoke = invoke  # type: ignore[method-assign]
    try:
        yield
    finally:
        AbstractOperations.invoke = original  # type: ignore[method-assign]
        recorder.current = None


def _caller_line(paths: set[str]) -> int | None:
    frame = sys._getframe(2)
    while frame is not None:
        if _realpath(frame.f_code.co_filename) in paths:
            return frame.f_lineno
        frame = frame.f_back  # type: ignore[assignment]
    return None


@functools.lru_cache(maxsize=4096)
def _realpath(filename: str) -> str:
    """Every operation walks its caller frames: resolve each code file once, not each time."""
    return os.path.realpath(filename)


@contextmanager
def quiet_env_logging() -> Iterator[None]:
    """env.py's ``fileConfig(config.config_file_name)`` would print Alembic's INFO lines into
    migguard's output; migguard's report is the output, so the call is skipped."""
    import logging.config

    original = logging.config.fileConfig
    logging.config.fileConfig = lambda *args, **kwargs: None
    try:
        yield
    finally:
        logging.config.fileConfig = original


@contextmanager
def project_cwd(
    project: Project, config: Config, forget_later: list[Any] | None = None
) -> Iterator[None]:
    """Run as ``alembic`` would from the project directory: cwd, prepend_sys_path, root.

    The project's modules leave ``sys.modules`` at the end of the block. The classes they
    mapped leave their metadata and registry then too, unless ``forget_later`` collects the
    modules for :func:`forget_mapped_classes`: the checks after the stairway (schema-mismatch's
    ``create_all``, the naming rules) still read the metadata env.py gave."""
    from migguard.alembic_compat import prepend_sys_paths

    saved_cwd, saved_path = os.getcwd(), list(sys.path)
    saved_modules = set(sys.modules)
    os.chdir(project.root)
    extra = [str(project.root)]
    for entry in prepend_sys_paths(config):  # relative: to where alembic runs
        extra.insert(0, str((project.root / entry).resolve()))
    sys.path[:0] = [p for p in extra if p not in sys.path[:1]]
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        sys.path[:] = saved_path
        discarded = [
            sys.modules[name]
            for name in set(sys.modules) - saved_modules
            if _is_project_module(sys.modules.get(name), project.root)
        ]
        if forget_later is None:
            forget_mapped_classes(discarded)
        else:
            forget_later.extend(discarded)
        for module in discarded:
            del sys.modules[module.__name__]


def forget_mapped_classes(modules: list[Any]) -> None:
    """Take the tables and classes of discarded project modules out of the metadata and the
    declarative registry they joined. Both may belong to a library rather than the project
    (SQLModel's ``SQLModel.metadata``, a shared ``registry``): they outlive the run, and the
    next import of the same models in this process (a second ``migguard.check()``) would
    find its tables "already defined for this MetaData instance"."""
    from sqlalchemy import Table

    names = {module.__name__ for module in modules}
    for module in modules:
        for value in list(vars(module).values()):
            if not isinstance(value, type) or value.__module__ not in names:
                continue
            table = getattr(value, "__table__", None)
            if isinstance(table, Table) and table.metadata.tables.get(table.key) is table:
                table.metadata.remove(table)
            registry = getattr(value, "registry", None)
            class_registry = getattr(registry, "_class_registry", None)
            name = value.__name__
            if isinstance(class_registry, dict) and class_registry.get(name) is value:
                del class_registry[name]


def _is_project_module(module: Any, root: Path) -> bool:
    filename = getattr(module, "__file__", None) or ""
    return bool(filename) and os.path.realpath(filename).startswith(str(root))


def elapsed(start: float) -> float:
    return round(time.monotonic() - start, 3)
