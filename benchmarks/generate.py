"""Synthetic Alembic projects of N revisions, for timing migguard against the alternatives.

A generated project looks like a real application's migration history: tables created with
primary keys, foreign keys, unique constraints, indexes and PostgreSQL enum types; columns
added, altered (type widened, nullability relaxed), renamed and dropped; every revision with a
downgrade that undoes exactly its upgrade, and ``models.py`` describing the schema at head. It
holds no data, so each revision costs only its DDL.

The same ``(revisions, seed)`` always gives the same files, so timings of two runs compare the
same work. ``migguard check`` on a generated project finds nothing: that is checked by
``tests/test_benchmark_generator.py``, and a finding would mean the generator is wrong.

    python benchmarks/generate.py 300 /tmp/bench300
"""

from __future__ import annotations

import argparse
import hashlib
import random
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_NOUNS = [
    "account",
    "article",
    "asset",
    "booking",
    "brand",
    "campaign",
    "cart",
    "category",
    "channel",
    "comment",
    "company",
    "contract",
    "coupon",
    "customer",
    "delivery",
    "department",
    "device",
    "discount",
    "document",
    "employee",
    "event",
    "feedback",
    "invoice",
    "issue",
    "item",
    "label",
    "lead",
    "ledger",
    "license",
    "location",
    "message",
    "milestone",
    "note",
    "notification",
    "order",
    "organization",
    "package",
    "partner",
    "payment",
    "permission",
    "plan",
    "policy",
    "product",
    "profile",
    "project",
    "promotion",
    "purchase",
    "queue",
    "quote",
    "receipt",
    "refund",
    "region",
    "release",
    "report",
    "request",
    "review",
    "role",
    "schedule",
    "session",
    "shipment",
    "skill",
    "sprint",
    "store",
    "subscription",
    "supplier",
    "survey",
    "tag",
    "task",
    "team",
    "template",
    "ticket",
    "token",
    "transfer",
    "upload",
    "vendor",
    "voucher",
    "warehouse",
    "webhook",
    "workflow",
]

_ATTRIBUTES = [
    "title",
    "summary",
    "code",
    "reference",
    "status_note",
    "external_id",
    "slug",
    "description",
    "color",
    "source",
    "priority_note",
    "owner_name",
    "contact_email",
    "phone",
    "url",
    "locale",
    "timezone",
    "currency",
    "country",
    "city",
    "street",
    "postal_code",
    "remark",
    "alias",
    "handle",
]

_ENUM_LABELS = (
    ("draft", "active", "archived"),
    ("low", "normal", "high", "urgent"),
    ("pending", "approved", "rejected"),
    ("new", "open", "closed"),
    ("bronze", "silver", "gold", "platinum"),
)

# Column types as written in models.py and in revisions (the same text in both).
_SCALAR_TYPES = (
    "sa.String(50)",
    "sa.String(120)",
    "sa.String(255)",
    "sa.Text()",
    "sa.Integer()",
    "sa.BigInteger()",
    "sa.Boolean()",
    "sa.Numeric(12, 2)",
    "sa.Date()",
    "sa.DateTime(timezone=True)",
)
_PYTHON_TYPES = {
    "sa.Text()": "str",
    "sa.Integer()": "int",
    "sa.BigInteger()": "int",
    "sa.Boolean()": "bool",
    "sa.Numeric(12, 2)": "decimal.Decimal",
    "sa.Date()": "datetime.date",
    "sa.DateTime(timezone=True)": "datetime.datetime",
}


@dataclass
class ColumnSpec:
    name: str
    type: str  # SQLAlchemy type expression, e.g. "sa.String(50)"
    nullable: bool = True
    primary_key: bool = False
    references: str | None = None  # referred table (its "id" column)
    enum: str | None = None  # PostgreSQL enum type name when type is an enum
    labels: tuple[str, ...] = ()
    index: bool = False
    unique: bool = False
    server_default: str | None = None  # Python expression, e.g. 'sa.text("now()")'

    @property
    def plain(self) -> bool:
        """Free to drop, rename or alter: no key, reference, enum, index or default."""
        return not (
            self.primary_key
            or self.references
            or self.enum
            or self.index
            or self.unique
            or self.server_default
        )

    def sa_type(self) -> str:
        if self.enum:
            labels = ", ".join(repr(label) for label in self.labels)
            return f"sa.Enum({labels}, name={self.enum!r})"
        return self.type


@dataclass
class TableSpec:
    name: str
    singular: str
    columns: dict[str, ColumnSpec] = field(default_factory=dict)


