"""``unifs presign URI``: a time-limited URL to one object; OCI PARs listed and revoked."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone
from typing import Any

from unifs.commands import ExamplesFormatter
from unifs.commands.shared import auth, options, print_json
from unifs.errors import UnifsError

EXAMPLES = """\
examples:
  unifs presign s3://b/model.bin --expires 15m      a GET URL valid for 15 minutes
  unifs presign --put --json az://c/upload.bin      url, method, expiry and headers to send
  unifs presign --list oci://n/acme/b/m/o/          the OCI PARs under a prefix
  unifs presign --revoke PAR_ID oci://n/acme/b/m/o/x
"""

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> timedelta:
    """``90``, ``90s``, ``15m``, ``2h`` or ``7d`` as a timedelta."""
    number, unit = (text[:-1], text[-1]) if text[-1:].isalpha() else (text, "s")
    if unit not in _UNITS or not number.replace(".", "", 1).isdigit():
        raise UnifsError(f"--expires takes a duration such as 90s, 15m, 2h or 7d, not {text!r}")
    return timedelta(seconds=float(number) * _UNITS[unit])


def register(subparsers: Any, with_options: Any) -> None:
    """Add ``presign`` to the ``unifs`` command."""
    p = with_options(
        subparsers.add_parser(
            "presign",
            help="a time-limited URL to one object",
            epilog=EXAMPLES,
            formatter_class=ExamplesFormatter,
        )
    )
    p.add_argument("uri")
    p.add_argument("--put", action="store_true", help="a URL to upload instead of download")
    p.add_argument("--expires", default="1h", help="lifetime: 90s, 15m, 2h, 7d (default 1h)")
    p.add_argument("--content-type", help="the Content-Type a PUT must send")
    p.add_argument("--access", help="OCI PAR access type, e.g. ObjectReadWrite")
    p.add_argument("--json", action="store_true", help="print url, method, expiry and headers")
    p.add_argument("--list", action="store_true", help="list the OCI PARs under URI")
    p.add_argument("--revoke", metavar="PAR_ID", help="delete the OCI PAR with this id")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import importlib

    from unifs.endpoint import endpoint

    presigning = importlib.import_module("unifs.presign")
    ep = endpoint(args.uri, auth=auth(args), **options(args.option))
    ep.check_reachable()
    if args.list:
        for par in presigning.list_presigned(ep):
            print_json(par)
        return 0
    if args.revoke:
        signed = presigning.PresignedURL(
            url="",
            method="GET",
            expires_at=datetime.now(timezone.utc),
            provider=ep.provider.name,
            kind="par",
            uri=args.uri,
            par_id=args.revoke,
        )
        presigning.revoke(signed, via=ep)
        print(f"revoked {args.revoke}")
        return 0
    signed = presigning.presign(
        ep,
        method="PUT" if args.put else "GET",
        expires=duration(args.expires),
        content_type=args.content_type,
        access=args.access,
    )
    if args.json:
        print_json(
            {
                "url": signed.url,
                "method": signed.method,
                "expires_at": signed.expires_at.isoformat(),
                "headers": dict(signed.headers),
                "kind": signed.kind,
                "par_id": signed.par_id,
            }
        )
    else:
        print(signed.url)
    return 0
