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

A line ending in `# unifs: ignore` is not reported.
exit status: 0 nothing found, 1 findings, 2 bad usage (e.g. a path that does not exist)
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
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Scan, print in the chosen format; 1 when anything is found."""
    from unifs.scan import FORMATTERS, SkippedFile, scan_paths

    skipped: list[SkippedFile] = []
    findings = scan_paths(args.paths, exclude=args.exclude, skipped=skipped)
    sys.stdout.write(FORMATTERS[args.format](findings, skipped))
    if args.format != "text":
        for item in skipped:
            print(f"unifs scan: skipped {item.path}: {item.reason}", file=sys.stderr)
    return 1 if findings else 0