@dataclass
class Revision:
    revision: str
    down_revision: str | None
    message: str
    upgrade: list[str]
    downgrade: list[str]
    header: list[str] = field(default_factory=list)  # module-level lines (shared enum objects)


class HistoryBuilder:
    """Builds revisions one at a time, keeping the schema they lead to in ``tables``."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.tables: dict[str, TableSpec] = {}
        self.revisions: list[Revision] = []
        self._nouns = list(_NOUNS)
        self.rng.shuffle(self._nouns)
        self._enum_count = 0

    # -- naming -------------------------------------------------------------------------

    def _new_table(self) -> TableSpec:
        index = len(self.tables)
        noun = self._nouns[index % len(self._nouns)]
        suffix = "" if index < len(self._nouns) else f"_{index // len(self._nouns) + 1}"
        plural = f"{noun[:-1]}ies" if noun.endswith("y") else f"{noun}s"
        return TableSpec(f"{plural}{suffix}", f"{noun}{suffix}")

    def _new_column_name(self, table: TableSpec) -> str:
        for _ in range(100):
            name = self.rng.choice(_ATTRIBUTES)
            if name not in table.columns:
                return name
        n = 2
        while f"extra_{n}" in table.columns:
            n += 1
        return f"extra_{n}"

    def _revision_id(self) -> str:
        seed = f"{len(self.revisions)}-{self.rng.random()}".encode()
        return hashlib.sha1(seed).hexdigest()[:12]

    # -- one revision ----------------------------------------------------------------------

    def add_revision(self) -> Revision:
        if len(self.tables) < 3:
            kind = "create_table"
        else:
            kind = self.rng.choices(
                (
                    "create_table",
                    "add_column",
                    "add_index",
                    "add_foreign_key",
                    "add_enum_column",
                    "alter_column",
                    "rename_column",
                    "drop_column",
                ),
                weights=(22, 22, 10, 10, 6, 14, 6, 10),
            )[0]
        body = getattr(self, f"_{kind}")()
        if body is None:  # nothing eligible for that change: a new table always works
            body = self._create_table()
        message, upgrade, downgrade, header = body
        previous = self.revisions[-1].revision if self.revisions else None
        revision = Revision(self._revision_id(), previous, message, upgrade, downgrade, header)
        self.revisions.append(revision)
        return revision

    def _create_table(self) -> tuple[str, list[str], list[str], list[str]]:
        table = self._new_table()
        name = table.name
        columns = [ColumnSpec("id", "sa.Integer()", nullable=False, primary_key=True)]
        columns.append(ColumnSpec("name", self.rng.choice(_SCALAR_TYPES[:3]), nullable=False))
        if self.tables and self.rng.random() < 0.7:
            referred = self.rng.choice(sorted(self.tables))
            columns.append(
                ColumnSpec(
                    f"{self.tables[referred].singular}_id",
                    "sa.Integer()",
                    nullable=self.rng.random() < 0.5,
                    references=referred,
                    index=True,
                )
            )
        if self.rng.random() < 0.4:
            columns.append(self._enum_column(name, "status"))
        if self.rng.random() < 0.4:
            columns.append(ColumnSpec("code", "sa.String(50)", nullable=False, unique=True))
        columns.append(
            ColumnSpec(
                "created_at",
                "sa.DateTime(timezone=True)",
                nullable=False,
                server_default='sa.text("now()")',
            )
        )
        for column in columns:
            table.columns[column.name] = column
        self.tables[name] = table

        lines = [f'op.create_table(\n    "{name}",']
        for column in columns:
            lines.append(f"    {_column_expr(column)},")
        lines.append(f'    sa.PrimaryKeyConstraint("id", name=op.f("pk_{name}")),')
        for column in columns:
            if column.references:
                lines.append(
                    f'    sa.ForeignKeyConstraint(["{column.name}"], ["{column.references}.id"], '
                    f'name=op.f("fk_{name}_{column.name}_{column.references}")),'
                )
            if column.unique:
                unique = f'op.f("uq_{name}_{column.name}")'
                lines.append(f'    sa.UniqueConstraint("{column.name}", name={unique}),')
        lines.append(")")
        upgrade = ["\n".join(lines)]
        downgrade: list[str] = []
        for column in columns:
            if column.index:
                upgrade.append(_create_index(name, column.name))
                downgrade.append(_drop_index(name, column.name))
        downgrade.append(f'op.drop_table("{name}")')
        for column in columns:
            if column.enum:
                downgrade.append(
                    f'sa.Enum(name="{column.enum}").drop(op.get_bind(), checkfirst=False)'
                )
        return f"create {name}", upgrade, list(downgrade), []

    def _enum_column(self, table: str, suffix: str) -> ColumnSpec:
        self._enum_count += 1
        labels = _ENUM_LABELS[self._enum_count % len(_ENUM_LABELS)]
        return ColumnSpec(
            suffix,
            "",
            nullable=self.rng.random() < 0.5,
            enum=f"{table}_{suffix}",
            labels=labels,
        )

    def _pick_table(self) -> TableSpec:
        return self.tables[self.rng.choice(sorted(self.tables))]

    def _add_column(self) -> tuple[str, list[str], list[str], list[str]]:
        table = self._pick_table()
        column = ColumnSpec(self._new_column_name(table), self.rng.choice(_SCALAR_TYPES))
        column.index = self.rng.random() < 0.25
        table.columns[column.name] = column
        upgrade = [f'op.add_column("{table.name}", {_column_expr(column)})']
        downgrade = [f'op.drop_column("{table.name}", "{column.name}")']
        if column.index:
            upgrade.append(_create_index(table.name, column.name))
            downgrade.insert(0, _drop_index(table.name, column.name))
        return f"add {table.name}.{column.name}", upgrade, downgrade, []

    def _add_index(self) -> tuple[str, list[str], list[str], list[str]] | None:
        candidates = [
            (t, c)
            for t in sorted(self.tables)
            for c in self.tables[t].columns.values()
            if c.plain and c.type != "sa.Text()"
        ]
        if not candidates:
            return None
        table, column = self.rng.choice(candidates)
        column.index = True
        return (
            f"index {table}.{column.name}",
            [_create_index(table, column.name)],
            [_drop_index(table, column.name)],
            [],
        )

    def _add_foreign_key(self) -> tuple[str, list[str], list[str], list[str]] | None:
        table = self._pick_table()
        older = list(self.tables)[: list(self.tables).index(table.name)]
        if not older:  # only tables created before it: no foreign key cycles
            return None
        referred = self.rng.choice(older)
        name = f"{self.tables[referred].singular}_id"
        if name in table.columns:
            return None
        column = ColumnSpec(name, "sa.Integer()", references=referred, index=True)
        table.columns[name] = column
        fk = f"fk_{table.name}_{name}_{referred}"
        upgrade = [
            f'op.add_column("{table.name}", {_column_expr(column)})',
            f'op.create_foreign_key(op.f("{fk}"), "{table.name}", "{referred}", ["{name}"], '
            '["id"])',
            _create_index(table.name, name),
        ]
        downgrade = [
            _drop_index(table.name, name),
            f'op.drop_constraint(op.f("{fk}"), "{table.name}", type_="foreignkey")',
            f'op.drop_column("{table.name}", "{name}")',
        ]
        return f"link {table.name} to {referred}", upgrade, downgrade, []

    def _add_enum_column(self) -> tuple[str, list[str], list[str], list[str]] | None:
        table = self._pick_table()
        suffix = self.rng.choice(("kind", "stage", "tier", "visibility"))
        if suffix in table.columns:
            return None
        column = self._enum_column(table.name, suffix)
        if not column.nullable:  # the table has rows in production: they need a value
            column.server_default = f"sa.text(\"'{column.labels[0]}'\")"
        table.columns[suffix] = column
        variable = f"{suffix}_enum"
        labels = ", ".join(repr(label) for label in column.labels)
        header = [
            f"{variable} = postgresql.ENUM({labels}, name={column.enum!r}, create_type=False)"
        ]
        nullable = "True" if column.nullable else "False"
        default = f", server_default={column.server_default}" if column.server_default else ""
        upgrade = [
            f"{variable}.create(op.get_bind())",
            f'op.add_column("{table.name}", sa.Column("{suffix}", {variable}, '
            f"nullable={nullable}{default}))",
        ]
        downgrade = [
            f'op.drop_column("{table.name}", "{suffix}")',
            f"{variable}.drop(op.get_bind())",
        ]
        return f"add {table.name}.{suffix}", upgrade, downgrade, header

    def _alter_column(self) -> tuple[str, list[str], list[str], list[str]] | None:
        candidates = [
            (t, c)
            for t in sorted(self.tables)
            for c in self.tables[t].columns.values()
            if c.plain and (c.type.startswith("sa.String(") or not c.nullable)
        ]
        if not candidates:
            return None
        table, column = self.rng.choice(candidates)
        old_type, old_nullable = column.type, column.nullable
        if column.type.startswith("sa.String("):
            length = int(column.type[len("sa.String(") : -1])
            column.type = f"sa.String({length + 50})"
        if not column.nullable:
            column.nullable = True

        def alter(to_type: str, from_type: str, nullable: bool, was_nullable: bool) -> str:
            parts = [f'"{table}"', f'"{column.name}"', f"existing_type={from_type}"]
            if to_type != from_type:
                parts.append(f"type_={to_type}")
            if nullable != was_nullable:
                parts.append(f"nullable={nullable}")
            else:
                parts.append(f"existing_nullable={nullable}")
            return f"op.alter_column({', '.join(parts)})"

        upgrade = [alter(column.type, old_type, column.nullable, old_nullable)]
        downgrade = [alter(old_type, column.type, old_nullable, column.nullable)]
        return f"alter {table}.{column.name}", upgrade, downgrade, []

    def _rename_column(self) -> tuple[str, list[str], list[str], list[str]] | None:
        candidates = [
            (t, c)
            for t in sorted(self.tables)
            for c in self.tables[t].columns.values()
            if c.plain and c.name in _ATTRIBUTES
        ]
        if not candidates:
            return None
        table_name, column = self.rng.choice(candidates)
        table = self.tables[table_name]
        new_name = f"{column.name}_v2"
        if new_name in table.columns:
            return None
        old_name = column.name
        del table.columns[old_name]
        column.name = new_name
        table.columns[new_name] = column
        upgrade = [f'op.alter_column("{table_name}", "{old_name}", new_column_name="{new_name}")']
        downgrade = [f'op.alter_column("{table_name}", "{new_name}", new_column_name="{old_name}")']
        return f"rename {table_name}.{old_name}", upgrade, downgrade, []

    def _drop_column(self) -> tuple[str, list[str], list[str], list[str]] | None:
        candidates = [
            (t, c)
            for t in sorted(self.tables)
            for c in self.tables[t].columns.values()
            if not (c.primary_key or c.references or c.enum or c.unique or c.server_default)
            and c.name not in ("id", "name")
        ]
        if not candidates:
            return None
        table, column = self.rng.choice(candidates)
        del self.tables[table].columns[column.name]
        upgrade = [f'op.drop_column("{table}", "{column.name}")']
        downgrade = [f'op.add_column("{table}", {_column_expr(column)})']
        if column.index:
            upgrade.insert(0, _drop_index(table, column.name))
            downgrade.append(_create_index(table, column.name))
        return f"drop {table}.{column.name}", upgrade, downgrade, []


def _column_expr(column: ColumnSpec) -> str:
    """``sa.Column(...)`` as a revision writes it (constraints are named separately)."""
    parts = [f'"{column.name}"', column.sa_type()]
    parts.append(f"nullable={column.nullable}")
    if column.server_default:
        parts.append(f"server_default={column.server_default}")
    return f"sa.Column({', '.join(parts)})"


def _create_index(table: str, column: str) -> str:
    return f'op.create_index(op.f("ix_{table}_{column}"), "{table}", ["{column}"])'


def _drop_index(table: str, column: str) -> str:
    return f'op.drop_index(op.f("ix_{table}_{column}"), table_name="{table}")'


# -- rendering --------------------------------------------------------------------------------


def _revision_source(rev: Revision) -> str:
    def body(lines: list[str]) -> str:
        return textwrap.indent("\n".join(lines), "    ")

    uses_postgresql = any("postgresql." in line for line in rev.header)
    imports = ["import sqlalchemy as sa", "from alembic import op"]
    if uses_postgresql:
        imports.append("from sqlalchemy.dialects import postgresql")
    header = "\n".join(rev.header)
    down = repr(rev.down_revision)
    return (
        f'"""{rev.message}\n\nRevision ID: {rev.revision}\n'
        + f'Revises: {rev.down_revision or ""}\n"""\n\n'
        + "\n".join(imports)
        + f"\n\nrevision = {rev.revision!r}\ndown_revision = {down}\n"
        + "branch_labels = None\ndepends_on = None\n"
        + (f"\n{header}\n" if header else "")
        + f"\n\ndef upgrade() -> None:\n{body(rev.upgrade)}\n"
        + f"\n\ndef downgrade() -> None:\n{body(rev.downgrade)}\n"
    )


