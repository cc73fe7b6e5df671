"""``breaks-running-release`` on a real history: the full-stack-fastapi-template's pull request
that replaced integer ids by UUIDs (its commit e65b427a, revision ``d98dd8ec85a3``).

The release running during that deploy maps ``id: int | None = Field(default=None,
primary_key=True)``: its ORM never sends an id and leaves it to the column's ``nextval``
default. The revision drops those columns and renames NOT NULL UUID columns without a server
default into their place (the UUIDs come from Python's ``default_factory`` in the *new*
models), so every INSERT of the running release fails until the rollout ends: provable from
the database, and the error the rule exists for. The repository is built here from the
fixture's files: ``main`` at the revision before (with the integer-id models of d421c90a), the
pull request on top.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, run_cli
from tests.helpers import git

pytestmark = pytest.mark.timeout(300)

TEMPLATE = FIXTURES / "sqlmodel_template"
VERSIONS = Path("backend/app/alembic/versions")
UUID_REVISION = "d98dd8ec85a3_edit_replace_id_integers_in_all_models_.py"
LATER = (
    UUID_REVISION,
    "1a31ce608336_add_cascade_delete_relationships.py",
    "fe56fa70289e_add_created_at_to_user_and_item.py",
)


def _pull_request(tmp_path: Path, *, server_default: bool = False) -> Path:
    root = tmp_path / "full-stack-fastapi-template"
    shutil.copytree(TEMPLATE, root, ignore=shutil.ignore_patterns("__pycache__", "releases"))
    for name in LATER:
        (root / VERSIONS / name).unlink()
    models = root / "backend" / "app" / "models.py"
    shutil.copy(TEMPLATE / "releases" / "models_integer_ids.py", models)
    git(root, "init", "-q", "-b", "master")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "Add max_length validation for database models")
    git(root, "checkout", "-q", "-b", "uuid-ids")
    revision = (TEMPLATE / VERSIONS / UUID_REVISION).read_text()
    if server_default:  # the fix the finding's hint gives
        revision = revision.replace(
            "default=sa.text('uuid_generate_v4()')", "server_default=sa.text('uuid_generate_v4()')"
        )
    (root / VERSIONS / UUID_REVISION).write_text(revision)
    shutil.copy(TEMPLATE / "releases" / "models_uuid_ids.py", models)
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "Edit refactor db models to use UUID's instead of integer ID's")
    return root


def test_uuid_ids_break_the_running_releases_inserts(tmp_path: Path) -> None:
    root = _pull_request(tmp_path)
    result = run_cli(
        "check", "--format", "json", "--db", "local", "--since", "master", str(root / "backend")
    )
    assert result.code == 1, result.stderr
    path = f"app/alembic/versions/{UUID_REVISION}"
    breaks = sorted(
        (f["severity"], f["path"], f["line"], f["revision"])
        for f in result.findings("breaks-running-release")
    )
    # the renames of new_id into the place of each id
    assert breaks == [
        ("error", path, 45, "d98dd8ec85a3"),
        ("error", path, 48, "d98dd8ec85a3"),
    ], result.json["notes"]
    user, item = sorted(result.findings("breaks-running-release"), key=lambda f: f["line"])
    assert "renames user.new_id into the place of user.id" in user["message"]
    assert "app/models.py:42 User.id" in user["message"]
    assert "leaves user.id to the database" in user["message"]
    assert 'INSERT User fails with NotNullViolation: null value in column "id"' in user["message"]
    assert "server default" in user["hint"]
    assert "app/models.py:75 Item.id" in item["message"]


def test_the_same_ids_with_a_server_default_keep_the_running_release_working(
    tmp_path: Path,
) -> None:
    root = _pull_request(tmp_path, server_default=True)
    result = run_cli(
        "check", "--format", "json", "--db", "local", "--since", "master", str(root / "backend")
    )
    assert result.findings("breaks-running-release") == []
    assert not [n for n in result.json["notes"] if "breaks-running-release" in n]
    assert result.json["summary"]["checked"] == 1  # the pull request's revision
