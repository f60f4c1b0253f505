"""Download and upload whole prefixes fast and safely: ``get``, ``put``, ``aget``, ``aput``.

What every transfer guarantees, whatever the store:

- **Parallel, bounded**: files move side by side and large files in ranged parts, under one
  limit of requests in flight (``concurrency``) and one byte budget (``max_buffer``), so
  memory does not grow with file size or file count. Async backends (s3fs, gcsfs, adlfs) run
  on fsspec's event loop; synchronous ones (ocifs) get the same parallelism from a bounded
  thread pool.
- **Atomic**: data lands in a temporary file beside the target (``.{name}.unifs-part``) and is
  renamed over the target only once complete and verified. A failed or interrupted get
  never leaves a partial file at the final path, and never removes a good one already there.
- **Resumable**: the temporary file's parts are recorded as they land
  (``.{name}.unifs-part.state``); a later get of the same, unchanged object fetches only the
  missing parts. Partial data is kept only after transient failures (retries exhausted,
  interruption); a permanent one (404, 403, checksum mismatch) leaves nothing behind.
- **Verified**: data is hashed while it lands (never re-read from the store) and compared
  with the object's MD5, CRC32C, multipart ETag or OCI multipart MD5 -- whatever the
  provider reports; ``report.size_only`` lists the files that had no checksum to compare.
- **Skip if valid**: an existing local file whose size and checksum match is not fetched.
- **Retried**: each request is retried with exponential backoff and jitter on transient
  failures (5xx, 429/503 with ``Retry-After``, connection resets, truncated bodies); a
  truncated part resumes from its last byte. ``report.retries`` counts them.
- **Contained**: a key that would land outside the destination (``..``, absolute paths,
  drive letters) is refused before anything is written.
- **Filtered**: ``include`` / ``exclude`` are fnmatch-style globs on the path relative to
  the source prefix (``*`` also matches ``/``), e.g. ``include=["*/H100/*"]``.

Which store this module talks to is never tested by name: checksums and streaming reads come
from the provider object (``Provider.checksum``, ``multipart_checksum``, ``stream_range``),
async or sync from the filesystem's ``async_impl`` trait.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import fnmatch
import hashlib
import inspect
import json
import logging
import os
import posixpath
import random
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from unifs.errors import UnifsError
from unifs.filesystem import url_to_fs
from unifs.registry import get_provider
from unifs.uri import StorageURI, parse

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem
    from fsspec.callbacks import Callback

    from unifs.providers.base import Provider

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_BUFFER",
    "RetryPolicy",
    "TransferError",
    "TransferReport",
    "UnsafeKeyError",
    "aget",
    "aput",
    "get",
    "progress_bar",
    "put",
    "safe_join",
]

MiB = 2**20
#: requests in flight at once, across all files
DEFAULT_CONCURRENCY = 64
#: bytes that requests in flight may hold in memory at once
DEFAULT_MAX_BUFFER = 128 * MiB
#: bounds of the automatic part size (ranged GETs, multipart uploads)
MIN_PART_SIZE = 8 * MiB
MAX_PART_SIZE = 64 * MiB
_STREAM_CHUNK = 1 * MiB  # a streamed range is written to disk in pieces of this size
_STREAM_RESERVE = 2 * _STREAM_CHUNK  # budget one streamed range holds: a piece and the next
_HASH_BLOCK = 4 * MiB
_START_CONCURRENCY = 8  # bulk requests in flight before the gate has measured anything
_SMALL_REQUEST = 2 * MiB  # files up to this size are one request, held in memory
_MIN_SPLIT = MIN_PART_SIZE  # a running range is cut only if both halves get at least this much
_SPLIT_PAYBACK = 4  # ... and only if its tail would take this many first-byte latencies
_MIN_UPLOAD_PART = 5 * MiB  # S3 refuses multipart parts below this (all but the last)
_DRIVE = re.compile(r"^[A-Za-z]:")
_PART_SUFFIX = ".unifs-part"
_STATE_SUFFIX = ".unifs-part.state"
_STATE_VERSION = 2
# Part sizes common tools write multipart objects with (unifs, boto3, s3fs, OCI CLI, ...):
# tried in this order when a multipart digest must be reproduced from size and part count.
_COMMON_PART_MIB = (8, 5, 16, 32, 64, 50, 128, 10, 15, 25, 100, 256, 512)

_T = TypeVar("_T")
logger = logging.getLogger(__name__)


class UnsafeKeyError(UnifsError, ValueError):
    """An object key would be written outside the destination directory."""


class TransferError(UnifsError, OSError):
    """One or more files failed to transfer; ``report`` says which and why."""

    def __init__(self, message: str, report: TransferReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class RetryPolicy:
    """Retry each request up to ``attempts`` times in all, backing off exponentially with jitter.

    The n-th retry waits a random time up to ``min(max_delay, base_delay * 2**n)``, or what
    the server's ``Retry-After`` asks (at most ``max_retry_after`` seconds).
    """

    attempts: int = 6
    base_delay: float = 0.25
    max_delay: float = 10.0
    max_retry_after: float = 60.0

    def delay(self, retry: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        # full jitter: spreads clients that failed together (AWS architecture blog)
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**retry))


@dataclass
class TransferReport:
    """What a transfer did: files moved, skipped, verified, failed, retried, and how fast."""

    source: str
    destination: str
    transferred: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    #: files whose checksum (not only size) matched the store's
    checksum_verified: list[str] = field(default_factory=list)
    #: files the store reports no usable checksum for: only their size was compared
    size_only: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    #: bytes moved over the network by this run (resumed parts not counted)
    bytes_transferred: int = 0
    seconds: float = 0.0
    #: requests retried after a transient failure
    retries: int = 0
    #: files completed from parts an earlier, interrupted run left behind
    resumed: list[str] = field(default_factory=list)
    #: bytes those earlier parts held, which this run did not fetch again
    bytes_resumed: int = 0
    #: why a file in ``size_only`` could not be checksum-verified, where there was a reason
    unverified: dict[str, str] = field(default_factory=dict)
    #: requests made for data (ranged GETs, uploads)
    requests: int = 0
    #: most bytes held in the byte budget at once
    peak_buffer: int = 0
    #: most requests allowed in flight at once (the engine ramps up to ``concurrency``)
    peak_requests: int = 0

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
        mib = self.bytes_transferred / MiB
        line = (
            f"{self.files} files ({mib:.1f} MiB) in {self.seconds:.2f}s "
            f"({self.throughput / MiB:.1f} MiB/s), {len(self.skipped)} skipped as valid, "
            f"{len(self.checksum_verified)} checksum-verified, {len(self.size_only)} size-only"
        )
        if self.resumed:
            line += f", {len(self.resumed)} resumed"
        if self.retries:
            line += f", {self.retries} retries"
        if self.failed:
            line += f", {len(self.failed)} FAILED"
        return line


@dataclass(frozen=True)
class _Item:
    remote: str  # path inside the remote filesystem
    relative: str  # path below the source prefix, '/'-separated
    size: int
    checksum: tuple[str, str] | None  # (kind, hex digest) as the store reports it
    multipart: tuple[str, int] | None = None  # (hex MD5 of part MD5s, parts)
    identity: str = ""  # what changes when the object does (ETag, generation, mtime)


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


_IDENTITY_KEYS = ("ETag", "etag", "generation", "md5Hash", "md5", "LastModified", "last_modified")


def _identity(info: dict[str, Any]) -> str:
    """What tells one version of an object from the next, for resuming its parts safely."""
    for key in _IDENTITY_KEYS:
        if info.get(key):
            return f"{key}={info[key]}"
    for key in ("mtime", "created"):  # local and memory filesystems
        if info.get(key):
            return f"{key}={info[key]}"
    return ""


# cheapest first: CRC32C costs a fraction of MD5's CPU, which bounds loopback throughput
_CHECKSUM_COST = {"crc32c": 0, "md5": 1}


def _item(provider: Provider, remote: str, relative: str, info: dict[str, Any]) -> _Item:
    known = [c for c in provider.checksums(info) if c[0] in _CHECKSUM_COST]
    known.sort(key=lambda c: _CHECKSUM_COST[c[0]])
    return _Item(
        remote=remote,
        relative=relative,
        size=int(info.get("size") or 0),
        checksum=known[0] if known else None,
        multipart=provider.multipart_checksum(info),
        identity=_identity(info),
    )


async def _plan_remote(
    backend: _Backend,
    path: str,
    uri: StorageURI,
    include: Sequence[str] | None,
    exclude: Sequence[str] | None,
) -> tuple[list[_Item], bool]:
    """List what to fetch below ``path``; the flag says whether ``path`` is a single file."""
    fs, provider = backend.fs, backend.provider
    # a cached listing may describe an older version: resume and skip decisions need the
    # object as it is now
    fs.invalidate_cache()
    if not uri.is_prefix:
        with contextlib.suppress(FileNotFoundError):
            info = await backend.call("info", path)
            if info.get("type") == "file":
                return [_item(provider, path, posixpath.basename(path), info)], True
    base = fs._strip_protocol(path).rstrip("/")
    found = await backend.call("find", base, detail=True)
    if not found:
        raise FileNotFoundError(f"nothing found at {uri.url}")
    items = []
    for name, info in sorted(found.items()):
        if info.get("type") != "file":
            continue
        relative = name[len(base) :].lstrip("/") if name.startswith(base) else name
        if not relative or not _matches(relative, include, exclude):
            continue
        items.append(_item(provider, name, relative, info))
    return items, False


# -- checksums --------------------------------------------------------------------------------


class _Hasher:
    """Feeds bytes in order; ``hexdigest()`` in the form the expected value uses."""

    def update(self, data: bytes | memoryview) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def hexdigest(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError


class _MD5(_Hasher):
    def __init__(self) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)

    def update(self, data: bytes | memoryview) -> None:
        self._md5.update(data)

    def hexdigest(self) -> str:
        return self._md5.hexdigest()


class _CRC32C(_Hasher):
    def __init__(self) -> None:
        try:
            import google_crc32c  # shipped with gcsfs, the store that reports crc32c

            self._crc: Any = google_crc32c.Checksum()
            self._hex = lambda: self._crc.digest().hex()
        except ImportError:  # pragma: no cover - gcsfs brings google_crc32c
            import crc32c

            self._crc = crc32c.CRC32CHash()
            self._hex = lambda: self._crc.digest().hex()

    def update(self, data: bytes | memoryview) -> None:
        self._crc.update(bytes(data) if isinstance(data, memoryview) else data)

    def hexdigest(self) -> str:
        return str(self._hex())


class _PartsMD5(_Hasher):
    """MD5 of the concatenated binary MD5s of each part (S3 and OCI multipart digests).

    Parts are ``part_size`` bytes except the last, which takes whatever remains: shorter
    (boto3, unifs) or longer (s3fs and ocifs fold a short tail into the last part).
    """

    def __init__(self, part_size: int, parts: int) -> None:
        self._part_size = part_size
        self._parts = parts
        self._current = hashlib.md5(usedforsecurity=False)
        self._filled = 0
        self._digests: list[bytes] = []

    def update(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while len(view):
            last = len(self._digests) + 1 >= self._parts
            take = len(view) if last else min(len(view), self._part_size - self._filled)
            self._current.update(view[:take])
            self._filled += take
            view = view[take:]
            if not last and self._filled == self._part_size:
                self._digests.append(self._current.digest())
                self._current = hashlib.md5(usedforsecurity=False)
                self._filled = 0

    def hexdigest(self) -> str:
        digests = self._digests + ([self._current.digest()] if self._filled else [])
        return hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class _Expect:
    """The digest a file must have, and how to compute it."""

    kind: str  # "md5" | "crc32c" | "md5-parts"
    digest: str  # hex
    part_size: int = 0  # md5-parts only
    parts: int = 0  # md5-parts only

    def hasher(self) -> _Hasher:
        if self.kind == "md5":
            return _MD5()
        if self.kind == "crc32c":
            return _CRC32C()
        return _PartsMD5(self.part_size, self.parts)


def _infer_part_size(size: int, parts: int, preferred: Sequence[int]) -> int | None:
    """A part size that splits ``size`` bytes into exactly ``parts`` parts, likeliest first.

    The last part may be short or, as s3fs and ocifs write them, up to twice as long.
    """
    if parts <= 1:
        return max(size, 1)

    def fits(candidate: int) -> bool:
        tail = size - (parts - 1) * candidate
        return candidate > 0 and 0 < tail < 2 * candidate

    for candidate in (*preferred, *(mib * MiB for mib in _COMMON_PART_MIB)):
        if fits(candidate):
            return candidate
    whole_mib = -(-size // parts // MiB) * MiB  # the smallest whole MiB that fits
    return whole_mib if fits(whole_mib) else None


def _expectation(item: _Item, preferred_parts: Sequence[int]) -> tuple[_Expect | None, str]:
    """What to check ``item`` against, or None and the reason only its size can be checked."""
    if item.checksum is not None:
        kind, digest = item.checksum
        return _Expect(kind, digest), ""
    if item.multipart is not None:
        digest, parts = item.multipart
        part_size = _infer_part_size(item.size, parts, preferred_parts)
        if part_size is None:
            return None, f"multipart checksum of {parts} parts with no part size to reproduce it"
        return _Expect("md5-parts", digest, part_size, parts), ""
    return None, ""


def _hash_file(path: str, expect: _Expect) -> str:
    hasher = expect.hasher()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_BLOCK):
            hasher.update(chunk)
    return hasher.hexdigest()


def _same_size(local: str, size: int) -> bool:
    try:
        return os.path.getsize(local) == size
    except OSError:
        return False


def _is_valid(local: str, item: _Item, expect: _Expect | None) -> bool:
    """True if ``local`` already holds ``item``: same size and, where known, same digest."""
    if not _same_size(local, item.size):
        return False
    if expect is None:
        # a multipart digest whose layout cannot be reproduced: fetch rather than trust
        return item.multipart is None
    return _hash_file(local, expect) == expect.digest


# -- errors and retries ---------------------------------------------------------------------


class _ShortRead(OSError):
    """The server ended a response before the range was complete (a truncated body)."""


class _Permanent(OSError):
    """A failure no retry can fix."""


_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_PERMANENT_TYPES = (
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
    FileExistsError,
    UnsafeKeyError,
    _Permanent,
)
# Network failures as the SDKs spell them (aiohttp, botocore, urllib3, requests, azure-core);
# matched by name so this module imports none of them.
_TRANSIENT_NAMES = frozenset(
    {
        "ClientPayloadError",
        "ClientConnectionError",
        "ClientConnectorError",
        "ClientOSError",
        "ServerDisconnectedError",
        "ServerTimeoutError",
        "ContentLengthError",
        "TransferEncodingError",
        "IncompleteReadError",
        "ResponseStreamingError",
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ReadTimeoutError",
        "ConnectTimeoutError",
        "ProtocolError",
        "IncompleteRead",
        "ChunkedEncodingError",
        "ConnectionError",
        "ReadTimeout",
        "ConnectTimeout",
        "ServiceRequestError",
        "ServiceResponseError",
        "DecodeError",
    }
)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [current.__cause__, current.__context__]


def _status(exc: BaseException) -> int | None:
    """The HTTP status an SDK exception carries, whichever SDK raised it."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):  # botocore ClientError
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(status, int):
            return status
    for name in ("status_code", "status", "code"):
        value = getattr(exc, name, None)
        if isinstance(value, int) and 100 <= value <= 599:
            return value
    return None


