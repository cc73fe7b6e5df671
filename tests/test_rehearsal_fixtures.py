"""The rehearsal on real projects: it fills their tables, and changes nothing else a run sees.

Every other rule must find exactly what it finds without a rehearsal (the generated rows are
gone before the round trip; a failure is retried on empty tables), and no table of these
projects may be left without rows for want of a value migguard can generate."""

from __future__ import annotations

import pytest

from migguard.config import Settings
from migguard.engine import check
from tests.conftest import FIXTURES, REPO

REHEARSAL_RULES = {
    "upgrade-fails-with-rows",
    "table-rewrite",
    "index-without-concurrently",
    "validation-under-lock",
    "missing-lock-timeout",
}

PROJECTS = [
    REPO / "example_app",
    *(
        FIXTURES / name
        for name in (
            "async_env",
            "clean_db",
            "custom_naming_convention",
            "downgrade_fails_after_commit",
            "downgrade_mismatch",
            "extension_uuid_ossp",
            "flask_migrate",
            "multiple_heads",
            "rehearsal_check_first_not_null",
            "rename_in_loop",
            "schema_mismatch",
            "unnamed_constraint",
        )
    ),
    FIXTURES / "sqlmodel_template" / "backend",
]


@pytest.mark.parametrize(
    "project", PROJECTS, ids=lambda p: p.name if p.name != "backend" else p.parent.name
)
def test_rehearsing_every_revision_changes_no_other_finding(project, pg_admin_url) -> None:
    def run(mode: str):
        settings = Settings(path=project, db="url", database_url=pg_admin_url, rehearse=mode)
        report = check(project, settings)
        others = sorted(
            (f.rule, f.path, f.line, f.message)
            for f in report.findings
            if f.rule not in REHEARSAL_RULES
        )
        return report, others

    plain, plain_findings = run("none")
    rehearsed, rehearsed_findings = run("all")
    assert rehearsed_findings == plain_findings
    notes = [n for n in rehearsed.notes if "rehearsal" in n]
    assert notes == []  # every table filled, every observation conclusive
    assert plain.checked == rehearsed.checked
