"""The pre-commit hooks, installed and run by pre-commit itself (`pre-commit try-repo`).

try-repo clones a git repository and pip-installs it into a hook environment, so the source
is a throwaway commit of the current working tree (uncommitted files included); the hook
runs in a throwaway git repository holding a copy of a fixture project.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import FIXTURES, REPO

pytestmark = pytest.mark.timeout(600)

_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "venv", "__pycache__", "*.egg-info", ".*_cache", ".hypothesis", ".benchmarks"
)
_GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]


@dataclass
class HookRepo:
    source: Path
    home: Path


def _commit_all(path: Path) -> None:
    subprocess.run([*_GIT, "init", "-q", str(path)], check=True)
    subprocess.run([*_GIT, "-C", str(path), "add", "-A"], check=True)
    subprocess.run([*_GIT, "-C", str(path), "commit", "-q", "-m", "snapshot"], check=True)


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HookRepo]:
    """A committed copy of the working tree, and one PRE_COMMIT_HOME so the hook env is
    built once for the module."""
    root = tmp_path_factory.mktemp("precommit")
    source = root / "migguard"
    shutil.copytree(REPO, source, ignore=_NOT_SOURCE)
    _commit_all(source)
    yield HookRepo(source=source, home=root / "home")


def try_repo(
    hook_repo: HookRepo, project: Path, hook: str, *options: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIGGUARD_", "PG", "GIT_"))}
    env.update(
        {"PRE_COMMIT_HOME": str(hook_repo.home), "NO_COLOR": "1", "PRE_COMMIT_COLOR": "never"}
    )
    return subprocess.run(
        ["pre-commit", "try-repo", str(hook_repo.source), hook, "--all-files", *options],
        capture_output=True,
        text=True,
        cwd=project,
        env=env,
        timeout=540,
    )


def _project(tmp_path: Path, fixture: str) -> Path:
    project = tmp_path / fixture
    shutil.copytree(FIXTURES / fixture, project, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([*_GIT, "init", "-q", str(project)], check=True)
    subprocess.run([*_GIT, "-C", str(project), "add", "-A"], check=True)
    return project


def test_hooks_file_declares_the_static_and_the_full_hook() -> None:
    hooks = {
        hook["id"]: hook for hook in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    }
    assert set(hooks) == {"migguard", "migguard-full"}
    assert hooks["migguard"]["entry"] == "migguard check --static"
    assert hooks["migguard-full"]["entry"] == "migguard check"
    assert hooks["migguard-full"]["stages"] == ["pre-push"]
    for hook in hooks.values():
        assert hook["language"] == "python"
        assert hook["types"] == ["python"]
        assert hook["pass_filenames"] is False


def test_static_hook_fails_a_commit_with_a_data_losing_rename(
    hook_repo: HookRepo, tmp_path: Path
) -> None:
    project = _project(tmp_path, "rename_as_drop_add")
    result = try_repo(hook_repo, project, "migguard")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "- hook id: migguard" in result.stdout
    lines = (project / "migrations/versions/0002_rename.py").read_text().splitlines()
    [line] = [i for i, text in enumerate(lines, 1) if 'op.drop_column("books", "title")' in text]
    assert f"migrations/versions/0002_rename.py:{line}: error [rename-as-drop-add]" in result.stdout


def test_static_hook_passes_a_clean_project(hook_repo: HookRepo, tmp_path: Path) -> None:
    project = _project(tmp_path, "clean_static")
    result = try_repo(hook_repo, project, "migguard")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed" in result.stdout


def test_static_hook_names_additional_dependencies_for_a_missing_package(
    hook_repo: HookRepo, tmp_path: Path
) -> None:
    """The hook's environment has migguard and nothing of the project: a package the models'
    import chain needs is a note saying where it goes, and the other rules still run."""
    project = _project(tmp_path, "settings_required")
    config = project / "app" / "config.py"
    config.write_text("import acme_billing  # noqa: F401\n" + config.read_text())
    subprocess.run([*_GIT, "-C", str(project), "add", "-A"], check=True)
    result = try_repo(hook_repo, project, "migguard", "--verbose")
    assert result.returncode == 0, result.stdout + result.stderr
    [note] = [line for line in result.stdout.splitlines() if line.startswith("note:")]
    assert "app/config.py:1: env.py failed to import: ModuleNotFoundError: No module named " in (
        note
    )
    assert "'acme_billing'" in note
    assert note.endswith(
        "the pre-commit hook's environment lacks the project's packages: list them under "
        "additional_dependencies in .pre-commit-config.yaml"
    ), note
    assert "migrations/versions/0001_users.py:18: warning [index-name]" in result.stdout
