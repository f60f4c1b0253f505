"""``unifs mv SRC DST``: copy, verified, then remove the source objects that arrived."""

from __future__ import annotations

import argparse
from typing import Any

from unifs.commands import ExamplesFormatter
from unifs.commands.shared import add_transfer_flags, open_fs, transfer_kwargs

EXAMPLES = """\
examples:
  unifs mv s3://b/tmp/model.bin s3://b/final/model.bin   one object (server-side)
  unifs mv -r ./out/ gs://runs/7/                         upload, then remove local files
  unifs mv -r s3://old/m/ oci://n/acme/b/new/o/m/ -A auth=user_principal
exit status: 0 moved, 1 some files failed (their sources kept), 2 bad usage or not found,
             3 an --include matched no file (0 with --allow-empty)
"""


def register(subparsers: Any, with_options: Any) -> None:
    """Add ``mv`` to the ``unifs`` command."""
    p = with_options(
        subparsers.add_parser(
            "mv",
            help="move objects: copy (verified), then remove each source that arrived",
            epilog=EXAMPLES,
            formatter_class=ExamplesFormatter,
        ),
        destination=True,
    )
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("-r", "--recursive", action="store_true", help="move a prefix or directory")
    add_transfer_flags(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from unifs.commands.cp import check_recursive, copy_kwargs
    from unifs.commands.shared import (
        print_failures,
        print_json,
        progress,
        report_dict,
        unmatched_status,
    )
    from unifs.errors import TransferError
    from unifs.transfer import copy

    check_recursive(args, "mv")
    bar = progress("mv")
    failed = False
    try:
        report = copy(
            args.src, args.dst, callback=bar, **transfer_kwargs(args), **copy_kwargs(args)
        )
    except TransferError as exc:
        report, failed = exc.report, True
        print_failures("mv", report.failed)
    finally:
        bar.close()
    # only what is now at the destination, verified or found matching, leaves the source
    arrived = [*report.transferred, *report.skipped]
    fs, path = open_fs(args, args.src)
    single = not args.recursive
    removed = 0
    for relative in arrived:
        target = path if single else f"{path.rstrip('/')}/{relative}"
        fs.rm(target)
        removed += 1
    fs.invalidate_cache()
    if args.json:
        print_json({**report_dict(report), "removed": removed})
    else:
        print(f"mv: {report.summary()}, {removed} source objects removed")
    return 1 if failed else unmatched_status(args, "mv", report)
