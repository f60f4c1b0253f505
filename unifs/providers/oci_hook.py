"""Keep ``oci://`` served by unifs even when ``ocifs`` is imported before it is used.

Why this exists: fsspec learns of unifs's OCI filesystem from the ``fsspec.specs`` entry
point, as a lazy name. But ``import ocifs`` registers ocifs's own class *directly* in
fsspec's registry, and a registered class wins over a lazy name -- so after a plain
``import ocifs``, ``fsspec.open("oci://n/ns/b/bucket/o/key")`` would reach ocifs, which
does not read the OME dialect.

The wheel ships ``unifs_oci_hook.pth``, which Python runs at start-up; it calls
:func:`install`, which puts one import watcher on ``sys.meta_path``. When ``ocifs`` is
first imported, the watcher lets it load normally and then imports
``unifs.providers.oci_filesystem``, whose last lines register unifs's own class for ``oci``
(and ``ocios``), which takes ocifs's storage options unchanged. If unifs's class was
registered first, the watcher moves it aside while ocifs registers (ocifs refuses a name
another class holds) and puts it back after. The watcher does nothing
for any other module and removes itself after that one import. Set ``UNIFS_NO_OCI_HOOK=1``
to turn it off.
"""

from __future__ import annotations

import os
import sys

# Neither `typing` nor `importlib.abc` is imported at run time: this module loads at every
# interpreter start, and the import system only needs the methods below.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Any

__all__ = ["install", "watching"]

_OUR_MODULE = "unifs.providers.oci_filesystem"


def _step_aside() -> Any:
    """Take unifs's class out of fsspec's registry while ocifs registers its own.

    ocifs registers with ``clobber=False`` and raises if another class holds ``oci``; when
    unifs's module was loaded first (it no longer imports ocifs while this watcher stands),
    that class is unifs's: move it aside and return it, to be put back after ocifs loads.
    """
    if _OUR_MODULE not in sys.modules:
        return None
    try:
        # the module, not fsspec's attribute of the same name (a read-only view)
        registry: Any = __import__("importlib").import_module("fsspec.registry")
    except Exception:
        return None
    ours = registry._registry.get("oci")
    if ours is not None and getattr(ours, "__module__", "") == _OUR_MODULE:
        registry._registry.pop("oci", None)
        return ours
    return None


def _claim_oci(ours: Any = None) -> None:
    if ours is not None:  # unifs's class was registered before ocifs: put it back
        from fsspec.registry import register_implementation

        register_implementation("oci", ours, clobber=True)
        return
    # Our module re-registers itself when it finishes loading; if it is loading now,
    # leave it to that.
    if _OUR_MODULE in sys.modules:
        return
    try:  # noqa: SIM105 - contextlib is not worth importing at every start-up
        __import__(_OUR_MODULE)
    except Exception:  # never let unifs break `import ocifs`
        pass


def watching() -> bool:
    """Whether the watcher stands, i.e. a later ``import ocifs`` will be claimed back."""
    return any(isinstance(finder, _OcifsWatcher) for finder in sys.meta_path)


class _ClaimAfterLoad:
    """Run ocifs's own loader, then claim ``oci``."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        ours = _step_aside()
        try:
            self._loader.exec_module(module)
        finally:
            _claim_oci(ours)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _OcifsWatcher:
    """Finds nothing itself; wraps the loader of ``ocifs`` the first time it is imported."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != "ocifs":
            return None
        sys.meta_path.remove(self)
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _ClaimAfterLoad(spec.loader)
                return spec
        return None


def install() -> None:
    """Watch for ``import ocifs`` (idempotent; a no-op if ocifs is loaded already)."""
    if os.environ.get("UNIFS_NO_OCI_HOOK") or "ocifs" in sys.modules:
        return
    if not any(isinstance(finder, _OcifsWatcher) for finder in sys.meta_path):
        sys.meta_path.insert(0, _OcifsWatcher())
