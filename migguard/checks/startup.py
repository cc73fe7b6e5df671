"""``create-all-on-startup``: ``metadata.create_all`` reached from application start-up.

The project's own Python files are read with ``ast`` (never imported, so pre-commit stays
fast and broken code cannot crash the check). Start-up means: module level (including the
``if __name__ == "__main__":`` block), a FastAPI/Starlette ``lifespan``, an
``on_event("startup")`` handler, a Flask app factory, and the functions those call, followed
a few levels deep through the same module and through ``from app.db import init_db`` style
imports of other project modules. A ``create_all`` passed rather than called
(``conn.run_sync(Base.metadata.create_all)``) counts as reached.

Not start-up: tests, the migrations folder, virtualenvs, build output, paths matching
``exclude``, and a bootstrap script whose module level creates the tables and then stamps the
database (``command.stamp(cfg, "head")``, ``alembic stamp head``), the Alembic cookbook's
"building an up to date database from scratch".
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from migguard.findings import Finding, Severity
from migguard.rules import Needs, Phase, Rule, Scope, produces, register
from migguard.sources import walk_python_files

if TYPE_CHECKING:
    from migguard.checks import StaticContext

CREATE_ALL_ON_STARTUP = register(
    Rule(
        id="create-all-on-startup",
        family="startup",
        scope=Scope.PROJECT,
        needs=Needs.STATIC,
        summary="metadata.create_all runs when the application starts",
        severity=Severity.ERROR,
        what=(
            "Finds `create_all` reachable from application start-up: module level code, a "
            'FastAPI `lifespan`, an `on_event("startup")` handler, a Flask app factory, or '
            "a function they call, including `conn.run_sync(Base.metadata.create_all)`. "
            "Tests, the migrations folder and excluded paths are not start-up, nor is a "
            "bootstrap script that creates the tables and then runs `alembic stamp head`."
        ),
        why=(
            "`create_all` creates missing tables from the models and never alters existing "
            "ones. Next to Alembic it creates tables behind the migrations' back: a fresh "
            "database gets the models' schema without an `alembic_version` row, so the "
            "first `alembic upgrade head` fails on 'relation already exists', and a column "
            "added to a model silently never reaches a database whose table already exists."
        ),
        example=(
            "@asynccontextmanager\n"
            "async def lifespan(app: FastAPI):\n"
            "    async with engine.begin() as conn:\n"
            "        await conn.run_sync(Base.metadata.create_all)\n"
            "    yield\n\n"
            "app = FastAPI(lifespan=lifespan)"
        ),
        use_instead=(
            "# deploy step, before the new application version starts:\n"
            "#   alembic upgrade head\n"
            "app = FastAPI()\n\n"
            "# a script that bootstraps an empty database is fine when it also stamps it:\n"
            "Base.metadata.create_all(engine)\n"
            'command.stamp(Config("alembic.ini"), "head")'
        ),
    )
)

_HINT = (
    "run `alembic upgrade head` as a deploy step instead; create test databases in test "
    "fixtures (or exclude the script with [tool.migguard] exclude)"
)

_APP_CLASSES = ("FastAPI", "Starlette")
_FOLLOW_DEPTH = 3
_PASSED_CALLBACK_CALLERS = ("run_sync", "to_thread", "run_in_executor")


@dataclass
class SourceFile:
    """One project Python file, parsed but not imported."""

    path: Path
    relpath: str
    module: str
    tree: ast.Module
    text: str = field(default="", repr=False)


def project_sources(ctx: StaticContext, containing: Iterable[str] = ()) -> list[SourceFile]:
    """The project's own Python files, parsed: no tests, migrations, virtualenvs, build
    output or excluded paths. Files that do not parse are left out. With ``containing``,
    only files whose text has one of those words are parsed and returned."""
    words = tuple(containing)
    project = ctx.project
    skip = {Path(project.script_location).resolve()}
    skip.update(Path(p).resolve() for p in project.version_dirs)
    exclude = tuple(getattr(ctx.settings, "exclude", ()) or ())
    root = Path(project.root).resolve()
    sources: list[SourceFile] = []
    for path in walk_python_files(root, skip, exclude):
        relpath = path.relative_to(root).as_posix()
        if words:
            text = _read(path)
            if text is None or not any(word in text for word in words):
                continue
        parsed = _parse(path)
        if parsed is not None:
            tree, text = parsed
            sources.append(SourceFile(path, relpath, _module_name(relpath), tree, text))
    return sources


def _read(path: Path) -> str | None:
    parsed = _PARSE_CACHE.get(_cache_key(path))
    if parsed is not None:
        return parsed[1]
    try:
        return path.read_bytes().decode("utf-8")
    except (OSError, ValueError):
        return None


def _cache_key(path: Path) -> tuple[str, int, int]:
    try:
        stat = path.stat()
    except OSError:
        return (str(path), -1, -1)
    return (str(path), stat.st_mtime_ns, stat.st_size)


def _parse(path: Path) -> tuple[ast.Module, str] | None:
    """The tree and text of a file, cached by path, mtime and size; None if it does not
    parse (a syntax error, or not UTF-8)."""
    key = _cache_key(path)
    if key[1] < 0:
        return None
    if key in _PARSE_CACHE:
        return _PARSE_CACHE[key]
    try:
        text = path.read_bytes().decode("utf-8")
        parsed: tuple[ast.Module, str] | None = (ast.parse(text, filename=str(path)), text)
    except (SyntaxError, ValueError, OSError):
        parsed = None
    if len(_PARSE_CACHE) > 20_000:
        _PARSE_CACHE.clear()
    _PARSE_CACHE[key] = parsed
    return parsed


_PARSE_CACHE: dict[tuple[str, int, int], tuple[ast.Module, str] | None] = {}


def _module_name(relpath: str) -> str:
    parts = relpath[: -len(".py")].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


# --- the rule -------------------------------------------------------------------------------


@produces(Phase.SOURCES, CREATE_ALL_ON_STARTUP)
def check(ctx: StaticContext) -> list[Finding]:
    """Findings for every ``create_all`` reference reachable from start-up."""
    if not project_sources(ctx, containing=("create_all",)):
        return []  # the common case: nothing to follow, nothing else parsed
    sources = project_sources(ctx)
    index = _ProjectIndex(sources)
    seen: set[int] = set()
    entries: list[_Entry] = []
    for source in sources:
        entries.extend(_framework_entries(source, index, seen))
    for source in sources:
        entries.extend(_module_entries(source))
    reported: dict[tuple[str, int, int], Finding] = {}
    for entry in entries:
        for reference, chain in _reached_references(entry, index):
            key = (reference.source.relpath, reference.line, reference.col)
            if key in reported:
                continue
            if entry.bootstrap and _stamps_along(entry, chain, index):
                continue
            reported[key] = _finding(reference, entry, chain)
    return sorted(reported.values(), key=lambda f: (f.path or "", f.line or 0, f.message))


@dataclass(frozen=True)
class _Reference:
    source: SourceFile
    line: int
    col: int
    text: str


@dataclass(eq=False)
class _Scope:
    """A body of code that runs as one unit: a function, or a module's top level."""

    source: SourceFile
    name: str
    statements: list[ast.stmt]
    node: ast.AST | None = None


