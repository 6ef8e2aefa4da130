"""The package's layers (dprobe/__init__.py): no import cycle, and every import points down.

Every ``import`` of every dprobe module counts, those inside functions included. A module's layer
is its sub-package (``dprobe.engines.bench`` -> ``engines``) or, for a top-level module, its name
(``dprobe.geometry`` -> ``geometry``); ``dprobe.bench`` is the entry point of ``python -m
dprobe.bench``, part of the command line.
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import dprobe

PACKAGE = Path(dprobe.__file__).parent

LEAVES = {"geometry", "errors", "files", "seeding", "ops", "metrics", "joints"}
#: data -> models -> frameworks -> train: each imports only the leaves and the layers before it
#: (train may also use the layers above models, report excepted)
CHAIN = ("data", "models", "frameworks", "train")
ABOVE_MODELS = {"probes", "engines", "export", "sources", "sweep", "report"}
#: what the layers above models never import
NOT_FROM_ABOVE_MODELS = {"train", "frameworks", "cli"}
#: top-level modules that belong to another layer
ENTRY_POINTS = {"bench": "cli"}

def _modules() -> dict[str, Path]:
    """Every dprobe module by dotted name (a package by its ``__init__.py``)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _deepest(name: str) -> str | None:
    """The dprobe module ``name`` refers to (an attribute of a module: that module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imported(module: str, path: Path) -> Iterator[str]:
    """The dprobe modules ``module`` imports (anywhere in it)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] == "dprobe" and (target := _deepest(name)) != module:
                yield target


IMPORTS = {module: sorted(set(_imported(module, path))) for module, path in MODULES.items()}


def layer(module: str) -> str:
    """``module``'s layer (``dprobe`` for the package's own ``__init__``)."""
    parts = module.split(".")
    name = parts[1] if len(parts) > 1 else "dprobe"
    return ENTRY_POINTS.get(name, name)


def _arrows() -> Iterator[tuple[str, str, str, str]]:
    """(importer, imported, importer's layer, imported's layer) across layers."""
    for module, targets in IMPORTS.items():
        for target in targets:
            a, b = layer(module), layer(target)
            if a != b and b != "dprobe":
                yield module, target, a, b


def _cycles() -> list[list[str]]:
    """The import cycles: strongly connected sets of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in IMPORTS[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in MODULES:
        if v not in index:
            visit(v)
    return cycles


def test_the_import_graph_is_read():
    assert {"dprobe", "dprobe.cli", "dprobe.engines.registry", "dprobe.train.setup"} <= set(MODULES)
    assert "dprobe.engines.registry" in IMPORTS["dprobe.engines"]
    assert "dprobe.cli" in IMPORTS["dprobe.bench"]


def test_no_import_cycle():
    assert _cycles() == []


def test_every_module_is_in_a_layer():
    known = LEAVES | set(CHAIN) | ABOVE_MODELS | {"cli", "dprobe"}
    assert sorted({m for m in MODULES if layer(m) not in known}) == []


def test_leaves_import_only_leaves():
    bad = [arrow for arrow in _arrows() if arrow[2] in LEAVES and arrow[3] not in LEAVES]
    assert bad == []


@pytest.mark.parametrize("position", range(len(CHAIN) - 1))
def test_data_models_frameworks_import_only_what_is_below_them(position):
    below = LEAVES | set(CHAIN[:position])
    importer = CHAIN[position]
    assert [arrow for arrow in _arrows() if arrow[2] == importer and arrow[3] not in below] == []


def test_the_layers_above_models_never_import_train_frameworks_or_cli():
    bad = [arrow for arrow in _arrows()
           if arrow[2] in ABOVE_MODELS
           and arrow[3] in NOT_FROM_ABOVE_MODELS]
    assert bad == []


def test_only_the_command_line_imports_the_command_line():
    assert [arrow for arrow in _arrows() if arrow[3] == "cli"] == []


def test_only_the_command_line_imports_report():
    assert [arrow for arrow in _arrows() if arrow[3] == "report" and arrow[2] != "cli"] == []
