"""add book status

Revision ID: 0003_add_book_status
Revises: 0002_create_books
Create Date: 2025-01-06 10:10:00.000000

The enum type is created and dropped explicitly: ``add_column``/``drop_column`` do not
manage PostgreSQL types, so relying on them would leave ``book_status`` behind after a
downgrade (and make the next upgrade fail with "type already exists").
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0003_add_book_status"
down_revision: str | Sequence[str] | None = "0002_create_books"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# create_type=False: the column must not try to create the type a second time.
book_status = postgresql.ENUM(
    "draft", "published", "archived", name="book_status", create_type=False
)


def upgrade() -> None:
    """Upgrade schema."""
    book_status.create(op.get_bind())
    # The server default fills existing rows, so NOT NULL holds without a backfill step.
    op.add_column(
        "books",
        sa.Column(
            "status",
            book_status,
            server_default=sa.text("'draft'"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_column("books", "status")
    book_status.drop(op.get_bind())
