"""Faults injected into a run: each ends with a clear report and nothing left behind.

Every fault is a revision 0002 written into a copy of ``clean_db`` (or an env.py that hangs):
a revision that raises, that calls ``sys.exit(3)``, that blocks in ``pg_sleep`` or
``time.sleep`` or a retry loop that swallows every exception, that waits for a lock it holds
itself, that ends its own database session, that SIGKILLs the PostgreSQL server under
migguard's feet. Each run gets a TMPDIR of its own, so "nothing left" is checked on exactly
that run's processes, directories and databases even while other runs share the machine.
(The SIGKILLed-migguard case, where the next run sweeps the cluster away, is in
``test_cleanup_cli.py``.)
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, REPO, CliResult, migguard_databases, run_cli

REVISION = '''"""Revision 0002 with a fault injected."""

import os
import signal
import sys
import time

import sqlalchemy as sa
from alembic import op

revision = "0002_author_email"
down_revision = "0001_authors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("authors", sa.Column("email", sa.String(200), nullable=True))
    op.create_index("ix_authors_email", "authors", ["email"])
{body}


def downgrade() -> None:
    op.drop_index("ix_authors_email", table_name="authors")
    op.drop_column("authors", "email")
'''
FAULT = "# <- the fault"
REVISION_PATH = "migrations/versions/0002_author_email.py"


@dataclass(frozen=True)
class Fault:
    """A revision body (one line marked with FAULT) and what migguard must say about it."""

    name: str
    body: str
    message: str  # the upgrade-fails message after "upgrade failed: "
    args: tuple[str, ...] = ()
    pyproject: str = ""


FINDINGS = [
    Fault(
        "raises",
        f'    raise RuntimeError("backfill failed")  {FAULT}',
        "RuntimeError: backfill failed",
    ),
    Fault("sys_exit", f"    sys.exit(3)  {FAULT}", "the revision called sys.exit(3)"),
    Fault(
        "statement_timeout",
        f'    op.execute("SELECT pg_sleep(120)")  {FAULT}',
        "statement timed out after 1 s (statement_timeout)",
        pyproject="[tool.migguard]\nstatement_timeout = 1\n",
    ),
    Fault(
        "lock_timeout",
        "    # a data fix on a second connection waits for the migration's own ALTER TABLE lock\n"
        "    other = sa.create_engine(op.get_bind().engine.url, poolclass=sa.pool.NullPool)\n"
        "    with other.connect() as conn:\n"
        f'        conn.execute(sa.text("SELECT count(*) FROM authors"))  {FAULT}',
        "lock wait timed out after 1 s (lock_timeout)",
        pyproject="[tool.migguard]\nlock_timeout = 1\n",
    ),
    Fault(
        "timeout_in_pg_sleep",
        f'    op.execute("SELECT pg_sleep(120)")  {FAULT}',
        "timed out after 10 s (--timeout)",
        args=("--timeout", "10"),
    ),
    Fault(
        "timeout_in_python_sleep",
        f"    time.sleep(120)  {FAULT}",
        "timed out after 10 s (--timeout)",
        args=("--timeout", "10"),
    ),
    Fault(
        "timeout_in_retry_loop_swallowing_errors",
        "    while True:\n"
        "        try:\n"
        f'            op.execute("SELECT pg_sleep(0.5)")  {FAULT}\n'
        "        except Exception:\n"
        "            time.sleep(0.1)",
        "timed out after 10 s (--timeout)",
        args=("--timeout", "10"),
    ),
]

STOPS = [
    Fault(
        "backend_terminated",
        f'    op.execute("SELECT pg_terminate_backend(pg_backend_pid())")  {FAULT}',
        "lost the connection to the throwaway database while revision 0002_author_email ran",
    ),
    Fault(
        "server_killed",
        '    data_directory = op.get_bind().exec_driver_sql("SHOW data_directory").scalar()\n'
        '    with open(os.path.join(data_directory, "postmaster.pid")) as pidfile:\n'
        "        os.kill(int(pidfile.readline()), signal.SIGKILL)\n"
        "    for _ in range(100):  # until the orphaned backend notices its postmaster is gone\n"
        f'        op.execute("SELECT 1")  {FAULT}\n'
        "        time.sleep(0.1)",
        "lost the connection to the throwaway database while revision 0002_author_email ran",
    ),
]


def _fault(name: str) -> Fault:
    return next(fault for fault in FINDINGS + STOPS if fault.name == name)


@pytest.fixture
def isolated_tmp() -> Iterator[Path]:
    """The TMPDIR of one run: its cluster directory and server processes are recognisable."""
    path = Path(tempfile.mkdtemp(prefix="migguard-faults-"))
    path.chmod(0o755)  # the unprivileged server user works inside it
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _project(tmp_path: Path, fault: Fault) -> tuple[Path, int]:
    """clean_db with the fault as revision 0002; returns the project and the fault's line."""
    project = tmp_path / fault.name
    shutil.copytree(FIXTURES / "clean_db", project)
    source = REVISION.format(body=fault.body)
    (project / REVISION_PATH).write_text(source)
    if fault.pyproject:
        (project / "pyproject.toml").write_text(fault.pyproject)
    line = next(n for n, text in enumerate(source.splitlines(), 1) if FAULT in text)
    return project, line