def _retry_after(exc: BaseException) -> float | None:
    """The server's ``Retry-After`` in seconds, if the exception kept the response headers."""
    headers: Any = getattr(exc, "headers", None)
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        headers = response.get("ResponseMetadata", {}).get("HTTPHeaders")
    elif response is not None and headers is None:
        headers = getattr(response, "headers", None)
    if not headers:
        return None
    try:
        value = next((v for k, v in headers.items() if str(k).lower() == "retry-after"), None)
        return float(value) if value is not None else None
    except (TypeError, ValueError, AttributeError):
        return None  # an HTTP date: fall back to our own backoff


def _classify(exc: BaseException) -> tuple[bool, float | None]:
    """Whether ``exc`` is worth retrying, and how long the server asked us to wait."""
    for cause in _causes(exc):
        if isinstance(cause, _ShortRead):
            return True, None
        status = _status(cause)
        if status is not None:
            return status in _TRANSIENT_STATUS or status >= 500, _retry_after(cause)
        if isinstance(cause, _PERMANENT_TYPES):
            return False, None
        if type(cause).__name__ in _TRANSIENT_NAMES:
            return True, None
        if isinstance(cause, (ConnectionError, TimeoutError, asyncio.TimeoutError, EOFError)):
            return True, None
    # An OSError without a status (EIO from a translated SDK error, ...) may pass; a
    # TypeError or KeyError is a bug that retrying would only hide.
    return isinstance(exc, OSError), None


