"""``unifs normalize URI...``: print each URI's canonical fsspec URL (or another dialect)."""

from __future__ import annotations

import argparse
from typing import Any

from unifs.commands import ExamplesFormatter
from unifs.commands.shared import print_json

EXAMPLES = """\
examples:
  unifs normalize oci://n/acme/b/models/o/llama/     oci://models@acme/llama/
  unifs normalize --style ome oci://models@acme/x   oci://n/acme/b/models/o/x
  unifs normalize --style https s3://b/k            https://b.s3.amazonaws.com/k
"""


def register(subparsers: Any, with_options: Any) -> None:
    """Add ``normalize`` to the ``unifs`` command."""
    del with_options
    p = subparsers.add_parser(
        "normalize",
        help="print the canonical fsspec URL of each URI",
        epilog=EXAMPLES,
        formatter_class=ExamplesFormatter,
    )
    p.add_argument("uris", nargs="+", metavar="URI")
    p.add_argument("--style", help="spell it as fsspec, ome or https instead")
    p.add_argument("--account", help="the Azure account, for az://account/container/key")
    p.add_argument("--json", action="store_true", help="one JSON object per URI")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from unifs.uri import parse

    for uri in args.uris:
        u = parse(uri, account=args.account)
        text = u.format(args.style) if args.style else u.url
        if args.json:
            print_json(
                {"uri": uri, "url": text, "provider": u.provider, "bucket": u.bucket, "key": u.key}
            )
        else:
            print(text)
    return 0
