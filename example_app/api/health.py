"""Readiness probe: proves the app can reach PostgreSQL, not merely that it is running."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from example_app.api.deps import Session
from example_app.schemas import Health

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/db", response_model=Health)
async def health_db(session: Session) -> Health:
    try:
        await session.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        # 503 so load balancers take the instance out of rotation instead of seeing a 500.
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "database unavailable") from exc
    return Health(status="ok")
