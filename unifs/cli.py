"""The ``unifs`` command: the library's verbs from a shell.

    unifs normalize URI...          print each URI's canonical fsspec URL
    unifs ls URI                    list a prefix
    unifs cat URI                   write an object to stdout
    unifs get SRC DEST              download an object or prefix, verified
    unifs put SRC DEST              upload a file or directory
    unifs presign URI [--put] [--expires 15m] [--json]     a time-limited URL to one object
    unifs presign --list URI | --revoke PAR_ID URI        OCI pre-authenticated requests
    unifs caps URI                  what the store can do with these credentials
    unifs caps --matrix             the capability matrix of every provider (Markdown)
    unifs demo [DEST]               the main job against a local OCI server, no account needed
    unifs scan PATH...              direct cloud-SDK use to migrate (exit 1 when found)
    unifs cache ls|du|prune         the node-local artifact cache (download_artifact)
    unifs sign-model MODEL --private-key KEY      an OpenSSF model signature
    unifs verify-model MODEL --public-key PUB     check a model against its signature

The last four live in unifs/commands/, one module per verb.

Storage options are given as ``-o name=value`` (values are read as JSON when they parse,
e.g. ``-o anon=true``). Exit status: 0 ok, 1 a transfer failed, 2 bad input. Errors are
one line each, with any signature, token or SAS in them masked
(:func:`unifs.redact.mask_secrets`); ``presign`` prints its URL because it was asked for.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, NoReturn

from unifs.errors import UnifsError
from unifs.redact import mask_secrets

__all__ = ["main"]


def _options(pairs: Sequence[str] | None, flag: str = "-o") -> dict[str, Any]:
    options: dict[str, Any] = {}
    for number, pair in enumerate(pairs or (), 1):
        name, sep, value = pair.partition("=")
        if not sep or not name:
            # the text itself is not echoed: it may be a secret typed with ':' for '='
            raise UnifsError(
                f"{flag} takes name=value, but {flag} number {number} has "
                + ("no '='" if not sep else "no name before '='")
                + " (its text is not shown, as it may hold a secret); "
                f"write e.g. {flag} secret_access_key=..."
            )
        try:
            options[name] = json.loads(value)
        except ValueError:
            options[name] = value
    return options


def _progress(label: str) -> Any:
    """A tqdm bar in bytes (hidden when stderr is not a terminal), fed as data lands."""
    from unifs.transfer import progress_bar

    return progress_bar(label, terminal=True)


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

    bar = _progress(direction)
    run = transfer.get if direction == "get" else transfer.put
    extra: dict[str, Any] = {}
    if direction == "get":
        extra["verify"] = not args.no_verify
    try:
        report = run(
            args.src,
            args.dest,
            auth=_auth(args),
            include=args.include,
            exclude=args.exclude,
            concurrency=args.concurrency,
            part_size=args.part_size * 2**20 if args.part_size else None,
            retries=args.retries,
            callback=bar,
            **extra,
            **_options(args.option),
        )
    except transfer.TransferError as exc:
        bar.close()
        for name, reason in exc.report.failed.items():
            print(mask_secrets(f"failed: {name}: {reason}"), file=sys.stderr)
        print(mask_secrets(f"{direction}: {exc.report.summary()}"), file=sys.stderr)
        return 1
    bar.close()
    print(f"{direction}: {report.summary()}")
    return 0


def _auth(args: argparse.Namespace) -> dict[str, Any] | None:
    pairs = getattr(args, "auth", None)
    return _options(pairs, "-a") if pairs else None


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


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(text: str) -> timedelta:
    """``90``, ``90s``, ``15m``, ``2h`` or ``7d`` as a timedelta."""
    number, unit = (text[:-1], text[-1]) if text[-1:].isalpha() else (text, "s")
    if unit not in _UNITS or not number.replace(".", "", 1).isdigit():
        raise UnifsError(f"--expires takes a duration such as 90s, 15m, 2h or 7d, not {text!r}")
    return timedelta(seconds=float(number) * _UNITS[unit])


def _cmd_presign(args: argparse.Namespace) -> int:
    import importlib

    from unifs.uri import parse

    presigning = importlib.import_module("unifs.presign")

    options = _options(args.option)
    if args.list:
        for par in presigning.list_presigned(args.uri, auth=_auth(args), **options):
            print(json.dumps(par, default=str))
        return 0
    if args.revoke:
        signed = presigning.PresignedURL(
            url="",
            method="GET",
            expires_at=datetime.now(timezone.utc),
            provider=parse(args.uri).provider,
            kind="par",
            uri=args.uri,
            par_id=args.revoke,
        )
        presigning.revoke(signed, auth=_auth(args), **options)
        print(f"revoked {args.revoke}")
        return 0
    signed = presigning.presign(
        args.uri,
        method="PUT" if args.put else "GET",
        expires=_duration(args.expires),
        auth=_auth(args),
        content_type=args.content_type,
        access=args.access,
        **options,
    )
    if args.json:
        print(
            json.dumps(
                {
                    "url": signed.url,
                    "method": signed.method,
                    "expires_at": signed.expires_at.isoformat(),
                    "headers": dict(signed.headers),
                    "kind": signed.kind,
                    "par_id": signed.par_id,
                }
            )
        )
    else:
        print(signed.url)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from unifs.testing.demo import run_demo

    return run_demo(args.dest, keep_server=False)


class _Parser(argparse.ArgumentParser):
    """argparse, with secrets masked in the usage errors it prints."""

    def error(self, message: str) -> NoReturn:
        super().error(mask_secrets(message))


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="unifs",
        description="One storage layer over OCI Object Storage, AWS S3, GCS and Azure Blob.",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )

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

    p: argparse.ArgumentParser = sub.add_parser(
        "normalize", help="print the canonical fsspec URL of each URI"
    )
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
        p.add_argument("--concurrency", type=int, help="requests in flight at once (64)")
        p.add_argument("--part-size", type=int, metavar="MIB", help="ranged part size in MiB")
        p.add_argument("--retries", type=int, help="retries per request (5)")
        if name == "get":
            p.add_argument("--no-verify", action="store_true", help="skip checksum verification")
        p.set_defaults(run=lambda a, d=name: _transfer(a, d))

    p = with_options(sub.add_parser("presign", help="a time-limited URL to one object"))
    p.add_argument("uri")
    p.add_argument("--put", action="store_true", help="a URL to upload instead of download")
    p.add_argument("--expires", default="1h", help="lifetime: 90s, 15m, 2h, 7d (default 1h)")
    p.add_argument("--content-type", help="the Content-Type a PUT must send")
    p.add_argument("--access", help="OCI PAR access type, e.g. ObjectReadWrite")
    p.add_argument("--json", action="store_true", help="print url, method, expiry and headers")
    p.add_argument("--list", action="store_true", help="list the OCI PARs under URI")
    p.add_argument("--revoke", metavar="PAR_ID", help="delete the OCI PAR with this id")
    p.set_defaults(run=_cmd_presign)

    p = with_options(sub.add_parser("caps", help="what a store can do with these credentials"))
    p.add_argument("uri", nargs="?")
    p.add_argument("--matrix", action="store_true", help="every provider's capabilities")
    p.set_defaults(run=_cmd_caps)

    p = sub.add_parser(
        "demo", help="download a small model from a local OCI server (no cloud account)"
    )
    p.add_argument("dest", nargs="?", default="unifs-demo-model")
    p.set_defaults(run=_cmd_demo)

    from unifs.commands import register_all

    register_all(sub, with_options)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``unifs`` command; return its exit status."""
    args = _parser().parse_args(argv)
    try:
        status: int = args.run(args)
    except (UnifsError, ValueError, FileNotFoundError, PermissionError) as exc:
        print(mask_secrets(f"unifs {args.command}: {exc}"), file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
