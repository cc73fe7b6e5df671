"""Rule ids users write are checked against the registry: a misspelt id is exit 2 with one
line naming the closest id, whether it was written in a flag, in ``[tool.migguard]``, in a
baseline or in a suppression comment (there a warning, like ruff's unknown ``noqa`` codes)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, CliResult, run_cli


def one_line_error(result: CliResult) -> str:
    assert result.code == 2, (result.code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert result.stdout == ""
    return lines[0]


def project_with(tmp_path: Path, pyproject: str | None = None) -> Path:
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "missing_downgrade", project)
    (project / ".git").mkdir()  # [tool.migguard] is looked for up to the repository root
    if pyproject is not None:
        (project / "pyproject.toml").write_text(pyproject)
    return project


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--select", "drfit", "unknown rule id 'drfit' in --select; did you mean 'drift'?"),
        (
            "--ignore",
            "missing-downgrades",
            "unknown rule id 'missing-downgrades' in --ignore; did you mean 'missing-downgrade'?",
        ),
        (
            "--select",
            "index-name,constraint-nam",
            "unknown rule id 'constraint-nam' in --select; did you mean 'constraint-name'?",
        ),
        (
            "--ignore",
            "naming*",
            "rule pattern 'naming*' in --ignore matches no rule id (`migguard rules` lists them)",
        ),
        ("--select", "zzzz", "unknown rule id 'zzzz' in --select (`migguard rules` lists them)"),
    ],
)
def test_a_misspelt_id_in_a_flag_is_exit_2_naming_the_closest(
    flag: str, value: str, expected: str
) -> None:
    result = run_cli("check", "--static", flag, value, str(FIXTURES / "missing_downgrade"))
    assert one_line_error(result) == f"migguard: error: {expected}"


def test_known_ids_and_prefix_patterns_still_select() -> None:
    result = run_cli(
        "check",
        "--static",
        "--format",
        "json",
        "--select",
        "missing-*,drift",
        "--ignore",
        "index-name",
        str(FIXTURES / "missing_downgrade"),
    )
    assert result.code == 0, result.stderr  # missing-downgrade is a warning
    assert {f["rule"] for f in result.findings()} == {"missing-downgrade"}


@pytest.mark.parametrize(
    ("pyproject", "line", "expected"),
    [
        (
            '[tool.migguard]\ndb = "auto"\nselect = ["missing-downgrade", "drfit"]\n',
            3,
            "unknown rule id 'drfit' in [tool.migguard] select; did you mean 'drift'?",
        ),
        (
            '[tool.migguard]\nignore = "index-nme"\n',
            2,
            "unknown rule id 'index-nme' in [tool.migguard] ignore; did you mean 'index-name'?",
        ),
        (
            '[tool.migguard.severity]\nmissing-downgrade = "error"\nrename-as-drop = "warning"\n',
            3,
            "unknown rule id 'rename-as-drop' in [tool.migguard.severity]; "
            "did you mean 'rename-as-drop-add'?",
        ),
    ],
)
def test_a_misspelt_id_in_pyproject_is_exit_2_at_its_line(
    tmp_path: Path, pyproject: str, line: int, expected: str
) -> None:
    project = project_with(tmp_path, pyproject)
    result = run_cli("check", "--static", str(project))
    message = one_line_error(result)
    assert message == f"migguard: error: {project / 'pyproject.toml'}:{line}: {expected}", message


def test_the_github_format_still_gets_the_error_line(tmp_path: Path) -> None:
    project = project_with(tmp_path, '[tool.migguard]\nselect = ["drfit"]\n')
    result = run_cli("check", "--static", "--format", "github", str(project))
    assert result.code == 2
    assert "did you mean 'drift'?" in result.stderr + result.stdout


def test_a_valid_severity_table_applies(tmp_path: Path) -> None:
    project = project_with(tmp_path, '[tool.migguard.severity]\nmissing-downgrade = "error"\n')
    result = run_cli("check", "--static", "--format", "json", str(project))
    assert result.code == 1, result.stderr
    [finding] = result.findings("missing-downgrade")
    assert finding["severity"] == "error"
    assert finding["path"] == "migrations/versions/0002_add_email.py"
    assert finding["line"] == 22


def test_a_baseline_naming_an_unknown_rule_is_exit_2(tmp_path: Path) -> None:
    project = project_with(tmp_path)
    baseline = tmp_path / "baseline.json"
    entry = {"rule": "missing-downgrad", "path": "x.py", "fingerprint": "0", "message": "m"}
    baseline.write_text(json.dumps({"version": 1, "entries": [entry]}))
    result = run_cli("check", "--static", "--baseline", str(baseline), str(project))
    message = one_line_error(result)
    assert (
        f"unknown rule id 'missing-downgrad' in baseline {baseline} (entry 1); "
        "did you mean 'missing-downgrade'? Regenerate it with `migguard baseline`." in message
    )


def test_a_misspelt_id_in_a_suppression_comment_names_the_closest(tmp_path: Path) -> None:
    project = project_with(tmp_path)
    revision = project / "migrations" / "versions" / "0002_add_email.py"
    source = revision.read_text().splitlines()
    source[21] = source[21] + "  # migguard: ignore[missing-downgrde]"  # line 22: def downgrade
    revision.write_text("\n".join(source) + "\n")
    result = run_cli("check", "--static", "--format", "json", str(project))
    assert result.code == 0, result.stderr
    [problem] = result.findings("unknown-suppression")
    assert problem["message"] == (
        "unknown rule id 'missing-downgrde' in a migguard suppression comment; "
        "did you mean 'missing-downgrade'?"
    )
    assert (problem["path"], problem["line"]) == ("migrations/versions/0002_add_email.py", 22)
    assert problem["severity"] == "warning"
    assert result.findings("missing-downgrade")  # the misspelt comment suppressed nothing


def test_migguard_rule_with_a_misspelt_id_names_the_closest() -> None:
    result = run_cli("rule", "drfit")
    assert (
        one_line_error(result) == "migguard: error: unknown rule id 'drfit'; did you mean 'drift'?"
    )


def test_migguard_rules_shows_what_each_rule_needs_and_its_scope() -> None:
    listing = run_cli("rules")
    assert listing.code == 0, listing.stderr
    rows = {line.split()[0]: line.split()[1:4] for line in listing.stdout.splitlines()}
    assert rows["downgrade-fails"] == ["error", "database", "revision"]
    assert rows["multiple-heads"] == ["error", "static", "project"]
    explained = run_cli("rule", "downgrade-fails")
    assert explained.code == 0, explained.stderr
    assert "needs: database; scope: revision; family: round-trip" in explained.stdout
