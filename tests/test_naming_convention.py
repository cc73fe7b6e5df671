"""Naming convention tokens rendered from plain names, checked against SQLAlchemy itself."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import AddConstraint, CreateIndex

from migguard.naming_convention import (
    RECOMMENDED_CONVENTIONS,
    ConventionError,
    MissingPart,
    NameParts,
    conventions_from_metadata,
    effective_conventions,
    expected_name,
    follows,
    render,
    templates_by_kind,
    tokens,
    truncate,
    validate,
)

BOOKS_TITLE = NameParts(table="books", columns=("title",))


def test_default_index_convention_is_table_then_every_column() -> None:
    parts = NameParts(table="books", columns=("author_id", "title"))
    assert render(RECOMMENDED_CONVENTIONS["ix"], parts) == "ix_books_author_id_title"


def test_column_0N_name_joins_columns_without_a_separator() -> None:
    parts = NameParts(table="t", columns=("a", "b"))
    assert render("ix_%(column_0N_name)s", parts) == "ix_ab"
    assert render("ix_%(column_0_N_name)s", parts) == "ix_a_b"


def test_column_0_name_uses_the_first_column_only() -> None:
    parts = NameParts(table="t", columns=("a", "b"))
    assert render("uq_%(table_name)s_%(column_0_name)s", parts) == "uq_t_a"
    assert render("uq_%(column_1_name)s_%(column_5_name)s", parts) == "uq_b_"


def test_column_label_is_table_and_column_with_the_schema_in_front() -> None:
    assert render("ix_%(column_0_label)s", BOOKS_TITLE) == "ix_books_title"
    in_schema = NameParts(table="books", columns=("title",), schema="shop.v2")
    assert render("ix_%(column_0_label)s", in_schema) == "ix_shop_v2_books_title"
    two = NameParts(table="t", columns=("a", "b"))
    assert render("%(column_0_N_label)s_idx", two) == "t_a_t_b_idx"


def test_column_key_token_uses_the_attribute_keys_when_known() -> None:
    parts = NameParts(table="t", columns=("user_email",), column_keys=("email",))
    assert render("ix_%(column_0_key)s", parts) == "ix_email"
    assert render("ix_%(column_0_key)s", BOOKS_TITLE) == "ix_title"


def test_foreign_key_tokens_name_the_referred_table_and_columns() -> None:
    parts = NameParts(
        table="books",
        columns=("author_id",),
        referred_table="authors",
        referred_columns=("id",),
    )
    assert render(RECOMMENDED_CONVENTIONS["fk"], parts) == "fk_books_author_id_authors"
    assert render("fk_%(referred_column_0_name)s", parts) == "fk_id"
    assert render("fk_%(referred_column_0_N_name)s", parts) == "fk_id"


def test_a_name_longer_than_63_characters_is_cut_and_hashed_like_sqlalchemy() -> None:
    name = "ix_" + "x" * 70
    short = truncate(name)
    assert len(short) == 60
    assert short.startswith("ix_" + "x" * 52 + "_")
    assert truncate("ix_short") == "ix_short"


def test_follows_accepts_the_full_name_and_the_truncated_one() -> None:
    parts = NameParts(table="t" * 40, columns=("c" * 40,))
    full = render(RECOMMENDED_CONVENTIONS["ix"], parts)
    assert follows(full, RECOMMENDED_CONVENTIONS["ix"], parts)
    assert follows(truncate(full), RECOMMENDED_CONVENTIONS["ix"], parts)
    assert expected_name(RECOMMENDED_CONVENTIONS["ix"], parts) == truncate(full)
    assert not follows(full[:63], RECOMMENDED_CONVENTIONS["ix"], parts)


def test_follows_rejects_a_hand_written_index_name() -> None:
    assert not follows("idx_books_title", RECOMMENDED_CONVENTIONS["ix"], BOOKS_TITLE)
    assert follows("ix_books_title", RECOMMENDED_CONVENTIONS["ix"], BOOKS_TITLE)


def test_constraint_name_token_accepts_any_name_of_the_right_shape() -> None:
    template = RECOMMENDED_CONVENTIONS["ck"]
    assert follows("ck_books_positive_price", template, BOOKS_TITLE)
    assert follows("ck_books_x", template, BOOKS_TITLE)
    assert not follows("ck_books_", template, BOOKS_TITLE)
    assert not follows("positive_price", template, BOOKS_TITLE)
    assert not follows("ck_authors_positive", template, BOOKS_TITLE)
    suffix = "%(table_name)s_%(constraint_name)s_check"
    assert follows("books_price_check", suffix, BOOKS_TITLE)
    assert not follows("books_price", suffix, BOOKS_TITLE)


def test_constraint_name_token_accepts_a_truncated_long_name() -> None:
    template = RECOMMENDED_CONVENTIONS["ck"]
    name = truncate("ck_books_" + "very_long_condition_" * 4)
    assert follows(name, template, BOOKS_TITLE)


def test_unknown_tokens_are_a_convention_error() -> None:
    with pytest.raises(ConventionError, match="column_0_nmae"):
        validate("ix_%(column_0_nmae)s")
    with pytest.raises(ConventionError):
        validate("ix_%(column_1_N_name)s")  # SQLAlchemy only expands N from column 0
    validate("fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s")


def test_unknown_columns_are_a_missing_part_not_a_wrong_name() -> None:
    expression_index = NameParts(table="users", columns=None)
    with pytest.raises(MissingPart):
        render(RECOMMENDED_CONVENTIONS["ix"], expression_index)
    assert render("pk_%(table_name)s", expression_index) == "pk_users"


def test_tokens_lists_the_tokens_in_order() -> None:
    assert tokens(RECOMMENDED_CONVENTIONS["fk"]) == [
        "table_name",
        "column_0_N_name",
        "referred_table_name",
    ]


def test_sqlalchemy_default_convention_counts_as_no_project_convention() -> None:
    assert conventions_from_metadata(sa.MetaData().naming_convention) == {}
    assert conventions_from_metadata(None) == {}
    assert templates_by_kind(sa.MetaData().naming_convention) == {"ix": "ix_%(column_0_label)s"}


def test_project_convention_replaces_the_defaults_for_the_kinds_it_defines() -> None:
    metadata = sa.MetaData(naming_convention={"ix": "%(column_0_label)s_idx"})
    project = conventions_from_metadata(metadata.naming_convention)
    assert effective_conventions(project) == {"ix": "%(column_0_label)s_idx"}


def test_without_a_declared_convention_only_index_names_are_checked() -> None:
    assert effective_conventions() == {"ix": "ix_%(column_0_label)s"}
    declared = conventions_from_metadata({"ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s"})
    assert effective_conventions(declared) == {
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s",
    }
    opted_in = effective_conventions(overrides={"fk": "recommended"})
    assert opted_in["fk"] == RECOMMENDED_CONVENTIONS["fk"]


def test_explicit_settings_win_over_the_project_convention() -> None:
    result = effective_conventions({"ix": "%(column_0_label)s_idx"}, {"ix": "idx_%(table_name)s"})
    assert result["ix"] == "idx_%(table_name)s"


def test_class_keys_in_a_naming_convention_map_to_kinds() -> None:
    convention = {sa.Index: "i_%(column_0_name)s", sa.UniqueConstraint: "u_%(table_name)s"}
    assert conventions_from_metadata(convention) == {
        "ix": "i_%(column_0_name)s",
        "uq": "u_%(table_name)s",
    }


def test_custom_token_functions_in_a_naming_convention_are_ignored() -> None:
    convention = {"ix": "ix_%(my_token)s", "my_token": lambda constraint, table: "x"}
    assert conventions_from_metadata(convention) == {"ix": "ix_%(my_token)s"}


# --- the same names as SQLAlchemy's own naming convention machinery -------------------------

identifiers = st.from_regex(r"[a-z][a-z0-9_]{0,24}", fullmatch=True)
TEMPLATES = [
    "ix_%(column_0_label)s",
    "ix_%(table_name)s_%(column_0_N_name)s",
    "%(column_0_N_label)s_idx",
    "ix_%(table_name)s_%(column_0N_name)s",
    "uq_%(table_name)s_%(column_0_name)s_%(column_1_name)s",
    "x_%(column_0_key)s",
]


def _sqlalchemy_index_ddl(template: str, table: str, columns: list[str], schema: str | None):
    metadata = sa.MetaData(naming_convention={"ix": template})
    t = sa.Table(table, metadata, *(sa.Column(c, sa.Integer) for c in columns), schema=schema)
    index = sa.Index(None, *(t.c[c] for c in columns))
    index._set_parent(t)
    ddl = str(CreateIndex(index).compile(dialect=postgresql.dialect()))
    return ddl.split()[2].strip('"')


@settings(max_examples=150, deadline=None)
@given(
    template=st.sampled_from(TEMPLATES),
    table=identifiers,
    columns=st.lists(identifiers, min_size=1, max_size=3, unique=True),
    schema=st.one_of(st.none(), identifiers),
)
def test_index_names_match_sqlalchemy_including_truncation(
    template: str, table: str, columns: list[str], schema: str | None
) -> None:
    parts = NameParts(table=table, columns=tuple(columns), schema=schema)
    assert expected_name(template, parts) == _sqlalchemy_index_ddl(template, table, columns, schema)


@settings(max_examples=60, deadline=None)
@given(
    table=identifiers,
    referred=identifiers,
    columns=st.lists(identifiers, min_size=1, max_size=2, unique=True),
)
def test_foreign_key_names_match_sqlalchemy(table: str, referred: str, columns: list[str]) -> None:
    template = RECOMMENDED_CONVENTIONS["fk"]
    metadata = sa.MetaData(naming_convention={"fk": template})
    sa.Table(referred + "_r", metadata, *(sa.Column(c, sa.Integer) for c in columns))
    t = sa.Table(table + "_t", metadata, *(sa.Column(c, sa.Integer) for c in columns))
    fk = sa.ForeignKeyConstraint(columns, [f"{referred}_r.{c}" for c in columns])
    t.append_constraint(fk)
    ddl = str(AddConstraint(fk).compile(dialect=postgresql.dialect()))
    sqlalchemy_name = ddl.split("ADD CONSTRAINT ")[1].split()[0].strip('"')
    parts = NameParts(
        table=table + "_t",
        columns=tuple(columns),
        referred_table=referred + "_r",
        referred_columns=tuple(columns),
    )
    assert expected_name(template, parts) == sqlalchemy_name
