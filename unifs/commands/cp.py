"""``unifs cp SRC DST``: copy any URI to any URI (cloud to cloud without local disk)."""

from __future__ import annotations

import argparse
from typing import Any

from unifs.commands import ExamplesFormatter
from unifs.commands.shared import add_transfer_flags, auth, open_fs, options, run_transfer

EXAMPLES = """\
examples:
  unifs cp ./model/ s3://models/llama/ -r                  upload a directory
  unifs cp gs://b/model.bin ./                             download one object
  unifs cp -r oci://n/acme/b/m/o/llama/ s3://m/llama/ -O endpoint_url=http://...
                                                           cloud to cloud, streamed
  unifs cp -r s3://b/a/ s3://b/b/                          server-side within one store
-o/-a apply to the source (and to the destination when it is the same provider);
-O/-A to the destination. Objects that already match at the destination are skipped.
exit status: 0 copied, 1 some files failed, 2 bad usage, auth or not found,
             3 an --include matched no file (0 with --allow-empty)
"""


def register(subparsers: Any, with_options: Any) -> None:
    """Add ``cp`` to the ``unifs`` command."""
    p = with_options(
        subparsers.add_parser(
            "cp",
            help="copy objects or prefixes between any two URIs",
            epilog=EXAMPLES,
            formatter_class=ExamplesFormatter,
        ),
        destination=True,
    )
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("-r", "--recursive", action="store_true", help="copy a prefix or directory")
    add_transfer_flags(p)
    p.set_defaults(run=run)


def check_recursive(args: argparse.Namespace, verb: str) -> None:
    """A prefix or directory source needs -r, as with cp(1)."""
    import os

    from unifs.errors import UnifsError
    from unifs.uri import parse

    if args.recursive:
        return
    src = parse(args.src)
    refuse = UnifsError(
        f"{args.src} is a prefix or directory: use {verb} -r to copy what is below it"
    )
    if src.is_prefix or (src._provider.local_disk and os.path.isdir(src.key)):
        raise refuse
    if src._provider.local_disk:
        return
    # 'llama' without the slash: a prefix (and not an object) needs -r just the same
    fs, path = open_fs(args, args.src)
    try:
        info = fs.info(path)
    except FileNotFoundError:
        return  # the copy says what is missing
    if info.get("type") == "directory":
        raise refuse


def copy_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    dst_options = getattr(args, "dst_option", None)
    return {
        "auth": auth(args),
        "dst_auth": auth(args, "dst_auth"),
        "dst_options": options(dst_options, "-O") if dst_options else None,
        **options(args.option),
    }


def run(args: argparse.Namespace) -> int:
    from unifs.transfer import copy

    check_recursive(args, "cp")
    return run_transfer(
        args,
        "cp",
        lambda bar: copy(
            args.src, args.dst, callback=bar, **transfer_kwargs_(args), **copy_kwargs(args)
        ),
    )


def transfer_kwargs_(args: argparse.Namespace) -> dict[str, Any]:
    from unifs.commands.shared import transfer_kwargs

    return transfer_kwargs(args)
