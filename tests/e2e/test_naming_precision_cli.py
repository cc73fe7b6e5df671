"""index-name and constraint-name on projects shaped like the ones that drowned in warnings.

``batch_index_names`` is Flask-Migrate's output: one ``with op.batch_alter_table(...) as
batch_op`` block per table, the same variable name each time; each index is judged against its
own block's table. ``naming_without_convention`` declares no ``naming_convention`` (SQLAlchemy's
default MetaData, as most projects): only index names are checked, against SQLAlchemy's
``ix_%(column_0_label)s``; constraints are not, unless the project opts in.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import FIXTURES, run_cli


def _static(project: Path):
    result = run_cli("check", "--static", "--format", "json", str(project), timeout=60)
    assert result.code in (0, 1), result.stderr
    return result


def _line(project: Path, relpath: str, text: str) -> int:
    lines = (project / relpath).read_text().splitlines()
    [line] = [i for i, content in enumerate(lines, start=1) if text in content]
    return line


def test_batch_index_names_are_judged_against_their_own_blocks_table() -> None:
    project = FIXTURES / "batch_index_names"
    result = _static(project)
    assert result.code == 0
    revision = "migrations/versions/0001_initial.py"
    [finding] = result.findings("index-name")
    assert (finding["path"], finding["line"], finding["revision"]) == (
        revision,
        _line(project, revision, '"post_by_user", ["user_id"]'),
        "0001_initial",
    )
    assert finding["message"].endswith("expected 'ix_post_user_id'")
    assert result.findings("constraint-name") == []


def test_without_a_convention_only_index_names_off_sqlalchemys_default_are_reported() -> None:
    project = FIXTURES / "naming_without_convention"
    result = _static(project)
    assert result.code == 0
    assert result.findings("constraint-name") == []
    revision = "migrations/versions/0001_initial.py"
    assert sorted((f["path"], f["line"]) for f in result.findings("index-name")) == [
        (revision, _line(project, revision, '"idx_experiments_owner", "experiments"')),
        ("models.py", _line(project, "models.py", 'sa.Index("idx_experiments_owner"')),
    ]
    for finding in result.findings("index-name"):
        assert finding["message"].endswith("expected 'ix_experiments_owner'")


def test_opting_in_to_check_constraints_names_them_without_a_doubled_prefix(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "naming_without_convention", project)
    (project / "pyproject.toml").write_text('[tool.migguard.naming]\nck = "recommended"\n')
    result = _static(project)
    findings = result.findings("constraint-name")
    assert {f["path"] for f in findings} == {"migrations/versions/0001_initial.py", "models.py"}
    for finding in findings:
        assert finding["message"] == (
            "check constraint name 'experiments_lifecycle_stage' does not follow the "
            "convention: expected 'ck_experiments_lifecycle_stage'"
        )
