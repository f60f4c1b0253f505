"""One download on disk: its temporary file, its state file and its running hash."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from unifs.engine.checksums import HASH_BLOCK, Expect, Hasher, local_digest
from unifs.engine.limits import MIN_SPLIT, SMALL_REQUEST, MiB
from unifs.engine.planning import Item
from unifs.engine.records import save_record
from unifs.engine.retries import ShortRead
from unifs.engine.scheduling import Engine
from unifs.engine.workdir import WorkDir

_STATE_VERSION = 3


def pwritev_all(fd: int, buffers: list[bytes], offset: int, hasher: Hasher | None) -> None:
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


_buffers = threading.local()  # one read-back buffer per hashing thread


def _hash_span(fd: int, hasher: Hasher, start: int, end: int) -> None:
    """Hash bytes ``[start, end)`` of ``fd`` (read back from the page cache).

    Read into one buffer per thread, reused: a fresh 4 MiB object per read costs an
    allocation and a page fault per 4 KiB on top of the copy.
    """
    if not hasher.takes_views:
        while start < end:
            block = os.pread(fd, min(HASH_BLOCK, end - start), start)
            if not block:
                raise ShortRead(f"temporary file ended at byte {start}, expected {end}")
            hasher.update(block)
            start += len(block)
        return
    buffer = getattr(_buffers, "view", None)
    if buffer is None:
        buffer = _buffers.view = memoryview(bytearray(HASH_BLOCK))
    while start < end:
        got = os.preadv(fd, [buffer[: min(HASH_BLOCK, end - start)]], start)
        if not got:
            raise ShortRead(f"temporary file ended at byte {start}, expected {end}")
        hasher.update(buffer[:got])
        start += got


@contextlib.contextmanager
def suppress_missing() -> Iterator[None]:
    with contextlib.suppress(FileNotFoundError):
        yield


@dataclass(eq=False)
class PartRange:
    """Bytes ``[start, end)`` of one download; ``end`` moves back when another worker takes
    the tail. ``position`` is where its bytes on disk end."""

    start: int
    end: int
    position: int
    done: bool = False


class Download:
    """One object on its way to one local file: its ranges, its state file, its running hash."""

    def __init__(
        self,
        engine: Engine,
        item: Item,
        target: str,
        expect: Expect | None,
        part_size: int,
        resume: bool,
        work: WorkDir,
        *,
        local_hash: bool = False,
        last_try: bool = False,
        hold: bool = False,
    ) -> None:
        self.engine = engine
        #: verified files stay in the work directory until :meth:`publish` (a get that checks
        #: a model signature publishes none of them unless all pass)
        self.hold = hold
        self.item = item
        self.target = target
        self.expect = expect
        self.work = work
        #: a second fetch after a digest mismatch: another mismatch fails the file
        self.last_try = last_try
        #: what the bytes are hashed as: the store's digest, else (``local_hash``) a CRC32C
        #: recorded with the file so that a later get can tell it is unchanged
        self.hashing = expect or (local_digest() if local_hash else None)
        #: set once verified: kept with the file as it is committed
        self.verified_record: dict[str, Any] | None = None
        self.tmp = work.tmp(target)
        self.state_path = work.state(target)
        self.resume = resume and bool(item.identity)
        self.part_size = max(part_size, 1)
        size = item.size
        spans = self._load_state()
        # every byte of the object is in exactly one range, in order: done ones (from an
        # earlier run) and the rest cut at part_size
        self.ranges: list[PartRange] = []
        cursor = 0
        for begin, stop in [*spans, (size, size)]:
            for piece in range(cursor, begin, self.part_size):
                piece_end = min(piece + self.part_size, begin)
                self.ranges.append(PartRange(piece, piece_end, piece))
            if stop > begin:
                self.ranges.append(PartRange(begin, stop, stop, done=True))
            cursor = max(cursor, stop)
        self.pending = [r for r in self.ranges if not r.done]
        self.resumed_bytes = sum(r.end - r.start for r in self.ranges if r.done)
        #: small enough for one request held in memory: no temporary state, one disk trip
        self.whole = len(self.ranges) <= 1 and size <= SMALL_REQUEST and not self.resumed_bytes
        self.fd: int | None = None
        self.state_fd: int | None = None
        self.inflight = 0
        self.left = len(self.pending)
        self.error: BaseException | None = None
        self.transient = False
        self.settled = False
        self.hasher = self.hashing.hasher() if self.hashing is not None else None
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
            "key": self.item.relative,
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
            or header.get("key") != self.item.relative
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
        if not self.hold:  # a held file's directory is made when it is published
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
                with suppress_missing():
                    os.remove(self.state_path)

    def record(self, piece: PartRange) -> None:
        """Note ``piece`` as complete (its bytes are on disk and in the state file)."""
        piece.done = True

    def wrote(self, piece: PartRange, start: int, upto: int) -> None:
        """``piece`` has its bytes up to ``upto`` on disk (a stream writes in order).

        The span goes to the state file at once: a range can be a whole multi-GB file,
        and an interrupted run resumes from its last write, not from the range's start.
        """
        piece.position = upto
        if self.state_fd is not None:
            os.write(self.state_fd, f"{start},{upto}\n".encode())
        if self._next < len(self.ranges) and self.ranges[self._next] is piece:
            self.advance()

    def split(self, piece: PartRange) -> PartRange | None:
        """Take the second half of a running range as a new one, if it is worth a request."""
        remaining = piece.end - piece.position
        if remaining < 2 * MIN_SPLIT or self.error is not None:
            return None
        # the cut stays MIN_SPLIT ahead of what the running request holds in memory
        middle = -(-(piece.position + remaining // 2) // MiB) * MiB
        middle = max(piece.position + MIN_SPLIT, min(middle, piece.end - MIN_SPLIT))
        tail = PartRange(middle, piece.end, middle)
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
        """Move the verified temporary file over the target (or hold it); drop the state."""
        had_state = self.state_fd is not None
        if self.verified_record is not None and self.fd is not None:
            save_record(self.fd, self.work, self.target, self.verified_record)
        self.close_files()
        if not self.hold:
            os.replace(self.tmp, self.target)
        if had_state:
            with suppress_missing():
                os.remove(self.state_path)

    def publish(self) -> None:
        """Move a held, verified file into place."""
        os.replace(self.tmp, self.target)

    def discard(self) -> None:
        """Remove the temporary and state files; the final path is never touched."""
        self.close_files()
        for path in (self.tmp, self.state_path):
            with suppress_missing():
                os.remove(path)