def _class_name(table: str) -> str:
    return "".join(part.capitalize() for part in table.split("_"))


def _python_type(column: ColumnSpec) -> str:
    if column.enum or column.type.startswith("sa.String("):
        base = "str"
    else:
        base = _PYTHON_TYPES[column.type]
    return f"{base} | None" if column.nullable else base


def _models_source(tables: dict[str, TableSpec]) -> str:
    lines = [
        '"""The application\'s models: the schema the migration history leads to."""',
        "",
        "import datetime",
        "import decimal",
        "",
        "import sqlalchemy as sa",
        "from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column",
        "",
        f"NAMING_CONVENTION = {NAMING_CONVENTION!r}",
        "",
        "",
        "class Base(DeclarativeBase):",
        "    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)",
        "",
    ]
    for table in tables.values():
        lines += ["", f"class {_class_name(table.name)}(Base):"]
        lines.append(f'    __tablename__ = "{table.name}"')
        lines.append("")
        for column in table.columns.values():
            args = [column.sa_type()]
            if column.references:
                args.append(f'sa.ForeignKey("{column.references}.id")')
            if column.primary_key:
                args.append("primary_key=True")
            else:
                args.append(f"nullable={column.nullable}")
            if column.index:
                args.append("index=True")
            if column.unique:
                args.append("unique=True")
            if column.server_default:
                args.append(f"server_default={column.server_default}")
            lines.append(
                f"    {column.name}: Mapped[{_python_type(column)}] = "
                f"mapped_column({', '.join(args)})"
            )
        lines.append("")
    lines += ["", "target_metadata = Base.metadata", ""]
    return "\n".join(lines)


