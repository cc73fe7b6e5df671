"""Bad input: one clear line on stderr, exit code 2, never a traceback (unless -v)."""

from __future__ import annotations

from tests.conftest import FIXTURES, run_cli


def _assert_one_line_error(result, *fragments: str) -> None:
    assert result.code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_missing_alembic_ini(tmp_path) -> None:
    _assert_one_line_error(run_cli("check", str(tmp_path)), "no alembic.ini in")


def test_missing_directory(tmp_path) -> None:
    _assert_one_line_error(run_cli("check", str(tmp_path / "nope")), "no such directory")


def test_revision_with_syntax_error_names_file_and_line() -> None:
    result = run_cli("check", "--db", "local", str(FIXTURES / "broken_syntax"))
    _assert_one_line_error(result, "migrations/versions/0002_author_email.py:12", "syntax error")


def test_env_py_that_fails_to_import_names_the_file() -> None:
    result = run_cli("check", "--db", "local", str(FIXTURES / "broken_env_import"))
    _assert_one_line_error(result, "migrations/env.py:9", "settings_that_do_not_exist")


def test_traceback_only_with_verbose() -> None:
    result = run_cli("check", "-v", "--db", "local", str(FIXTURES / "broken_env_import"))
    assert result.code == 2
    assert "Traceback" in result.stderr


def test_unreachable_database_url_names_the_server() -> None:
    result = run_cli(
        "check",
        "--db",
        "url",
        "--database-url",
        "postgresql://someone:hunter2@127.0.0.1:1/app",
        str(FIXTURES / "clean_db"),
    )
    _assert_one_line_error(
        result, "cannot connect to postgresql+psycopg2://someone:***@127.0.0.1:1/app"
    )
    assert "hunter2" not in result.stderr


def test_unknown_config_key_is_an_error(tmp_path) -> None:
    import shutil

    project = tmp_path / "proj"
    shutil.copytree(FIXTURES / "clean_db", project)
    (project / "pyproject.toml").write_text("[tool.migguard]\nexlcude = ['x']\n")
    _assert_one_line_error(run_cli("check", "--static", str(project)), "unknown key 'exlcude'")