def _describe(exc: BaseException) -> str:
    text = str(exc) or repr(exc)
    return f"{type(exc).__name__}: {text}"


# -- the engine -------------------------------------------------------------------------------


class _Budget:
    """Bytes that requests in flight may hold in memory at once; waiters queue in order."""

    def __init__(self, limit: int) -> None:
        self.limit = max(limit, 1)
        self.used = 0
        self.peak = 0
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def hold(self, nbytes: int) -> AsyncIterator[None]:
        # a request larger than the whole budget runs alone rather than never
        nbytes = min(max(nbytes, 1), self.limit)
        async with self._changed:
            await self._changed.wait_for(lambda: self.used + nbytes <= self.limit)
            self.used += nbytes
            self.peak = max(self.peak, self.used)
        try:
            yield
        finally:
            async with self._changed:
                self.used -= nbytes
                self._changed.notify_all()


class _Gate:
    """How many requests may be in flight now: ramped up towards ``ceiling`` while it pays.

    More parallel requests only help while something per request is the limit (latency,
    a per-connection throughput cap); past that they cost CPU -- on a fast link or on
    loopback a few streams beat many, as every extra stream means smaller, costlier
    socket reads in Python. ``tune`` starts low, doubles the limit while throughput grows
    by at least ``_GAIN`` (quadruples it when it nearly doubles), steps back when it did
    not, and probes again later.
    """

    _GAIN = 1.1  # near a link's cap the last doubling gains little, and it is still worth it
    _LEAP = 1.6  # a probe that gained this much scaled almost linearly: take a bigger step
    _WINDOW = 0.08  # seconds per measurement, at least
    _HOLD = 6  # windows to wait after a probe that did not pay; doubled after each such probe
    _MAX_HOLD = 96

    def __init__(self, start: int, ceiling: int, *, adaptive: bool = True) -> None:
        self.ceiling = max(1, ceiling)
        self.limit = min(max(1, start), self.ceiling) if adaptive else self.ceiling
        self.adaptive = adaptive
        self.active = 0
        self.waiting = 0
        self.peak = self.limit
        self.rate = 0.0  # the last throughput measured, bytes per second
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._changed:
            self.waiting += 1
            try:
                await self._changed.wait_for(lambda: self.active < self.limit)
            finally:
                self.waiting -= 1
            self.active += 1
        try:
            yield
        finally:
            async with self._changed:
                self.active -= 1
                self._changed.notify_all()

    async def _set(self, limit: int) -> None:
        async with self._changed:
            self.limit = max(1, min(limit, self.ceiling))
            self.peak = max(self.peak, self.limit)
            self._changed.notify_all()

    async def _rate(self, progress: Callable[[], int], seconds: float) -> float:
        before, started = progress(), time.monotonic()
        await asyncio.sleep(seconds)
        self.rate = (progress() - before) / max(time.monotonic() - started, 1e-6)
        return self.rate

    async def tune(
        self, progress: Callable[[], int], latency: Callable[[], float], *, streamed: bool
    ) -> None:
        """Adjust ``limit`` from the throughput ``progress()`` (bytes so far) shows.

        ``latency()`` is the time new streamed requests take to their first byte: a probe
        judged sooner would see its requests' cost and none of their bytes. (Where reads are
        not streamed it stays 0: a whole range arrives at once, and the windows stay short
        so that the ramp is not slowed by the time a range takes.)
        """
        if not self.adaptive:
            return

        def settle() -> float:
            # requests sent now deliver after their first-byte latency
            return latency() + self._WINDOW

        def window() -> float:
            return max(self._WINDOW, latency())

        if streamed:
            while not latency():  # nothing has arrived yet: there is nothing to measure
                await asyncio.sleep(self._WINDOW / 4)
        await asyncio.sleep(settle())  # requests sent with the first have delivered too
        base_rate = await self._rate(progress, window())
        step = 2
        hold = self._HOLD
        while True:
            if self.limit >= self.ceiling or self.waiting == 0:
                # nothing to gain now: either at the ceiling or not enough work queued
                await asyncio.sleep(window())
                base_rate = await self._rate(progress, window())
                continue
            base = self.limit
            await self._set(base * step)
            await asyncio.sleep(settle())  # let the new requests get going
            probe_rate = await self._rate(progress, window())
            logger.debug(
                "gate %d -> %d: %.1f -> %.1f MiB/s",
                base,
                self.limit,
                base_rate / MiB,
                probe_rate / MiB,
            )
            if probe_rate >= base_rate * self._GAIN:
                step = 4 if probe_rate >= base_rate * self._LEAP else 2
                hold = self._HOLD
                base_rate = probe_rate
                continue
            # A probe is not free (new requests, and ranges split to feed them): the longer
            # probing keeps failing, the less often it is tried.
            step = 2
            await self._set(base)
            await asyncio.sleep(settle() * hold)
            hold = min(2 * hold, self._MAX_HOLD)
            base_rate = await self._rate(progress, window())