ENV_PY = '''"""Alembic environment: the connection (or engine) a caller shares through
config.attributes["connection"] (migguard, pytest-alembic, the benchmark's floor), else a sync
engine on DATABASE_URL or sqlalchemy.url."""

import os

from alembic import context
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import Connection

from models import target_metadata

config = context.config


def _url() -> str:
    return os.environ.get("DATABASE_URL") or config.get_main_option("sqlalchemy.url")


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    shared = config.attributes.get("connection")  # a Connection, or pytest-alembic's Engine
    if isinstance(shared, Connection):
        _run(shared)
        return
    engine = shared if shared is not None else create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
'''

ALEMBIC_INI = """[alembic]
script_location = %(here)s/migrations
prepend_sys_path = %(here)s
path_separator = os
sqlalchemy.url = postgresql+psycopg2://postgres@localhost/benchmark_app
"""

SCRIPT_MAKO = '''"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
"""

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
'''

# pytest-alembic's built-in tests need an ``alembic_engine``: a fresh database per test on the
# server named by BENCHMARK_ADMIN_URL, as pytest-mock-resources would give.
CONFTEST = '''"""pytest-alembic's fixtures: a fresh PostgreSQL database for each test."""

import os
import uuid

import pytest
import sqlalchemy as sa


@pytest.fixture
def alembic_engine():
    admin = sa.create_engine(
        os.environ["BENCHMARK_ADMIN_URL"], isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
    )
    name = f"pytest_alembic_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = sa.create_engine(admin.url.set(database=name), poolclass=sa.pool.NullPool)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
'''

