"""The JSON contract (README, "Output"): stable keys, version 1, nothing else on stdout."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from migguard.engine import Report
    from migguard.report.failure import Failure


def as_dict(report: Report) -> dict[str, object]:
    return {
        "version": 1,
        "findings": [finding.to_dict() for finding in report.findings],
        "summary": {
            "errors": report.errors,
            "warnings": report.warnings,
            "revisions": report.revisions,
            "checked": report.checked,
            "skipped": report.skipped,
            "skipped_reason": report.skipped_reason,
            "seconds": report.seconds,
            "database": _database(report),
        },
        "notes": list(report.notes),
    }


def _database(report: Report) -> dict[str, str] | None:
    """What the database findings were observed on; null in static mode."""
    if not report.provider:
        return None
    return {"provider": report.provider, "version": report.server_version}


def render(report: Report, *, color: bool = False) -> str:
    return json.dumps(as_dict(report), indent=2)


def render_failure(failure: Failure) -> str:
    """Exit 2: the object a consumer checks for before reading findings."""
    error = {"message": failure.message, "path": failure.project_path(), "line": failure.line}
    return json.dumps({"version": 1, "error": error}, indent=2)
