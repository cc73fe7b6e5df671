"""The engine behind every front door: ``check(path, settings) -> Report``.

The CLI, the GitHub Action, the pre-commit hooks and the pytest plugin all call this; it holds
no presentation logic and never exits the process.
"""

from __future__ import annotations

import gc
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migguard import bootstrap, rules, since
from migguard.config import Settings, load_dotenv_for
from migguard.errors import MigguardError
from migguard.findings import Finding, Severity, sort_key
from migguard.project import Project, load_project

if TYPE_CHECKING:
    from migguard.database.base import Server
    from migguard.runner import RunResult

_YOUNG_GENERATION = 100_000  # allocations between two collections of the youngest generation


@dataclass
class Report:
    """What one run found and how much it looked at."""

    findings: list[Finding] = field(default_factory=list)
    revisions: int = 0
    checked: int = 0
    skipped: int = 0
    skipped_reason: str = ""  # why ``skipped`` revisions were not round-tripped
    seconds: float = 0.0
    provider: str = ""  # the throwaway database's provider and server version, when one ran
    server_version: str = ""
    notes: list[str] = field(default_factory=list)
    root: Path | None = None

    @property
    def database(self) -> str:
        """``local 15.18``: what the database findings were observed on."""
        return f"{self.provider} {self.server_version}".strip()

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.effective_severity is Severity.ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.effective_severity is Severity.WARNING)

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0


def check(
    path: Path | str,
    settings: Settings | None = None,
    *,
    on_revision: Callable[[int, int, str], None] | None = None,
) -> Report:
    """Check one Alembic project; raises MigguardError for anything that prevents checking.

    ``on_revision(number, total, revision)`` is called as the stairway reaches each revision
    (the CLI draws its progress line with it).

    The project's code runs in this process and prints (a revision's ``print()``, a handler
    bound to ``sys.stdout``, a child process): for the duration of the call, descriptor 1 is
    pointed at stderr, so a caller's own stdout (JSON it writes, a pytest report) carries none
    of it."""
    from migguard.report.stdout import project_output_on_stderr

    with _fewer_collections(), project_output_on_stderr(), _callers_environment():
        return _check(path, settings, on_revision)


@contextmanager
def _callers_environment() -> Iterator[None]:
    """The project's ``.env`` (read into ``os.environ`` so that its code finds what it would
    find under ``alembic``) and the project's own code (``load_dotenv()``, settings modules)
    write the environment during a run. The caller's process gets it back as it was: a pytest
    session whose later tests would inherit the project's ``SECRET_KEY`` or ``DATABASE_URL``,
    a program that calls ``migguard.check()`` for several projects."""
    import os

    saved = dict(os.environ)
    try:
        yield
    finally:
        if dict(os.environ) != saved:
            os.environ.clear()
            os.environ.update(saved)


def _check(
    path: Path | str,
    settings: Settings | None,
    on_revision: Callable[[int, int, str], None] | None,
) -> Report:
    started = time.monotonic()
    settings = settings or Settings(path=Path(path))
    project = load_project(Path(path), settings.config_file, settings.name)
    # The project's modules, unloaded when the checks are done with the metadata they built.
    project_modules: list[Any] = []
    try:
        bootstrap.validate(settings)
        return _check_project(project, settings, on_revision, started, project_modules)
    except MigguardError as exc:  # its relative path is the project's, as findings' are
        exc.root = exc.root or project.root
        raise
    finally:
        if project_modules:
            from migguard.runner import forget_mapped_classes

            forget_mapped_classes(project_modules)


