"""The Alembic project on disk: its config, its revision files and their graph.

Revision files are read with ``ast`` first, without importing them, so that the static rules
work without a database and a syntax error is reported with its file and line instead of a
traceback from deep inside Alembic's module loader.
"""

from __future__ import annotations

import ast
import configparser
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from migguard.errors import MigguardError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

_INI_NAMES = ("alembic.ini",)
# Flask-Migrate keeps alembic.ini inside the migration directory (``flask db init`` makes
# ``migrations/``) and sets script_location itself, to that directory
FLASK_MIGRATE_DIRECTORY = "migrations"


@dataclass
class RevisionFile:
    """A revision script as written on disk, read without running it."""

    path: Path
    relpath: str
    source: str
    tree: ast.Module
    revision: str | None
    down_revisions: tuple[str, ...]
    depends_on: tuple[str, ...] = ()
    branch_labels: tuple[str, ...] = ()
    revision_line: int | None = None
    down_revision_line: int | None = None

    def function(self, name: str) -> ast.FunctionDef | None:
        """The module-level ``upgrade``/``downgrade`` definition, if any."""
        for node in self.tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
                return node  # type: ignore[return-value]
        return None

    @property
    def lines(self) -> list[str]:
        return self.source.splitlines()


@dataclass
class Project:
    """Where the project lives and how Alembic is configured for it."""

    root: Path
    config_path: Path
    script_location: Path
    version_dirs: list[Path]
    flask_app: str | None = None  # [tool.migguard] flask-app, for Flask-Migrate's env.py
    ini_section: str = "alembic"  # `alembic -n NAME`: the section of alembic.ini to use
    _scripts: ScriptDirectory | None = field(default=None, repr=False)  # graph not loaded
    _alembic_config: Config | None = field(default=None, repr=False)
    _revision_files: list[RevisionFile] | None = field(default=None, repr=False)
    _located: bool = field(default=False, repr=False)  # script_location resolved

    @property
    def env_py(self) -> Path:
        return self.script_location / "env.py"

    def relpath(self, path: Path | str) -> str:
        """A path as reported: relative to the project root, with forward slashes."""
        absolute = Path(path).resolve()
        try:
            return absolute.relative_to(self.root).as_posix()
        except ValueError:
            return Path(os.path.relpath(absolute, self.root)).as_posix()

    def alembic_config(self) -> Config:
        """A fresh Alembic Config each call: the runner mutates attributes and main options."""
        from migguard.alembic_compat import new_config

        if self.config_path.name == "pyproject.toml":
            config = new_config(None, toml_file=self.config_path)
        else:
            toml = self.config_path.parent / "pyproject.toml"
            if toml.is_file() and _has_tool_alembic(toml):
                config = new_config(self.config_path, toml_file=toml, ini_section=self.ini_section)
            else:
                config = new_config(self.config_path, ini_section=self.ini_section)
        if self._located:
            # Alembic resolves a relative script_location (the FastAPI template's
            # "app/alembic") against the working directory; migguard runs from anywhere
            location = str(self.script_location).replace("%", "%%")
            config.set_main_option("script_location", location)
        return config

    def revision_files(self) -> list[RevisionFile]:
        """Every revision script Alembic reads (its own listing of the version directories:
        recursive only with ``recursive_version_locations``), parsed but not imported."""
        if self._revision_files is None:
            self._revision_files = [
                read_revision_file(path, self.relpath(path)) for path in self._revision_paths()
            ]
        return self._revision_files

    def _revision_paths(self) -> list[Path]:
        from alembic.script import ScriptDirectory
        from alembic.script.base import Script, _only_source_rev_file

        if self._scripts is None:  # a Project made without load_project: its directories
            if not self.script_location.is_dir():
                return []
            locations = [str(directory) for directory in self.version_dirs]
            self._scripts = ScriptDirectory(str(self.script_location), version_locations=locations)
        seen: set[Path] = set()
        paths: list[Path] = []
        for directory in self.version_dirs:
            if not directory.is_dir():
                continue
            for listed in Script._list_py_dir(self._scripts, directory):
                path = Path(listed)
                if _only_source_rev_file.match(path.name) is None or path.resolve() in seen:
                    continue
                seen.add(path.resolve())
                paths.append(path)
        return paths

    def script_directory(self) -> ScriptDirectory:
        """Alembic's own view of the graph; imports every revision module."""
        from alembic.script import ScriptDirectory
        from alembic.util import CommandError

        self.revision_files()  # syntax errors first, with file and line
        try:
            return ScriptDirectory.from_config(self.alembic_config())
        except CommandError as exc:
            raise MigguardError(str(exc), path=self.relpath(self.config_path)) from exc


