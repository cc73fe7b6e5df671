"""PostgreSQL in a Docker container through testcontainers, to match production's version."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import URL

from migguard.database.base import ADMIN_DRIVER, Server
from migguard.errors import MigguardError

DEFAULT_VERSION = "16"


def availability() -> str | None:
    try:
        import docker  # installed with testcontainers
    except ImportError:
        return "testcontainers is not installed (pip install 'migguard[docker]')"
    try:
        client = docker.from_env(timeout=3)
        client.ping()
        client.close()
    except Exception as exc:
        return f"no Docker engine answers ({str(exc).splitlines()[0][:120]})"
    return None


@contextmanager
def provide(version: str | None = None) -> Iterator[Server]:
    reason = availability()
    if reason is not None:
        raise MigguardError(f"--db docker: {reason}")
    from testcontainers.postgres import PostgresContainer

    image = f"postgres:{version or DEFAULT_VERSION}"
    container = PostgresContainer(
        image, username="postgres", password="postgres", dbname="postgres"
    )
    container.with_command(
        "postgres -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    try:
        container.start()
    except Exception as exc:
        raise MigguardError(f"cannot start {image}: {str(exc).splitlines()[0]}") from exc
    try:
        url = URL.create(
            ADMIN_DRIVER,
            username="postgres",
            password="postgres",
            host=container.get_container_host_ip(),
            port=int(container.get_exposed_port(5432)),
            database="postgres",
        )
        yield Server(kind="docker", admin_url=url, version=version or DEFAULT_VERSION)
    finally:
        container.stop()
