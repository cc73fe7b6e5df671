"""GitHub Actions output: workflow-command annotations plus a Markdown job summary.

Each finding becomes ``::error file=PATH,line=N,title=migguard RULE::MESSAGE`` (``::warning``
for warnings), which GitHub shows on the pull request's diff at that line. Paths are relative
to the repository root, because that is what GitHub resolves them against. When
``$GITHUB_STEP_SUMMARY`` names a file, a table of the findings is appended to it, so the run's
summary page reads like a review comment. The plain one-line summary closes stdout as in text.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import TYPE_CHECKING

from migguard.report.location import finding_path, project_root, relative_to_repository
from migguard.report.location import repository_root as find_repository_root
from migguard.report.text import _summary as plain_summary

if TYPE_CHECKING:
    from migguard.engine import Report
    from migguard.findings import Finding
    from migguard.report.failure import Failure

STEP_SUMMARY_VARIABLE = "GITHUB_STEP_SUMMARY"


def escape_data(text: str) -> str:
    """A workflow command's message, escaped as @actions/core does (``%``, CR, LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: the message escapes plus ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(command: str, message: str, properties: dict[str, str]) -> str:
    rendered = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    return f"::{command}{' ' + rendered if rendered else ''}::{escape_data(message)}"


def annotation(finding: Finding, path: str | None) -> str:
    """One finding as an ``::error``/``::warning`` workflow command."""
    properties: dict[str, str] = {}
    if path is not None:
        properties["file"] = path
        if finding.line:
            properties["line"] = str(finding.line)
    properties["title"] = f"migguard {finding.rule}"
    message = finding.message
    if finding.hint:
        message += f"\nhint: {finding.hint}"
    return workflow_command(finding.effective_severity.value, message, properties)


def render(report: Report, *, color: bool = False) -> str:
    repository = find_repository_root(report.root)
    paths = [finding_path(report, finding, repository) for finding in report.findings]
    lines = [annotation(f, path) for f, path in zip(report.findings, paths, strict=True)]
    lines.extend(workflow_command("notice", note, {"title": "migguard"}) for note in report.notes)
    lines.extend(_append_to_step_summary(step_summary(report, paths, repository)))
    lines.append(plain_summary(report, False))
    return "\n".join(lines)


def render_failure(failure: Failure) -> str:
    """Exit 2 as an ``::error`` annotation on the file at fault, so the pull request shows why
    the check could not run where a finding would have been."""
    properties: dict[str, str] = {}
    if failure.path is not None:
        properties["file"] = relative_to_repository(
            failure.path, find_repository_root(failure.root or failure.path.parent)
        )
        if failure.line:
            properties["line"] = str(failure.line)
    properties["title"] = "migguard could not check the project"
    where = properties.get("file", "")
    if where and failure.line:
        where += f":{failure.line}"
    summary = "## migguard could not check the project\n\n" + (
        f"{_code_cell(where)}: " if where else ""
    )
    lines = [workflow_command("error", failure.message, properties)]
    lines.extend(_append_to_step_summary(f"{summary}{_text_cell(failure.message)}\n\n"))
    return "\n".join(lines)


def _append_to_step_summary(markdown: str) -> list[str]:
    """Add to the job's summary page when the runner gives one; a notice when it cannot."""
    summary_file = os.environ.get(STEP_SUMMARY_VARIABLE)
    if not summary_file:
        return []
    try:
        with open(summary_file, "a", encoding="utf-8") as handle:
            handle.write(markdown)
    except OSError as exc:
        message = f"could not append to ${STEP_SUMMARY_VARIABLE}: {exc}"
        return [workflow_command("notice", message, {"title": "migguard"})]
    return []


def step_summary(report: Report, paths: list[str | None], repository: Path) -> str:
    """Markdown for the job summary: a heading, the one-line summary, a table of findings."""
    project = relative_to_repository(project_root(report), repository)
    parts = [f"## migguard: `{project}`\n", f"{plain_summary(report, False)}\n"]
    if report.findings:
        parts.append("| severity | rule | location | revision | message |")
        parts.append("| --- | --- | --- | --- | --- |")
        for finding, path in zip(report.findings, paths, strict=True):
            location = path or ""
            if path and finding.line:
                location += f":{finding.line}"
            message = finding.message + (f"\nhint: {finding.hint}" if finding.hint else "")
            cells = [
                finding.effective_severity.value,
                _code_cell(finding.rule),
                _code_cell(location),
                _code_cell(finding.revision or ""),
                _text_cell(message),
            ]
            parts.append(f"| {' | '.join(cells)} |")
    return "\n".join(parts) + "\n\n"


def _code_cell(text: str) -> str:
    """Inline code in a table cell; ``|`` must still be escaped for GFM tables."""
    return "`" + text.replace("|", "\\|") + "`" if text else ""


def _text_cell(text: str) -> str:
    """Plain text in a table cell: no HTML, no column breaks, line breaks as ``<br>``."""
    escaped = html.escape(text, quote=False).replace("|", "\\|")
    return "<br>".join(line for line in escaped.splitlines())
