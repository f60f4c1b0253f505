"""What the verbs share: ``-o``/``-a`` parsing, opening a URI, sizes, printing URIs back."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from unifs.errors import TransferError, UnifsError
from unifs.redact import mask_secrets

if TYPE_CHECKING:
    from unifs.endpoint import Endpoint


def options(pairs: Any, flag: str = "-o") -> dict[str, Any]:
    """``name=value`` pairs as a dict; values are read as JSON when they parse."""
    found: dict[str, Any] = {}
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
            found[name] = json.loads(value)
        except ValueError:
            found[name] = value
    return found


def auth(args: argparse.Namespace, attr: str = "auth") -> dict[str, Any] | None:
    """The ``-a`` pairs (or ``--dst-auth`` ones with ``attr``) as an auth mapping, or None."""
    pairs = getattr(args, attr, None)
    return options(pairs, "-a") if pairs else None


def check_regions(args: argparse.Namespace) -> None:
    """A ``-a region=`` (or ``--dst-auth region=``) that is one typo from a region the
    provider's SDK knows is refused with "did you mean"; an unknown one far from every
    known name passes (SDK tables lag new regions)."""
    from unifs.commands.suggest import did_you_mean
    from unifs.registry import get_provider
    from unifs.uri import parse

    ends = (("auth", ("uri", "src", "model")), ("dst_auth", ("dst",)))
    for attr, uri_attrs in ends:
        region = (auth(args, attr) or {}).get("region")
        uri = next((getattr(args, a) for a in uri_attrs if getattr(args, a, None)), None)
        if not isinstance(region, str) or not isinstance(uri, str):
            continue
        try:
            known = get_provider(parse(uri).provider).known_regions()
        except UnifsError:
            continue  # the verb says what is wrong with the URI
        near = did_you_mean(region, known) if known and region not in known else None
        if near:
            flag = "-a" if attr == "auth" else "-A"
            raise UnifsError(f"unknown region {region!r}: did you mean {flag} region={near}?")


def with_options(
    p: argparse.ArgumentParser, *, destination: bool = False
) -> argparse.ArgumentParser:
    """Add ``-o`` and ``-a`` (and, for two-ended verbs, the destination's own)."""
    p.add_argument(
        "-o",
        "--option",
        action="append",
        metavar="NAME=VALUE",
        help="a storage option for the backend (repeatable), e.g. -o endpoint_url=http://...",
    )
    p.add_argument(
        "-a",
        "--auth",
        action="append",
        metavar="NAME=VALUE",
        help="an auth parameter, e.g. -a auth=instance_principal -a region=us-ashburn-1",
    )
    if destination:
        p.add_argument(
            "-O",
            "--dst-option",
            action="append",
            metavar="NAME=VALUE",
            help="a storage option for the destination when it is another store (repeatable)",
        )
        p.add_argument(
            "-A",
            "--dst-auth",
            action="append",
            metavar="NAME=VALUE",
            help="an auth parameter for the destination when it is another store",
        )
    return p


def open_endpoint(args: argparse.Namespace, uri: str) -> Endpoint:
    """``uri`` resolved with the verb's ``-o``/``-a``, its store checked reachable."""
    from unifs.endpoint import endpoint

    ep = endpoint(uri, auth=auth(args), **options(args.option))
    ep.check_reachable()
    return ep


def open_fs(args: argparse.Namespace, uri: str) -> tuple[Any, str]:
    """The filesystem and path for ``uri`` with the verb's ``-o``/``-a``."""
    ep = open_endpoint(args, uri)
    return ep.fs, ep.path


def human(size: float) -> str:
    """``1.5 GiB``: binary units, as the progress bar and ``du -h`` print them."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "PiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} PiB"


def size_text(size: int, readable: bool) -> str:
    return human(size) if readable else str(size)


def add_show_secrets(p: argparse.ArgumentParser) -> None:
    """``--show-secrets``: print URIs whole (PAR tokens, SAS and signatures are masked)."""
    p.add_argument(
        "--show-secrets",
        action="store_true",
        help="print URIs whole, with PAR tokens and URL signatures (masked by default)",
    )


def shown(args: argparse.Namespace, value: Any) -> Any:
    """``value`` (a string, or the strings in a dict or list) masked, unless --show-secrets."""
    from unifs.redact import mask_secrets

    if getattr(args, "show_secrets", False):
        return value
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, dict):
        return {k: shown(args, v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [shown(args, v) for v in value]
    return value


class Display:
    """Print paths of a listing as URIs in the dialect the user typed, so they paste back.

    ``typed`` is the URI as given; ``base`` the filesystem path it named. A path below
    ``base`` is printed as ``typed`` + the rest (URL-encoded for an ``https://`` URI).
    Secrets in it (an OCI PAR's token, a presigned URL's signature) are masked unless
    ``show_secrets``: output like this is pasted into tickets.
    """

    def __init__(self, typed: str, base: str, *, show_secrets: bool = False) -> None:
        self.typed = typed
        self.base = base.rstrip("/")
        self.https = typed.lower().startswith(("http://", "https://"))
        self.show_secrets = show_secrets

    def __call__(self, path: str, *, directory: bool = False) -> str:
        from unifs.redact import mask_secrets

        uri = self._join(path, directory)
        return uri if self.show_secrets else mask_secrets(uri)

    def _join(self, path: str, directory: bool) -> str:
        path = path.rstrip("/")
        suffix = "/" if directory else ""
        if path == self.base:
            return self.typed.rstrip("/") + suffix if directory else self.typed
        if not path.startswith(self.base + "/") and self.base:
            return path + suffix
        rest = path[len(self.base) :].lstrip("/")
        if self.https:
            rest = quote(rest)
        head = self.typed if self.typed.endswith("/") else self.typed + "/"
        return head + rest + suffix


#: the keys a store's listing may hold an entry's modification time under
_MTIME_KEYS = ("LastModified", "last_modified", "updated", "mtime", "timeModified", "created")


def iso_utc(value: Any) -> str | None:
    """A store's modification time as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds)."""
    from datetime import datetime, timezone

    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        when = datetime.fromtimestamp(value, timezone.utc)
    elif isinstance(value, datetime):
        when = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    else:
        try:
            when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return str(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def modified(info: dict[str, Any]) -> str | None:
    """The entry's modification time (:func:`iso_utc`), or None when the store gives none."""
    for key in _MTIME_KEYS:
        if info.get(key):
            return iso_utc(info[key])
    return None


def entry_record(provider: Any, info: dict[str, Any], uri: str) -> dict[str, Any]:
    """One entry of ``ls --json`` / ``stat --json``, the same keys on every provider:
    ``uri``, ``type`` (file or directory), ``size``, ``mtime`` (:func:`iso_utc` or null),
    ``etag`` (quotes stripped, or null), ``checksums`` ({algorithm: hex}) and ``version``
    (what pins this version of the object: a version id, generation or ETag, or null)."""
    directory = info.get("type") == "directory"
    etag = info.get("ETag") or info.get("etag") or info.get("e_tag")
    return {
        "uri": uri,
        "type": "directory" if directory else "file",
        "size": int(info.get("size") or 0),
        "mtime": modified(info),
        "etag": str(etag).strip('"') if etag else None,
        "checksums": {} if directory else dict(provider.checksums(info)),
        "version": None if directory else provider.version_pin(info),
    }


def print_json(value: Any) -> None:
    """One JSON document (or line) to stdout."""
    sys.stdout.write(json.dumps(value, default=str) + "\n")


def add_transfer_flags(p: argparse.ArgumentParser, *, verify: bool = True) -> None:
    """Filters and the engine's limits, as get, put, cp, mv and sync take them."""
    p.add_argument(
        "--include",
        action="append",
        metavar="GLOB",
        help="keep matching paths (rclone's rules: * within a segment, ** across, / anchors)",
    )
    p.add_argument("--exclude", action="append", metavar="GLOB", help="drop matching paths")
    p.add_argument(
        "--allow-empty",
        action="store_true",
        help="exit 0 when an --include matches nothing (default: a warning and exit 3)",
    )
    p.add_argument("--concurrency", type=int, help="requests in flight at once (64)")
    p.add_argument("--part-size", type=int, metavar="MIB", help="part size in MiB")
    p.add_argument("--retries", type=int, help="retries per request (5)")
    if verify:
        p.add_argument("--no-verify", action="store_true", help="skip checksum verification")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def transfer_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for get/put/copy/sync from the flags above."""
    found: dict[str, Any] = {
        "include": args.include,
        "exclude": args.exclude,
        "concurrency": args.concurrency,
        "part_size": args.part_size * 2**20 if args.part_size else None,
        "retries": args.retries,
    }
    if hasattr(args, "no_verify"):
        found["verify"] = not args.no_verify
    return found


def progress(label: str) -> Any:
    """The progress bar the verbs draw on stderr (hidden when stderr is not a terminal)."""
    from unifs.transfer import progress_bar

    return progress_bar(label, terminal=True)


def report_dict(report: Any) -> dict[str, Any]:
    """A transfer report as JSON-ready data, with its one-line summary."""
    from dataclasses import asdict

    data = asdict(report)
    data["summary"] = report.summary()
    return data


def print_failures(verb: str, failed: dict[str, str]) -> None:
    """Each failed file on its own line (ten at most); one line when they failed alike."""
    reasons = {reason for reason in failed.values()}
    if len(failed) > 1 and len(reasons) == 1:
        line = f"unifs {verb}: {len(failed)} files failed: {reasons.pop()}"
        print(mask_secrets(line), file=sys.stderr)
        return
    for name, reason in list(failed.items())[:10]:
        print(mask_secrets(f"unifs {verb}: failed: {name}: {reason}"), file=sys.stderr)
    if len(failed) > 10:
        print(f"unifs {verb}: ... and {len(failed) - 10} more failed", file=sys.stderr)


#: the exit status of a transfer whose ``--include`` patterns (some of them) matched nothing
EXIT_UNMATCHED = 3


def unmatched_status(args: argparse.Namespace, verb: str, report: Any) -> int:
    """Warn about includes that kept no file: ``EXIT_UNMATCHED``, or 0 with --allow-empty."""
    left = getattr(report, "unmatched", None)
    if not left:
        return 0
    names = " ".join(repr(p) for p in left)
    if getattr(args, "allow_empty", False):
        print(f"unifs {verb}: warning: --include {names} matched no file", file=sys.stderr)
        return 0
    print(
        f"unifs {verb}: --include {names} matched no file below the source; check the pattern "
        "(* stays within one path segment, ** crosses them, a leading / anchors it at the "
        "source) or pass --allow-empty",
        file=sys.stderr,
    )
    return EXIT_UNMATCHED


def run_transfer(args: argparse.Namespace, verb: str, call: Any) -> int:
    """Run ``call(callback)``; print the summary (or JSON); 1 when some files failed, 3 when an
    include matched nothing (see :func:`unmatched_status`)."""
    bar = progress(verb)
    try:
        report = call(bar)
    except TransferError as exc:
        bar.close()
        print_failures(verb, exc.report.failed)
        if getattr(args, "json", False):
            print_json(report_dict(exc.report))
        else:
            print(mask_secrets(f"{verb}: {exc.report.summary()}"), file=sys.stderr)
        return 1
    bar.close()
    if getattr(args, "json", False):
        print_json(report_dict(report))
    else:
        print(f"{verb}: {report.summary()}")
    return unmatched_status(args, verb, report)