@dataclass
class _Entry:
    scope: _Scope
    description: str
    bootstrap: bool  # module level or __main__: a create_all + stamp there is a bootstrap


@dataclass
class _ProjectIndex:
    sources: list[SourceFile]
    modules: dict[str, SourceFile] = field(default_factory=dict)
    functions: dict[tuple[str, str], _Scope] = field(default_factory=dict)
    _imports: dict[str, dict[str, tuple[str, str | None]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for source in self.sources:
            self.modules[source.module] = source
            if source.module.startswith("src."):
                self.modules.setdefault(source.module[4:], source)
        for source in self.sources:
            for node in source.tree.body:
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    self.functions[(source.relpath, node.name)] = _Scope(
                        source, node.name, list(node.body), node
                    )

    def imports(self, source: SourceFile) -> dict[str, tuple[str, str | None]]:
        """Local name -> (module, attribute), read when first needed."""
        if source.relpath not in self._imports:
            self._imports[source.relpath] = _imports_of(source)
        return self._imports[source.relpath]

    def resolve(self, source: SourceFile, expr: ast.expr) -> _Scope | None:
        """The project function a call target names, in this module or an imported one."""
        if isinstance(expr, ast.Name):
            local = self.functions.get((source.relpath, expr.id))
            if local is not None:
                return local
            imported = self.imports(source).get(expr.id)
            if imported and imported[1] is not None:
                return self._function_in(imported[0], imported[1])
            return None
        if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
            imported = self.imports(source).get(expr.value.id)
            if imported:
                module = imported[0] if imported[1] is None else f"{imported[0]}.{imported[1]}"
                return self._function_in(module, expr.attr)
        return None

    def _function_in(self, module: str, name: str) -> _Scope | None:
        target = self.modules.get(module)
        if target is None:
            return None
        found = self.functions.get((target.relpath, name))
        if found is not None:
            return found
        # re-exported through the package: from .db import init_db in __init__.py
        forwarded = self.imports(target).get(name)
        if forwarded and forwarded[1] is not None and forwarded[0] != module:
            inner = self.modules.get(forwarded[0])
            if inner is not None:
                return self.functions.get((inner.relpath, forwarded[1]))
        return None


def _imports_of(source: SourceFile) -> dict[str, tuple[str, str | None]]:
    """Local name -> (module, attribute or None for a module import)."""
    result: dict[str, tuple[str, str | None]] = {}
    package = source.module.split(".")
    if not source.relpath.endswith("__init__.py"):
        package = package[:-1]
    for node in ast.walk(source.tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            for alias in node.names:
                result[alias.asname or alias.name] = (module, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    result[alias.asname] = (alias.name, None)
                else:
                    top = alias.name.split(".")[0]
                    result[top] = (top, None)
    return result


def _framework_entries(source: SourceFile, index: _ProjectIndex, seen: set[int]) -> list[_Entry]:
    """Lifespans, startup handlers and Flask app factories a module defines or registers."""
    entries: list[_Entry] = []

    def add(scope: _Scope | None, description: str) -> None:
        if scope is not None and id(scope) not in seen:
            seen.add(id(scope))
            entries.append(_Entry(scope, description.format(name=scope.name), bootstrap=False))

    registers = ("lifespan", "on_startup", "add_event_handler")
    calls = ast.walk(source.tree) if any(w in source.text for w in registers) else ()
    for node in calls:
        if not isinstance(node, ast.Call):
            continue
        callee = _callee_name(node.func)
        for keyword in node.keywords:
            if keyword.arg == "lifespan":
                app = callee if callee in _APP_CLASSES else "FastAPI"
                add(index.resolve(source, keyword.value), f"the {app} lifespan '{{name}}'")
            elif keyword.arg == "on_startup" and isinstance(keyword.value, ast.List | ast.Tuple):
                for element in keyword.value.elts:
                    add(index.resolve(source, element), "the startup handler '{name}'")
        if (
            callee == "add_event_handler"
            and len(node.args) >= 2
            and _constant(node.args[0]) == "startup"
        ):
            add(index.resolve(source, node.args[1]), "the startup handler '{name}'")
    for node in source.tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        scope = index.functions.get((source.relpath, node.name))
        decorators = [
            _callee_name(d.func if isinstance(d, ast.Call) else d) for d in node.decorator_list
        ]
        if "asynccontextmanager" in decorators and "lifespan" in node.name.lower():
            add(scope, "the FastAPI lifespan '{name}'")
        for decorator in node.decorator_list:
            if (
                isinstance(decorator, ast.Call)
                and _callee_name(decorator.func) == "on_event"
                and decorator.args
                and _constant(decorator.args[0]) == "startup"
            ):
                add(scope, "the startup handler '{name}'")
        if "Flask" in source.text and _builds_flask_app(node):
            add(scope, "the Flask app factory '{name}'")
    return entries


def _module_entries(source: SourceFile) -> list[_Entry]:
    """A module's top level, and its ``if __name__ == "__main__":`` block."""
    main_block: list[ast.stmt] = []
    top_level: list[ast.stmt] = []
    for node in source.tree.body:
        if isinstance(node, ast.If) and _is_main_guard(node):
            main_block.extend(node.body)
            top_level.extend(node.orelse)
        else:
            top_level.append(node)
    entries = [_Entry(_Scope(source, "<module>", top_level), "module level", bootstrap=True)]
    if main_block:
        entries.append(
            _Entry(_Scope(source, "<main>", main_block), "the __main__ block", bootstrap=True)
        )
    return entries


def _builds_flask_app(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(
        isinstance(node, ast.Call) and _callee_name(node.func) == "Flask"
        for node in ast.walk(function)
    )


def _is_main_guard(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    test = node.test
    sides = [test.left, *test.comparators]
    return (
        len(test.ops) == 1
        and isinstance(test.ops[0], ast.Eq)
        and any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
        and any(_constant(s) == "__main__" for s in sides)
    )


def _callee_name(expr: ast.expr) -> str | None:
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return expr.attr
    return None


def _constant(expr: ast.expr) -> object:
    return expr.value if isinstance(expr, ast.Constant) else None


def _scope_nodes(scope: _Scope) -> Iterator[ast.AST]:
    """Every node of a scope's own code. At module level, function bodies are not run, so
    they are skipped; inside a function, nested definitions are walked (they usually run)."""
    at_module_level = scope.node is None
    stack: list[ast.AST] = list(reversed(scope.statements))
    while stack:
        node = stack.pop()
        if at_module_level and isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
        ):
            stack.extend(reversed(getattr(node, "decorator_list", [])))
            continue
        yield node
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _direct_references(scope: _Scope) -> list[_Reference]:
    references = []
    for node in _scope_nodes(scope):
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "create_all"
            and isinstance(node.ctx, ast.Load)
        ):
            owner = _callee_name(node.value) or "metadata"
            references.append(
                _Reference(
                    scope.source,
                    node.end_lineno or node.lineno,
                    node.col_offset,
                    f"{owner}.create_all",
                )
            )
    return references


def _callees(scope: _Scope, index: _ProjectIndex) -> list[_Scope]:
    """Project functions this scope calls, or hands to ``run_sync``-style runners."""
    found: list[_Scope] = []
    for node in _scope_nodes(scope):
        if not isinstance(node, ast.Call):
            continue
        targets = [node.func]
        if _callee_name(node.func) in _PASSED_CALLBACK_CALLERS:
            targets += node.args
        for target in targets:
            resolved = index.resolve(scope.source, target)
            if resolved is not None and resolved not in found and resolved is not scope:
                found.append(resolved)
    return found


def _reached_references(
    entry: _Entry, index: _ProjectIndex
) -> Iterator[tuple[_Reference, list[_Scope]]]:
    """``create_all`` references reachable from an entry, with the chain of functions."""
    queue: list[tuple[_Scope, list[_Scope]]] = [(entry.scope, [])]
    visited: set[int] = set()
    while queue:
        scope, chain = queue.pop(0)
        if id(scope) in visited:
            continue
        visited.add(id(scope))
        for reference in _direct_references(scope):
            yield reference, chain
        if len(chain) < _FOLLOW_DEPTH:
            for callee in _callees(scope, index):
                queue.append((callee, [*chain, callee]))


def _stamps_along(entry: _Entry, chain: list[_Scope], index: _ProjectIndex) -> bool:
    """Whether the bootstrap that reaches ``create_all`` also stamps the database."""
    return any(_stamps(scope, index, depth=0) for scope in [entry.scope, *chain])


def _stamps(scope: _Scope, index: _ProjectIndex, depth: int) -> bool:
    for node in _scope_nodes(scope):
        if isinstance(node, ast.Call) and _callee_name(node.func) == "stamp":
            return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            words = node.value.split()
            if "alembic" in words and "stamp" in words:
                return True
        if isinstance(node, ast.List | ast.Tuple):
            elements = {_constant(e) for e in node.elts}
            if "alembic" in elements and "stamp" in elements:
                return True
    if depth < 2:
        return any(_stamps(callee, index, depth + 1) for callee in _callees(scope, index))
    return False


def _finding(reference: _Reference, entry: _Entry, chain: list[_Scope]) -> Finding:
    where = f"{entry.description} in {entry.scope.source.relpath}"
    if chain:
        where += " (via " + " -> ".join(scope.name for scope in chain) + ")"
    return Finding(
        rule=CREATE_ALL_ON_STARTUP.id,
        message=f"{reference.text} reached from {where}",
        path=reference.source.relpath,
        line=reference.line,
        hint=_HINT,
    )
