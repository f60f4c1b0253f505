"""``unifs rm URI``: remove an object, or (-r) everything below a prefix."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from unifs.commands import ExamplesFormatter
from unifs.commands.shared import Display, open_fs

EXAMPLES = """\
examples:
  unifs rm s3://b/old/model.bin            one object
  unifs rm -r --dry-run gs://b/runs/7/     what -r would remove, removing nothing
  unifs rm -r --force az://scratch/        everything in a bucket (refused without --force)
exit status: 0 removed, 1 some objects could not be removed, 2 bad usage or not found
"""


def register(subparsers: Any, with_options: Any) -> None:
    """Add ``rm`` to the ``unifs`` command."""
    p = with_options(
        subparsers.add_parser(
            "rm",
            help="remove an object, or -r everything below a prefix",
            epilog=EXAMPLES,
            formatter_class=ExamplesFormatter,
        )
    )
    p.add_argument("uri")
    p.add_argument("-r", "--recursive", action="store_true", help="everything below a prefix")
    p.add_argument("--dry-run", action="store_true", help="print what would go; remove nothing")
    p.add_argument("--force", action="store_true", help="allow removing a whole bucket's objects")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from unifs.errors import UnifsError
    from unifs.uri import parse

    uri = parse(args.uri)
    if uri.bucket and not uri.key.strip("/") and not args.force:
        raise UnifsError(
            f"{args.uri} is a whole bucket: add --force (with -r) to remove every object in it"
        )
    fs, path = open_fs(args, args.uri)
    fs.invalidate_cache()
    info = None if uri.is_prefix else _info(fs, path)
    if info is not None and info.get("type") == "file":
        targets = [info["name"]]
    else:
        if not args.recursive:
            raise UnifsError(f"{args.uri} is a prefix: add -r to remove everything below it")
        targets = sorted(fs.find(path.rstrip("/")))
        if not targets:
            raise FileNotFoundError(path)
    show = Display(args.uri, path) if len(targets) > 1 or uri.is_prefix else (lambda _: args.uri)
    failed = 0
    for target in targets:
        if args.dry_run:
            print(f"would remove {show(target)}")
            continue
        try:
            fs.rm(target)
        except Exception as exc:  # one object's failure does not stop the rest
            from unifs.redact import mask_secrets

            failed += 1
            print(mask_secrets(f"unifs rm: {show(target)}: {exc}"), file=sys.stderr)
            continue
        print(f"removed {show(target)}")
    fs.invalidate_cache()
    return 1 if failed else 0


def _info(fs: Any, path: str) -> dict[str, Any] | None:
    try:
        return dict(fs.info(path))
    except FileNotFoundError:
        return None
