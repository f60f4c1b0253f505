"""``unifs caps URI``: what a store can do with these credentials (``--matrix``: all)."""

from __future__ import annotations

import argparse
from typing import Any

from unifs.commands import ExamplesFormatter
from unifs.commands.shared import auth, options, print_json

EXAMPLES = """\
examples:
  unifs caps s3://models/                     presign, ranged reads, versioning, ...
  unifs caps --json oci://n/acme/b/models/o/
  unifs caps --matrix                         every provider side by side
"""


def register(subparsers: Any, with_options: Any) -> None:
    """Add ``caps`` to the ``unifs`` command."""
    p = with_options(
        subparsers.add_parser(
            "caps",
            help="what a store can do with these credentials",
            epilog=EXAMPLES,
            formatter_class=ExamplesFormatter,
        )
    )
    p.add_argument("uri", nargs="?")
    p.add_argument("--matrix", action="store_true", help="every provider's capabilities")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict, fields

    from unifs.capabilities import capabilities, capability_matrix
    from unifs.errors import UnifsError

    if args.matrix:
        print(capability_matrix(), end="")
        return 0
    if not args.uri:
        raise UnifsError("caps needs a URI, or --matrix")
    caps = capabilities(args.uri, auth=auth(args), **options(args.option))
    if args.json:
        print_json(asdict(caps))
        return 0
    for f in fields(caps):
        if f.name == "reasons":
            continue
        value = getattr(caps, f.name)
        why = caps.reasons.get(f.name)
        print(f"{f.name:22} {value}" + (f"  ({why})" if why else ""))
    return 0
