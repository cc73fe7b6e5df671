"""Progress while the stairway runs: the engine's per-revision callback, and the stderr line
the CLI draws with it only on a terminal."""

from __future__ import annotations

import io
import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from migguard.config import Settings
from migguard.engine import check
from migguard.progress import ProgressLine
from tests.conftest import FIXTURES, REPO

pytestmark = pytest.mark.timeout(300)

SLOW_REVISIONS = 6
_SLOW_REVISION = '''"""Add items.c{n} after a pause: a stairway long enough for a progress line."""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = {down!r}


def upgrade() -> None:
    op.execute("SELECT pg_sleep(0.4)")
    {create}


def downgrade() -> None:
    {drop}
'''


def _slow_project(root: Path) -> Path:
    """Each upgrade sleeps 0.4 s and runs twice in the stairway: about 5 s in all."""
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    shutil.copy(FIXTURES / "clean_db" / "alembic.ini", root / "alembic.ini")
    shutil.copy(FIXTURES / "clean_db" / "migrations" / "env.py", root / "migrations" / "env.py")
    for n in range(1, SLOW_REVISIONS + 1):
        if n == 1:
            create = 'op.create_table("items", sa.Column("c1", sa.Integer(), primary_key=True))'
            drop = 'op.drop_table("items")'
        else:
            create = f'op.add_column("items", sa.Column("c{n}", sa.Integer(), nullable=True))'
            drop = f'op.drop_column("items", "c{n}")'
        (versions / f"{n:04d}_c{n}.py").write_text(
            _SLOW_REVISION.format(
                n=n,
                revision=f"{n:04d}_c{n}",
                down=f"{n - 1:04d}_c{n - 1}" if n > 1 else None,
                create=create,
                drop=drop,
            ),
            encoding="utf-8",
        )
    columns = ['sa.Column("c1", sa.Integer, primary_key=True)'] + [
        f'sa.Column("c{n}", sa.Integer, nullable=True)' for n in range(2, SLOW_REVISIONS + 1)
    ]
    (root / "models.py").write_text(
        "import sqlalchemy as sa\n\nmetadata = sa.MetaData()\n"
        f'sa.Table("items", metadata, {", ".join(columns)})\n'
        "target_metadata = metadata\n",
        encoding="utf-8",
    )
    return root


def _cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIGGUARD_", "PG"))}
    env.pop("DATABASE_URL", None)
    env.update({"NO_COLOR": "1", "TERM": "xterm"})
    return env


def test_engine_reports_each_revision_once_with_its_position() -> None:
    project = FIXTURES / "downgrade_mismatch"
    calls: list[tuple[int, int, str]] = []
    report = check(
        project,
        Settings(path=project, db="local"),
        on_revision=lambda number, total, revision: calls.append((number, total, revision)),
    )
    assert report.checked == 4
    assert calls == [
        (1, 4, "0001_authors"),
        (2, 4, "0002_author_email"),
        (3, 4, "0003_books"),
        (4, 4, "0004_book_status"),
    ]


def test_progress_line_waits_then_redraws_in_place_and_is_erased() -> None:
    stream = io.StringIO()
    waiting = ProgressLine(stream, delay=60)
    waiting(1, 3, "0001_a")
    waiting.clear()
    assert stream.getvalue() == ""

    drawing = ProgressLine(stream, delay=0)
    drawing(1, 12, "0001_a")
    drawing(12, 12, "0012_b")
    drawing.clear()
    assert stream.getvalue() == (
        "\r\033[Kmigguard: round trip  1/12 0001_a\r\033[Kmigguard: round trip 12/12 0012_b\r\033[K"
    )


def test_long_stairway_shows_a_progress_line_on_a_terminal(tmp_path: Path) -> None:
    project = _slow_project(tmp_path / "slow")
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "migguard", "check", "--db", "local", "--format", "json", project],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
        cwd=REPO,
        env=_cli_env(),
    )
    os.close(follower)
    terminal = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        terminal += chunk
    os.close(leader)
    stdout, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, terminal.decode(errors="replace")
    assert stdout.decode().lstrip().startswith("{")  # the report itself is untouched
    shown = terminal.decode()
    assert f"\r\033[Kmigguard: round trip {SLOW_REVISIONS}/{SLOW_REVISIONS} 0006_c6" in shown
    assert "round trip 1/" not in shown  # nothing in the first two seconds
    assert shown.endswith("\r\033[K")  # erased before the report


def test_no_progress_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    project = _slow_project(tmp_path / "slow")
    proc = subprocess.run(
        [sys.executable, "-m", "migguard", "check", "--db", "local", str(project)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=_cli_env(),
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    assert "6 round-tripped" in proc.stdout
    assert proc.stderr == ""
