"""Inline suppressions, the baseline file and severity overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import migguard.checks.naming  # noqa: F401 - registers index-name / constraint-name
from migguard.errors import MigguardError
from migguard.findings import Finding, Severity
from migguard.rules import finalise, load
from migguard.suppress import (
    apply_baseline,
    apply_suppressions,
    parse_suppressions,
    write_baseline,
)

REVISION = "migrations/versions/0001_users.py"


def write(root: Path, relpath: str, source: str) -> None:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")


def index_name_at(line: int | None, path: str | None = REVISION) -> Finding:
    return Finding(rule="index-name", message=f"index name at {line}", path=path, line=line)


# --- parsing ----------------------------------------------------------------------------------


def test_comment_names_one_or_several_rules() -> None:
    [one, several] = parse_suppressions(
        "x = 1  # migguard: ignore[index-name]\n"
        "y = 2  # migguard: ignore[index-name, constraint-name]\n"
    )
    assert (one.line, one.rules, one.file_level) == (1, frozenset({"index-name"}), False)
    assert several.rules == frozenset({"index-name", "constraint-name"})


def test_bare_ignore_and_star_cover_every_rule() -> None:
    bare, star = parse_suppressions("# migguard: ignore\nx = 1  # migguard: ignore[*]\n")
    assert bare.rules is None and bare.standalone
    assert star.rules is None and not star.standalone
    assert bare.covers("anything") and star.covers("drift")


def test_ignore_file_is_file_level() -> None:
    [suppression] = parse_suppressions('"""doc"""\n# migguard: ignore-file[index-name]\n')
    assert suppression.file_level and suppression.rules == frozenset({"index-name"})


def test_text_inside_a_string_literal_is_not_a_suppression() -> None:
    assert parse_suppressions('help = "# migguard: ignore[index-name]"\n') == []


def test_a_file_that_does_not_tokenize_is_still_scanned() -> None:
    [suppression] = parse_suppressions("def broken(:  # migguard: ignore[index-name]\n    '''\n")
    assert suppression.line == 1


def test_other_files_are_scanned_line_by_line() -> None:
    source = '[alembic]\nscript_location = "x  # migguard: ignore[broken-graph]"\n'
    [suppression] = parse_suppressions(source, python=False)
    assert (suppression.line, suppression.rules) == (2, frozenset({"broken-graph"}))


def test_similar_words_are_not_suppressions() -> None:
    assert parse_suppressions("# migguard: ignored[index-name]\n# migguard ignore\n") == []


# --- applying suppressions --------------------------------------------------------------------


def test_a_comment_on_the_reported_line_suppresses_that_rule(tmp_path: Path) -> None:
    write(tmp_path, REVISION, "a\nop.create_index('idx')  # migguard: ignore[index-name]\n")
    kept, problems = apply_suppressions([index_name_at(2)], tmp_path)
    assert (kept, problems) == ([], [])


def test_a_comment_alone_on_the_line_above_suppresses(tmp_path: Path) -> None:
    write(tmp_path, REVISION, "    # migguard: ignore[index-name]\n    op.create_index('idx')\n")
    kept, _ = apply_suppressions([index_name_at(2)], tmp_path)
    assert kept == []


def test_a_trailing_comment_on_the_line_above_does_not_reach_the_next_line(
    tmp_path: Path,
) -> None:
    write(tmp_path, REVISION, "a = 1  # migguard: ignore[index-name]\nop.create_index('idx')\n")
    finding = index_name_at(2)
    kept, _ = apply_suppressions([finding], tmp_path)
    assert kept == [finding]


def test_a_comment_for_another_rule_does_not_suppress(tmp_path: Path) -> None:
    write(tmp_path, REVISION, "op.create_index('idx')  # migguard: ignore[constraint-name]\n")
    finding = index_name_at(1)
    assert apply_suppressions([finding], tmp_path) == ([finding], [])


def test_ignore_file_suppresses_the_rule_everywhere_in_the_file(tmp_path: Path) -> None:
    write(tmp_path, REVISION, "# migguard: ignore-file[index-name]\n" + "x\n" * 20)
    other_rule = Finding(rule="constraint-name", message="m", path=REVISION, line=3)
    kept, _ = apply_suppressions([index_name_at(5), index_name_at(None), other_rule], tmp_path)
    assert kept == [other_rule]


def test_an_unknown_rule_id_is_reported_where_the_comment_is(tmp_path: Path) -> None:
    write(
        tmp_path,
        REVISION,
        "a\n# migguard: ignore[no-such-rule, index-name]\nop.create_index('idx')\n",
    )
    kept, [problem] = apply_suppressions([index_name_at(3)], tmp_path)
    assert kept == []
    assert problem.rule == "unknown-suppression"
    assert (problem.path, problem.line) == (REVISION, 2)
    assert "'no-such-rule'" in problem.message
    assert finalise([problem], {})[0].severity is Severity.WARNING
    assert "unknown-suppression" in load()


def test_scanned_files_are_checked_for_unknown_ids_without_findings(tmp_path: Path) -> None:
    write(tmp_path, "models.py", "x = 1  # migguard: ignore[index-nmae]\n")
    _, [problem] = apply_suppressions([], tmp_path, scan=["models.py"])
    assert (problem.path, problem.line) == ("models.py", 1)
    assert "did you mean 'index-name'?" in problem.message
    assert problem.hint == "`migguard rules` lists the rule ids; fix the spelling or drop it"


def test_findings_without_a_path_or_a_readable_file_are_kept(tmp_path: Path) -> None:
    no_path = index_name_at(3, path=None)
    missing = index_name_at(3, path="gone.py")
    assert apply_suppressions([no_path, missing], tmp_path) == ([no_path, missing], [])


def test_each_file_is_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, REVISION, "x\n" * 10)
    reads: list[Path] = []
    original = Path.read_text

    def counting(self: Path, *args, **kwargs) -> str:
        reads.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counting)
    apply_suppressions([index_name_at(n) for n in range(1, 8)], tmp_path)
    assert len(reads) == 1


# --- baseline ---------------------------------------------------------------------------------


def test_a_baseline_absorbs_the_findings_it_was_written_from(tmp_path: Path) -> None:
    findings = [index_name_at(3), Finding(rule="drift", message="m", path=None)]
    baseline = tmp_path / "baseline.json"
    write_baseline(findings, baseline)
    assert apply_baseline(findings, baseline) == []


def test_moving_code_does_not_resurrect_a_baselined_finding(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    write_baseline([Finding(rule="index-name", message="m", path="models.py", line=3)], baseline)
    moved = Finding(rule="index-name", message="m", path="models.py", line=40)
    assert apply_baseline([moved], baseline) == []


def test_a_new_finding_is_not_in_the_baseline(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    write_baseline([index_name_at(3)], baseline)
    new = Finding(rule="index-name", message="another", path=REVISION, line=9)
    assert apply_baseline([index_name_at(3), new], baseline) == [new]


def test_identical_entries_absorb_as_many_findings_as_they_number(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    same = Finding(rule="constraint-name", message="unnamed", path="models.py", line=1)
    write_baseline([same, same], baseline)
    assert apply_baseline([same, same], baseline) == []
    assert apply_baseline([same, same, same], baseline) == [same]


def test_the_baseline_file_is_sorted_stable_and_pretty(tmp_path: Path) -> None:
    findings = [
        Finding(rule="index-name", message="b", path="z.py", line=1),
        Finding(rule="drift", message="a", path=None),
        Finding(rule="constraint-name", message="c", path="a.py", line=2),
    ]
    first, second = tmp_path / "1.json", tmp_path / "2.json"
    write_baseline(findings, first)
    write_baseline(list(reversed(findings)), second)
    assert first.read_bytes() == second.read_bytes()
    text = first.read_text()
    assert text.endswith("}\n") and '\n  "entries": [\n' in text
    document = json.loads(text)
    assert document["version"] == 1
    assert [e["path"] for e in document["entries"]] == [None, "a.py", "z.py"]
    assert set(document["entries"][0]) == {"rule", "path", "fingerprint", "message"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "baseline file not found"),
        ("{not json", "not valid JSON"),
        ("[]", "no 'entries' list"),
        ('{"version": 99, "entries": []}', "version 99"),
        ('{"version": 1, "entries": [{"rule": "x"}]}', "entry 1 needs"),
    ],
)
def test_a_missing_or_corrupt_baseline_is_a_clear_error(
    tmp_path: Path, content: str | None, message: str
) -> None:
    baseline = tmp_path / "baseline.json"
    if content is not None:
        baseline.write_text(content)
    with pytest.raises(MigguardError, match=message):
        apply_baseline([index_name_at(1)], baseline)


# --- severity overrides -----------------------------------------------------------------------


def test_severity_overrides_change_only_the_named_rules() -> None:
    index = index_name_at(1)
    drift = Finding(rule="drift", message="m")
    result = finalise([index, drift], {"index-name": Severity.ERROR})
    assert result[0].severity is Severity.ERROR  # index-name is a warning by default
    assert result[1] == drift.with_severity(Severity.ERROR)  # drift's default


def test_an_exact_override_wins_over_a_prefix_pattern() -> None:
    findings = [
        Finding(rule="downgrade-fails", message="m"),
        Finding(rule="downgrade-mismatch", message="m"),
    ]
    overrides = {"downgrade-*": Severity.WARNING, "downgrade-fails": Severity.ERROR}
    result = finalise(findings, overrides)
    assert [f.effective_severity for f in result] == [Severity.ERROR, Severity.WARNING]
