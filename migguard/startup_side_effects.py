"""What an application does when it starts that migguard switches off while it loads the app.

Flask-Migrate's env.py needs the application (its app context), so migguard imports the entry
point and calls the factory, as ``flask db`` does. Real entry points do more than build the
app:

- **migrations on start-up**: a factory that runs ``flask_migrate.upgrade()`` or
  ``alembic.command.upgrade(...)`` so that every worker brings the schema up to date. Inside
  migguard that would migrate whatever database the app points at before the stairway starts,
  and its Alembic environment, entered and left inside migguard's own, would tear down the
  ``alembic.context`` proxy env.py is running against. While the app loads, every Alembic
  command is inert: ``ScriptDirectory.run_env`` runs nothing and an environment entered
  there does not touch the module proxies. Loading the app never migrates anything.
- **monkey-patching**: a ``wsgi.py`` for ``gunicorn -k gevent`` calls
  ``gevent.monkey.patch_all()`` (or ``eventlet.monkey_patch()``) at import. Patching threads
  and sockets of a running interpreter in the middle of an import breaks the import lock
  ("cannot release un-acquired lock") and would put migguard's own connections on a hub
  nobody runs; migrations need none of it, so the patch functions do nothing meanwhile.

Everything is restored when the app has loaded, whether it loaded or raised.
"""

from __future__ import annotations

import importlib
import importlib.util
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

# module -> the functions in it that patch the interpreter
_MONKEY_PATCHERS: dict[str, tuple[str, ...]] = {
    "gevent.monkey": (
        "patch_all",
        "patch_builtins",
        "patch_dns",
        "patch_os",
        "patch_queue",
        "patch_select",
        "patch_signal",
        "patch_socket",
        "patch_ssl",
        "patch_subprocess",
        "patch_sys",
        "patch_thread",
        "patch_time",
    ),
    "eventlet": ("monkey_patch",),
    "eventlet.patcher": ("monkey_patch",),
    "psycogreen.gevent": ("patch_psycopg",),
    "psycogreen.eventlet": ("patch_psycopg",),
}


def _does_nothing(*_args: Any, **_kwargs: Any) -> None:
    return None


@contextmanager
def _replaced(target: object, name: str, replacement: object) -> Iterator[None]:
    own = name in vars(target)  # else inherited: restored by removing the override
    original = getattr(target, name)
    setattr(target, name, replacement)
    try:
        yield
    finally:
        if own:
            setattr(target, name, original)
        else:
            delattr(target, name)


def _installed(module_name: str) -> bool:
    try:
        return importlib.util.find_spec(module_name.split(".")[0]) is not None
    except (ImportError, ValueError):
        return False


def _patchers() -> list[tuple[object, str]]:
    """The monkey-patch functions of the installed green-thread libraries; importing those
    modules patches nothing by itself."""
    found: list[tuple[object, str]] = []
    for module_name, functions in _MONKEY_PATCHERS.items():
        if not _installed(module_name):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # eventlet announces its deprecation on import
                module = importlib.import_module(module_name)
        except Exception:  # a broken optional install: the app's own import will say so
            continue
        found += [(module, name) for name in functions if callable(getattr(module, name, None))]
    return found


@contextmanager
def disarmed() -> Iterator[None]:
    """While the application is imported and created: no migrations, no monkey-patching."""
    from alembic.runtime.environment import EnvironmentContext
    from alembic.script import ScriptDirectory

    with ExitStack() as stack:
        stack.enter_context(_replaced(ScriptDirectory, "run_env", _does_nothing))
        # an environment entered and left while the app loads leaves migguard's in place
        stack.enter_context(_replaced(EnvironmentContext, "_install_proxy", _does_nothing))
        stack.enter_context(_replaced(EnvironmentContext, "_remove_proxy", _does_nothing))
        for module, name in _patchers():
            stack.enter_context(_replaced(module, name, _does_nothing))
        yield
