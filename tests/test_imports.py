"""The package's layers: which package may import which is data (:data:`LAYERS`), and every
import of every module, also those inside functions, is checked against it; no module cycle."""

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


#: The layers of the package, bottom first. A module may import its own package and any package
#: of a lower layer; packages of the same layer do not import each other. Top-level names are
#: packages (``huashi.core``) or modules (``huashi.runs``); ``huashi`` is the root (the version).
LAYERS: list[tuple[str, ...]] = [
    ("huashi",),
    ("huashi.core",),
    ("huashi.data", "huashi.text", "huashi.diffusion", "huashi.augment"),
    ("huashi.losses",),
    ("huashi.models",),
    ("huashi.training",),
    ("huashi.zoo", "huashi.recipes"),
    ("huashi.families",),
    ("huashi.runs",),
    ("huashi.metrics",),
    ("huashi.gan",),
    ("huashi.tools",),
    ("huashi.api",),
    ("huashi.studio",),
    ("huashi.cli",),  # `huashi studio` starts the studio
    ("huashi.__main__",),
]


def unit(module: str) -> str:
    """The top-level package or module that ``module`` belongs to (``huashi.gan.drag`` ->
    ``huashi.gan``)."""
    return ".".join(module.split(".")[:2])


def layer_of(layers: list[tuple[str, ...]]) -> dict[str, int]:
    return {name: rank for rank, names in enumerate(layers) for name in names}


def wrong_arrows(graph: dict[str, set[str]], layers: list[tuple[str, ...]]) -> list[str]:
    """Every import that points to the same or a higher layer (``a -> b`` lines), and every
    module whose package has no layer."""
    rank = layer_of(layers)
    wrong = []
    for name, targets in sorted(graph.items()):
        if unit(name) not in rank:
            wrong.append(f"{name} belongs to no layer: add {unit(name)} to LAYERS")
            continue
        for target in sorted(targets):
            a, b = unit(name), unit(target)
            if a != b and rank[b] >= rank[a]:
                wrong.append(f"{name} -> {target} (layer {rank[a]} -> {rank[b]})")
    return wrong


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


def import_graph(lazy: bool = True) -> dict[str, set[str]]:
    found = modules()
    return {name: imported(name, path, set(found), lazy) for name, path in found.items()}


def test_the_checks_find_what_they_look_for():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    layers = [("huashi.core",), ("huashi.data", "huashi.text"), ("huashi.api",)]
    down = {
        "huashi.api.x": {"huashi.data.y", "huashi.core.z", "huashi.api.w"},
        "huashi.api.w": set(),
    }
    assert wrong_arrows(down, layers) == []
    up = {"huashi.core.z": {"huashi.api.x"}, "huashi.data.y": {"huashi.text.t"}}
    assert wrong_arrows(up, layers) == [
        "huashi.core.z -> huashi.api.x (layer 0 -> 2)",
        "huashi.data.y -> huashi.text.t (layer 1 -> 1)",  # siblings do not import each other
    ]
    assert wrong_arrows({"huashi.attic.old": set()}, layers) == [
        "huashi.attic.old belongs to no layer: add huashi.attic to LAYERS"
    ]


def test_every_import_points_down_the_layers():
    """Module-level imports and those inside functions alike: a lower layer never reaches a
    higher one, not even late (the diffusion family once loaded its autoencoder run with a lazy
    import of the run loader, which imports the families)."""
    graph = import_graph(lazy=True)
    assert "huashi.text" in graph["huashi.families.gan"]  # imports inside functions are found
    assert "huashi.families.base" in graph["huashi.families.diffusion"]
    assert {unit(name) for name in graph} == set(layer_of(LAYERS))  # every layer is real
    assert wrong_arrows(graph, LAYERS) == []


def test_the_training_package_knows_no_family():
    graph = import_graph(lazy=True)
    reached = {
        t for name, targets in graph.items() if unit(name) == "huashi.training" for t in targets
    }
    assert reached and not {t for t in reached if unit(t) in ("huashi.families", "huashi.models")}


#: What the studio may import of the house besides its own package and the API: the one error
#: type (answered as a 422) and the package root (its version).
STUDIO_MAY_IMPORT = {"huashi", "huashi.core.errors"}


def past_the_api(graph: dict[str, set[str]], face: str, allowed: set[str]) -> list[str]:
    """Every import of a module of ``face`` that is neither ``face`` itself, nor
    :mod:`huashi.api`, nor one of ``allowed`` (``a -> b`` lines)."""
    return sorted(f"{name} -> {target}" for name, targets in graph.items() if unit(name) == face
                  for target in targets
                  if unit(target) not in (face, "huashi.api") and target not in allowed)  # fmt: skip


def test_the_studio_reaches_the_house_only_through_the_api():
    """A route parses the request, calls :mod:`huashi.api` and shapes the answer: it never reads
    a family, dataset, log or PNG past the API (also not with an import inside a function)."""
    toy = {"huashi.studio.r": {"huashi.api.x", "huashi.core.errors", "huashi.data.y"}}
    assert past_the_api(toy, "huashi.studio", STUDIO_MAY_IMPORT) == [
        "huashi.studio.r -> huashi.data.y"
    ]
    graph = import_graph(lazy=True)
    assert "huashi.api" in graph["huashi.studio.routes.paint"]
    assert past_the_api(graph, "huashi.studio", STUDIO_MAY_IMPORT) == []


#: What the command line may import of the house besides its own package and the API, and why.
CLI_MAY_IMPORT = {
    "huashi": "the version (huashi --version)",
    "huashi.core.errors": "the one error type, printed as one line",
    "huashi.core.tiny": "HUASHI_DOCS_TINY, the docs' tests' hook, caps a parsed command line",
    "huashi.studio.server": "huashi studio starts the studio's app (a face, not the house)",
}


def test_the_command_line_reaches_the_house_only_through_the_api():
    """A command parses argv, calls :mod:`huashi.api` and prints: its flags' fields, choices and
    defaults come from the API too (no family config class, no TrainConfig, no thread or
    torchrun setup past it, also not with an import inside a function)."""
    graph = import_graph(lazy=True)
    assert "huashi.api" in graph["huashi.cli.train"]
    assert past_the_api(graph, "huashi.cli", set(CLI_MAY_IMPORT)) == []
    for name in CLI_MAY_IMPORT:  # each allowance is still used (or it goes)
        assert any(name in targets for module, targets in graph.items()
                   if unit(module) == "huashi.cli"), name  # fmt: skip


def test_no_module_cycle_inside_a_package():
    cycle = find_cycle(import_graph(lazy=True))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_diffusion_family_imports_in_a_fresh_interpreter():
    """Importing it loads the families, never the run loader that builds them."""
    code = "import sys, huashi.families.diffusion; print('huashi.runs' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"


def test_the_tests_mirror_the_package_folders():
    """tests/<package>/test_*.py for each package; only the checks of the whole (the imports,
    the docs) live here."""
    tests = Path(__file__).parent
    folders = {p.name for p in tests.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
    packages = {name.removeprefix("huashi.") for names in LAYERS for name in names}
    assert folders and folders <= packages, folders - packages
    assert sorted(p.name for p in tests.glob("test_*.py")) == ["test_docs.py", "test_imports.py"]


#: Modules still over the limit (none: the studio server is split into one router per tab).
NOT_YET_SPLIT: set[str] = set()


def test_no_module_is_over_500_lines():
    """A module a person can hold in their head; a bigger one splits by concept."""
    long = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text().splitlines())) > 500
    }
    assert set(long) <= NOT_YET_SPLIT, long