class _Backend:
    """One filesystem as the engine sees it: async or sync, streaming reads or whole ranges."""

    def __init__(self, fs: AbstractFileSystem, provider: Provider, threads: int) -> None:
        self.fs = fs
        self.provider = provider
        self.is_async = bool(getattr(fs, "async_impl", False))
        # synchronous backends (ocifs, local, memory) block a thread per request
        self.pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="unifs-io")
        self.streams = False

    async def start(self) -> None:
        """Find out whether the provider streams ranged reads for this filesystem."""
        probe = self.provider.stream_range(self.fs, "", 0, 1)
        if probe is not None:
            self.streams = True
            close = getattr(probe, "aclose", None)
            if close is not None:
                await close()
            else:
                probe.close()

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def put_file_parameters(self) -> frozenset[str]:
        """Names ``put_file`` takes, to tell it part size and parallelism where it can use them."""
        method = getattr(self.fs, "_put_file" if self.is_async else "put_file")
        try:
            return frozenset(inspect.signature(method).parameters)
        except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
            return frozenset()

    async def run(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run a blocking call in this backend's thread pool."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, lambda: fn(*args))

    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call filesystem method ``name`` through its async form when the backend has one."""
        if self.is_async:
            return await getattr(self.fs, f"_{name}")(*args, **kwargs)
        method = getattr(self.fs, name)
        return await self.run(lambda: method(*args, **kwargs))

    async def read(self, path: str, start: int, end: int) -> AsyncGenerator[bytes, None]:
        """Yield bytes ``[start, end)`` of ``path`` in order, streamed where possible."""
        stream = self.provider.stream_range(self.fs, path, start, end) if self.streams else None
        if stream is None:
            if self.is_async:
                yield await self.fs._cat_file(path, start=start, end=end)
            else:
                yield await self.run(self.fs.cat_file, path, start, end)
            return
        if hasattr(stream, "__anext__"):
            try:
                async for chunk in stream:
                    yield chunk
            finally:
                await stream.aclose()
            return
        try:
            while (chunk := await self.run(next, stream, None)) is not None:
                yield chunk
        finally:
            await self.run(stream.close)


class _Engine:
    """Shared by every file of one transfer: the limits, the pools, the retry loop, the report."""

    def __init__(
        self,
        backend: _Backend,
        report: TransferReport,
        *,
        concurrency: int,
        max_buffer: int,
        policy: RetryPolicy,
        callback: Callback | None,
        adaptive: bool = True,
    ) -> None:
        self.backend = backend
        self.report = report
        self.concurrency = concurrency
        self.budget = _Budget(max_buffer)
        #: requests in flight; downloads take one per worker, a multipart upload several
        self.slots = _Budget(concurrency)
        #: how many of those ``concurrency`` requests may fly now (ramped up as it pays)
        self.gate = _Gate(_START_CONCURRENCY, concurrency, adaptive=adaptive)
        self.policy = policy
        self.callback = callback
        # Disk writes and hashing leave the event loop free to receive; hashing gets its own
        # threads so a long MD5 never delays a write that a download is waiting on.
        self.disk = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="unifs-disk")
        self.hashing = concurrent.futures.ThreadPoolExecutor(
            max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="unifs-hash"
        )
        self.tasks: set[asyncio.Task[None]] = set()
        self._made: set[str] = set()
        self.bulk_bytes = 0  # bytes written by ranged (gated) requests: what the gate tunes on
        self.latency = 0.0  # recent time from a ranged request to its first byte (EWMA)

    def first_byte(self, seconds: float) -> None:
        """Note how long a ranged request took to deliver its first byte."""
        self.latency = seconds if not self.latency else 0.7 * self.latency + 0.3 * seconds

    def makedirs(self, directory: str) -> None:
        """``os.makedirs`` once per directory (thousands of files share a few)."""
        if directory not in self._made:
            os.makedirs(directory, exist_ok=True)
            self._made.add(directory)

    def close(self) -> None:
        self.disk.shutdown(wait=True)
        self.hashing.shutdown(wait=True)
        self.backend.close()

    async def on_disk(self, fn: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self.disk, lambda: fn(*args))

    async def on_hash(self, fn: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self.hashing, lambda: fn(*args))

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drain(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def retrying(self, what: Callable[[int], Coroutine[Any, Any, _T]]) -> _T:
        """Run ``what(attempt)`` until it succeeds, a permanent error, or the attempts run out."""
        attempt = 0
        while True:
            try:
                return await what(attempt)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                transient, retry_after = _classify(exc)
                if not transient or attempt + 1 >= self.policy.attempts:
                    raise
                self.report.retries += 1
                await asyncio.sleep(self.policy.delay(attempt, retry_after))
                attempt += 1


# -- get ------------------------------------------------------------------------------------


def _pwritev_all(fd: int, buffers: list[bytes], offset: int, hasher: _Hasher | None) -> None:
    """Write ``buffers`` back to back at ``offset``; feed them to ``hasher`` if given."""
    views = [memoryview(b) for b in buffers if b]
    while views:
        written = os.pwritev(fd, views[:512], offset)  # IOV_MAX is 1024 on Linux
        offset += written
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if written:
            views[0] = views[0][written:]
    if hasher is not None:
        for buffer in buffers:
            hasher.update(buffer)


def _hash_span(fd: int, hasher: _Hasher, start: int, end: int) -> None:
    while start < end:
        block = os.pread(fd, min(_HASH_BLOCK, end - start), start)
        if not block:
            raise _ShortRead(f"temporary file ended at byte {start}, expected {end}")
        hasher.update(block)
        start += len(block)


@contextlib.contextmanager
def _suppress_missing() -> Iterator[None]:
    with contextlib.suppress(FileNotFoundError):
        yield


@dataclass(eq=False)
class _Range:
    """Bytes ``[start, end)`` of one download; ``end`` moves back when another worker takes
    the tail. ``position`` is where its bytes on disk end."""

    start: int
    end: int
    position: int
    done: bool = False


class _Download:
    """One object on its way to one local file: its ranges, its state file, its running hash."""

    def __init__(
        self,
        engine: _Engine,
        item: _Item,
        target: str,
        expect: _Expect | None,
        part_size: int,
        resume: bool,
    ) -> None:
        self.engine = engine
        self.item = item
        self.target = target
        self.expect = expect
        directory, name = os.path.split(target)
        self.tmp = os.path.join(directory, f".{name}{_PART_SUFFIX}")
        self.state_path = os.path.join(directory, f".{name}{_STATE_SUFFIX}")
        self.resume = resume and bool(item.identity)
        self.part_size = max(part_size, 1)
        size = item.size
        spans = self._load_state()
        # every byte of the object is in exactly one range, in order: done ones (from an
        # earlier run) and the rest cut at part_size
        self.ranges: list[_Range] = []
        cursor = 0
        for begin, stop in [*spans, (size, size)]:
            for piece in range(cursor, begin, self.part_size):
                piece_end = min(piece + self.part_size, begin)
                self.ranges.append(_Range(piece, piece_end, piece))
            if stop > begin:
                self.ranges.append(_Range(begin, stop, stop, done=True))
            cursor = max(cursor, stop)
        self.pending = [r for r in self.ranges if not r.done]
        self.resumed_bytes = sum(r.end - r.start for r in self.ranges if r.done)
        #: small enough for one request held in memory: no temporary state, one disk trip
        self.whole = len(self.ranges) <= 1 and size <= _SMALL_REQUEST and not self.resumed_bytes
        self.fd: int | None = None
        self.state_fd: int | None = None
        self.inflight = 0
        self.left = len(self.pending)
        self.error: BaseException | None = None
        self.transient = False
        self.settled = False
        self.hasher = expect.hasher() if expect is not None else None
        self.hashed = 0
        self.contiguous = 0
        self._next = 0
        self.hash_busy = False  # a write is hashing its own bytes at the frontier
        self.opening: asyncio.Future[None] | None = None
        self._hashing: asyncio.Task[None] | None = None
        self.child: Any = None

    def _header(self) -> dict[str, Any]:
        return {
            "version": _STATE_VERSION,
            "size": self.item.size,
            "identity": self.item.identity,
            "part_size": self.part_size,
        }

    def _load_state(self) -> list[tuple[int, int]]:
        """The byte spans an earlier run finished, if they belong to this very object."""
        self.stale_state = os.path.lexists(self.state_path)
        if not self.resume or not self.stale_state:
            return []
        try:
            with open(self.state_path, encoding="utf-8") as handle:
                header = json.loads(handle.readline())
                lines = handle.read().split()
            tmp_size = os.path.getsize(self.tmp)
        except (OSError, ValueError):
            return []
        if (
            not isinstance(header, dict)
            or header.get("version") != _STATE_VERSION
            or header.get("size") != self.item.size
            or header.get("identity") != self.item.identity
            or tmp_size != self.item.size
        ):
            return []
        spans: list[tuple[int, int]] = []
        for line in lines:
            first, _, second = line.partition(",")
            if first.isdigit() and second.isdigit():
                begin, stop = int(first), int(second)
                if begin < stop <= self.item.size:
                    spans.append((begin, stop))
        merged: list[tuple[int, int]] = []
        for begin, stop in sorted(spans):
            if merged and begin <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
            else:
                merged.append((begin, stop))
        return merged

    def open(self) -> None:
        """Create (or reopen, to resume) the temporary file and its state file."""
        self.engine.makedirs(os.path.dirname(self.target) or ".")
        if self.resumed_bytes:
            self.fd = os.open(self.tmp, os.O_RDWR)
            self.state_fd = os.open(self.state_path, os.O_WRONLY | os.O_APPEND)
        else:
            self.fd = os.open(self.tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
            # sized up front so parts can land in any order, each with one pwrite per piece
            os.ftruncate(self.fd, self.item.size)
            if self.resume:
                self.state_fd = os.open(
                    self.state_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644
                )
                os.write(self.state_fd, (json.dumps(self._header()) + "\n").encode())
            elif self.stale_state:
                with _suppress_missing():
                    os.remove(self.state_path)

    def record(self, piece: _Range) -> None:
        """Note ``piece`` as complete (its bytes are on disk and in the state file)."""
        piece.done = True

    def wrote(self, piece: _Range, start: int, upto: int) -> None:
        """``piece`` has its bytes up to ``upto`` on disk (a stream writes in order).

        The span goes to the state file at once: a range can be a whole multi-GB file,
        and an interrupted run resumes from its last write, not from the range's start.
        """
        piece.position = upto
        if self.state_fd is not None:
            os.write(self.state_fd, f"{start},{upto}\n".encode())
        if self._next < len(self.ranges) and self.ranges[self._next] is piece:
            self.advance()

    def split(self, piece: _Range) -> _Range | None:
        """Take the second half of a running range as a new one, if it is worth a request."""
        remaining = piece.end - piece.position
        if remaining < 2 * _MIN_SPLIT or self.error is not None:
            return None
        # the cut stays _MIN_SPLIT ahead of what the running request holds in memory
        middle = -(-(piece.position + remaining // 2) // MiB) * MiB
        middle = max(piece.position + _MIN_SPLIT, min(middle, piece.end - _MIN_SPLIT))
        tail = _Range(middle, piece.end, middle)
        piece.end = middle
        self.ranges.insert(self.ranges.index(piece) + 1, tail)
        self.left += 1
        return tail

    def advance(self) -> None:
        """Extend the contiguous prefix on disk and keep the hash following it.

        The prefix follows the first unfinished range while it streams, so MD5 (which cannot
        be split) runs alongside the download instead of after it.
        """
        while self._next < len(self.ranges):
            piece = self.ranges[self._next]
            upto = piece.end if piece.done else piece.position
            self.contiguous = max(self.contiguous, upto)
            if upto < piece.end:
                break
            self._next += 1
        if (
            self.hasher is not None
            and self.error is None
            and self._hashing is None
            and not self.hash_busy
            and self.hashed < self.contiguous
        ):
            self._hashing = asyncio.ensure_future(self._hash_forward())

    async def _hash_forward(self) -> None:
        assert self.hasher is not None and self.fd is not None
        try:
            while self.hashed < self.contiguous and self.error is None:
                upto = self.contiguous
                await self.engine.on_hash(_hash_span, self.fd, self.hasher, self.hashed, upto)
                self.hashed = upto
        except OSError:
            if self.error is None:
                raise
            # the download failed and its file was closed under us: nothing to verify
        finally:
            self._hashing = None
            if self.error is None and self.hashed < self.contiguous:
                self.advance()

    async def wait_hashed(self) -> None:
        while self._hashing is not None:
            await asyncio.shield(self._hashing)

    def close_files(self) -> None:
        for name in ("fd", "state_fd"):
            fd = getattr(self, name)
            if fd is not None:
                setattr(self, name, None)
                with contextlib.suppress(OSError):
                    os.close(fd)

    def commit(self) -> None:
        """Move the verified temporary file over the target; drop the state file."""
        had_state = self.state_fd is not None
        self.close_files()
        os.replace(self.tmp, self.target)
        if had_state:
            with _suppress_missing():
                os.remove(self.state_path)

    def discard(self) -> None:
        """Remove the temporary and state files; the final path is never touched."""
        self.close_files()
        for path in (self.tmp, self.state_path):
            with _suppress_missing():
                os.remove(path)


async def _fetch_part(engine: _Engine, dl: _Download, piece: _Range) -> None:
    """Fetch one range into the temporary file, resuming inside it after a failure.

    Another worker may take the range's tail meanwhile (``_Download.split``): the request
    then stops where the range now ends and drops the rest of the response.
    """
    backend = engine.backend
    reserve = _STREAM_RESERVE if backend.streams else piece.end - piece.start
    async with engine.budget.hold(min(reserve, piece.end - piece.start)):

        async def write(buffers: list[bytes], offset: int, nbytes: int) -> None:
            assert dl.fd is not None
            # Data at the hash frontier is hashed from memory in the same step; anything
            # ahead of it is read back later, once the bytes before it have landed.
            hasher = None
            frontier = dl.hashed == offset and not dl.hash_busy and dl._hashing is None
            if dl.hasher is not None and frontier:
                hasher, dl.hash_busy = dl.hasher, True
            try:
                await engine.on_hash(_pwritev_all, dl.fd, buffers, offset, hasher)
            except OSError as exc:  # a full or failing disk: no retry will help
                raise _Permanent(f"writing {dl.tmp}: {exc}") from exc
            finally:
                if hasher is not None:
                    dl.hash_busy = False
            if hasher is not None:
                dl.hashed = offset + nbytes
            dl.wrote(piece, offset, offset + nbytes)
            engine.bulk_bytes += nbytes
            engine.report.bytes_transferred += nbytes
            if engine.callback is not None:
                engine.callback.relative_update(nbytes)
            if dl.child is not None:
                dl.child.relative_update(nbytes)

        async def attempt(_: int) -> None:
            if dl.error is not None:
                raise asyncio.CancelledError  # another range of this file failed for good
            engine.report.requests += 1
            position, asked = piece.position, piece.end
            # chunks are gathered and written with one pwritev: no copy to coalesce them
            pending: list[bytes] = []
            pending_len = 0
            sent = time.monotonic()
            try:
                reader = backend.read(dl.item.remote, position, asked)
                async with contextlib.aclosing(reader) as it:
                    async for chunk in it:
                        if sent and backend.streams:  # else the first byte comes last
                            engine.first_byte(time.monotonic() - sent)
                            sent = 0.0
                        room = piece.end - position - pending_len
                        if len(chunk) > room:
                            if piece.end == asked:
                                raise _Permanent(
                                    f"the store sent more than bytes {position}-{asked - 1} "
                                    f"of {dl.item.remote}: it ignored the Range header"
                                )
                            chunk = chunk[:room]  # the tail is another worker's now
                        pending.append(chunk)
                        pending_len += len(chunk)
                        if pending_len >= _STREAM_CHUNK or position + pending_len >= piece.end:
                            batch, size = pending, pending_len
                            pending, pending_len = [], 0
                            await write(batch, position, size)
                            position += size
                        if position >= piece.end:
                            break
            finally:
                # what arrived before a failure is good data: keep it, resume after it
                if pending_len:
                    await write(pending, position, pending_len)
                    position += pending_len
            if position != piece.end:
                raise _ShortRead(
                    f"{dl.item.remote}: response ended at byte {position}, expected {piece.end}"
                )

        await engine.retrying(attempt)


async def _finish(engine: _Engine, dl: _Download, report: TransferReport) -> None:
    """Verify a fully fetched file and move it into place."""
    try:
        dl.advance()
        await dl.wait_hashed()
        assert dl.fd is not None
        size = os.fstat(dl.fd).st_size
        if size != dl.item.size:
            raise _Permanent(f"size mismatch: got {size} bytes, the store reports {dl.item.size}")
        verified, note = False, ""
        if dl.hasher is not None and dl.expect is not None:
            verified, note = _check_digest(dl.item, dl.expect, dl.hasher.hexdigest())
        await engine.on_disk(dl.commit)
    except Exception as exc:
        dl.error = exc
        dl.discard()
        report.failed[dl.item.relative] = _describe(exc)
        return
    finally:
        if dl.child is not None:
            dl.child.close()
    _succeeded(report, dl, verified, note)


def _check_digest(item: _Item, expect: _Expect, actual: str) -> tuple[bool, str]:
    """(verified, why not) for a fetched file's digest; raise when the data is wrong."""
    if actual == expect.digest:
        return True, ""
    if expect.kind == "md5-parts" and item.checksum is None:
        # the part size was inferred: a mismatch may mean another layout, not corrupt data,
        # so say what could not be checked instead of failing
        return False, (
            f"multipart checksum not reproduced with {expect.part_size}-byte parts "
            "(the object was uploaded with another part size)"
        )
    raise _Permanent(f"{expect.kind} mismatch: got {actual}, the store reports {expect.digest}")


def _succeeded(report: TransferReport, dl: _Download, verified: bool, note: str) -> None:
    if note:
        report.unverified[dl.item.relative] = note
    dl.settled = True
    report.transferred.append(dl.item.relative)
    (report.checksum_verified if verified else report.size_only).append(dl.item.relative)
    if dl.resumed_bytes:
        report.resumed.append(dl.item.relative)
        report.bytes_resumed += dl.resumed_bytes


def _fail(dl: _Download, exc: BaseException, report: TransferReport) -> None:
    if dl.error is None:
        dl.error = exc
        dl.transient = _classify(exc)[0] if isinstance(exc, Exception) else True
        report.failed[dl.item.relative] = _describe(exc)


def _settle_failed(dl: _Download) -> None:
    """Once nothing writes to a failed file: keep resumable parts, else remove everything."""
    if dl.settled or dl.inflight:
        return
    dl.settled = True
    if dl.child is not None:
        dl.child.close()
    landed = any(r.done or r.position > r.start for r in dl.ranges)
    if dl.transient and dl.resume and dl.state_fd is not None and landed:
        dl.close_files()  # an interrupted download: the next get resumes from here
    else:
        dl.discard()


def _store_small(engine: _Engine, dl: _Download, chunks: list[bytes]) -> tuple[bool, str]:
    """Verify a small object held in memory, then write it beside its target and rename.

    One trip to a disk thread per file: for thousands of small files the file-system calls
    (create, write, rename) are the cost, not the bytes.
    """
    verified, note = False, ""
    if dl.expect is not None:
        hasher = dl.expect.hasher()
        for chunk in chunks:
            hasher.update(chunk)
        verified, note = _check_digest(dl.item, dl.expect, hasher.hexdigest())
    engine.makedirs(os.path.dirname(dl.target) or ".")
    fd = os.open(dl.tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        try:
            _pwritev_all(fd, chunks, 0, None)
        finally:
            os.close(fd)
        os.replace(dl.tmp, dl.target)
    except BaseException:
        with _suppress_missing():
            os.remove(dl.tmp)
        raise
    if dl.stale_state:  # left by an earlier run that cut this object into parts
        with _suppress_missing():
            os.remove(dl.state_path)
    return verified, note


async def _get_small(engine: _Engine, dl: _Download) -> None:
    """Fetch an object that fits one request into memory, verify it, store it: no temp state."""
    size, report = dl.item.size, engine.report
    chunks: list[bytes] = []
    got = 0
    child = (
        engine.callback.branched(dl.item.remote, dl.target) if engine.callback is not None else None
    )
    if child is not None:
        child.set_size(size)

    async def attempt(_: int) -> None:
        nonlocal got
        report.requests += 1
        reader = engine.backend.read(dl.item.remote, got, size)
        async with contextlib.aclosing(reader) as it:
            async for chunk in it:
                if got + len(chunk) > size:
                    raise _Permanent(
                        f"the store sent more than {size} bytes of {dl.item.remote}: "
                        "it ignored the Range header"
                    )
                chunks.append(chunk)
                got += len(chunk)
                report.bytes_transferred += len(chunk)
                if engine.callback is not None:
                    engine.callback.relative_update(len(chunk))
                if child is not None:
                    child.relative_update(len(chunk))
        if got != size:
            raise _ShortRead(f"{dl.item.remote}: response ended at byte {got}, expected {size}")

    try:
        async with engine.budget.hold(size):
            if size:
                await engine.retrying(attempt)
            verified, note = await engine.on_disk(_store_small, engine, dl, chunks)
    except Exception as exc:
        _fail(dl, exc, report)
        dl.settled = True
        return
    finally:
        if child is not None:
            child.close()
    _succeeded(report, dl, verified, note)


async def _ensure_open(engine: _Engine, dl: _Download) -> bool:
    """Open ``dl``'s files once, however many of its parts start at the same time."""
    if dl.opening is None:

        async def opening() -> None:
            try:
                await engine.on_disk(dl.open)
            except Exception as exc:
                _fail(dl, _Permanent(_describe(exc)), engine.report)
                dl.discard()
                return
            if engine.callback is not None:
                dl.child = engine.callback.branched(dl.item.remote, dl.target)
                if dl.child is not None:
                    dl.child.set_size(dl.item.size)
                    if dl.resumed_bytes:
                        dl.child.relative_update(dl.resumed_bytes)

        dl.opening = asyncio.ensure_future(opening())
    await asyncio.shield(dl.opening)
    return dl.error is None and dl.fd is not None


async def _download_all(engine: _Engine, downloads: list[_Download]) -> None:
    """Run every part of every download through ``concurrency`` workers."""
    report = engine.report

    small = collections.deque(dl for dl in downloads if dl.whole)
    bulk: collections.deque[tuple[_Download, _Range | None]] = collections.deque()
    for dl in downloads:
        if dl.whole:
            continue
        bulk.extend((dl, piece) for piece in dl.pending)
        if not dl.pending:  # every range came from an earlier run: only verification is left
            bulk.append((dl, None))
    running: dict[_Range, _Download] = {}
    # Ranges can be cut while they stream; a read that returns a whole range at once cannot.
    can_split = engine.backend.streams

    def steal() -> tuple[_Download, _Range] | None:
        """Split the running range with the most left, for an idle worker to fetch its tail.

        Only while the tail would take a few first-byte latencies at one stream's pace: a
        new request costs that latency (and on some servers, e.g. moto, a whole-object
        copy), so splitting a range that is about to finish only adds work.
        """
        if not can_split:
            return None
        per_stream = engine.gate.rate / max(len(running), 1)
        for piece, dl in sorted(running.items(), key=lambda kv: kv[0].position - kv[0].end):
            tail_seconds = (piece.end - piece.position) / 2 / per_stream if per_stream else 0.0
            if tail_seconds and tail_seconds < _SPLIT_PAYBACK * engine.latency:
                return None  # the range with the most left is not worth it: none is
            tail = dl.split(piece)
            if tail is not None:
                logger.debug(
                    "split %s at %d: %d running, %.1f MiB/s each, first byte after %.3f s",
                    dl.item.relative,
                    tail.start,
                    len(running),
                    per_stream / MiB,
                    engine.latency,
                )
                return dl, tail
        return None

    async def fetch(dl: _Download, piece: _Range | None) -> None:
        try:
            if dl.error is not None or not await _ensure_open(engine, dl):
                return
        finally:
            if piece is not None and (dl.error is not None or dl.fd is None):
                running.pop(piece, None)
        if piece is None:
            engine.spawn(_finish(engine, dl, report))
            return
        dl.inflight += 1
        try:
            await _fetch_part(engine, dl, piece)
        except asyncio.CancelledError:
            if dl.error is None:  # the whole transfer was cancelled
                _fail(dl, asyncio.CancelledError("interrupted"), report)
                dl.transient = True
                raise
        except Exception as exc:
            _fail(dl, exc, report)
        else:
            dl.record(piece)
            dl.advance()
            dl.left -= 1
        finally:
            running.pop(piece, None)
            dl.inflight -= 1
            if dl.error is not None:
                _settle_failed(dl)
        if dl.error is None and dl.left == 0:
            engine.spawn(_finish(engine, dl, report))

    async def worker() -> None:
        while True:
            # Small files are bound by latency, not CPU: they use every worker at once. Bulk
            # ranges pass the gate, which ramps parallelism up only while it pays; an idle
            # worker inside the gate helps the range with the most left.
            if small:
                await _get_small(engine, small.popleft())
                continue
            if not bulk and not running:
                return
            async with engine.gate.slot():
                work = bulk.popleft() if bulk else steal()
                if work is None:
                    return  # ranges only shrink: nothing will become worth splitting
                if work[1] is not None:
                    running[work[1]] = work[0]  # splittable from now on, before any await
                await fetch(*work)

    workers = [asyncio.ensure_future(worker()) for _ in range(engine.concurrency)]
    # only gated (bulk) bytes: a burst of small files would make any probe look like a loss
    tuner = asyncio.ensure_future(
        engine.gate.tune(
            lambda: engine.bulk_bytes, lambda: engine.latency, streamed=engine.backend.streams
        )
    )
    try:
        await asyncio.gather(*workers)
        tuner.cancel()
        await engine.drain()
    except BaseException:
        tuner.cancel()
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        for dl in downloads:
            if not dl.settled and dl.fd is not None:
                dl.transient = True
                dl.error = dl.error or asyncio.CancelledError("interrupted")
                dl.inflight = 0
                _settle_failed(dl)
        raise


def _auto_part_size(total: int, concurrency: int, max_buffer: int, streams: bool) -> int:
    """The size files are cut into.

    Streamed ranges are not cut up front: each file starts as one request, and running
    ranges are split in two as the gate finds that more streams pay (``steal``). Requests
    are not free -- a first-byte latency each, and on some servers a copy of the whole
    object -- so a fast link ends up with few of them and a slow, capped one with many.

    A range read at once sits in memory: there files are cut into the total over
    ``concurrency``, within 8-64 MiB and so that 16 such reads fit the byte budget. Parts
    go out in order, so the bytes behind the slowest one are contiguous and MD5 keeps up.
    """
    if streams:
        return max(total, 1)
    part = -(-total // max(concurrency, 1))
    part = -(-part // MiB) * MiB
    part = min(max(part, MIN_PART_SIZE), MAX_PART_SIZE)
    return min(part, max(MiB, max_buffer // 16))  # 16 such reads fit the budget


async def _open_backend(
    src: str | StorageURI, auth: Any, storage_options: dict[str, Any], threads: int
) -> tuple[StorageURI, _Backend, str]:
    uri = parse(src, account=storage_options.get("account_name"))
    fs, path = url_to_fs(uri, auth=auth, **storage_options)
    backend = _Backend(fs, get_provider(uri.provider), threads)
    await backend.start()
    return uri, backend, path


async def _get(
    src: str | StorageURI,
    dest: str,
    *,
    auth: Any,
    include: Sequence[str] | None,
    exclude: Sequence[str] | None,
    concurrency: int,
    part_size: int | None,
    max_buffer: int,
    verify: bool,
    resume: bool,
    retries: RetryPolicy,
    callback: Any,
    storage_options: dict[str, Any],
) -> TransferReport:
    started = time.perf_counter()
    uri, backend, path = await _open_backend(src, auth, storage_options, concurrency)
    report = TransferReport(source=uri.url, destination=dest)
    fs_callback, file_callback = _split_callback(callback)
    engine = _Engine(
        backend,
        report,
        concurrency=concurrency,
        max_buffer=max_buffer,
        policy=retries,
        callback=fs_callback,
    )
    try:
        items, single = await engine.retrying(
            lambda _: _plan_remote(backend, path, uri, include, exclude)
        )
        if single:
            into_dir = os.path.isdir(dest) or dest.endswith(("/", os.sep))
            root = dest if into_dir else os.path.dirname(os.path.abspath(dest))
            targets = [(items[0], safe_join(root, items[0].relative) if into_dir else dest)]
        else:
            # every key is checked before anything is written
            targets = [(item, safe_join(dest, item.relative)) for item in items]
        preferred = [part_size] if part_size else []
        expects = {item.relative: _expectation(item, preferred) for item, _ in targets}

        async def check(item: _Item, target: str) -> bool:
            if not _same_size(target, item.size):  # a stat: no thread needed
                return False
            return await engine.on_hash(_is_valid, target, item, expects[item.relative][0])

        valid = await asyncio.gather(*(check(item, target) for item, target in targets))
        todo = []
        for (item, target), ok in zip(targets, valid, strict=True):
            if ok:
                report.skipped.append(item.relative)
            else:
                todo.append((item, target))
        total = sum(item.size for item, _ in todo)
        chosen = part_size or _auto_part_size(total, concurrency, max_buffer, backend.streams)
        if fs_callback is not None:
            fs_callback.set_size(total)
        downloads = []
        for item, target in todo:
            expect, why = expects[item.relative] if verify else (None, "")
            if why:
                report.unverified[item.relative] = why
            downloads.append(_Download(engine, item, target, expect, chosen, resume))
            if downloads[-1].resumed_bytes and fs_callback is not None:
                fs_callback.relative_update(downloads[-1].resumed_bytes)
        await _download_all(engine, downloads)
        if file_callback is not None:
            done = set(report.transferred)
            for dl in downloads:
                if dl.item.relative in done:
                    file_callback(dl.item.relative, dl.item.size)
    finally:
        report.peak_buffer = engine.budget.peak
        report.peak_requests = engine.gate.peak
        report.seconds = time.perf_counter() - started
        await asyncio.get_running_loop().run_in_executor(None, engine.close)
    if report.failed:
        first = next(iter(report.failed.items()))
        raise TransferError(
            f"{len(report.failed)} of {len(todo)} files failed (first: {first[0]}: {first[1]})",
            report,
        )
    return report


def progress_bar(description: str = "", *, terminal: bool = False, **tqdm_kwargs: Any) -> Callback:
    """A tqdm progress bar in bytes to pass as ``callback=``: a widget in notebooks.

    ``terminal=True`` uses the plain text bar (hidden when stderr is not a terminal), as the
    ``unifs`` command does; ``tqdm_kwargs`` go to tqdm.
    """
    from fsspec.callbacks import TqdmCallback

    if terminal:
        from tqdm import tqdm as bar_class
    else:
        from tqdm.auto import tqdm as bar_class
    options: dict[str, Any] = {
        "desc": description,
        "unit": "B",
        "unit_scale": True,
        "unit_divisor": 1024,
        "leave": False,
        "disable": None if terminal else False,
    }
    options.update(tqdm_kwargs)
    return TqdmCallback(tqdm_kwargs=options, tqdm_cls=bar_class)


def _split_callback(callback: Any) -> tuple[Callback | None, Callable[[str, int], None] | None]:
    """An fsspec Callback gets byte progress; a plain ``callback(name, nbytes)`` one per file."""
    if callback is None:
        return None, None
    from fsspec.callbacks import Callback

    if isinstance(callback, Callback):
        return callback, None
    return None, callback


# -- running on fsspec's loop ---------------------------------------------------------------


def _loop_for(storage_loop: asyncio.AbstractEventLoop | None = None) -> asyncio.AbstractEventLoop:
    from fsspec.asyn import get_loop

    return storage_loop or get_loop()


def _run_sync(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` on fsspec's IO loop (where async backends keep their sessions) and wait.

    Ctrl-C cancels the transfer and waits for it to put its files in order before raising.
    """
    loop = _loop_for()
    with contextlib.suppress(RuntimeError):
        if asyncio.get_running_loop() is loop:
            raise RuntimeError(
                "unifs.get/put called from fsspec's own event loop; use `await unifs.aget(...)`"
            )
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        while True:
            try:
                return future.result(timeout=1.0)
            except concurrent.futures.TimeoutError:
                continue
    except BaseException:
        if not future.done():
            future.cancel()
            with contextlib.suppress(BaseException):
                future.result(timeout=60)
        raise


async def _run_async(coro: Coroutine[Any, Any, _T]) -> _T:
    """Await ``coro`` on fsspec's IO loop from any other running loop."""
    loop = _loop_for()
    if asyncio.get_running_loop() is loop:
        return await coro
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        return await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        future.cancel()
        raise


def _options(
    concurrency: int | None, max_buffer: int | None, retries: int | RetryPolicy | None
) -> tuple[int, int, RetryPolicy]:
    conc = max(1, concurrency or DEFAULT_CONCURRENCY)
    budget = max(MiB, max_buffer or DEFAULT_MAX_BUFFER)
    if retries is None:
        policy = RetryPolicy()
    elif isinstance(retries, RetryPolicy):
        policy = retries
    else:
        policy = RetryPolicy(attempts=max(1, int(retries) + 1))
    return conc, budget, policy


async def aget(
    src: str | StorageURI,
    dest: str | os.PathLike[str],
    *,
    auth: Any = None,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    concurrency: int | None = None,
    part_size: int | None = None,
    verify: bool = True,
    callback: Any = None,
    max_buffer: int | None = None,
    retries: int | RetryPolicy | None = None,
    resume: bool = True,
    **storage_options: Any,
) -> TransferReport:
    """Await the download of ``src`` into ``dest``; the async form of :func:`get`."""
    conc, budget, policy = _options(concurrency, max_buffer, retries)
    return await _run_async(
        _get(
            src,
            os.fspath(dest),
            auth=auth,
            include=include,
            exclude=exclude,
            concurrency=conc,
            part_size=part_size,
            max_buffer=budget,
            verify=verify,
            resume=resume,
            retries=policy,
            callback=callback,
            storage_options=storage_options,
        )
    )


def get(
    src: str | StorageURI,
    dest: str | os.PathLike[str],
    *,
    auth: Any = None,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    concurrency: int | None = None,
    part_size: int | None = None,
    verify: bool = True,
    callback: Any = None,
    max_buffer: int | None = None,
    retries: int | RetryPolicy | None = None,
    resume: bool = True,
    **storage_options: Any,
) -> TransferReport:
    """Download the object or prefix ``src`` into the local path ``dest``, verified.

    A prefix (or a URI ending in ``/``) lands below ``dest``; a single object lands at
    ``dest``, or inside it when ``dest`` is an existing directory or ends in ``/``.

    ``concurrency`` caps requests in flight (default 64) and ``max_buffer`` the bytes they
    hold (default 128 MiB); ``part_size`` fixes the ranged-GET size (default: where reads
    stream, each file starts as one request and running ranges are split while more streams
    pay; elsewhere the total over ``concurrency``, 8-64 MiB). ``retries`` is a count of
    retries per request or a :class:`RetryPolicy`. ``resume=False`` discards parts an
    earlier run left. ``callback`` is an fsspec ``Callback`` (bytes overall, and a per-file
    child from ``branched``) or a plain ``callback(relative_path, nbytes)`` called as each
    file completes.

    Raises :class:`TransferError` (with the report) if any file fails; files that succeeded
    stay.
    """
    conc, budget, policy = _options(concurrency, max_buffer, retries)
    return _run_sync(
        _get(
            src,
            os.fspath(dest),
            auth=auth,
            include=include,
            exclude=exclude,
            concurrency=conc,
            part_size=part_size,
            max_buffer=budget,
            verify=verify,
            resume=resume,
            retries=policy,
            callback=callback,
            storage_options=storage_options,
        )
    )


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
            if name.endswith((_PART_SUFFIX, _STATE_SUFFIX)):
                continue  # an unfinished unifs download, not data
            local = os.path.join(directory, name)
            relative = os.path.relpath(local, src).replace(os.sep, "/")
            if _matches(relative, include, exclude):
                pairs.append((local, relative))
    return sorted(pairs, key=lambda pair: pair[1])


def _read_and_hash(local: str, hasher: _Hasher) -> bytes:
    with open(local, "rb") as handle:
        data = handle.read()
    hasher.update(data)
    return data


async def _put_one(
    engine: _Engine,
    local: str,
    relative: str,
    remote: str,
    part_size: int,
    verify: bool,
) -> None:
    """Upload one file with retries; verify it against what the store then reports."""
    backend, report = engine.backend, engine.report
    size = await engine.on_disk(os.path.getsize, local)
    local_md5 = _MD5()
    if size <= part_size:
        async with engine.slots.hold(1), engine.budget.hold(size):
            data = await engine.on_disk(_read_and_hash, local, local_md5)

            async def upload(_: int) -> None:
                report.requests += 1
                await backend.call("pipe_file", remote, data)

            await engine.retrying(upload)
    else:
        # The backend's own upload streams the file, multipart where the store has it; it is
        # told the part size and how many parts may fly, and holds that many slots and bytes.
        accepts = backend.put_file_parameters()
        options: dict[str, Any] = {}
        if "chunksize" in accepts:
            options["chunksize"] = part_size
        parallel = 1
        if "max_concurrency" in accepts:
            parallel = max(1, min(-(-size // part_size), engine.concurrency // 2))
            parallel = max(1, min(parallel, engine.budget.limit // 2 // part_size))
            options["max_concurrency"] = parallel
        hashing = asyncio.ensure_future(engine.on_hash(_hash_file_into, local, local_md5))

        async def upload_file(_: int) -> None:
            report.requests += 1
            await backend.call("put_file", local, remote, **options)

        try:
            async with engine.slots.hold(parallel), engine.budget.hold(parallel * part_size):
                await engine.retrying(upload_file)
        finally:
            await hashing
    report.bytes_transferred += size
    if engine.callback is not None:
        engine.callback.relative_update(size)
    verified = False
    if verify:
        info = await engine.retrying(lambda _: backend.call("info", remote))
        if int(info.get("size", -1)) != size:
            raise _Permanent(f"uploaded {size} bytes but the store reports {info.get('size')}")
        item = _item(backend.provider, remote, relative, info)
        expect, _ = _expectation(item, [part_size])
        if expect is not None:
            if expect.kind == "md5":
                actual = local_md5.hexdigest()
            else:
                actual = await engine.on_hash(_hash_file, local, expect)
            if actual != expect.digest and not (
                expect.kind == "md5-parts" and item.checksum is None
            ):
                raise _Permanent(
                    f"{expect.kind} mismatch after upload: local {actual}, store {expect.digest}"
                )
            verified = actual == expect.digest
    report.transferred.append(relative)
    (report.checksum_verified if verified else report.size_only).append(relative)


def _hash_file_into(local: str, hasher: _Hasher) -> None:
    with open(local, "rb") as handle:
        while chunk := handle.read(_HASH_BLOCK):
            hasher.update(chunk)


async def _put(
    src: str,
    dst: str | StorageURI,
    *,
    auth: Any,
    include: Sequence[str] | None,
    exclude: Sequence[str] | None,
    concurrency: int,
    part_size: int | None,
    max_buffer: int,
    verify: bool,
    retries: RetryPolicy,
    callback: Any,
    storage_options: dict[str, Any],
) -> TransferReport:
    started = time.perf_counter()
    uri, backend, _ = await _open_backend(dst, auth, storage_options, concurrency)
    report = TransferReport(source=src, destination=uri.url)
    fs_callback, file_callback = _split_callback(callback)
    engine = _Engine(
        backend,
        report,
        concurrency=concurrency,
        max_buffer=max_buffer,
        policy=retries,
        callback=fs_callback,
    )
    pairs = await engine.on_disk(_plan_local, src, include, exclude)
    single = os.path.isfile(src)

    def remote_for(relative: str) -> str:
        if single and not uri.is_prefix:
            return uri.path
        return uri.join(relative).path

    chosen = part_size or min(MAX_PART_SIZE, max(MIN_PART_SIZE, max_buffer // concurrency))
    chosen = max(chosen, _MIN_UPLOAD_PART)
    if fs_callback is not None:
        sizes = await engine.on_disk(lambda: sum(os.path.getsize(p) for p, _ in pairs))
        fs_callback.set_size(sizes)
    queue = iter(pairs)

    async def worker() -> None:
        for local, relative in queue:
            try:
                await _put_one(engine, local, relative, remote_for(relative), chosen, verify)
            except Exception as exc:
                report.failed[relative] = _describe(exc)
                continue
            if file_callback is not None:
                file_callback(relative, os.path.getsize(local))

    try:
        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(pairs)) or 1)))
    finally:
        backend.fs.invalidate_cache()
        report.peak_buffer = engine.budget.peak
        report.seconds = time.perf_counter() - started
        await asyncio.get_running_loop().run_in_executor(None, engine.close)
    if report.failed:
        raise TransferError(f"{len(report.failed)} of {len(pairs)} uploads failed", report)
    return report


async def aput(
    src: str | os.PathLike[str],
    dst: str | StorageURI,
    *,
    auth: Any = None,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    concurrency: int | None = None,
    part_size: int | None = None,
    verify: bool = True,
    callback: Any = None,
    max_buffer: int | None = None,
    retries: int | RetryPolicy | None = None,
    **storage_options: Any,
) -> TransferReport:
    """Await the upload of ``src`` to ``dst``; the async form of :func:`put`."""
    conc, budget, policy = _options(concurrency, max_buffer, retries)
    return await _run_async(
        _put(
            os.fspath(src),
            dst,
            auth=auth,
            include=include,
            exclude=exclude,
            concurrency=conc,
            part_size=part_size,
            max_buffer=budget,
            verify=verify,
            retries=policy,
            callback=callback,
            storage_options=storage_options,
        )
    )


def put(
    src: str | os.PathLike[str],
    dst: str | StorageURI,
    *,
    auth: Any = None,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    concurrency: int | None = None,
    part_size: int | None = None,
    verify: bool = True,
    callback: Any = None,
    max_buffer: int | None = None,
    retries: int | RetryPolicy | None = None,
    **storage_options: Any,
) -> TransferReport:
    """Upload the local file or directory ``src`` to the object or prefix ``dst``.

    A directory lands below ``dst``; a file lands at ``dst``, or below it when ``dst``
    ends in ``/``. Files up to ``part_size`` go up in one request each, many at once;
    larger ones through the backend's own (multipart) upload. With ``verify`` the store's
    size and checksum are compared with the local file afterwards. Object stores write each
    object atomically, so a failed upload leaves either the old object or none.
    """
    conc, budget, policy = _options(concurrency, max_buffer, retries)
    return _run_sync(
        _put(
            os.fspath(src),
            dst,
            auth=auth,
            include=include,
            exclude=exclude,
            concurrency=conc,
            part_size=part_size,
            max_buffer=budget,
            verify=verify,
            retries=policy,
            callback=callback,
            storage_options=storage_options,
        )
    )
