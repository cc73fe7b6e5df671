"""Graph rules (multiple-heads, broken-graph, missing-downgrade) on fixtures and small sources."""

from __future__ import annotations

import tempfile
import textwrap
import warnings
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migguard.checks import StaticContext, graph
from migguard.config import Settings
from migguard.findings import Severity
from migguard.project import load_project
from migguard.rules import Needs, finalise, load

FIXTURES = Path(__file__).parent / "fixtures"


def revision_source(
    revision: str | None,
    down: str | tuple[str, ...] | None = None,
    *,
    depends_on: str | tuple[str, ...] | None = None,
    branch_labels: str | tuple[str, ...] | None = None,
    upgrade: str = 'op.add_column("t", sa.Column("c", sa.Integer()))',
    downgrade: str | None = 'op.drop_column("t", "c")',
) -> str:
    head = "import sqlalchemy as sa\nfrom alembic import op\n\n"
    if revision is not None:
        head += f"revision = {revision!r}\n"
    head += f"down_revision = {down!r}\n"
    head += f"branch_labels = {branch_labels!r}\ndepends_on = {depends_on!r}\n\n\n"
    body = f"def upgrade():\n{textwrap.indent(upgrade, '    ')}\n"
    if downgrade is not None:
        body += f"\n\ndef downgrade():\n{textwrap.indent(downgrade, '    ')}\n"
    return head + body


def make_project(root: Path, files: dict[str, str]) -> Path:
    """A minimal Alembic project: alembic.ini, an env.py never run, and the given revisions."""
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "alembic.ini").write_text(
        "[alembic]\nscript_location = %(here)s/migrations\nprepend_sys_path = %(here)s\n"
        "path_separator = os\n"
    )
    (root / "migrations" / "env.py").write_text("")
    for name, source in files.items():
        (versions / name).write_text(source)
    return root


def run_check(root: Path, **settings_kw: object) -> tuple[list, StaticContext]:
    ctx = StaticContext(project=load_project(root), settings=Settings(path=root, **settings_kw))
    return graph.check(ctx), ctx


def by_rule(findings: list, rule: str) -> list:
    return [f for f in findings if f.rule == rule]


def alembic_heads(root: Path) -> set[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return set(ScriptDirectory(str(root / "migrations")).get_heads())


# --- registry ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule_id", "severity"),
    [
        ("multiple-heads", Severity.ERROR),
        ("broken-graph", Severity.ERROR),
        ("missing-downgrade", Severity.WARNING),
    ],
)
def test_rules_are_registered_with_their_four_doc_parts(rule_id: str, severity: Severity) -> None:
    rule = load()[rule_id]
    assert rule.severity is severity
    assert rule.needs is Needs.STATIC
    for part in (rule.summary, rule.what, rule.why, rule.example, rule.use_instead):
        assert part.strip()


# --- multiple-heads ------------------------------------------------------------------------


def test_two_revisions_on_one_parent_are_two_heads() -> None:
    findings, _ = run_check(FIXTURES / "multiple_heads")
    heads = by_rule(findings, "multiple-heads")
    assert {f.revision for f in heads} == {"0002_add_email", "0002_add_phone"}
    for finding in heads:
        assert finding.path == f"migrations/versions/{finding.revision}.py"
        assert finding.line == 12  # the `revision =` line
        assert "0002_add_email (migrations/versions/0002_add_email.py)" in finding.message
        assert "0002_add_phone (migrations/versions/0002_add_phone.py)" in finding.message
        assert finding.hint == 'alembic merge -m "merge heads" 0002_add_email 0002_add_phone'
    assert not by_rule(findings, "broken-graph")


def test_heads_match_alembic_on_the_multiple_heads_fixture() -> None:
    root = FIXTURES / "multiple_heads"
    files = load_project(root).revision_files()
    assert set(graph.heads(files)) == alembic_heads(root)


def test_clean_project_has_no_graph_findings() -> None:
    findings, _ = run_check(FIXTURES / "clean_static")
    assert findings == []


