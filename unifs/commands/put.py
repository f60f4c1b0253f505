"""``unifs put SRC DEST``: upload a file or directory."""

from __future__ import annotations

import argparse
from typing import Any

from unifs.commands import ExamplesFormatter
from unifs.commands.shared import add_transfer_flags, auth, options, run_transfer, transfer_kwargs

EXAMPLES = """\
examples:
  unifs put ./llama/ s3://models/llama/                  a directory, in parallel
  unifs put ./model.bin gs://b/model.bin                 one file
  unifs put ./llama/ az://models/llama/ --exclude '*.tmp' -o account_name=acme
exit status: 0 uploaded, 1 some files failed, 2 bad usage, auth or not found,
             3 an --include matched no file (0 with --allow-empty)
"""


def register(subparsers: Any, with_options: Any) -> None:
    """Add ``put`` to the ``unifs`` command."""
    p = with_options(
        subparsers.add_parser(
            "put",
            help="upload a file or directory",
            epilog=EXAMPLES,
            formatter_class=ExamplesFormatter,
        )
    )
    p.add_argument("src")
    p.add_argument("dest")
    add_transfer_flags(p, verify=False)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from unifs.transfer import put

    return run_transfer(
        args,
        "put",
        lambda bar: put(
            args.src,
            args.dest,
            auth=auth(args),
            callback=bar,
            **transfer_kwargs(args),
            **options(args.option),
        ),
    )
