"""Download and upload whole prefixes safely: ``get`` and ``put``.

What every transfer guarantees, whatever the store:

- **Atomic**: data lands in a temporary file beside the target (``.{name}.unifs-part``) and is
  renamed over the target only once complete and verified. A failed or interrupted get
  never leaves a partial file at the final path, and never removes a good one already there.
- **Verified**: after download the size, and the MD5 where the store reports one, are
  compared with the object's; the report says which files could only be size-checked.
- **Skip if valid**: an existing local file whose size and checksum match is not fetched.
- **Contained**: a key that would land outside the destination (``..``, absolute paths,
  drive letters) is refused before anything is written.
- **Filtered**: ``include`` / ``exclude`` are fnmatch-style globs on the path relative to
  the source prefix (``*`` also matches ``/``), e.g. ``include=["*/H100/*"]``.
- **Parallel**: up to ``concurrency`` files move at once.

Checksums come from each provider (``Provider.checksum``); this module never asks which
store it talks to.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import posixpath
import re
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from unifs.errors import UnifsError
from unifs.filesystem import url_to_fs
from unifs.registry import get_provider
from unifs.uri import StorageURI, parse

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = ["TransferError", "TransferReport", "UnsafeKeyError", "get", "put"]

DEFAULT_CONCURRENCY = 16
_CHUNK = 8 * 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


class UnsafeKeyError(UnifsError, ValueError):
    """An object key would be written outside the destination directory."""


class TransferError(UnifsError, OSError):
    """One or more files failed to transfer; ``report`` says which and why."""

    def __init__(self, message: str, report: TransferReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class TransferReport:
    """What a transfer did: files moved, skipped, verified, failed, and how fast."""

    source: str
    destination: str
    transferred: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    #: files whose checksum (not only size) matched the store's
    checksum_verified: list[str] = field(default_factory=list)
    #: files the store reports no usable checksum for: only their size was compared
    size_only: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    bytes_transferred: int = 0
    seconds: float = 0.0

    @property
    def files(self) -> int:
        """Number of files transferred (not counting skipped ones)."""
        return len(self.transferred)

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failed

    @property
    def throughput(self) -> float:
        """Bytes per second over the whole transfer."""
        return self.bytes_transferred / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        """One line for a log or a terminal."""
        mib = self.bytes_transferred / 2**20
        line = (
            f"{self.files} files ({mib:.1f} MiB) in {self.seconds:.2f}s "
            f"({self.throughput / 2**20:.1f} MiB/s), {len(self.skipped)} skipped as valid, "
            f"{len(self.checksum_verified)} checksum-verified, {len(self.size_only)} size-only"
        )
        if self.failed:
            line += f", {len(self.failed)} FAILED"
        return line


@dataclass(frozen=True)
class _Item:
    remote: str  # path inside the remote filesystem
    relative: str  # path below the source prefix, '/'-separated
    size: int
    checksum: tuple[str, str] | None  # (kind, hex digest) as the store reports it


# -- planning -------------------------------------------------------------------------------


def _matches(relative: str, include: Sequence[str] | None, exclude: Sequence[str] | None) -> bool:
    if include and not any(fnmatch.fnmatchcase(relative, pat) for pat in include):
        return False
    return not (exclude and any(fnmatch.fnmatchcase(relative, pat) for pat in exclude))


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


def _plan_remote(
    fs: AbstractFileSystem,
    path: str,
    uri: StorageURI,
    include: Sequence[str] | None,
    exclude: Sequence[str] | None,
) -> tuple[list[_Item], bool]:
    """List what to fetch below ``path``; the flag says whether ``path`` is a single file."""
    provider = get_provider(uri.provider)
    if not uri.is_prefix:
        with contextlib.suppress(FileNotFoundError):
            info = fs.info(path)
            if info.get("type") == "file":
                name = posixpath.basename(path)
                return [_Item(path, name, int(info["size"]), provider.checksum(info))], True
    base = fs._strip_protocol(path).rstrip("/")
    found = fs.find(base, detail=True)
    if not found:
        raise FileNotFoundError(f"nothing found at {uri.url}")
    items = []
    for name, info in sorted(found.items()):
        if info.get("type") != "file":
            continue
        relative = name[len(base) :].lstrip("/") if name.startswith(base) else name
        if not relative or not _matches(relative, include, exclude):
            continue
        items.append(_Item(name, relative, int(info["size"]), provider.checksum(info)))
    return items, False


# -- checksums --------------------------------------------------------------------------------


def _local_digest(path: str, kind: str) -> str:
    digest: Any
    if kind == "md5":
        digest = hashlib.md5(usedforsecurity=False)
    elif kind == "crc32c":
        import google_crc32c  # shipped with gcsfs, the only store that offers crc32c alone

        digest = google_crc32c.Checksum()
    else:  # pragma: no cover - providers only report the kinds above
        raise ValueError(f"unknown checksum kind {kind!r}")
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest() if kind == "md5" else digest.digest().hex()


def _is_valid(local: str, item: _Item) -> bool:
    try:
        if os.path.getsize(local) != item.size:
            return False
    except OSError:
        return False
    if item.checksum is None:
        return True
    kind, expected = item.checksum
    return _local_digest(local, kind) == expected


# -- get ------------------------------------------------------------------------------------


def _fetch(fs: AbstractFileSystem, item: _Item, target: str, verify: bool) -> str:
    """Download one object to ``target`` through a temporary file; return how it verified."""
    directory = os.path.dirname(target) or "."
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(target)}.{uuid.uuid4().hex[:8]}.unifs-part")
    try:
        fs.get_file(item.remote, tmp)
        size = os.path.getsize(tmp)
        if size != item.size:
            raise OSError(f"size mismatch: got {size} bytes, the store reports {item.size}")
        how = "size"
        if verify and item.checksum is not None:
            kind, expected = item.checksum
            actual = _local_digest(tmp, kind)
            if actual != expected:
                raise OSError(f"{kind} mismatch: got {actual}, the store reports {expected}")
            how = "checksum"
        os.replace(tmp, target)
        return how
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def get(
    src: str | StorageURI,
    dest: str | os.PathLike[str],
    *,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    concurrency: int | None = None,
    verify: bool = True,
    callback: Callable[[str, int], None] | None = None,
    **storage_options: Any,
) -> TransferReport:
    """Download the object or prefix ``src`` into the local path ``dest``, verified.

    A prefix (or a URI ending in ``/``) lands below ``dest``; a single object lands at
    ``dest``, or inside it when ``dest`` is an existing directory or ends in ``/``.
    ``callback(relative_path, nbytes)`` is called as each file completes. Raises
    :class:`TransferError` (with the report) if any file fails; files that succeeded stay.
    """
    uri = parse(src, account=storage_options.get("account_name"))
    fs, path = url_to_fs(uri, **storage_options)
    dest = os.fspath(dest)
    started = time.perf_counter()
    items, single = _plan_remote(fs, path, uri, include, exclude)
    if single:
        into_dir = os.path.isdir(dest) or dest.endswith(("/", os.sep))
        root = dest if into_dir else os.path.dirname(os.path.abspath(dest))
        targets = {items[0]: safe_join(root, items[0].relative) if into_dir else dest}
    else:
        targets = {item: safe_join(dest, item.relative) for item in items}
    report = TransferReport(source=uri.url, destination=dest)
    todo = []
    for item, target in targets.items():
        if _is_valid(target, item):
            report.skipped.append(item.relative)
        else:
            todo.append(item)
    workers = max(1, min(concurrency or DEFAULT_CONCURRENCY, len(todo) or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="unifs-get") as pool:
        futures = {pool.submit(_fetch, fs, item, targets[item], verify): item for item in todo}
        for future in as_completed(futures):
            item = futures[future]
            try:
                how = future.result()
            except Exception as exc:  # one file's failure must not hide the others'
                report.failed[item.relative] = f"{type(exc).__name__}: {exc}"
                continue
            report.transferred.append(item.relative)
            report.bytes_transferred += item.size
            (report.checksum_verified if how == "checksum" else report.size_only).append(
                item.relative
            )
            if callback is not None:
                callback(item.relative, item.size)
    report.seconds = time.perf_counter() - started
    if report.failed:
        first = next(iter(report.failed.items()))
        raise TransferError(
            f"{len(report.failed)} of {len(todo)} files failed (first: {first[0]}: {first[1]})",
            report,
        )
    return report


# -- put ------------------------------------------------------------------------------------


def _plan_local(
    src: str, include: Sequence[str] | None, exclude: Sequence[str] | None
) -> list[tuple[str, str]]:
    if os.path.isfile(src):
        return [(src, os.path.basename(src))]
    if not os.path.isdir(src):
        raise FileNotFoundError(f"no such file or directory: {src!r}")
    pairs = []
    for directory, _, files in os.walk(src):
        for name in files:
            local = os.path.join(directory, name)
            relative = os.path.relpath(local, src).replace(os.sep, "/")
            if _matches(relative, include, exclude):
                pairs.append((local, relative))
    return sorted(pairs, key=lambda pair: pair[1])


def put(
    src: str | os.PathLike[str],
    dst: str | StorageURI,
    *,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    concurrency: int | None = None,
    callback: Callable[[str, int], None] | None = None,
    **storage_options: Any,
) -> TransferReport:
    """Upload the local file or directory ``src`` to the object or prefix ``dst``.

    A directory lands below ``dst``; a file lands at ``dst``, or below it when ``dst``
    ends in ``/``. Object stores write each object atomically, so a failed upload leaves
    either the old object or none.
    """
    src = os.fspath(src)
    uri = parse(dst, account=storage_options.get("account_name"))
    fs, _ = url_to_fs(uri, **storage_options)
    started = time.perf_counter()
    pairs = _plan_local(src, include, exclude)
    single = os.path.isfile(src)
    report = TransferReport(source=src, destination=uri.url)

    def remote_for(relative: str) -> str:
        if single and not uri.is_prefix:
            return uri.path
        return uri.join(relative).path

    workers = max(1, min(concurrency or DEFAULT_CONCURRENCY, len(pairs) or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="unifs-put") as pool:
        futures = {
            pool.submit(fs.put_file, local, remote_for(relative)): (local, relative)
            for local, relative in pairs
        }
        for future in as_completed(futures):
            local, relative = futures[future]
            try:
                future.result()
            except Exception as exc:
                report.failed[relative] = f"{type(exc).__name__}: {exc}"
                continue
            size = os.path.getsize(local)
            report.transferred.append(relative)
            report.size_only.append(relative)
            report.bytes_transferred += size
            if callback is not None:
                callback(relative, size)
    fs.invalidate_cache()
    report.seconds = time.perf_counter() - started
    if report.failed:
        raise TransferError(f"{len(report.failed)} of {len(pairs)} uploads failed", report)
    return report
