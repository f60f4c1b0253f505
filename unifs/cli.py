"""The ``unifs`` command: the library's verbs from a shell.

    unifs normalize URI...          print each URI's canonical fsspec URL
    unifs ls URI                    list a prefix
    unifs cat URI                   write an object to stdout
    unifs get SRC DEST              download an object or prefix, verified
    unifs put SRC DEST              upload a file or directory
    unifs caps URI                  what the store can do with these credentials
    unifs caps --matrix             the capability matrix of every provider (Markdown)
    unifs demo [DEST]               the main job against a local OCI server, no account needed

Storage options are given as ``-o name=value`` (values are read as JSON when they parse,
e.g. ``-o anon=true``). Exit status: 0 ok, 1 a transfer failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from unifs.errors import UnifsError

__all__ = ["main"]


def _options(pairs: Sequence[str] | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs or ():
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UnifsError(f"-o takes name=value, got {pair!r}")
        try:
            options[name] = json.loads(value)
        except ValueError:
            options[name] = value
    return options


def _progress(total_files: int | None, label: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total_files, unit="file", desc=label, disable=None, leave=False)


def _cmd_normalize(args: argparse.Namespace) -> int:
    from unifs.uri import parse

    for uri in args.uris:
        u = parse(uri, account=args.account)
        print(u.format(args.style) if args.style else u.url)
    return 0


def _cmd_ls(args: argparse.Namespace) -> int:
    from unifs.filesystem import url_to_fs

    fs, path = url_to_fs(args.uri, auth=_auth(args), **_options(args.option))
    for entry in fs.ls(path, detail=True):
        kind = "d" if entry.get("type") == "directory" else "-"
        print(f"{kind} {entry.get('size') or 0:>14} {entry['name']}")
    return 0


def _cmd_cat(args: argparse.Namespace) -> int:
    from unifs.filesystem import open as unifs_open

    with unifs_open(args.uri, "rb", auth=_auth(args), **_options(args.option)) as handle:
        while chunk := handle.read(4 * 2**20):
            sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()
    return 0


def _transfer(args: argparse.Namespace, direction: str) -> int:
    from unifs import transfer

    bar = _progress(None, direction)

    def tick(name: str, nbytes: int) -> None:
        bar.update(1)

    run = transfer.get if direction == "get" else transfer.put
    try:
        report = run(
            args.src,
            args.dest,
            include=args.include,
            exclude=args.exclude,
            concurrency=args.concurrency,
            callback=tick,
            **_options(args.option),
        )
    except transfer.TransferError as exc:
        bar.close()
        for name, reason in exc.report.failed.items():
            print(f"failed: {name}: {reason}", file=sys.stderr)
        print(f"{direction}: {exc.report.summary()}", file=sys.stderr)
        return 1
    bar.close()
    print(f"{direction}: {report.summary()}")
    return 0


def _auth(args: argparse.Namespace) -> dict[str, Any] | None:
    pairs = getattr(args, "auth", None)
    return _options(pairs) if pairs else None


def _cmd_caps(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from unifs.capabilities import capabilities, capability_matrix

    if args.matrix:
        print(capability_matrix(), end="")
        return 0
    if not args.uri:
        raise UnifsError("caps needs a URI, or --matrix")
    caps = capabilities(args.uri, auth=_auth(args), **_options(args.option))
    for f in fields(caps):
        if f.name == "reasons":
            continue
        value = getattr(caps, f.name)
        why = caps.reasons.get(f.name)
        print(f"{f.name:22} {value}" + (f"  ({why})" if why else ""))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from unifs.testing.demo import run_demo

    return run_demo(args.dest, keep_server=False)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unifs",
        description="One storage layer over OCI Object Storage, AWS S3, GCS and Azure Blob.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_options(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "-o",
            "--option",
            action="append",
            metavar="NAME=VALUE",
            help="a storage option for the backend (repeatable)",
        )
        p.add_argument(
            "-a",
            "--auth",
            action="append",
            metavar="NAME=VALUE",
            help="an auth parameter, e.g. -a auth=instance_principal -a region=us-ashburn-1",
        )
        return p

    p = sub.add_parser("normalize", help="print the canonical fsspec URL of each URI")
    p.add_argument("uris", nargs="+", metavar="URI")
    p.add_argument("--style", help="spell it as fsspec, ome or https instead")
    p.add_argument("--account", help="the Azure account, for az://account/container/key")
    p.set_defaults(run=_cmd_normalize)

    p = with_options(sub.add_parser("ls", help="list a prefix"))
    p.add_argument("uri")
    p.set_defaults(run=_cmd_ls)

    p = with_options(sub.add_parser("cat", help="write an object to standard output"))
    p.add_argument("uri")
    p.set_defaults(run=_cmd_cat)

    for name, text in (("get", "download an object or prefix"), ("put", "upload a path")):
        p = with_options(sub.add_parser(name, help=text))
        p.add_argument("src")
        p.add_argument("dest")
        p.add_argument("--include", action="append", metavar="GLOB", help="keep matching paths")
        p.add_argument("--exclude", action="append", metavar="GLOB", help="drop matching paths")
        p.add_argument("--concurrency", type=int, help="files in flight at once")
        p.set_defaults(run=lambda a, d=name: _transfer(a, d))

    p = with_options(sub.add_parser("caps", help="what a store can do with these credentials"))
    p.add_argument("uri", nargs="?")
    p.add_argument("--matrix", action="store_true", help="every provider's capabilities")
    p.set_defaults(run=_cmd_caps)

    p = sub.add_parser(
        "demo", help="download a small model from a local OCI server (no cloud account)"
    )
    p.add_argument("dest", nargs="?", default="unifs-demo-model")
    p.set_defaults(run=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``unifs`` command; return its exit status."""
    args = _parser().parse_args(argv)
    try:
        status: int = args.run(args)
    except (UnifsError, ValueError, FileNotFoundError, PermissionError) as exc:
        print(f"unifs {args.command}: {exc}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
