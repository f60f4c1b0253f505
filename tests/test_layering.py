"""unifs's layering (docs/architecture.md), checked on the source with ``ast``.

Each module of ``unifs/`` belongs to one layer; an import may only point to its own layer
or one below. No module imports a leading-underscore name (or module) from another unifs
package, nothing outside ``unifs/testing`` imports ``unifs.testing``, and no import circle
remains outside the OCI provider's own modules and ``unifs/testing``.

What counts as an import: every ``import``/``from ... import`` that runs, at module level
or inside a function. Not counted: imports under ``if TYPE_CHECKING:`` (they run only
under a type checker), and those inside a module-level ``__getattr__`` -- the lazy
re-export of an old name (PEP 562), which runs only when that name is asked for.
"""

from __future__ import annotations

import ast
import pathlib
from dataclasses import dataclass

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "unifs"

#: the layers, bottom up: a module or package here covers its submodules. The one table
#: of the layering; docs/architecture.md draws it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("unifs.redact", "unifs.errors", "unifs.callable_module"),
    ("unifs.uri", "unifs.registry"),
    ("unifs.types", "unifs.auth", "unifs.forksafe"),
    ("unifs.providers", "unifs._oci_hook"),
    ("unifs.endpoint",),
    ("unifs.capabilities", "unifs.presign", "unifs.filesystem"),
    ("unifs.engine",),
    ("unifs.transfer",),
    (
        "unifs.torch",
        "unifs.signing",
        "unifs.model_files",
        "unifs.artifacts",
        "unifs.artifact_integrity",
        "unifs.scan",
        "unifs.dask",
    ),
    ("unifs.commands", "unifs.cli", "unifs.__main__"),
)

#: packages whose own imports are not checked yet (none: every package passes). Imports
#: *of* them are always checked.
NOT_YET_CHECKED: tuple[str, ...] = ()

#: outside the layers: the package root is a lazy facade (it imports nothing when it runs,
#: and ``from unifs import __version__`` is fine anywhere); the testing package may import
#: every layer, and no layer imports it
FACADE = "unifs"
TESTING = "unifs.testing"
#: a circle among these is the OCI provider's own business (its filesystem, file objects
#: and HTTP layer refer to each other)
OCI_OWN = ("unifs.providers.oci", "unifs.providers.oci_")


@dataclass(frozen=True)
class Import:
    importer: str  # the module the statement is in
    module: str  # the unifs module it loads
    name: str | None  # the name taken from it (``from m import name``), if not a module
    line: int
    runtime: bool  # not under TYPE_CHECKING, not a lazy re-export


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_module(name: str) -> bool:
    return name in MODULES


def _is_package(name: str) -> bool:
    return (MODULES.get(name) or pathlib.Path()).name == "__init__.py"


def _resolve_from(importer: str, node: ast.ImportFrom) -> str | None:
    if node.level:
        base = importer.split(".")
        if not _is_package(importer):
            base.pop()
        base = base[: len(base) - (node.level - 1)]
        return ".".join([*base, node.module] if node.module else base)
    return node.module