PYTEST_INI = """[pytest]
pytest_alembic_tests_path = conftest.py
"""


def generate(revisions: int, directory: Path, seed: int = 20240601) -> Path:
    """Write a project of ``revisions`` revisions into ``directory``; return it."""
    builder = HistoryBuilder(seed)
    for _ in range(revisions):
        builder.add_revision()
    versions = directory / "migrations" / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    (directory / "alembic.ini").write_text(ALEMBIC_INI, encoding="utf-8")
    (directory / "migrations" / "env.py").write_text(ENV_PY, encoding="utf-8")
    (directory / "migrations" / "script.py.mako").write_text(SCRIPT_MAKO, encoding="utf-8")
    (directory / "models.py").write_text(_models_source(builder.tables), encoding="utf-8")
    (directory / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (directory / "pytest.ini").write_text(PYTEST_INI, encoding="utf-8")
    for number, rev in enumerate(builder.revisions, start=1):
        slug = rev.message.replace(".", "_").replace(" ", "_")
        path = versions / f"{number:04d}_{rev.revision}_{slug}.py"
        path.write_text(_revision_source(rev), encoding="utf-8")
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revisions", type=int)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()
    generate(args.revisions, args.directory, args.seed)
    print(args.directory)


if __name__ == "__main__":
    main()
