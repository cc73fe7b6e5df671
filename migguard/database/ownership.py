"""Who owns a ``migguard_*`` database on a server the user names, and whether that run is gone.

A run drops its databases when it ends, also on Ctrl-C and SIGTERM; a SIGKILL (a CI job
timeout, the OOM killer) leaves them on the user's server. Each database therefore carries its
run's mark as its comment, and the next run on the same machine drops those whose run is dead.

A pid only means something on the machine, and in the pid namespace, that wrote it: a mark
from another host (parallel CI jobs sharing one server) or another container is never judged,
and a database without a mark is never anyone's to drop.
"""

from __future__ import annotations

import os
import re
import socket
import time
from dataclasses import dataclass

MARK_PREFIX = "migguard run:"

_MARK = re.compile(
    r"migguard run: host=(?P<host>\S+) pid=(?P<pid>\d+) started=(?P<started>\d+)"
    r"(?: pidns=(?P<pidns>\d+))?"
)


@dataclass(frozen=True)
class Owner:
    """The run that created a database: enough to tell, later, whether it still runs."""

    host: str
    pid: int
    started: int
    pidns: str | None = None

    def render(self) -> str:
        """The database comment: readable by a person who finds the database, parseable back."""
        mark = f"{MARK_PREFIX} host={self.host} pid={self.pid} started={self.started}"
        return f"{mark} pidns={self.pidns}" if self.pidns else mark

    def is_here(self) -> bool:
        """Whether this machine can judge the pid: same host name and same pid namespace."""
        return self.host == socket.gethostname() and self.pidns == _pid_namespace()

    def is_abandoned(self) -> bool:
        """The run was on this machine and its process is gone (dead, or a reaped zombie)."""
        return self.is_here() and not pid_alive(self.pid)


def current_owner() -> Owner:
    """The mark for a database this process creates now."""
    return Owner(
        host=socket.gethostname(),
        pid=os.getpid(),
        started=int(time.time()),
        pidns=_pid_namespace(),
    )


def parse_owner(comment: str | None) -> Owner | None:
    """The owner a comment names, or None when it is not exactly a migguard mark (a comment a
    person wrote, or none at all: such a database is never migguard's to drop)."""
    match = _MARK.fullmatch(comment.strip()) if comment else None
    if match is None:
        return None
    return Owner(
        host=match["host"],
        pid=int(match["pid"]),
        started=int(match["started"]),
        pidns=match["pidns"],
    )


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process here; a process of another user counts as alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _pid_namespace() -> str | None:
    """The inode of this process's pid namespace (Linux), e.g. ``4026531836``: two containers
    may share a host name, but a pid read in one says nothing about the other."""
    try:
        link = os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
    except OSError:
        return None
    digits = link.rpartition("[")[2].rstrip("]")
    return digits if digits.isdigit() else None