def test_merge_revision_leaves_one_head(tmp_path: Path) -> None:
    root = make_project(
        tmp_path,
        {
            "a.py": revision_source("a"),
            "b.py": revision_source("b", "a"),
            "c.py": revision_source("c", "a"),
            "d.py": revision_source("d", ("b", "c"), upgrade="pass", downgrade="pass"),
        },
    )
    findings, _ = run_check(root)
    assert findings == []
    assert graph.heads(load_project(root).revision_files()) == ["d"] == list(alembic_heads(root))


def test_depends_on_does_not_make_a_head_disappear(tmp_path: Path) -> None:
    root = make_project(
        tmp_path,
        {
            "a.py": revision_source("a"),
            "b.py": revision_source("b", "a"),
            "c.py": revision_source("c", "a", depends_on="b"),
        },
    )
    findings, _ = run_check(root)
    assert {f.revision for f in by_rule(findings, "multiple-heads")} == {"b", "c"}
    assert alembic_heads(root) == {"b", "c"}


def test_two_bases_merged_into_one_head_are_fine(tmp_path: Path) -> None:
    root = make_project(
        tmp_path,
        {
            "a.py": revision_source("a"),
            "b.py": revision_source("b"),
            "c.py": revision_source("c", ("a", "b")),
        },
    )
    findings, _ = run_check(root)
    assert findings == []


def test_heads_of_separately_labelled_branches_are_allowed(tmp_path: Path) -> None:
    root = make_project(
        tmp_path,
        {
            "a.py": revision_source("a"),
            "b.py": revision_source("b", "a"),
            "n1.py": revision_source("n1", branch_labels="networking"),
            "n2.py": revision_source("n2", "n1"),
        },
    )
    findings, _ = run_check(root)
    assert findings == []


def test_two_heads_inside_one_labelled_branch_are_reported(tmp_path: Path) -> None:
    root = make_project(
        tmp_path,
        {
            "a.py": revision_source("a", branch_labels="main"),
            "b.py": revision_source("b", "a"),
            "c.py": revision_source("c", "a"),
            "n1.py": revision_source("n1", branch_labels="networking"),
        },
    )
    findings, _ = run_check(root)
    assert {f.revision for f in by_rule(findings, "multiple-heads")} == {"b", "c"}


def test_non_literal_down_revision_skips_heads_with_a_note(tmp_path: Path) -> None:
    source = revision_source("b", "a").replace("down_revision = 'a'", "down_revision = PARENT")
    root = make_project(
        tmp_path,
        {"a.py": revision_source("a"), "b.py": "PARENT = 'a'\n" + source},
    )
    findings, ctx = run_check(root)
    assert not by_rule(findings, "multiple-heads")
    assert any("multiple-heads skipped" in note for note in ctx.notes)


# --- broken-graph --------------------------------------------------------------------------


def test_down_revision_naming_a_missing_revision_is_broken() -> None:
    findings, _ = run_check(FIXTURES / "broken_down_revision")
    [finding] = by_rule(findings, "broken-graph")
    assert finding.path == "migrations/versions/0002_add_email.py"
    assert finding.line == 13  # the `down_revision =` line
    assert finding.revision == "0002_add_email"
    assert "'0001_user'" in finding.message
    assert finding.hint == "did you mean '0001_users'?"


def test_missing_parent_is_not_also_reported_as_a_second_head() -> None:
    findings, ctx = run_check(FIXTURES / "broken_down_revision")
    assert [f.rule for f in findings] == ["broken-graph"]
    assert "multiple-heads skipped: the revision graph is broken" in ctx.notes


def test_missing_depends_on_is_broken(tmp_path: Path) -> None:
    root = make_project(
        tmp_path, {"a.py": revision_source("a"), "b.py": revision_source("b", "a", depends_on="x")}
    )
    [finding] = by_rule(run_check(root)[0], "broken-graph")
    assert "depends_on of revision b names 'x'" in finding.message
    assert finding.line == 7


def test_depends_on_a_branch_label_is_not_missing(tmp_path: Path) -> None:
    root = make_project(
        tmp_path,
        {
            "a.py": revision_source("a", branch_labels="core"),
            "b.py": revision_source("b", "a"),
            "n.py": revision_source("n", branch_labels="plugin", depends_on="core"),
        },
    )
    findings, _ = run_check(root)
    assert findings == []


