"""Git repositories of two commits, as ``breaks-running-release`` meets them on a pull request.

``main`` holds a small ORM project (users with a full name, teams through a membership table,
posts by an author) and its first revision: the release in production. ``feature`` adds one
revision and the models as that revision leaves them: the pull request.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import FIXTURES
from tests.helpers import git

ENV_PY = FIXTURES / "clean_db" / "migrations" / "env.py"
ALEMBIC_INI = FIXTURES / "clean_db" / "alembic.ini"

_FIRST_REVISION = '''"""Users, teams, memberships, posts."""

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(200), nullable=False, unique=True),
        sa.Column("full_name", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(80), nullable=False),
    )
    op.create_table(
        "memberships",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("team_id", sa.Integer(), sa.ForeignKey("teams.id"), primary_key=True),
    )
    op.create_table(
        "posts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("author_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("posts")
    op.drop_table("memberships")
    op.drop_table("teams")
    op.drop_table("users")
'''

_SECOND_REVISION = '''"""{doc}"""

import sqlalchemy as sa
from alembic import op

revision = "0002_change"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    {upgrade}


def downgrade() -> None:
    {downgrade}
'''

_MODELS = '''"""The application's models."""

import datetime
import os

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

if os.environ.get("IMPORT_LOG"):  # who imports this release's models, and which database
    database = sa.engine.make_url(os.environ["DATABASE_URL"]).database
    with open(os.environ["IMPORT_LOG"], "a", encoding="utf-8") as log:
        log.write(f"{release} {{os.getpid()}} {{os.getppid()}} {{database}}\\n")


class Base(DeclarativeBase):
    pass


memberships = sa.Table(
    "{memberships}",
    Base.metadata,
    sa.Column("user_id", sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("team_id", sa.ForeignKey("teams.id"), primary_key=True),
)


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80))


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(200), unique=True)
{user_columns}
    created_at: Mapped[datetime.datetime] = mapped_column(default=datetime.datetime.now)
    teams: Mapped[list[Team]] = relationship(secondary=memberships)


class Post(Base):
    __tablename__ = "{posts}"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(sa.String(200))
    author: Mapped[User] = relationship(backref="posts")


target_metadata = Base.metadata
'''

# The same models written the classic declarative way, which SQLAlchemy 1.4 imports too.
_CLASSIC_MODELS = '''"""The application's models ({release} release)."""

import datetime

import sqlalchemy as sa
from sqlalchemy.orm import declarative_base, relationship

Base = declarative_base()

memberships = sa.Table(
    "{memberships}",
    Base.metadata,
    sa.Column("user_id", sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("team_id", sa.ForeignKey("teams.id"), primary_key=True),
)


class Team(Base):
    __tablename__ = "teams"

    id = sa.Column(sa.Integer, primary_key=True)
    name = sa.Column(sa.String(80), nullable=False)


class User(Base):
    __tablename__ = "users"

    id = sa.Column(sa.Integer, primary_key=True)
    email = sa.Column(sa.String(200), nullable=False, unique=True)
{user_columns}
    created_at = sa.Column(sa.DateTime, nullable=False, default=datetime.datetime.now)
    teams = relationship(Team, secondary=memberships)


class Post(Base):
    __tablename__ = "{posts}"

    id = sa.Column(sa.Integer, primary_key=True)
    author_id = sa.Column(sa.Integer, sa.ForeignKey("users.id"), nullable=False)
    title = sa.Column(sa.String(200), nullable=False)
    author = relationship(User, backref="posts")


target_metadata = Base.metadata
'''

FULL_NAME = "    full_name: Mapped[str | None] = mapped_column(sa.String(200))"
CLASSIC_FULL_NAME = "    full_name = sa.Column(sa.String(200))"
DROP_FULL_NAME = {
    "upgrade": 'op.drop_column("users", "full_name")',
    "downgrade": 'op.add_column("users", sa.Column("full_name", sa.String(200)))',
}


def _models(
    root: Path,
    release: str,
    user_columns: list[str],
    posts: str = "posts",
    memberships: str = "memberships",
    *,
    classic: bool = False,
) -> None:
    text = (_CLASSIC_MODELS if classic else _MODELS).format(
        release=release,
        user_columns="\n".join(user_columns),
        posts=posts,
        memberships=memberships,
    )
    (root / "models.py").write_text(text, encoding="utf-8")


def make_repository(
    root: Path,
    *,
    base_columns: list[str],
    upgrade: str,
    downgrade: str,
    feature_columns: list[str],
    feature_posts: str = "posts",
    feature_memberships: str = "memberships",
    classic: bool = False,
) -> Path:
    """``main``: the first revision and the models ``base_columns`` describe; ``feature``:
    a second revision (``upgrade``/``downgrade`` bodies) and the models after it.
    ``classic``: models in classic declarative style (``sa.Column``), for SQLAlchemy 1.4."""
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    shutil.copy(ALEMBIC_INI, root / "alembic.ini")
    shutil.copy(ENV_PY, root / "migrations" / "env.py")
    (versions / "0001_initial.py").write_text(_FIRST_REVISION, encoding="utf-8")
    _models(root, "old", base_columns, classic=classic)
    (root / ".gitignore").write_text("__pycache__/\n", encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "the release in production")
    git(root, "checkout", "-q", "-b", "feature")
    (versions / "0002_change.py").write_text(
        _SECOND_REVISION.format(doc="The change.", upgrade=upgrade, downgrade=downgrade),
        encoding="utf-8",
    )
    _models(root, "new", feature_columns, feature_posts, feature_memberships, classic=classic)
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "the pull request")
    return root


def line_of(path: Path, text: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")
