"""Terminal output: grouped by file, the offending line with a caret, a one-line summary."""

from __future__ import annotations

from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING

from migguard.findings import Finding, Severity
from migguard.report.location import shown_path

if TYPE_CHECKING:
    from migguard.engine import Report

_RESET = "\033[0m"
_STYLES = {
    "error": "\033[1;31m",
    "warning": "\033[1;33m",
    "path": "\033[1m",
    "dim": "\033[2m",
    "rule": "\033[36m",
    "ok": "\033[1;32m",
}


def _style(text: str, style: str, color: bool) -> str:
    return f"{_STYLES[style]}{text}{_RESET}" if color else text


def render(report: Report, *, color: bool = False) -> str:
    lines: list[str] = []
    for path, group in groupby(report.findings, key=lambda f: f.path or ""):
        for finding in group:
            lines.extend(_finding_lines(finding, path, report.root, color))
            lines.append("")
    for note in report.notes:
        lines.append(_style(f"note: {note}", "dim", color))
    lines.append(_summary(report, color))
    return "\n".join(lines)


def _finding_lines(finding: Finding, path: str, root: Path | None, color: bool) -> list[str]:
    severity = finding.effective_severity.value
    where = _shown(root, path) if path else "<project>"
    if finding.line:
        where += f":{finding.line}"
    head = (
        f"{_style(where, 'path', color)}: {_style(severity, severity, color)} "
        f"[{_style(finding.rule, 'rule', color)}]"
    )
    if finding.revision:
        head += f" revision {finding.revision}"
    message_lines = finding.message.splitlines() or [""]
    lines = [head, f"  {message_lines[0]}"]
    lines.extend(f"    {line}" for line in message_lines[1:])
    source = _source_line(root, path, finding.line)
    if source is not None:
        stripped = source.rstrip()
        indent = len(stripped) - len(stripped.lstrip())
        gutter = f"{finding.line} | "
        lines.append(_style(f"  {gutter}", "dim", color) + stripped)
        caret = " " * (len(gutter) + indent) + "^" * max(1, len(stripped.strip()))
        lines.append("  " + _style(caret, severity, color))
    if finding.hint:
        lines.append(f"  {_style('hint:', 'dim', color)} {finding.hint}")
    return lines


def _shown(root: Path | None, path: str) -> str:
    """The finding's path as the terminal can open it (see :func:`shown_path`)."""
    if root is None:
        return path
    return shown_path(root / path, root)


def _source_line(root: Path | None, path: str, line: int | None) -> str | None:
    if root is None or not path or not line:
        return None
    try:
        with open(root / path, encoding="utf-8", errors="replace") as handle:
            for number, text in enumerate(handle, start=1):
                if number == line:
                    return text
    except OSError:
        return None
    return None


def _summary(report: Report, color: bool) -> str:
    scope = f"{report.revisions} revision{'s' if report.revisions != 1 else ''}"
    if report.checked or report.skipped:
        scope += f" ({report.checked} round-tripped, {report.skipped} skipped)"
    where = f" on {report.database}" if report.database else ""
    timing = f" in {report.seconds:.1f}s"
    if not report.findings:
        return _style("✓ no findings", "ok", color) + f": {scope}{where}{timing}"
    counts = []
    if report.errors:
        counts.append(
            _style(
                f"{report.errors} error{'s' if report.errors != 1 else ''}",
                Severity.ERROR.value,
                color,
            )
        )
    if report.warnings:
        counts.append(
            _style(
                f"{report.warnings} warning{'s' if report.warnings != 1 else ''}",
                Severity.WARNING.value,
                color,
            )
        )
    return f"{', '.join(counts)}: {scope}{where}{timing}"
