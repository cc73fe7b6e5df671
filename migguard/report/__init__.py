"""Reporters: each turns a Report into text for one audience (terminal, machines, CI)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from migguard.engine import Report
    from migguard.report.failure import Failure


class Reporter(Protocol):
    def __call__(self, report: Report, *, color: bool) -> str: ...


def get_reporter(name: str) -> Reporter:
    if name == "json":
        from migguard.report.json import render
    elif name == "github":
        from migguard.report.github import render
    elif name == "sarif":
        from migguard.report.sarif import render
    else:
        from migguard.report.text import render
    return render


def render_failure(name: str, failure: Failure) -> str | None:
    """Exit 2 in the format asked for; None for text, whose one line goes to stderr."""
    if name == "json":
        from migguard.report.json import render_failure as render
    elif name == "github":
        from migguard.report.github import render_failure as render
    elif name == "sarif":
        from migguard.report.sarif import render_failure as render
    else:
        return None
    return render(failure)
