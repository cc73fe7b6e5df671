"""Adopting migguard on a project whose history already has findings: a committed baseline
named in ``[tool.migguard]`` keeps the old findings out of every later check, and new ones
still appear."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import FIXTURES, run_cli

NEW_REVISION = '''"""add users.name

Revision ID: 0003_add_name
Revises: 0002_add_email
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_add_name"
down_revision = "0002_add_email"


def upgrade() -> None:
    op.add_column("users", sa.Column("name", sa.String(length=100), nullable=True))


def downgrade() -> None:
    pass
'''


def test_a_configured_baseline_records_history_and_reports_only_new_findings(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "missing_downgrade", project)
    (project / "pyproject.toml").write_text(
        '[tool.migguard]\nbaseline = "migguard-baseline.json"\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    written = run_cli("baseline", "--static", str(project), cwd=elsewhere, timeout=60)
    assert written.code == 0, written.stderr
    assert (project / "migguard-baseline.json").is_file()
    assert "only new ones fail" in written.stdout

    clean = run_cli("check", "--static", "--format", "json", str(project), cwd=elsewhere)
    assert clean.code == 0, clean.stderr
    assert clean.findings() == []

    (project / "migrations/versions/0003_add_name.py").write_text(NEW_REVISION)
    later = run_cli("check", "--static", "--format", "json", str(project), cwd=elsewhere)
    assert later.code == 0, later.stderr
    assert [(f["rule"], f["path"], f["line"]) for f in later.findings()] == [
        ("missing-downgrade", "migrations/versions/0003_add_name.py", 18)
    ]
