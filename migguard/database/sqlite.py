"""A temporary SQLite file, for projects whose migrations target SQLite."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import URL

from migguard.database.base import Server


class SQLiteServer(Server):
    """Databases are files in one temp directory; dropping them is deleting the directory."""

    directory: Path

    def create_database(self, name: str | None = None, template: str | None = None) -> URL:
        from migguard.database.base import new_database_name

        name = name or new_database_name()
        path = self.directory / f"{name}.sqlite"
        if template:
            shutil.copyfile(self.directory / f"{template}.sqlite", path)
        return URL.create("sqlite", database=str(path))

    def drop_databases(self) -> None:
        self.created.clear()


@contextmanager
def provide() -> Iterator[Server]:
    directory = Path(tempfile.mkdtemp(prefix="migguard-sqlite-"))
    server = SQLiteServer(kind="sqlite", admin_url=URL.create("sqlite"), version="")
    server.directory = directory
    try:
        yield server
    finally:
        shutil.rmtree(directory, ignore_errors=True)
