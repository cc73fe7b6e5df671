"""Side-by-side timings on generated projects of N revisions, all measured in one run.

For each N (``--sizes``), on the same machine and the same throwaway PostgreSQL cluster:

- **A** ``migguard check --format text`` (every database rule) as a subprocess of the real CLI,
  with ``--db url --database-url <the shared cluster>`` so that no variant pays a cluster
  start-up; once more per N with the default embedded provider, for the total cost (``A emb``);
- **B** the floor: ``alembic upgrade head``, ``downgrade base``, ``upgrade head`` through
  ``alembic.command`` on one shared connection (``benchmarks/alembic_floor.py``) on a fresh
  database it creates, in a subprocess too, so the interpreter start-up is the same; ``B ddl``
  is the three commands alone (no interpreter start-up, no CREATE DATABASE);
- **C** pytest-alembic's built-in tests (``test_single_head_revision``, ``test_upgrade``,
  ``test_model_definitions_match_ddl``, ``test_up_down_consistency``) under pytest, each test on
  a fresh database of the same cluster (the project's ``conftest.py``), in pytest-alembic's own
  pinned virtualenv (``peer_env.py``, built once under ``~/.cache/migguard/benchmarks``);
- **D** ``migguard check --static``;
- **A0** and **A+** A without the production rehearsal (``--rehearse none``) and with it
  over the whole history (``--rehearse all``); A itself rehearses the head revision, as a
  default run does. ``+head`` is A - A0, ``+all`` (A+ - A0) / A0.

Each is run ``--repeat`` times, interleaved (A, B, C, D, A, B, ...) so a burst of load on a
shared machine hits all of them alike; the table shows medians, A/B, A/C, A's peak RSS (from
``wait4``, the child's own high-water mark) and A(largest)/A(middle) for the scaling. Every
child must succeed: a finding, a failing pytest-alembic test or a failing floor run is an error
(exit 1), because then the timings would not compare the same work.

    python benchmarks/run.py --sizes 50,100,300 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from generate import generate
from peer_env import PeerEnvFailed, pytest_alembic_python

BENCHMARKS = Path(__file__).resolve().parent
REPO = BENCHMARKS.parent
VARIANTS = ("A", "B", "C", "D", "A0", "A+")
_REHEARSE = {"A0": "none", "A+": "all"}


@dataclass
class Sample:
    seconds: float
    max_rss_mb: float
    stdout: str = ""


@dataclass
class Row:
    """The samples of one N."""

    revisions: int
    samples: dict[str, list[Sample]] = field(default_factory=dict)

    def median(self, variant: str) -> float | None:
        found = self.samples.get(variant)
        return statistics.median(s.seconds for s in found) if found else None

    def peak_rss(self, variant: str) -> float | None:
        found = self.samples.get(variant)
        return max(s.max_rss_mb for s in found) if found else None


class ChildFailed(RuntimeError):
    """A timed child exited non-zero: the comparison would be meaningless."""


def timed(command: list[str], *, cwd: Path, env: dict[str, str], label: str) -> Sample:
    """Run ``command`` to completion; wall time and the child's own peak RSS (``wait4``).

    Output goes to files, not pipes, so nothing has to read it while the child runs."""
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        output = stdout.read().decode(errors="replace")
        if process.returncode != 0:
            stderr.seek(0)
            lines = (output + stderr.read().decode(errors="replace")).strip().splitlines()
            raise ChildFailed(
                f"{label} exited {process.returncode}: {' '.join(command)}\n"
                + "\n".join(lines[-15:])
            )
    # Linux reports ru_maxrss in KiB
    return Sample(seconds, usage.ru_maxrss / 1024, output)


def child_env(**extra: str) -> dict[str, str]:
    """The caller's environment without anything that would point a child at another
    database (DATABASE_URL, MIGGUARD_*, PG*)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MIGGUARD_", "PG")) and k != "DATABASE_URL"
    }
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


def measure(
    variant: str,
    project: Path,
    admin_url: str,
    row: Row,
    *,
    peer_python: Path,
    embedded: bool = False,
) -> None:
    """One timed run of ``variant``; each child creates (and drops) its own databases on the
    shared cluster, as each tool does in real use."""
    migguard = [sys.executable, "-m", "migguard", "check", "--format", "text"]
    env = child_env()
    if variant == "A" and not embedded:
        command = [*migguard, "--db", "url", "--database-url", admin_url, str(project)]
    elif variant in _REHEARSE:
        command = [*migguard, "--db", "url", "--database-url", admin_url, str(project)]
        command[-1:-1] = ["--rehearse", _REHEARSE[variant]]
    elif variant == "A":
        command = [*migguard, "--db", "embedded", str(project)]
    elif variant == "B":
        command = [sys.executable, str(BENCHMARKS / "alembic_floor.py"), str(project), admin_url]
    elif variant == "C":
        env = child_env(BENCHMARK_ADMIN_URL=admin_url)
        command = [
            str(peer_python),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--test-alembic",
            "--alembic-tests-path",
            "conftest.py",
            str(project),
        ]
    elif variant == "D":
        command = [*migguard, "--static", str(project)]
    else:
        raise ValueError(variant)
    key = "A emb" if embedded else variant
    sample = timed(command, cwd=project if variant == "C" else REPO, env=env, label=key)
    row.samples.setdefault(key, []).append(sample)
    if variant == "B":  # the floor's DDL alone, without creating its database
        seconds = float(sample.stdout.split("ddl_seconds=")[1].split()[0])
        row.samples.setdefault("B ddl", []).append(Sample(seconds, 0.0))


