"""``unifs ls URI``: list a prefix, printing URIs that paste back into any verb."""

from __future__ import annotations

import argparse
from typing import Any

from unifs.commands import ExamplesFormatter
from unifs.commands.shared import (
    Display,
    add_show_secrets,
    entry_record,
    modified,
    open_fs,
    print_json,
    shown,
    size_text,
)

EXAMPLES = """\
examples:
  unifs ls s3://                              the buckets these credentials can list
  unifs ls oci:// -o namespace=acme -o compartment_id=ocid1.compartment...
                                              an OCI compartment's buckets
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
    p.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per entry: uri, type, size, mtime, etag, checksums, version",
    )
    add_show_secrets(p)
    p.set_defaults(run=run)


def stores_scheme(uri: str) -> str | None:
    """``s3`` for ``s3://`` (a provider's scheme and nothing else), else None."""
    from unifs.registry import provider_for_scheme

    scheme, sep, rest = uri.partition("://")
    if not sep or rest.strip("/"):
        return None
    provider = provider_for_scheme(scheme.lower())
    return scheme.lower() if provider is not None and not provider.local_disk else None


def list_buckets(args: argparse.Namespace, scheme: str) -> int:
    """``unifs ls s3://``: the buckets (containers) these credentials can list."""
    from unifs.auth import AuthConfig
    from unifs.commands.shared import auth, options
    from unifs.providers.base import merge_options
    from unifs.registry import provider_for_scheme
    from unifs.uri import StorageURI

    provider = provider_for_scheme(scheme)
    assert provider is not None
    config = AuthConfig.coerce(auth(args))
    mode = config.validate(provider) if config is not None else None
    params = config.params if config is not None else {}
    root = StorageURI(provider=provider.name, bucket=None)
    implied = merge_options(
        provider.uri_storage_options(root), provider.auth_options(root, mode, params)
    )
    fs = provider.filesystem(**merge_options(implied, options(args.option)))
    for entry in sorted(fs.ls("", detail=True), key=lambda e: e["name"]):
        uri = shown(args, f"{scheme}://{entry['name'].strip('/')}/")
        if args.json:
            print_json(entry_record(provider, {**entry, "type": "directory"}, uri))
        else:
            print(uri)
    return 0


def run(args: argparse.Namespace) -> int:
    from unifs.registry import get_provider
    from unifs.uri import parse

    scheme = stores_scheme(args.uri)
    if scheme is not None:
        return list_buckets(args, scheme)
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
    provider = get_provider(parse(args.uri).provider)
    for entry in sorted(entries, key=lambda e: str(e["name"])):
        directory = entry.get("type") == "directory"
        uri = show(entry["name"], directory=directory)
        size = int(entry.get("size") or 0)
        if args.json:
            print_json(entry_record(provider, entry, uri))
        elif args.long:
            text = "-" if directory else size_text(size, args.human)
            print(f"{text:>12}  {modified(entry) or '':20}  {uri}")
        else:
            print(uri)
    return 0
