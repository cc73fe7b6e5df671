"""Click commands only: parse flags, call the engine, pick a reporter, choose the exit code."""

from __future__ import annotations

import gc
import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from migguard import __version__
from migguard.config import DEPLOY_ORDERS, FORMATS, PROVIDERS, load_settings
from migguard.errors import MigguardError, Terminated, describe_exit

if TYPE_CHECKING:
    from migguard.report.failure import Failure
from migguard.rehearsal.selection import MODES

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


def _fail(message: str) -> None:
    click.echo(f"migguard: error: {message}", err=True)


def _run_guarded(
    verbose: bool, body: Any, on_failure: Callable[[Failure], None] | None = None
) -> int:
    """Every failure becomes one line and exit 2; tracebacks only with -v. ``on_failure``
    also gets it, to put it where the report would have gone."""
    from migguard import signals
    from migguard.report.failure import Failure

    signals.install()
    try:
        return int(body())
    except KeyboardInterrupt:
        return _interrupted(signal.SIGINT)
    except Terminated:
        return _interrupted(signal.SIGTERM)
    except MigguardError as exc:
        if signals.received() is not None:  # a statement the signal cancelled, wherever it ran
            return _interrupted(signals.received())
        if verbose:
            traceback.print_exc()
        return _failed(Failure.from_error(exc), on_failure)
    except SystemExit as exc:  # project code imported outside env.py (--metadata's models)
        if verbose:
            traceback.print_exc()
        message = f"the project exited while migguard loaded it: {describe_exit(exc)}"
        return _failed(Failure(message), on_failure)
    except Exception as exc:
        if signals.received() is not None:
            return _interrupted(signals.received())
        if verbose:
            traceback.print_exc()
        detail = str(exc).strip().splitlines()
        message = f"internal error: {type(exc).__name__}: {detail[0] if detail else ''}"
        return _failed(Failure(f"{message} (rerun with -v)"), on_failure)


def _failed(failure: Failure, on_failure: Callable[[Failure], None] | None) -> int:
    _fail(failure.shown())
    if on_failure is not None:
        on_failure(failure)
    return EXIT_ERROR


def _interrupted(signum: int | None) -> int:
    """Ctrl-C or SIGTERM ended the run; cleanup ran as the exception unwound. Whatever error a
    cancelled statement raised on its way out is a consequence, not the news."""
    if signum == signal.SIGTERM:
        _fail("terminated; throwaway databases removed")
        return 143
    _fail("interrupted; throwaway databases removed")
    return EXIT_INTERRUPTED


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="migguard")
def cli() -> None:
    """Migration-safety checks for SQLAlchemy + Alembic projects."""


def _split(value: str | None) -> tuple[str, ...] | None:
    if not value:
        return None
    return tuple(v.strip() for v in value.split(",") if v.strip())


