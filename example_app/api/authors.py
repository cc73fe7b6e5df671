"""CRUD for authors."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Query, Response, status
from sqlalchemy import select

from example_app.api.deps import Session, commit_or_409, get_or_404
from example_app.models import Author
from example_app.schemas import AuthorCreate, AuthorRead, AuthorUpdate

router = APIRouter(prefix="/authors", tags=["authors"])


@router.post("", response_model=AuthorRead, status_code=status.HTTP_201_CREATED)
async def create_author(payload: AuthorCreate, session: Session) -> Author:
    author = Author(**payload.model_dump())
    session.add(author)
    await commit_or_409(session)
    await session.refresh(author)  # load server defaults (created_at) explicitly
    return author


@router.get("", response_model=list[AuthorRead])
async def list_authors(
    session: Session,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> Sequence[Author]:
    # A stable order, or pages could skip or repeat rows between requests.
    stmt = select(Author).order_by(Author.id).limit(limit).offset(offset)
    return (await session.scalars(stmt)).all()


@router.get("/{author_id}", response_model=AuthorRead)
async def get_author(author_id: int, session: Session) -> Author:
    return await get_or_404(session, Author, author_id)


@router.patch("/{author_id}", response_model=AuthorRead)
async def update_author(author_id: int, payload: AuthorUpdate, session: Session) -> Author:
    author = await get_or_404(session, Author, author_id)
    for field, value in payload.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(author, field, value)
    await commit_or_409(session)
    return author


@router.delete("/{author_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_author(author_id: int, session: Session) -> Response:
    """Deleting an author deletes their books too, through ON DELETE CASCADE."""
    author = await get_or_404(session, Author, author_id)
    await session.delete(author)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
