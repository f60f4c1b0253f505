"""Modules that answer calls: ``unifs.capabilities``, ``unifs.presign``, ``unifs.endpoint``.

Each of these names both a module and its main function (DESIGN's public API). Importing
a submodule rebinds the package attribute to the module, so after ``import
unifs.presign`` the name ``unifs.presign`` is the module whatever ``unifs`` exported
before. :func:`make_callable` makes such a module answer calls with its function of the
same name, so ``unifs.presign(uri)`` works whichever binding Python made last.
"""

from __future__ import annotations

import sys
import types
from typing import Any

__all__ = ["CallableModule", "make_callable"]


class CallableModule(types.ModuleType):
    """A module whose calls go to its function of the same name (its last dotted part)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(self, self.__name__.rpartition(".")[2])(*args, **kwargs)


def make_callable(module_name: str) -> None:
    """Make the loaded module ``module_name`` answer calls (see :class:`CallableModule`)."""
    sys.modules[module_name].__class__ = CallableModule