def test_duplicate_revision_id_names_both_files(tmp_path: Path) -> None:
    root = make_project(
        tmp_path,
        {
            "a.py": revision_source("a"),
            "b1.py": revision_source("b", "a"),
            "b2.py": revision_source("b", "a"),
        },
    )
    duplicates = by_rule(run_check(root)[0], "broken-graph")
    assert {f.path for f in duplicates} == {
        "migrations/versions/b1.py",
        "migrations/versions/b2.py",
    }
    for finding in duplicates:
        assert "migrations/versions/b1.py, migrations/versions/b2.py" in finding.message


def test_cycle_names_the_revisions_in_it(tmp_path: Path) -> None:
    root = make_project(
        tmp_path,
        {
            "a.py": revision_source("a"),
            "b.py": revision_source("b", ("a", "d")),
            "c.py": revision_source("c", "b"),
            "d.py": revision_source("d", "c"),
        },
    )
    [finding] = by_rule(run_check(root)[0], "broken-graph")
    assert "cycle through down_revision: b -> d -> c -> b" in finding.message
    assert finding.path == "migrations/versions/b.py"


def test_revision_that_names_itself_is_a_cycle(tmp_path: Path) -> None:
    root = make_project(tmp_path, {"a.py": revision_source("a", "a")})
    [finding] = by_rule(run_check(root)[0], "broken-graph")
    assert "a -> a" in finding.message


def test_cycle_through_depends_on_is_broken(tmp_path: Path) -> None:
    root = make_project(
        tmp_path,
        {
            "a.py": revision_source("a", depends_on="b"),
            "b.py": revision_source("b", "a"),
        },
    )
    [finding] = by_rule(run_check(root)[0], "broken-graph")
    assert "cycle through depends_on" in finding.message


def test_file_without_revision_variable_is_broken(tmp_path: Path) -> None:
    root = make_project(
        tmp_path,
        {"a.py": revision_source("a"), "helpers.py": "def shared():\n    return 1\n"},
    )
    [finding] = run_check(root)[0]
    assert finding.rule == "broken-graph"
    assert finding.path == "migrations/versions/helpers.py"
    assert "declares no `revision`" in finding.message
    assert finding.line == 1


def test_computed_revision_id_is_not_guessed_at(tmp_path: Path) -> None:
    source = revision_source("b", "a").replace("revision = 'b'", "revision = 'b' + SUFFIX")
    root = make_project(tmp_path, {"a.py": revision_source("a"), "b.py": "SUFFIX = ''\n" + source})
    assert not by_rule(run_check(root)[0], "broken-graph")


def test_reused_branch_label_is_broken(tmp_path: Path) -> None:
    root = make_project(
        tmp_path,
        {
            "a.py": revision_source("a", branch_labels="core"),
            "b.py": revision_source("b", branch_labels="core"),
            "c.py": revision_source("c", ("a", "b")),
        },
    )
    [finding] = by_rule(run_check(root)[0], "broken-graph")
    assert "branch label 'core' of revision b" in finding.message


def test_illegal_character_in_revision_id_is_broken(tmp_path: Path) -> None:
    root = make_project(tmp_path, {"a.py": revision_source("add-users")})
    [finding] = by_rule(run_check(root)[0], "broken-graph")
    assert "contains -" in finding.message


# --- missing-downgrade ---------------------------------------------------------------------


def test_placeholder_downgrade_is_reported_as_warning() -> None:
    findings, _ = run_check(FIXTURES / "missing_downgrade")
    [finding] = findings
    assert finding.rule == "missing-downgrade"
    assert finalise([finding], {})[0].severity is Severity.WARNING
    assert finding.path == "migrations/versions/0002_add_email.py"
    assert finding.line == 22  # `def downgrade`
    assert finding.revision == "0002_add_email"
    assert "inverse" in (finding.hint or "")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("pass", "empty downgrade()"),
        ('"""Downgrade schema."""', "empty downgrade()"),
        ("...", "empty downgrade()"),
        ('"""No way back."""\npass', "empty downgrade()"),
        ("raise NotImplementedError", "only raises NotImplementedError"),
        ('raise NotImplementedError("irreversible")', "only raises NotImplementedError"),
        ("raise RuntimeError()", "only raises RuntimeError"),
    ],
)
def test_downgrade_that_does_nothing_is_reported(tmp_path: Path, body: str, problem: str) -> None:
    root = make_project(tmp_path, {"a.py": revision_source("a", downgrade=body)})
    [finding] = by_rule(run_check(root)[0], "missing-downgrade")
    assert problem in finding.message
    assert finding.line == 14  # `def downgrade`


