"""``breaks-running-release`` end to end: git repositories of two commits built here, the real
CLI with ``--since main``, real PostgreSQL.

Each repository holds a small ORM project on ``main`` (users with a full name, teams through a
membership table, posts by an author) and a ``feature`` commit on top with one new revision and
the models as that revision leaves them. The release running during the deploy is ``main``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, REPO, CliResult, run_cli
from tests.helpers import git
from tests.release_repository import (
    CLASSIC_FULL_NAME,
    DROP_FULL_NAME,
    FULL_NAME,
    line_of,
    make_repository,
)

pytestmark = pytest.mark.timeout(300)


def _check(root: Path, *extra: str, env: dict[str, str] | None = None) -> CliResult:
    return run_cli(
        "check", "--format", "json", "--db", "local", "--since", "main", *extra, str(root),
        env=env,
    )  # fmt: skip


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return tmp_path / "project"


def test_dropping_a_column_the_running_release_maps_is_found(project: Path) -> None:
    make_repository(
        project,
        base_columns=[FULL_NAME],
        **DROP_FULL_NAME,
        feature_columns=[],
    )
    result = _check(project)
    assert result.code == 1, result.stderr + result.stdout
    (finding,) = result.findings("breaks-running-release")
    revision = project / "migrations" / "versions" / "0002_change.py"
    assert finding["path"] == "migrations/versions/0002_change.py"
    assert finding["line"] == line_of(revision, "op.drop_column")
    assert finding["revision"] == "0002_change"
    assert finding["severity"] == "error"
    git(project, "checkout", "-q", "main")
    line = line_of(project / "models.py", "full_name: Mapped")
    assert f"models.py:{line} User.full_name" in finding["message"]
    assert "drops users.full_name" in finding["message"]
    assert "SELECT User" in finding["message"]
    assert "UndefinedColumn" in finding["message"]
    assert "stop reading users.full_name in one release" in finding["hint"]


def test_dropping_a_column_the_running_release_no_longer_maps_is_clean(project: Path) -> None:
    make_repository(
        project,
        base_columns=[],
        **DROP_FULL_NAME,
        feature_columns=[],
    )
    result = _check(project)
    assert result.findings("breaks-running-release") == [], result.stdout
    assert result.code == 0, result.stderr + result.stdout


def test_not_null_column_with_server_default_is_clean(project: Path) -> None:
    make_repository(
        project,
        base_columns=[FULL_NAME],
        upgrade=(
            'op.add_column("users", sa.Column("age", sa.Integer(), nullable=False, '
            'server_default="0"))'
        ),
        downgrade='op.drop_column("users", "age")',
        feature_columns=[FULL_NAME, '    age: Mapped[int] = mapped_column(server_default="0")'],
    )
    result = _check(project)
    assert result.findings("breaks-running-release") == [], result.stdout
    assert result.code == 0, result.stderr + result.stdout


@pytest.mark.parametrize(
    ("upgrade", "did", "operation"),
    [
        pytest.param(
            'op.add_column("users", sa.Column("age", sa.Integer(), nullable=False))',
            "adds users.age NOT NULL without a server default",
            "op.add_column",
            id="add-column",
        ),
        pytest.param(
            'op.add_column("users", sa.Column("age", sa.Integer(), nullable=True))\n'
            '    op.execute("UPDATE users SET age = 0")\n'
            '    op.alter_column("users", "age", existing_type=sa.Integer(), nullable=False)',
            "makes users.age NOT NULL",
            "op.alter_column",
            id="alter-nullable-false",
        ),
        pytest.param(
            'op.add_column("users", sa.Column("age", sa.Integer(), nullable=False, '
            'server_default="0"))\n'
            '    op.alter_column("users", "age", existing_type=sa.Integer(), server_default=None)',
            "removes the server default of users.age",
            "op.alter_column",
            id="alter-server-default-removed",
        ),
    ],
)
def test_not_null_column_without_server_default_breaks_the_old_insert(
    project: Path, upgrade: str, did: str, operation: str
) -> None:
    """The running release does not map users.age, so its INSERTs leave it out. Added NOT
    NULL without a default, or added safely for the rehearsal (nullable and backfilled, or
    with a default) and then made mandatory by an ``alter_column``: the finding names the
    call that did it, not an add before it."""
    make_repository(
        project,
        base_columns=[FULL_NAME],
        upgrade=upgrade,
        downgrade='op.drop_column("users", "age")',
        feature_columns=[FULL_NAME, "    age: Mapped[int]"],
    )
    result = _check(project)
    assert result.code == 1, result.stderr + result.stdout
    (finding,) = result.findings("breaks-running-release")
    revision = project / "migrations" / "versions" / "0002_change.py"
    assert finding["path"] == "migrations/versions/0002_change.py"
    assert finding["line"] == line_of(revision, operation)
    assert finding["revision"] == "0002_change"
    assert did in finding["message"]
    assert "INSERT User" in finding["message"]
    # a Post's author is one of the users rows the rehearsal's fill wrote, not a new User:
    # the old release's INSERT of a Post works
    assert "INSERT Post" not in finding["message"]
    assert "NotNullViolation" in finding["message"]
    assert "does not map users.age" in finding["message"]
    assert "server_default" in finding["hint"]


@pytest.mark.parametrize(
    ("upgrade", "did", "operation"),
    [
        pytest.param(
            DROP_FULL_NAME["upgrade"], "drops users.full_name", "op.drop_column", id="drop"
        ),
        pytest.param(
            'op.execute("UPDATE users SET full_name = email")\n'
            '    op.alter_column("users", "full_name", existing_type=sa.String(200), '
            "nullable=False)",
            "makes users.full_name NOT NULL",
            "op.alter_column",
            id="not-null",
        ),
    ],
)
def test_classic_declarative_models_break_and_are_blamed_alike(
    project: Path, upgrade: str, did: str, operation: str
) -> None:
    """Models written with ``sa.Column`` (what SQLAlchemy 1.4 projects have; ``nox -s
    oldest`` runs this test on 1.4): the drop of a column the old release maps, and a
    column it does not map made NOT NULL, each blamed at its line."""
    base = [CLASSIC_FULL_NAME] if operation == "op.drop_column" else []
    make_repository(
        project,
        base_columns=base,
        upgrade=upgrade,
        downgrade='op.alter_column("users", "full_name", nullable=True)',
        feature_columns=[]
        if base
        else ["    full_name = sa.Column(sa.String(200), nullable=False)"],
        classic=True,
    )
    result = _check(project)
    assert result.code == 1, result.stderr + result.stdout
    (finding,) = result.findings("breaks-running-release")
    revision = project / "migrations" / "versions" / "0002_change.py"
    assert finding["path"] == "migrations/versions/0002_change.py"
    assert finding["line"] == line_of(revision, operation)
    assert did in finding["message"]
    assert finding["severity"] == "error"


def test_a_failure_the_schema_cannot_be_proven_to_cause_is_a_note_not_an_error(
    project: Path,
) -> None:
    """A new CHECK rejects every row the rehearsal's generator makes for the old INSERT;
    whether the running release writes such rows is unknowable, so it is never an error."""
    make_repository(
        project,
        base_columns=[FULL_NAME],
        upgrade=(
            'op.create_check_constraint("ck_users_email", "users", '
            "\"email ~ '^[a-z]+@[a-z]+[.][a-z]+$'\")"
        ),
        downgrade='op.drop_constraint("ck_users_email", "users")',
        feature_columns=[FULL_NAME],
    )
    result = run_cli(
        "check", "--db", "local", "--since", "main", "--ignore", "schema-mismatch", str(project)
    )  # the models do not declare the CHECK: not what this test is about
    assert "[breaks-running-release]" not in result.stdout
    assert "note: breaks-running-release: not judged" in result.stdout
    assert "INSERT User (CheckViolation" in result.stdout
    assert result.code == 0, result.stderr + result.stdout


def test_renaming_a_table_the_running_release_maps_is_found(project: Path) -> None:
    make_repository(
        project,
        base_columns=[FULL_NAME],
        upgrade='op.rename_table("posts", "articles")',
        downgrade='op.rename_table("articles", "posts")',
        feature_columns=[FULL_NAME],
        feature_posts="articles",
    )
    result = _check(project)
    assert result.code == 1, result.stderr + result.stdout
    (finding,) = result.findings("breaks-running-release")
    revision = project / "migrations" / "versions" / "0002_change.py"
    assert finding["line"] == line_of(revision, "op.rename_table")
    assert "renames table posts to articles" in finding["message"]
    assert "UndefinedTable" in finding["message"]
    assert "keep posts until the release that stops using it" in finding["hint"]


def test_renaming_the_association_table_of_a_relationship_is_found(project: Path) -> None:
    make_repository(
        project,
        base_columns=[FULL_NAME],
        upgrade='op.rename_table("memberships", "team_members")',
        downgrade='op.rename_table("team_members", "memberships")',
        feature_columns=[FULL_NAME],
        feature_memberships="team_members",
    )
    result = _check(project, "--ignore", "schema-mismatch")  # constraint names keep the old
    assert result.code == 1, result.stderr + result.stdout
    (finding,) = result.findings("breaks-running-release")
    revision = project / "migrations" / "versions" / "0002_change.py"
    assert finding["line"] == line_of(revision, "op.rename_table")
    assert "renames table memberships to team_members" in finding["message"]
    git(project, "checkout", "-q", "main")
    line = line_of(project / "models.py", "teams: Mapped")
    assert f"models.py:{line} User.teams" in finding["message"]
    assert "SELECT User.teams" in finding["message"]


def test_code_first_new_model_column_missing_from_the_old_schema_is_found(
    project: Path,
) -> None:
    nickname = "    nickname: Mapped[str | None] = mapped_column(sa.String(40))"
    make_repository(
        project,
        base_columns=[FULL_NAME],
        upgrade='op.add_column("users", sa.Column("nickname", sa.String(40), nullable=True))',
        downgrade='op.drop_column("users", "nickname")',
        feature_columns=[FULL_NAME, nickname],
    )
    migrate_first = _check(project)
    assert migrate_first.findings("breaks-running-release") == [], migrate_first.stdout
    assert migrate_first.code == 0, migrate_first.stderr + migrate_first.stdout

    result = _check(project, "--deploy-order", "code-first")
    assert result.code == 1, result.stderr + result.stdout
    (finding,) = result.findings("breaks-running-release")
    assert finding["path"] == "models.py"
    assert finding["line"] == line_of(project / "models.py", "nickname: Mapped")
    assert finding["revision"] == "0002_change"
    assert "User.nickname" in finding["message"]
    assert "adds users.nickname" in finding["message"]
    assert "migrate-first" in finding["hint"]


def test_old_models_are_imported_only_in_a_child_process_on_the_throwaway_database(
    project: Path, tmp_path: Path, pg_admin_url: str
) -> None:
    """The base release's models run module-level code: it must happen in a process of its
    own (a child of migguard's), and see migguard's throwaway database, never the one the
    environment names; that database is left as it was."""
    import sqlalchemy as sa

    make_repository(
        project,
        base_columns=[FULL_NAME],
        **DROP_FULL_NAME,
        feature_columns=[],
    )
    production = f"production_{os.getpid()}"
    admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{production}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{production}"'))
    production_url = sa.engine.make_url(pg_admin_url).set(database=production)
    production_engine = sa.create_engine(production_url)
    try:
        with production_engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE users (id int PRIMARY KEY, full_name text)"))
            conn.execute(sa.text("INSERT INTO users VALUES (1, 'kept')"))
        log = tmp_path / "imports.log"
        env = {
            "IMPORT_LOG": str(log),
            "DATABASE_URL": production_url.render_as_string(hide_password=False),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "migguard", "check", "--format", "json", "--db", "local",
             "--since", "main", str(project)],
            cwd=REPO,
            env={**os.environ, "NO_COLOR": "1", **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        stdout, stderr = process.communicate(timeout=240)
        assert process.returncode == 1, stderr + stdout
        assert '"breaks-running-release"' in stdout
        imports = [line.split() for line in log.read_text(encoding="utf-8").splitlines()]
        old = [entry for entry in imports if entry[0] == "old"]
        new = [entry for entry in imports if entry[0] == "new"]
        assert old and new
        assert {int(pid) for _, pid, _, _ in new} == {process.pid}  # env.py, in migguard
        assert all(
            int(pid) != process.pid and int(parent) == process.pid for _, pid, parent, _ in old
        )
        assert all(database.startswith("migguard_") for *_, database in imports)
        with production_engine.connect() as conn:
            tables = (
                conn.execute(sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
                .scalars()
                .all()
            )
            rows = conn.execute(sa.text("SELECT id, full_name FROM users")).all()
        assert tables == ["users"] and rows == [(1, "kept")]
    finally:
        production_engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{production}" WITH (FORCE)'))
        admin.dispose()


def test_without_a_git_ref_the_rule_is_skipped_with_a_note(project: Path) -> None:
    make_repository(
        project,
        base_columns=[FULL_NAME],
        **DROP_FULL_NAME,
        feature_columns=[],
    )
    plain = run_cli("check", "--db", "local", str(project))
    assert "note: breaks-running-release skipped: no base release" in plain.stdout
    by_revision = run_cli("check", "--db", "local", "--since", "0001_initial", str(project))
    assert "note: breaks-running-release skipped: --since 0001_initial is a revision id" in (
        by_revision.stdout
    )
    for result in (plain, by_revision):
        assert "error [breaks-running-release]" not in result.stdout
        assert result.code == 0, result.stderr + result.stdout


_SQLITE_DROP = '''"""Drop authors.email: the release running now still maps it."""

import sqlalchemy as sa
from alembic import op

revision = "0003_drop_email"
down_revision = "0002_author_email"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("authors") as batch_op:
        batch_op.drop_index("ix_authors_email")
        batch_op.drop_column("email")


def downgrade() -> None:
    with op.batch_alter_table("authors") as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(200), nullable=True))
        batch_op.create_index("ix_authors_email", ["email"])
'''


def test_a_sqlite_project_skips_the_rule_with_a_note_that_says_why(tmp_path: Path) -> None:
    """On SQLite there are no rehearsal rows and no error codes to prove a break with: the
    rule says it did not run (a drop of a mapped column passes unjudged, never guessed)."""
    root = tmp_path / "sqlite_app"
    shutil.copytree(
        FIXTURES / "sqlite_project", root, ignore=shutil.ignore_patterns("*.db", "__pycache__")
    )
    (root / ".gitignore").write_text("__pycache__/\n*.db\n", encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "the release in production")
    git(root, "checkout", "-q", "-b", "feature")
    (root / "migrations" / "versions" / "0003_drop_email.py").write_text(
        _SQLITE_DROP, encoding="utf-8"
    )
    models = root / "models.py"
    kept = [line for line in models.read_text(encoding="utf-8").splitlines() if "email" not in line]
    models.write_text("\n".join(kept) + "\n", encoding="utf-8")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "the pull request")

    result = run_cli("check", "--format", "json", "--since", "main", str(root))
    assert result.code == 0, result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert result.findings("breaks-running-release") == []
    (note,) = [n for n in result.json["notes"] if n.startswith("breaks-running-release")]
    assert "skipped: the project's database is SQLite" in note
    assert "PostgreSQL only" in note


def _workers_of(pid: int) -> list[int]:
    listing = ["ps", "-ww", "-eo", "pid,ppid,args"]
    out = subprocess.run(listing, capture_output=True, text=True).stdout
    found = []
    for line in out.splitlines()[1:]:
        child, parent, args = line.split(None, 2)
        if int(parent) == pid and "migguard.deploy.worker" in args:
            found.append(int(child))
    return found


def test_ctrl_c_stops_the_worker_and_removes_the_release_checkout(project: Path) -> None:
    make_repository(
        project,
        base_columns=[FULL_NAME],
        upgrade='op.execute("SELECT pg_sleep(30)")',
        downgrade="pass",
        feature_columns=[FULL_NAME],
    )
    # the run's TMPDIR; readable by the unprivileged user the local server runs as
    scratch = Path(tempfile.mkdtemp(prefix="migguard-test-"))
    scratch.chmod(0o755)
    process = subprocess.Popen(
        [sys.executable, "-m", "migguard", "check", "--db", "local", "--since", "main",
         str(project)],
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(scratch)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (_workers_of(process.pid) and list(scratch.glob("migguard-release-*"))):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the worker never started"
            time.sleep(0.1)
        workers = _workers_of(process.pid)
        time.sleep(1)  # inside the 30-second revision
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        left = list(scratch.glob("migguard-release-*"))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        shutil.rmtree(scratch, ignore_errors=True)
    assert process.returncode == 130, stderr
    assert left == []
    for worker in workers:
        assert not Path(f"/proc/{worker}").exists() or "zombie" in Path(
            f"/proc/{worker}/status"
        ).read_text(encoding="utf-8")