def _check_project(
    project: Project,
    settings: Settings,
    on_revision: Callable[[int, int, str], None] | None,
    started: float,
    project_modules: list[Any],
) -> Report:
    project.flask_app = settings.flask_app
    dotenv_values = load_dotenv_for(project.root)
    report = Report(root=project.root)
    revision_files = project.revision_files()
    report.revisions = len(revision_files)
    new = since.new_revisions(project, settings.since) if settings.since else None
    if new == set():
        report.notes.append(f"--since {settings.since}: no revision added, none round-tripped")

    metadata = (
        _offline_metadata(project, settings, report, dotenv_values, project_modules)
        if settings.static
        else None
    )
    findings = _static_findings(project, settings, metadata=metadata)
    graph_broken = any(f.rule == "broken-graph" for f in findings)
    if not settings.static:
        if graph_broken:
            report.notes.append("revision graph is broken: database checks skipped")
        else:
            with _overall_timeout(settings.timeout):
                findings += _database_findings(
                    project, settings, dotenv_values, report, project_modules, new, on_revision
                )
    if new is not None:
        findings = since.in_scope(findings, new)
    report.findings = _finalize(findings, project, settings)
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _offline_metadata(
    project: Project,
    settings: Settings,
    report: Report,
    dotenv_values: dict[str, str],
    project_modules: list[Any],
) -> Any:
    """target_metadata for the static naming rules; a project whose models do not import
    still gets every other static rule, with a note."""
    from migguard import runner, safety

    if settings.metadata:
        return metadata_override(settings)
    config = project.alembic_config()
    guard = safety.Guard(env_py=project.env_py)
    values = _static_environment(project, settings, dotenv_values)
    try:
        project.script_directory()
        with safety.environment(values), runner.project_cwd(project, config, project_modules):
            return runner.load_metadata_offline(project, config, guard)
    except safety.OfflineConnectionError:  # an offline branch that connects: say so, exit 2
        raise
    except MigguardError as exc:
        report.notes.append(
            f"model metadata not loaded, naming checks on models skipped: {exc}"
            + _missing_packages_advice(exc)
        )
        return None


# --static starts no server; env.py's settings still need their database variables, so they
# name one that does not exist (the guard refuses every connection in offline mode anyway).
_STATIC_URL = "postgresql://migguard:migguard@127.0.0.1:5432/migguard_static"


def _static_environment(
    project: Project, settings: Settings, dotenv_values: dict[str, str]
) -> dict[str, str]:
    """The variables a database run would give env.py, [tool.migguard.env] included: a
    settings class that requires them loads the same way in the pre-commit hook."""
    import os

    from sqlalchemy.engine import make_url

    from migguard import safety

    driver = project_driver(project, dotenv_values)
    target = make_url("sqlite://" if driver == "sqlite" else _STATIC_URL).set(drivername=driver)
    return safety.redirect_values(
        target,
        default_driver=driver,
        mapping=settings.env,
        existing={**dotenv_values, **os.environ},
    )


def _missing_packages_advice(exc: MigguardError) -> str:
    """The pre-commit hook runs in an environment of its own, with migguard and nothing of the
    project: an import that fails there is fixed in .pre-commit-config.yaml."""
    import os

    if not isinstance(exc.__cause__, ImportError):
        return ""
    if os.environ.get("PRE_COMMIT") == "1":
        return (
            "; the pre-commit hook's environment lacks the project's packages: list them under "
            "additional_dependencies in .pre-commit-config.yaml"
        )
    return "; install the project's packages where migguard runs"


def _static_findings(project: Project, settings: Settings, metadata: Any) -> list[Finding]:
    """The sources phase, and in ``--static`` mode the static readings of database rules."""
    from migguard.checks import StaticContext

    context = StaticContext(project=project, settings=settings, metadata=metadata)
    phases = [rules.Phase.SOURCES]
    if settings.static:
        phases.append(rules.Phase.STATIC_READING)
    findings: list[Finding] = []
    for phase in phases:
        for check in rules.checks(phase):
            findings += check.function(context)
    return findings


def _database_findings(
    project: Project,
    settings: Settings,
    dotenv_values: dict[str, str],
    report: Report,
    project_modules: list[Any],
    new: set[str] | None = None,
    on_revision: Callable[[int, int, str], None] | None = None,
) -> list[Finding]:
    from migguard import database, extensions
    from migguard.checks import RunContext
    from migguard.deploy.release import running_release
    from migguard.runner import RunPlan

    driver = project_driver(project, dotenv_values)
    with (
        running_release(project, settings, new) as (release, release_notes),
        database.provide(
            settings.db,
            database_url=settings.database_url,
            postgres_version=settings.postgres_version,
            wants_sqlite=driver == "sqlite",
            extensions=extensions.required(project),
        ) as server,
    ):
        report.provider, report.server_version = server.kind, server.version
        with _ModelsDatabase(server) as models_database:
            plan = RunPlan(
                since=new,
                metadata_override=metadata_override(settings),
                on_revision=on_revision,
                on_metadata=models_database.fill,
                on_base_head=release.at_base_head if release is not None else None,
                rehearsal=_rehearsal(project, settings, new),
            )
            result = _run_on(
                server,
                project,
                settings,
                driver,
                dotenv_values,
                plan,
                project_modules,
                models_database,
                release,
            )
        report.checked = len(result.checked)
        report.skipped = len(result.revisions) - len(result.checked)
        report.skipped_reason = _skipped_reason(report, result, settings)
        result.started_empty = not bootstrap.configured(settings)
        run = RunContext(
            project=project,
            settings=settings,
            result=result,
            notes=report.notes,
            compare_models=lambda: _models_differences(server, result, models_database),
            running_release=release,
        )
        findings: list[Finding] = []
        for check in rules.checks(rules.Phase.RUN):
            findings += check.function(run)
        report.notes.extend(result.notes)
        report.notes.extend(release_notes)
    return findings


