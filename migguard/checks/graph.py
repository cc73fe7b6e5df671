"""Revision graph rules: ``multiple-heads``, ``broken-graph`` and ``missing-downgrade``.

Everything here works from the revision files as parsed by :mod:`migguard.project` (``ast``,
no imports), so it is fast enough for pre-commit. The graph rules follow Alembic's own
``alembic/script/revision.py``: a head is a revision that no other revision names in its
``down_revision`` (``depends_on`` does not make a head disappear), and what Alembic refuses to
load (unknown ``down_revision``/``depends_on``, cycles, reused branch labels, illegal
characters) or silently gets wrong (a revision id declared twice, a script without one) is a
``broken-graph`` finding.
"""

from __future__ import annotations

import ast
import difflib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from migguard.findings import Finding, Severity
from migguard.rules import Needs, Phase, Rule, Scope, produces, register

if TYPE_CHECKING:
    from migguard.checks import StaticContext
    from migguard.project import RevisionFile

MULTIPLE_HEADS = register(
    Rule(
        id="multiple-heads",
        family="graph",
        scope=Scope.PROJECT,
        needs=Needs.STATIC,
        summary="the revision graph has more than one head",
        severity=Severity.ERROR,
        what=(
            "Checks that the revisions form a single line of history: exactly one revision "
            "that no other revision names in its `down_revision`. Heads on separate labelled "
            "branches (`branch_labels`, each reachable as `label@head`) are allowed."
        ),
        why=(
            "Two heads usually mean two branches each added a revision on top of the same "
            "parent. `alembic upgrade head` then stops with 'Multiple head revisions are "
            "present', and the deploy that runs it fails."
        ),
        example=(
            '# 0002_add_email.py\nrevision = "0002_add_email"\ndown_revision = "0001_users"\n'
            '\n# 0002_add_phone.py\nrevision = "0002_add_phone"\ndown_revision = "0001_users"'
        ),
        use_instead=(
            '# alembic merge -m "merge heads" 0002_add_email 0002_add_phone\n'
            'revision = "0003_merge"\n'
            'down_revision = ("0002_add_email", "0002_add_phone")'
        ),
    )
)

BROKEN_GRAPH = register(
    Rule(
        id="broken-graph",
        family="graph",
        scope=Scope.PROJECT,
        needs=Needs.STATIC,
        summary="a revision names a missing or cyclic parent, or a revision id is unusable",
        severity=Severity.ERROR,
        what=(
            "Checks the revision graph the way Alembic builds it: every `down_revision` and "
            "`depends_on` names an existing revision, no revision id is declared twice, no "
            "revision is its own ancestor, every script in the versions directory declares a "
            "`revision`, and branch labels and revision ids are unique and legal."
        ),
        why=(
            "Alembic refuses to load such a graph (KeyError, CycleDetected, 'Could not "
            "determine revision id'), or, for a duplicated id, silently keeps one of the two "
            "scripts and never runs the other."
        ),
        example='revision = "0002_add_email"\ndown_revision = "0001_user"  # typo: no such id',
        use_instead='revision = "0002_add_email"\ndown_revision = "0001_users"',
    )
)

MISSING_DOWNGRADE = register(
    Rule(
        id="missing-downgrade",
        family="graph",
        scope=Scope.REVISION,
        needs=Needs.STATIC,
        summary="downgrade() is missing, empty, or only raises",
        severity=Severity.WARNING,
        what=(
            "Checks that a revision whose `upgrade()` changes something has a `downgrade()` "
            "that does something: not missing, not only `pass`, `...` or a docstring, and not "
            "only `raise NotImplementedError`."
        ),
        why=(
            "Rolling back a bad deploy runs `alembic downgrade`. An empty downgrade marks the "
            "revision as undone while its tables and columns stay; one that raises stops the "
            "rollback halfway."
        ),
        example=(
            "def upgrade():\n"
            '    op.add_column("users", sa.Column("email", sa.String(255)))\n'
            "\n\ndef downgrade():\n    pass"
        ),
        use_instead=(
            "def upgrade():\n"
            '    op.add_column("users", sa.Column("email", sa.String(255)))\n'
            '\n\ndef downgrade():\n    op.drop_column("users", "email")'
        ),
    )
)

# Characters Alembic rejects in a revision id (``revision._revision_illegal_chars``).
_ILLEGAL_ID_CHARS = frozenset("@-+:")


@produces(Phase.SOURCES, MULTIPLE_HEADS, BROKEN_GRAPH, MISSING_DOWNGRADE)
def check(ctx: StaticContext) -> list[Finding]:
    """All three rules over the project's revision files (parsed, never imported)."""
    files = ctx.project.revision_files()
    findings: list[Finding] = []
    broken = broken_graph(files)
    if ctx.settings.rule_enabled(BROKEN_GRAPH.id):
        findings += broken
    if ctx.settings.rule_enabled(MULTIPLE_HEADS.id):
        if broken:
            # a typo in down_revision also makes a head of the parent it missed: one cause,
            # reported once, as broken-graph
            ctx.notes.append("multiple-heads skipped: the revision graph is broken")
        elif any(_opaque(f, "down_revision") for f in files):
            ctx.notes.append(
                "multiple-heads skipped: a down_revision is not a literal, so the heads "
                "cannot be known without importing the revision files"
            )
        else:
            findings += multiple_heads(files)
    if ctx.settings.rule_enabled(MISSING_DOWNGRADE.id):
        findings += missing_downgrades(files)
    return findings


# --- the graph ------------------------------------------------------------------------------


def heads(files: Sequence[RevisionFile]) -> list[str]:
    """Head revision ids as Alembic's ``ScriptDirectory.get_heads()`` computes them.

    A head is a revision that no other revision names in its ``down_revision``; revisions
    that are only named in ``depends_on`` stay heads. Returned in file order.
    """
    named: set[str] = set()
    for file in files:
        named.update(d for d in file.down_revisions if d != file.revision)
    result: list[str] = []
    for file in files:
        if file.revision is not None and file.revision not in named | set(result):
            result.append(file.revision)
    return result


def multiple_heads(files: Sequence[RevisionFile]) -> list[Finding]:
    """One finding per head that is not the only head of a labelled branch.

    Without ``branch_labels`` every head beyond one is unintended. With them, a head that
    carries a branch label (inherited from an ancestor, as Alembic propagates them) that no
    other head carries is addressable as ``label@head`` and deliberate; the remaining heads
    are reported when there are two or more of them.
    """
    by_id = _by_id(files)
    head_ids = heads(files)
    if len(head_ids) < 2:
        return []
    labels = {head: _inherited_labels(head, by_id) for head in head_ids}
    label_count: dict[str, int] = defaultdict(int)
    for head_labels in labels.values():
        for label in head_labels:
            label_count[label] += 1
    clashing = [h for h in head_ids if not any(label_count[lb] == 1 for lb in labels[h])]
    if len(clashing) < 2:
        return []
    described = ", ".join(f"{h} ({by_id[h].relpath})" for h in clashing)
    message = f"{len(clashing)} heads: {described}; `alembic upgrade head` fails"
    hint = 'alembic merge -m "merge heads" ' + " ".join(clashing)
    return [
        Finding(
            rule=MULTIPLE_HEADS.id,
            message=message,
            path=by_id[head].relpath,
            line=by_id[head].revision_line,
            revision=head,
            hint=hint,
            anchor=f"head {head}",
        )
        for head in clashing
    ]


def broken_graph(files: Sequence[RevisionFile]) -> list[Finding]:
    """Everything Alembic rejects, or silently mishandles, when it builds the revision map."""
    findings: list[Finding] = []
    findings += _unusable_ids(files)
    findings += _duplicate_ids(files)
    findings += _branch_label_clashes(files)
    if not any(_opaque(f, "revision") for f in files):
        findings += _missing_parents(files)
    findings += _cycles(files)
    return findings


def _unusable_ids(files: Sequence[RevisionFile]) -> list[Finding]:
    findings = []
    for file in files:
        if file.revision is None:
            assigned = _assignment(file.tree, "revision")
            if assigned is None:
                message = (
                    f"{file.relpath} is in a versions directory but declares no `revision`: "
                    "Alembic stops with 'Could not determine revision id'"
                )
                hint = "add `revision = ...` and `down_revision = ...`, or move the file out"
            elif _opaque(file, "revision"):
                continue  # computed at import time: nothing to say without importing it
            else:
                message = f"`revision` in {file.relpath} is not a string"
                hint = 'revision ids are strings, e.g. revision = "0002_add_email"'
            findings.append(
                Finding(
                    rule=BROKEN_GRAPH.id,
                    message=message,
                    path=file.relpath,
                    line=file.revision_line or 1,
                    hint=hint,
                    anchor="no revision",
                )
            )
            continue
        illegal = sorted(set(file.revision) & _ILLEGAL_ID_CHARS)
        if illegal:
            findings.append(
                Finding(
                    rule=BROKEN_GRAPH.id,
                    message=(
                        f"revision id {file.revision!r} contains {', '.join(illegal)}, which "
                        "Alembic does not allow in revision identifiers"
                    ),
                    path=file.relpath,
                    line=file.revision_line,
                    revision=file.revision,
                    hint="use letters, digits and underscores only",
                )
            )
    return findings


