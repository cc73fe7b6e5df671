"""The virtualenv benchmarks/run.py times pytest-alembic in (column C).

pytest-alembic is a peer being measured, not a dependency of migguard or of its test suite:
its plugin auto-loads into any pytest of the environment it is installed in, and a fresh
resolve of its newest release with the newest pytest does not collect at all. So it gets an
environment of its own, pinned in ``pytest-alembic.txt`` to versions that work together,
built once under the user's cache directory and reused while the pins and the Python version
are the same (the directory name is a hash of both).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import venv
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().parent / "pytest-alembic.txt"


class PeerEnvFailed(RuntimeError):
    """pip could not build the pinned environment (no index reachable, a pin withdrawn)."""


def _cache_root() -> Path:
    configured = os.environ.get("MIGGUARD_BENCHMARK_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "migguard" / "benchmarks"


def _env_dir() -> Path:
    key = hashlib.sha256(
        REQUIREMENTS.read_bytes() + platform.python_version().encode()
    ).hexdigest()[:16]
    return _cache_root() / f"pytest-alembic-{key}"


def pytest_alembic_python() -> Path:
    """The interpreter of the pinned pytest-alembic environment, built on first use.

    A half-built environment (pip failed, the run was interrupted) has no ``.complete`` marker
    and is built again from scratch rather than trusted."""
    env = _env_dir()
    python = env / "bin" / "python"
    marker = env / ".complete"
    env.parent.mkdir(parents=True, exist_ok=True)
    # Two benchmark runs at once build it once: the second waits for the first.
    with open(env.parent / f"{env.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (marker.exists() and python.exists()):
            shutil.rmtree(env, ignore_errors=True)
            venv.EnvBuilder(with_pip=True, clear=True).create(env)
            # The caller's PIP_* settings (an index, no cache) apply; its virtualenv does not.
            pip_env = {
                k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}
            }
            pip = subprocess.run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "-r",
                    str(REQUIREMENTS),
                ],
                env=pip_env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
            )
            if pip.returncode != 0:
                tail = "\n".join((pip.stdout + pip.stderr).strip().splitlines()[-15:])
                raise PeerEnvFailed(f"pip install -r {REQUIREMENTS.name} failed:\n{tail}")
            marker.write_text(sys.version, encoding="utf-8")
    return python


if __name__ == "__main__":
    print(pytest_alembic_python())
