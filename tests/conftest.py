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

# Tests that start PostgreSQL without those fixtures: the CLI (or a pytest run with migguard's
# plugin) checking a project on a database in a subprocess. Node ids without parameters mean
# every parameter. Derived by running the whole suite with each initdb/postgres start logged
# against PYTEST_CURRENT_TEST; a new test that checks a project on a database belongs here
# (or uses a fixture above), or `pytest -m "not postgres"` stops being the fast loop.
_STARTS_POSTGRES_THROUGH_A_SUBPROCESS = frozenset(
    {
        "example_app/tests/test_api.py::test_health_db",
        "tests/e2e/test_abandoned_databases_cli.py::"
        "test_sweep_drops_only_what_it_can_prove_abandoned",
        "tests/e2e/test_action.py::test_failing_upgrade_is_annotated_summarised_and_fails_the_step",
        "tests/e2e/test_action.py::test_quoted_args_reach_the_cli",
        "tests/e2e/test_bad_input_cli.py::test_env_py_that_fails_to_import_names_the_file",
        "tests/e2e/test_bad_input_cli.py::test_traceback_only_with_verbose",
        "tests/e2e/test_broken_corpus_cli.py::test_a_five_megabyte_revision_is_checked",
        *(
            f"tests/e2e/test_broken_corpus_cli.py::test_broken_project_is_explained[{case}]"
            for case in (
                "empty_versions_dir",
                "env_py_never_runs_migrations",
                "env_py_not_utf8",
                "env_py_raises",
                "env_py_without_target_metadata",
                "no_versions_dir",
                "revision_imports_missing_module",
                "revision_without_upgrade",
            )
        ),
        "tests/e2e/test_cleanup_cli.py::test_ctrl_c_during_a_long_statement_stops_the_private_cluster",
        "tests/e2e/test_cleanup_cli.py::test_killed_run_leaves_a_cluster_the_next_run_removes",
        "tests/e2e/test_cleanup_cli.py::test_runs_that_pass_or_fail_leave_nothing_behind",
        "tests/e2e/test_concurrency_cli.py::"
        "test_a_port_another_cluster_took_first_is_not_mistaken_for_ours",
        "tests/e2e/test_concurrency_cli.py::"
        "test_two_simultaneous_runs_both_report_their_own_findings",
        "tests/e2e/test_database_rules_cli.py::"
        "test_async_env_py_runs_through_asyncpg_and_is_checked_the_same",
        "tests/e2e/test_database_rules_cli.py::test_broken_sql_in_upgrade_is_reported_with_its_line",
        "tests/e2e/test_database_rules_cli.py::test_clean_project_has_no_findings",
        "tests/e2e/test_database_rules_cli.py::"
        "test_constraints_and_enum_labels_autogenerate_misses_are_schema_mismatch",
        "tests/e2e/test_database_rules_cli.py::"
        "test_downgrade_that_forgets_a_column_is_caught_even_when_downgrade_base_hides_it",
        "tests/e2e/test_database_rules_cli.py::test_downgrade_that_raises_is_reported",
        "tests/e2e/test_database_rules_cli.py::"
        "test_drop_and_add_generated_in_a_loop_are_caught_from_the_recorded_operations",
        "tests/e2e/test_database_rules_cli.py::test_example_app_is_clean_on_local_binaries",
        "tests/e2e/test_database_rules_cli.py::test_example_app_is_clean_on_the_embedded_default",
        "tests/e2e/test_database_rules_cli.py::"
        "test_failed_round_trip_that_committed_part_of_its_work_stops_the_stairway",
        "tests/e2e/test_database_rules_cli.py::test_model_column_without_migration_is_drift",
        "tests/e2e/test_database_rules_cli.py::"
        "test_renamed_model_column_shows_up_in_drift_as_a_probable_rename",
        "tests/e2e/test_database_rules_cli.py::test_text_output_shows_the_line_and_a_summary",
        "tests/e2e/test_faults_cli.py::test_a_failing_revision_is_reported_and_nothing_is_left",
        "tests/e2e/test_faults_cli.py::test_an_alarm_during_cleanup_arrives_once_the_server_is_gone",
        "tests/e2e/test_faults_cli.py::test_losing_the_server_stops_with_one_line_and_nothing_is_left",
        "tests/e2e/test_faults_cli.py::test_private_tmpdir_is_what_the_leftover_checks_watch",
        "tests/e2e/test_flask_migrate_cli.py::test_app_with_a_hard_coded_uri_is_refused",
        "tests/e2e/test_flask_migrate_cli.py::test_database_url_pointing_at_production_is_redirected",
        "tests/e2e/test_flask_migrate_cli.py::"
        "test_flask_migrate_project_is_round_tripped_inside_its_app_context",
        "tests/e2e/test_flask_migrate_cli.py::"
        "test_model_column_without_migration_is_drift_at_the_model_class",
        "tests/e2e/test_flask_migrate_cli.py::test_no_flask_app_to_load_is_a_one_line_error",
        "tests/e2e/test_flask_migrate_cli.py::"
        "test_the_migrations_directory_itself_finds_the_app_one_level_up",
        "tests/e2e/test_project_discovery_cli.py::"
        "test_settings_fields_nobody_set_are_named_in_one_line",
        "tests/e2e/test_project_discovery_cli.py::test_the_found_project_reads_its_own_pyproject",
        "tests/e2e/test_providers_cli.py::"
        "test_a_named_provider_without_the_extension_is_exit_2_naming_it",
        "tests/e2e/test_providers_cli.py::"
        "test_auto_passes_over_a_server_without_an_extension_the_migrations_create",
        "tests/e2e/test_providers_cli.py::test_embedded_provider_runs_as_root_or_user",
        "tests/e2e/test_safety_adversarial.py::"
        "test_online_mode_of_the_same_project_checks_the_throwaway_database",
        "tests/e2e/test_safety_adversarial.py::test_production_database_is_never_changed",
        "tests/e2e/test_safety_adversarial.py::"
        "test_the_suggested_mapping_makes_a_refused_project_checkable",
        "tests/e2e/test_since_cli.py::"
        "test_since_branch_round_trips_only_the_revisions_the_branch_adds",
        "tests/e2e/test_since_cli.py::test_since_revision_id_round_trips_its_descendants",
        "tests/e2e/test_static_rules_cli_2.py::test_a_baseline_accepts_todays_findings",
        "tests/e2e/test_supported_versions_cli.py::"
        "test_async_template_project_on_asyncpg_is_round_tripped_clean",
        "tests/e2e/test_supported_versions_cli.py::"
        "test_factory_that_migrates_on_creation_behind_a_gevent_wsgi_is_checked_and_migrates_nothing",
        "tests/e2e/test_supported_versions_cli.py::"
        "test_generic_template_downgrade_that_leaves_its_enum_type_is_caught",
        "tests/test_benchmark_generator.py::test_benchmark_runs_to_completion_and_prints_its_table",
        "tests/test_benchmark_generator.py::test_generated_project_of_five_revisions_is_clean",
        "tests/test_progress.py::test_engine_reports_each_revision_once_with_its_position",
        "tests/test_progress.py::test_long_stairway_shows_a_progress_line_on_a_terminal",
        "tests/test_progress.py::test_no_progress_when_stderr_is_not_a_terminal",
        "tests/test_pytest_plugin.py::test_broken_downgrade_fails_the_round_trip_item_only",
        "tests/test_pytest_plugin.py::test_clean_project_passes_every_item",
        "tests/test_pytest_plugin.py::test_migguard_db_fixture_gives_a_fresh_database_per_test",
        "tests/test_report_sarif.py::test_database_finding_written_with_output_option",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that starts PostgreSQL ``postgres``: the fast loop deselects them."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        function_id = item.nodeid.split("[", 1)[0]
        if (
            fixtures & _POSTGRES_FIXTURES
            or item.nodeid in _STARTS_POSTGRES_THROUGH_A_SUBPROCESS
            or function_id in _STARTS_POSTGRES_THROUGH_A_SUBPROCESS
        ):
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
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
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
