"""Which PostgreSQL versions each provider can start, known before any server starts.

``--postgres-version 15`` exists to check migrations against the version production runs: a
run that quietly used 18 instead would report on a server nobody deploys to. So the version
asked for picks the provider under ``--db auto`` and is refused by a named provider that
cannot give it, with every provider's versions in the message; ``migguard doctor`` prints
the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from migguard.errors import MigguardError

# The providers that start a PostgreSQL of their own, in ``--db auto``'s order.
STARTING_PROVIDERS = ("embedded", "local", "docker")


@dataclass(frozen=True)
class Offer:
    """The versions one usable provider can start: full versions with their binaries, or any
    version at all (Docker pulls the image of the version asked for)."""

    provider: str
    versions: tuple[tuple[str, Path | None], ...] = ()
    any_version: bool = False

    def bindir_for(self, wanted: str) -> Path | None:
        """The binaries of the first version whose major is ``wanted``'s."""
        for version, bindir in self.versions:
            if major(version) == major(wanted):
                return bindir
        return None

    def starts(self, wanted: str | None) -> str:
        """The version a run would get: ``wanted``'s, else the first found."""
        if wanted and self.any_version:
            return wanted
        for version, _ in self.versions:
            if not wanted or major(version) == major(wanted):
                return version
        return ""

    def has(self, wanted: str) -> bool:
        return self.any_version or any(major(v) == major(wanted) for v, _ in self.versions)

    def describe(self) -> str:
        if self.any_version:
            return "any version (the postgres:<version> image)"
        return ", ".join(f"PostgreSQL {version}" for version, _ in self.versions) or "none"


def major(version: str) -> str:
    """``16`` for ``16``, ``16.4`` and ``16.4 (Debian 16.4-1)``."""
    return version.strip().split(".")[0].split()[0] if version.strip() else ""


def offer(provider: str) -> Offer | None:
    """What ``provider`` can start here; None when it cannot start anything."""
    from migguard import database
    from migguard.database.cluster import server_version

    if database.availability(provider) is not None:
        return None
    if provider == "embedded":
        from migguard.database import embedded

        bindir = embedded.find_bindir()
        return Offer(provider, ((server_version(bindir), bindir),))
    if provider == "local":
        from migguard.database import local

        found: dict[str, Path] = {}
        for bindir in local.candidate_bindirs():
            found.setdefault(server_version(bindir), bindir)
        return Offer(provider, tuple(found.items()))
    if provider == "docker":
        return Offer(provider, any_version=True)
    return None


def choose(wanted: str, candidates: list[str]) -> list[str]:
    """The candidates that can give ``wanted``; exit 2 with every provider's versions when
    none can."""
    able = [name for name in candidates if _can_give(name, wanted)]
    if able:
        return able
    who = f"--db {candidates[0]} cannot" if len(candidates) == 1 else "no provider can"
    raise MigguardError(
        f"--postgres-version {wanted}: {who} start PostgreSQL {major(wanted)} here "
        f"({summary()}); install that version's server binaries, use --db docker, or --db url "
        "with a server of that version"
    )


def check_server(wanted: str, provider: str, version: str) -> None:
    """A server that is already running (``--db url``) must be the version asked for."""
    if version and major(version) != major(wanted):
        raise MigguardError(
            f"--postgres-version {wanted}: the {provider} server runs PostgreSQL {version} "
            f"({summary()})"
        )


def summary() -> str:
    """Every starting provider's versions, or why it cannot start anything: one clause each."""
    from migguard import database

    clauses = []
    for name in STARTING_PROVIDERS:
        found = offer(name)
        if found is None:
            clauses.append(f"{name}: {database.availability(name)}")
        else:
            clauses.append(f"{name} has {found.describe()}")
    return "; ".join(clauses)


def _can_give(provider: str, wanted: str) -> bool:
    if provider not in STARTING_PROVIDERS:
        return True  # url is checked once connected; sqlite has no versions to match
    found = offer(provider)
    return found is not None and found.has(wanted)
