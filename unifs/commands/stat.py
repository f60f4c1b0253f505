"""``unifs stat URI``: one object's size, type, checksums and identity, as the store says."""

from __future__ import annotations

import argparse
from typing import Any

from unifs.commands import ExamplesFormatter
from unifs.commands.shared import add_show_secrets, open_fs, print_json, shown

EXAMPLES = """\
examples:
  unifs stat s3://models/llama/model.safetensors
  unifs stat --json gs://b/model.bin          every field the store reports
"""


def register(subparsers: Any, with_options: Any) -> None:
    """Add ``stat`` to the ``unifs`` command."""
    p = with_options(
        subparsers.add_parser(
            "stat",
            help="size, checksums and identity of one object",
            epilog=EXAMPLES,
            formatter_class=ExamplesFormatter,
        )
    )
    p.add_argument("uri")
    p.add_argument(
        "--json",
        action="store_true",
        help="uri, type, size, mtime, etag, checksums, version (as ls --json) and "
        "every field the store reports under 'store'",
    )
    add_show_secrets(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from unifs.commands.shared import entry_record, modified
    from unifs.registry import get_provider
    from unifs.uri import parse

    fs, path = open_fs(args, args.uri)
    fs.invalidate_cache()
    info = fs.info(path)
    provider = get_provider(parse(args.uri).provider)
    checksums = {kind: digest for kind, digest in provider.checksums(info)}
    if args.json:
        record = entry_record(provider, info, args.uri)
        print_json(shown(args, {**record, "store": info}))
        return 0
    print(f"uri       {shown(args, args.uri)}")
    print(f"type      {info.get('type')}")
    print(f"size      {info.get('size')}")
    if modified(info):
        print(f"modified  {modified(info)}")
    for kind, digest in checksums.items():
        print(f"{kind:9} {digest}")
    for key in ("ETag", "etag", "generation", "version_id", "VersionId"):
        if info.get(key):
            print(f"{key.lower():9} {info[key]}")
    return 0
