"""Output nothing can corrupt, and exit 2 that machines can read.

Projects print: revisions call ``print()``, logging handlers are bound to ``sys.stdout`` at
import time, C code and child processes write to file descriptor 1. None of it may reach the
report on stdout. A project that cannot be checked (here: env.py or a settings module calling
``sys.exit`` when a secret is unset) is exit 2 with one line, and in machine formats an error
object, an ``::error`` annotation or a SARIF tool-execution notification.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import FIXTURES, REPO, run_cli
from tests.test_report_sarif import assert_valid_sarif

NOISY = "tests/fixtures/noisy_output"
EXITS = "tests/fixtures/exits_while_loading"
ENV_EXIT_LINE = 22  # sys.exit("NOISY_SECRET must be set") in noisy_output/migrations/env.py
PROJECT_CHATTER = [
    " * Loaded module app_logging",
    "fd 1: a C extension says hello",
    "a child process writes to its stdout",
    "logging configured",
    "env.py: configuring the migration context",
]


def _migguard_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("migguard:")]


def test_project_output_goes_to_stderr_and_json_stdout_parses() -> None:
    result = run_cli("check", "--db", "local", "--format", "json", NOISY, env={"NOISY_SECRET": "x"})
    assert result.code == 1, result.stderr
    report = json.loads(result.stdout)  # nothing but the report
    [finding] = [f for f in report["findings"] if f["severity"] == "error"]
    assert finding["rule"] == "downgrade-mismatch"
    assert finding["path"] == "migrations/versions/0002_author_email.py"
    assert finding["line"] == 19
    for line in [
        *PROJECT_CHATTER,
        "creating authors",
        "upgrade 0001",
        "fd 1 during an upgrade",
        "a child process during an upgrade",
        "migrations done",
    ]:
        assert line in result.stderr.splitlines(), line


def test_exit_in_env_py_is_exit_2_with_a_json_error() -> None:
    result = run_cli("check", "--db", "local", "--format", "json", NOISY)
    assert result.code == 2, result.stdout + result.stderr
    assert json.loads(result.stdout) == {
        "version": 1,
        "error": {
            "message": "the project exited while migguard loaded env.py: "
            "sys.exit('NOISY_SECRET must be set')",
            "path": "migrations/env.py",
            "line": ENV_EXIT_LINE,
        },
    }
    assert _migguard_lines(result.stderr) == [
        f"migguard: error: {NOISY}/migrations/env.py:{ENV_EXIT_LINE}: the project exited while "
        "migguard loaded env.py: sys.exit('NOISY_SECRET must be set')"
    ]
    assert "NOISY_SECRET is unset" in result.stderr  # the project's own log line, on stderr
    for line in PROJECT_CHATTER:
        assert line in result.stderr.splitlines(), line


def test_exit_2_paths_are_relative_to_the_working_directory() -> None:
    result = run_cli("check", "--db", "local", ".", cwd=REPO / NOISY / "migrations")
    assert result.code == 2, result.stdout + result.stderr
    assert result.stdout == ""
    [line] = _migguard_lines(result.stderr)
    assert line.startswith(f"migguard: error: env.py:{ENV_EXIT_LINE}: the project exited"), line


def test_exit_2_in_github_format_is_an_error_annotation_on_the_file() -> None:
    result = run_cli("check", "--db", "local", "--format", "github", NOISY)
    assert result.code == 2, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        f"::error file={NOISY}/migrations/env.py,line={ENV_EXIT_LINE},"
        "title=migguard could not check the project::the project exited while migguard "
        "loaded env.py: sys.exit('NOISY_SECRET must be set')"
    ]


def test_exit_2_in_sarif_is_a_failed_invocation_with_a_notification(tmp_path: Path) -> None:
    copy = tmp_path / "sarif_file.sarif"
    result = run_cli("check", "--db", "local", "--format", "sarif", "--sarif", str(copy), NOISY)
    assert result.code == 2, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert_valid_sarif(document)
    assert json.loads(copy.read_text()) == document
    [run] = document["runs"]
    assert run["results"] == []
    [invocation] = run["invocations"]
    assert invocation["executionSuccessful"] is False
    [notification] = invocation["toolExecutionNotifications"]
    assert notification["level"] == "error"
    assert "sys.exit('NOISY_SECRET must be set')" in notification["message"]["text"]
    physical = notification["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"] == {
        "uri": f"{NOISY}/migrations/env.py",
        "uriBaseId": "%SRCROOT%",
    }
    assert physical["region"] == {"startLine": ENV_EXIT_LINE}


def test_exit_2_before_any_project_is_found_is_json_too(tmp_path: Path) -> None:
    result = run_cli("check", "--format", "json", str(tmp_path / "nowhere"))
    assert result.code == 2
    error = json.loads(result.stdout)["error"]
    assert error["message"].startswith("no such directory")
    assert error["path"] is None and error["line"] is None


def test_exit_while_a_revision_imports_names_the_revision_line() -> None:
    result = run_cli("check", "--db", "local", "--format", "json", EXITS)
    assert result.code == 2, result.stdout + result.stderr
    assert json.loads(result.stdout)["error"] == {
        "message": "revision failed to import: sys.exit('SECRET_KEY is not set')",
        "path": "migrations/versions/0002_admin_author.py",
        "line": 6,
    }
    [line] = _migguard_lines(result.stderr)
    assert line == (
        f"migguard: error: {EXITS}/migrations/versions/0002_admin_author.py:6: revision failed "
        "to import: sys.exit('SECRET_KEY is not set')"
    )


def test_exit_while_the_models_import_names_the_settings_line(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "exits_while_loading", project)
    (project / "migrations" / "versions" / "0002_admin_author.py").unlink()
    models = project / "models.py"
    models.write_text("import app_settings  # noqa: F401\n" + models.read_text())
    result = run_cli("check", "--db", "local", str(project), cwd=tmp_path)
    assert result.code == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "migguard: error: project/app_settings.py:8: the project exited while migguard loaded "
        "env.py: sys.exit('SECRET_KEY is not set')"
    ]


def test_the_project_checks_once_the_secret_is_set() -> None:
    result = run_cli("check", "--db", "local", "--format", "json", EXITS, env={"SECRET_KEY": "s"})
    assert result.code == 0, result.stderr
    assert result.json["findings"] == []


def test_python_api_keeps_the_project_output_off_the_callers_stdout() -> None:
    """``migguard.check()`` runs the same project code in the caller's process: a program that
    prints JSON after it gets only its own JSON on stdout, the project's chatter on stderr."""
    program = (
        "import json, migguard\n"
        f"report = migguard.check({NOISY!r}, db='local')\n"
        "print(json.dumps({'errors': report.errors, 'rules': [f.rule for f in report.findings]}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIGGUARD_", "PG"))}
    env.pop("DATABASE_URL", None)
    proc = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**env, "NOISY_SECRET": "x"},
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "errors": 1,
        "rules": ["missing-lock-timeout", "downgrade-mismatch"],
    }
    for line in [*PROJECT_CHATTER, "a child process during an upgrade", "migrations done"]:
        assert line in proc.stderr.splitlines(), line


def test_python_api_leaves_the_callers_environment_as_it_was() -> None:
    """The full-stack-fastapi-template's ``.env`` names its production ``DATABASE_URL`` and a
    ``SECRET_KEY``: a run reads them into the environment, and the process calling
    ``migguard.check()`` (here: this pytest session) must not keep them."""
    import migguard

    before = dict(os.environ)
    report = migguard.check(FIXTURES / "sqlmodel_template" / "backend", db="local")
    assert report.revisions == 5
    assert dict(os.environ) == before