def _skipped_reason(report: Report, result: RunResult, settings: Settings) -> str:
    if not report.skipped:
        return ""
    if result.stopped:
        return result.stopped
    if settings.since is not None:
        return f"--since {settings.since}: only the revisions added since were round-tripped"
    return "the stairway did not reach them"


def _rehearsal(project: Project, settings: Settings, new: set[str] | None) -> Any:
    """The production rehearsal of this run, or None when it covers no revision."""
    from migguard.rehearsal.selection import rehearsed
    from migguard.rehearsal.step import Rehearsal

    revisions = rehearsed(settings.rehearse, project.revision_files(), new)
    return Rehearsal(revisions) if revisions else None


def _run_on(
    server: Server,
    project: Project,
    settings: Settings,
    driver: str,
    dotenv_values: dict[str, str],
    plan: Any,
    project_modules: list[Any],
    models_database: _ModelsDatabase | None = None,
    release: Any = None,
) -> RunResult:
    import os

    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from migguard import runner, safety

    url = server.create_database()
    _set_database_settings(server, url, settings)
    guard = safety.Guard(env_py=project.env_py)
    guard.allow(url)

    def fresh_database() -> None:
        with guard.administration():
            _recreate(server, url, settings)
        bootstrap.apply(url, settings, project)

    plan.fresh_database = fresh_database
    if models_database is not None:
        models_database.allow_in(guard)
    render_driver = "sqlite" if server.is_sqlite else driver
    target = url.set(drivername=render_driver)
    values = safety.redirect_values(
        url,
        default_driver=render_driver,
        mapping=settings.env,
        existing={**dotenv_values, **os.environ},
    )
    guard.variables_set = tuple(values)
    if release is not None:
        release.start(url, server.is_sqlite, values)
    config = project.alembic_config()
    config.set_main_option(
        "sqlalchemy.url", target.render_as_string(hide_password=False).replace("%", "%%")
    )
    script = project.script_directory()
    engine = create_engine(url, poolclass=NullPool)
    try:
        with (
            safety.environment(values),
            runner.project_cwd(project, config, project_modules),
            engine.connect() as connection,
        ):
            with guard.watching_engines():
                bootstrap.apply(url, settings, project)
            config.attributes["connection"] = connection
            return runner.run(project, script, config, guard, plan)
    finally:
        engine.dispose()


def _recreate(server: Server, url: Any, settings: Settings) -> None:
    """The run's database dropped and created again under the same name, empty: whatever
    env.py and the project's settings resolved the URL to still reaches it."""
    if server.is_sqlite:
        Path(url.database).unlink(missing_ok=True)
        return
    server.drop_database(url.database)
    server.create_database(url.database)
    _set_database_settings(server, url, settings)


