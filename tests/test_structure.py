"""The library's structure stays honest: no import cycles, no reaching into another module's
private names, no oversized modules. Walks the source with `ast`; imports nothing."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "imgenlib"
MAX_LINES = 420


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def runtime_nodes(tree):
    """Every node except those under ``if TYPE_CHECKING:`` (never executed)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def imports(path: Path, source: str | None = None):
    """(imported module, imported names) for every runtime import of an imgenlib module."""
    current = module_name(path)
    package = current if path.name == "__init__.py" else current.rpartition(".")[0]
    for node in runtime_nodes(ast.parse(source if source is not None else path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "imgenlib":
                    yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base.split(".")[0] != "imgenlib":
                continue
            names = [alias.name for alias in node.names]
            submodules = [f"{base}.{name}" for name in names if f"{base}.{name}" in MODULES]
            yield from ((sub, []) for sub in submodules)
            yield base, [n for n in names if f"{base}.{n}" not in MODULES]


def graph():
    edges = {}
    for name, path in MODULES.items():
        targets = set()
        for target, _ in imports(path):
            # Importing an ancestor package (or the lazy top level) is not a dependency cycle.
            if target == "imgenlib" or name.startswith(target + ".") or target == name:
                continue
            targets.add(target)
        edges[name] = targets
    return edges


def cycles(edges):
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_walker_sees_function_level_relative_and_submodule_imports():
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from imgenlib.plotting import _hidden\n"
        "def f():\n    from imgenlib.metrics import _score, fid_from_features\n"
        "from . import blocks\nfrom imgenlib import io\n"
    )
    found = list(imports(PACKAGE / "models" / "gan.py", source))
    assert ("imgenlib.metrics", ["_score", "fid_from_features"]) in found
    assert ("imgenlib.models.blocks", []) in found and ("imgenlib.io", []) in found
    assert all(target != "imgenlib.plotting" for target, _ in found)


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    assert cycles(graph()) == []


def private_imports(paths):
    found = []
    for path in paths:
        for target, names in imports(path):
            for name in names:
                if is_private(name):
                    found.append(f"{path.relative_to(ROOT)}: from {target} import {name}")
    return found


def test_no_module_imports_another_modules_private_names():
    paths = [
        *MODULES.values(),
        *sorted((ROOT / "tests").rglob("*.py")),
        *sorted((ROOT / "benchmarks").glob("*.py")),
    ]
    assert private_imports(paths) == []


def test_no_private_attributes_of_imported_modules():
    """``from imgenlib import metrics; metrics._score(...)`` is a private import too."""
    found = []
    for path in MODULES.values():
        tree = ast.parse(path.read_text())
        modules = set()
        for node in runtime_nodes(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("imgenlib"):
                modules |= {
                    a.asname or a.name for a in node.names if f"{node.module}.{a.name}" in MODULES
                }
            if isinstance(node, ast.Import):
                modules |= {a.asname for a in node.names if a.asname and a.name in MODULES}
        for node in runtime_nodes(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if node.value.id in modules and is_private(node.attr):
                    found.append(f"{path.relative_to(ROOT)}: {node.value.id}.{node.attr}")
    assert found == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_size(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines; split it (limit ~400)"