def _has_tool_alembic(toml_path: Path) -> bool:
    """Whether the file has a ``[tool.alembic]`` table (parsed: a comment or a string naming
    it is not one, which matters now that discovery reads the pyproject.toml files above)."""
    try:
        text = toml_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:  # the header on a line of its own: Alembic says what is wrong
        return any(line.strip() == "[tool.alembic]" for line in text.splitlines())
    tool = data.get("tool")
    return isinstance(tool, dict) and isinstance(tool.get("alembic"), dict)


def find_config(path: Path, config_file: Path | None = None) -> Path:
    """The alembic.ini (or pyproject.toml with [tool.alembic]) that describes PATH."""
    if config_file is not None:
        candidate = config_file if config_file.is_absolute() else (path / config_file)
        if not candidate.is_file():
            candidate = config_file.resolve()
        if not candidate.is_file():
            raise MigguardError(f"config file not found: {config_file}")
        return candidate.resolve()
    if path.is_file():
        return path.resolve()
    if not path.is_dir():
        raise MigguardError(f"no such directory: {path}")
    found = _config_in(path)
    if found is not None:
        return found
    below = _configs_below(path)
    if len(below) == 1:
        return below[0].resolve()
    if below:
        listed = ", ".join(p.relative_to(path).as_posix() for p in below)
        raise MigguardError(
            f"no alembic.ini in {path}, and several below it ({listed}): pass the directory "
            "of the one to check"
        )
    above = _config_above(path)
    if above is not None:
        return above
    raise MigguardError(
        f"no alembic.ini in {path} (pass the directory that holds it, or -c/--config FILE)"
    )


def _config_in(directory: Path) -> Path | None:
    """The project configuration ``directory`` itself holds, if any."""
    for name in _INI_NAMES:
        if (directory / name).is_file():
            return (directory / name).resolve()
    toml = directory / "pyproject.toml"
    if toml.is_file() and _has_tool_alembic(toml):
        return toml.resolve()
    flask_migrate = directory / FLASK_MIGRATE_DIRECTORY / "alembic.ini"
    if flask_migrate.is_file() and (flask_migrate.parent / "env.py").is_file():
        return flask_migrate.resolve()
    return None


def _config_above(path: Path) -> Path | None:
    """The nearest configuration in a directory above ``path``: ``migguard check`` from
    ``app/models/`` or ``migrations/versions/`` finds the project it is in, as ruff and pytest
    find their configuration. The search ends at the repository's top level (the directory
    holding ``.git``): a checkout's neighbours are not its project."""
    resolved = path.resolve()
    if (resolved / ".git").exists():
        return None
    for directory in resolved.parents:
        found = _config_in(directory)
        if found is not None:
            return found
        if (directory / ".git").exists():
            return None
    return None


# Where applications keep their Alembic project inside a repository: ``backend/``,
# ``services/api/``, ``src/app/``. Deeper than this is no longer "the" project of the repo.
_SEARCH_DEPTH = 3


def _configs_below(path: Path) -> list[Path]:
    """alembic.ini files in subdirectories of ``path`` (the repository root a new user runs
    ``migguard check`` from, when the application lives in ``backend/``). The directories the
    rules never read as the project's code (virtualenvs, installed packages, tests, hidden
    ones: :func:`migguard.sources.is_foreign_directory`) hold no project either."""
    from migguard.sources import is_foreign_directory

    found: list[Path] = []
    level = [path]
    for _depth in range(_SEARCH_DEPTH):
        deeper: list[Path] = []
        for directory in level:
            try:
                children = sorted(p for p in directory.iterdir() if p.is_dir())
            except OSError:
                continue
            for child in children:
                if is_foreign_directory(child):
                    continue
                if (child / "alembic.ini").is_file():
                    found.append(child / "alembic.ini")
                else:
                    deeper.append(child)
        level = deeper
    return found


