"""ORM models: the target schema that Alembic autogenerate compares the database against.

The naming convention makes every constraint and index name deterministic, so revision
files can name them explicitly and a later ``drop_constraint`` never has to guess what
PostgreSQL called something.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    MetaData,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class BookStatus(str, enum.Enum):
    """Member names equal their values: SQLAlchemy stores names, the API speaks values."""

    draft = "draft"
    published = "published"
    archived = "archived"


class Author(Base):
    __tablename__ = "authors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    # text("now()") rather than func.now(): it renders exactly as PostgreSQL reflects it,
    # so autogenerate with compare_server_default sees no difference.
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )

    # passive_deletes: the database's ON DELETE CASCADE removes the books, so the ORM need
    # not load them first. lazy="raise": an accidental lazy load under asyncio fails loudly.
    books: Mapped[list[Book]] = relationship(
        back_populates="author",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise",
    )


class Book(Base):
    __tablename__ = "books"
    __table_args__ = (
        UniqueConstraint("author_id", "title"),
        CheckConstraint("pages > 0", name="pages_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(300), index=True)
    pages: Mapped[int]
    status: Mapped[BookStatus] = mapped_column(
        Enum(BookStatus, name="book_status"), server_default=text("'draft'")
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )

    author: Mapped[Author] = relationship(back_populates="books", lazy="raise")
