"""`--format github`: workflow-command annotations and the Markdown job summary.

GitHub resolves annotation paths against the repository root, so the tests check the path
from the git top level (not the project, not the current directory), the escaping rules of
@actions/core, and the table appended to $GITHUB_STEP_SUMMARY.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from migguard.engine import Report
from migguard.findings import Finding, Severity
from migguard.report.github import escape_data, escape_property, render
from tests.conftest import FIXTURES, run_cli

RENAME_FILE = "migrations/versions/0002_rename.py"


def _line_of(path: Path, text: str) -> int:
    [line] = [i for i, content in enumerate(path.read_text().splitlines(), 1) if text in content]
    return line


def _git_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


def test_escaping_follows_the_actions_toolkit() -> None:
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_property("a,b: 50%\nc") == "a%2Cb%3A 50%25%0Ac"
    assert escape_data("a,b:c") == "a,b:c"


def test_error_annotation_names_the_file_from_the_repository_root(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    fixture = FIXTURES / "rename_as_drop_add"
    result = run_cli(
        "check",
        "--static",
        "--format",
        "github",
        str(fixture),
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert result.code == 1, result.stderr
    line = _line_of(fixture / RENAME_FILE, 'op.drop_column("books", "title")')
    path = f"tests/fixtures/rename_as_drop_add/{RENAME_FILE}"
    annotations = [out for out in result.stdout.splitlines() if out.startswith("::")]
    assert annotations == [
        f"::error file={path},line={line},title=migguard rename-as-drop-add::"
        "column books.title dropped and books.name added in the same revision: "
        "the data in books.title is lost"
        '%0Ahint: op.alter_column("books", "title", new_column_name="name")'
    ]
    last = result.stdout.splitlines()[-1]
    assert last.startswith("1 error: 2 revisions"), last

    markdown = summary.read_text()
    assert markdown.startswith("## migguard: `tests/fixtures/rename_as_drop_add`\n")
    assert "\n1 error: 2 revisions" in markdown
    assert "| severity | rule | location | revision | message |" in markdown
    assert (
        f"| error | `rename-as-drop-add` | `{path}:{line}` | `0002_rename` | column books.title"
    ) in markdown


def test_summary_is_appended_not_overwritten(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("## an earlier step\n\n")
    for _ in range(2):
        result = run_cli(
            "check",
            "--static",
            "--format",
            "github",
            str(FIXTURES / "clean_static"),
            env={"GITHUB_STEP_SUMMARY": str(summary)},
        )
        assert result.code == 0, result.stderr
        assert "::" not in result.stdout
        assert result.stdout.startswith("✓ no findings: 2 revisions")
    markdown = summary.read_text()
    assert markdown.startswith("## an earlier step\n\n## migguard: `tests/fixtures/clean_static`")
    assert markdown.count("## migguard:") == 2
    assert "| severity |" not in markdown


def test_project_below_a_git_root_is_reported_from_that_root(tmp_path: Path) -> None:
    repository = _git_repo(tmp_path / "repo")
    project = repository / "services" / "api"
    shutil.copytree(FIXTURES / "rename_as_drop_add", project)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_cli("check", "--static", "--format", "github", str(project), cwd=elsewhere)
    assert result.code == 1, result.stderr
    line = _line_of(project / RENAME_FILE, 'op.drop_column("books", "title")')
    assert f"::error file=services/api/{RENAME_FILE},line={line},title=" in result.stdout


def test_outside_a_git_repository_paths_are_relative_to_the_current_directory(
    tmp_path: Path,
) -> None:
    project = tmp_path / "work" / "app"
    shutil.copytree(FIXTURES / "rename_as_drop_add", project)
    result = run_cli(
        "check", "--static", "--format", "github", "app", cwd=tmp_path / "work", timeout=60
    )
    assert result.code == 1, result.stderr
    assert f"::error file=app/{RENAME_FILE},line=" in result.stdout


def test_warnings_are_warning_annotations_and_do_not_fail() -> None:
    fixture = FIXTURES / "missing_downgrade"
    result = run_cli("check", "--static", "--format", "github", str(fixture))
    assert result.code == 0, result.stderr
    [annotation] = [out for out in result.stdout.splitlines() if out.startswith("::")]
    revision = "migrations/versions/0002_add_email.py"
    line = _line_of(fixture / revision, "def downgrade")
    assert annotation.startswith(
        f"::warning file=tests/fixtures/missing_downgrade/{revision},line={line},"
        "title=migguard missing-downgrade::revision 0002_add_email has an empty downgrade()"
    )


def test_properties_and_messages_are_escaped_and_the_table_stays_one_row(
    tmp_path: Path, monkeypatch
) -> None:
    (tmp_path / ".git").mkdir()
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    finding = Finding(
        rule="drift",
        message="100% of rows | lost\nop.drop_column('a', 'b') <here>",
        path="odd,name:1.py",
        line=7,
        revision="0003",
        severity=Severity.ERROR,
    )
    note = "revision graph is broken: database checks skipped"
    report = Report(findings=[finding], revisions=3, root=tmp_path, notes=[note])
    lines = render(report, color=False).splitlines()
    assert lines[0] == (
        "::error file=odd%2Cname%3A1.py,line=7,title=migguard drift::"
        "100%25 of rows | lost%0Aop.drop_column('a', 'b') <here>"
    )
    assert lines[1] == "::notice title=migguard::" + note
    assert lines[2].startswith("1 error: 3 revisions")
    rows = [row for row in summary.read_text().splitlines() if row.startswith("| error")]
    assert rows == [
        "| error | `drift` | `odd,name:1.py:7` | `0003` | "
        "100% of rows \\| lost<br>op.drop_column('a', 'b') &lt;here&gt; |"
    ]


def test_project_wide_finding_has_no_file_property(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    finding = Finding(rule="multiple-heads", message="two heads", severity=Severity.ERROR)
    output = render(Report(findings=[finding], root=tmp_path), color=False)
    assert output.splitlines()[0] == "::error title=migguard multiple-heads::two heads"
