"""migguard's modules import each other in layers, with plain data at the bottom.

Read from the source (no import needed), the graph of module-level imports has no cycle;
``findings`` imports nothing of migguard and the rule registry only ``findings`` and
``errors``; and every module imports on its own, in a fresh set of migguard modules.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "migguard"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(module: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The migguard modules an import statement loads (``from migguard import x`` loads the
    submodule ``migguard.x`` when there is one, and the package itself)."""
    found: set[str] = set()
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".")
            if MODULES[module].name != "__init__.py":
                package.pop()
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, base] if base else package)
        names = [base] + [f"{base}.{alias.name}" for alias in node.names]
    for name in names:
        parts = name.split(".")
        for end in range(1, len(parts) + 1):
            candidate = ".".join(parts[:end])
            if candidate in MODULES:
                found.add(candidate)
    found.discard(module)
    return found


def _imports(module: str, *, module_level_only: bool) -> set[str]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                found.update(_imported(module, node))
            elif isinstance(node, ast.If) and _is_type_checking(node):
                continue  # annotations only, never executed
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                if not module_level_only:
                    visit(node.body)
            elif isinstance(node, ast.If | ast.Try | ast.With | ast.For | ast.While):
                for child in ast.iter_child_nodes(node):
                    if isinstance(child, ast.stmt):
                        visit([child])
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
                visit(getattr(node, "orelse", []))
                visit(getattr(node, "finalbody", []))

    visit(tree.body)
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _without_package_parents(module: str, targets: set[str]) -> set[str]:
    """Importing ``migguard.a.b`` runs ``migguard.a``'s ``__init__`` first; that edge is
    Python's, not a design choice, and a subpackage naming its own parent is no cycle."""
    return {t for t in targets if not module.startswith(f"{t}.")}


def test_module_level_imports_form_no_cycle() -> None:
    graph = {
        module: _without_package_parents(module, _imports(module, module_level_only=True))
        for module in MODULES
    }
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_no_cycle_runs_through_findings_rules_config_suppress_or_a_check() -> None:
    """Counting the imports inside functions too (lazy, but still a dependency): the bottom
    layers and the rule modules depend on nothing that depends on them."""
    bottom = {"migguard.findings", "migguard.rules", "migguard.config", "migguard.suppress"}
    bottom |= {name for name in MODULES if name.startswith("migguard.checks")}
    graph = {
        module: _without_package_parents(module, _imports(module, module_level_only=False))
        for module in MODULES
    }
    for module in sorted(bottom):
        reachable = _reachable(graph, module)
        assert module not in reachable, f"{module} imports something that imports it back"


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    pending = list(graph[start])
    while pending:
        current = pending.pop()
        if current not in seen:
            seen.add(current)
            pending.extend(graph.get(current, ()))
    return seen


def test_findings_are_plain_data_that_import_nothing_of_migguard() -> None:
    assert _imports("migguard.findings", module_level_only=False) == set()


def test_the_registry_sits_beside_findings_and_loads_rules_only_dynamically() -> None:
    assert _imports("migguard.rules", module_level_only=False) <= {
        "migguard",
        "migguard.errors",
        "migguard.findings",
    }


def test_config_suppress_and_findings_import_no_check_at_module_level() -> None:
    for module in ("migguard.config", "migguard.findings", "migguard.rules"):
        imported = _imports(module, module_level_only=True)
        assert not any(name.startswith("migguard.checks") for name in imported), module


def test_every_module_imports_on_its_own() -> None:
    """Each module in a fresh set of migguard modules (third-party ones stay cached, so this
    takes seconds): an import cycle shows up as an ImportError for whichever module is
    imported first."""
    names = [name for name in MODULES if name != "migguard.__main__"]
    script = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] == 'migguard']:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        print(f'{name}: {type(exc).__name__}: {exc}')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=PACKAGE.parent,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "", result.stdout