def _duplicate_ids(files: Sequence[RevisionFile]) -> list[Finding]:
    by_revision: dict[str, list[RevisionFile]] = defaultdict(list)
    for file in files:
        if file.revision is not None:
            by_revision[file.revision].append(file)
    findings = []
    for revision, group in by_revision.items():
        if len(group) < 2:
            continue
        paths = ", ".join(f.relpath for f in group)
        for file in group:
            findings.append(
                Finding(
                    rule=BROKEN_GRAPH.id,
                    message=(
                        f"revision id {revision} is declared by {len(group)} files ({paths}): "
                        "Alembic keeps only one of them and never runs the other"
                    ),
                    path=file.relpath,
                    line=file.revision_line,
                    revision=revision,
                    hint="give one of the files a new revision id and chain it after the other",
                    anchor=f"duplicate {revision}",
                )
            )
    return findings


def _branch_label_clashes(files: Sequence[RevisionFile]) -> list[Finding]:
    """Alembic maps labels and ids in one namespace and refuses a name used twice."""
    taken: dict[str, str] = {f.revision: "a revision id" for f in files if f.revision}
    findings = []
    for file in files:
        for label in file.branch_labels:
            if label in taken:
                findings.append(
                    Finding(
                        rule=BROKEN_GRAPH.id,
                        message=(
                            f"branch label {label!r} of revision {file.revision} is already "
                            f"{taken[label]}: Alembic refuses to load the graph"
                        ),
                        path=file.relpath,
                        line=_assignment_line(file.tree, "branch_labels"),
                        revision=file.revision,
                        hint="choose a branch label used by no other revision or label",
                    )
                )
            else:
                taken[label] = f"the branch label of revision {file.revision}"
    return findings


def _missing_parents(files: Sequence[RevisionFile]) -> list[Finding]:
    ids = {f.revision for f in files if f.revision is not None}
    labels = {label for f in files for label in f.branch_labels}
    findings = []
    for file in files:
        for parent in file.down_revisions:
            if parent not in ids:
                findings.append(
                    _missing(file, parent, "down_revision", file.down_revision_line, ids)
                )
        for dependency in file.depends_on:
            if dependency not in ids and dependency not in labels:
                line = _assignment_line(file.tree, "depends_on")
                findings.append(_missing(file, dependency, "depends_on", line, ids))
    return findings


def _missing(
    file: RevisionFile, parent: str, variable: str, line: int | None, ids: Iterable[str]
) -> Finding:
    close = difflib.get_close_matches(parent, sorted(ids), n=1)
    hint = f"did you mean {close[0]!r}?" if close else "use `alembic history` to find the parent"
    return Finding(
        rule=BROKEN_GRAPH.id,
        message=(
            f"{variable} of revision {file.revision} names {parent!r}, which no revision "
            "file declares"
        ),
        path=file.relpath,
        line=line,
        revision=file.revision,
        hint=hint,
        anchor=f"{variable} {parent}",
    )


def _cycles(files: Sequence[RevisionFile]) -> list[Finding]:
    """Cycles through ``down_revision``, then cycles that need ``depends_on`` as well."""
    by_id = _by_id(files)
    labels = {label: f.revision for f in files for label in f.branch_labels if f.revision}
    versioned = {rev: [p for p in f.down_revisions if p in by_id] for rev, f in by_id.items()}
    with_dependencies = {
        rev: versioned[rev] + [d for d in (labels.get(x, x) for x in f.depends_on) if d in by_id]
        for rev, f in by_id.items()
    }
    findings = []
    seen: set[frozenset[str]] = set()
    for edges, through in ((versioned, "down_revision"), (with_dependencies, "depends_on")):
        for component in _strongly_connected(edges):
            key = frozenset(component)
            if any(key >= reported for reported in seen):
                continue  # the down_revision cycle inside it is already reported
            seen.add(key)
            path = _cycle_path(component, edges)
            first = by_id[path[0]]
            line = first.down_revision_line
            if through == "depends_on":
                line = _assignment_line(first.tree, "depends_on") or line
            findings.append(
                Finding(
                    rule=BROKEN_GRAPH.id,
                    message=(
                        f"revisions form a cycle through {through}: {_describe_cycle(path)}: "
                        "Alembic stops with CycleDetected"
                    ),
                    path=first.relpath,
                    line=line,
                    revision=first.revision,
                    hint=f"point the {through} of one of them back to an older revision",
                    anchor="cycle " + " ".join(sorted(component)),
                )
            )
    return findings


