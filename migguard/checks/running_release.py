"""``breaks-running-release``: the release serving traffic during the deploy fails against
the schema it meets (its models exercised on the real database by :mod:`migguard.deploy`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from migguard.findings import Finding, Severity
from migguard.rules import Needs, Phase, Rule, Scope, produces, register

if TYPE_CHECKING:
    from migguard.checks import RunContext
    from migguard.deploy.release import Break

RULE = register(
    Rule(
        id="breaks-running-release",
        family="deploy",
        scope=Scope.REVISION,
        needs=Needs.DATABASE,
        summary="the release running during the deploy fails against the new schema",
        severity=Severity.ERROR,
        what=(
            "With --since GIT_REF, the models of the pull request's merge base (the release "
            "that keeps serving while the migrations run) are imported in a separate process "
            "and their ORM statements (SELECT of the mapped columns, INSERT, UPDATE, DELETE, "
            "relationship loads and association rows) are run in rolled-back savepoints "
            "against the schema at the new head, on tables holding the production "
            'rehearsal\'s generated rows. With deploy-order = "code-first", the new models are '
            "run against the schema at the base head instead. PostgreSQL only: a SQLite "
            "project gets a note."
        ),
        why=(
            "A revision that drops or renames a column or table the running release still "
            "maps, or adds a NOT NULL column its INSERTs do not fill, takes production down "
            "for the length of the rollout although the migration itself is correct."
        ),
        example='op.drop_column("users", "full_name")  # the running release still maps it',
        use_instead=(
            "# expand/contract: release N stops mapping the column (User.full_name removed\n"
            "# from the model, the column stays); release N+1's revision drops it:\n"
            'op.drop_column("users", "full_name")\n'
            "# a new NOT NULL column gets a server default the running release can rely on:\n"
            'op.add_column("users", sa.Column("age", sa.Integer(), nullable=False, '
            'server_default="0"))'
        ),
    )
)


@produces(Phase.RUN, RULE)
def check(run: RunContext) -> list[Finding]:
    """One finding per missing table, column or unfillable NOT NULL column, once the stairway
    reached the new head (the other release is exercised there now)."""
    release = run.running_release
    if release is None or not run.result.reached_head:
        return []
    release.at_new_head()
    return [_finding(item) for item in release.breaks(run.result)]


def _finding(item: Break) -> Finding:
    declared = _where(item.declared_path, item.declared_line, item.declared_name)
    statements = ", ".join(item.statements)
    thing = f"{item.table}.{item.column}" if item.column else item.table
    blamed = item.blame
    if item.code_first:
        added = (
            f"; revision {blamed.revision} ({_where(blamed.path, blamed.line, '')}) "
            f"{blamed.did}, and runs after the new code starts"
            if blamed
            else ""
        )
        message = (
            f"deploy-order code-first: the new release's {declared} needs {thing}, missing "
            f"from the schema at the base head: {statements} {_fail(item)} with {item.error}{added}"
        )
        return Finding(
            rule=RULE.id,
            message=message,
            path=item.declared_path,
            line=item.declared_line,
            revision=blamed.revision if blamed else None,
            hint=blamed.hint if blamed else None,
            anchor=f"code-first:{item.kind}:{thing}",
        )
    if item.kind == "not-null":
        needs = (
            f"{declared} (at {item.base[:12]}) does not map {thing}, so its INSERTs leave the "
            "NOT NULL column empty"
        )
    elif item.kind == "lost-default":
        needs = (
            f"{declared} (at {item.base[:12]}) leaves {thing} to the database (its default, "
            "sequence or identity), which the new NOT NULL column does not have"
        )
    else:
        needs = f"{declared} (at {item.base[:12]}) still maps {thing}"
    did = f"revision {blamed.revision} {blamed.did}" if blamed else "the new revisions remove it"
    message = (
        f"the running release breaks during the deploy: {did}, and {needs}: "
        f"{statements} {_fail(item)} with {item.error}"
    )
    return Finding(
        rule=RULE.id,
        message=message,
        path=blamed.path if blamed else None,
        line=blamed.line if blamed else None,
        revision=blamed.revision if blamed else None,
        hint=blamed.hint if blamed else None,
        anchor=f"migrate-first:{item.kind}:{thing}",
    )


def _fail(item: Break) -> str:
    return "fails" if len(item.statements) == 1 else "fail"


def _where(path: str | None, line: int | None, name: str) -> str:
    place = f"{path}:{line}" if path and line else path or ""
    return f"{place} {name}".strip()
