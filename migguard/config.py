"""Settings: ``[tool.migguard]`` in the project's pyproject.toml, then .env, then CLI flags.

Unknown keys are an error rather than silently ignored: a misspelt ``exlcude`` that does
nothing is exactly the kind of quiet failure migguard exists to prevent.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from migguard import rules
from migguard.errors import MigguardError
from migguard.findings import Severity

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

FORMATS = ("text", "json", "github", "sarif")
PROVIDERS = ("auto", "url", "embedded", "local", "docker", "sqlite")
# Which release meets which schema during a deploy (breaks-running-release).
DEPLOY_ORDERS = ("migrate-first", "code-first")


@dataclass
class Settings:
    """Everything one run needs to know; CLI flags, config file and defaults merged."""

    path: Path = field(default_factory=lambda: Path("."))
    config_file: Path | None = None
    name: str | None = None  # the alembic.ini section, as `alembic -n NAME`
    bootstrap: str | None = None  # "package.module:function" building the starting schema
    bootstrap_sql: Path | None = None  # a schema dump to load instead
    format: str = "text"
    db: str = "auto"
    database_url: str | None = None
    postgres_version: str | None = None
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    verbose: bool = False
    static: bool = False
    since: str | None = None
    rehearse: str = "auto"  # which revisions the production rehearsal covers
    baseline: Path | None = None
    metadata: str | None = None
    flask_app: str | None = None
    exclude: tuple[str, ...] = ()
    timeout: float = 600.0
    statement_timeout: float = 60.0
    lock_timeout: float = 10.0
    env: dict[str, str] = field(default_factory=dict)
    naming: dict[str, str] = field(default_factory=dict)
    severity: dict[str, Severity] = field(default_factory=dict)
    output: Path | None = None
    deploy_order: str = "migrate-first"

    def rule_enabled(self, rule_id: str) -> bool:
        """ruff-style selection: a rule runs if selected (or nothing is) and not ignored."""
        if self.select and not _matches(rule_id, self.select):
            return False
        return not _matches(rule_id, self.ignore)


def _matches(rule_id: str, patterns: tuple[str, ...]) -> bool:
    return any(rule_id == p or (p.endswith("*") and rule_id.startswith(p[:-1])) for p in patterns)


# Keys accepted in [tool.migguard]; the CLI spelling with dashes is accepted too.
_FILE_KEYS = {
    "format",
    "db",
    "database_url",
    "postgres_version",
    "select",
    "ignore",
    "exclude",
    "baseline",
    "metadata",
    "flask_app",
    "timeout",
    "statement_timeout",
    "lock_timeout",
    "rehearse",
    "env",
    "naming",
    "severity",
    "config",
    "deploy_order",
    "name",
    "bootstrap",
    "bootstrap_sql",
}


def read_pyproject(project_dir: Path) -> tuple[dict[str, Any], Path | None]:
    """The ``[tool.migguard]`` table nearest to the project directory (walking up)."""
    for directory in [project_dir, *project_dir.parents]:
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            try:
                data = tomllib.loads(candidate.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise MigguardError(f"invalid TOML: {exc}", path=str(candidate)) from exc
            table = data.get("tool", {}).get("migguard")
            if table is not None:
                return table, candidate
            if (directory / ".git").exists():
                break
    return {}, None


def load_settings(path: Path, cli: dict[str, Any]) -> Settings:
    """Merge defaults < pyproject.toml < CLI flags (flags that were given, i.e. not None)."""
    table, source = read_pyproject(_settings_start(path, cli.get("config_file")))
    values: dict[str, Any] = {}
    for raw_key, value in table.items():
        key = raw_key.replace("-", "_")
        if key not in _FILE_KEYS:
            known = ", ".join(sorted(_FILE_KEYS))
            raise MigguardError(
                f"unknown key {raw_key!r} in [tool.migguard] (known: {known})", path=str(source)
            )
        values[key] = value
    if "config" in values:
        values["config_file"] = Path(str(values.pop("config")))
    if source is not None and isinstance(values.get("baseline"), str):
        # a baseline committed beside pyproject.toml, wherever migguard runs from
        values["baseline"] = source.parent / values["baseline"]
    _validate_file_rule_ids(values, source)
    if values.get("bootstrap_sql") and source is not None:  # relative to the file naming it
        values["bootstrap_sql"] = source.parent / str(values["bootstrap_sql"])
    for key, value in cli.items():
        if value is None or value == ():
            continue
        if key in ("select", "ignore"):
            rules.validate_ids(_as_rule_tuple(value), f"--{key}")
        values[key] = value
    values["path"] = path
    return _coerce(values, source)


def _validate_file_rule_ids(values: dict[str, Any], source: Path | None) -> None:
    """Rule ids in [tool.migguard] name registered rules: a misspelt id would silently select
    nothing, ignore nothing or override nothing."""
    where = str(source) if source else None
    text = source.read_text(encoding="utf-8") if source else ""
    for key in ("select", "ignore"):
        for rule_id in _as_rule_tuple(values.get(key, ())):
            if not rules.matches_some_rule(rule_id):
                message = rules.unknown_id_message(rule_id, f"[tool.migguard] {key}")
                raise MigguardError(message, path=where, line=_line_of(text, rule_id))
    severity = values.get("severity")
    if isinstance(severity, dict):
        for rule_id in severity:
            if not rules.matches_some_rule(str(rule_id)):
                message = rules.unknown_id_message(str(rule_id), "[tool.migguard.severity]")
                raise MigguardError(message, path=where, line=_line_of(text, str(rule_id)))


def _line_of(text: str, rule_id: str) -> int | None:
    """The pyproject.toml line that writes ``rule_id`` (quoted, or as a bare key)."""
    written = re.compile(rf"(?<![\w*-]){re.escape(rule_id)}(?![\w*-])")
    for number, line in enumerate(text.splitlines(), start=1):
        if written.search(line.split("#", 1)[0]):
            return number
    return None


def _settings_start(path: Path, config_file: Path | None) -> Path:
    """Where to start looking for [tool.migguard]: the Alembic project's own directory, so that
    ``migguard check .`` from a repository root reads ``backend/pyproject.toml`` when the
    project it finds is ``backend/alembic.ini`` (the directories above are read after it)."""
    project_dir = (path if path.is_dir() else path.parent).resolve()
    if config_file is not None or not path.is_dir():
        return project_dir
    from migguard.project import find_config

    try:
        return find_config(project_dir).parent
    except MigguardError:  # reported, with its own wording, when the project is loaded
        return project_dir


def _coerce(values: dict[str, Any], source: Path | None) -> Settings:
    where = str(source) if source else None
    settings = Settings()
    names = {f.name for f in fields(Settings)}
    for key, value in values.items():
        if key not in names:
            raise MigguardError(f"unknown setting {key!r}", path=where)
        if key in ("select", "ignore", "exclude"):
            value = _as_rule_tuple(value)
        elif key in ("timeout", "statement_timeout", "lock_timeout"):
            value = float(value)
        elif key == "bootstrap_sql" and value is not None:
            value = Path(value).resolve()  # the run changes into the project directory
        elif key in ("baseline", "config_file", "output") and value is not None:
            value = Path(value)
        elif key == "severity":
            value = _as_severity_map(value, where)
        elif key in ("env", "naming"):
            if not isinstance(value, dict):
                raise MigguardError(f"[tool.migguard.{key}] must be a table", path=where)
            value = {str(k): str(v) for k, v in value.items()}
        elif key == "format" and value not in FORMATS:
            raise MigguardError(f"format must be one of {', '.join(FORMATS)}", path=where)
        elif key == "deploy_order" and value not in DEPLOY_ORDERS:
            raise MigguardError(
                f"deploy-order must be one of {', '.join(DEPLOY_ORDERS)}, not {value!r}", path=where
            )
        elif key == "rehearse":
            from migguard.rehearsal.selection import check_mode

            value = check_mode(value)
        elif key == "db" and value not in PROVIDERS:
            raise MigguardError(f"db must be one of {', '.join(PROVIDERS)}", path=where)
        setattr(settings, key, value)
    return settings


def _as_rule_tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split(",")
    return tuple(str(v).strip() for v in value if str(v).strip())


def _as_severity_map(value: Any, where: str | None) -> dict[str, Severity]:
    if not isinstance(value, dict):
        raise MigguardError("[tool.migguard.severity] must be a table", path=where)
    result: dict[str, Severity] = {}
    for rule_id, level in value.items():
        try:
            result[str(rule_id)] = Severity(str(level))
        except ValueError:
            raise MigguardError(
                f"severity for {rule_id!r} must be 'error' or 'warning', not {level!r}", path=where
            ) from None
    return result


def load_dotenv_for(project_dir: Path) -> dict[str, str]:
    """Values from the nearest .env walking up from the project; never overrides os.environ.

    Returned so the safety guard can see which variables the project's env.py will read.
    """
    from dotenv import dotenv_values

    for directory in [project_dir, *project_dir.parents]:
        candidate = directory / ".env"
        if candidate.is_file():
            values = {k: v for k, v in dotenv_values(candidate).items() if v is not None}
            for key, value in values.items():
                os.environ.setdefault(key, value)
            return values
        if (directory / ".git").exists():
            break
    return {}
