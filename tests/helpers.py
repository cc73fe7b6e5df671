"""Helpers shared by several test modules (fixtures stay in conftest.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(root: Path, *args: str) -> str:
    """git in ``root`` with a fixed author, failing the test when git fails."""
    proc = subprocess.run(
        ["git", "-c", "user.name=migguard tests", "-c", "user.email=tests@migguard.invalid", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout
