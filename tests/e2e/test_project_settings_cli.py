"""A project whose settings need values nobody set in CI, or packages the hook lacks.

``app/config.py`` is a pydantic-settings class with required fields, imported by env.py and by
a revision that seeds the first superuser: the FastAPI template's shape. Whichever of them
loads first, the one-line error names the fields; ``[tool.migguard.env]`` gives them values
for the database run and for ``--static`` (the pre-commit hook) alike.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import FIXTURES, run_cli

SETTINGS_REQUIRED = "tests/fixtures/settings_required"
NAMED = (
    "settings need SECRET_KEY, FIRST_SUPERUSER, which are not set: export them, put them in "
    ".env, or give them values for the check in [tool.migguard.env] "
    '(SECRET_KEY = "...", FIRST_SUPERUSER = "...")'
)


def _copy(tmp_path: Path, env_table: bool = False) -> Path:
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "settings_required", project)
    if env_table:
        (project / "pyproject.toml").write_text(
            '[tool.migguard.env]\nSECRET_KEY = "check"\nFIRST_SUPERUSER = "admin@example.com"\n'
        )
    return project


def test_settings_a_revision_needs_are_named_at_its_import_line() -> None:
    result = run_cli("check", "--db", "local", SETTINGS_REQUIRED)
    assert result.code == 2, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(
        f"migguard: error: {SETTINGS_REQUIRED}/migrations/versions/0002_first_superuser.py:6: "
        f"importing the revision: {NAMED}"
    ), line
    assert "DATABASE_URL" not in line  # migguard sets the database variables itself


def test_tool_migguard_env_makes_the_database_run_load(tmp_path: Path) -> None:
    result = run_cli("check", "--db", "local", "--format", "json", str(_copy(tmp_path, True)))
    assert result.code == 0, result.stderr
    assert {(f["rule"], f["path"], f["line"]) for f in result.findings()} == {
        ("index-name", "app/models.py", 13),
        ("index-name", "migrations/versions/0001_users.py", 18),
    }


def test_static_mode_names_the_missing_settings_in_its_note() -> None:
    result = run_cli("check", "--static", SETTINGS_REQUIRED)
    assert result.code == 0, result.stdout + result.stderr
    [note] = [line for line in result.stdout.splitlines() if line.startswith("note:")]
    assert note.startswith(
        "note: model metadata not loaded, naming checks on models skipped: app/config.py:12: "
        f"env.py's {NAMED}"
    ), note


def test_static_mode_applies_tool_migguard_env(tmp_path: Path) -> None:
    project = _copy(tmp_path, env_table=True)
    result = run_cli("check", "--static", "--format", "json", str(project))
    assert result.code == 0, result.stderr
    # the models loaded: their own index name is checked, not only the revision's
    assert ("index-name", "app/models.py", 13) in {
        (f["rule"], f["path"], f["line"]) for f in result.findings()
    }
    text = run_cli("check", "--static", str(project))
    assert "model metadata not loaded" not in text.stdout


def test_a_package_missing_in_the_hook_environment_points_at_additional_dependencies(
    tmp_path: Path,
) -> None:
    project = _copy(tmp_path, env_table=True)
    models = project / "app" / "models.py"
    models.write_text("import acme_billing  # noqa: F401\n" + models.read_text())
    hook = run_cli("check", "--static", str(project), env={"PRE_COMMIT": "1"})
    assert hook.code == 0, hook.stdout + hook.stderr
    [note] = [line for line in hook.stdout.splitlines() if line.startswith("note:")]
    assert "No module named 'acme_billing'" in note
    assert note.endswith(
        "the pre-commit hook's environment lacks the project's packages: list them under "
        "additional_dependencies in .pre-commit-config.yaml"
    ), note
    outside = run_cli("check", "--static", str(project))
    assert "install the project's packages where migguard runs" in outside.stdout
