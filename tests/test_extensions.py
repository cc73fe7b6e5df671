"""Which extensions a migration creates, read from its source text."""

from __future__ import annotations

from migguard.extensions import created_in


def test_every_way_a_revision_spells_create_extension() -> None:
    source = "\n".join(
        [
            """op.execute('CREATE EXTENSION IF NOT EXISTS "uuid-ossp"')""",
            """op.execute("CREATE EXTENSION IF NOT EXISTS \\"pgcrypto\\"")""",
            """op.execute("create extension citext")""",
            """op.execute(sa.text('CREATE EXTENSION IF NOT EXISTS postgis;'))""",
            """op.execute("CREATE EXTENSION IF NOT EXISTS plpgsql")""",
            """op.execute("DROP EXTENSION IF EXISTS hstore")""",
        ]
    )
    assert created_in(source) == [
        ("uuid-ossp", 1),
        ("pgcrypto", 2),
        ("citext", 3),
        ("postgis", 4),
    ]


def test_a_source_without_extensions_needs_none() -> None:
    assert created_in("op.add_column('t', sa.Column('extension', sa.Text()))") == []


def test_comments_and_docstrings_that_mention_an_extension_do_not_count() -> None:
    source = '''"""Needs CREATE EXTENSION postgis, run by the DBA."""

# CREATE EXTENSION IF NOT EXISTS vector  -- done in the base image


def upgrade() -> None:
    """CREATE EXTENSION hstore happens in 0001."""
    op.execute(
        """
        CREATE EXTENSION IF NOT EXISTS "uuid-ossp"
        """
    )
'''
    assert created_in(source) == [("uuid-ossp", 10)]
