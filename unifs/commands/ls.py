"""``unifs ls URI``: list a prefix, printing URIs that paste back into any verb."""

from __future__ import annotations

import argparse
from typing import Any

from unifs.commands import ExamplesFormatter
from unifs.commands.shared import Display, add_show_secrets, open_fs, print_json, size_text

EXAMPLES = """\
examples:
  unifs ls s3://models/llama/                 one URI per line, directories end in /
  unifs ls -lH oci://n/acme/b/models/o/llama/ size, modified time, URI (in the OME dialect typed)
  unifs ls -r gs://data/train/ --json         every object below, one JSON object per line
"""


def register(subparsers: Any, with_options: Any) -> None:
    """Add ``ls`` to the ``unifs`` command."""
    p = with_options(
        subparsers.add_parser(
            "ls",
            help="list a prefix (-r every object below it)",
            epilog=EXAMPLES,
            formatter_class=ExamplesFormatter,
        )
    )
    p.add_argument("uri")
    p.add_argument("-r", "--recursive", action="store_true", help="every object below")
    p.add_argument("-l", "--long", action="store_true", help="size and modification time")
    p.add_argument(
        "-H", "--human-readable", dest="human", action="store_true", help="sizes in KiB, MiB, GiB"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per entry")
    add_show_secrets(p)
    p.set_defaults(run=run)


def modified(info: dict[str, Any]) -> str:
    for key in ("LastModified", "last_modified", "updated", "mtime", "timeModified", "created"):
        value = info.get(key)
        if value:
            if isinstance(value, (int, float)):
                from datetime import datetime, timezone

                return datetime.fromtimestamp(value, timezone.utc).isoformat(timespec="seconds")
            return str(value)
    return ""


def run(args: argparse.Namespace) -> int:
    from unifs.uri import parse

    fs, path = open_fs(args, args.uri)
    fs.invalidate_cache()
    show = Display(args.uri, path, show_secrets=args.show_secrets)
    if args.recursive:
        found = fs.find(path, detail=True)
        if not found:
            raise FileNotFoundError(path)
        entries = sorted(found.values(), key=lambda e: e["name"])
    else:
        entries = fs.ls(path, detail=True)
        if not entries and parse(args.uri).key.strip("/"):
            # an object store has no empty directories: nothing below means no such prefix
            raise FileNotFoundError(path)
    for entry in entries:
        directory = entry.get("type") == "directory"
        uri = show(entry["name"], directory=directory)
        size = int(entry.get("size") or 0)
        if args.json:
            print_json(
                {
                    "uri": uri,
                    "type": "directory" if directory else "file",
                    "size": size,
                    "modified": modified(entry) or None,
                }
            )
        elif args.long:
            shown = "-" if directory else size_text(size, args.human)
            print(f"{shown:>12}  {modified(entry):25}  {uri}")
        else:
            print(uri)
    return 0
