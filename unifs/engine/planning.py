"""What to transfer: listing, filters, local paths that stay inside the destination."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from unifs.engine.filters import matches
from unifs.engine.listing import alist_files
from unifs.engine.workdir import WORK_DIR
from unifs.errors import RefusedKeyError
from unifs.errors import UnsafeKeyError as UnsafeKeyError
from unifs.uri import StorageURI

if TYPE_CHECKING:
    from unifs.endpoint import Endpoint
    from unifs.engine.backend import Backend
    from unifs.providers.base import Provider

_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class Item:
    remote: str  # path inside the remote filesystem
    relative: str  # path below the source prefix, '/'-separated
    size: int
    checksum: tuple[str, str] | None  # (kind, hex digest) as the store reports it
    multipart: tuple[str, int] | None = None  # (hex MD5 of part MD5s, parts)
    identity: str = ""  # what changes when the object does (ETag, generation, mtime)
    pin: str | None = None  # what every read names, so that only this version is read
    #: the multipart layout as the store records it (None: not asked, or not known)
    part_sizes: tuple[int, ...] | None = None
    info: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def below(end: Endpoint, relative: str) -> str:
    """The path of ``relative`` below the prefix ``end`` in its filesystem: per-file work
    joins paths, it never parses a URI again."""
    return f"{end.path.rstrip('/')}/{relative}"


def safe_join(root: str, relative: str) -> str:
    """Join ``relative`` (a '/'-separated key) under ``root``; refuse anything that escapes."""
    parts = relative.replace("\\", "/").split("/")
    if (
        relative.startswith(("/", "\\"))
        or _DRIVE.match(relative)
        or any(part == ".." for part in parts)
    ):
        raise UnsafeKeyError(
            f"refusing object key {relative!r}: it would be written outside {root!r}. "
            "Rename the object, or download it alone to an explicit file path."
        )
    target = os.path.join(root, *[p for p in parts if p not in ("", ".")])
    real_root = os.path.realpath(root)
    if os.path.commonpath([real_root, os.path.realpath(target)]) != real_root:
        raise UnsafeKeyError(f"refusing object key {relative!r}: it resolves outside {root!r}")
    return target


_IDENTITY_KEYS = ("ETag", "etag", "generation", "md5Hash", "md5", "LastModified", "last_modified")


def identity(info: dict[str, Any]) -> str:
    """What tells one version of an object from the next, for resuming its parts safely."""
    for key in _IDENTITY_KEYS:
        if info.get(key):
            return f"{key}={info[key]}"
    for key in ("mtime", "created"):  # local and memory filesystems
        if info.get(key):
            return f"{key}={info[key]}"
    return ""


# cheapest first: a CRC costs a fraction of MD5's CPU, which bounds loopback throughput
# (CRC64NVME counts only where awscrt computes it natively)
_CHECKSUM_COST = {"crc64nvme": 0, "crc32c": 1, "crc32": 2, "md5": 3}


@functools.cache
def _computable() -> frozenset[str]:
    """The checksum kinds computed natively here: CRC64NVME needs awscrt (a pure-Python
    one would cost more CPU than the MD5 it replaces)."""
    kinds = set(_CHECKSUM_COST)
    try:
        from awscrt import checksums

        if not hasattr(checksums, "crc64nvme"):
            kinds.discard("crc64nvme")
    except ImportError:
        kinds.discard("crc64nvme")
    return frozenset(kinds)


def make_item(provider: Provider, remote: str, relative: str, info: dict[str, Any]) -> Item:
    known = [c for c in provider.checksums(info) if c[0] in _computable()]
    known.sort(key=lambda c: _CHECKSUM_COST[c[0]])
    return Item(
        remote=remote,
        relative=relative,
        size=int(info.get("size") or 0),
        checksum=known[0] if known else None,
        multipart=provider.multipart_checksum(info),
        identity=identity(info),
        pin=provider.version_pin(info),
        info=info,
    )


async def plan_remote(
    backend: Backend,
    path: str,
    uri: StorageURI,
    include: Sequence[str] | None,
    exclude: Sequence[str] | None,
    *,
    prefix: bool = False,
) -> tuple[list[Item], bool]:
    """List what to fetch below ``path``; the flag says whether ``path`` is a single file.

    ``path`` is taken as a prefix where ``uri`` is one, or with ``prefix``. A cached listing
    may describe an older version, and resume and skip decisions need the object as it is
    now: the listing is always fresh.
    """
    single = not (prefix or uri.is_prefix)
    listing = await alist_files(backend, path, include=include, exclude=exclude, single=single)
    if not listing.found:
        raise FileNotFoundError(f"nothing found at {uri.url}")
    provider = backend.provider
    items = [make_item(provider, f.path, f.relative, f.info) for f in listing.files]
    return items, listing.single


def plan_local(
    src: str, include: Sequence[str] | None, exclude: Sequence[str] | None
) -> list[tuple[str, str]]:
    if os.path.isfile(src):
        return [(src, os.path.basename(src))]
    if not os.path.isdir(src):
        raise FileNotFoundError(f"no such file or directory: {src!r}")
    pairs = []
    for directory, subdirs, files in os.walk(src):
        # an interrupted get's temporary files are not data; every user file is
        subdirs[:] = [d for d in subdirs if d != WORK_DIR]
        for name in files:
            local = os.path.join(directory, name)
            relative = os.path.relpath(local, src).replace(os.sep, "/")
            if matches(relative, include, exclude):
                pairs.append((local, relative))
    return sorted(pairs, key=lambda pair: pair[1])


def check_targets(targets: Sequence[tuple[str, str]], root: str) -> None:
    """Refuse keys that would share a local path, or land in unifs's work directory.

    ``targets`` are ``(key, local path)`` pairs. ``a/b``, ``a//b`` and ``a/./b`` are one
    local file; a key ``a`` and a key ``a/b`` need ``a`` to be a file and a directory.
    """
    root = os.path.abspath(root)
    work = os.path.join(root, WORK_DIR)
    by_path: dict[str, list[str]] = {}
    for key, local in targets:
        by_path.setdefault(os.path.normpath(os.path.abspath(local)), []).append(key)
    problems = [
        f"{', '.join(repr(k) for k in keys)} -> {path}"
        for path, keys in by_path.items()
        if len(keys) > 1
    ]
    problems += [
        f"{keys[0]!r} would be written inside unifs's work directory {WORK_DIR!r}"
        for path, keys in by_path.items()
        if path == work or path.startswith(work + os.sep)
    ]
    for path, keys in by_path.items():
        parent = os.path.dirname(path)
        while len(parent) > len(root) and parent not in by_path:
            parent = os.path.dirname(parent)
        if parent in by_path and parent != path:
            problems.append(f"{by_path[parent][0]!r} is a file and {keys[0]!r} is below it")
    if problems:
        raise UnsafeKeyError(
            f"refusing to download into {root!r}: object keys that would land on the same "
            f"local path or clash with unifs's own files: {_listed(problems)}. Download them one "
            "by one to explicit paths, or rename the objects."
        )


def refuse_keys(provider: Provider, keys: Iterable[str], where: str) -> None:
    """Raise :class:`RefusedKeyError` listing the keys ``provider``'s store would refuse.

    Asked before any byte moves: such a key would otherwise fail (or be renamed) on its own,
    with the store's words for some other problem.
    """
    problems = []
    for key in keys:
        reason = provider.refused_key_reason(key)
        if reason is not None:
            problems.append(f"{key!r}: {reason}")
    if problems:
        raise RefusedKeyError(
            f"refusing to copy into {where}: {len(problems)} key(s) the store would refuse "
            f"or change: {_listed(problems)}. Rename the objects, or leave them out with exclude."
        )


def _listed(problems: list[str]) -> str:
    """The first ten ``problems``, sorted, and how many more there are."""
    more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
    return "; ".join(sorted(problems)[:10]) + more


def key_below(prefix_key: str, relative: str) -> str:
    """The object key of ``relative`` below the key ``prefix_key`` (joined, nothing parsed)."""
    base = prefix_key.rstrip("/")
    return f"{base}/{relative}" if base else relative
