"""The GitHub Action: action.yml's shape, and its script run exactly as the runner runs it.

The runner sets GITHUB_ACTION_PATH, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY and passes the
inputs as the INPUT_* variables listed in action.yml's `env:`; these tests do the same and run
scripts/action-run.sh against fixture projects on a real PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.helpers import git
from tests.release_repository import DROP_FULL_NAME, FULL_NAME, line_of, make_repository

pytestmark = pytest.mark.timeout(300)

SCRIPT = "scripts/action-run.sh"
INPUTS = {
    "path",
    "args",
    "python-version",
    "database-url",
    "postgres-version",
    "sarif",
    "since",
    "deploy-order",
}
OUTPUTS = {"findings", "sarif-file", "exit-code", "error"}
UPGRADE_FAILS_FILE = "tests/fixtures/upgrade_fails/migrations/versions/0002_bad_sql.py"


@dataclass
class ActionRun:
    code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str


def run_action(tmp_path: Path, **inputs: str) -> ActionRun:
    """`action-run.sh check` with the environment the runner gives the action's step."""
    output_file = tmp_path / "github_output"
    summary_file = tmp_path / "step_summary.md"
    output_file.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIGGUARD_", "PG", "INPUT_"))}
    env.pop("DATABASE_URL", None)
    env.update(
        {
            "NO_COLOR": "1",
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
            "GITHUB_ACTIONS": "true",
            "GITHUB_ACTION_PATH": str(REPO),
            "GITHUB_WORKSPACE": str(REPO),
            "GITHUB_OUTPUT": str(output_file),
            "GITHUB_STEP_SUMMARY": str(summary_file),
        }
    )
    for name in INPUTS - {"python-version"}:
        env[f"INPUT_{name.upper().replace('-', '_')}"] = inputs.get(name.replace("-", "_"), "")
    proc = subprocess.run(
        ["bash", str(REPO / SCRIPT), "check"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=240,
    )
    outputs = dict(
        line.split("=", 1) for line in output_file.read_text().splitlines() if "=" in line
    )
    summary = summary_file.read_text() if summary_file.exists() else ""
    return ActionRun(proc.returncode, proc.stdout, proc.stderr, outputs, summary)


def _action() -> dict:
    return yaml.safe_load((REPO / "action.yml").read_text())


def test_action_yml_declares_the_inputs_and_outputs() -> None:
    action = _action()
    assert set(action["inputs"]) == INPUTS
    assert action["inputs"]["path"]["default"] == "."
    assert action["inputs"]["python-version"]["default"] == "3.12"
    since = action["inputs"]["since"]["default"]
    assert "github.base_ref" in since and "origin/" in since
    assert action["inputs"]["deploy-order"]["default"] == "migrate-first"
    assert set(action["outputs"]) == OUTPUTS
    for name, output in action["outputs"].items():
        assert output["value"] == f"${{{{ steps.check.outputs.{name} }}}}"


def test_action_steps_set_up_python_then_call_the_script() -> None:
    runs = _action()["runs"]
    assert runs["using"] == "composite"
    setup, *scripted = runs["steps"]
    assert setup["uses"].startswith("actions/setup-python@")
    assert setup["with"]["python-version"] == "${{ inputs.python-version }}"
    assert [step["run"] for step in scripted] == [
        f'bash "${{{{ github.action_path }}}}/{SCRIPT}" install',
        f'bash "${{{{ github.action_path }}}}/{SCRIPT}" check',
    ]
    assert all(step["shell"] == "bash" for step in scripted)
    check = scripted[-1]
    assert check["id"] == "check"
    assert check["env"] == {
        f"INPUT_{name.upper().replace('-', '_')}": f"${{{{ inputs.{name} }}}}"
        for name in INPUTS - {"python-version"}
    }


def test_failing_upgrade_is_annotated_summarised_and_fails_the_step(tmp_path: Path) -> None:
    sarif = tmp_path / "out" / "migguard.sarif"
    sarif.parent.mkdir()
    run = run_action(
        tmp_path, path="tests/fixtures/upgrade_fails", args="--db local", sarif=str(sarif)
    )
    assert run.code == 1, run.stderr
    [annotation] = [
        line for line in run.stdout.splitlines() if line.startswith(("::error", "::warning"))
    ]
    assert annotation.startswith(
        f"::error file={UPGRADE_FAILS_FILE},line=13,title=migguard upgrade-fails::"
        "revision 0002_bad_sql: upgrade failed"
    )
    assert run.outputs == {
        "findings": "1",
        "sarif-file": str(sarif),
        "exit-code": "1",
        "error": "",
    }
    assert run.summary.startswith("## migguard: `tests/fixtures/upgrade_fails`")
    assert f"| error | `upgrade-fails` | `{UPGRADE_FAILS_FILE}:13` | `0002_bad_sql` |" in (
        run.summary
    )
    [result] = json.loads(sarif.read_text())["runs"][0]["results"]
    assert result["ruleId"] == "upgrade-fails"
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 13


def test_quoted_args_reach_the_cli(tmp_path: Path) -> None:
    run = run_action(
        tmp_path, path="tests/fixtures/upgrade_fails", args="--db local --ignore 'upgrade-fails'"
    )
    assert run.code == 0, run.stderr
    assert "::error" not in run.stdout
    assert run.outputs == {"findings": "0", "sarif-file": "", "exit-code": "0", "error": ""}


def test_clean_project_on_the_given_database_url_passes(tmp_path: Path, pg_admin_url) -> None:
    run = run_action(tmp_path, path="tests/fixtures/clean_db", database_url=pg_admin_url)
    assert run.code == 0, run.stderr
    assert "::error" not in run.stdout and "::warning" not in run.stdout
    assert run.stdout.splitlines()[-1].startswith("✓ no findings: 2 revisions")
    assert run.outputs == {"findings": "0", "sarif-file": "", "exit-code": "0", "error": ""}
    assert "## migguard: `tests/fixtures/clean_db`" in run.summary
    assert " on url " in run.stdout.splitlines()[-1]


def test_project_that_cannot_be_checked_exits_2_with_the_reason(tmp_path: Path) -> None:
    sarif = tmp_path / "failed.sarif"
    run = run_action(tmp_path, path="tests/fixtures/noisy_output", sarif=str(sarif))
    assert run.code == 2
    reason = "the project exited while migguard loaded env.py: sys.exit('NOISY_SECRET must be set')"
    assert f"migguard: error: tests/fixtures/noisy_output/migrations/env.py:22: {reason}" in (
        run.stderr.splitlines()
    )
    [annotation] = [line for line in run.stdout.splitlines() if line.startswith("::")]
    assert annotation.startswith("::error file=tests/fixtures/noisy_output/migrations/env.py,")
    assert run.outputs == {
        "findings": "",
        "sarif-file": str(sarif),
        "exit-code": "2",
        "error": reason,
    }
    [invocation] = json.loads(sarif.read_text())["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    assert run.summary == (
        "## migguard could not check the project\n\n"
        f"`tests/fixtures/noisy_output/migrations/env.py:22`: {reason}\n\n"
    )


def test_unbalanced_quote_in_args_is_one_line_and_exit_2(tmp_path: Path) -> None:
    run = run_action(tmp_path, path="tests/fixtures/clean_db", args="--db 'local")
    assert run.code == 2
    reason = 'migguard action: cannot parse args "--db \'local": No closing quotation'
    assert run.stderr.strip().splitlines() == [reason]
    assert run.outputs == {"exit-code": "2", "error": reason}


def test_a_pull_request_checks_the_running_release_by_default(tmp_path: Path) -> None:
    """On a pull request the Action's defaults (``since`` = origin/BASE, deploy-order
    migrate-first) run ``breaks-running-release``: a drop of a column the base branch's
    models still map is an error annotation at the drop."""
    upstream = make_repository(
        tmp_path / "upstream", base_columns=[FULL_NAME], **DROP_FULL_NAME, feature_columns=[]
    )
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(upstream), str(clone))
    git(clone, "checkout", "-q", "feature")  # the pull request's head, origin/main its base
    inputs = _action()["inputs"]
    since = inputs["since"]["default"]
    assert since == "${{ github.base_ref && format('origin/{0}', github.base_ref) || '' }}"
    run = run_action(
        tmp_path,
        path=str(clone),
        args="--db local",
        since="origin/main",  # what that expression gives for a pull request into main
        deploy_order=inputs["deploy-order"]["default"],
    )
    assert run.code == 1, run.stderr + run.stdout
    line = line_of(clone / "migrations" / "versions" / "0002_change.py", "op.drop_column")
    [annotation] = [text for text in run.stdout.splitlines() if text.startswith("::error")]
    assert annotation.startswith(
        f"::error file=migrations/versions/0002_change.py,line={line},"
        "title=migguard breaks-running-release::"
    )
    assert run.outputs["exit-code"] == "1"