def _strongly_connected(edges: dict[str, list[str]]) -> list[list[str]]:
    """Components with a cycle (two or more nodes, or a node naming itself), Tarjan's way."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        # iterative DFS: (node, iterator over its parents)
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, parents = work[-1]
            advanced = False
            for parent in parents:
                if parent not in index:
                    index[parent] = low[parent] = counter
                    counter += 1
                    stack.append(parent)
                    on_stack.add(parent)
                    work.append((parent, iter(edges[parent])))
                    advanced = True
                    break
                if parent in on_stack:
                    low[node] = min(low[node], index[parent])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges[node]:
                    result.append(sorted(component))
    return result


def _cycle_path(component: list[str], edges: dict[str, list[str]]) -> list[str]:
    """One concrete cycle inside a strongly connected component, closed: a -> b -> a."""
    members = set(component)
    path = [component[0]]
    while True:
        step = next(p for p in edges[path[-1]] if p in members)
        if step in path:
            return [*path[path.index(step) :], step]
        path.append(step)


def _describe_cycle(path: list[str], limit: int = 12) -> str:
    if len(path) <= limit:
        return " -> ".join(path)
    shown = " -> ".join(path[: limit // 2]) + " -> ... -> " + " -> ".join(path[-limit // 2 :])
    return f"{shown} ({len(path) - 1} revisions)"


def _by_id(files: Sequence[RevisionFile]) -> dict[str, RevisionFile]:
    """Revision id to file; like Alembic, the last file wins when an id is declared twice."""
    return {f.revision: f for f in files if f.revision is not None}


def _inherited_labels(revision: str, by_id: dict[str, RevisionFile]) -> frozenset[str]:
    """Branch labels of a revision and of all its ancestors through ``down_revision``."""
    labels: set[str] = set()
    todo, seen = [revision], set()
    while todo:
        current = todo.pop()
        if current in seen or current not in by_id:
            continue
        seen.add(current)
        labels.update(by_id[current].branch_labels)
        todo.extend(by_id[current].down_revisions)
    return frozenset(labels)


def _assignment(tree: ast.Module, name: str) -> ast.expr | None:
    """The value last assigned to a module-level name, as Python would leave it."""
    value = None
    for node in tree.body:
        if isinstance(node, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                value = node.value
        elif (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == name
            and node.value is not None
        ):
            value = node.value
    return value


def _assignment_line(tree: ast.Module, name: str) -> int | None:
    value = _assignment(tree, name)
    return value.lineno if value is not None else None


def _opaque(file: RevisionFile, name: str) -> bool:
    """True when NAME is assigned something only an import could evaluate."""
    value = _assignment(file.tree, name)
    if value is None:
        return False
    try:
        ast.literal_eval(value)
    except ValueError:
        return True
    return False


# --- downgrade ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Body:
    empty: bool
    raises: str | None  # the exception raised when the body only raises


def missing_downgrades(files: Sequence[RevisionFile]) -> list[Finding]:
    """A finding for each revision that changes something but cannot be undone."""
    findings = []
    for file in files:
        upgrade = file.function("upgrade")
        if upgrade is None or _inspect_body(upgrade.body).empty:
            continue  # a merge point, a placeholder or not a revision: nothing to undo
        downgrade = file.function("downgrade")
        name = file.revision or file.relpath
        if downgrade is None:
            problem, line = "has no downgrade()", file.revision_line
        else:
            body = _inspect_body(downgrade.body)
            line = downgrade.lineno
            if body.raises is not None:
                problem = f"has a downgrade() that only raises {body.raises}"
            elif body.empty:
                problem = "has an empty downgrade()"
            else:
                continue
        findings.append(
            Finding(
                rule=MISSING_DOWNGRADE.id,
                message=(
                    f"revision {name} {problem}: `alembic downgrade` cannot undo its upgrade()"
                ),
                path=file.relpath,
                line=line,
                revision=file.revision,
                hint="write the inverse operations of upgrade() in downgrade(), in reverse order",
                anchor=problem,
            )
        )
    return findings


def _inspect_body(body: list[ast.stmt]) -> _Body:
    raises = None
    for statement in body:
        if isinstance(statement, ast.Pass):
            continue
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # docstring, `...`, a stray string
        if isinstance(statement, ast.Raise):
            raises = _exception_name(statement.exc)
            continue
        return _Body(empty=False, raises=None)
    return _Body(empty=True, raises=raises)


def _exception_name(node: ast.expr | None) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return "an exception"