def load_project(path: Path, config_file: Path | None = None, name: str | None = None) -> Project:
    """Locate alembic.ini and the directories it names, as ``alembic`` run from the project
    directory would (``-n NAME``: that section of alembic.ini), without importing revisions."""
    from migguard import alembic_compat

    config_path = find_config(path, config_file)
    root = (path if path.is_dir() else config_path.parent).resolve()
    if config_file is None and not config_path.is_relative_to(root / FLASK_MIGRATE_DIRECTORY):
        # found in a subdirectory (backend/alembic.ini): env.py runs from there, as alembic does
        root = config_path.parent
    migrations = config_path.parent
    flask_migrate = _is_flask_migrate_directory(migrations)
    if flask_migrate and root in (migrations, migrations.parent):
        root = _flask_working_directory(migrations)  # `migguard check migrations` too
    project = Project(
        root=root,
        config_path=config_path,
        script_location=root,
        version_dirs=[],
    )
    try:
        if config_path.suffix == ".ini":
            project.ini_section = _ini_section(project, name)
        config = project.alembic_config()
        location = config.get_alembic_option("script_location") if _is_modern(config) else None
        if location is None:
            location = config.get_main_option("script_location")
    except (configparser.Error, tomllib.TOMLDecodeError) as exc:
        line = getattr(exc, "lineno", None) or next(iter(getattr(exc, "errors", [])), [None])[0]
        detail = str(exc).strip().splitlines()[0].rstrip(".")
        raise MigguardError(
            f"cannot read the configuration: {detail}",
            path=project.relpath(config_path),
            line=line,
            root=project.root,
        ) from exc
    if flask_migrate:  # `flask db` passes the directory, whatever alembic.ini says
        location = str(migrations)
        config.set_main_option("script_location", location.replace("%", "%%"))
    if not location and not alembic_compat.TOML_CONFIG:
        toml = config_path.parent / "pyproject.toml"
        if toml.is_file() and _has_tool_alembic(toml):
            raise alembic_compat.toml_config_unsupported(toml)
    if not location:
        raise MigguardError(
            f"no script_location in the [{project.ini_section}] section",
            path=project.relpath(config_path),
            root=project.root,
        )
    scripts = _script_directory_from(config, root)
    if scripts is None:
        raise MigguardError(
            f"script_location {location!r} is not a directory",
            path=project.relpath(config_path),
            root=project.root,
        )
    with _working_directory(root):  # Alembic keeps relative paths as written
        script_location = Path(scripts.dir).resolve()
        project.version_dirs = [Path(p).resolve() for p in scripts._version_locations]
    if not (script_location / "env.py").is_file():
        raise MigguardError(f"no env.py in {project.relpath(script_location)}")
    project.script_location = script_location
    project._scripts = scripts
    project._alembic_config = config
    project._located = True
    return project


# Sections of an alembic.ini that configure logging or hooks, not a migration environment
_NOT_ENVIRONMENTS = ("loggers", "handlers", "formatters", "post_write_hooks")