def _imports(module: str) -> list[Import]:
    """Every import of a unifs module in ``module``, wherever it stands."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: list[Import] = []

    def record(node: ast.Import | ast.ImportFrom, runtime: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "unifs":
                    found.append(Import(module, alias.name, None, node.lineno, runtime))
            return
        source = _resolve_from(module, node)
        if not source or source.split(".")[0] != "unifs":
            return
        for alias in node.names:
            sub = f"{source}.{alias.name}"
            if _is_module(sub):  # ``from unifs import forksafe``: the module itself
                found.append(Import(module, sub, None, node.lineno, runtime))
            else:
                found.append(Import(module, source, alias.name, node.lineno, runtime))

    def walk(node: ast.AST, runtime: bool, scope: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                record(child, runtime)
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for sub in child.body:
                    walk(ast.Module(body=[sub], type_ignores=[]), False, scope)
                for sub in child.orelse:
                    walk(ast.Module(body=[sub], type_ignores=[]), runtime, scope)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lazy = scope == "module" and child.name == "__getattr__"
                walk(child, runtime and not lazy, "function")
            elif isinstance(child, ast.ClassDef):
                walk(child, runtime, "class")
            else:
                walk(child, runtime, scope)

    walk(tree, True, "module")
    return found


ALL_IMPORTS = [imp for module in MODULES for imp in _imports(module)]


def _covers(prefix: str, module: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _layer(module: str) -> int | None:
    for height, names in enumerate(LAYERS):
        if any(_covers(name, module) for name in names):
            return height
    return None


def _package(module: str) -> str:
    return module if _is_package(module) else module.rpartition(".")[0]


def _checked(imp: Import) -> bool:
    return not any(_covers(name, imp.importer) for name in NOT_YET_CHECKED)


def _where(imp: Import) -> str:
    what = f"{imp.module}.{imp.name}" if imp.name else imp.module
    return f"{MODULES[imp.importer].relative_to(ROOT)}:{imp.line} imports {what}"


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m in MODULES if m != FACADE and not _covers(TESTING, m) and _layer(m) is None]
    assert not unplaced, f"add these modules to LAYERS (and docs/architecture.md): {unplaced}"


def test_no_import_points_up() -> None:
    up = [
        f"{_where(imp)} (layer {_layer(imp.importer)} -> {_layer(imp.module)})"
        for imp in ALL_IMPORTS
        if imp.runtime
        and _checked(imp)
        and imp.module != FACADE
        and not _covers(TESTING, imp.importer)
        and not _covers(TESTING, imp.module)
        and (_layer(imp.module) or 0) > (_layer(imp.importer) or 0)
    ]
    assert not up, "imports pointing up the layers:\n" + "\n".join(up)


def _private(imp: Import) -> bool:
    parts = [*imp.module.split(".")[1:], *([imp.name] if imp.name else [])]
    return any(p.startswith("_") and not (p.startswith("__") and p.endswith("__")) for p in parts)


def test_no_private_name_from_another_package() -> None:
    private = [
        _where(imp)
        for imp in ALL_IMPORTS
        if _checked(imp)
        and _private(imp)
        and _package(imp.importer) != _package(imp.module)
        # a name of the package itself, taken by one of its own modules
        and not (imp.name and _package(imp.importer) == imp.module)
    ]
    assert not private, "private names imported across packages:\n" + "\n".join(private)


def test_nothing_outside_testing_imports_testing() -> None:
    # type-only imports count too: shipped code does not even name the test servers
    offenders = [
        _where(imp)
        for imp in ALL_IMPORTS
        if _covers(TESTING, imp.module) and not _covers(TESTING, imp.importer)
    ]
    assert not offenders, "shipped code importing unifs.testing:\n" + "\n".join(offenders)


def _circles() -> list[list[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in ALL_IMPORTS:
        if not imp.runtime or imp.module == FACADE or imp.importer == imp.module:
            continue
        if _covers(TESTING, imp.importer) and _covers(TESTING, imp.module):
            continue
        if imp.importer.startswith(OCI_OWN) and imp.module.startswith(OCI_OWN):
            continue
        graph[imp.importer].add(imp.module)
    # Tarjan's strongly connected components
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            connect(node)
    return found


def test_no_import_circle() -> None:
    circles = [
        c for c in _circles() if not all(any(_covers(n, m) for n in NOT_YET_CHECKED) for m in c)
    ]
    assert not circles, f"modules importing each other in a circle: {circles}"


@pytest.mark.parametrize("height", range(len(LAYERS)))
def test_the_architecture_page_draws_each_layer(height: int) -> None:
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for name in LAYERS[height]:
        short = name.removeprefix("unifs.")
        assert short in page, f"docs/architecture.md does not show {name} (layer {height})"
