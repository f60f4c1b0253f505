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
