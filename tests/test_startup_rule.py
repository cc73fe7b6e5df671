"""create-all-on-startup on small projects written to tmp_path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from migguard.checks import StaticContext
from migguard.checks.startup import CREATE_ALL_ON_STARTUP, check
from migguard.config import Settings
from migguard.findings import Finding, Severity
from migguard.project import Project
from migguard.rules import Needs, finalise, load
from migguard.sources import is_excluded, is_test_file


def write(root: Path, files: dict[str, str]) -> None:
    for relpath, source in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")


def run(root: Path, files: dict[str, str], exclude: tuple[str, ...] = ()) -> list[Finding]:
    write(root, files)
    (root / "migrations" / "versions").mkdir(parents=True, exist_ok=True)
    project = Project(
        root=root.resolve(),
        config_path=root / "alembic.ini",
        script_location=root / "migrations",
        version_dirs=[root / "migrations" / "versions"],
    )
    return check(StaticContext(project=project, settings=Settings(exclude=exclude)))


def line_of(root: Path, relpath: str, text: str) -> int:
    lines = (root / relpath).read_text().splitlines()
    [line] = [number for number, content in enumerate(lines, start=1) if text in content]
    return line


FASTAPI_LIFESPAN = """
    from contextlib import asynccontextmanager

    from fastapi import FastAPI

    from app.db import Base, engine


    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        yield


    app = FastAPI(lifespan=lifespan)
