"""The bad-input corpus: every broken project gets one clear line, or the right finding.

Each directory under ``tests/fixtures/broken/`` is a small project with one thing wrong. Where
migguard cannot check the project, stderr holds exactly one line naming the file (and line,
where there is one) and the exit code is 2; where the problem is itself a finding (a broken
revision graph, a revision that cannot upgrade, models no revision creates), the finding is
reported with its location. Never a traceback without ``-v``.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, CliResult, run_cli

BROKEN = FIXTURES / "broken"


@dataclass(frozen=True)
class Expected:
    code: int
    fragments: tuple[str, ...]


CORPUS: dict[str, Expected] = {
    "no_alembic_ini": Expected(2, ("no alembic.ini in", "-c/--config FILE")),
    "ini_not_an_ini": Expected(
        2, ("alembic.ini:1: cannot read the configuration: File contains no section headers",)
    ),
    "ini_without_script_location": Expected(
        2, ("alembic.ini: no script_location in the [alembic] section",)
    ),
    "script_location_missing": Expected(2, ("alembic.ini: script_location", "is not a directory")),
    "no_env_py": Expected(2, ("no env.py in migrations",)),
    "pyproject_not_toml": Expected(2, ("pyproject.toml: invalid TOML: Unclosed array",)),
    "revision_syntax_error": Expected(
        2, ("migrations/versions/0002_books.py:13: syntax error: '(' was never closed",)
    ),
    "revision_not_utf8": Expected(
        2, ("migrations/versions/0002_books.py: not valid UTF-8 (byte 5)",)
    ),
    "revision_imports_missing_module": Expected(
        2,
        (
            "migrations/versions/0002_books.py:6: revision failed to import: "
            "ModuleNotFoundError: No module named 'legacy_helpers_removed_long_ago'",
        ),
    ),
    "env_py_raises": Expected(
        2, ("migrations/env.py:13: env.py raised RuntimeError: APP_SECRET_KEY is not set",)
    ),
    "env_py_not_utf8": Expected(
        2, ("migrations/env.py:1: env.py raised SyntaxError", "'utf-8' codec can't decode")
    ),
    "env_py_never_runs_migrations": Expected(
        2, ("migrations/env.py: env.py never called context.configure()/run_migrations()",)
    ),
    "duplicate_revision_id": Expected(
        1,
        (
            "migrations/versions/0002_books.py:6: error [broken-graph]",
            "migrations/versions/0003_books_again.py:6: error [broken-graph]",
        ),
    ),
    "down_revision_nowhere": Expected(
        1, ("migrations/versions/0002_books.py:7: error [broken-graph]", "0001_author")
    ),
    "revision_cycle": Expected(1, ("error [broken-graph]", "cycle")),
    "revision_without_upgrade": Expected(
        1,
        (
            "migrations/versions/0002_books.py:6: error [upgrade-fails]",
            "has no attribute 'upgrade'",
        ),
    ),
    # no revision at all: the models' table is drift, which is exactly what is wrong
    "empty_versions_dir": Expected(1, ("models.py:12: error [drift]", "0 revisions")),
    "no_versions_dir": Expected(1, ("models.py:12: error [drift]", "0 revisions")),
    "env_py_without_target_metadata": Expected(
        0,
        (
            "note: env.py passes no target_metadata: drift and schema-mismatch were skipped",
            "1 round-tripped",
        ),
    ),
}


def test_the_corpus_is_complete() -> None:
    """Every case on disk has an expectation here, and the reverse."""
    assert sorted(p.name for p in BROKEN.iterdir() if p.is_dir()) == sorted(CORPUS)


def _assert_reported(result: CliResult, expected: Expected) -> None:
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.code == expected.code, output
    if expected.code == 2:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, lines
        assert lines[0].startswith("migguard: error: "), lines[0]
        reported = lines[0]
    else:
        assert result.stderr.strip() == "", result.stderr
        reported = result.stdout
    for fragment in expected.fragments:
        assert fragment in reported, reported


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_broken_project_is_explained(case: str) -> None:
    result = run_cli("check", "--db", "local", str(BROKEN / case))
    _assert_reported(result, CORPUS[case])


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_broken_project_in_static_mode_never_shows_a_traceback(case: str) -> None:
    """--static (pre-commit) reads the same files without a database: still one line at most."""
    result = run_cli("check", "--static", str(BROKEN / case))
    assert "Traceback" not in result.stdout + result.stderr
    assert result.code in (0, 1, 2)
    assert len([line for line in result.stderr.splitlines() if line.strip()]) <= 1


def test_a_five_megabyte_revision_is_checked(tmp_path: Path) -> None:
    """Seed data pasted into a revision: 5 MB of Python, parsed, imported and round-tripped."""
    project = tmp_path / "huge"
    shutil.copytree(BROKEN / "env_py_without_target_metadata", project)
    rows = ",\n".join(
        f'    {{"id": {n}, "name": "author {n:06d} {"x" * 48}"}}' for n in range(1, 62_000)
    )
    revision = (
        '"""Seed the authors table."""\n\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
        'revision = "0002_seed_authors"\ndown_revision = "0001_authors"\n'
        "branch_labels = None\ndepends_on = None\n\n"
        f"ROWS = [\n{rows},\n]\n\n\n"
        "def upgrade() -> None:\n"
        '    authors = sa.table("authors", sa.column("id", sa.Integer), sa.column("name"))\n'
        "    op.bulk_insert(authors, ROWS[:1000])\n\n\n"
        "def downgrade() -> None:\n"
        '    op.execute("DELETE FROM authors")\n'
    )
    path = project / "migrations" / "versions" / "0002_seed_authors.py"
    path.write_text(revision)
    assert path.stat().st_size > 5_000_000
    started = time.monotonic()

    result = run_cli("check", "--format", "json", "--db", "local", str(project))

    assert result.code == 0, result.stdout + result.stderr
    assert result.findings() == []
    assert result.json["summary"]["checked"] == 2
    assert time.monotonic() - started < 120
