"""CRUD for books."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Query, Response, status
from sqlalchemy import select

from example_app.api.deps import Session, commit_or_409, get_or_404
from example_app.models import Author, Book
from example_app.schemas import BookCreate, BookRead, BookUpdate

router = APIRouter(prefix="/books", tags=["books"])


@router.post("", response_model=BookRead, status_code=status.HTTP_201_CREATED)
async def create_book(payload: BookCreate, session: Session) -> Book:
    # Checked up front for a clear 404; the foreign key still guards against races (409).
    await get_or_404(session, Author, payload.author_id)
    book = Book(**payload.model_dump())
    session.add(book)
    await commit_or_409(session)
    await session.refresh(book)  # load server defaults (created_at) explicitly
    return book


@router.get("", response_model=list[BookRead])
async def list_books(
    session: Session,
    author_id: int | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> Sequence[Book]:
    stmt = select(Book).order_by(Book.id).limit(limit).offset(offset)
    if author_id is not None:
        stmt = stmt.where(Book.author_id == author_id)  # served by ix_books_author_id
    return (await session.scalars(stmt)).all()


@router.get("/{book_id}", response_model=BookRead)
async def get_book(book_id: int, session: Session) -> Book:
    return await get_or_404(session, Book, book_id)


@router.patch("/{book_id}", response_model=BookRead)
async def update_book(book_id: int, payload: BookUpdate, session: Session) -> Book:
    book = await get_or_404(session, Book, book_id)
    changes = payload.model_dump(exclude_unset=True, exclude_none=True)
    if "author_id" in changes:
        await get_or_404(session, Author, changes["author_id"])
    for field, value in changes.items():
        setattr(book, field, value)
    await commit_or_409(session)
    return book


@router.delete("/{book_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_book(book_id: int, session: Session) -> Response:
    book = await get_or_404(session, Book, book_id)
    await session.delete(book)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
