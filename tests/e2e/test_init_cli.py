"""`migguard init` through the real CLI, and README's CI snippets checked against it.

README.md's "In CI and pre-commit" section is the single source a reader copies from; the
last test fails when its YAML drifts from what `init` writes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

import migguard
from tests.conftest import FIXTURES, REPO, CliResult, run_cli

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

WORKFLOW = Path(".github/workflows/migguard.yml")
PRE_COMMIT = Path(".pre-commit-config.yaml")
TAG = f"v{migguard.__version__}"


def init(*args: str, cwd: Path) -> CliResult:
    result = run_cli("init", *args, cwd=cwd, timeout=60)
    assert "Traceback" not in result.stderr
    return result


def _steps(workflow_file: Path) -> list[dict]:
    return yaml.safe_load(workflow_file.read_text())["jobs"]["migguard"]["steps"]


def _git_init(path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(path)], check=True)


def test_init_writes_config_hook_and_workflow(tmp_path: Path) -> None:
    result = init(cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "wrote     pyproject.toml",
        f"wrote     {PRE_COMMIT}",
        f"wrote     {WORKFLOW}",
    ]
    config = tomllib.loads((tmp_path / "pyproject.toml").read_text())
    assert config["tool"]["migguard"] == {"db": "auto", "ignore": []}

    [repo] = yaml.safe_load((tmp_path / PRE_COMMIT).read_text())["repos"]
    assert repo == {
        "repo": "https://github.com/migguard/migguard",
        "rev": TAG,
        "hooks": [{"id": "migguard"}],
    }

    steps = _steps(tmp_path / WORKFLOW)
    checkout, setup, _install, action = steps
    assert checkout["uses"].startswith("actions/checkout@")
    assert checkout["with"]["fetch-depth"] == 0
    assert setup["uses"].startswith("actions/setup-python@")
    assert action["uses"] == f"migguard/migguard@{TAG}"
    assert action["with"]["path"] == "."
    assert "upload-sarif" not in (tmp_path / WORKFLOW).read_text()


def test_generated_config_is_accepted_by_check(tmp_path: Path) -> None:
    project = tmp_path / "app"
    shutil.copytree(FIXTURES / "clean_static", project)
    assert init(str(project), cwd=tmp_path).code == 0
    result = run_cli("check", "--static", str(project), timeout=60)
    assert result.code == 0, result.stderr


def test_second_run_skips_everything_and_changes_nothing(tmp_path: Path) -> None:
    assert init(cwd=tmp_path).code == 0
    files = [tmp_path / "pyproject.toml", tmp_path / PRE_COMMIT, tmp_path / WORKFLOW]
    before = [path.read_text() for path in files]
    result = init(cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["skipped"] * 3
    assert [path.read_text() for path in files] == before


def test_existing_files_are_extended_not_rewritten(tmp_path: Path) -> None:
    pyproject = '[project]\nname = "shop"\n\n[tool.ruff]\nline-length = 100\n'
    pre_commit = (
        "# our hooks\n"
        "repos:\n"
        "-   repo: https://github.com/psf/black\n"
        "    rev: 24.1.0\n"
        "    hooks:\n"
        "    -   id: black\n"
    )
    (tmp_path / "pyproject.toml").write_text(pyproject)
    (tmp_path / PRE_COMMIT).write_text(pre_commit)
    result = init(cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[:2] == [
        "appended  pyproject.toml ([tool.migguard])",
        f"appended  {PRE_COMMIT} (migguard hook)",
    ]
    new_pyproject = (tmp_path / "pyproject.toml").read_text()
    assert new_pyproject.startswith(pyproject)
    parsed = tomllib.loads(new_pyproject)
    assert parsed["tool"]["ruff"] == {"line-length": 100}
    assert parsed["tool"]["migguard"]["db"] == "auto"
    new_pre_commit = (tmp_path / PRE_COMMIT).read_text()
    assert new_pre_commit.startswith(pre_commit)
    repos = yaml.safe_load(new_pre_commit)["repos"]
    assert [r["repo"] for r in repos] == [
        "https://github.com/psf/black",
        "https://github.com/migguard/migguard",
    ]
    assert repos[1]["hooks"] == [{"id": "migguard"}]


def test_existing_migguard_table_is_left_alone_even_with_force(tmp_path: Path) -> None:
    pyproject = '[tool.migguard]\nignore = ["index-name"]\n'
    (tmp_path / "pyproject.toml").write_text(pyproject)
    result = init("--force", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert "skipped   pyproject.toml ([tool.migguard] already there)" in result.stdout
    assert (tmp_path / "pyproject.toml").read_text() == pyproject


def test_force_replaces_workflow_and_unappendable_pre_commit_config(tmp_path: Path) -> None:
    (tmp_path / WORKFLOW).parent.mkdir(parents=True)
    (tmp_path / WORKFLOW).write_text("name: mine\n")
    (tmp_path / PRE_COMMIT).write_text("repos: []\n")
    result = init(cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert f"skipped   {WORKFLOW} (exists; --force replaces it)" in result.stdout
    assert f"skipped   {PRE_COMMIT} (no block-style `repos:` list" in result.stdout
    assert (tmp_path / WORKFLOW).read_text() == "name: mine\n"
    assert (tmp_path / PRE_COMMIT).read_text() == "repos: []\n"

    result = init("--force", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert f"overwrote {WORKFLOW} (--force)" in result.stdout
    assert f"overwrote {PRE_COMMIT} (--force)" in result.stdout
    assert _steps(tmp_path / WORKFLOW)[-1]["uses"] == f"migguard/migguard@{TAG}"
    assert yaml.safe_load((tmp_path / PRE_COMMIT).read_text())["repos"][0]["rev"] == TAG


def test_project_below_the_git_root_gets_ci_files_at_the_root(tmp_path: Path) -> None:
    _git_init(tmp_path)
    project = tmp_path / "services" / "api"
    project.mkdir(parents=True)
    result = init("services/api", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "wrote     services/api/pyproject.toml",
        f"wrote     {PRE_COMMIT}",
        f"wrote     {WORKFLOW}",
    ]
    assert not (project / PRE_COMMIT).exists()
    [repo] = yaml.safe_load((tmp_path / PRE_COMMIT).read_text())["repos"]
    assert repo["hooks"] == [{"id": "migguard", "args": ["services/api"]}]
    steps = _steps(tmp_path / WORKFLOW)
    assert steps[-1]["with"]["path"] == "services/api"
    assert steps[2]["run"] == "pip install -r services/api/requirements.txt"


def test_sarif_flag_adds_the_upload_step(tmp_path: Path) -> None:
    result = init("--sarif", cwd=tmp_path)
    assert result.code == 0, result.stderr
    workflow = yaml.safe_load((tmp_path / WORKFLOW).read_text())
    assert workflow["permissions"]["security-events"] == "write"
    action, upload = workflow["jobs"]["migguard"]["steps"][-2:]
    assert upload["uses"] == "github/codeql-action/upload-sarif@v3"
    assert upload["with"]["sarif_file"] == action["with"]["sarif"]
    assert upload["if"].startswith("always()")


def test_missing_directory_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = init(str(tmp_path / "nope"), cwd=tmp_path)
    assert result.code == 2
    assert result.stderr.strip().splitlines() == [
        f"migguard: error: {tmp_path / 'nope'} is not a directory"
    ]


def test_broken_pyproject_stops_before_writing_anything(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.migguard\n")
    result = init(cwd=tmp_path)
    assert result.code == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("migguard: error: pyproject.toml: invalid TOML: Expected ']'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pyproject.toml"]


def _readme_yaml_blocks() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## In CI and pre-commit\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```yaml\n(.*?)^```$", section, flags=re.DOTALL | re.MULTILINE)


def test_readme_snippets_are_what_init_writes(tmp_path: Path) -> None:
    plain, with_sarif = tmp_path / "plain", tmp_path / "sarif"
    plain.mkdir()
    with_sarif.mkdir()
    assert init(cwd=plain).code == 0
    assert init("--sarif", cwd=with_sarif).code == 0
    expected = [
        (plain / WORKFLOW).read_text(),
        (plain / PRE_COMMIT).read_text(),
        (with_sarif / WORKFLOW).read_text(),
    ]
    blocks = _readme_yaml_blocks()
    for block in blocks:
        assert yaml.safe_load(block)
    assert blocks == expected
