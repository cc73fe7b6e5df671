"""``--since REV|GIT_REF`` end to end: a real git repository, the real CLI, real PostgreSQL.

The project is generated: 30 reviewed revisions on ``main`` (each adds a column to ``items``,
with a correct downgrade), then a branch that adds two more, one of whose downgrades forgets a
column. A pull-request check must round-trip only the two new ones and still catch the bug.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, CliResult, run_cli
from tests.helpers import git

pytestmark = pytest.mark.timeout(300)

OLD_REVISIONS = 30
ENV_PY = FIXTURES / "clean_db" / "migrations" / "env.py"
ALEMBIC_INI = FIXTURES / "clean_db" / "alembic.ini"

_REVISION = '''"""{doc}"""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
{upgrade}


def downgrade() -> None:
{downgrade}
'''

_MODELS = '''"""Models at head."""

import sqlalchemy as sa

metadata = sa.MetaData()

items = sa.Table(
    "items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
{columns}
)

target_metadata = metadata
'''


def _revision_id(number: int) -> str:
    return f"{number:04d}_add_c{number:02d}"


def _write_revision(
    versions: Path, number: int, upgrade: list[str], downgrade: list[str], doc: str = ""
) -> Path:
    revision = _revision_id(number)
    down = _revision_id(number - 1) if number > 1 else None
    path = versions / f"{revision}.py"
    path.write_text(
        _REVISION.format(
            doc=doc or f"Add items.c{number:02d}.",
            revision=revision,
            down=down,
            upgrade="\n".join(f"    {line}" for line in upgrade),
            downgrade="\n".join(f"    {line}" for line in downgrade),
        ),
        encoding="utf-8",
    )
    return path


def _add_column(number: int) -> tuple[list[str], list[str]]:
    name = f"c{number:02d}"
    if number == 1:
        return (
            [
                'op.create_table("items", sa.Column("id", sa.Integer(), primary_key=True), '
                f'sa.Column("{name}", sa.Integer(), nullable=True))'
            ],
            ['op.drop_table("items")'],
        )
    return (
        [f'op.add_column("items", sa.Column("{name}", sa.Integer(), nullable=True))'],
        [f'op.drop_column("items", "{name}")'],
    )


def _write_models(root: Path, columns: list[str]) -> None:
    lines = "\n".join(f'    sa.Column("{c}", sa.Integer, nullable=True),' for c in columns)
    (root / "models.py").write_text(_MODELS.format(columns=lines), encoding="utf-8")


def _project_on_main(root: Path, revisions: int) -> Path:
    """An Alembic project with ``revisions`` linear revisions, committed on ``main``."""
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    shutil.copy(ALEMBIC_INI, root / "alembic.ini")
    shutil.copy(ENV_PY, root / "migrations" / "env.py")
    for number in range(1, revisions + 1):
        _write_revision(versions, number, *_add_column(number))
    _write_models(root, [f"c{n:02d}" for n in range(1, revisions + 1)])
    (root / ".gitignore").write_text("__pycache__/\n", encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "reviewed history")
    return versions


@pytest.fixture(scope="module")
def pull_request(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 revisions on main; branch ``feature`` adds 0031 (fine) and 0032 (broken downgrade)."""
    root = tmp_path_factory.mktemp("since") / "project"
    root.mkdir()
    versions = _project_on_main(root, OLD_REVISIONS)
    git(root, "checkout", "-q", "-b", "feature")
    _write_revision(versions, 31, *_add_column(31))
    _write_revision(
        versions,
        32,
        [
            'op.add_column("items", sa.Column("c32", sa.Integer(), nullable=True))',
            'op.add_column("items", sa.Column("c32_note", sa.Text(), nullable=True))',
        ],
        ['op.drop_column("items", "c32_note")'],
        doc="Add items.c32 and items.c32_note; the downgrade forgets c32.",
    )
    columns = [f"c{n:02d}" for n in range(1, 33)]
    _write_models(root, columns)
    text = (root / "models.py").read_text(encoding="utf-8")
    text = text.replace(
        '    sa.Column("c32", sa.Integer, nullable=True),',
        '    sa.Column("c32", sa.Integer, nullable=True),\n'
        '    sa.Column("c32_note", sa.Text, nullable=True),',
    )
    (root / "models.py").write_text(text, encoding="utf-8")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "two new revisions")
    return root


def _check(root: Path, *extra: str) -> CliResult:
    return run_cli("check", "--format", "json", "--db", "local", *extra, str(root))


