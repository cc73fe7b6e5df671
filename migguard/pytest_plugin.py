"""pytest plugin: ``pytest --migguard`` runs migguard's checks as test items, and the
``migguard_db`` fixture hands tests a throwaway PostgreSQL database.

Installing migguard loads this module into every pytest run of the environment (it is a
``pytest11`` entry point), including test suites that never asked for it. So it imports
nothing but pytest at import time, and does nothing unless ``--migguard`` is given or a test
requests ``migguard_db``: the engine, SQLAlchemy and the database providers are imported on
first use.

With ``--migguard``, one item per rule family is added to the session (``migguard::drift``,
``migguard::round-trip``, ``migguard::static``). The first of them to run checks the project
once; each fails with the findings' text when its family has error-level findings.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from migguard.database import Server
    from migguard.engine import Report

STATIC_FAMILY = "static"  # every rule that needs no database: graph, naming, renames, ...

_REPORT = pytest.StashKey["Report | MigguardFailure"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("migguard", "migration-safety checks (migguard)")
    group.addoption(
        "--migguard",
        action="store_true",
        default=False,
        help="Check the Alembic project with migguard: one test item per rule family.",
    )
    group.addoption(
        "--migguard-path",
        default=".",
        help="Directory holding alembic.ini (default: .).",
    )
    group.addoption(
        "--migguard-db",
        default=None,
        help="Throwaway database provider for --migguard and the migguard_db fixture: "
        "auto, url, embedded, local, docker, sqlite (default: the project's setting, or auto).",
    )


def family_of(rule_id: str) -> str:
    """The item a rule's findings fail: the rule's family when it needs a database (drift,
    round-trip, ...), else static."""
    from migguard import rules

    rule = rules.get(rule_id)
    if rule is None or rule.needs is rules.Needs.STATIC:
        return STATIC_FAMILY
    return rule.family


def item_names() -> list[str]:
    """One item per family of rules that need a database, then ``static``."""
    from migguard import rules

    return [
        *sorted({family_of(rule_id) for rule_id in rules.load()} - {STATIC_FAMILY}),
        STATIC_FAMILY,
    ]


def _skipped_notes(report: Report, family: str) -> list[str]:
    """The notes saying why each rule of ``family`` did not run (``ID skipped: ...``), when
    every one of them says so: such an item could not fail, so it is reported as skipped
    rather than passed (breaks-running-release needs a git ref the plugin does not have)."""
    from migguard import rules

    ids = [rule_id for rule_id in rules.load() if family_of(rule_id) == family]
    notes = [note for note in report.notes if any(note.startswith(f"{i} skipped:") for i in ids)]
    said = {i for i in ids if any(note.startswith(f"{i} skipped:") for note in notes)}
    return notes if ids and said == set(ids) else []


class MigguardFailure(Exception):
    """Raised by an item: its text is the report, shown without a Python traceback."""


class MigguardCollector(pytest.Collector):
    """The ``migguard`` node of the session; its children are the rule families."""

    def collect(self) -> list[pytest.Item]:
        return [MigguardItem.from_parent(self, name=family) for family in item_names()]


class MigguardItem(pytest.Item):
    """Passes when migguard found no error-level finding of this item's rule family."""

    def runtest(self) -> None:
        from migguard.findings import Severity

        report = _report(self.config)
        if isinstance(report, MigguardFailure):
            raise report
        errors = [
            finding
            for finding in report.findings
            if family_of(finding.rule) == self.name and finding.effective_severity is Severity.ERROR
        ]
        if errors:
            raise MigguardFailure(_render(report, errors))
        skipped = _skipped_notes(report, self.name)
        if skipped:
            pytest.skip(skipped[0])

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, MigguardFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"migguard: {self.name}"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Append the migguard items before -k/-m deselection sees the list."""
    if not config.getoption("migguard"):
        return
    path = Path(config.getoption("migguard_path")).resolve()
    collector = MigguardCollector.from_parent(
        session, name="migguard", path=path, nodeid="migguard"
    )
    items.extend(collector.collect())


def _report(config: pytest.Config) -> Report | MigguardFailure:
    """The engine's report for --migguard-path, computed once per session."""
    if _REPORT not in config.stash:
        from migguard.config import load_settings
        from migguard.errors import MigguardError

        path = Path(config.getoption("migguard_path"))
        overrides: dict[str, Any] = {"db": config.getoption("migguard_db")}
        try:
            from migguard.engine import check

            settings = load_settings(path, overrides)
            config.stash[_REPORT] = check(path, settings)
        except MigguardError as exc:
            config.stash[_REPORT] = MigguardFailure(f"migguard could not check {path}: {exc}")
    return config.stash[_REPORT]


def _render(report: Report, findings: list[Any]) -> str:
    from dataclasses import replace

    from migguard.report.text import render

    return render(replace(report, findings=findings, notes=[]), color=False)


@pytest.fixture(scope="session")
def _migguard_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """One throwaway server for the session, removed at its end."""
    import os

    from migguard.database import provide_for_tests

    kind = request.config.getoption("migguard_db") or "auto"
    database_url = os.environ.get("MIGGUARD_DATABASE_URL")
    with provide_for_tests(kind, database_url=database_url) as throwaway:
        yield throwaway.server


@pytest.fixture
def migguard_db(_migguard_server: Server) -> Iterator[str]:
    """A fresh, empty database for this test (URL with password, psycopg2 driver); dropped
    after the test. Render another driver with ``sqlalchemy.engine.make_url(url).set(...)``."""
    url = _migguard_server.create_database()
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        if not _migguard_server.is_sqlite:
            _migguard_server.drop_database(url.database or "")
