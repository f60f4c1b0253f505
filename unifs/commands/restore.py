"""``unifs restore URI``: make archived objects readable again (OCI's Archive tier)."""

from __future__ import annotations

import argparse
from typing import Any

from unifs.commands.shared import open_fs

_EXAMPLES = """examples:
  unifs restore oci://models@acme/old/llama.bin              ask for a 24-hour restore
  unifs restore oci://models@acme/old/ --hours 48 --wait     a prefix; return once readable
"""


def register(subparsers: Any, with_options: Any) -> None:
    """Add ``restore`` to the ``unifs`` command."""
    from unifs.commands import ExamplesFormatter

    p = with_options(
        subparsers.add_parser(
            "restore",
            help="restore archived objects (OCI Archive tier) so that they can be read",
            epilog=_EXAMPLES,
            formatter_class=ExamplesFormatter,
        )
    )
    p.add_argument("uri", help="an object, or a prefix: every archived object under it")
    p.add_argument("--hours", type=int, default=24, help="how long they stay readable (24)")
    p.add_argument("--wait", action="store_true", help="return once they can be read")
    p.add_argument(
        "--max-wait", type=float, default=3 * 3600.0, help="seconds --wait waits at most"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from unifs.errors import UnsupportedError

    fs, path = open_fs(args, args.uri)
    restore = getattr(fs, "restore", None)
    if restore is None:
        raise UnsupportedError(f"{args.uri}: this store keeps no archive tier to restore from")
    asked = restore(path, hours=args.hours, wait=args.wait, max_wait=args.max_wait)
    state = "restored" if args.wait else "restore requested"
    for name in asked:
        print(f"{state}: {name}")
    if not asked:
        print(f"nothing archived at {args.uri}")
    return 0
