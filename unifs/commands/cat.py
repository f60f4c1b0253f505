"""``unifs cat URI``: write an object to standard output."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from unifs.commands import ExamplesFormatter

EXAMPLES = """\
examples:
  unifs cat s3://models/llama/config.json
  unifs cat gs://logs/run.txt | tail -n 20
  unifs cat az://c/data.csv -o account_name=acme -a auth=default
"""


def register(subparsers: Any, with_options: Any) -> None:
    """Add ``cat`` to the ``unifs`` command."""
    p = with_options(
        subparsers.add_parser(
            "cat",
            help="write an object to standard output",
            epilog=EXAMPLES,
            formatter_class=ExamplesFormatter,
        )
    )
    p.add_argument("uri")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from unifs.commands.shared import auth, options
    from unifs.endpoint import endpoint
    from unifs.filesystem import open as unifs_open

    ep = endpoint(args.uri, auth=auth(args), **options(args.option))
    ep.check_reachable()
    with unifs_open(ep, "rb") as handle:
        while chunk := handle.read(4 * 2**20):
            sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()
    return 0
