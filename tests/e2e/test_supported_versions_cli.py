"""Projects as the oldest supported releases write them, checked end to end through the CLI.

Each fixture is shaped by the releases it was written with: SQLAlchemy 1.4 declarative models
(no ``Mapped``), Alembic 1.13's ``generic`` and ``async`` templates, and a Flask-Migrate 2.5 /
Flask-SQLAlchemy 2.5 application whose factory runs ``upgrade()`` on creation behind a
``wsgi.py`` that gevent-patches the interpreter at import. They are checked on every supported
set: ``nox -s oldest`` runs this file on Python 3.10 + SQLAlchemy 1.4 + Alembic 1.13 + Flask 2.2,
the newest sessions on today's releases.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import alembic
import pytest

from tests.conftest import FIXTURES, run_cli
from tests.e2e.test_safety_guard_cli import _catalog, production  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(300)

ALEMBIC_BEFORE_1_16 = tuple(int(part) for part in alembic.__version__.split(".")[:2]) < (1, 16)


def _copy(fixture: str, tmp_path: Path) -> Path:
    project = tmp_path / fixture
    shutil.copytree(FIXTURES / fixture, project, ignore=shutil.ignore_patterns("__pycache__"))
    return project


def _errors(result) -> list[tuple[str, str, int, str]]:
    return [
        (f["rule"], f["path"], f["line"], f["revision"])
        for f in result.findings()
        if f["severity"] == "error"
    ]


def test_generic_template_downgrade_that_leaves_its_enum_type_is_caught() -> None:
    result = run_cli(
        "check", "--format", "json", "--db", "local", str(FIXTURES / "sqlalchemy14_sync")
    )
    assert result.code == 1, result.stderr
    assert _errors(result) == [
        (
            "downgrade-mismatch",
            "migrations/versions/8e4d5c6b7a01_orders.py",
            32,
            "8e4d5c6b7a01",
        )
    ]
    (finding,) = result.findings("downgrade-mismatch")
    assert "enum type order_status left behind" in finding["message"]
    assert result.json["summary"]["checked"] == 2


_TOTALS_REVISION = '''"""order totals

Revision ID: 5a6b7c8d9e02
Revises: 8e4d5c6b7a01
Create Date: 2022-06-02 10:01:12.000000

"""
from alembic import op
import sqlalchemy as sa

revision = '5a6b7c8d9e02'
down_revision = '8e4d5c6b7a01'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('orders', sa.Column('total_cents', sa.Integer(), nullable=False))
    op.create_index('ix_orders_placed_at', 'orders', ['placed_at'])


def downgrade() -> None:
    op.drop_index('ix_orders_placed_at', table_name='orders')
    op.drop_column('orders', 'total_cents')
'''


def test_rehearsal_fills_sqlalchemy_14_tables_and_observes_the_head_revision(
    tmp_path: Path,
) -> None:
    """The rehearsal's catalog reading, row generation (an enum, a foreign key, a unique
    column, a server default) and statement tracing on the oldest SQLAlchemy: the NOT NULL
    column added without a default fails once ``orders`` holds rows, and the index is built
    on the existing table without CONCURRENTLY."""
    project = _copy("sqlalchemy14_sync", tmp_path)
    revision = project / "migrations" / "versions" / "5a6b7c8d9e02_order_totals.py"
    revision.write_text(_TOTALS_REVISION)
    result = run_cli("check", "--format", "json", "--db", "local", str(project))
    assert result.code == 1, result.stderr
    path = "migrations/versions/5a6b7c8d9e02_order_totals.py"
    (fails,) = result.findings("upgrade-fails-with-rows")
    assert (fails["path"], fails["line"], fails["severity"]) == (path, 18, "error")
    assert 'column "total_cents" of relation "orders" contains null values' in fails["message"]
    assert result.findings("upgrade-fails") == []
    assert not [n for n in result.json.get("notes", []) if "rehearsal" in n]


def test_async_template_project_on_asyncpg_is_round_tripped_clean() -> None:
    result = run_cli(
        "check", "--format", "json", "--db", "local", str(FIXTURES / "sqlalchemy14_async")
    )
    assert result.code == 0, result.stderr
    assert _errors(result) == []
    assert result.json["summary"]["checked"] == 2


def test_factory_that_migrates_on_creation_behind_a_gevent_wsgi_is_checked_and_migrates_nothing(
    tmp_path: Path,
    production: str,  # noqa: F811
) -> None:
    """The factory's own ``upgrade()`` runs nowhere: not on the database the app names (here
    a stand-in for production, whose catalog must not change), not on the SQLite fallback
    (no app.db appears), and not on the throwaway database either, where it would have
    created every table before the stairway's first upgrade (an ``upgrade-fails``)."""
    project = _copy("flask_factory_migrates_on_create", tmp_path)
    before = _catalog(production)
    result = run_cli(
        "check", "--format", "json", "--db", "local", str(project), env={"DATABASE_URL": production}
    )
    assert result.code == 1, result.stderr
    assert _errors(result) == [
        (
            "downgrade-mismatch",
            "migrations/versions/c3d4e5f6a7b8_invoice_status.py",
            26,
            "c3d4e5f6a7b8",
        )
    ]
    (finding,) = result.findings("downgrade-mismatch")
    assert "index ix_invoice_customer_id on invoice left behind" in finding["message"]
    assert result.json["summary"]["checked"] == 3
    assert _catalog(production) == before
    assert not (project / "app.db").exists()


@pytest.mark.skipif(
    not ALEMBIC_BEFORE_1_16,
    reason=f"needs Alembic older than 1.16 (has {alembic.__version__}): runs in `nox -s oldest`",
)
def test_pyproject_configuration_on_alembic_before_1_16_is_one_line_error(tmp_path: Path) -> None:
    project = _copy("sqlalchemy14_sync", tmp_path)
    (project / "alembic.ini").unlink()
    (project / "pyproject.toml").write_text(
        '[tool.alembic]\nscript_location = "%(here)s/migrations"\nprepend_sys_path = ["."]\n'
    )
    result = run_cli("check", "--db", "local", str(project))
    assert result.code == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        "migguard: error: [tool.alembic] in pyproject.toml needs Alembic 1.16 or newer; this "
        f"environment has Alembic {alembic.__version__}: upgrade Alembic, or configure it in "
        "alembic.ini"
    ]
