"""The public API is exactly what ``unifs.__all__`` says, sorted, and every name resolves."""

from __future__ import annotations

import unifs

# DESIGN.md's contract: acceptance checks call these names
CONTRACT = {"parse", "normalize", "StorageURI", "url_to_fs", "open", "get", "put", "copy", "sync"}


def test_all_is_sorted_and_resolves():
    assert unifs.__all__ == sorted(unifs.__all__)
    assert set(unifs.__all__) - {"__version__"} == set(unifs._EXPORTS) | set(unifs._SUBMODULES)
    for name in unifs.__all__:
        assert getattr(unifs, name) is not None, name


def test_contract_names_are_public():
    assert set(unifs.__all__) >= CONTRACT


def test_public_submodules_resolve():
    for name in unifs._SUBMODULES:
        module = getattr(unifs, name)
        assert module.__name__ == f"unifs.{name}" and (module.__doc__ or "").strip()
    assert callable(unifs.scan.scan_paths)


def test_public_members_are_documented():
    for name in unifs.__all__:
        member = getattr(unifs, name)
        if callable(member):
            assert (member.__doc__ or "").strip(), f"unifs.{name} has no docstring"


def _api_pages() -> str:
    import pathlib

    docs = pathlib.Path(__file__).resolve().parent.parent / "docs" / "api"
    return "\n".join(page.read_text(encoding="utf-8") for page in sorted(docs.glob("*.md")))


def test_each_public_name_is_on_an_api_page() -> None:
    import importlib

    pages = _api_pages()
    for name, module_name in unifs._EXPORTS.items():
        assert f"::: {module_name}\n" in pages, f"no docs/api page renders {module_name}"
        module = importlib.import_module(module_name)
        # mkdocstrings renders what the module's __all__ names
        assert name in module.__all__, f"{module_name}.__all__ lacks {name}"
    for name in unifs._SUBMODULES:
        assert f"::: unifs.{name}" in pages, f"no docs/api page renders unifs.{name}"


def test_every_public_callable_at_top_level_is_in_all() -> None:
    import types

    for name in unifs.__all__:  # load every lazy name, as `from unifs import *` would
        getattr(unifs, name)
    for name, value in vars(unifs).items():
        if name.startswith("_") or isinstance(value, types.ModuleType):
            continue  # submodules attach themselves when imported
        if callable(value):
            assert name in unifs.__all__, f"unifs.{name} is public but not in __all__"


def test_type_checkers_see_exactly_the_exports() -> None:
    """``unifs/__init__.py`` names each export twice: in ``_EXPORTS`` (what loads it) and
    under ``TYPE_CHECKING`` (what type checkers read); the two must agree."""
    import ast
    import importlib
    import pathlib
    import types

    tree = ast.parse(pathlib.Path(unifs.__file__).read_text(encoding="utf-8"))
    seen: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                if isinstance(stmt, ast.ImportFrom) and stmt.module != "typing":
                    for alias in stmt.names:
                        assert alias.asname == alias.name, f"{alias.name}: write 'X as X'"
                        seen[alias.name] = stmt.module or ""
    assert set(seen) == set(unifs._EXPORTS)
    for name, module_name in seen.items():
        # the same object, wherever the type checker is told it comes from (unifs.presign,
        # unifs.capabilities and unifs.endpoint may be their callable modules by now)
        exported = getattr(unifs, name)
        if isinstance(exported, types.ModuleType):
            exported = getattr(exported, name)
        assert getattr(importlib.import_module(module_name), name) is exported
