"""``unifs demo [DEST]``: the main job against a local OCI server, no cloud account needed."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any, with_options: Any) -> None:
    """Add ``demo`` to the ``unifs`` command."""
    del with_options
    p = subparsers.add_parser(
        "demo", help="download a small model from a local OCI server (no cloud account)"
    )
    p.add_argument("dest", nargs="?", default="unifs-demo-model")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from unifs.testing.demo import run_demo

    return run_demo(args.dest, keep_server=False)
