"""Cloud to cloud: one file at a time streamed from ranged reads into the destination's writer."""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from unifs.engine.backend import Backend, open_backend
from unifs.engine.checksums import MD5, Hasher, expectation
from unifs.engine.compare import (
    checksums_of,
    decide,
    full_item,
    list_items,
    same_content,
    stored_item,
)
from unifs.engine.config import TransferConfig
from unifs.engine.ledger import abort_unfinished, begin, cancel, finished
from unifs.engine.limits import (
    COPY_PART,
    MAX_PART_SIZE,
    MIN_PART_SIZE,
    check_budget,
    fit_part_size,
)
from unifs.engine.planning import Item, below, key_below, plan_remote, refuse_keys
from unifs.engine.progress import attach_report, split_callback
from unifs.engine.report import TransferReport
from unifs.engine.retries import Permanent, ShortRead, describe
from unifs.engine.scheduling import Engine

if TYPE_CHECKING:
    from unifs.endpoint import Endpoint

READ_AHEAD = 3  # parts of one file read side by side while the writer uploads the one before


class Copier:
    """Copies one file at a time from one remote filesystem to another, verified."""

    def __init__(
        self, engine: Engine, dst: Backend, part_size: int, verify: bool, server_side: bool
    ) -> None:
        self.engine = engine
        self.src = engine.backend
        self.dst = dst
        self.part_size = part_size
        self.verify = verify
        self.server_side = server_side
        # A destination whose one-call upload sends parts side by side (s3fs, adlfs take
        # ``max_concurrency``) gets files that fit half the budget whole, read in parallel
        # ranges: its writer would upload them one part after the other.
        accepts = _parameters(dst, "pipe_file")
        self.parallel_put = "max_concurrency" in accepts
        self.put_options: dict[str, Any] = {}
        if self.parallel_put:
            self.put_options["max_concurrency"] = max(2, min(8, engine.concurrency // 2))
            if "chunksize" in accepts:
                self.put_options["chunksize"] = part_size
        self.whole = max(part_size, engine.budget.limit // 2) if self.parallel_put else part_size
        # whether large files go out as numbered parts, each retried alone (until the
        # destination says it has none: ``Provider.start_parts``)
        self.part_uploads = True

    async def copy(self, item: Item, target: str) -> None:
        engine, report = self.engine, self.engine.report
        if self.server_side:
            try:
                await engine.retrying(lambda _: self.dst.call("cp_file", item.remote, target))
            except (NotImplementedError, AttributeError) as exc:
                self.server_side = False  # the filesystem has no server-side copy after all
                said = any(n.startswith("server-side copy refused") for n in report.notes)
                if isinstance(exc, NotImplementedError) and str(exc) and not said:
                    report.notes.append(f"server-side copy refused, streamed instead: {exc}")
            else:
                report.requests += 1
                await self._check_server_copy(item, target)
                report.bytes_transferred += item.size
                if engine.callback is not None:
                    engine.callback.relative_update(item.size)
                return
        hashers = await engine.retrying(lambda attempt: self._stream(item, target, attempt))
        await self._check_stream(item, target, hashers)

    def _hashers(self, item: Item) -> dict[str, Hasher]:
        hashers: dict[str, Hasher] = {"md5": MD5()}
        expect, _ = expectation(item, [self.part_size])
        if expect is not None and expect.kind not in hashers:
            hashers[expect.kind] = expect.hasher()
        return hashers

    async def _stream(self, item: Item, target: str, attempt: int) -> dict[str, Hasher]:
        engine, report, dst = self.engine, self.engine.report, self.dst
        hashers = self._hashers(item)
        sent = 0

        def feed(chunk: bytes) -> None:
            for hasher in hashers.values():
                hasher.update(chunk)

        if item.size > self.part_size and self.part_uploads:
            # Each part read and sent side by side, hashed in order: the budget holds the
            # parts being read and those being sent.
            width = self.put_options.get("max_concurrency", READ_AHEAD)
            ahead = max(1, min(width, (engine.budget.limit // self.part_size - 1) // 2))
            async with (
                engine.slots.hold(2 * ahead),
                engine.budget.hold((2 * ahead + 1) * self.part_size),
            ):
                if await self._send_parts(item, target, feed, ahead, hashers["md5"]):
                    report.bytes_transferred += item.size
                    return hashers
                self.part_uploads = False  # the destination has no part uploads
        try:
            if item.size <= self.whole:
                parts = max(1, -(-item.size // self.part_size))
                width = self.put_options.get("max_concurrency", 1) if parts > 1 else 1
                # the parts as read, then joined: twice the file while it is put
                async with engine.slots.hold(width), engine.budget.hold(2 * item.size):
                    data = await self._read_whole(item, width)
                    await engine.on_hash(feed, data)
                    report.requests += parts + (parts if parts > 1 else 1)
                    options = self.put_options if parts > 1 else {}
                    if parts == 1:  # one request: the store's cheapest checksum goes with it
                        options = dst.provider.pipe_file_options(dst.fs, data)
                    await dst.call("pipe_file", target, data, **options)
                    sent = len(data)
            else:
                # Parts are read ahead, side by side, while the writer uploads the one
                # before: the budget holds those being read and the writer's part (twice:
                # its buffer, and the copy an upload of it makes).
                ahead = max(1, min(READ_AHEAD, engine.budget.limit // self.part_size - 2))
                async with (
                    engine.slots.hold(ahead + 1),
                    engine.budget.hold((ahead + 2) * self.part_size),
                ):
                    writer = await dst.run(
                        lambda: dst.fs.open(target, "wb", block_size=self.part_size)
                    )
                    starts = list(range(0, item.size, self.part_size))
                    reads: dict[int, asyncio.Future[bytes]] = {}

                    async def part(start: int) -> bytes:
                        end = min(start + self.part_size, item.size)
                        pieces = [c async for c in self.src.read(item.remote, start, end, item.pin)]
                        return b"".join(pieces)

                    try:
                        for index, start in enumerate(starts):
                            for later in starts[index : index + ahead + 1]:
                                if later not in reads:
                                    reads[later] = asyncio.ensure_future(part(later))
                            piece = await reads.pop(start)
                            await engine.on_hash(feed, piece)
                            await dst.run(writer.write, piece)
                            sent += len(piece)
                            if engine.callback is not None:
                                engine.callback.relative_update(len(piece))
                        if sent != item.size:
                            raise Permanent(f"read {sent} of {item.size} bytes from {item.remote}")
                        await dst.run(writer.close)
                    except BaseException:
                        for pending in reads.values():
                            pending.cancel()
                        await asyncio.gather(*reads.values(), return_exceptions=True)
                        await dst.run(_abort, writer)
                        raise
                    report.requests += 2 + item.size // self.part_size
        except BaseException:
            if sent and engine.callback is not None and item.size > self.whole:
                engine.callback.relative_update(-sent)  # these bytes will be sent again
            raise
        if item.size <= self.whole and engine.callback is not None:
            engine.callback.relative_update(item.size)
        report.bytes_transferred += item.size
        return hashers

    async def _read_part(self, item: Item, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` of ``item``, retried on their own."""

        async def attempt(_: int) -> bytes:
            pieces = [c async for c in self.src.read(item.remote, start, end, item.pin)]
            data = b"".join(pieces)
            if len(data) != end - start:
                raise ShortRead(f"{item.remote}: read {len(data)} of bytes {start}-{end - 1}")
            return data

        try:
            return await self.engine.retrying(attempt)
        except Exception as exc:  # its own attempts are spent: the file is not tried again
            raise Permanent(
                f"reading bytes {start}-{end - 1} of {item.remote}: {describe(exc)}"
            ) from exc

    async def _send_parts(
        self, item: Item, target: str, feed: Callable[[bytes], None], ahead: int, md5: Hasher
    ) -> bool:
        """Copy ``item`` as the numbered parts of one upload, each part retried on its own.

        A failed part costs its own attempts, not the file's: the parts before it stay
        sent. When a part runs out of attempts the upload is cancelled and the file fails
        (no retry of the whole file). False where the destination has no part uploads.
        """
        engine, dst = self.engine, self.dst
        provider = dst.provider
        # grown where the object would need more parts than the store allows
        part_size = size = fit_part_size(self.part_size, provider.part_limits, item.size)
        # begun and recorded in unifs's upload ledger: a rerun aborts it if this run is killed
        begun = await engine.retrying(lambda _: begin(dst, target, part_size=size))
        if begun is None:
            return False
        upload = begun
        starts = list(range(0, item.size, part_size))
        reads: dict[int, asyncio.Future[bytes]] = {}
        puts: dict[int, asyncio.Future[str]] = {}
        sent = 0

        async def put(number: int, piece: bytes) -> str:
            async def attempt(_: int) -> str:
                return str(
                    await dst.resolve(provider.put_part(dst.fs, target, upload, number, piece))
                )

            try:
                token = await engine.retrying(attempt)
            except Exception as exc:  # its own attempts are spent: the file is not tried again
                raise Permanent(
                    f"part {number} of {len(starts)} to {target} failed "
                    f"{engine.policy.attempts} time(s): {describe(exc)}"
                ) from exc
            nonlocal sent
            sent += len(piece)
            if engine.callback is not None:
                engine.callback.relative_update(len(piece))
            return token

        async def room() -> None:
            """Wait until fewer than ``ahead`` parts are being sent; raise a part's failure."""
            while True:
                for done in [f for f in puts.values() if f.done()]:
                    done.result()
                busy = [f for f in puts.values() if not f.done()]
                if len(busy) < ahead:
                    return
                await asyncio.wait(busy, return_when=asyncio.FIRST_COMPLETED)

        try:
            for index, offset in enumerate(starts):
                for later in starts[index : index + ahead + 1]:
                    if later not in reads:
                        end = min(later + part_size, item.size)
                        reads[later] = asyncio.ensure_future(self._read_part(item, later, end))
                piece = await reads.pop(offset)
                await engine.on_hash(feed, piece)
                await room()
                puts[index + 1] = asyncio.ensure_future(put(index + 1, piece))
            tokens = [await puts[number] for number in sorted(puts)]
            digest = bytes.fromhex(md5.hexdigest())  # every byte fed, in order, by now
            await engine.retrying(
                lambda _: dst.resolve(
                    provider.finish_parts(dst.fs, target, upload, tokens, md5=digest)
                )
            )
            finished(dst, target, upload)
        except BaseException:
            for pending in reads.values():
                pending.cancel()
            for putting in puts.values():
                putting.cancel()
            await asyncio.gather(*reads.values(), *puts.values(), return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.shield(cancel(dst, target, upload))
            if sent and engine.callback is not None:
                engine.callback.relative_update(-sent)  # these bytes will be sent again
            raise
        engine.report.requests += 2 + 2 * len(starts)
        return True

    async def _read_whole(self, item: Item, width: int) -> bytes:
        """The whole object, in ``part_size`` ranges read ``width`` at a time."""
        gate = asyncio.Semaphore(max(1, width))

        async def part(start: int) -> bytes:
            end = min(start + self.part_size, item.size)
            async with gate:
                return b"".join([c async for c in self.src.read(item.remote, start, end, item.pin)])

        starts = range(0, item.size, self.part_size)
        # bytes, not a bytearray: the SDKs' upload paths want an immutable body
        return b"".join(await asyncio.gather(*(part(start) for start in starts)))

    async def _stored(self, target: str) -> Item:
        dst = self.dst
        dst.fs.invalidate_cache(target)
        info = await self.engine.retrying(lambda _: dst.call("info", target))
        return full_item(dst, target, posixpath.basename(target), info)

    async def _check_server_copy(self, item: Item, target: str) -> None:
        report = self.engine.report
        stored = await self._stored(target)
        same = same_content(item, stored)
        if same is False:
            raise Permanent(f"server-side copy of {item.remote} does not match its source")
        kinds = [kind for kind, _ in checksums_of(stored)]
        report.settle(item.relative, (kinds[0] if kinds else "checksum") if same else None)
        if not same:
            report.unverified[item.relative] = "server-side copy: no checksum to compare"

    async def _check_stream(self, item: Item, target: str, hashers: dict[str, Hasher]) -> None:
        """The source's checksum against the bytes read; the destination's against them too."""
        report = self.engine.report
        computed = {kind: hasher.hexdigest() for kind, hasher in hashers.items()}
        expect, why = expectation(item, [self.part_size])
        read_ok = False
        if expect is not None and self.verify:
            if computed.get(expect.kind) != expect.digest:
                if expect.kind == "md5-parts" and item.checksum is None:
                    why = "the source's multipart layout could not be reproduced"
                else:
                    await self._remove(target)
                    raise Permanent(
                        f"{expect.kind} of the bytes read from {item.remote} is "
                        f"{computed.get(expect.kind)}, the source reports {expect.digest}"
                    )
            else:
                read_ok = True
        if not self.verify:
            report.settle(item.relative, None)
            return
        stored = await self._stored(target)
        if stored.size != item.size:
            await self._remove(target)
            raise Permanent(f"copied {item.size} bytes but the destination holds {stored.size}")
        written_ok: str | None = None
        for kind, digest in checksums_of(stored):
            if kind in computed:
                if computed[kind] != digest:
                    await self._remove(target)
                    raise Permanent(
                        f"{kind} mismatch after copy: sent {computed[kind]}, "
                        f"the destination reports {digest}"
                    )
                written_ok = written_ok or kind
        if written_ok or read_ok:
            report.settle(item.relative, written_ok or (expect.label if expect else None))
            if not written_ok:
                report.unverified[item.relative] = (
                    "the destination reports no checksum; the read was verified in flight"
                )
        else:
            report.settle(item.relative, None)
            report.unverified[item.relative] = why or "neither end reports a checksum"

    async def _remove(self, target: str) -> None:
        with contextlib.suppress(Exception):
            await self.dst.call("rm", target)


def _parameters(backend: Backend, name: str) -> frozenset[str]:
    """Names a filesystem method takes (its async form where the backend is async)."""
    import inspect

    method = getattr(backend.fs, f"_{name}" if backend.is_async else name, None)
    try:
        return frozenset(inspect.signature(method).parameters) if method else frozenset()
    except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
        return frozenset()


def _abort(writer: Any) -> None:
    """Throw away an unfinished upload: nothing of it may become the object."""
    with contextlib.suppress(Exception):
        writer.discard()
    # fsspec's buffered files commit on close (and close on garbage collection)
    writer.closed = True


async def copy_remote(
    src: Endpoint, dst: Endpoint, config: TransferConfig, *, only: set[str] | None = None
) -> TransferReport:
    """Copy ``src`` to ``dst``, both remote, as ``config`` says (see :func:`unifs.copy`).

    ``only`` limits a copy to these relative paths below the prefixes ``src`` and ``dst``
    (what a sync found different). Per file, only paths are joined: nothing is parsed.
    """
    started = time.perf_counter()
    sb = await open_backend(src, config.concurrency)
    db = await open_backend(dst, config.concurrency)
    spath, dpath = src.path, dst.path
    report = TransferReport(source=src.uri.url, destination=dst.uri.url)
    fs_callback, file_callback = split_callback(config.callback)
    engine = Engine(sb, report, config, callback=fs_callback)
    todo: list[tuple[Item, str]] = []
    try:
        check_budget(config.max_buffer, db.provider.part_limits, dst.uri.url)  # before any byte
        items, single = await engine.retrying(
            lambda _: plan_remote(
                sb, spath, src.uri, config.include, config.exclude, prefix=only is not None
            )
        )
        if single:
            target = below(dst, items[0].relative) if dst.uri.is_prefix else dpath
            targets = [(full_item(sb, items[0].remote, items[0].relative, items[0].info), target)]
            existing = {target: found} if (found := await stored_item(db, target)) else {}
        else:
            base = dpath.rstrip("/")
            targets = [
                (full_item(sb, i.remote, i.relative, i.info), f"{base}/{i.relative}")
                for i in items
                if only is None or i.relative in only
            ]
            existing = {f"{base}/{rel}": it for rel, it in (await list_items(db, base)).items()}
        # what already matches is skipped: a copy run again resumes file by file
        by_name = {item.relative: (item, target) for item, target in targets}
        there = {item.relative: existing[target] for item, target in targets if target in existing}
        changed, same = await decide(
            engine, sb, db, {name: pair[0] for name, pair in by_name.items()}, there
        )
        report.skipped.extend(same)
        todo = [by_name[name] for name in changed]
        # keys the destination would refuse are listed now, before any byte moves
        whole_key = single and not dst.uri.is_prefix
        keys = [dst.uri.key if whole_key else key_below(dst.uri.key, i.relative) for i, _ in todo]
        refuse_keys(db.provider, keys, dst.uri.url)
        # what killed runs of unifs left under the destination (one ledger read)
        await abort_unfinished(db, dpath if whole_key else dpath.rstrip("/") + "/")
        if fs_callback is not None:
            fs_callback.set_size(sum(item.size for item, _ in todo))
            attach_report(fs_callback, report, len(todo))
        chosen = config.part_size or min(MAX_PART_SIZE, max(MIN_PART_SIZE, COPY_PART))
        chosen = max(MIN_PART_SIZE // 2, min(chosen, config.max_buffer // 4))
        # the destination's part limits bind, whatever the budget suggested
        limits = db.provider.part_limits
        chosen = min(fit_part_size(chosen, limits), max(config.max_buffer, limits.min_part))
        server_side = sb.fs is db.fs and sb.provider.capabilities(sb.fs).server_side_copy
        copier = Copier(engine, db, chosen, config.verify, server_side)
        queue = iter(todo)

        async def worker() -> None:
            for item, target in queue:
                try:
                    await copier.copy(item, target)
                except Exception as exc:
                    report.failed[item.relative] = describe(exc)
                    continue
                report.transferred.append(item.relative)
                if file_callback is not None:
                    file_callback(item.relative, item.size)

        workers = min(
            len(todo),
            max(1, config.concurrency // 2),
            max(1, config.max_buffer // (2 * chosen)) * 4,
        )
        await asyncio.gather(*(worker() for _ in range(max(workers, 1))))
    finally:
        db.fs.invalidate_cache()
        report.peak_buffer = engine.budget.peak
        report.peak_requests = engine.gate.peak
        report.seconds = time.perf_counter() - started
        await asyncio.get_running_loop().run_in_executor(None, engine.close)
        db.close()
    report.raise_if_failed(f"of {len(todo)} files")
    return report
