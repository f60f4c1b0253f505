"""``unifs sync SRC DST``: make DST hold what SRC holds, one way, by size and checksum."""

from __future__ import annotations

import argparse
from typing import Any

from unifs.commands import ExamplesFormatter
from unifs.commands.shared import (
    add_transfer_flags,
    print_json,
    report_dict,
    run_transfer,
    unmatched_status,
)

EXAMPLES = """\
examples:
  unifs sync ./model/ s3://models/llama/                  upload what changed
  unifs sync gs://b/model/ az://c/model/ -O connection_string=...
  unifs sync --delete --dry-run s3://b/m/ ./m/            what would be copied and deleted
  unifs sync --exclude '*.tmp' oci://n/acme/b/m/o/x/ ./x/
A file is copied when DST lacks it or holds other bytes (size, then checksum; hashed where
the stores report nothing comparable); modification times are not the deciding fact.
exit status: 0 in sync, 1 some files failed, 2 bad usage, auth or not found,
             3 an --include matched no file (0 with --allow-empty)
"""


def register(subparsers: Any, with_options: Any) -> None:
    """Add ``sync`` to the ``unifs`` command."""
    p = with_options(
        subparsers.add_parser(
            "sync",
            help="one-way sync of two prefixes (any URIs), by size and checksum",
            epilog=EXAMPLES,
            formatter_class=ExamplesFormatter,
        ),
        destination=True,
    )
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--delete", action="store_true", help="remove what SRC lacks from DST")
    p.add_argument("--dry-run", action="store_true", help="print what would change; change nothing")
    add_transfer_flags(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from unifs.commands.cp import copy_kwargs
    from unifs.commands.shared import transfer_kwargs
    from unifs.transfer import sync

    def call(bar: Any) -> Any:
        return sync(
            args.src,
            args.dst,
            delete=args.delete,
            dry_run=args.dry_run,
            callback=bar,
            **transfer_kwargs(args),
            **copy_kwargs(args),
        )

    if not args.dry_run:
        return run_transfer(args, "sync", call)
    report = call(False)
    if args.json:
        print_json(report_dict(report))
        return unmatched_status(args, "sync", report)
    for name in report.would_copy:
        print(f"would copy {name}")
    for name in report.would_delete:
        print(f"would delete {name}")
    print(f"sync: {report.summary()}")
    return unmatched_status(args, "sync", report)
