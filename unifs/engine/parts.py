"""Fetching a download's ranges through the workers, then verifying and committing it."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import time

from unifs.engine.checksums import check_digest, other_layout
from unifs.engine.limits import SPLIT_PAYBACK, STREAM_CHUNK, STREAM_RESERVE, MiB
from unifs.engine.records import make_record, save_record
from unifs.engine.report import TransferReport
from unifs.engine.retries import Permanent, ShortRead, classify, describe
from unifs.engine.scheduling import Engine
from unifs.engine.state import Download, PartRange, pwritev_all, suppress_missing

logger = logging.getLogger(__name__)


async def _fetch_part(engine: Engine, dl: Download, piece: PartRange) -> None:
    """Fetch one range into the temporary file, resuming inside it after a failure.

    Another worker may take the range's tail meanwhile (``Download.split``): the request
    then stops where the range now ends and drops the rest of the response.
    """
    backend = engine.backend
    reserve = STREAM_RESERVE if backend.streams else piece.end - piece.start
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
                await engine.on_hash(pwritev_all, dl.fd, buffers, offset, hasher)
            except OSError as exc:  # a full or failing disk: no retry will help
                raise Permanent(f"writing {dl.tmp}: {exc}") from exc
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
                reader = backend.read(dl.item.remote, position, asked, dl.item.pin)
                async with contextlib.aclosing(reader) as it:
                    async for chunk in it:
                        if sent and backend.streams:  # else the first byte comes last
                            engine.first_byte(time.monotonic() - sent)
                            sent = 0.0
                        room = piece.end - position - pending_len
                        if len(chunk) > room:
                            if piece.end == asked:
                                raise Permanent(
                                    f"the store sent more than bytes {position}-{asked - 1} "
                                    f"of {dl.item.remote}: it ignored the Range header"
                                )
                            chunk = chunk[:room]  # the tail is another worker's now
                        pending.append(chunk)
                        pending_len += len(chunk)
                        if pending_len >= STREAM_CHUNK or position + pending_len >= piece.end:
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
                raise ShortRead(
                    f"{dl.item.remote}: response ended at byte {position}, expected {piece.end}"
                )

        await engine.retrying(attempt)


async def _finish(engine: Engine, dl: Download, report: TransferReport) -> None:
    """Verify a fully fetched file and move it into place."""
    try:
        dl.advance()
        await dl.wait_hashed()
        assert dl.fd is not None
        size = os.fstat(dl.fd).st_size
        if size != dl.item.size:
            raise Permanent(f"size mismatch: got {size} bytes, the store reports {dl.item.size}")
        actual = dl.hasher.hexdigest() if dl.hasher is not None else ""
        expect = dl.expect
        if expect is not None and not expect.known and actual != expect.digest:
            other = await engine.on_hash(other_layout, dl.tmp, expect, dl.item.size)
            if other is not None:  # the guess was wrong, not the data
                dl.expect = dl.hashing = other
                actual = other.digest
        verified, note = _verify(dl, actual)
        await engine.on_disk(dl.commit)
    except Exception as exc:
        dl.error = exc
        dl.discard()
        report.failed[dl.item.relative] = describe(exc)
        return
    finally:
        if dl.child is not None:
            dl.child.close()
    _succeeded(report, dl, verified, note)


def _verify(dl: Download, actual: str) -> tuple[bool, str]:
    """Check ``actual`` (the digest of the bytes fetched) and note the record to keep."""
    verified, note = False, ""
    if dl.expect is not None:
        verified, note = check_digest(dl.expect, actual, last_try=dl.last_try)
    if dl.hashing is not None:
        dl.verified_record = make_record(dl.item, dl.hashing, actual, verified)
    return verified, note


def _succeeded(report: TransferReport, dl: Download, verified: bool, note: str) -> None:
    if note:
        report.unverified[dl.item.relative] = note
    dl.settled = True
    report.transferred.append(dl.item.relative)
    report.settle(dl.item.relative, dl.expect.label if verified and dl.expect else None)
    if dl.resumed_bytes:
        report.resumed.append(dl.item.relative)
        report.bytes_resumed += dl.resumed_bytes


def _fail(dl: Download, exc: BaseException, report: TransferReport) -> None:
    if dl.error is None:
        dl.error = exc
        dl.transient = classify(exc)[0] if isinstance(exc, Exception) else True
        report.failed[dl.item.relative] = describe(exc)


def _settle_failed(dl: Download) -> None:
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


def _store_small(engine: Engine, dl: Download, chunks: list[bytes]) -> tuple[bool, str]:
    """Verify a small object held in memory, then write it beside its target and rename.

    One trip to a disk thread per file: for thousands of small files the file-system calls
    (create, write, rename) are the cost, not the bytes.
    """
    actual = ""
    if dl.hashing is not None:
        hasher = dl.hashing.hasher()
        for chunk in chunks:
            hasher.update(chunk)
        actual = hasher.hexdigest()
    verified, note = _verify(dl, actual)
    if not dl.hold:  # a held file's directory is made when it is published
        engine.makedirs(os.path.dirname(dl.target) or ".")
    fd = os.open(dl.tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        try:
            pwritev_all(fd, chunks, 0, None)
            if dl.verified_record is not None:
                save_record(fd, dl.work, dl.target, dl.verified_record)
        finally:
            os.close(fd)
        if not dl.hold:
            os.replace(dl.tmp, dl.target)
    except BaseException:
        with suppress_missing():
            os.remove(dl.tmp)
        raise
    if dl.stale_state:  # left by an earlier run that cut this object into parts
        with suppress_missing():
            os.remove(dl.state_path)
    return verified, note


async def _get_small(engine: Engine, dl: Download) -> None:
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
        reader = engine.backend.read(dl.item.remote, got, size, dl.item.pin)
        async with contextlib.aclosing(reader) as it:
            async for chunk in it:
                if got + len(chunk) > size:
                    raise Permanent(
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
            raise ShortRead(f"{dl.item.remote}: response ended at byte {got}, expected {size}")

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


async def _ensure_open(engine: Engine, dl: Download) -> bool:
    """Open ``dl``'s files once, however many of its parts start at the same time."""
    if dl.opening is None:

        async def opening() -> None:
            try:
                await engine.on_disk(dl.open)
            except Exception as exc:
                _fail(dl, Permanent(describe(exc)), engine.report)
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


async def download_all(engine: Engine, downloads: list[Download]) -> None:
    """Run every part of every download through ``concurrency`` workers."""
    report = engine.report

    small = collections.deque(dl for dl in downloads if dl.whole)
    bulk: collections.deque[tuple[Download, PartRange | None]] = collections.deque()
    for dl in downloads:
        if dl.whole:
            continue
        bulk.extend((dl, piece) for piece in dl.pending)
        if not dl.pending:  # every range came from an earlier run: only verification is left
            bulk.append((dl, None))
    running: dict[PartRange, Download] = {}
    # Ranges can be cut while they stream; a read that returns a whole range at once cannot.
    can_split = engine.backend.streams

    def steal() -> tuple[Download, PartRange] | None:
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
            if tail_seconds and tail_seconds < SPLIT_PAYBACK * engine.latency:
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

    async def fetch(dl: Download, piece: PartRange | None) -> None:
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
