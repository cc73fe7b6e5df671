"""HTTP routes, one module per resource; ``router`` gathers them for the app."""

from fastapi import APIRouter

from example_app.api import authors, books, health

router = APIRouter()
router.include_router(health.router)
router.include_router(authors.router)
router.include_router(books.router)
