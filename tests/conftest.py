"""Shared fixtures: the real CLI in a subprocess, and one throwaway PostgreSQL per session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

collect_ignore = ["fixtures"]

# Fixtures that start a PostgreSQL cluster: any test whose fixture closure holds one of these
# starts (or shares) a server. ``throwaway`` (tests/test_schema.py) and ``database``
# (example_app's) come from migguard's ``provide_for_tests()``.
_POSTGRES_FIXTURES = frozenset({"pg_server", "throwaway", "database"})

# tests/e2e/ runs the CLI on projects, most of them on a database it starts: every test there
# is marked unless it is listed below as never starting one (static mode, usage errors, exit 2
# before any server). A new end-to-end test is therefore marked until someone lists it, so
# `pytest -m "not postgres"` never starts PostgreSQL. The lists were derived by running the
# whole suite with each initdb/postgres start logged against PYTEST_CURRENT_TEST.
_E2E_MODULES_WITHOUT_POSTGRES = frozenset(
    {
        "tests/e2e/test_init_cli.py",
        "tests/e2e/test_naming_precision_cli.py",
        "tests/e2e/test_rule_ids_cli.py",
        "tests/e2e/test_start_clean_cli.py",
        "tests/e2e/test_static_rules_cli.py",
    }
)
# Node ids; without parameters: every parameter.
_E2E_TESTS_WITHOUT_POSTGRES = frozenset(
    {
        "tests/e2e/test_action.py::test_action_steps_set_up_python_then_call_the_script",
        "tests/e2e/test_action.py::test_action_yml_declares_the_inputs_and_outputs",
        "tests/e2e/test_action.py::test_unbalanced_quote_in_args_is_one_line_and_exit_2",
        "tests/e2e/test_bad_input_cli.py::test_missing_alembic_ini",
        "tests/e2e/test_bad_input_cli.py::test_missing_directory",
        "tests/e2e/test_bad_input_cli.py::test_revision_with_syntax_error_names_file_and_line",
        "tests/e2e/test_bad_input_cli.py::test_unknown_config_key_is_an_error",
        "tests/e2e/test_bad_input_cli.py::test_unreachable_database_url_names_the_server",
        "tests/e2e/test_broken_corpus_cli.py::"
        "test_broken_project_in_static_mode_never_shows_a_traceback",
        "tests/e2e/test_broken_corpus_cli.py::"
        "test_broken_project_is_explained[down_revision_nowhere]",
        "tests/e2e/test_broken_corpus_cli.py::"
        "test_broken_project_is_explained[duplicate_revision_id]",
        "tests/e2e/test_broken_corpus_cli.py::test_broken_project_is_explained[ini_not_an_ini]",
        "tests/e2e/test_broken_corpus_cli.py::"
        "test_broken_project_is_explained[ini_without_script_location]",
        "tests/e2e/test_broken_corpus_cli.py::test_broken_project_is_explained[no_alembic_ini]",
        "tests/e2e/test_broken_corpus_cli.py::test_broken_project_is_explained[no_env_py]",
        "tests/e2e/test_broken_corpus_cli.py::test_broken_project_is_explained[pyproject_not_toml]",
        "tests/e2e/test_broken_corpus_cli.py::test_broken_project_is_explained[revision_cycle]",
        "tests/e2e/test_broken_corpus_cli.py::test_broken_project_is_explained[revision_not_utf8]",
        "tests/e2e/test_broken_corpus_cli.py::"
        "test_broken_project_is_explained[revision_syntax_error]",
        "tests/e2e/test_broken_corpus_cli.py::"
        "test_broken_project_is_explained[script_location_missing]",
        "tests/e2e/test_broken_corpus_cli.py::test_the_corpus_is_complete",
        "tests/e2e/test_database_rules_cli.py::test_static_mode_starts_no_database",
        "tests/e2e/test_flask_migrate_cli.py::test_static_mode_reads_the_models_through_the_app",
        "tests/e2e/test_history_start_cli.py::test_bootstrap_settings_that_cannot_work_are_exit_2",
        "tests/e2e/test_history_start_cli.py::"
        "test_ini_without_an_alembic_section_lists_its_sections",
        "tests/e2e/test_history_start_cli.py::"
        "test_recursive_version_locations_reads_subdirectories",
        "tests/e2e/test_precommit.py::test_hooks_file_declares_the_static_and_the_full_hook",
        "tests/e2e/test_precommit.py::test_static_hook_fails_a_commit_with_a_data_losing_rename",
        "tests/e2e/test_precommit.py::test_static_hook_passes_a_clean_project",
        "tests/e2e/test_project_discovery_cli.py::"
        "test_several_projects_below_the_root_are_a_one_line_error",
        "tests/e2e/test_project_discovery_cli.py::"
        "test_text_paths_are_relative_to_the_working_directory",
        "tests/e2e/test_project_discovery_cli.py::"
        "test_the_one_project_below_the_repository_root_is_found",
        "tests/e2e/test_providers_cli.py::test_docker_provider_matches_a_postgres_version",
        "tests/e2e/test_providers_cli.py::test_docker_without_engine_is_a_clear_error",
        "tests/e2e/test_providers_cli.py::test_sqlite_project_is_checked_on_a_temporary_file",
        "tests/e2e/test_rename_precision_cli.py::"
        "test_static_reading_reports_only_the_real_rename_as_an_error",
        "tests/e2e/test_since_cli.py::"
        "test_since_limits_per_revision_rules_to_new_files_even_uncommitted",
        "tests/e2e/test_since_cli.py::test_since_outside_a_git_repository_is_one_line_and_exit_2",
        "tests/e2e/test_since_cli.py::test_since_unknown_ref_is_one_line_and_exit_2",
        "tests/e2e/test_static_rules_cli_2.py::test_a_bootstrap_script_that_stamps_head_passes",
        "tests/e2e/test_static_rules_cli_2.py::"
        "test_a_hand_written_index_name_is_a_warning_in_models_and_revision",
        "tests/e2e/test_static_rules_cli_2.py::test_a_missing_baseline_file_is_a_usage_error",
        "tests/e2e/test_static_rules_cli_2.py::"
        "test_a_project_naming_convention_replaces_the_default",
        "tests/e2e/test_static_rules_cli_2.py::"
        "test_create_all_in_a_fastapi_lifespan_fails_the_check",
        "tests/e2e/test_static_rules_cli_2.py::"
        "test_suppressed_findings_are_dropped_and_unknown_rule_ids_are_reported",
        "tests/e2e/test_static_rules_cli_2.py::"
        "test_test_fixtures_and_excluded_scripts_may_call_create_all",
        "tests/e2e/test_static_rules_cli_2.py::"
        "test_unnamed_unique_constraints_are_warnings_in_models_and_revisions",
        "tests/e2e/test_supported_versions_cli.py::"
        "test_pyproject_configuration_on_alembic_before_1_16_is_one_line_error",
    }
)
# Outside tests/e2e/: tests that start PostgreSQL through a subprocess (the CLI, a benchmark, a
# pytest run with migguard's plugin) rather than through the fixtures above.
_STARTS_POSTGRES_OUTSIDE_E2E = frozenset(
    {
        "example_app/tests/test_api.py::test_health_db",
        "tests/test_benchmark_generator.py::test_benchmark_runs_to_completion_and_prints_its_table",
        "tests/test_benchmark_generator.py::test_generated_project_of_five_revisions_is_clean",
        "tests/test_progress.py::test_engine_reports_each_revision_once_with_its_position",
        "tests/test_progress.py::test_long_stairway_shows_a_progress_line_on_a_terminal",
        "tests/test_progress.py::test_no_progress_when_stderr_is_not_a_terminal",
        "tests/test_pytest_plugin.py::test_broken_downgrade_fails_the_round_trip_item_only",
        "tests/test_pytest_plugin.py::test_clean_project_passes_every_item",
        "tests/test_pytest_plugin.py::test_migguard_db_fixture_gives_a_fresh_database_per_test",
        "tests/test_pytest_plugin.py::test_project_output_never_reaches_pytests_stdout",
        "tests/test_report_sarif.py::test_database_finding_written_with_output_option",
    }
)


def _starts_postgres(item: pytest.Item) -> bool:
    if set(getattr(item, "fixturenames", ())) & _POSTGRES_FIXTURES:
        return True
    ids = {item.nodeid, item.nodeid.split("[", 1)[0]}
    module = item.nodeid.split("::", 1)[0]
    if module.startswith("tests/e2e/"):
        return module not in _E2E_MODULES_WITHOUT_POSTGRES and not ids & _E2E_TESTS_WITHOUT_POSTGRES
    return bool(ids & _STARTS_POSTGRES_OUTSIDE_E2E)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that starts PostgreSQL ``postgres``: the fast loop deselects them."""
    for item in items:
        if _starts_postgres(item):
            item.add_marker(pytest.mark.postgres)


FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).parent.parent


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict:
        return json.loads(self.stdout)

    def findings(self, rule: str | None = None) -> list[dict]:
        found = self.json["findings"]
        return [f for f in found if rule is None or f["rule"] == rule]


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 240
) -> CliResult:
    """``python -m migguard ARGS`` as a user would run it, with a clean environment."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("MIGGUARD_", "PG"))}
    full_env.pop("DATABASE_URL", None)
    full_env["NO_COLOR"] = "1"
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "migguard", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or REPO,
        timeout=timeout,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    """One private PostgreSQL for the whole session (the project's own local provider)."""
    from migguard import database

    kind = "local" if database.availability("local") is None else "embedded"
    with database.provide(kind) as server:
        yield server


@pytest.fixture(scope="session")
def pg_admin_url(pg_server) -> str:
    return pg_server.admin_url.render_as_string(hide_password=False)


def postgres_processes() -> list[str]:
    """Postmasters started by migguard (their data dir lives under the migguard prefix)."""
    out = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "migguard-pg-" in line and "postgres" in line]


def migguard_databases(admin_url: str) -> list[str]:
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT datname FROM pg_database WHERE datname LIKE 'migguard\\_%'")
            )
            return [r[0] for r in rows]
    finally:
        engine.dispose()


def drop_databases(admin_url: str, names: set[str]) -> None:
    """Drop ``names``, ending their sessions first: test cleanup, whatever the outcome."""
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            for name in sorted(names):
                conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    finally:
        engine.dispose()


@pytest.fixture
def drop_new_migguard_databases(pg_admin_url: str) -> Iterator[None]:
    """No ``migguard_*`` database a test made (by hand, or left by a run it killed) outlives
    the test on the session server, whether the test passes or not."""
    before = set(migguard_databases(pg_admin_url))
    yield
    drop_databases(pg_admin_url, set(migguard_databases(pg_admin_url)) - before)
