"""Work the engine hands to a layer above it: a small registry of hooks.

The engine and the verbs never import an integration. Where a verb needs one -- running a
copy on a Dask cluster (``copy(..., client=c)``), checking a download against a model
signature (``get(..., verify_signature=...)``) -- it asks this registry for the hook of
that name. An integration registers its hooks when it is imported (``unifs.dask``:
``copy`` and ``sync`` runners; ``unifs.signing``: ``verify_files``), and names the module
that does so as an entry point in the ``unifs.hooks`` group (``pyproject.toml``), so that
a hook is found without importing its module first.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from typing import Any

__all__ = ["ENTRY_POINTS", "hook", "register_hook"]

#: entry-point group whose entries, loaded, register hooks
ENTRY_POINTS = "unifs.hooks"

#: what to tell a caller when a hook is missing: what provides it
_PROVIDED_BY = {
    "copy": "the Dask extra (pip install 'unifs[dask]'), then `import unifs.dask`",
    "sync": "the Dask extra (pip install 'unifs[dask]'), then `import unifs.dask`",
    "verify_files": "the signing extra (pip install 'unifs[signing]'), `import unifs.signing`",
}

_hooks: dict[str, Callable[..., Any]] = {}


def register_hook(name: str, fn: Callable[..., Any]) -> None:
    """Make ``fn`` the hook called ``name`` (a later registration replaces an earlier one).

    ``copy`` and ``sync`` are called with the verb's arguments as given, ``client`` among
    the keywords; ``verify_files`` as :func:`unifs.signing.verify_files` is.
    """
    _hooks[name] = fn


def hook(name: str) -> Callable[..., Any]:
    """The hook called ``name``, loading the ``unifs.hooks`` entry points once if there is
    none yet; ``LookupError`` saying what provides it when there is still none."""
    if name not in _hooks:
        for entry in importlib.metadata.entry_points(group=ENTRY_POINTS):
            entry.load()  # importing the integration registers its hooks
    try:
        return _hooks[name]
    except KeyError:
        needs = _PROVIDED_BY.get(name, "the integration that provides it")
        raise LookupError(
            f"nothing provides {name!r} in this environment: install {needs}"
        ) from None