@cli.command()
@click.argument("path", type=click.Path(path_type=Path), default=".")
@click.option(
    "-c",
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    help="alembic.ini (or pyproject.toml) other than PATH/alembic.ini",
)
@click.option("-n", "--name", default=None, help="Section of alembic.ini, as `alembic -n NAME`")
@click.option(
    "--bootstrap",
    default=None,
    help="package.module:function that builds the schema the first revision starts from",
)
@click.option(
    "--bootstrap-sql",
    type=click.Path(path_type=Path),
    default=None,
    help="A schema dump to load before the first revision, instead of --bootstrap",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default=None,
    help="Output format (default: text)",
)
@click.option(
    "--db",
    type=click.Choice(PROVIDERS),
    default=None,
    help="Where the throwaway database comes from (default: auto)",
)
@click.option(
    "--database-url",
    envvar="MIGGUARD_DATABASE_URL",
    default=None,
    help="A PostgreSQL server migguard may create and drop a database on",
)
@click.option("--postgres-version", default=None, help="Server major version (docker, local)")
@click.option("--select", default=None, help="Only these rules (comma-separated ids)")
@click.option("--ignore", default=None, help="Skip these rules (comma-separated ids)")
@click.option("--static", is_flag=True, default=False, help="Only rules that need no database")
@click.option("--since", default=None, help="Round-trip only revisions added since REV or git ref")
@click.option(
    "--deploy-order",
    type=click.Choice(DEPLOY_ORDERS),
    default=None,
    help="Which release meets which schema during a deploy (default: migrate-first)",
)
@click.option(
    "--rehearse",
    type=click.Choice(MODES),
    default=None,
    help="Revisions run on tables holding rows, under observation: auto (the new ones with "
    "--since, else the heads), all, none",
)
@click.option(
    "--baseline",
    type=click.Path(path_type=Path),
    default=None,
    help="Ignore findings recorded in this baseline file",
)
@click.option("--metadata", default=None, help="module:attr of the MetaData, overriding env.py")
@click.option("--timeout", type=float, default=None, help="Seconds for the whole run (600)")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the report to this file instead of stdout",
)
@click.option(
    "--sarif",
    "sarif_file",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write a SARIF 2.1.0 report to this file (one run, two formats)",
)
@click.option("-v", "--verbose", is_flag=True, default=False, help="Tracebacks and progress")
def check(
    path: Path,
    config_file: Path | None,
    name: str | None,
    bootstrap: str | None,
    bootstrap_sql: Path | None,
    output_format: str | None,
    db: str | None,
    database_url: str | None,
    postgres_version: str | None,
    select: str | None,
    ignore: str | None,
    static: bool,
    since: str | None,
    deploy_order: str | None,
    rehearse: str | None,
    baseline: Path | None,
    metadata: str | None,
    timeout: float | None,
    output: Path | None,
    sarif_file: Path | None,
    verbose: bool,
) -> None:
    """Check the Alembic project in PATH (the directory holding alembic.ini)."""
    from migguard.report.output import ReportOutput
    from migguard.report.stdout import reserved_for_report

    def body() -> int:
        from migguard.engine import check as run_check

        settings = load_settings(
            path,
            {
                "config_file": config_file,
                "name": name,
                "bootstrap": bootstrap,
                "bootstrap_sql": bootstrap_sql,
                "format": output_format,
                "db": db,
                "database_url": database_url,
                "postgres_version": postgres_version,
                "select": _split(select),
                "ignore": _split(ignore),
                "static": static or None,
                "since": since,
                "deploy_order": deploy_order,
                "rehearse": rehearse,
                "baseline": baseline,
                "metadata": metadata,
                "timeout": timeout,
                "verbose": verbose or None,
                "output": output,
            },
        )
        destination.format = settings.format
        from migguard import progress

        with progress.on_stderr() as on_revision:
            report = run_check(path, settings, on_revision=on_revision)
        destination.write(report)
        return report.exit_code

    with reserved_for_report() as stdout:
        destination = ReportOutput(output_format or "text", stdout, output, sarif_file)
        code = _run_guarded(verbose, body, destination.failed)
    sys.exit(code)


@cli.command()
@click.argument("path", type=click.Path(path_type=Path), default=".")
@click.option("-c", "--config", "config_file", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Baseline file to write (default: [tool.migguard] baseline, else .migguard-baseline.json)",
)
@click.option("--static", is_flag=True, default=False)
@click.option("--db", type=click.Choice(PROVIDERS), default=None)
@click.option("--database-url", envvar="MIGGUARD_DATABASE_URL", default=None)
@click.option("-v", "--verbose", is_flag=True, default=False)
def baseline(
    path: Path,
    config_file: Path | None,
    output: Path | None,
    static: bool,
    db: str | None,
    database_url: str | None,
    verbose: bool,
) -> None:
    """Record the current findings so that only new ones fail from now on.

    The way to adopt migguard on a project whose history already has findings (unnamed
    constraints, downgrades never written): they are recorded, not fixed, and every later
    check reports only what is new."""
    from migguard.report.stdout import reserved_for_report

    def body() -> int:
        from migguard.engine import check as run_check
        from migguard.suppress import write_baseline

        settings = load_settings(
            path,
            {
                "config_file": config_file,
                "static": static or None,
                "db": db,
                "database_url": database_url,
            },
        )
        target = output or settings.baseline or Path(".migguard-baseline.json")
        configured = settings.baseline is not None and target == settings.baseline
        settings.baseline = None
        report = run_check(path, settings)
        write_baseline(report.findings, target)
        use = (
            "migguard check reads it ([tool.migguard] baseline)"
            if configured
            else f'pass --baseline {target}, or set baseline = "{target}" in [tool.migguard]'
        )
        click.echo(
            f"wrote {len(report.findings)} finding(s) to {target}; only new ones fail: {use}",
            file=stdout,
        )
        return EXIT_CLEAN

    with reserved_for_report() as stdout:
        code = _run_guarded(verbose, body)
    sys.exit(code)


