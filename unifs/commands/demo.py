"""``unifs demo [DEST]``: the main job against a local OCI server, no cloud account needed.

Without ``DEST`` the model lands in a new temporary directory, whose path and removal
command are printed, so a first run leaves nothing in the working directory.
"""

from __future__ import annotations

import argparse
import tempfile
from typing import Any


def register(subparsers: Any, with_options: Any) -> None:
    """Add ``demo`` to the ``unifs`` command."""
    del with_options
    p = subparsers.add_parser(
        "demo", help="download a small model from a local OCI server (no cloud account)"
    )
    p.add_argument(
        "dest",
        nargs="?",
        default=None,
        help="directory to download into (default: a new temporary directory, printed at the end)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from unifs.testing.demo import run_demo

    if args.dest is not None:
        return run_demo(args.dest, keep_server=False)
    # nothing lands in the working directory unasked: a fresh temporary directory, named
    # at the end with the command that removes it
    dest = tempfile.mkdtemp(prefix="unifs-demo-")
    status = run_demo(dest, keep_server=False)
    print(f"the model is in {dest}/ (a temporary directory); remove it with: rm -r {dest}")
    return status