def _processes_under(directory: Path) -> list[str]:
    out = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if str(directory) in line]


def _orphaned_shared_memory() -> set[str]:
    """System V segments nobody is attached to whose creator is dead: a killed postmaster's."""
    orphans: set[str] = set()
    with open("/proc/sysvipc/shm") as table:
        header = table.readline().split()
        for row in table:
            fields = dict(zip(header, row.split(), strict=False))
            if fields.get("nattch") == "0" and not Path(f"/proc/{fields.get('cpid')}").exists():
                orphans.add(fields["shmid"])
    return orphans


class Leftovers:
    """What a run could leave behind, taken before it, compared after it."""

    def __init__(self, tmpdir: Path, admin_url: str) -> None:
        self.tmpdir, self.admin_url = tmpdir, admin_url
        self.databases = set(migguard_databases(admin_url))
        self.shared_memory = _orphaned_shared_memory()

    def assert_none(self) -> None:
        deadline = time.monotonic() + 15
        while _processes_under(self.tmpdir) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _processes_under(self.tmpdir), _processes_under(self.tmpdir)
        assert not list(self.tmpdir.iterdir()), list(self.tmpdir.iterdir())
        assert set(migguard_databases(self.admin_url)) <= self.databases
        assert _orphaned_shared_memory() <= self.shared_memory


def _run(project: Path, tmpdir: Path, provider: list[str], *args: str) -> CliResult:
    return run_cli(
        "check", "--format", "json", *provider, *args, str(project), env={"TMPDIR": str(tmpdir)}
    )


def _provider(name: str, admin_url: str) -> list[str]:
    return ["--db", "url", "--database-url", admin_url] if name == "url" else ["--db", name]


@pytest.mark.parametrize("provider", ["local", "url"])
@pytest.mark.parametrize("fault", FINDINGS, ids=lambda fault: fault.name)
def test_a_failing_revision_is_reported_and_nothing_is_left(
    fault: Fault, provider: str, pg_admin_url: str, isolated_tmp: Path, tmp_path: Path
) -> None:
    project, line = _project(tmp_path, fault)
    leftovers = Leftovers(isolated_tmp, pg_admin_url)
    started = time.monotonic()

    result = _run(project, isolated_tmp, _provider(provider, pg_admin_url), *fault.args)

    assert time.monotonic() - started < 60  # a 120 s sleep was cut short
    assert result.code == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    failures = [(f["path"], f["line"], f["message"]) for f in result.findings("upgrade-fails")]
    assert failures == [
        (
            REVISION_PATH,
            line,
            f"revision 0002_author_email: upgrade failed: {fault.message}",
        )
    ], result.stdout
    leftovers.assert_none()


