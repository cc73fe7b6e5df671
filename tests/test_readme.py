"""README.md's rule table is the registry's, so docs cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

from migguard.rules import load, table

README = Path(__file__).parent.parent / "README.md"


def test_readme_rule_table_is_generated_from_the_registry() -> None:
    assert table() in README.read_text(encoding="utf-8"), (
        "README.md's rule table is stale: paste `migguard rules --markdown` into it"
    )


def test_every_rule_documents_what_why_and_examples() -> None:
    for rule in load().values():
        assert rule.summary and rule.what and rule.why, rule.id
        assert rule.example and rule.use_instead, rule.id
