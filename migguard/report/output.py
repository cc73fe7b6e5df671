"""Where one run's report goes: stdout (reserved for it) or ``-o FILE``, plus the ``--sarif``
copy, in the format asked for. A run that cannot check the project still writes there, in the
same format, so a machine reads why instead of a broken or empty report."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from migguard.report import get_reporter, render_failure, sarif
from migguard.report.stdout import is_terminal

if TYPE_CHECKING:
    from migguard.engine import Report
    from migguard.report.failure import Failure


@dataclass
class ReportOutput:
    format: str
    stdout: TextIO
    output: Path | None = None
    sarif_file: Path | None = None

    def write(self, report: Report) -> None:
        if self.sarif_file is not None:
            self.sarif_file.write_text(get_reporter("sarif")(report, color=False) + "\n", "utf-8")
        color = self.format == "text" and self.output is None and color_wanted(self.stdout)
        self._emit(get_reporter(self.format)(report, color=color))

    def failed(self, failure: Failure) -> None:
        """Exit 2: the reason in the report's format (text has its line on stderr only)."""
        try:
            if self.sarif_file is not None:
                self.sarif_file.write_text(sarif.render_failure(failure) + "\n", "utf-8")
            text = render_failure(self.format, failure)
            if text is not None:
                self._emit(text)
        except OSError as exc:  # the line on stderr already says why the run failed
            print(f"migguard: error: could not write the report: {exc}", file=sys.stderr)

    def _emit(self, text: str) -> None:
        if self.output is not None:
            self.output.write_text(text + "\n", encoding="utf-8")
        else:
            self.stdout.write(text + "\n")
            self.stdout.flush()


def color_wanted(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return is_terminal(stream)
