"""``migguard init``: the three files that put migguard in front of every change.

- ``[tool.migguard]`` in the project's pyproject.toml (the file is created when missing);
- a ``.pre-commit-config.yaml`` entry for the ``migguard`` hook, at the repository root;
- ``.github/workflows/migguard.yml`` using the migguard GitHub Action, at the repository root.

Nothing that exists is overwritten without ``force``: an existing ``[tool.migguard]`` table is
always left alone, a pre-commit config without migguard gets the entry appended, a file that
already has migguard is skipped. The texts here are the ones README.md shows (a test keeps the
two identical), so what a reader copies is what ``init`` writes.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from migguard import __version__
from migguard.errors import MigguardError
from migguard.report.location import git_root

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

REPOSITORY_URL = "https://github.com/migguard/migguard"
ACTION = "migguard/migguard"
PYTHON_VERSION = "3.12"
SARIF_FILE = "migguard.sarif"
WORKFLOW_FILE = Path(".github/workflows/migguard.yml")
PRE_COMMIT_FILE = Path(".pre-commit-config.yaml")


def version_tag() -> str:
    """The release tag users pin to: ``v`` + the installed version."""
    return f"v{__version__}"


def pyproject_table() -> str:
    return (
        "[tool.migguard]\n"
        f"# every setting: {REPOSITORY_URL}#configuration\n"
        'db = "auto"\n'
        "ignore = []\n"
    )


def _yaml_scalar(text: str) -> str:
    """A path as a YAML scalar: bare when plainly safe, else a JSON (so YAML) string."""
    plain = re.fullmatch(r"[\w./-]+", text) and not text.startswith("-")
    return text if plain else json.dumps(text)


def _hook_lines(project: str, indent: str) -> list[str]:
    hook = [f"{indent}    - id: migguard        # static rules on every commit, no database"]
    if project != ".":
        hook.append(f"{indent}      args: [{_yaml_scalar(project)}]")
    return hook


def pre_commit_entry(project: str, indent: str = "  ") -> str:
    """One item of the ``repos:`` list, indented like the file it goes into."""
    lines = [
        f"{indent}- repo: {REPOSITORY_URL}",
        f"{indent}  rev: {version_tag()}",
        f"{indent}  hooks:",
        *_hook_lines(project, indent),
        f"{indent}    # - id: migguard-full # every rule on a throwaway PostgreSQL, on git push",
    ]
    return "\n".join(lines) + "\n"


def pre_commit_config(project: str) -> str:
    return "repos:\n" + pre_commit_entry(project)


def workflow(project: str, *, sarif: bool = False) -> str:
    """The GitHub workflow: checkout with history (for ``--since``), Python, the action."""
    requirements = "requirements.txt" if project == "." else f"{project}/requirements.txt"
    permissions = "  contents: read\n"
    if sarif:
        permissions += "  security-events: write # upload-sarif\n"
    text = (
        "name: migguard\n"
        "\n"
        "on:\n"
        "  pull_request:\n"
        "  push:\n"
        "    branches: [main]\n"
        "\n"
        "permissions:\n"
        f"{permissions}"
        "\n"
        "jobs:\n"
        "  migguard:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "        with:\n"
        "          fetch-depth: 0 # pull requests check only revisions added since the base\n"
        "      - uses: actions/setup-python@v5\n"
        "        with:\n"
        f'          python-version: "{PYTHON_VERSION}"\n'
        "      - name: Install the project's dependencies (env.py imports your models)\n"
        f"        run: pip install -r {requirements}\n"
        f"      - uses: {ACTION}@{version_tag()}\n"
        "        with:\n"
        f"          path: {_yaml_scalar(project)}\n"
        f'          python-version: "{PYTHON_VERSION}"\n'
    )
    if sarif:
        text += (
            f"          sarif: {SARIF_FILE}\n"
            "      - uses: github/codeql-action/upload-sarif@v3\n"
            f"        if: always() && hashFiles('{SARIF_FILE}') != ''\n"
            "        with:\n"
            f"          sarif_file: {SARIF_FILE}\n"
            "          category: migguard\n"
        )
    return text


@dataclass(frozen=True)
class Planned:
    """What ``init`` will do to one file: ``action`` is wrote, appended, overwrote or skipped."""

    path: Path
    action: str
    reason: str
    content: str = ""

    def describe(self) -> str:
        """One line for the user, the path relative to the current directory when inside it."""
        shown = self.path
        with contextlib.suppress(ValueError):
            shown = self.path.resolve().relative_to(Path.cwd().resolve())
        return f"{self.action:<9} {shown}" + (f" ({self.reason})" if self.reason else "")


def plan(project_dir: Path, *, force: bool = False, sarif: bool = False) -> list[Planned]:
    """Decide every file's fate before writing any, so a bad file stops the run untouched."""
    if not project_dir.is_dir():
        raise MigguardError(f"{project_dir} is not a directory")
    repository = git_root(project_dir) or project_dir.resolve()
    project = project_dir.resolve().relative_to(repository).as_posix()
    return [
        _plan_pyproject(project_dir / "pyproject.toml"),
        _plan_pre_commit(repository / PRE_COMMIT_FILE, project, force),
        _plan_whole_file(repository / WORKFLOW_FILE, workflow(project, sarif=sarif), force),
    ]


