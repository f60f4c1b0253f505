"""``unifs mkdir URI``: create a bucket, or a directory on local disk."""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

from unifs.commands import ExamplesFormatter
from unifs.commands.shared import open_endpoint

EXAMPLES = """\
examples:
  unifs mkdir s3://new-bucket -a region=us-east-1
  unifs mkdir oci://n/acme/b/new-bucket -o compartment_id=ocid1.compartment...
  unifs mkdir ./local/dir
exit status: 0 created (or already there), 2 bad usage, auth or refused
"""


def register(subparsers: Any, with_options: Any) -> None:
    """Add ``mkdir`` to the ``unifs`` command."""
    p = with_options(
        subparsers.add_parser(
            "mkdir",
            help="create a bucket (object stores have no directories below it)",
            epilog=EXAMPLES,
            formatter_class=ExamplesFormatter,
        )
    )
    p.add_argument("uri")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    ep = open_endpoint(args, args.uri)
    with contextlib.suppress(FileExistsError):
        ep.provider.make_bucket(ep.fs, ep.path.rstrip("/") or ep.path)
    ep.fs.invalidate_cache()
    print(f"created {args.uri}")
    return 0
