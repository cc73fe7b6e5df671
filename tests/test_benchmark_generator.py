"""The benchmark's synthetic projects are clean, and the benchmark runs end to end.

A generated history must give migguard nothing to report, or the timings would compare a
checker that found problems with tools that did not look. No wall-clock assertion anywhere:
the machine is shared, and the numbers belong in the benchmark's table, not in a test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, run_cli

sys.path.insert(0, str(REPO / "benchmarks"))

from generate import generate


def test_generated_project_of_five_revisions_is_clean(tmp_path: Path) -> None:
    project = generate(5, tmp_path / "project")
    result = run_cli(
        "check", "--db", "local", "--format", "json", "--rehearse", "none", str(project)
    )
    assert result.code == 0, result.stderr
    assert result.findings() == []
    assert result.json["summary"]["revisions"] == 5
    assert result.json["summary"]["checked"] == 5


def test_generated_history_upgrades_tables_that_hold_rows(tmp_path: Path) -> None:
    """Rehearsed on tables with rows, every revision still applies (a NOT NULL column added
    to an existing table has a server default); the rehearsal's warnings are about how the
    history would lock a live database, which a synthetic history does not try to model."""
    project = generate(40, tmp_path / "project")
    result = run_cli(
        "check", "--db", "local", "--format", "json", "--rehearse", "all", str(project)
    )
    assert result.code == 0, result.stdout + result.stderr
    assert [f for f in result.findings() if f["severity"] == "error"] == []


def test_generation_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    first = generate(40, tmp_path / "a", seed=3)
    second = generate(40, tmp_path / "b", seed=3)
    other = generate(40, tmp_path / "c", seed=4)

    def files(root: Path) -> dict[str, str]:
        return {
            p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(root.rglob("*.py"))
        }

    assert files(first) == files(second)
    assert files(first) != files(other)
    assert len(list((first / "migrations" / "versions").glob("*.py"))) == 40


def test_benchmark_runs_to_completion_and_prints_its_table() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), "--sizes", "5", "--repeat", "1"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    header = next(line for line in lines if line.startswith("| N |"))
    assert "A migguard" in header and "B floor" in header and "C pytest-alembic" in header
    row = next(line for line in lines if line.startswith("| 5 |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert len(cells) == len(header.strip("|").split("|"))
    assert all(cell != "-" for cell in cells), row  # every variant ran, embedded too
    float(cells[header.strip("|").split("|").index(" A/B ")])  # a ratio, from this run