def apply(planned: list[Planned]) -> None:
    for item in planned:
        if item.action == "skipped":
            continue
        item.path.parent.mkdir(parents=True, exist_ok=True)
        mode = "a" if item.action == "appended" else "w"
        with open(item.path, mode, encoding="utf-8") as handle:
            handle.write(item.content)


def _plan_pyproject(path: Path) -> Planned:
    if not path.exists():
        return Planned(path, "wrote", "", pyproject_table())
    text = _read(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MigguardError(f"invalid TOML: {exc}", path=str(path)) from exc
    if "migguard" in data.get("tool", {}):
        return Planned(path, "skipped", "[tool.migguard] already there")
    separator = "" if not text else ("\n" if text.endswith("\n") else "\n\n")
    return Planned(path, "appended", "[tool.migguard]", separator + pyproject_table())


_REPOS_KEY = re.compile(r"^repos:\s*(#.*)?$")
_TOP_LEVEL_KEY = re.compile(r"^[^\s#-]")
_LIST_ITEM = re.compile(r"^(\s*)- ")
_HAS_MIGGUARD = re.compile(r"migguard/migguard|^\s*-?\s*id:\s*migguard\b", re.MULTILINE)


def _plan_pre_commit(path: Path, project: str, force: bool) -> Planned:
    if not path.exists():
        return Planned(path, "wrote", "", pre_commit_config(project))
    text = _read(path)
    if _HAS_MIGGUARD.search(text):
        if force:
            return Planned(path, "overwrote", "--force", pre_commit_config(project))
        return Planned(path, "skipped", "migguard hook already there; --force replaces the file")
    insertion = _append_entry(text, project)
    if insertion is not None:
        return Planned(path, "appended", "migguard hook", insertion)
    if force:
        return Planned(path, "overwrote", "--force", pre_commit_config(project))
    return Planned(
        path,
        "skipped",
        "no block-style `repos:` list to append to; add the entry from README by hand",
    )


def _append_entry(text: str, project: str) -> str | None:
    """The text to append so the migguard entry ends the block-style ``repos:`` list.

    Only when ``repos:`` is the last top-level key: then appending at the end of the file
    extends that list without rewriting a byte of what the user wrote.
    """
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if _REPOS_KEY.match(line)]
    if len(starts) != 1:
        return None
    after = lines[starts[0] + 1 :]
    if any(_TOP_LEVEL_KEY.match(line) for line in after):
        return None
    indents = [m.group(1) for m in map(_LIST_ITEM.match, after) if m]
    indent = indents[0] if indents else "  "
    separator = "" if text.endswith("\n") else "\n"
    return separator + pre_commit_entry(project, indent)


def _plan_whole_file(path: Path, content: str, force: bool) -> Planned:
    if not path.exists():
        return Planned(path, "wrote", "", content)
    if force:
        return Planned(path, "overwrote", "--force", content)
    return Planned(path, "skipped", "exists; --force replaces it")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MigguardError(f"cannot read: {exc}", path=str(path)) from exc
