"""The package's layers import in one direction only, and no module imports itself back.

errors (nothing) <- config (declarative, no Prefect) <- engine (no Prefect) <- workflow
(no Prefect) <- orchestration (Prefect) <- interface / cli.

Every module file under dd_prefect/ is parsed with `ast`; every import in it (at any depth,
including those inside functions and ``if TYPE_CHECKING:`` blocks) is checked. Layers that
don't exist yet have no files and are simply skipped; once added, the rules hold for them.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import dd_prefect

PACKAGE_DIR = Path(dd_prefect.__file__).resolve().parent
ROOT = "dd_prefect"

# layer -> module prefixes it must not import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "dd_prefect.errors": ("dd_prefect.", "prefect", "pydantic", "pandas"),
    "dd_prefect.config": (
        "prefect",
        "dd_prefect.engine",
        "dd_prefect.workflow",
        "dd_prefect.orchestration",
        "dd_prefect.interface",
        "dd_prefect.cli",
        "dd_prefect.testing",
    ),
    "dd_prefect.engine": (
        "prefect",
        "dd_prefect.workflow",
        "dd_prefect.orchestration",
        "dd_prefect.interface",
        "dd_prefect.cli",
    ),
    "dd_prefect.workflow": (
        "prefect",
        "dd_prefect.orchestration",
        "dd_prefect.interface",
        "dd_prefect.cli",
    ),
    "dd_prefect.orchestration": (
        "dd_prefect.interface",
        "dd_prefect.cli",
        "dd_prefect.examples",
    ),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def module_files() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def imports_of(path: Path, module: str) -> set[str]:
    """Absolute names of everything `module` (at `path`) imports, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if not is_package:
                    base = base[:-1]
                if node.level > 1:
                    base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base)
                target = f"{prefix}.{node.module}" if node.module else prefix
            else:
                target = node.module or ""
            found.add(target)
            # `from dd_prefect import engine` imports the submodule dd_prefect.engine
            found.update(f"{target}.{alias.name}" for alias in node.names if alias.name != "*")
    return found


def matches(name: str, prefix: str) -> bool:
    if prefix.endswith("."):  # any submodule of the package
        return name.startswith(prefix)
    return name == prefix or name.startswith(prefix + ".")


def layer_of(module: str) -> str | None:
    return next((layer for layer in FORBIDDEN if matches(module, layer)), None)


def violations() -> list[str]:
    out = []
    for module, path in module_files().items():
        layer = layer_of(module)
        if layer is None:
            continue
        for name in sorted(imports_of(path, module)):
            for prefix in FORBIDDEN[layer]:
                if matches(name, prefix):
                    out.append(f"{module} imports {name} ({layer} must not import {prefix})")
    return out


def test_walk_finds_the_config_layer() -> None:
    modules = module_files()
    assert "dd_prefect.config" in modules
    assert "dd_prefect.config.builder" in modules
    assert "dd_prefect.config.validation" in modules


def test_layers_import_in_one_direction_only() -> None:
    assert violations() == []


@pytest.mark.parametrize("layer", list(FORBIDDEN))
def test_each_existing_layer_is_checked(layer: str) -> None:
    checked = [m for m in module_files() if matches(m, layer)]
    if not checked:
        pytest.skip(f"{layer} has no modules yet")
    assert all(layer_of(m) == layer for m in checked)


def test_import_collector_resolves_relative_and_nested_imports(tmp_path: Path) -> None:
    source = (
        "import prefect.flows\n"
        "from . import sibling\n"
        "from ..engine import runner\n"
        "def f():\n"
        "    from dd_prefect.workflow.stages import run\n"
        "    import dd_prefect.cli\n"
    )
    path = tmp_path / "mod.py"
    path.write_text(source, encoding="utf-8")
    found = imports_of(path, "dd_prefect.config.mod")
    assert {
        "prefect.flows",
        "dd_prefect.config.sibling",
        "dd_prefect.engine",
        "dd_prefect.engine.runner",
        "dd_prefect.workflow.stages",
        "dd_prefect.cli",
    } <= found
    assert matches("prefect.flows", "prefect")
    assert not matches("prefecture", "prefect")
    init = tmp_path / "__init__.py"
    init.write_text("from .x import y\n", encoding="utf-8")
    assert "dd_prefect.config.x" in imports_of(init, "dd_prefect.config")


def _imports_without_prefect(module: str) -> subprocess.CompletedProcess[str]:
    code = (
        f"import {module}, sys\n"
        "loaded = sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.'))\n"
        "assert not loaded, loaded[:5]\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )


def test_importing_config_does_not_import_prefect() -> None:
    result = _imports_without_prefect("dd_prefect.config")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("layer", ["dd_prefect.engine", "dd_prefect.workflow"])
def test_importing_lower_layers_does_not_import_prefect(layer: str) -> None:
    package = PACKAGE_DIR / layer.split(".")[1]
    if not (package / "__init__.py").exists() and not package.with_suffix(".py").exists():
        pytest.skip(f"{layer} does not exist yet")
    result = _imports_without_prefect(layer)
    assert result.returncode == 0, result.stderr


def import_graph() -> dict[str, set[str]]:
    """module -> the package's modules it imports (at any depth), by their real names."""
    modules = module_files()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = set()
        for name in imports_of(path, module):
            # `from dd_prefect.config import x` names the package or a submodule: take the
            # longest existing module; the root package (lazy re-exports) is no edge.
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != ROOT and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_inside_the_package() -> None:
    # A package's __init__ re-exporting its submodules is the one allowed loop: the
    # submodules import each other, never their package.
    graph = import_graph()
    for module, targets in graph.items():
        graph[module] = {t for t in targets if not module.startswith(t + ".")}
    assert cycles(graph) == []


def test_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_is_over_400_lines() -> None:
    long = {
        module: n
        for module, path in module_files().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert long == {}
