"""The running release's code: the repository as it was at a commit, in a temporary directory.

``git archive`` rather than ``git worktree``: nothing is written into the user's repository (a
killed run leaves no worktree entry behind to prune), and the directory is removed when the
block ends, whether the run finished, failed or was interrupted.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from migguard.errors import MigguardError

_GIT_TIMEOUT = 120.0


@contextmanager
def checked_out(top: Path, commit: str) -> Iterator[Path]:
    """The tree of ``commit`` of the repository at ``top``, extracted; removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="migguard-release-"))
    try:
        _extract(top, commit, directory)
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _extract(top: Path, commit: str, directory: Path) -> None:
    process = subprocess.Popen(
        ["git", "archive", "--format=tar", commit],
        cwd=top,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        with tarfile.open(fileobj=process.stdout, mode="r|") as archive:
            if hasattr(tarfile, "data_filter"):
                archive.extractall(directory, filter="data")
            else:  # pragma: no cover - Python without extraction filters
                archive.extractall(directory)
        _, said = process.communicate(timeout=_GIT_TIMEOUT)
    except (tarfile.TarError, subprocess.TimeoutExpired) as exc:
        raise MigguardError(f"cannot extract commit {commit[:12]}: {exc}") from exc
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if process.returncode != 0:
        first = (said.decode(errors="replace").strip().splitlines() or ["failed"])[0]
        raise MigguardError(f"git archive {commit[:12]}: {first}")
