"""End-to-end API tests against the migrated database."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from example_app.models import Base


def make_author(client: TestClient, **fields: Any) -> dict[str, Any]:
    payload = {"name": "Ursula K. Le Guin", "email": "ursula@example.org", **fields}
    response = client.post("/authors", json=payload)
    assert response.status_code == 201, response.text
    return response.json()


def make_book(client: TestClient, author_id: int, **fields: Any) -> dict[str, Any]:
    payload = {"author_id": author_id, "title": "The Dispossessed", "pages": 387, **fields}
    response = client.post("/books", json=payload)
    assert response.status_code == 201, response.text
    return response.json()


def test_health_db(client: TestClient) -> None:
    response = client.get("/health/db")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_author_crud(client: TestClient) -> None:
    author = make_author(client)
    assert author["id"] > 0
    assert author["created_at"]  # filled by the server default

    assert client.get(f"/authors/{author['id']}").json() == author
    assert client.get("/authors").json() == [author]

    response = client.patch(f"/authors/{author['id']}", json={"name": "U. K. Le Guin"})
    assert response.status_code == 200
    assert response.json() == {**author, "name": "U. K. Le Guin"}

    assert client.delete(f"/authors/{author['id']}").status_code == 204
    assert client.get(f"/authors/{author['id']}").status_code == 404
    assert client.get("/authors").json() == []


def test_book_crud(client: TestClient) -> None:
    author = make_author(client)
    book = make_book(client, author["id"])
    assert book["status"] == "draft"  # server default from migration 0003
    assert book["created_at"]

    assert client.get(f"/books/{book['id']}").json() == book
    assert client.get("/books", params={"author_id": author["id"]}).json() == [book]

    response = client.patch(f"/books/{book['id']}", json={"status": "published", "pages": 400})
    assert response.status_code == 200
    assert response.json() == {**book, "status": "published", "pages": 400}

    assert client.delete(f"/books/{book['id']}").status_code == 204
    assert client.get(f"/books/{book['id']}").status_code == 404


def test_missing_rows_are_404(client: TestClient) -> None:
    assert client.get("/authors/999").status_code == 404
    assert client.patch("/authors/999", json={"name": "x"}).status_code == 404
    assert client.delete("/authors/999").status_code == 404
    assert client.get("/books/999").status_code == 404
    assert client.delete("/books/999").status_code == 404
    response = client.post("/books", json={"author_id": 999, "title": "Orphan", "pages": 1})
    assert response.status_code == 404


def test_duplicate_author_email_is_409(client: TestClient) -> None:
    make_author(client)
    response = client.post("/authors", json={"name": "Someone", "email": "ursula@example.org"})
    assert response.status_code == 409
    assert "uq_authors_email" in response.json()["detail"]


def test_duplicate_title_for_same_author_is_409(client: TestClient) -> None:
    author = make_author(client)
    other = make_author(client, email="other@example.org")
    make_book(client, author["id"])
    make_book(client, other["id"])  # same title, different author: fine
    response = client.post(
        "/books", json={"author_id": author["id"], "title": "The Dispossessed", "pages": 10}
    )
    assert response.status_code == 409
    assert "uq_books_author_id_title" in response.json()["detail"]


def test_update_to_duplicate_is_409(client: TestClient) -> None:
    make_author(client)
    other = make_author(client, email="other@example.org")
    response = client.patch(f"/authors/{other['id']}", json={"email": "ursula@example.org"})
    assert response.status_code == 409
    # The failed transaction was rolled back: the row is unchanged and the app still works.
    assert client.get(f"/authors/{other['id']}").json()["email"] == "other@example.org"


def test_deleting_author_cascades_to_books(client: TestClient) -> None:
    author = make_author(client)
    book = make_book(client, author["id"])
    assert client.delete(f"/authors/{author['id']}").status_code == 204
    assert client.get(f"/books/{book['id']}").status_code == 404
    assert client.get("/books").json() == []


def test_invalid_input_is_422(client: TestClient) -> None:
    author = make_author(client)
    for pages in (0, -5):
        response = client.post(
            "/books", json={"author_id": author["id"], "title": "Empty", "pages": pages}
        )
        assert response.status_code == 422
    response = client.patch("/books/1", json={"pages": 0})
    assert response.status_code == 422
    response = client.post(
        "/books", json={"author_id": author["id"], "title": "X", "pages": 1, "status": "lost"}
    )
    assert response.status_code == 422
    assert client.post("/authors", json={"name": "", "email": "a@b"}).status_code == 422
    assert client.get("/books").json() == []


def test_pages_check_constraint_is_in_the_database(client: TestClient, sync_engine: Engine) -> None:
    """Pydantic rejects pages <= 0 first; this proves the migration added the real guard."""
    author = make_author(client)
    with (
        pytest.raises(IntegrityError, match="ck_books_pages_positive"),
        sync_engine.begin() as conn,
    ):
        conn.execute(
            text("INSERT INTO books (author_id, title, pages) VALUES (:a, 'Zero', 0)"),
            {"a": author["id"]},
        )


def test_migrations_match_models(sync_engine: Engine) -> None:
    """At head, autogenerate finds nothing to do: models and migrations agree."""
    with sync_engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, Base.metadata) == []
