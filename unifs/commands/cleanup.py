"""``unifs cleanup URI``: abort the part uploads killed unifs runs left below a prefix."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from unifs.commands import ExamplesFormatter
from unifs.commands.shared import Display, auth, iso_utc, options, print_json

EXAMPLES = """\
examples:
  unifs cleanup s3://models/llama/             abort what killed copies left below the prefix
  unifs cleanup --dry-run oci://n/acme/b/models/o/llama/   list them, abort nothing
  unifs cleanup --all-unifs s3://models/       also those of unifs runs still going (or on
                                               another host sharing the state directory)
  unifs cleanup --json s3://models/            one JSON object per upload
Only uploads unifs recorded in its ledger ($UNIFS_STATE_DIR, else the user state
directory) are aborted; anyone else's unfinished upload, even to the same key, is kept.
A rerun of the copy, put or sync does the same for its destination before it starts.
exit status: 0 done (or nothing to do), 1 some uploads could not be aborted, 2 bad usage
"""


def register(subparsers: Any, with_options: Any) -> None:
    """Add ``cleanup`` to the ``unifs`` command."""
    p = with_options(
        subparsers.add_parser(
            "cleanup",
            help="abort the unfinished uploads killed unifs runs left below a prefix",
            epilog=EXAMPLES,
            formatter_class=ExamplesFormatter,
        )
    )
    p.add_argument("uri")
    p.add_argument("--dry-run", action="store_true", help="print what would go; abort nothing")
    p.add_argument(
        "--all-unifs",
        action="store_true",
        help="every upload unifs recorded below URI, also those of runs still going",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per upload")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from unifs.endpoint import endpoint
    from unifs.engine.backend import open_backend
    from unifs.engine.scheduling import run_sync

    ep = endpoint(args.uri, auth=auth(args), **options(args.option))

    async def work() -> int:
        backend = await open_backend(ep, 4)
        try:
            return await _clean(args, backend, ep.path, ep.uri.is_prefix)
        finally:
            backend.close()

    return run_sync(work())


async def _clean(args: argparse.Namespace, backend: Any, path: str, is_prefix: bool) -> int:
    from unifs.engine.ledger import abort, entries

    provider = backend.provider
    prefix = path.rstrip("/") + "/" if is_prefix else path
    store = provider.upload_store(backend.fs)
    if store is None:
        print(f"unifs records no part uploads to {args.uri}: nothing to clean up")
        return 0
    show = Display(args.uri, path.rstrip("/"))
    listing = provider.list_uploads(backend.fs, prefix)
    on_store = None if listing is None else set(await backend.resolve(listing))
    recorded = entries(store, prefix)
    failed = 0

    def say(action: str, entry: Any, why: str = "") -> None:
        uri = show(entry.path)
        if args.json:
            print_json({"action": action, "uri": uri, "reason": why or None, **_owner(entry)})
            return
        began = iso_utc(entry.started)
        line = f"{action} {uri} (upload {entry.upload}, pid {entry.pid} on {entry.host}, {began})"
        print(line + (f": {why}" if why else ""), file=sys.stderr if action == "failed" else None)

    for entry in recorded:
        if on_store is not None and (entry.path, entry.upload) not in on_store:
            if not args.dry_run:
                entry.forget()
            say("would forget" if args.dry_run else "forgot", entry, "the store no longer has it")
            continue
        alive = entry.owner_alive()
        if alive is not False and not args.all_unifs:
            why = "its process is still running" if alive else "begun on another host"
            say("kept", entry, f"{why} (--all-unifs aborts it)")
            continue
        if args.dry_run:
            say("would abort", entry)
            continue
        try:
            await abort(backend, entry)
        except Exception as exc:  # one upload's failure does not stop the rest
            from unifs.redact import mask_secrets

            failed += 1
            say("failed", entry, mask_secrets(" ".join(str(exc).split())))
            continue
        say("aborted", entry)
    if on_store is not None and not args.json:
        mine = {(e.path, e.upload) for e in recorded}
        others = len(on_store - mine)
        if others:
            print(f"{others} other unfinished upload(s) below {args.uri} are not unifs's: kept")
    if not recorded and not args.json:
        print(f"no unfinished unifs uploads below {args.uri}")
    return 1 if failed else 0


def _owner(entry: Any) -> dict[str, Any]:
    return {
        "upload": entry.upload,
        "pid": entry.pid,
        "host": entry.host,
        "started": iso_utc(entry.started),
    }
