"""Flask-Migrate projects: env.py reads the engine and the models from ``current_app``.

``flask db upgrade`` loads the application and pushes its app context before Alembic runs
env.py; without it the template's first ``current_app.extensions['migrate']`` raises "Working
outside of application context". migguard does what ``flask db`` does: it finds the app the
way the ``flask`` command does (``[tool.migguard] flask-app``, else ``FLASK_APP`` from the
environment, ``.env`` or ``.flaskenv``, else ``wsgi.py``/``app.py``), and pushes its context
around env.py.

The app is created inside the run, after the throwaway database has been put in
``DATABASE_URL`` and the other variables, so Flask-SQLAlchemy's engine points at it; an app
that hard-codes its URI is stopped by the safety guard like any other env.py.
"""

from __future__ import annotations

import inspect
import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from migguard.errors import MigguardError
from migguard.startup_side_effects import disarmed

_FLASKENV = ".flaskenv"


def wants_app_context(env_py: Path) -> bool:
    """Whether env.py reads Flask's ``current_app`` (Flask-Migrate's template does)."""
    try:
        source = env_py.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "current_app" in source and "flask" in source


def queried_database_while_loading(exc: BaseException) -> bool:
    """Whether the app's factory failed on a query while migguard loaded it: factories that
    migrate at start-up often read their own tables right after (a settings row, a version
    stamp). migguard switches that start-up migration off and loads the app before the
    stairway, on the empty throwaway database, so the table is not there; the user needs to
    hear that, not a bare "relation does not exist" blamed on env.py."""
    from sqlalchemy.exc import DBAPIError

    if not isinstance(exc, DBAPIError):
        return False
    return any(
        frame.f_code.co_name == "load_app" and frame.f_globals.get("__name__") == "flask.cli"
        for frame, _ in traceback.walk_tb(exc.__traceback__)
    )


def import_path(root: Path, configured: str | None) -> str | None:
    """The app to load, as ``flask --app`` takes it; None lets Flask look for one."""
    if configured:
        return configured
    if os.environ.get("FLASK_APP"):
        return os.environ["FLASK_APP"]
    flaskenv = root / _FLASKENV
    if flaskenv.is_file():
        from dotenv import dotenv_values

        value = dotenv_values(flaskenv).get("FLASK_APP")
        if value:
            return value
    return None


def _no_dotenv_defaults(script_info: type) -> dict[str, Any]:
    """Flask 3.1's ScriptInfo would load ``.env``/``.flaskenv`` itself; migguard has put the
    throwaway database in the environment already and reads ``.env`` its own way. Flask before
    3.1 has no such argument and loads nothing there."""
    if "load_dotenv_defaults" in inspect.signature(script_info).parameters:
        return {"load_dotenv_defaults": False}
    return {}


@contextmanager
def app_context(env_py: Path, root: Path, configured: str | None) -> Iterator[None]:
    """The project's Flask app context while env.py runs, if env.py needs one."""
    if not wants_app_context(env_py):
        yield
        return
    try:
        from flask.cli import NoAppException, ScriptInfo
    except ImportError:
        raise MigguardError(
            "env.py uses Flask's current_app, but Flask is not installed where migguard runs: "
            "install migguard in the project's environment"
        ) from None
    path = import_path(root, configured)
    info = ScriptInfo(app_import_path=path, set_debug_flag=False, **_no_dotenv_defaults(ScriptInfo))
    try:
        with disarmed():
            app = info.load_app()
    except NoAppException as exc:
        text = str(exc).strip()
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if "Traceback" in text:  # an ImportError inside the app, as its whole traceback
            where = f" {path}" if path else ""
            raise MigguardError(
                f"env.py uses Flask's current_app, and loading the Flask app{where} failed: "
                f"{lines[-1]}"
            ) from None
        raise MigguardError(
            f"env.py uses Flask's current_app and no Flask app was found "
            f"({lines[0] if lines else 'NoAppException'}): set FLASK_APP, or "
            'flask-app = "package:create_app()" in [tool.migguard]'
        ) from None
    with app.app_context():
        yield