def _set_database_settings(server: Server, url: Any, settings: Settings) -> None:
    """Settings of the run's database, which this run just created (never one it did not),
    so that every session on it has them, the project's included: migguard's safety
    timeouts, and JIT off. JIT compiles a query whose estimated cost is high, which on a
    schema of thousands of relations the rehearsal's catalog look-ups reach (one took 0.4 s
    instead of under a millisecond); it changes no lock, rewrite or scan, only how fast
    queries on tables of a few rows are planned."""
    if server.is_sqlite:
        return
    if url.database not in server.created:
        raise RuntimeError(f"{url.database} is not a database this run created")
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(server.admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            for name, seconds in (
                ("statement_timeout", settings.statement_timeout),
                ("lock_timeout", settings.lock_timeout),
            ):
                ms = int(seconds * 1000)
                conn.execute(text(f'ALTER DATABASE "{url.database}" SET {name} = {ms}'))
            if conn.execute(text("SELECT 1 FROM pg_settings WHERE name = 'jit'")).first():
                conn.execute(text(f'ALTER DATABASE "{url.database}" SET jit = off'))
    finally:
        engine.dispose()


class _ModelsDatabase:
    """The second database, where ``create_all`` builds the models for schema-mismatch.

    Created alongside the migrations' database (a CREATE DATABASE takes a quarter of a
    second), and filled in a thread while the history runs, as soon as the runner knows the
    target metadata: that work then costs no wall time of its own. Only when the schema at
    head has extensions (which ``create_all`` may need first) is it redone at the end, on a
    fresh database, as before. Leaving the block waits for the thread, so cleanup sees every
    database it made.
    """

    def __init__(self, server: Server) -> None:
        self.server = server
        self._pool: Any = None
        self._database: Any = None  # Future of the URL
        self._filled: Any = None  # Future of the models' Snapshot
        self._metadata: Any = None

    def __enter__(self) -> _ModelsDatabase:
        if not self.server.is_sqlite:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=1)
            self._database = self._pool.submit(self.server.create_database)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def url(self) -> Any:
        return self._database.result()

    def _ready(self) -> bool:
        """Created without error (waits for it); a failure is raised later, where it was."""
        return self._database is not None and self._database.exception() is None

    def allow_in(self, guard: Any) -> None:
        """The thread fills it while env.py runs, when the guard refuses other databases."""
        if self._ready():
            guard.allow(self.url())

    def fill(self, metadata: Any) -> None:
        """The runner's ``on_metadata``: build the models now, assuming no extensions."""
        if self._pool is not None and metadata is not None and self._ready():
            self._metadata = metadata
            self._filled = self._pool.submit(
                _models_snapshot, self.url(), _as_list(metadata), (), False
            )

    def snapshot(self, result: RunResult) -> Any:
        """The models' snapshot for ``result`` (raises what create_all raised)."""
        assert result.head_snapshot is not None
        extensions = result.head_snapshot.extensions
        filled = self._filled is not None
        if filled and self._metadata is result.target_metadata and not extensions:
            return self._filled.result()
        # used already, or never made (SQLite): build in a fresh one
        fresh = filled or self._database is None
        url = self.server.create_database() if fresh else self.url()
        metadatas = _as_list(result.target_metadata)
        return _models_snapshot(url, metadatas, extensions, self.server.is_sqlite)


