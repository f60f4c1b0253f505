"""Stream safetensors models from any store straight into tensors (the machinery of
:func:`unifs.torch.load_safetensors`, in :mod:`unifs.torch.loading`).

Bytes travel once: from ranged, parallel reads (the transfer engine's request gate, byte
budget and retries) into each tensor's own memory. No temporary file, no whole-file buffer:
peak memory is the tensors plus the byte budget (``max_buffer``, default 128 MiB) that reads
in flight may hold. The header probe's bytes past the header land in the first tensors, and
a streamed request asks only for a window no other worker can take from it (``_window``):
work is shared by splitting what no request has asked for yet, so no response is cut short
and no byte is sent twice. :class:`LoadReport` counts what each load moved.

Each object is checked against the checksum its store reports (MD5, CRC32C, a multipart
ETag's part MD5s) and against the version it had when the load began (ETag, generation):
an object replaced while it was read raises :class:`unifs.errors.ObjectChangedError`,
never a model spliced from two versions.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import contextlib
import dataclasses
import json
import posixpath
import struct
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from unifs.errors import MissingDependencyError, ObjectChangedError
from unifs.errors import SafetensorsError as SafetensorsError

try:
    import numpy  # noqa: F401 - torch's .numpy() (the tensors' memory as a buffer) needs it
    import torch
except ImportError as exc:  # pragma: no cover - the torch extra installs them
    raise MissingDependencyError("unifs.torch", "torch", exc.name or "torch") from exc

from unifs.auth import AuthConfig
from unifs.endpoint import Endpoint, endpoint
from unifs.engine.backend import Backend, open_backend
from unifs.engine.checksums import Expect, expectation
from unifs.engine.config import TransferConfig
from unifs.engine.filters import matches
from unifs.engine.limits import (
    MIN_SPLIT,
    SPLIT_PAYBACK,
    STREAM_RESERVE,
    MiB,
    auto_part_size,
)
from unifs.engine.listing import alist_files
from unifs.engine.planning import Item, identity, make_item
from unifs.engine.report import TransferReport
from unifs.engine.retries import Permanent, ShortRead
from unifs.engine.scheduling import Engine
from unifs.torch.slices import Slice, rows, spec_for

__all__ = ["LoadReport", "SafetensorsError"]

#: safetensors dtype names -> torch dtypes (those this torch build has)
_DTYPES: dict[str, torch.dtype] = {
    name: getattr(torch, attr)
    for name, attr in {
        "F64": "float64",
        "F32": "float32",
        "F16": "float16",
        "BF16": "bfloat16",
        "I64": "int64",
        "I32": "int32",
        "I16": "int16",
        "I8": "int8",
        "U64": "uint64",
        "U32": "uint32",
        "U16": "uint16",
        "U8": "uint8",
        "BOOL": "bool",
        "F8_E4M3": "float8_e4m3fn",
        "F8_E5M2": "float8_e5m2",
        "C64": "complex64",
    }.items()
    if hasattr(torch, attr)
}
_HEADER_PROBE = 64 * 1024  # the first read: the length prefix and, usually, the whole header
_MAX_HEADER = 100 * MiB  # safetensors' own limit
_INDEX_SUFFIX = ".index.json"
_HASH_SLICE = 4 * MiB
# A streamed request asks for at most this window of its range (see _window): the first
# before anything is measured, later ones as many first-byte latencies' worth of one
# stream's bytes as keep a request's fixed cost to a few percent, within the bounds.
_FIRST_WINDOW = 2 * MIN_SPLIT
_WINDOW_LATENCIES = 32
_MAX_WINDOW = 256 * MiB


@dataclass
class LoadReport(TransferReport):
    """What one :func:`unifs.torch.load_safetensors` moved (pass one as ``report=``).

    ``bytes_transferred`` counts every body byte received (index, headers, tensors);
    ``requests`` the ranged reads for tensor bytes (the header probes not included). A
    load that reads every byte once has ``bytes_transferred`` equal to the objects' bytes
    and nothing abandoned or duplicated.
    """

    source: str = ""
    destination: str = ""
    #: bytes of the tensors returned (this process's share, with ``group=``)
    bytes_returned: int = 0
    #: requests that ended before all they asked for came (a reset, a short response, a
    #: load stopped by another failure); the bytes they still owed were asked for again
    requests_abandoned: int = 0
    #: the bytes those requests asked for and did not deliver
    bytes_abandoned: int = 0
    #: bytes received more than once, or received and thrown away (header-probe bytes that
    #: fall in no tensor this load returns)
    bytes_duplicated: int = 0

    def summary(self) -> str:
        """One line for a log or a terminal."""
        mib = self.bytes_transferred / MiB
        line = (
            f"{self.bytes_returned / MiB:.1f} MiB of tensors, {mib:.1f} MiB received in "
            f"{self.requests} ranged reads, {self.seconds:.2f}s; "
            f"{len(self.checksum_verified)} checksum-verified, {len(self.size_only)} size-only"
        )
        if self.retries:
            line += f", {self.retries} retries"
        if self.requests_abandoned:
            line += (
                f", {self.requests_abandoned} reads abandoned "
                f"({self.bytes_abandoned / MiB:.1f} MiB owed)"
            )
        if self.bytes_duplicated:
            line += f", {self.bytes_duplicated} bytes duplicated"
        return line


@dataclass
class _Tensor:
    name: str
    dtype: torch.dtype
    shape: list[int]
    start: int  # absolute offsets in the object
    end: int
    host: torch.Tensor | None = None  # uint8, where the bytes land
    memory: memoryview | None = None  # ``host``'s bytes, written in place
    left: int = 0


@dataclass
class _File:
    item: Item
    header: bytes  # the 8-byte length and the JSON header, as stored
    tensors: list[_Tensor]
    whole: bool  # every byte of the object is read (so it can be checksum-verified)
    expect: Expect | None
    spare: bytes = b""  # the header probe's bytes past the header (object bytes from len(header))
    unused: int = 0  # of those, the bytes no tensor here took
    segments: list[_Tensor] = field(default_factory=list)  # non-empty tensors, by offset
    starts: list[int] = field(default_factory=list)  # where each segment starts
    left: int = 0  # bytes still to land

    def write(self, offset: int, chunk: bytes | memoryview) -> list[_Tensor]:
        """Copy ``chunk`` (object bytes from ``offset``) into its tensors; return those it
        completed."""
        view = memoryview(chunk)
        done = []
        index = bisect.bisect_right(self.starts, offset) - 1
        while len(view):
            tensor = self.segments[index]
            at = offset - tensor.start
            take = min(len(view), tensor.end - offset)
            if at < 0 or take <= 0:
                raise Permanent(f"{self.item.remote}: bytes at {offset} belong to no tensor")
            assert tensor.memory is not None
            tensor.memory[at : at + take] = view[:take]
            tensor.left -= take
            self.left -= take
            if tensor.left == 0:
                done.append(tensor)
            view = view[take:]
            offset += take
            index += 1
        return done


@dataclass(eq=False)
class _Part:
    """Bytes ``[start, end)`` of one object; ``end`` moves down when another worker takes
    the tail, ``position`` up as bytes land; ``asked`` is where the request in flight ends
    (no cut is made below it)."""

    file: _File
    start: int
    end: int
    position: int = -1
    asked: int = -1

    def __post_init__(self) -> None:
        if self.position < 0:
            self.position = self.start
        self.asked = max(self.asked, self.position)


def _parse_header(item: Item, raw: bytes) -> tuple[int, dict[str, Any]]:
    (length,) = struct.unpack("<Q", raw[:8])
    if length > _MAX_HEADER or 8 + length > item.size:
        raise SafetensorsError(
            f"{item.remote} is not a safetensors file: its header length ({length} bytes) "
            f"does not fit in its {item.size} bytes"
        )
    try:
        header = json.loads(raw[8 : 8 + length])
    except ValueError:
        raise SafetensorsError(f"{item.remote}: the safetensors header is not JSON") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{item.remote}: the safetensors header is not a JSON object")
    return length, header


def _tensors(item: Item, length: int, header: dict[str, Any]) -> list[_Tensor]:
    base = 8 + length
    tensors = []
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = _DTYPES[meta["dtype"]]
            begin, end = (int(v) for v in meta["data_offsets"])
            shape = [int(n) for n in meta["shape"]]
        except KeyError as exc:
            raise SafetensorsError(
                f"{item.remote}: tensor {name!r} has dtype or fields this loader does not know "
                f"({exc}); load it with safetensors instead"
            ) from None
        numel = 1
        for n in shape:
            numel *= n
        if end - begin != numel * dtype.itemsize or begin < 0 or base + end > item.size:
            raise SafetensorsError(
                f"{item.remote}: tensor {name!r} ({meta['dtype']}, shape {shape}) does not "
                f"match its byte range {begin}-{end}"
            )
        tensors.append(_Tensor(name, dtype, shape, base + begin, base + end))
    tensors.sort(key=lambda t: t.start)
    return tensors


def _covers(tensors: list[_Tensor], start: int, end: int) -> bool:
    """True if ``tensors`` (sorted) tile ``[start, end)`` exactly."""
    position = start
    for tensor in tensors:
        if tensor.start != position:
            return False
        position = tensor.end
    return position == end


def _spans(tensors: list[_Tensor]) -> list[tuple[int, int]]:
    """Contiguous byte ranges covering what ``tensors`` (sorted, allocated) still lack,
    adjacent ones merged (a tensor lacks a suffix: its prefix may have come with the
    header probe)."""
    spans: list[list[int]] = []
    for tensor in tensors:
        if tensor.left == 0:
            continue
        start = tensor.end - tensor.left
        if spans and spans[-1][1] == start:
            spans[-1][1] = tensor.end
        else:
            spans.append([start, tensor.end])
    return [(a, b) for a, b in spans]


def _wanted(name: str, include: Sequence[str] | None) -> bool:
    return matches(name, include, None)


def _is_safetensors(relative: str) -> bool:
    return relative.endswith(".safetensors")


def _build(
    item: Item, names: set[str] | None, probe: bytes, include: Sequence[str] | None, verify: bool
) -> _File:
    """The tensors to load from ``item`` (those an index assigns it, matching ``include``),
    from the ``probe`` of its first bytes (the stored header, and maybe more); no memory yet."""
    length, parsed = _parse_header(item, probe)
    header, spare = probe[: 8 + length], probe[8 + length :]
    every = _tensors(item, length, parsed)
    whole = _covers(every, 8 + length, item.size)
    tensors = every
    if names is not None:
        missing = names - {t.name for t in tensors}
        if missing:
            raise SafetensorsError(
                f"{item.remote} lacks tensors its index assigns it: {sorted(missing)[:5]}"
            )
        tensors = [t for t in tensors if t.name in names]
    chosen = [t for t in tensors if _wanted(t.name, include)]
    expect = None
    if verify and whole and len(chosen) == len(every):
        # every byte is read: the object's own checksum can be recomputed
        expect = expectation(item, [])[0]
    return _File(item, header, chosen, whole, expect, spare)


def _slice(files: list[_File], shard: Mapping[str, Slice]) -> set[str]:
    """Narrow the tensors ``shard`` names to their slices; the names sliced."""
    sliced = set()
    for file in files:
        for tensor in file.tensors:
            spec = spec_for(tensor.name, shard) if shard else None
            if spec is not None:
                tensor.start, tensor.end, tensor.shape = rows(
                    tensor.name, tensor.shape, tensor.dtype.itemsize, tensor.start, spec
                )
                sliced.add(tensor.name)
                file.expect = None  # not every byte is read: only the version is checked
    return sliced


def _allocate(file: _File, tensors: list[_Tensor], pin: bool) -> None:
    """Give ``tensors`` (of ``file``) their memory; they are the ones this process reads."""
    for tensor in tensors:
        size = tensor.end - tensor.start
        tensor.host = torch.empty(size, dtype=torch.uint8, pin_memory=pin)
        tensor.memory = memoryview(tensor.host.numpy())  # type: ignore[arg-type]
        tensor.left = size
    file.tensors = tensors
    file.segments = [t for t in tensors if t.end > t.start]
    file.starts = [t.start for t in file.segments]
    file.left = sum(t.left for t in tensors)
    # the probe's bytes past the header are the start of the tensor data: keep those
    # ``tensors`` hold rather than ask for them again (each tensor gets a prefix)
    spare, base = memoryview(file.spare), len(file.header)
    file.unused = len(spare)
    for tensor in file.segments:
        take = min(tensor.end, base + len(spare)) - tensor.start
        if take <= 0:
            break
        assert tensor.memory is not None
        tensor.memory[:take] = spare[tensor.start - base : tensor.start - base + take]
        tensor.left -= take
        file.left -= take
        file.unused -= take
    file.spare = b""


class _Loader:
    def __init__(
        self,
        engine: Engine,
        backend: Backend,
        report: LoadReport,
        *,
        include: Sequence[str] | None,
        device: torch.device,
        verify: bool,
        part_size: int | None,
    ) -> None:
        self.engine = engine
        self.backend = backend
        self.report = report  # the engine's
        self.include = include
        self.device = device
        self.verify = verify
        self.part_size = part_size
        self.pin = device.type == "cuda"
        self.out: dict[str, torch.Tensor] = {}
        self.files: list[_File] = []

    # -- planning ---------------------------------------------------------------------------

    async def info(self, path: str) -> dict[str, Any]:
        self.backend.fs.invalidate_cache(path)
        info: dict[str, Any] = await self.engine.retrying(lambda _: self.backend.call("info", path))
        return info

    def read(self, path: str, start: int, end: int, item: Item | None) -> Any:
        """The engine's read of ``[start, end)``, every request pinned to ``item``'s version
        (``Item.pin``, from ``Provider.version_pin``) where the store can pin reads."""
        return self.backend.read(path, start, end, pin=item.pin if item is not None else None)

    async def cat(self, path: str, start: int, end: int, item: Item | None = None) -> bytes:
        async def attempt(_: int) -> bytes:
            chunks = [c async for c in self.read(path, start, end, item)]
            data = b"".join(chunks)
            self.report.bytes_transferred += len(data)
            if len(data) != end - start:
                self.abandoned(end - start - len(data))
                raise ShortRead(f"{path}: got {len(data)} bytes of {start}-{end - 1}")
            return data

        return await self.engine.retrying(attempt)

    async def objects(self, path: str, is_prefix: bool) -> list[tuple[Item, set[str] | None]]:
        """The safetensors objects to read, each with the tensor names an index assigns it."""
        provider = self.backend.provider
        listing = await self.engine.retrying(
            lambda _: alist_files(self.backend, path, keep=_is_safetensors, single=not is_prefix)
        )
        if listing.single and path.endswith(".json"):
            return await self.from_index(path, listing.files[0].info)
        items: list[tuple[Item, set[str] | None]] = [
            (make_item(provider, f.path, f.relative, f.info), None) for f in listing.files
        ]
        if not items:
            raise FileNotFoundError(f"no .safetensors objects below {path}")
        return items

    async def from_index(
        self, path: str, info: dict[str, Any]
    ) -> list[tuple[Item, set[str] | None]]:
        raw = await self.cat(path, 0, int(info.get("size") or 0))
        try:
            weight_map = json.loads(raw)["weight_map"]
            assert isinstance(weight_map, dict)
        except (ValueError, KeyError, TypeError, AssertionError):
            raise SafetensorsError(
                f"{path} is not a safetensors index: expected JSON with a 'weight_map' of "
                "tensor name -> shard file"
            ) from None
        shards: dict[str, set[str]] = collections.defaultdict(set)
        for name, shard in weight_map.items():
            if _wanted(name, self.include):
                if "/" in shard or shard in ("", ".", ".."):
                    raise SafetensorsError(f"{path}: shard name {shard!r} is not a file name")
                shards[shard].add(name)
        folder = posixpath.dirname(path)

        async def shard_item(shard: str) -> tuple[Item, set[str] | None]:
            remote = f"{folder}/{shard}" if folder else shard
            try:
                shard_info = await self.info(remote)
            except FileNotFoundError:
                raise SafetensorsError(f"{path} names {shard}, which does not exist") from None
            return make_item(self.backend.provider, remote, shard, shard_info), shards[shard]

        # every shard at once: a large model has hundreds, and each is a round trip
        return list(await asyncio.gather(*(shard_item(shard) for shard in sorted(shards))))

    async def probe(self, item: Item) -> bytes:
        """The object's length prefix and JSON header, as stored, and whatever tensor bytes
        followed them in the same read."""
        probe = await self.cat(item.remote, 0, min(item.size, _HEADER_PROBE), item)
        if len(probe) < 8:
            raise SafetensorsError(f"{item.remote} is too short to be a safetensors file")
        length, _ = _parse_header(item, probe)
        if 8 + length > len(probe):
            probe += await self.cat(item.remote, len(probe), 8 + length, item)
        return probe

    def abandoned(self, owed: int) -> None:
        """Count a request that ended ``owed`` bytes short of what it asked for."""
        self.report.requests_abandoned += 1
        self.report.bytes_abandoned += owed

    def parts(self) -> list[_Part]:
        total = sum(f.left for f in self.files)
        if self.part_size is None and self.backend.streams:
            # each span starts as one part, read in windows (see _window); what no request
            # has asked for yet is split while more streams pay (see steal)
            size = max(total, 1)
        else:
            # a whole range is held in memory: the engine's size, 16 of which fit the budget
            size = self.part_size or auto_part_size(
                total, self.engine.concurrency, self.engine.budget.limit, False
            )
        parts: list[_Part] = []
        for file in self.files:
            for start, end in _spans(file.tensors):
                parts.extend(_Part(file, s, min(s + size, end)) for s in range(start, end, size))
        return parts

    def release(self) -> None:
        """Drop the loader's references to the tensors' memory: only the returned tensors
        hold it then, and a failed load's traceback (which keeps the loader) holds no model.
        """
        for file in self.files:
            for tensor in file.tensors:
                tensor.host = tensor.memory = None
        self.files = []

    # -- reading ----------------------------------------------------------------------------

    def landed(self, tensors: list[_Tensor]) -> None:
        for tensor in tensors:
            assert tensor.host is not None
            value = tensor.host.view(tensor.dtype).reshape(tensor.shape)
            if self.device.type != "cpu":
                # pinned host memory: the copy overlaps with the reads still running
                value = value.to(self.device, non_blocking=True)
            if tensor.name in self.out:
                raise SafetensorsError(f"tensor {tensor.name!r} is in more than one shard")
            self.out[tensor.name] = value

    def window(self, part: _Part, streams: int) -> int:
        """Where the next request for ``part`` ends: where reads are not streamed, at the
        part's end (it is held in memory whole); streamed, at most half of what is left
        (the other half is what a steal would take) and at most ``_WINDOW_LATENCIES``
        first-byte latencies' worth of one of ``streams`` streams, so the request in flight
        is never more than a worker that finishes early would wait for. Never below
        ``MIN_SPLIT``: requests stay few and large."""
        left = part.end - part.position
        if not self.backend.streams or left < 2 * MIN_SPLIT:
            return part.end
        engine = self.engine
        per_stream = engine.gate.rate / max(streams, 1)
        if per_stream and engine.latency:
            cap = min(_MAX_WINDOW, int(_WINDOW_LATENCIES * engine.latency * per_stream))
        else:
            cap = _FIRST_WINDOW  # nothing measured yet
        return part.position + max(MIN_SPLIT, min(left // 2, cap))

    async def fetch(self, part: _Part, streams: Callable[[], int]) -> None:
        engine, file = self.engine, part.file
        reserve = STREAM_RESERVE if self.backend.streams else part.end - part.start

        async def attempt(_: int) -> None:
            engine.report.requests += 1
            sent = time.monotonic()
            asked = part.asked
            reader = self.read(file.item.remote, part.position, asked, file.item)
            try:
                async with contextlib.aclosing(reader) as chunks:
                    async for chunk in chunks:
                        if sent and self.backend.streams:
                            engine.first_byte(time.monotonic() - sent)
                            sent = 0.0
                        if len(chunk) > asked - part.position:
                            raise Permanent(
                                f"the store sent more than bytes {part.position}-"
                                f"{asked - 1} of {file.item.remote}: it ignored the Range "
                                "header"
                            )
                        self.landed(file.write(part.position, chunk))
                        part.position += len(chunk)
                        engine.bulk_bytes += len(chunk)
                        self.report.bytes_transferred += len(chunk)
                        if engine.callback is not None:
                            engine.callback.relative_update(len(chunk))
                        if part.position >= asked:
                            break
                if part.position != asked:
                    raise ShortRead(
                        f"{file.item.remote}: response ended at byte {part.position}, "
                        f"expected {asked}"
                    )
            except BaseException:
                if part.position < asked:
                    self.abandoned(asked - part.position)
                raise

        async with engine.budget.hold(min(reserve, part.end - part.start)):
            while part.position < part.end:
                # set before the first await: from here a steal cuts only past ``asked``
                part.asked = self.window(part, streams())
                await engine.retrying(attempt)

    async def finish(self, file: _File) -> None:
        """Check a complete object: the same version as at the start, the store's checksum."""
        now = await self.info(file.item.remote)
        if identity(now) != file.item.identity:
            raise ObjectChangedError(file.item.remote, file.item.identity or None)
        if file.expect is None:
            self.report.size_only.append(file.item.relative)
            return
        digest = await self.engine.on_hash(_digest, file, file.expect)
        if digest != file.expect.digest:
            if file.expect.kind == "md5-parts" and file.item.checksum is None:
                # the part size was inferred, not known: say so rather than fail
                self.report.unverified[file.item.relative] = "multipart layout unknown"
                self.report.size_only.append(file.item.relative)
                return
            raise Permanent(
                f"{file.item.remote}: {file.expect.kind} mismatch: read {digest}, the store "
                f"reports {file.expect.digest}"
            )
        self.report.checksum_verified.append(file.item.relative)

    async def run(self, parts: list[_Part]) -> None:
        engine = self.engine
        queue = collections.deque(parts)
        running: set[_Part] = set()
        checks: list[asyncio.Future[None]] = []
        finishing: set[int] = set()

        def check(file: _File) -> None:
            if file.left == 0 and id(file) not in finishing:
                finishing.add(id(file))
                checks.append(asyncio.ensure_future(self.finish(file)))

        for file in self.files:
            # empty tensors, and those the header probe brought whole
            self.landed([t for t in file.tensors if t.left == 0])
            check(file)

        def steal() -> _Part | None:
            """Split the running range with the most left, for an idle worker to read its
            tail: never inside the request in flight (the cut is at or past ``asked``, so
            no response is cut short and no byte is sent twice), both halves at least
            ``MIN_SPLIT``, and only while the tail would take a few first-byte latencies at
            one stream's pace (the transfer engine's rule: a request costs a latency, on
            some servers a copy of the whole object)."""
            if not self.backend.streams:
                return None
            per_stream = engine.gate.rate / max(len(running), 1)
            for part in sorted(running, key=lambda p: p.position - p.end):
                left = part.end - part.position
                if left < 2 * MIN_SPLIT:
                    return None  # the others have less
                middle = max(part.asked, part.position + left // 2)
                tail_size = part.end - middle
                if tail_size < MIN_SPLIT:
                    continue  # asked for already, or nearly
                tail_seconds = tail_size / per_stream if per_stream else 0.0
                if tail_seconds and tail_seconds < SPLIT_PAYBACK * engine.latency:
                    continue
                tail = _Part(part.file, middle, part.end)
                part.end = middle
                return tail
            return None

        async def worker() -> None:
            while queue or running:
                async with engine.gate.slot():
                    part = queue.popleft() if queue else steal()
                    if part is None:
                        return  # ranges only shrink: nothing will become worth splitting
                    running.add(part)  # splittable from now on, before any await
                    try:
                        await self.fetch(part, lambda: len(running))
                    finally:
                        running.discard(part)
                check(part.file)

        workers = [asyncio.ensure_future(worker()) for _ in range(engine.concurrency)]
        tuner = asyncio.ensure_future(
            engine.gate.tune(
                lambda: engine.bulk_bytes, lambda: engine.latency, streamed=self.backend.streams
            )
        )
        try:
            # the first failure stops every other read: one clear error, not a pile of them
            await _gather_or_cancel(workers)
            await _gather_or_cancel(checks)
        finally:
            tuner.cancel()
            for task in (*workers, *checks):
                task.cancel()
            await asyncio.gather(tuner, *workers, *checks, return_exceptions=True)


async def _gather_or_cancel(tasks: Sequence[asyncio.Future[None]]) -> None:
    if not tasks:
        return
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    await asyncio.gather(*tasks)


def _digest(file: _File, expect: Expect) -> str:
    memories = []
    for tensor in file.tensors:
        assert tensor.memory is not None
        memories.append(tensor.memory)
    return _hash(expect, file.header, memories)


def _hash(expect: Expect, header: bytes, memories: Sequence[memoryview]) -> str:
    hasher = expect.hasher()
    hasher.update(header)
    for data in memories:
        for at in range(0, len(data), _HASH_SLICE):
            hasher.update(data[at : at + _HASH_SLICE])
    return hasher.hexdigest()


@contextlib.asynccontextmanager
async def _session(
    uri: str,
    config: TransferConfig,
    *,
    device: torch.device,
    auth: Mapping[str, Any] | AuthConfig | None,
    include: Sequence[str] | None,
    storage_options: dict[str, Any],
    report: LoadReport | None = None,
) -> AsyncIterator[tuple[_Loader, Endpoint]]:
    """A loader for ``uri``, counting into ``report`` (one of its own when None)."""
    started = time.monotonic()
    end = endpoint(uri, auth=auth, **storage_options)
    backend = await open_backend(end, config.concurrency)
    if report is None:
        report = LoadReport()
    report.source, report.destination = end.uri.url, str(device)
    engine = Engine(backend, report, config, callback=config.callback)
    loader = _Loader(
        engine, backend, report, include=include, device=device, verify=config.verify,
        part_size=config.part_size,
    )  # fmt: skip
    try:
        yield loader, end
    finally:
        await asyncio.get_running_loop().run_in_executor(None, engine.close)
        loader.release()
        report.seconds += time.monotonic() - started
        report.peak_requests = max(report.peak_requests, engine.gate.peak)


async def _plan(loader: _Loader, end: Endpoint) -> list[_File]:
    """The objects and tensors to load (headers read; no tensor memory yet)."""
    objects = await loader.objects(end.path, end.uri.is_prefix)
    headers = await asyncio.gather(*(loader.probe(item) for item, _ in objects))
    return [
        _build(item, names, header, loader.include, loader.verify)
        for (item, names), header in zip(objects, headers, strict=True)
    ]


async def _read(loader: _Loader, files: list[_File]) -> dict[str, torch.Tensor]:
    """Read ``files``' allocated tensors into ``loader.out``."""
    loader.files = files
    for file in files:
        loader.report.bytes_duplicated += file.unused  # probe bytes no tensor here took
        loader.report.bytes_returned += sum(t.end - t.start for t in file.tensors)
    callback = loader.engine.callback
    if callback is not None:
        callback.set_size(sum(f.left for f in files))
    await loader.run(loader.parts())
    if loader.device.type == "cuda":
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, torch.cuda.synchronize, loader.device)
    return loader.out


async def _load(
    uri: str, config: TransferConfig, shard: Mapping[str, Slice], **kw: Any
) -> dict[str, torch.Tensor]:
    async with _session(uri, config, **kw) as (loader, end):
        files = await _plan(loader, end)
        _slice(files, shard)
        for file in files:
            _allocate(file, file.tensors, loader.pin)
        return await _read(loader, files)


async def _fetch(
    uri: str, config: TransferConfig, files: list[_File], **kw: Any
) -> dict[str, torch.Tensor]:
    async with _session(uri, config, **kw) as (loader, _):
        return await _read(loader, files)


async def _planned(uri: str, config: TransferConfig, **kw: Any) -> list[_File]:
    async with _session(uri, config, **kw) as (loader, end):
        files = await _plan(loader, end)
    # what other ranks are sent: an object's listing entry and the probe's tensor bytes
    # (the owner reads them again) stay here
    for file in files:
        file.item = dataclasses.replace(file.item, info={})
        loader.report.bytes_duplicated += len(file.spare)
        file.spare = b""
    return files
