"""Two runs on one machine at once do not collide: ports, sockets, temp dirs, database names.

CI runners check several projects (or a matrix of Python versions) on one machine, and
pre-commit may start two hooks together. Two ``migguard check`` processes start at the same
moment on two copies of a project, sharing one TMPDIR (so their cluster directories, sockets
and, for ``embedded``, the first copy of the server binaries race in the same place) and, for
``--db url``, one server. Both must report exactly the findings of a run on its own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, REPO, migguard_databases

EXPECTED = [
    ("downgrade-mismatch", "0002_author_email", "column authors.email left behind"),
    ("downgrade-mismatch", "0004_book_status", "enum type shipment_status left behind"),
]


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="migguard-concurrency-"))
    path.chmod(0o755)  # the unprivileged server user works inside it
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _start(project: Path, tmpdir: Path, provider: list[str]) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIGGUARD_", "PG"))}
    env.pop("DATABASE_URL", None)
    env.update({"TMPDIR": str(tmpdir), "NO_COLOR": "1"})
    return subprocess.Popen(
        [sys.executable, "-m", "migguard", "check", "--format", "json", *provider, str(project)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


def _errors(stdout: str) -> list[tuple[str, str, str]]:
    findings = json.loads(stdout)["findings"]
    return sorted(
        (f["rule"], f["revision"], f["message"].rsplit(": ", 1)[-1])
        for f in findings
        if f["severity"] == "error"
    )


def _server_processes(tmpdir: Path) -> list[str]:
    out = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if str(tmpdir) in line]


@pytest.mark.parametrize("provider", ["local", "embedded", "url"])
def test_two_simultaneous_runs_both_report_their_own_findings(
    provider: str, pg_admin_url: str, shared_tmp: Path, tmp_path: Path
) -> None:
    args = ["--db", provider] + (["--database-url", pg_admin_url] if provider == "url" else [])
    projects = []
    for name in ("first", "second"):
        shutil.copytree(FIXTURES / "downgrade_mismatch", tmp_path / name)
        projects.append(tmp_path / name)
    databases_before = set(migguard_databases(pg_admin_url))

    runs = [_start(project, shared_tmp, args) for project in projects]
    outputs = [run.communicate(timeout=300) for run in runs]

    for run, (stdout, stderr) in zip(runs, outputs, strict=True):
        assert run.returncode == 1, stdout + stderr
        assert _errors(stdout) == EXPECTED, stdout
        assert json.loads(stdout)["summary"]["checked"] == 4
    deadline = time.monotonic() + 15
    while _server_processes(shared_tmp) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _server_processes(shared_tmp)
    assert not list(shared_tmp.glob("migguard-pg-*"))
    assert set(migguard_databases(pg_admin_url)) <= databases_before


def test_a_port_another_cluster_took_first_is_not_mistaken_for_ours(
    pg_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race behind a port collision, made certain: the first port drawn is one another
    server already listens on. The new cluster must end up on a port of its own, not quietly
    hand out the other server (whose run would stop it under this one's feet)."""
    from migguard import database
    from migguard.database import cluster, embedded, local

    taken = int(pg_server.admin_url.port)
    draws = iter([taken])
    free_port = cluster._free_port
    monkeypatch.setattr(cluster, "_free_port", lambda: next(draws, None) or free_port())
    use_local = database.availability("local") is None
    bindir = local.find_bindir() if use_local else embedded.usable_bindir()

    with cluster.running_cluster(bindir, "local" if use_local else "embedded") as server:
        assert server.admin_url.port != taken
        import sqlalchemy as sa

        engine = sa.create_engine(server.admin_url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            data_directory = conn.exec_driver_sql("SHOW data_directory").scalar()
        engine.dispose()
        assert "migguard-pg-" in str(data_directory)
        assert server.admin_url.port == int(
            (Path(str(data_directory)) / "postmaster.pid").read_text().splitlines()[3]
        )