@pytest.mark.parametrize("fault", STOPS, ids=lambda fault: fault.name)
def test_losing_the_server_stops_with_one_line_and_nothing_is_left(
    fault: Fault, pg_admin_url: str, isolated_tmp: Path, tmp_path: Path
) -> None:
    project, line = _project(tmp_path, fault)
    leftovers = Leftovers(isolated_tmp, pg_admin_url)

    result = _run(project, isolated_tmp, ["--db", "local"])

    assert result.code == 2, result.stdout + result.stderr
    lines = [text for text in result.stderr.splitlines() if text.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"migguard: error: {REVISION_PATH}:{line}: {fault.message}")
    leftovers.assert_none()


def test_a_revision_ending_its_session_on_a_named_server_drops_its_database(
    pg_admin_url: str, isolated_tmp: Path, tmp_path: Path
) -> None:
    fault = _fault("backend_terminated")
    project, line = _project(tmp_path, fault)
    leftovers = Leftovers(isolated_tmp, pg_admin_url)

    result = _run(project, isolated_tmp, _provider("url", pg_admin_url))

    assert result.code == 2, result.stdout + result.stderr
    assert f"{REVISION_PATH}:{line}: {fault.message}" in result.stderr
    leftovers.assert_none()


def _server_log(pg_server) -> Path:
    """The session server's log: its cluster directory is the one listening on its port."""
    port = str(pg_server.admin_url.port)
    for pidfile in Path(tempfile.gettempdir()).glob("migguard-pg-*/data/postmaster.pid"):
        if pidfile.read_text().splitlines()[3:4] == [port]:
            return pidfile.parent.parent / "postgres.log"
    pytest.skip("the session server's log is not in a migguard cluster directory")


def test_timeout_cancels_the_statement_on_the_server(
    pg_server, pg_admin_url: str, isolated_tmp: Path, tmp_path: Path
) -> None:
    """On a server the user owns, the blocked statement is cancelled, not left running until
    the database is dropped (dropping would terminate it, and say so differently)."""
    fault = _fault("timeout_in_pg_sleep")
    project, _ = _project(tmp_path, fault)
    log = _server_log(pg_server)
    logged = log.stat().st_size

    result = _run(project, isolated_tmp, _provider("url", pg_admin_url), *fault.args)

    assert result.code == 1, result.stdout + result.stderr
    with log.open("rb") as handle:
        handle.seek(logged)
        new = handle.read().decode(errors="replace")
    assert "canceling statement due to user request" in new, new
    assert "terminating connection due to administrator command" not in new, new


def test_timeout_before_any_revision_is_an_error_naming_the_limit(
    isolated_tmp: Path, pg_admin_url: str, tmp_path: Path
) -> None:
    """Hanging in env.py (a settings import that waits for a network) blames no revision."""
    project = tmp_path / "hanging_env"
    shutil.copytree(FIXTURES / "clean_db", project)
    env_py = project / "migrations" / "env.py"
    env_py.write_text("import time\n\ntime.sleep(120)\n" + env_py.read_text())
    leftovers = Leftovers(isolated_tmp, pg_admin_url)

    result = _run(project, isolated_tmp, _provider("url", pg_admin_url), "--timeout", "6")

    assert result.code == 2, result.stdout + result.stderr
    assert result.stderr.strip() == "migguard: error: timed out after 6 s (--timeout)"
    leftovers.assert_none()


