"""Verbs of the ``unifs`` command that live in their own modules, one module per verb.

Each module has ``register(subparsers)``, which adds its parser (with help and examples)
and sets ``run``; :func:`register_all` is called by :mod:`unifs.cli`, whose ``main`` is the
one place that turns exceptions into one-line messages and exit codes (through
:mod:`unifs.commands.errors`). ``_shared`` holds what the verbs share. Modules import what
they run lazily: registering costs only argparse.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

__all__ = ["VERBS", "register_all"]

#: verb module names, in the order ``unifs --help`` lists them
VERBS = (
    "ls",
    "cat",
    "stat",
    "du",
    "hash",
    "cp",
    "mv",
    "rm",
    "sync",
    "mkdir",
    "restore",
    "get",
    "put",
    "normalize",
    "presign",
    "caps",
    "scan",
    "cache",
    "sign_model",
    "verify_model",
    "demo",
)


def register_all(subparsers: Any, with_options: Any) -> None:
    """Add every verb here to ``subparsers``; ``with_options`` adds ``-o``/``-a`` to a parser."""
    for verb in VERBS:
        importlib.import_module(f"unifs.commands.{verb}").register(subparsers, with_options)


class ExamplesFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps a verb's examples (its ``epilog``) laid out as written."""
