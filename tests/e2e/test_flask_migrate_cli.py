"""Flask-Migrate projects: alembic.ini inside ``migrations/``, env.py reading ``current_app``.

The fixture is what ``flask db init`` and ``flask db migrate`` wrote for a Flask-SQLAlchemy
application factory (batch operations and all); migguard must load the app the way the
``flask`` command does, with the throwaway database in ``DATABASE_URL``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, run_cli
from tests.e2e.test_safety_guard_cli import _catalog, production  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(300)

FLASK = FIXTURES / "flask_migrate"


def _copy(tmp_path: Path) -> Path:
    project = tmp_path / "flask_app"
    shutil.copytree(FLASK, project, ignore=shutil.ignore_patterns("__pycache__", "app.db"))
    return project


def test_flask_migrate_project_is_round_tripped_inside_its_app_context() -> None:
    result = run_cli("check", "--format", "json", "--db", "local", str(FLASK))
    assert result.code == 0, result.stderr
    assert result.findings() == []
    assert result.json["summary"]["revisions"] == 2
    assert result.json["summary"]["checked"] == 2
    assert not (FLASK / "app.db").exists()  # the app's SQLite fallback was never opened


def test_the_migrations_directory_itself_finds_the_app_one_level_up() -> None:
    result = run_cli("check", "--db", "local", str(FLASK / "migrations"))
    assert result.code == 0, result.stdout + result.stderr
    assert "2 round-tripped" in result.stdout


def test_static_mode_reads_the_models_through_the_app() -> None:
    result = run_cli("check", "--static", str(FLASK))
    assert result.code == 0, result.stderr
    assert "model metadata not loaded" not in result.stdout


def test_model_column_without_migration_is_drift_at_the_model_class(tmp_path: Path) -> None:
    project = _copy(tmp_path)
    models = project / "app" / "models.py"
    models.write_text(
        models.read_text() + "    title: so.Mapped[str | None] = so.mapped_column(sa.String(80))\n"
    )
    result = run_cli("check", "--format", "json", "--db", "local", str(project))
    assert result.code == 1, result.stderr
    (finding,) = result.findings("drift")
    assert finding["path"] == "app/models.py"
    # the attribute of class BlogPost(db.Model) (table blog_post, no __tablename__)
    assert finding["line"] == len(models.read_text().splitlines())
    assert finding["revision"] == "0002_blog_posts"
    assert "op.add_column('blog_post', sa.Column('title'" in finding["message"]


def test_database_url_pointing_at_production_is_redirected(production: str) -> None:  # noqa: F811
    before = _catalog(production)
    result = run_cli("check", "--db", "local", str(FLASK), env={"DATABASE_URL": production})
    assert result.code == 0, result.stdout + result.stderr
    assert _catalog(production) == before


def test_app_with_a_hard_coded_uri_is_refused(tmp_path: Path, production: str) -> None:  # noqa: F811
    project = _copy(tmp_path)
    (project / "config.py").write_text(
        f'class Config:\n    SECRET_KEY = "dev"\n    SQLALCHEMY_DATABASE_URI = "{production}"\n'
    )
    before = _catalog(production)
    result = run_cli("check", "--db", "local", str(project))
    assert result.code == 2, result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert _catalog(production) == before


def test_no_flask_app_to_load_is_a_one_line_error(tmp_path: Path) -> None:
    project = _copy(tmp_path)
    (project / "pyproject.toml").write_text('[tool.migguard]\nflask-app = "nowhere:app"\n')
    result = run_cli("check", "--db", "local", str(project))
    assert result.code == 2, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "no Flask app was found" in line
    assert "nowhere" in line


def test_settings_the_app_needs_are_named_and_its_output_stays_off_stdout(
    tmp_path: Path,
) -> None:
    project = _copy(tmp_path)
    (project / "config.py").write_text(
        '"""Settings from the environment; the mail server has no default."""\n'
        "\n"
        "from pydantic_settings import BaseSettings\n"
        "\n"
        'print(" * Loaded module config")\n'
        "\n"
        "\n"
        "class Config(BaseSettings):\n"
        "    SECRET_KEY: str\n"
        "    MAIL_SERVER: str\n"
        "    SQLALCHEMY_DATABASE_URI: str\n"
        "\n"
        "\n"
        "Config = Config().model_dump()  # type: ignore[misc]\n"
    )
    (project / "app" / "__init__.py").write_text(
        (project / "app" / "__init__.py")
        .read_text()
        .replace("app.config.from_object(config_class)", "app.config.from_mapping(config_class)")
    )
    result = run_cli("check", "--format", "json", "--db", "local", str(project))
    assert result.code == 2, result.stdout + result.stderr
    error = result.json["error"]  # the app's print went to stderr
    assert error["path"] == "config.py" and error["line"] == 14
    assert error["message"].startswith(
        "env.py's settings need SECRET_KEY, MAIL_SERVER, which are not set"
    ), error
    assert " * Loaded module config" in result.stderr


READS_SETTINGS = FIXTURES / "flask_factory_reads_settings_on_create"


def test_factory_reading_its_tables_after_migrating_is_told_why_they_are_missing() -> None:
    """CTFd's shape: the factory runs upgrade() and then reads a settings row. migguard switches
    the start-up upgrade off, so the read fails on the empty database; the one line says so
    instead of blaming env.py for a missing relation."""
    result = run_cli("check", "--format", "json", "--db", "local", str(READS_SETTINGS))
    assert result.code == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    error = result.json["error"]
    assert error["path"] == "app/__init__.py" and error["line"] == 29, error
    assert error["message"].startswith(
        'the Flask app queried its database while it loaded (UndefinedTable: relation "settings"'
    ), error
    assert "flask-app in [tool.migguard]" in error["message"]
    assert not error["message"].startswith("env.py")


def test_factory_that_leaves_the_database_alone_checks_the_same_project(tmp_path: Path) -> None:
    """The remedy the error names: a factory for tooling, given as flask-app."""
    project = tmp_path / "tickets"
    shutil.copytree(READS_SETTINGS, project, ignore=shutil.ignore_patterns("__pycache__"))
    (project / "pyproject.toml").write_text(
        '[tool.migguard]\nflask-app = "serve_nothing:create_app()"\n'
    )
    result = run_cli("check", "--format", "json", "--db", "local", str(project))
    assert result.code == 0, result.stdout + result.stderr
    assert result.json["findings"] == []
    assert result.json["summary"]["checked"] == 2


IN_PACKAGE = FIXTURES / "flask_migrate_in_package"


def _line_declaring(path: Path, attribute: str) -> int:
    (line,) = [
        number
        for number, text in enumerate(path.read_text().splitlines(), start=1)
        if text.strip().startswith(f"{attribute} = ")
    ]
    return line


def test_migrations_inside_the_app_package_point_drift_at_the_model_line() -> None:
    """ihatemoney's layout: the package holds ``migrations/``, whose alembic.ini says
    ``script_location = .`` (``flask db`` passes the directory and never reads it). Read as
    Flask-Migrate's layout, env.py runs where ``flask --app sharedbudget.wsgi`` runs, above the
    package, and the drift names the model's line there instead of the head revision."""
    result = run_cli("check", "--format", "json", "--db", "local", str(IN_PACKAGE))
    assert result.code == 1, result.stdout + result.stderr
    (finding,) = result.findings("drift")
    models = IN_PACKAGE / "sharedbudget" / "models.py"
    assert finding["path"] == "sharedbudget/models.py"
    assert finding["line"] == _line_declaring(models, "default_currency")
    assert finding["revision"] == "f629c8ef4ab0"
    assert "op.add_column('project', sa.Column('default_currency'" in finding["message"]
    assert [f["rule"] for f in result.findings() if f["severity"] == "error"] == ["drift"]


def test_migrations_inside_the_app_package_without_drift_pass(tmp_path: Path) -> None:
    """The same project once the model column is gone: nothing left to report as an error,
    and both revisions were round-tripped inside the app context."""
    project = tmp_path / "sharedbudget"
    shutil.copytree(IN_PACKAGE, project, ignore=shutil.ignore_patterns("__pycache__"))
    models = project / "sharedbudget" / "models.py"
    kept = [line for line in models.read_text().splitlines(True) if "default_currency" not in line]
    models.write_text("".join(kept))
    result = run_cli("check", "--format", "json", "--db", "local", str(project))
    assert result.code == 0, result.stdout + result.stderr
    assert [f for f in result.findings() if f["severity"] == "error"] == []
    assert result.json["summary"]["checked"] == 2