@cli.command()
@click.argument("path", type=click.Path(path_type=Path), default=".")
@click.option("--force", is_flag=True, default=False, help="Replace files that already exist")
@click.option("--sarif", is_flag=True, default=False, help="Upload SARIF to code scanning too")
def init(path: Path, force: bool, sarif: bool) -> None:
    """Add [tool.migguard], the pre-commit hook and the GitHub workflow for PATH."""

    def body() -> int:
        from migguard.scaffold import apply, plan

        planned = plan(path, force=force, sarif=sarif)
        apply(planned)
        for item in planned:
            click.echo(item.describe())
        return EXIT_CLEAN

    sys.exit(_run_guarded(False, body))


@cli.command()
@click.option("--postgres-version", default=None, help="Which provider auto picks for it")
def doctor(postgres_version: str | None) -> None:
    """Which throwaway-database providers work here, the PostgreSQL each starts, and why the
    others do not."""
    from migguard import database
    from migguard.database.versions import offer

    usable = 0
    for kind in ("url", "embedded", "local", "docker", "sqlite"):
        reason = database.availability(kind)
        mark = "ok " if reason is None else "-- "
        usable += reason is None and kind in ("embedded", "local", "docker", "url")
        found = offer(kind) if reason is None else None
        detail = found.describe() if found is not None else reason or "usable"
        click.echo(f"{mark}{kind:<9} {detail}")
    try:
        picked = database.choose(
            "auto",
            database_url=os.environ.get("MIGGUARD_DATABASE_URL"),
            wants_sqlite=False,
            postgres_version=postgres_version,
        )
    except MigguardError as exc:
        click.echo(f"auto: {exc}")
        sys.exit(EXIT_ERROR)
    found = offer(picked)
    version = found.starts(postgres_version) if found is not None else ""
    starts = f" (PostgreSQL {version})" if version else ""
    click.echo(f"auto: {picked}{starts}")
    sys.exit(EXIT_CLEAN if usable else EXIT_ERROR)


@cli.command()
@click.option("--markdown", is_flag=True, help="The Markdown table README.md shows")
def rules(markdown: bool) -> None:
    """List every rule with its default severity and what it needs."""
    from migguard import rules as registry

    if markdown:
        click.echo(registry.table())
        return
    for found in sorted(registry.load().values(), key=lambda r: r.id):
        columns = f"{found.id:<27} {found.severity.value:<8} {found.needs.value:<9}"
        click.echo(f"{columns} {found.scope.value:<8} {found.summary}")


@cli.command()
@click.argument("rule_id")
def rule(rule_id: str) -> None:
    """Explain one rule, with a bad and a good example (like `ruff rule`)."""
    from migguard import rules as registry

    found = registry.get(rule_id)
    if found is None:
        _fail(registry.unknown_id_message(rule_id))
        sys.exit(EXIT_ERROR)
    click.echo(f"# {found.id} ({found.severity.value})\n\n{found.summary}\n")
    click.echo(f"needs: {found.needs.value}; scope: {found.scope.value}; family: {found.family}\n")
    click.echo(f"## What it does\n{found.what}\n\n## Why is this bad?\n{found.why}\n")
    click.echo(f"## Example\n```python\n{found.example}\n```\n")
    click.echo(f"## Use instead\n```python\n{found.use_instead}\n```")


def main() -> None:
    """The console script. A check's heap is large and long-lived (SQLAlchemy metadata, every
    revision module, Alembic's operations), and at exit CPython's cyclic collector walks all of
    it once more while tearing the interpreter down: half a second on a 300-revision history.
    Freezing the heap first skips that walk; cleanup already ran in the commands' own
    ``finally`` blocks, and atexit handlers and stream flushing still run as usual."""
    try:
        cli(prog_name="migguard")
    finally:
        gc.freeze()
