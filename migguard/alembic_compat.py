"""What differs between the Alembic releases migguard supports, 1.13 to the newest.

Projects pin their Alembic (locked projects stay on 1.13 for years), and migguard runs in the
project's environment, so it reads the configuration through whatever that release offers.
Alembic 1.16 added pyproject.toml configuration (``[tool.alembic]``, ``Config(toml_file=)``)
and the parsed-list accessor ``get_prepend_sys_paths_list()``; before it ``prepend_sys_path``
is an ``[alembic]`` ini option that ``ScriptDirectory.from_config`` splits itself, by the rule
copied below. Everything else migguard calls exists unchanged from 1.13 on.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import alembic
from alembic.config import Config

from migguard.errors import MigguardError

if TYPE_CHECKING:
    from pathlib import Path

# Feature-detected rather than compared against version numbers: a backport or a fork that has
# the method gets it used.
TOML_CONFIG = hasattr(Config, "get_alembic_option")

# Alembic < 1.16 (script/base.py): how ``prepend_sys_path`` is split.
_SPLIT_ON_SPACE_COMMA_COLON = re.compile(r", *|(?: +)|\:")


def toml_config_unsupported(toml_file: Path) -> MigguardError:
    """The one-line error for ``[tool.alembic]`` on an Alembic that cannot read it."""
    return MigguardError(
        f"[tool.alembic] in {toml_file.name} needs Alembic 1.16 or newer; this environment "
        f"has Alembic {alembic.__version__}: upgrade Alembic, or configure it in alembic.ini"
    )


def new_config(file_: Path | None, toml_file: Path | None = None, **kw: Any) -> Config:
    """``Config(file_, toml_file=...)`` on every supported Alembic.

    With an alembic.ini beside a ``[tool.alembic]`` pyproject.toml, an Alembic older than 1.16
    reads the ini alone, as its own ``alembic`` command does there; a project configured by
    pyproject.toml alone cannot be read by it, which is a one-line error, not a traceback."""
    if toml_file is None:
        return Config(str(file_) if file_ is not None else None, **kw)
    if not TOML_CONFIG:
        if file_ is None:
            raise toml_config_unsupported(toml_file)
        return Config(str(file_), **kw)
    return Config(str(file_) if file_ is not None else None, toml_file=str(toml_file), **kw)


def prepend_sys_paths(config: Config) -> list[str]:
    """The ``prepend_sys_path`` entries, unresolved; empty when the option is not set."""
    if hasattr(config, "get_prepend_sys_paths_list"):
        return list(config.get_prepend_sys_paths_list() or [])
    raw = config.get_main_option("prepend_sys_path")
    if not raw:
        return []
    return [entry for entry in _SPLIT_ON_SPACE_COMMA_COLON.split(raw) if entry]