def _start_in_background(project: Path, tmpdir: Path) -> subprocess.Popen[bytes]:
    """A local-cluster run in its own TMPDIR, for the tests that stop it half-way."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIGGUARD_", "PG"))}
    env["TMPDIR"] = str(tmpdir)
    return subprocess.Popen(
        [sys.executable, "-m", "migguard", "check", "--db", "local", str(project)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_private_tmpdir_is_what_the_leftover_checks_watch(
    isolated_tmp: Path, tmp_path: Path, pg_admin_url: str
) -> None:
    """The checks above would pass vacuously if the run ignored TMPDIR: a killed run's
    cluster must show up in the directory they watch."""
    project, _ = _project(tmp_path, _fault("timeout_in_pg_sleep"))
    leftovers = Leftovers(isolated_tmp, pg_admin_url)
    proc = _start_in_background(project, isolated_tmp)
    try:
        deadline = time.monotonic() + 60
        while not _processes_under(isolated_tmp) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _processes_under(isolated_tmp), "the run's server did not start in its TMPDIR"
        assert list(isolated_tmp.glob("migguard-pg-*"))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    leftovers.assert_none()


def _initdb_backend_of(run: int) -> bool:
    """Whether the bootstrap or single-user backend initdb starts is running under this run.
    Its command line names no directory, so it is found as a descendant of the run."""
    out = subprocess.run(["ps", "-ww", "-eo", "pid,ppid,args"], capture_output=True, text=True)
    parents: dict[int, int] = {}
    backends: list[int] = []
    for line in out.stdout.splitlines()[1:]:
        pid, ppid, args = line.split(None, 2)
        parents[int(pid)] = int(ppid)
        if "--boot" in args or "--single" in args:
            backends.append(int(pid))
    for pid in backends:
        while pid in parents and pid != run:
            pid = parents[pid]
        if pid == run:
            return True
    return False


def test_a_run_stopped_while_initdb_runs_leaves_nothing(
    isolated_tmp: Path, tmp_path: Path, pg_admin_url: str
) -> None:
    """SIGTERM while initdb's own backend writes the new cluster: killing initdb alone left
    that backend to panic in a removed directory, and its System V segment stayed forever."""
    project, _ = _project(tmp_path, _fault("timeout_in_pg_sleep"))
    leftovers = Leftovers(isolated_tmp, pg_admin_url)
    proc = _start_in_background(project, isolated_tmp)
    try:
        deadline = time.monotonic() + 60
        while not _initdb_backend_of(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _initdb_backend_of(proc.pid), "initdb's backend was never seen"
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    leftovers.assert_none()


class _Expired(Exception):
    """What the --timeout alarm raises, for the in-process test below."""


def test_an_alarm_during_cleanup_arrives_once_the_server_is_gone(
    monkeypatch: pytest.MonkeyPatch, isolated_tmp: Path
) -> None:
    """--timeout running out just as a run finishes lands in its cleanup. Raised there, it
    would leave the postmaster running and its directory behind; it must wait until both are
    gone, and only then end the run."""
    from migguard import database
    from migguard.database import cluster, embedded, local

    use_local = database.availability("local") is None
    bindir = local.find_bindir() if use_local else embedded.usable_bindir()
    monkeypatch.setattr(cluster, "temp_root", lambda: isolated_tmp)
    seen: list[tuple[subprocess.Popen[bytes], Path]] = []
    stop = cluster._stop

    def stop_as_the_alarm_rings(running: cluster.Cluster) -> None:
        if running.process is not None and not seen:
            seen.append((running.process, running.workdir))
            signal.raise_signal(signal.SIGALRM)
        stop(running)

    monkeypatch.setattr(cluster, "_stop", stop_as_the_alarm_rings)

    def expire(signum: int, frame: object) -> None:
        raise _Expired()

    previous = signal.signal(signal.SIGALRM, expire)
    try:
        with pytest.raises(_Expired), cluster.running_cluster(bindir, "local"):
            pass
    finally:
        signal.signal(signal.SIGALRM, previous)
        left_running = [process for process, _ in seen if process.poll() is None]
        for process in left_running:  # a failed shield must not leak a server into the session
            process.send_signal(signal.SIGINT)  # fast shutdown, which also frees its memory
            process.wait(timeout=30)
    assert seen, "the cluster never started"
    assert not left_running, "the alarm cut the server's shutdown short"
    assert not seen[0][1].exists()
