"""SARIF 2.1.0 for GitHub code scanning and other SARIF viewers.

The ``rules`` array lists every registered rule (not only those that fired), with the same
four-part documentation ``migguard rule ID`` prints, so a code-scanning alert explains itself.
Result locations are relative to the repository root under ``%SRCROOT%``; fingerprints come
from :attr:`Finding.fingerprint`, which ignores line numbers, so an alert survives edits
above it. Code scanning rejects results without a location, so a project-wide finding (no
file) points at the project's ``alembic.ini`` when there is one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from migguard import __version__
from migguard.findings import Severity
from migguard.report.location import finding_path, project_root, relative_to_repository
from migguard.report.location import repository_root as find_repository_root
from migguard.rules import Rule, load

if TYPE_CHECKING:
    from migguard.engine import Report
    from migguard.findings import Finding
    from migguard.report.failure import Failure

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
INFORMATION_URI = "https://github.com/migguard/migguard"
SOURCE_ROOT = "%SRCROOT%"
FINGERPRINT_KEY = "migguardFingerprint/v1"

_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning"}


def render(report: Report, *, color: bool = False) -> str:
    return json.dumps(as_sarif(report), indent=2)


def render_failure(failure: Failure) -> str:
    return json.dumps(failure_as_sarif(failure), indent=2)


def failure_as_sarif(failure: Failure) -> dict[str, Any]:
    """Exit 2: a run with no results whose invocation did not succeed, and says why in a
    tool-execution notification (code scanning shows it as a failed analysis, not as a
    project with no alerts)."""
    from migguard.engine import Report

    sarif = as_sarif(Report(root=failure.root))
    run = sarif["runs"][0]
    notification: dict[str, Any] = {"level": "error", "message": {"text": failure.message}}
    if failure.path is not None:
        repository = find_repository_root(failure.root or failure.path.parent)
        uri = quote(relative_to_repository(failure.path, repository), safe="/")
        physical: dict[str, Any] = {"artifactLocation": {"uri": uri, "uriBaseId": SOURCE_ROOT}}
        if failure.line:
            physical["region"] = {"startLine": failure.line}
        notification["locations"] = [{"physicalLocation": physical}]
        run["originalUriBaseIds"] = {SOURCE_ROOT: {"uri": repository.as_uri().rstrip("/") + "/"}}
    run["invocations"] = [
        {"executionSuccessful": False, "toolExecutionNotifications": [notification]}
    ]
    return sarif


def as_sarif(report: Report) -> dict[str, Any]:
    """The whole SARIF log: one run, every rule, one result per finding."""
    repository = find_repository_root(report.root)
    rules = sorted(load().values(), key=lambda rule: rule.id)
    descriptors = [rule_descriptor(rule) for rule in rules]
    index = {rule.id: position for position, rule in enumerate(rules)}
    for finding in report.findings:
        if finding.rule not in index:
            index[finding.rule] = len(descriptors)
            descriptors.append({"id": finding.rule, "shortDescription": {"text": finding.rule}})
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "migguard",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFORMATION_URI,
                "rules": descriptors,
            }
        },
        "originalUriBaseIds": {SOURCE_ROOT: {"uri": repository.as_uri().rstrip("/") + "/"}},
        "invocations": [_invocation(report)],
        "results": [_result(report, f, index[f.rule], repository) for f in report.findings],
        "columnKind": "unicodeCodePoints",
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def rule_descriptor(rule: Rule) -> dict[str, Any]:
    """A ``reportingDescriptor``: the rule's documentation in ruff's four parts."""
    return {
        "id": rule.id,
        "name": "".join(part.capitalize() for part in rule.id.split("-")),
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.what},
        "help": {"text": help_text(rule), "markdown": help_markdown(rule)},
        "helpUri": f"{INFORMATION_URI}#rules",
        "defaultConfiguration": {"level": _LEVELS[rule.severity]},
        "properties": {
            "tags": ["migrations", "alembic", rule.needs.value],
        },
    }


def help_text(rule: Rule) -> str:
    return (
        f"What it does: {rule.what}\n\nWhy is this bad? {rule.why}\n\n"
        f"Example:\n{rule.example}\n\nUse instead:\n{rule.use_instead}"
    )


def help_markdown(rule: Rule) -> str:
    return (
        f"## What it does\n{rule.what}\n\n## Why is this bad?\n{rule.why}\n\n"
        f"## Example\n```python\n{rule.example}\n```\n\n"
        f"## Use instead\n```python\n{rule.use_instead}\n```"
    )


def _result(report: Report, finding: Finding, rule_index: int, repository: Path) -> dict[str, Any]:
    message = finding.message + (f"\n\nhint: {finding.hint}" if finding.hint else "")
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "ruleIndex": rule_index,
        "level": _LEVELS[finding.effective_severity],
        "message": {"text": message},
        "locations": _locations(report, finding, repository),
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
    }
    properties = {"revision": finding.revision, "hint": finding.hint}
    present = {key: value for key, value in properties.items() if value}
    if present:
        result["properties"] = present
    return result


def _locations(report: Report, finding: Finding, repository: Path) -> list[dict[str, Any]]:
    path = finding_path(report, finding, repository)
    line = finding.line
    if path is None:
        config = project_root(report) / "alembic.ini"
        if not config.is_file():
            return []
        path, line = relative_to_repository(config, repository), None
    physical: dict[str, Any] = {
        "artifactLocation": {"uri": quote(path, safe="/"), "uriBaseId": SOURCE_ROOT}
    }
    if line:
        physical["region"] = {"startLine": line}
    return [{"physicalLocation": physical}]


def _invocation(report: Report) -> dict[str, Any]:
    invocation: dict[str, Any] = {"executionSuccessful": True}
    if report.provider:  # what the database findings were observed on
        invocation["properties"] = {
            "databaseProvider": report.provider,
            "serverVersion": report.server_version,
        }
    if report.notes:
        invocation["toolExecutionNotifications"] = [
            {"level": "note", "message": {"text": note}} for note in report.notes
        ]
    return invocation
