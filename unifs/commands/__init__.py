"""Verbs of the ``unifs`` command that live in their own modules, one module per verb.

Each module has ``register(subparsers)``, which adds its parser (with help and examples)
and sets ``run``; :func:`register_all` is called by :mod:`unifs.cli`, whose ``main`` is the
one place that turns exceptions into one-line messages and exit codes (through
:mod:`unifs.commands.errors`). ``shared`` holds what the verbs share. Modules import what
they run lazily: registering costs only argparse.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

__all__ = ["ELSEWHERE", "VERBS", "register_all"]

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
    "cleanup",
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
    "serve",
)


#: verbs whose module lives elsewhere: ``demo`` and ``serve`` start unifs's local test
#: servers, so the testing package provides them (shipped code never imports unifs.testing)
ELSEWHERE = {"demo": "unifs.testing.demo", "serve": "unifs.testing.serve"}


def register_all(subparsers: Any, with_options: Any) -> None:
    """Add every verb here to ``subparsers``; ``with_options`` adds ``-o``/``-a`` to a parser."""
    for verb in VERBS:
        module = ELSEWHERE.get(verb, f"unifs.commands.{verb}")
        importlib.import_module(module).register(subparsers, with_options)


class ExamplesFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps a verb's examples (its ``epilog``) laid out as written."""
