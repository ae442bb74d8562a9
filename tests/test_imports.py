"""The package's import graph has no cycle, and every family module imports on its own."""

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import huashi


def modules() -> dict[str, Path]:
    """Every module of the ``huashi`` package, by dotted name -> file."""
    found = {"huashi": Path(huashi.__file__)}
    for info in pkgutil.walk_packages(huashi.__path__, prefix="huashi."):
        spec = info.module_finder.find_spec(info.name)
        found[info.name] = Path(spec.origin)
    return found


def import_statements(tree: ast.Module, lazy: bool = False) -> list[ast.stmt]:
    """The import statements that run when the module is imported: the module body and any
    ``if``/``try`` blocks in it, never ``if TYPE_CHECKING:`` blocks; with ``lazy`` also those
    inside functions and classes (run later, on first use)."""
    found, todo = [], list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif lazy and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            todo += node.body
        elif lazy and isinstance(node, (ast.With, ast.For, ast.While)):
            todo += node.body + getattr(node, "orelse", [])
        elif isinstance(node, ast.If):
            if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                todo += node.body
            todo += node.orelse
        elif isinstance(node, ast.Try):
            todo += node.body + node.orelse + node.finalbody
            for handler in node.handlers:
                todo += handler.body
    return found


def imported(name: str, path: Path, known: set[str], lazy: bool = False) -> set[str]:
    """The huashi modules that module ``name`` imports at import time (and with ``lazy``,
    inside its functions too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    edges = set()
    for node in import_statements(ast.parse(path.read_text(), str(path)), lazy):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                parent = parent[: len(parent) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            # `from package import submodule` imports the submodule too
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        edges |= {t for t in targets if t in known and t != name}
    return edges


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph as a list of nodes (first == last), or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_huashi_package_has_no_import_cycle():
    found = modules()
    assert {"huashi.families.diffusion", "huashi.runs", "huashi.families"} <= set(found)
    graph = {name: imported(name, path, set(found)) for name, path in found.items()}
    assert "huashi.families.base" in graph["huashi.families.diffusion"]  # edges are found
    assert "huashi.runs" not in graph["huashi.families.diffusion"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_cycle_even_through_imports_inside_functions():
    """A lower layer does not reach a higher one late either (the diffusion family once loaded
    its autoencoder run with a lazy import of the run loader, which imports the families)."""
    found = modules()
    graph = {name: imported(name, path, set(found), lazy=True) for name, path in found.items()}
    assert "huashi.text" in graph["huashi.families.gan"]  # imported inside a function
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle through a lazy import: " + " -> ".join(cycle)


def test_the_diffusion_family_imports_in_a_fresh_interpreter():
    """Importing it loads the families, never the run loader that builds them."""
    code = "import sys, huashi.families.diffusion; print('huashi.runs' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"
