"""The ASGI app: ``uvicorn example_app.main:app``.

There is deliberately no ``Base.metadata.create_all()`` here. The schema belongs to Alembic
alone; an app that creates tables on start-up hides missing migrations until production.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from example_app.api import router
from example_app.db import engine


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield
    # Close pooled connections cleanly so PostgreSQL doesn't log aborted sessions.
    await engine.dispose()


app = FastAPI(title="migguard example app", version="0.1.0", lifespan=lifespan)
app.include_router(router)
