"""The redirection half of the safety guard, as pure functions."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from migguard.errors import MigguardError
from migguard.safety import Guard, env_variables_read, placeholder_for, redirect_values

THROWAWAY = make_url("postgresql+psycopg2://postgres:pw@127.0.0.1:5555/migguard_abc")


def test_url_variables_keep_their_driver_and_point_at_the_throwaway_database() -> None:
    values = redirect_values(
        THROWAWAY,
        default_driver="postgresql+psycopg2",
        mapping={},
        existing={"ASYNC_DB": "postgresql+asyncpg://app:secret@prod.internal/app", "HOME": "/x"},
    )
    assert values["ASYNC_DB"] == "postgresql+asyncpg://postgres:pw@127.0.0.1:5555/migguard_abc"
    assert values["DATABASE_URL"].startswith("postgresql+psycopg2://postgres:pw@127.0.0.1:5555/")
    assert "HOME" not in values


def test_url_parts_are_set_for_settings_objects() -> None:
    values = redirect_values(
        THROWAWAY, default_driver="postgresql+psycopg", mapping={}, existing={}
    )
    assert values["POSTGRES_SERVER"] == "127.0.0.1"
    assert values["POSTGRES_PORT"] == "5555"
    assert values["POSTGRES_DB"] == "migguard_abc"
    assert values["POSTGRES_PASSWORD"] == "pw"


def test_heroku_style_postgres_scheme_is_preserved() -> None:
    values = redirect_values(
        THROWAWAY,
        default_driver="postgresql+psycopg2",
        mapping={},
        existing={"DATABASE_URL": "postgres://u:p@h/d"},
    )
    assert values["DATABASE_URL"] == "postgres://postgres:pw@127.0.0.1:5555/migguard_abc"


def test_mapping_templates_use_placeholders() -> None:
    values = redirect_values(
        THROWAWAY,
        default_driver="postgresql+psycopg2",
        mapping={"DSN": "{host}:{port}/{database}"},
        existing={},
    )
    assert values["DSN"] == "127.0.0.1:5555/migguard_abc"


def test_unknown_placeholder_is_a_clear_error() -> None:
    with pytest.raises(MigguardError, match="unknown placeholder"):
        redirect_values(THROWAWAY, default_driver="x", mapping={"A": "{hostname}"}, existing={})


def test_guard_refuses_other_databases_with_password_hidden() -> None:
    guard = Guard()
    guard.allow(THROWAWAY)
    guard.check_url("postgresql://x:y@anywhere/migguard_abc")
    with pytest.raises(MigguardError) as info:
        guard.check_url("postgresql://app:secret@prod.internal:5432/app")
    assert "secret" not in str(info.value) and "***" in str(info.value)


def test_env_variables_read_finds_environ_and_getenv(tmp_path: Path) -> None:
    env_py = tmp_path / "env.py"
    env_py.write_text(
        "import os\nfrom os import environ\n"
        "a = os.environ['A']\nb = os.getenv('B')\nc = environ.get('C', 'x')\nd = {}.get('D')\n"
    )
    assert env_variables_read(env_py) == ["A", "B", "C"]


@pytest.mark.parametrize(
    ("name", "placeholder"),
    [("APP_DB_HOST", "host"), ("PG_PORT", "port"), ("DB_PASS", "password"), ("X_DSN", "url")],
)
def test_placeholder_suggestion(name: str, placeholder: str) -> None:
    assert placeholder_for(name) == placeholder
