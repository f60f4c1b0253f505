"""``unifs hash URI``: a checksum of an object (or of each below a prefix with -r)."""

from __future__ import annotations

import argparse
import hashlib
from typing import Any

from unifs.commands import ExamplesFormatter
from unifs.commands.shared import Display, add_show_secrets, open_fs, print_json, shown
from unifs.errors import MissingDependencyError

EXAMPLES = """\
examples:
  unifs hash gs://b/model.bin                  the store's own checksum (no download)
  unifs hash --algorithm sha256 s3://b/x.bin   computed while the bytes stream past
  unifs hash -r --algorithm md5 az://c/model/  every object below, like md5sum
"""

ALGORITHMS = ("store", "md5", "crc32c", "sha256")


def register(subparsers: Any, with_options: Any) -> None:
    """Add ``hash`` to the ``unifs`` command."""
    p = with_options(
        subparsers.add_parser(
            "hash",
            help="md5, crc32c, sha256 or the store's own checksum of objects",
            epilog=EXAMPLES,
            formatter_class=ExamplesFormatter,
        )
    )
    p.add_argument("uri")
    p.add_argument(
        "--algorithm",
        choices=ALGORITHMS,
        default="store",
        help="store (what the store reports, the default), md5, crc32c or sha256",
    )
    p.add_argument("-r", "--recursive", action="store_true", help="every object below")
    p.add_argument("--json", action="store_true", help="one JSON object per object")
    add_show_secrets(p)
    p.set_defaults(run=run)


def _hasher(algorithm: str) -> Any:
    if algorithm != "crc32c":
        return hashlib.new(algorithm, usedforsecurity=False)
    try:
        import google_crc32c  # shipped with gcsfs, the store that reports crc32c
    except ImportError:
        raise MissingDependencyError("crc32c hashing", "gcs", "google_crc32c") from None
    return _CRC32C(google_crc32c.Checksum())


class _CRC32C:
    """google_crc32c's checksum with hashlib's ``hexdigest``."""

    def __init__(self, checksum: Any) -> None:
        self.update = checksum.update
        self.hexdigest = lambda: checksum.digest().hex()


def _compute(fs: Any, path: str, algorithm: str) -> str:
    hasher = _hasher(algorithm)
    with fs.open(path, "rb", block_size=8 * 2**20) as handle:
        while chunk := handle.read(8 * 2**20):
            hasher.update(chunk)
    return str(hasher.hexdigest())


def run(args: argparse.Namespace) -> int:
    from unifs.errors import UnifsError
    from unifs.registry import get_provider
    from unifs.uri import parse

    fs, path = open_fs(args, args.uri)
    fs.invalidate_cache()
    provider = get_provider(parse(args.uri).provider)
    if args.recursive:
        found = fs.find(path.rstrip("/"), detail=True)
        if not found:
            raise FileNotFoundError(path)
        infos = sorted(found.values(), key=lambda i: i["name"])
    else:
        info = fs.info(path)
        if info.get("type") == "directory":
            raise UnifsError(f"{args.uri} is a prefix: add -r to hash every object below it")
        infos = [info]
    typed = shown(args, args.uri)
    show = (
        Display(args.uri, path, show_secrets=args.show_secrets)
        if args.recursive
        else (lambda _name: typed)
    )
    for info in infos:
        if args.algorithm == "store":
            known = provider.checksums(info)
            multipart = provider.multipart_checksum(info)
            if known:
                kind, digest = known[0]
            elif multipart:
                kind, digest = f"md5-of-{multipart[1]}-parts", multipart[0]
            else:
                raise UnifsError(
                    f"{show(info['name'])}: the store reports no checksum for it; "
                    "ask for one with --algorithm md5, crc32c or sha256"
                )
        else:
            kind, digest = args.algorithm, _compute(fs, info["name"], args.algorithm)
        uri = show(info["name"])
        if args.json:
            print_json({"uri": uri, "algorithm": kind, "digest": digest})
        else:
            print(f"{digest}  {uri}" + (f"  ({kind})" if args.algorithm == "store" else ""))
    return 0
