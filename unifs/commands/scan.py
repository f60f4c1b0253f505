"""``unifs scan PATH...``: find direct cloud-SDK use to migrate to unifs."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from unifs.commands import ExamplesFormatter

EXAMPLES = """\
examples:
  unifs scan src/                          text, one finding per line
  unifs scan src/ --exclude 'tests/*'      skip paths matching a glob (repeatable)
  unifs scan . --format sarif > scan.sarif for a code-scanning UI
  unifs scan . --format json               a list of {path, line, col, sdk, symbol, hint}

A line ending in `# unifs: ignore` is not reported. Each file is read only if it is a
regular file within --max-file-size, and scanned within --timeout and --memory; a file
that is not is reported as "PATH: skipped: REASON" and the scan goes on.
exit status: 0 nothing found; 1 findings (whatever was skipped); 2 files were skipped
and nothing was found, or bad usage (e.g. a path that does not exist)
"""


def register(subparsers: Any, with_options: Any) -> None:
    """Add ``scan`` to the ``unifs`` command."""
    del with_options  # scanning reads local files only
    p = subparsers.add_parser(
        "scan",
        help="find direct cloud-SDK use (boto3, google-cloud-storage, azure, oci, s3fs...)",
        description="Find direct cloud-SDK use in Python code, with the unifs call to use instead.",
        epilog=EXAMPLES,
        formatter_class=ExamplesFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="Python files or directories")
    p.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB")
    p.add_argument(
        "--max-file-size", default="16M", metavar="SIZE", help="skip larger files (default 16M)"
    )
    p.add_argument(
        "--timeout", type=float, default=60.0, metavar="SECONDS", help="per file (default 60)"
    )
    p.add_argument(
        "--memory", default="2G", metavar="SIZE", help="address space per file (default 2G)"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Scan, print in the chosen format; 1 when anything is found, 2 when only skips."""
    from unifs.scan import FORMATTERS, Limits, SkippedFile, scan_paths

    limits = Limits(
        max_bytes=_size("--max-file-size", args.max_file_size),
        seconds=args.timeout,
        memory=_size("--memory", args.memory),
    )
    skipped: list[SkippedFile] = []
    findings = scan_paths(args.paths, exclude=args.exclude, skipped=skipped, limits=limits)
    sys.stdout.write(FORMATTERS[args.format](findings, skipped))
    if args.format != "text":
        for item in skipped:
            print(f"unifs scan: skipped {item.path}: {item.reason}", file=sys.stderr)
    return 1 if findings else 2 if skipped else 0


def _size(flag: str, text: str) -> int:
    from unifs.commands.cache import parse_size
    from unifs.errors import UnifsError

    try:
        return parse_size(text)
    except UnifsError:
        raise UnifsError(f"{flag} takes a size such as 500K, 16M or 2G, not {text!r}") from None
