"""Shared route helpers: the session dependency and the one place errors become HTTP."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, status
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from example_app.db import get_db
from example_app.models import Base

Session = Annotated[AsyncSession, Depends(get_db)]

ModelT = TypeVar("ModelT", bound=Base)


async def get_or_404(session: AsyncSession, model: type[ModelT], pk: int) -> ModelT:
    """Fetch by primary key; a missing row is the client's problem (404), not ours (500)."""
    obj = await session.get(model, pk)
    if obj is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{model.__name__.lower()} {pk} not found")
    return obj


async def commit_or_409(session: AsyncSession) -> None:
    """Commit, turning constraint violations into 409 Conflict.

    Uniqueness is enforced by the database, not by a SELECT before the INSERT: only the
    constraint is free of races between concurrent requests.
    """
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        # asyncpg's own exception (the DBAPI error's cause) knows which constraint fired.
        constraint = getattr(getattr(exc.orig, "__cause__", None), "constraint_name", None)
        detail = "conflicts with existing data"
        if constraint:
            detail += f" ({constraint})"
        raise HTTPException(status.HTTP_409_CONFLICT, detail) from exc