def run(sizes: list[int], repeat: int, embedded: bool, provider: str, seed: int) -> list[Row]:
    from migguard import database

    rows: list[Row] = []
    peer_python = pytest_alembic_python()
    workdir = Path(tempfile.mkdtemp(prefix="migguard-bench-"))
    try:
        with database.provide(provider) as server:
            admin_url = server.admin_url.render_as_string(hide_password=False)
            print(f"# cluster: {server.kind} PostgreSQL {server.version}", flush=True)
            for n in sizes:
                project = generate(n, workdir / f"project_{n}", seed=seed)
                row = Row(n)
                for _ in range(repeat):
                    for variant in VARIANTS:
                        measure(variant, project, admin_url, row, peer_python=peer_python)
                if embedded:
                    measure("A", project, admin_url, row, peer_python=peer_python, embedded=True)
                rows.append(row)
                print(f"# N={n} done", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return rows


def _fmt(value: float | None, unit: str = "s") -> str:
    if value is None:
        return "-"
    return f"{value:.2f} {unit}" if unit else f"{value:.2f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _percent(ratio: float | None) -> str:
    return "-" if ratio is None else f"{(ratio - 1) * 100:+.0f} %"


def table(rows: list[Row], embedded: bool) -> str:
    headers = ["N", "A migguard", "A embedded", "B floor", "B ddl", "C pytest-alembic"]
    headers += ["D static", "A/B", "A/C", "A peak RSS", "A0", "A+", "+head", "+all"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        a, b, c = row.median("A"), row.median("B"), row.median("C")
        cells = [
            str(row.revisions),
            _fmt(a),
            _fmt(row.median("A emb")) if embedded else "-",
            _fmt(b),
            _fmt(row.median("B ddl")),
            _fmt(c),
            _fmt(row.median("D")),
            _fmt(_ratio(a, b), ""),
            _fmt(_ratio(a, c), ""),
            _fmt(row.peak_rss("A"), "MB"),
            _fmt(row.median("A0")),
            _fmt(row.median("A+")),
            _fmt(a - row.median("A0") if a is not None and row.median("A0") else None),
            _percent(_ratio(row.median("A+"), row.median("A0"))),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def scaling(rows: list[Row]) -> str | None:
    """A at the largest N over A at the next smaller one (300 vs 100 by default)."""
    if len(rows) < 2:
        return None
    ordered = sorted(rows, key=lambda r: r.revisions)
    big, small = ordered[-1], ordered[-2]
    ratio = _ratio(big.median("A"), small.median("A"))
    return f"A({big.revisions})/A({small.revisions}) = {_fmt(ratio, '')}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="50,100,300", help="revision counts (default: %(default)s)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant (median)")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument(
        "--no-embedded", action="store_true", help="skip the run with the embedded provider"
    )
    parser.add_argument("--samples", action="store_true", help="also print every run's time")
    parser.add_argument(
        "--provider",
        default="auto",
        choices=("auto", "local", "embedded"),
        help="where the shared cluster comes from (auto: local binaries, else embedded)",
    )
    args = parser.parse_args(argv)
    try:
        sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        parser.error(f"--sizes must be comma-separated integers, not {args.sizes!r}")
    if not sizes or min(sizes) < 1 or args.repeat < 1:
        parser.error("--sizes and --repeat must be positive")
    sys.path.insert(0, str(REPO))
    from migguard import database

    provider = args.provider
    if provider == "auto":
        provider = "local" if database.availability("local") is None else "embedded"
    load_before = os.getloadavg()
    print(
        f"# {platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}",
        flush=True,
    )
    try:
        rows = run(sizes, args.repeat, not args.no_embedded, provider, args.seed)
    except ChildFailed as exc:
        print(f"benchmark: {exc}", file=sys.stderr)
        return 1
    except PeerEnvFailed as exc:
        print(f"benchmark: building pytest-alembic's environment: {exc}", file=sys.stderr)
        return 1
    load_after = os.getloadavg()
    print()
    print(f"medians of {args.repeat} run(s); A, B, C on one {provider} cluster")
    print(table(rows, not args.no_embedded))
    line = scaling(rows)
    if line:
        print(line)
    if args.samples:
        for row in rows:
            for variant, samples in row.samples.items():
                times = ", ".join(f"{sample.seconds:.2f}" for sample in samples)
                print(f"N={row.revisions} {variant}: {times}")
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
