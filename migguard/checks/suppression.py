"""``unknown-suppression``: a ``# migguard: ignore[...]`` comment naming no rule.

Suppression comments are read when the run's findings are finalised (``migguard.suppress``),
so this module only declares the rule; ``suppress.apply_suppressions`` produces it.
"""

from __future__ import annotations

from migguard.findings import Severity
from migguard.rules import Needs, Rule, Scope, register

UNKNOWN_SUPPRESSION = register(
    Rule(
        id="unknown-suppression",
        family="suppression",
        scope=Scope.PROJECT,
        needs=Needs.STATIC,
        summary="a suppression comment names a rule id that does not exist",
        severity=Severity.WARNING,
        what=(
            "Checks the rule ids in `# migguard: ignore[...]` and "
            "`# migguard: ignore-file[...]` comments against migguard's rule registry."
        ),
        why=(
            "A misspelt id suppresses nothing, so the finding it was meant for stays (or, "
            "after a fix, a later finding of the real rule goes unnoticed behind a comment "
            "that looks like it covers it)."
        ),
        example=(
            "# migguard: ignore[index-names]\n"
            'op.create_index("idx_users_email", "users", ["email"])'
        ),
        use_instead=(
            '# migguard: ignore[index-name]\nop.create_index("idx_users_email", "users", ["email"])'
        ),
    )
)
