"""Settings: pyproject.toml < .env < CLI flags, and unknown keys are errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from migguard.config import load_dotenv_for, load_settings
from migguard.errors import MigguardError
from migguard.findings import Severity


def _project(tmp_path: Path, toml: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(toml)
    return tmp_path


def test_pyproject_values_are_read(tmp_path: Path) -> None:
    path = _project(
        tmp_path,
        '[tool.migguard]\ndb = "local"\nignore = ["index-name"]\ntimeout = 30\n'
        '[tool.migguard.severity]\nmissing-downgrade = "error"\n'
        '[tool.migguard.env]\nAPP_DSN = "{url}"\n',
    )
    settings = load_settings(path, {})
    assert settings.db == "local"
    assert settings.ignore == ("index-name",)
    assert settings.timeout == 30.0
    assert settings.severity == {"missing-downgrade": Severity.ERROR}
    assert settings.env == {"APP_DSN": "{url}"}


def test_cli_flags_win_over_pyproject(tmp_path: Path) -> None:
    path = _project(tmp_path, '[tool.migguard]\ndb = "local"\nformat = "json"\n')
    settings = load_settings(path, {"db": "embedded", "format": None})
    assert settings.db == "embedded"
    assert settings.format == "json"


def test_unknown_key_names_the_key(tmp_path: Path) -> None:
    path = _project(tmp_path, "[tool.migguard]\nexlcude = []\n")
    with pytest.raises(MigguardError, match="unknown key 'exlcude'"):
        load_settings(path, {})


def test_bad_severity_is_an_error(tmp_path: Path) -> None:
    path = _project(tmp_path, '[tool.migguard.severity]\ndrift = "fatal"\n')
    with pytest.raises(MigguardError, match="must be 'error' or 'warning'"):
        load_settings(path, {})


def test_select_and_ignore_patterns() -> None:
    from migguard.config import Settings

    settings = Settings(select=("downgrade-*", "drift"), ignore=("downgrade-fails",))
    assert settings.rule_enabled("drift")
    assert settings.rule_enabled("downgrade-mismatch")
    assert not settings.rule_enabled("downgrade-fails")
    assert not settings.rule_enabled("index-name")


def test_dotenv_never_overrides_variables_already_set(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".env").write_text("MIGGUARD_TEST_A=from-file\nMIGGUARD_TEST_B=from-file\n")
    project = tmp_path / "service"
    project.mkdir()
    monkeypatch.setenv("MIGGUARD_TEST_A", "from-shell")
    monkeypatch.delenv("MIGGUARD_TEST_B", raising=False)
    values = load_dotenv_for(project)
    assert values["MIGGUARD_TEST_A"] == "from-file"
    assert os.environ["MIGGUARD_TEST_A"] == "from-shell"
    assert os.environ["MIGGUARD_TEST_B"] == "from-file"
    monkeypatch.delenv("MIGGUARD_TEST_B")


def test_a_pyproject_naming_tool_alembic_in_a_comment_is_not_an_alembic_config(
    tmp_path: Path,
) -> None:
    """Discovery reads the pyproject.toml files above the working directory: only a real
    ``[tool.alembic]`` table makes one the project's configuration."""
    from migguard.project import _has_tool_alembic

    commented = tmp_path / "commented.toml"
    commented.write_text('# tests write [tool.alembic] tables\n[tool.x]\na = "[tool.alembic]"\n')
    real = tmp_path / "real.toml"
    real.write_text('[tool.alembic]\nscript_location = "migrations"\n')
    broken = tmp_path / "broken.toml"
    broken.write_text('[tool.alembic]\nscript_location = "migrations\n')
    assert not _has_tool_alembic(commented)
    assert _has_tool_alembic(real)
    assert _has_tool_alembic(broken)  # Alembic then reports the TOML error with its line
