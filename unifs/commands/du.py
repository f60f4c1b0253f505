"""``unifs du URI``: bytes and objects below a prefix."""

from __future__ import annotations

import argparse
from typing import Any

from unifs.commands import ExamplesFormatter
from unifs.commands.shared import (
    Display,
    add_show_secrets,
    open_fs,
    print_json,
    shown,
    size_text,
)
from unifs.engine.listing import list_files

EXAMPLES = """\
examples:
  unifs du -H s3://models/                    each top-level prefix and the total, in GiB
  unifs du -s gs://data/train/                only the total
  unifs du --json oci://n/acme/b/models/o/    as JSON
"""


def register(subparsers: Any, with_options: Any) -> None:
    """Add ``du`` to the ``unifs`` command."""
    p = with_options(
        subparsers.add_parser(
            "du",
            help="bytes and objects below a prefix",
            epilog=EXAMPLES,
            formatter_class=ExamplesFormatter,
        )
    )
    p.add_argument("uri")
    p.add_argument("-s", "--summarize", action="store_true", help="only the total")
    p.add_argument(
        "-H", "--human-readable", dest="human", action="store_true", help="sizes in KiB, MiB, GiB"
    )
    p.add_argument("--json", action="store_true", help="as JSON")
    add_show_secrets(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    fs, path = open_fs(args, args.uri)
    base = path.rstrip("/")
    listing = list_files(fs, path)
    if not listing.found:
        raise FileNotFoundError(path)
    show = Display(args.uri, base, show_secrets=args.show_secrets)
    groups: dict[str, list[int]] = {}
    total = [0, 0]
    for entry in listing.files:
        size = entry.size
        total[0] += size
        total[1] += 1
        rest = entry.relative
        top = rest.split("/", 1)[0] if "/" in rest else ""
        if top:
            group = groups.setdefault(top, [0, 0])
            group[0] += size
            group[1] += 1
    rows = (
        []
        if args.summarize
        else [
            (show(f"{base}/{top}", directory=True), size, count)
            for top, (size, count) in sorted(groups.items())
        ]
    )
    rows.append((shown(args, args.uri), total[0], total[1]))
    if args.json:
        print_json([{"uri": uri, "size": size, "objects": count} for uri, size, count in rows])
        return 0
    for uri, size, count in rows:
        print(f"{size_text(size, args.human):>12}  {count:>8} objects  {uri}")
    return 0
