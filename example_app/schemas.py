"""API models, kept apart from the ORM so the wire format can change without a migration."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from example_app.models import BookStatus

# The same limits as the columns: a too-long value is a 422 here, not a 500 from PostgreSQL.
Name = Annotated[str, Field(min_length=1, max_length=200)]
Email = Annotated[str, Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]
Title = Annotated[str, Field(min_length=1, max_length=300)]
# Mirrors ck_books_pages_positive, so bad input is rejected before it reaches the database.
Pages = Annotated[int, Field(gt=0)]


class AuthorCreate(BaseModel):
    name: Name
    email: Email


class AuthorUpdate(BaseModel):
    """Partial update: fields left out (or sent as null) keep their value."""

    name: Name | None = None
    email: Email | None = None


class AuthorRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    email: str
    created_at: datetime


class BookCreate(BaseModel):
    author_id: int
    title: Title
    pages: Pages
    status: BookStatus = BookStatus.draft


class BookUpdate(BaseModel):
    """Partial update, like AuthorUpdate; moving a book to another author is allowed."""

    author_id: int | None = None
    title: Title | None = None
    pages: Pages | None = None
    status: BookStatus | None = None


class BookRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    author_id: int
    title: str
    pages: int
    status: BookStatus
    created_at: datetime


class Health(BaseModel):
    status: str