def _assert_only_new_revisions_checked(result: CliResult) -> None:
    assert result.code == 1, result.stderr
    summary = result.json["summary"]
    assert summary["revisions"] == OLD_REVISIONS + 2
    assert summary["checked"] == 2
    assert summary["skipped"] == OLD_REVISIONS
    assert summary["skipped_reason"].startswith("--since ")
    (finding,) = result.findings("downgrade-mismatch")
    assert finding["revision"] == "0032_add_c32"
    assert finding["path"] == "migrations/versions/0032_add_c32.py"
    assert finding["line"] == 17  # def downgrade
    assert "column items.c32 left behind" in finding["message"]
    assert result.findings("drift") == []
    # the rehearsal covers the new revisions only: their columns added to the existing
    # table without a lock_timeout are news, the thirty reviewed ones are not
    timeouts = result.findings("missing-lock-timeout")
    assert sorted(f["revision"] for f in timeouts) == ["0031_add_c31", "0032_add_c32"]
    assert [f["rule"] for f in result.findings() if f not in timeouts] == ["downgrade-mismatch"]


def test_since_branch_round_trips_only_the_revisions_the_branch_adds(pull_request: Path) -> None:
    _assert_only_new_revisions_checked(_check(pull_request, "--since", "main"))


def test_since_revision_id_round_trips_its_descendants(pull_request: Path) -> None:
    _assert_only_new_revisions_checked(_check(pull_request, "--since", _revision_id(30)))


def test_since_unknown_ref_is_one_line_and_exit_2(pull_request: Path) -> None:
    result = _check(pull_request, "--since", "no-such-branch")
    assert result.code == 2
    assert result.json["error"]["message"] == (
        "--since no-such-branch: neither a revision id of this project nor a git ref"
    )
    (line,) = result.stderr.strip().splitlines()
    assert "no-such-branch" in line
    assert "neither a revision id of this project nor a git ref" in line


def test_since_outside_a_git_repository_is_one_line_and_exit_2(tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    _project_on_main(root, 2)
    shutil.rmtree(root / ".git")
    result = run_cli("check", "--static", "--since", "main", str(root))
    assert result.code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "is not in a git repository" in line


def test_since_limits_per_revision_rules_to_new_files_even_uncommitted(tmp_path: Path) -> None:
    """Old revisions were reviewed already: their warnings are not the pull request's."""
    root = tmp_path / "project"
    root.mkdir()
    versions = _project_on_main(root, 2)
    old = versions / f"{_revision_id(2)}.py"
    old.write_text(old.read_text().replace('op.drop_column("items", "c02")', "pass"))
    git(root, "commit", "-q", "-am", "old revision without a downgrade")
    git(root, "checkout", "-q", "-b", "feature")
    _write_revision(versions, 3, [_add_column(3)[0][0]], ["pass"])  # new and untracked

    everything = run_cli("check", "--static", "--format", "json", str(root))
    assert {f["revision"] for f in everything.findings("missing-downgrade")} == {
        _revision_id(2),
        _revision_id(3),
    }

    for since in ("main", "HEAD", _revision_id(2)[:6]):
        result = run_cli("check", "--static", "--format", "json", "--since", since, str(root))
        assert result.code == 0, result.stderr
        (finding,) = result.findings("missing-downgrade")
        assert finding["revision"] == _revision_id(3)
        assert finding["path"] == f"migrations/versions/{_revision_id(3)}.py"
        assert finding["line"] == 16  # def downgrade


def test_since_in_a_shallow_clone_says_to_fetch_the_history(tmp_path: Path) -> None:
    """actions/checkout fetches one commit unless told fetch-depth: 0."""
    origin = tmp_path / "origin"
    origin.mkdir()
    versions = _project_on_main(origin, 2)
    git(origin, "checkout", "-q", "-b", "feature")
    for number in (3, 4):
        _write_revision(versions, number, *_add_column(number))
        git(origin, "add", ".")
        git(origin, "commit", "-q", "-m", f"revision {number}")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", "--branch", "feature", origin.as_uri(), "clone")

    missing_ref = run_cli("check", "--static", "--since", "origin/main", str(clone))
    assert missing_ref.code == 2, missing_ref.stdout + missing_ref.stderr
    (line,) = missing_ref.stderr.strip().splitlines()
    assert "--since origin/main: neither a revision id of this project nor a git ref" in line
    assert "this clone is shallow" in line and "fetch-depth: 0" in line

    git(clone, "fetch", "-q", "--depth", "1", "origin", "main:refs/remotes/origin/main")
    no_branch_point = run_cli("check", "--static", "--since", "origin/main", str(clone))
    assert no_branch_point.code == 2, no_branch_point.stdout + no_branch_point.stderr
    (line,) = no_branch_point.stderr.strip().splitlines()
    assert "HEAD and origin/main have no common commit in this shallow clone" in line
    assert "fetch-depth: 0" in line