def _ini_section(project: Project, name: str | None) -> str:
    """The section ``alembic`` would read: ``-n NAME``'s, else ``[alembic]``. An ini that
    holds only named environments (``alembic -n core``) says which there are."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(project.config_path, encoding="utf-8")
    environments = [
        section
        for section in parser.sections()
        if section not in _NOT_ENVIRONMENTS
        and not section.startswith(("logger_", "handler_", "formatter_"))
    ]
    listed = ", ".join(f"[{section}]" for section in environments) or "none"
    if name is not None and not parser.has_section(name):
        raise MigguardError(
            f"no [{name}] section (--name) in {project.config_path.name}; its sections: {listed}",
            path=project.relpath(project.config_path),
        )
    if name is None and not parser.has_section("alembic") and environments:
        raise MigguardError(
            f"{project.config_path.name} has no [alembic] section but {listed}: choose one with "
            '-n/--name NAME (as `alembic -n NAME`), or name = "NAME" in [tool.migguard]',
            path=project.relpath(project.config_path),
        )
    return name or "alembic"


def _script_directory_from(config: Config, root: Path) -> ScriptDirectory | None:
    """Alembic's own ScriptDirectory, made from ``root`` as ``alembic`` makes it from the
    directory it runs in: a relative script_location and version_locations resolve there, a
    package path (``mypkg:db:migrations``) is imported from there. The revision graph is not
    loaded (that imports every revision). None when script_location is not a directory."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    saved_path = list(sys.path)
    try:
        with _working_directory(root):
            sys.path.insert(0, str(root))
            return ScriptDirectory.from_config(config)  # prepends prepend_sys_path itself
    except (CommandError, ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        return None
    finally:
        sys.path[:] = saved_path


@contextmanager
def _working_directory(directory: Path) -> Iterator[None]:
    saved = os.getcwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(saved)


def _is_flask_migrate_directory(directory: Path) -> bool:
    """An alembic.ini beside env.py that ``flask db`` reads: Flask-Migrate passes the
    directory itself as script_location, so ``flask db init`` writes none, and a project that
    also names it (ihatemoney: ``script_location = .`` inside ``migrations/``) is the same
    layout. Naming itself counts only with Flask-Migrate's env.py (it reads ``current_app``):
    a plain Alembic project run from inside that directory says ``.`` too, and its env.py
    runs from there, not from the application one level up."""
    from migguard.flask_app import wants_app_context

    ini = directory / "alembic.ini"
    if not (ini.is_file() and (directory / "env.py").is_file()):
        return False
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(ini, encoding="utf-8")
    except configparser.Error:
        return False
    if not parser.has_option("alembic", "script_location"):
        return True
    written = parser.get("alembic", "script_location").strip()
    location = directory / written.replace("%(here)s", str(directory))
    return location.resolve() == directory.resolve() and wants_app_context(directory / "env.py")


def _flask_working_directory(migrations: Path) -> Path:
    """Where ``flask db`` runs for this migration directory: the application one level up,
    and above the package that holds it (ihatemoney's ``ihatemoney/migrations/``), because
    ``flask --app ihatemoney.wsgi`` imports the package from there. Run from inside the
    package, Flask would import ``ihatemoney.ihatemoney.wsgi``. Never above the top of the
    project (a repository, or one that declares a package), even when that holds an
    ``__init__.py`` too: above it is somebody else's directory tree."""
    directory = migrations.parent
    while (
        (directory / "__init__.py").is_file()
        and not any((directory / top).exists() for top in _PROJECT_TOPS)
        and directory.parent != directory
    ):
        directory = directory.parent
    return directory


# What marks the top of a project's tree: a repository, or a package declared for installing.
_PROJECT_TOPS = (".git", "pyproject.toml", "setup.py", "setup.cfg")


def _is_modern(config: Config) -> bool:
    return hasattr(config, "get_alembic_option")


def read_revision_file(path: Path, relpath: str) -> RevisionFile:
    """Parse one revision script; syntax errors and undecodable files become MigguardError."""
    try:
        raw = path.read_bytes()
        source = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MigguardError(
            f"not valid UTF-8 (byte {exc.start}): revision files must be UTF-8", path=relpath
        ) from exc
    except OSError as exc:
        raise MigguardError(f"cannot read: {exc.strerror}", path=relpath) from exc
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise MigguardError(f"syntax error: {exc.msg}", path=relpath, line=exc.lineno) from exc
    values: dict[str, tuple[object, int]] = {}
    for node in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        for target in targets:
            if isinstance(target, ast.Name) and value is not None:
                try:
                    values[target.id] = (ast.literal_eval(value), node.lineno)
                except ValueError:
                    values[target.id] = (None, node.lineno)
    revision, revision_line = values.get("revision", (None, None))
    down, down_line = values.get("down_revision", (None, None))
    return RevisionFile(
        path=path,
        relpath=relpath,
        source=source,
        tree=tree,
        revision=revision if isinstance(revision, str) else None,
        down_revisions=_as_tuple(down),
        depends_on=_as_tuple(values.get("depends_on", (None, 0))[0]),
        branch_labels=_as_tuple(values.get("branch_labels", (None, 0))[0]),
        revision_line=revision_line,
        down_revision_line=down_line,
    )


def _as_tuple(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return ()
