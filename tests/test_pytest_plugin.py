"""The pytest plugin through pytest itself: a subprocess pytest that loads migguard through its
installed ``pytest11`` entry point, as it would in a user's project."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.timeout(300)


def _copy(fixture: str, pytester: pytest.Pytester) -> Path:
    target = pytester.path / fixture
    shutil.copytree(FIXTURES / fixture, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _run_migguard(pytester: pytest.Pytester, project: Path, *extra: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        *(extra or ("-v",)),
        "-p",
        "no:cacheprovider",
        "--migguard",
        "--migguard-path",
        str(project),
        "--migguard-db",
        "local",
    )


def test_broken_downgrade_fails_the_round_trip_item_only(pytester: pytest.Pytester) -> None:
    project = _copy("downgrade_mismatch", pytester)
    result = _run_migguard(pytester, project)
    result.assert_outcomes(passed=3, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*migguard::deploy SKIPPED*",
            "*migguard::drift PASSED*",
            "*migguard::rehearsal PASSED*",
            "*migguard::round-trip FAILED*",
            "*migguard::static PASSED*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*migrations/versions/0002_author_email.py:15: error ?downgrade-mismatch?*",
            "*column authors.email left behind*",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_clean_project_passes_every_item(pytester: pytest.Pytester) -> None:
    project = _copy("clean_db", pytester)
    result = _run_migguard(pytester, project)
    result.assert_outcomes(passed=4, skipped=1)  # deploy: no git ref to take the release from
    assert result.ret == pytest.ExitCode.OK


def test_project_that_cannot_be_checked_fails_with_one_message(pytester: pytest.Pytester) -> None:
    result = _run_migguard(pytester, pytester.path / "no_such_project")
    result.assert_outcomes(failed=5)
    result.stdout.fnmatch_lines(["*migguard could not check*no such directory*"])
    result.stdout.no_fnmatch_line("*Traceback*")


def test_without_the_flag_the_plugin_adds_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one():\n    assert True\n")
    result = pytester.runpytest_subprocess("-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*migguard::*")


def test_migguard_db_fixture_gives_a_fresh_database_per_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import sqlalchemy as sa

        SEEN = []

        def _connect(url):
            engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
            return engine, engine.connect()

        def test_first(migguard_db):
            engine, conn = _connect(migguard_db)
            with conn:
                conn.execute(sa.text("CREATE TABLE marker (id int)"))
                conn.commit()
                SEEN.append(conn.execute(sa.text("SELECT current_database()")).scalar())
            engine.dispose()

        def test_second_is_fresh(migguard_db):
            engine, conn = _connect(migguard_db)
            with conn:
                name = conn.execute(sa.text("SELECT current_database()")).scalar()
                tables = conn.execute(sa.text(
                    "SELECT count(*) FROM pg_tables WHERE tablename = 'marker'"
                )).scalar()
            engine.dispose()
            assert name.startswith("migguard_") and name != SEEN[0]
            assert tables == 0
        """
    )
    result = pytester.runpytest_subprocess("-v", "-p", "no:cacheprovider", "--migguard-db", "local")
    result.assert_outcomes(passed=2)


def test_plugin_module_imports_nothing_heavy() -> None:
    """It is loaded into every pytest run of every project that installs migguard."""
    code = (
        "import sys, pytest\n"
        "before = set(sys.modules)\n"
        "import migguard.pytest_plugin\n"
        "print(sorted(set(sys.modules) - before))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert ast.literal_eval(out) == ["migguard", "migguard.pytest_plugin"]


@pytest.mark.parametrize("capture", ["fd", "no"])
def test_project_output_never_reaches_pytests_stdout(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, capture: str
) -> None:
    """The project prints, logs through a stdout handler, and runs child processes while the
    first item checks it. Whether pytest captures (the default) or not (``-s``), pytest's own
    stdout (progress, the failing item's report) holds none of it."""
    project = _copy("noisy_output", pytester)
    monkeypatch.setenv("NOISY_SECRET", "x")  # env.py exits without it
    result = _run_migguard(pytester, project, f"--capture={capture}")
    result.assert_outcomes(passed=3, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*_ migguard: round-trip _*", "*error ?downgrade-mismatch?*"])
    for chatter in (
        "Loaded module app_logging",
        "C extension says hello",
        "child process",
        "configuring the migration context",
        "nothing to undo",
    ):
        result.stdout.no_fnmatch_line(f"*{chatter}*")
    if capture == "no":
        result.stderr.fnmatch_lines(["*env.py: configuring the migration context*"])
