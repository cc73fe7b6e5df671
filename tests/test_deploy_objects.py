"""The running release's contract meets tables the rehearsal's generator filled, and writes
rows as its ORM would: on a real PostgreSQL, with models defined here (the test's process is
not migguard's; the worker imports a release's models the same way)."""

from __future__ import annotations

import datetime
import enum
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, declarative_base, relationship
from sqlalchemy.pool import NullPool

from migguard.deploy import contract
from migguard.deploy.objects import Objects
from migguard.rehearsal import rows

pytestmark = pytest.mark.postgres

SCHEMA = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE users (
  id serial PRIMARY KEY,
  email varchar(200) NOT NULL UNIQUE CHECK (email LIKE '%@%'),
  nickname varchar(40),
  mood mood NOT NULL,
  created_at timestamp NOT NULL,
  status text NOT NULL DEFAULT 'active'
);
CREATE TABLE posts (
  id serial PRIMARY KEY,
  author_id int NOT NULL REFERENCES users (id),
  title text NOT NULL
);
"""


class Mood(enum.Enum):
    sad = "sad"
    ok = "ok"
    happy = "happy"


Base = declarative_base()


class User(Base):  # type: ignore[misc, valid-type]
    __tablename__ = "users"

    id = sa.Column(sa.Integer, primary_key=True)
    email = sa.Column(sa.String(200), nullable=False, unique=True)
    nickname = sa.Column(sa.String(40))
    mood = sa.Column(sa.Enum(Mood, name="mood"), nullable=False)
    created_at = sa.Column(sa.DateTime, nullable=False, default=datetime.datetime.now)
    status = sa.Column(sa.Text, nullable=False, server_default="active")


class Post(Base):  # type: ignore[misc, valid-type]
    __tablename__ = "posts"

    id = sa.Column(sa.Integer, primary_key=True)
    author_id = sa.Column(sa.Integer, sa.ForeignKey("users.id"), nullable=False)
    title = sa.Column(sa.Text, nullable=False)
    author = relationship(User, backref="posts")


@pytest.fixture
def connection(pg_server: Any) -> Iterator[sa.Connection]:
    engine = sa.create_engine(pg_server.create_database(), poolclass=NullPool)
    with engine.connect() as conn:
        dbapi = conn.connection.dbapi_connection
        cursor = dbapi.cursor()
        cursor.execute(SCHEMA)  # no parameters: the % of LIKE stays as written
        cursor.close()
        dbapi.commit()
        yield conn
        dbapi.rollback()  # Connection.rollback() is SQLAlchemy 2's: the worker runs on 1.4 too
    engine.dispose()


def _filled(connection: sa.Connection) -> Objects:
    described, empty = rows.fill_every_table(connection.connection.dbapi_connection, batched=True)
    assert empty == {}
    return Objects(described)


def _statements(connection: sa.Connection) -> list[tuple[str, Any]]:
    sent: list[tuple[str, Any]] = []

    @sa.event.listens_for(connection, "before_cursor_execute")
    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        sent.append((statement, parameters))

    return sent


def test_the_insert_names_only_what_the_orm_sends_and_fits_the_filled_rows(connection) -> None:
    """The application must set email and mood (NOT NULL, no default); the ORM adds
    created_at (a Python default) and an explicit NULL nickname; status (a server default)
    and id (the sequence) are not named. The generated email satisfies the CHECK and is
    none of the filled rows' (UNIQUE), the enum value is a member of the model's enum."""
    objects = _filled(connection)
    filled = connection.exec_driver_sql("SELECT email FROM users").scalars().all()
    assert filled  # the CHECK's own literal is the value that fits, once: UNIQUE
    sent = _statements(connection)
    with Session(bind=connection) as session:
        user = objects.build(session, sa.inspect(User))
        assert isinstance(user.mood, Mood)
        assert "@" in user.email and user.email not in filled
        assert user.nickname is None and user.created_at is None
        session.add(user)
        session.flush()
    (insert,) = [(s, p) for s, p in sent if s.startswith("INSERT INTO users")]
    columns = insert[0].split("(", 1)[1].split(")", 1)[0].replace(" ", "").split(",")
    assert sorted(columns) == ["created_at", "email", "mood", "nickname"]
    assert insert[1]["nickname"] is None


def test_a_foreign_key_points_at_a_row_the_fill_wrote(connection) -> None:
    objects = _filled(connection)
    ids = set(connection.exec_driver_sql("SELECT id FROM users").scalars().all())
    with Session(bind=connection) as session:
        post = objects.build(session, sa.inspect(Post))
        assert post.author_id in ids
        session.add(post)
        session.flush()
        assert objects.change(session, post, sa.inspect(Post)) == ["title"]
        session.flush()


def test_the_contract_meets_tables_that_hold_rows(connection) -> None:
    """Every statement of matching models works, and the ORM's SELECT of each class reads
    the rows the rehearsal's generator wrote (all rolled back afterwards)."""
    read: dict[str, int] = {}

    @sa.event.listens_for(connection, "after_cursor_execute")
    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        if (
            statement.startswith(("SELECT users.id", "SELECT posts.id"))
            and "WHERE" not in statement
        ):
            read.setdefault(statement.split(".", 1)[0][7:], cursor.rowcount)

    done = contract.exercise(connection, [sa.inspect(User), sa.inspect(Post)], [])
    assert done.left_empty == []
    statuses = {(c.model, c.statement, c.attribute): c.status for c in done.checks}
    assert set(statuses.values()) == {"ok"}, done.checks
    assert ("Post", "SELECT", "author") in statuses
    assert read["users"] > 0 and read["posts"] > 0
    assert connection.exec_driver_sql("SELECT count(*) FROM users").scalar() == 0


def test_a_table_no_generated_row_fits_is_named_with_why(connection) -> None:
    """The fill's own verdict reaches the run as a note: the statements on that table meet
    an empty table, and whatever fails there stays unjudged."""
    cursor = connection.connection.dbapi_connection.cursor()
    cursor.execute("CREATE TABLE codes (code text NOT NULL CHECK (code <> lower(code)))")
    cursor.close()
    connection.connection.dbapi_connection.commit()
    done = contract.exercise(connection, [sa.inspect(User), sa.inspect(Post)], [])
    assert done.left_empty == ["codes (no generated row satisfied its constraints)"]