def _models_snapshot(
    url: Any, metadatas: list[Any], extensions: tuple[str, ...], is_sqlite: bool
) -> Any:
    """``create_all`` on an empty database (after the extensions and schemas it needs)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    from migguard import schema

    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            if not is_sqlite:
                # the history may be running meanwhile: its snapshots must not take this
                # transaction, in another database, for a change to theirs
                xid = conn.execute(text("SELECT txid_current()")).scalar_one()
                schema.tracking.transaction_elsewhere(xid)
                for extension in extensions:
                    conn.execute(text(f'CREATE EXTENSION IF NOT EXISTS "{extension}"'))
                for schema_name in {t.schema for m in metadatas for t in m.tables.values()}:
                    if schema_name:
                        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema_name}"'))
            # One metadata on an empty database: nothing to look up first (a query per table
            # and type); extensions' tables or a second metadata could collide, so check then.
            empty = len(metadatas) == 1 and not extensions
            for metadata in metadatas:
                metadata.create_all(conn, checkfirst=not empty)
        with engine.connect() as conn:
            return schema.snapshot(conn)
    finally:
        engine.dispose()


def _models_differences(
    server: Server, result: RunResult, models_database: _ModelsDatabase | None = None
) -> list[Any]:
    """create_all in a second fresh database; compare with the head snapshot."""
    from migguard import schema
    from migguard.schema import filters

    if result.head_snapshot is None:
        return []
    metadatas = _as_list(result.target_metadata)
    models_database = models_database or _ModelsDatabase(server)
    try:
        models = models_database.snapshot(result)
    except MigguardError:
        raise  # no database to build in: the run cannot go on, as before
    except Exception as exc:
        result.notes.append(
            f"metadata.create_all failed, schema-mismatch skipped: {_first_lines(exc)}"
        )
        return []
    head = result.head_snapshot
    excluded = result.autogenerate_excluded
    if excluded:  # what env.py keeps out of autogenerate is not the models' business
        head = filters.without_excluded(head, excluded)
        models = filters.without_excluded(models, excluded)
    tables = {
        (t.schema, t.name)
        for m in metadatas
        for t in m.tables.values()
        if not (excluded and excluded.hides_table((t.schema, t.name)))
    }
    return schema.diff(schema.restrict(head, tables), schema.restrict(models, tables))


def _first_lines(exc: BaseException) -> str:
    """The database's error and the statement it refused, one line each joined: SQLAlchemy's
    text of a failed ``CREATE TABLE`` runs to the whole statement and a link."""
    error = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    statement = str(getattr(exc, "statement", None) or "").strip().splitlines()
    said = error[0] if error else type(exc).__name__
    return f"{said} (in {statement[0].rstrip(' (')})" if statement else said


def _as_list(metadata: Any) -> list[Any]:
    if metadata is None:
        return []
    if isinstance(metadata, list | tuple):
        return list(metadata)
    return [metadata]


def metadata_override(settings: Settings) -> Any:
    if not settings.metadata:
        return None
    import importlib

    module_name, _, attr = settings.metadata.partition(":")
    try:
        module = importlib.import_module(module_name)
        value: Any = module
        for part in (attr or "metadata").split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as exc:
        raise MigguardError(f"--metadata {settings.metadata}: {exc}") from exc
    return value


def project_driver(project: Project, dotenv_values: dict[str, str]) -> str:
    """The SQLAlchemy driver the project itself uses, so env.py gets a URL it can open."""
    import os

    from sqlalchemy.engine import make_url

    from migguard.safety import URL_VARIABLES

    candidates: list[str] = []
    ini_url = project.alembic_config().get_main_option("sqlalchemy.url")
    if ini_url:
        candidates.append(ini_url)
    for name in URL_VARIABLES:
        value = os.environ.get(name) or dotenv_values.get(name)
        if value:
            candidates.append(value)
    for candidate in candidates:
        try:
            url = make_url(candidate.strip())
        except Exception:
            continue
        backend = url.get_backend_name()
        if backend == "sqlite":
            return "sqlite"
        if backend in ("postgresql", "postgres"):
            driver = url.get_driver_name()
            return f"postgresql+{driver}" if driver else "postgresql+psycopg2"
    env_text = project.env_py.read_text(encoding="utf-8", errors="replace")
    if "async_engine_from_config" in env_text or "create_async_engine" in env_text:
        return "postgresql+asyncpg"
    return "postgresql+psycopg2"


def _finalize(findings: list[Finding], project: Project, settings: Settings) -> list[Finding]:
    """Selection, suppressions, each finding's severity fixed, then the baseline."""
    from migguard import suppress

    kept = [f for f in findings if settings.rule_enabled(f.rule)]
    kept, problems = suppress.apply_suppressions(kept, project.root)
    kept += [p for p in problems if settings.rule_enabled(p.rule)]
    kept = rules.finalise(kept, settings.severity)
    if settings.baseline is not None:
        kept = suppress.apply_baseline(kept, settings.baseline)
    return sorted(kept, key=sort_key)


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Let the young generation grow before the cyclic collector runs, for this run only.

    A run allocates steadily (each revision's operations, SQL compilation, snapshot records)
    on top of a large heap that stays alive until the end, so with CPython's default of a
    collection every 700 net allocations the collector ran ~500 times on a 300-revision
    history, and its full collections alone took a third of a second, finding almost nothing.
    mypy raises the same threshold for the same reason. The previous thresholds come back
    afterwards: the pytest plugin runs inside the user's process."""
    previous = gc.get_threshold()
    gc.set_threshold(max(previous[0], _YOUNG_GENERATION), *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)


@contextmanager
def _overall_timeout(seconds: float) -> Iterator[None]:
    """--timeout for the whole run; cleanup still runs because it unwinds as an exception."""
    if not seconds or seconds <= 0 or not hasattr(signal, "SIGALRM"):
        yield
        return

    from migguard.runner import TimedOut  # a revision running now is reported as the culprit

    def expire(signum: int, frame: Any) -> None:
        raise TimedOut(f"timed out after {seconds:g} s (--timeout)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except TimedOut as exc:  # not inside a revision (env.py, cluster start): exit 2
        raise MigguardError(str(exc)) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
