"""``unifs cache ls|du|prune``: the node-local artifact cache behind ``download_artifact``."""

from __future__ import annotations

import argparse
import json
import re
import time
from typing import Any

from unifs.commands import ExamplesFormatter
from unifs.errors import UnifsError

EXAMPLES = """\
examples:
  unifs cache ls                       entries, least recently used first
  unifs cache ls --json                the same as JSON lines
  unifs cache du                       total size and entry count
  unifs cache prune --max-size 50G     drop least recently used entries down to 50 GiB
  unifs cache prune --max-size 0 --dry-run
An entry a running process was handed (and has not released) is kept: "kept URI: in use".

The cache lives in $UNIFS_CACHE_DIR, else the user cache directory (--cache-dir overrides).
"""

_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``500M``, ``50G``, ``1.5TiB`` or a byte count, in binary units."""
    match = _SIZE.match(text)
    if not match:
        raise UnifsError(f"--max-size takes a size such as 500M, 50G or 1.5T, not {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def register(subparsers: Any, with_options: Any) -> None:
    """Add ``cache`` (with ``ls``, ``du`` and ``prune``) to the ``unifs`` command."""
    del with_options  # the cache is local
    p = subparsers.add_parser(
        "cache",
        help="list, size or prune the node-local artifact cache",
        description="Manage the cache that unifs.download_artifact fills.",
        epilog=EXAMPLES,
        formatter_class=ExamplesFormatter,
    )
    p.add_argument("--cache-dir", help="the cache root (default: $UNIFS_CACHE_DIR or user cache)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = actions.add_parser("ls", help="list entries, least recently used first")
    ls.add_argument("--json", action="store_true", help="one JSON object per entry")
    actions.add_parser("du", help="total size of the cache")
    pr = actions.add_parser("prune", help="remove least recently used entries")
    pr.add_argument("--max-size", required=True, metavar="SIZE", help="e.g. 500M, 50G, 0")
    pr.add_argument("--dry-run", action="store_true", help="say what would go, remove nothing")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run one cache action."""
    from unifs import artifacts

    if args.action == "ls":
        for entry in artifacts.entries(args.cache_dir):
            if args.json:
                print(json.dumps(entry.as_dict()))
            else:
                used = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.last_used))
                print(f"{_human(entry.size):>10}  {entry.files:>6} files  {used}  {entry.uri}")
                print(f"{'':>10}  -> {entry.path}")
        return 0
    if args.action == "du":
        listed = artifacts.entries(args.cache_dir)
        total = sum(e.size for e in listed)
        print(f"{_human(total)} in {len(listed)} entries at {artifacts.cache_root(args.cache_dir)}")
        return 0
    limit = parse_size(args.max_size)
    verb = "would remove" if args.dry_run else "removed"
    removed = artifacts.prune(
        limit,
        cache_dir=args.cache_dir,
        dry_run=args.dry_run,
        on_remove=lambda e: print(f"{verb} {e.uri} ({_human(e.size)}, {e.version})"),
        on_keep=lambda e: print(f"kept {e.uri} ({_human(e.size)}, {e.version}): in use"),
    )
    print(f"{verb} {len(removed)} entries ({_human(sum(e.size for e in removed))})")
    return 0