def test_revision_without_downgrade_is_reported_at_its_revision_line(tmp_path: Path) -> None:
    root = make_project(tmp_path, {"a.py": revision_source("a", downgrade=None)})
    [finding] = by_rule(run_check(root)[0], "missing-downgrade")
    assert "has no downgrade()" in finding.message
    assert finding.line == 4


def test_real_downgrade_is_not_reported(tmp_path: Path) -> None:
    body = 'if True:\n    op.drop_column("t", "c")'
    root = make_project(tmp_path, {"a.py": revision_source("a", downgrade=body)})
    assert run_check(root)[0] == []


def test_empty_merge_revision_needs_no_downgrade(tmp_path: Path) -> None:
    root = make_project(
        tmp_path,
        {
            "a.py": revision_source("a"),
            "b.py": revision_source("b", "a"),
            "c.py": revision_source("c", "a"),
            "m.py": revision_source("m", ("b", "c"), upgrade="pass", downgrade="pass"),
        },
    )
    assert run_check(root)[0] == []


def test_ignored_rule_is_not_run() -> None:
    findings, _ = run_check(FIXTURES / "missing_downgrade", ignore=("missing-downgrade",))
    assert findings == []


# --- random graphs against Alembic ---------------------------------------------------------


@st.composite
def revision_graphs(draw: st.DrawFn) -> dict[str, str]:
    """Small random graphs: parents among earlier revisions (merges included), plus now and
    then a missing parent, a back edge (cycle), a depends_on, a duplicate id or a script
    without a revision."""
    count = draw(st.integers(min_value=1, max_value=6))
    ids = [f"r{i}" for i in range(count)]
    parents: list[list[str]] = []
    for i in range(count):
        minimum = draw(st.sampled_from([0, 1, 1, 1])) if i else 0
        chosen = (
            draw(st.lists(st.sampled_from(ids[:i]), min_size=minimum, max_size=2, unique=True))
            if i
            else []
        )
        parents.append(chosen)
    depends: list[list[str]] = [[] for _ in ids]
    mutation = draw(
        st.sampled_from(["none", "none", "missing", "cycle", "depends", "duplicate", "norev"])
    )
    target = draw(st.integers(min_value=0, max_value=count - 1))
    revision_ids: list[str | None] = list(ids)
    if mutation == "missing":
        parents[target].append("gone")
    elif mutation == "cycle":
        later = draw(st.integers(min_value=target, max_value=count - 1))
        parents[target].append(ids[later])
    elif mutation == "depends" and target > 0:
        depends[target].append(draw(st.sampled_from(ids[:target])))
    elif mutation == "duplicate" and count > 1:
        revision_ids[target] = ids[(target + 1) % count]
    elif mutation == "norev":
        revision_ids[target] = None
    files = {}
    for i, rev in enumerate(revision_ids):
        down = tuple(parents[i]) if len(parents[i]) > 1 else (parents[i] or [None])[0]
        dep = tuple(depends[i]) or None
        files[f"rev_{i}.py"] = revision_source(rev, down, depends_on=dep)
    return files


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(revision_graphs())
def test_random_graphs_agree_with_alembic(files: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = make_project(Path(directory), files)
        findings, _ = run_check(root)  # never raises
        graph_errors = [f for f in findings if f.rule in ("multiple-heads", "broken-graph")]
        try:
            alembic = alembic_heads(root)
        except Exception:
            alembic = None
        if alembic is None:
            assert by_rule(findings, "broken-graph"), "Alembic rejects the graph; we did not"
        if not by_rule(findings, "broken-graph"):
            assert alembic is not None
            ours = set(graph.heads(load_project(root).revision_files()))
            assert ours == alembic
            if not graph_errors:
                assert len(ours) == 1
