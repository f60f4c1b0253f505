"""Runners that carry a verb's work elsewhere (a Dask cluster): a small registry of hooks.

The verbs never import an integration: ``unifs.copy(..., client=c)`` asks this registry
for the runner registered as ``"copy"`` and hands it every argument. An integration
registers its runners when it is imported (``unifs.dask`` registers ``copy`` and
``sync``), and names the module that does so as an entry point in the ``unifs.runners``
group (``pyproject.toml``), so that a runner is found without importing it first.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from typing import Any

__all__ = ["register_runner", "runner_for"]

#: entry-point group whose entries, loaded, register runners
ENTRY_POINTS = "unifs.runners"

_runners: dict[str, Callable[..., Any]] = {}


def register_runner(verb: str, runner: Callable[..., Any]) -> None:
    """Run ``verb`` (``"copy"``, ``"sync"``) with ``runner`` when it is given ``client=``.

    ``runner`` is called with the verb's arguments as given, ``client`` among the keywords.
    """
    _runners[verb] = runner


def runner_for(verb: str) -> Callable[..., Any]:
    """The runner registered for ``verb``, loading the ``unifs.runners`` entry points once
    if none is; ``LookupError`` saying what to install or import when there is none."""
    if verb not in _runners:
        for entry in importlib.metadata.entry_points(group=ENTRY_POINTS):
            entry.load()  # importing the integration registers its runners
    try:
        return _runners[verb]
    except KeyError:
        raise LookupError(
            f"nothing runs {verb}(..., client=...) in this environment: install the Dask "
            "extra (pip install 'unifs[dask]') and `import unifs.dask`"
        ) from None
