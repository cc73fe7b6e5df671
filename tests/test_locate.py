"""Where drift points: the model attribute that declares a column, found without importing."""

from __future__ import annotations

from pathlib import Path

from migguard.locate import find_column, find_table

MODELS = """\
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class TimestampMixin:
    created_at: Mapped[sa.DateTime] = mapped_column(sa.DateTime())


class Book(TimestampMixin, Base):
    __tablename__ = "books"

    id: Mapped[int] = mapped_column(primary_key=True)
    title = sa.Column(sa.String(200))
    isbn_code: Mapped[str] = mapped_column("isbn", sa.String(13))


tags = sa.Table(
    "tags",
    Base.metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("label", sa.String(50)),
)
"""


def _project(tmp_path: Path) -> Path:
    (tmp_path / "models.py").write_text(MODELS)
    return tmp_path


def test_a_declarative_attribute_is_found_by_its_name(tmp_path: Path) -> None:
    root = _project(tmp_path)
    assert find_column(root, "books", "title") == (root / "models.py", 17)


def test_an_attribute_naming_its_column_is_found_by_the_column_name(tmp_path: Path) -> None:
    root = _project(tmp_path)
    assert find_column(root, "books", "isbn") == (root / "models.py", 18)
    assert find_column(root, "books", "isbn_code") is None  # the database has no such column


def test_a_table_call_column_is_found(tmp_path: Path) -> None:
    root = _project(tmp_path)
    assert find_column(root, "tags", "label") == (root / "models.py", 25)


def test_a_column_from_a_mixin_is_not_guessed(tmp_path: Path) -> None:
    root = _project(tmp_path)
    assert find_column(root, "books", "created_at") is None
    assert find_column(root, "nowhere", "title") is None


def test_an_annotated_tablename_is_found(tmp_path: Path) -> None:
    """SQLModel projects type it: ``__tablename__: ClassVar[str] = "..."`` (found on
    georchestra/datafeeder, whose drift pointed at a revision file instead)."""
    (tmp_path / "rules.py").write_text(
        "from typing import ClassVar\n\nfrom sqlmodel import SQLModel\n\n\n"
        "class IntegrityLinkRule(SQLModel, table=True):\n"
        '    __tablename__: ClassVar[str] = "integrity_link_rules"  # type: ignore[misc]\n'
    )
    assert find_table(tmp_path, "integrity_link_rules") == (tmp_path / "rules.py", 7)
