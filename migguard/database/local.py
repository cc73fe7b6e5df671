"""PostgreSQL server binaries already on this machine (PATH, pg_config, Debian/Ubuntu)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from migguard.database.base import Server
from migguard.database.cluster import running_cluster
from migguard.errors import MigguardError

_DEBIAN_ROOT = Path("/usr/lib/postgresql")


def candidate_bindirs(version: str | None = None) -> list[Path]:
    """Where initdb and postgres may be, most specific first."""
    found: list[Path] = []
    on_path = shutil.which("postgres") or shutil.which("initdb")
    if on_path:
        found.append(Path(on_path).resolve().parent)
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
            if out:
                found.append(Path(out))
        except (OSError, subprocess.TimeoutExpired):
            pass
    if _DEBIAN_ROOT.is_dir():
        versions = sorted(
            (p for p in _DEBIAN_ROOT.iterdir() if (p / "bin" / "postgres").is_file()),
            key=lambda p: _major(p.name),
            reverse=True,
        )
        found.extend(p / "bin" for p in versions)
    usable = [
        p for p in dict.fromkeys(found) if (p / "postgres").is_file() and (p / "initdb").is_file()
    ]
    if version:
        usable.sort(key=lambda p: 0 if f"/{version.split('.')[0]}/" in f"{p}/" else 1)
    return usable


def _major(name: str) -> int:
    try:
        return int(name.split(".")[0])
    except ValueError:
        return 0


def find_bindir(version: str | None = None) -> Path:
    """The binaries to run: of the major ``version`` when one is asked for (the caller has
    made sure there is one), else the first found."""
    if version:
        from migguard.database.versions import offer

        found = offer("local")
        bindir = found.bindir_for(version) if found is not None else None
        if bindir is not None:
            return bindir
    dirs = candidate_bindirs(version)
    if not dirs:
        raise MigguardError(
            "no PostgreSQL server binaries found (looked on PATH, pg_config --bindir and "
            f"{_DEBIAN_ROOT}/*/bin); install e.g. the 'postgresql' package"
        )
    return dirs[0]


@contextmanager
def provide(version: str | None = None) -> Iterator[Server]:
    with running_cluster(find_bindir(version), "local") as server:
        yield server


def availability() -> str | None:
    try:
        find_bindir()
    except MigguardError as exc:
        return str(exc)
    return None
