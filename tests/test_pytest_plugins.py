"""The suite runs with exactly the third-party pytest plugins it names, whatever is installed.

Every installed ``pytest11`` entry point auto-loads into pytest: a fresh resolve once paired
pytest-alembic 0.13.1 with pytest 9 and the whole suite died at collection. pyproject's
``addopts`` turn auto-loading off and name the plugins with ``-p``; these tests fail when what
is loaded and that list part ways (auto-loading switched back on, a plugin named that is not
installed, one loaded some other way).
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

import pytest

NAMED_PLUGINS = {"hypothesis", "migguard", "pytest-timeout"}


def _loaded_plugin_distributions(config: pytest.Config) -> set[str]:
    """The distributions whose ``pytest11`` entry-point module is registered with pytest."""
    loaded: set[str] = set()
    for entry_point in entry_points(group="pytest11"):
        module = sys.modules.get(entry_point.module)
        if module is not None and config.pluginmanager.is_registered(module):
            assert entry_point.dist is not None
            loaded.add(entry_point.dist.name)
    return loaded


def test_exactly_the_named_third_party_plugins_are_loaded(request: pytest.FixtureRequest) -> None:
    assert _loaded_plugin_distributions(request.config) == NAMED_PLUGINS


def test_installed_plugins_do_not_auto_load(request: pytest.FixtureRequest) -> None:
    assert request.config.getoption("disable_plugin_autoload") is True