"""


def test_run_sync_create_all_in_a_fastapi_lifespan_is_reported(tmp_path: Path) -> None:
    [finding] = run(tmp_path, {"app/main.py": FASTAPI_LIFESPAN})
    assert finding.rule == "create-all-on-startup"
    assert finding.path == "app/main.py"
    assert finding.line == line_of(tmp_path, "app/main.py", "run_sync(")
    assert finding.revision is None
    assert finding.message == (
        "metadata.create_all reached from the FastAPI lifespan 'lifespan' in app/main.py"
    )
    assert "alembic upgrade head" in (finding.hint or "")
    assert finalise([finding], {})[0].severity is Severity.ERROR


def test_a_lifespan_with_another_name_passed_to_fastapi_is_reported(tmp_path: Path) -> None:
    source = """
        from fastapi import FastAPI

        async def startup_and_shutdown(app):
            async with engine.begin() as conn:
                await conn.run_sync(SQLModel.metadata.create_all)
            yield

        app = FastAPI(lifespan=startup_and_shutdown)
    """
    [finding] = run(tmp_path, {"main.py": source})
    assert "lifespan 'startup_and_shutdown'" in finding.message


def test_an_on_event_startup_handler_is_reported(tmp_path: Path) -> None:
    source = """
        from fastapi import FastAPI

        app = FastAPI()

        @app.on_event("startup")
        def create_tables():
            Base.metadata.create_all(bind=engine)

        @app.on_event("shutdown")
        def drop_tables():
            Base.metadata.create_all(bind=engine)  # not start-up
    """
    [finding] = run(tmp_path, {"main.py": source})
    assert finding.line == 7
    assert "the startup handler 'create_tables'" in finding.message


def test_a_flask_app_factory_is_reported(tmp_path: Path) -> None:
    source = """
        from flask import Flask
        from flask_sqlalchemy import SQLAlchemy

        db = SQLAlchemy()

        def create_app():
            app = Flask(__name__)
            db.init_app(app)
            with app.app_context():
                db.create_all()
            return app
    """
    [finding] = run(tmp_path, {"app/__init__.py": source})
    assert finding.path == "app/__init__.py"
    assert finding.line == 10
    assert finding.message.startswith("db.create_all reached from the Flask app factory")


def test_app_context_block_at_module_level_is_reported(tmp_path: Path) -> None:
    source = """
        app = Flask(__name__)
        with app.app_context():
            db.create_all()
    """
    [finding] = run(tmp_path, {"app.py": source})
    assert (finding.line, finding.message) == (
        3,
        "db.create_all reached from module level in app.py",
    )


def test_module_level_and_main_block_create_all_are_reported(tmp_path: Path) -> None:
    files = {
        "models.py": "Base.metadata.create_all(engine)\n",
        "run.py": 'if __name__ == "__main__":\n    SQLModel.metadata.create_all(engine)\n',
    }
    findings = run(tmp_path, files)
    assert [(f.path, f.line, f.message) for f in findings] == [
        ("models.py", 1, "metadata.create_all reached from module level in models.py"),
        ("run.py", 2, "metadata.create_all reached from the __main__ block in run.py"),
    ]


def test_helpers_called_from_start_up_are_followed(tmp_path: Path) -> None:
    source = """
        from contextlib import asynccontextmanager

        @asynccontextmanager
        async def lifespan(app):
            await init_db()
            yield

        async def init_db():
            async with engine.begin() as conn:
                await conn.run_sync(_create)

        def _create(connection):
            Base.metadata.create_all(connection)
    """
    [finding] = run(tmp_path, {"main.py": source})
    assert finding.line == 13
    assert finding.message == (
        "metadata.create_all reached from the FastAPI lifespan 'lifespan' in main.py "
        "(via init_db -> _create)"
    )


def test_a_helper_imported_from_another_project_module_is_followed(tmp_path: Path) -> None:
    files = {
        "app/__init__.py": "",
        "app/db.py": """
            async def init_models():
                async with engine.begin() as conn:
                    await conn.run_sync(Base.metadata.create_all)
        """,
        "app/main.py": """
            from fastapi import FastAPI
            from .db import init_models

            app = FastAPI()

            @app.on_event("startup")
            async def on_startup():
                await init_models()
        """,
    }
    [finding] = run(tmp_path, files)
    assert (finding.path, finding.line) == ("app/db.py", 3)
    assert finding.message == (
        "metadata.create_all reached from the startup handler 'on_startup' in app/main.py "
        "(via init_models)"
    )


def test_create_all_in_a_function_nothing_starts_is_not_reported(tmp_path: Path) -> None:
    source = """
        def reset_database(engine):
            Base.metadata.drop_all(engine)
            Base.metadata.create_all(engine)
    """
    assert run(tmp_path, {"app/admin.py": source}) == []


def test_a_bootstrap_script_that_stamps_head_is_not_start_up(tmp_path: Path) -> None:
    source = """
        from alembic import command
        from alembic.config import Config

        def main():
            Base.metadata.create_all(engine)
            command.stamp(Config("alembic.ini"), "head")

        if __name__ == "__main__":
            main()
    """
    assert run(tmp_path, {"scripts/bootstrap.py": source}) == []


def test_a_bootstrap_that_runs_alembic_stamp_as_a_command_is_not_start_up(tmp_path: Path) -> None:
    files = {
        "bootstrap_a.py": """
            import subprocess
            Base.metadata.create_all(engine)
            subprocess.run(["alembic", "stamp", "head"], check=True)
        """,
        "bootstrap_b.py": """
            import os
            if __name__ == "__main__":
                Base.metadata.create_all(engine)
                os.system("alembic -c alembic.ini stamp head")
        """,
    }
    assert run(tmp_path, files) == []


def test_a_lifespan_that_also_stamps_is_still_start_up(tmp_path: Path) -> None:
    source = """
        from contextlib import asynccontextmanager

        @asynccontextmanager
        async def lifespan(app):
            Base.metadata.create_all(engine)
            command.stamp(cfg, "head")
            yield
    """
    [finding] = run(tmp_path, {"main.py": source})
    assert finding.line == 5


def test_tests_and_test_helpers_are_not_start_up(tmp_path: Path) -> None:
    create_all = "Base.metadata.create_all(engine)\n"
    files = {
        "tests/conftest.py": create_all,
        "tests/helpers/db.py": create_all,
        "app/tests/factories.py": create_all,
        "conftest.py": create_all,
        "test_models.py": create_all,
        "models_test.py": create_all,
    }
    assert run(tmp_path, files) == []


def test_migrations_virtualenvs_and_build_output_are_not_scanned(tmp_path: Path) -> None:
    create_all = "Base.metadata.create_all(engine)\n"
    files = {
        "migrations/env.py": create_all,
        "migrations/versions/0001_x.py": create_all,
        ".venv/lib/python3.12/site-packages/pkg/mod.py": create_all,
        "env312/lib/mod.py": create_all,
        "env312/pyvenv.cfg": "home = /usr/bin\n",
        "lib/site-packages/pkg/mod.py": create_all,
        "node_modules/x/y.py": create_all,
        "build/lib/app/main.py": create_all,
        "dist/app/main.py": create_all,
        "app/__pycache__/main.py": create_all,
    }
    assert run(tmp_path, files) == []


def test_paths_matching_exclude_are_not_scanned(tmp_path: Path) -> None:
    create_all = "Base.metadata.create_all(engine)\n"
    files = {
        "scripts/init_test_db.py": create_all,
        "tools/seed/dev.py": create_all,
        "app/main.py": create_all,
    }
    [finding] = run(tmp_path, files, exclude=("scripts/init_test_db.py", "tools/*"))
    assert finding.path == "app/main.py"


def test_a_file_that_does_not_parse_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "undecodable.py").write_bytes(b"Base.metadata.create_all(\xff\xfe)\n")
    files = {"broken.py": "Base.metadata.create_all(engine)\ndef broken(:\n"}
    assert run(tmp_path, files) == []


def test_a_reference_reached_twice_is_reported_once(tmp_path: Path) -> None:
    source = """
        def create_app():
            app = Flask(__name__)
            init_db()
            return app

        def init_db():
            db.create_all()

        app = create_app()
    """
    [finding] = run(tmp_path, {"app.py": source})
    assert "Flask app factory 'create_app'" in finding.message


def test_exclude_patterns_match_files_and_directories() -> None:
    assert is_excluded("scripts/init_test_db.py", ("scripts/init_test_db.py",))
    assert is_excluded("scripts/a/b.py", ("scripts/*",))
    assert is_excluded("scripts/a/b.py", ("scripts",))
    assert is_excluded("scripts/a/b.py", ("./scripts/",))
    assert is_excluded("deep/scripts/x.py", ("**/scripts/*",))
    assert is_excluded("scripts/x.py", ("**/scripts/*",))
    assert not is_excluded("app/scripts.py", ("scripts/*",))
    assert not is_excluded("app/main.py", ())


@pytest.mark.parametrize(
    ("relpath", "expected"),
    [
        ("tests/conftest.py", True),
        ("app/tests/x.py", True),
        ("test_app.py", True),
        ("app/db_test.py", True),
        ("conftest.py", True),
        ("app/testing.py", False),
        ("app/contest.py", False),
    ],
)
def test_test_files_are_recognised_by_name(relpath: str, expected: bool) -> None:
    assert is_test_file(relpath) is expected


def test_the_rule_is_registered_with_its_documentation() -> None:
    rule = load()["create-all-on-startup"]
    assert rule is CREATE_ALL_ON_STARTUP
    assert rule.severity is Severity.ERROR
    assert all([rule.summary, rule.what, rule.why, rule.example, rule.use_instead])
    assert rule.needs is Needs.STATIC
