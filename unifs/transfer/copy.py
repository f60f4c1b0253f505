"""``copy`` / ``acopy``: any URI to any URI, cloud to cloud without touching local disk.

Which way the bytes go is decided from the two ends, never from a provider's name:

- the destination is on local disk: :func:`unifs.get` (atomic, resumable parts);
- the source is on local disk: :func:`unifs.put`;
- both ends are one filesystem (same store, same credentials) that copies server-side:
  ``cp_file`` on the server, then the copy's size (and checksum, where reported) checked;
- otherwise the bytes stream from the source's ranged reads into the destination's writer
  (multipart where the store has it) through the engine's byte budget: a file holds at
  most one part in memory, never a local temporary file.

Every streamed file is hashed in flight (MD5, plus the source's own kind where that is
another: CRC32C, a multipart digest). The source's checksum proves the read; the
destination's, where it reports one, proves the write end to end. A failed file is aborted
(the multipart upload is discarded), so object stores keep either the old object or none.
A copy run again skips files whose destination already matches (size and checksum): an
interrupted copy resumes file by file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import posixpath
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from unifs.transfer.backend import _Backend, _open_backend
from unifs.transfer.checksums import _MD5, _Expect, _expectation, _Hasher
from unifs.transfer.limits import MAX_PART_SIZE, MIN_PART_SIZE
from unifs.transfer.planning import _Item, _item, _matches, _plan_remote
from unifs.transfer.progress import _split_callback, attach_report, shows_progress
from unifs.transfer.report import TransferError, TransferReport
from unifs.transfer.retries import RetryPolicy, _describe, _Permanent
from unifs.transfer.scheduling import _Engine, _options, _run_async, _run_sync
from unifs.transfer.workdir import WORK_DIR
from unifs.uri import StorageURI, parse

__all__ = ["acopy", "copy"]

# Streamed copies write parts of this size unless told otherwise: small enough that several
# large files fit the byte budget at once (each file's parts upload one after the other).
_COPY_PART = 8 * 2**20
_READ_AHEAD = 3  # parts of one file read side by side while the writer uploads the one before


def _on_local_disk(uri: StorageURI) -> bool:
    return bool(uri._provider.local_disk)


def _dst_settings(
    src: StorageURI,
    dst: StorageURI,
    auth: Any,
    dst_auth: Any,
    storage_options: Mapping[str, Any],
    dst_options: Mapping[str, Any] | None,
) -> tuple[Any, dict[str, Any]]:
    """The destination's auth and options: its own, or the source's for the same provider.

    A source on local disk needs neither, so what was given is the destination's.
    """
    same = src.provider == dst.provider or _on_local_disk(src)
    if dst_auth is None and same:
        dst_auth = auth
    if dst_options is None:
        dst_options = storage_options if same else {}
    return dst_auth, dict(dst_options)


def _same_content(src: _Item, dst: _Item, digests: Mapping[str, str] | None = None) -> bool | None:
    """Whether two objects hold the same bytes: True, False, or None when nothing tells.

    ``digests`` are ``kind -> hex`` computed of the destination's bytes where its store
    reports none comparable with the source's.
    """
    if src.size != dst.size:
        return False
    theirs = dict(_checksums(dst))
    theirs.update(digests or {})
    mine = dict(_checksums(src))
    common = set(mine) & set(theirs)
    if common:
        return all(mine[kind] == theirs[kind] for kind in common)
    if src.multipart is not None and src.multipart == dst.multipart:
        return True
    return None


def _checksums(item: _Item) -> list[tuple[str, str]]:
    found = list(item.info.get("_unifs_checksums", ())) if item.info else []
    if item.checksum is not None:
        found.append(item.checksum)
    return found


def _full_item(backend: _Backend, remote: str, relative: str, info: dict[str, Any]) -> _Item:
    """``_item`` that keeps every checksum the store reports, not only the cheapest."""
    item = _item(backend.provider, remote, relative, info)
    info = dict(info)
    info["_unifs_checksums"] = backend.provider.checksums(info)
    return replace(item, info=info)


async def _digest(engine: _Engine, backend: _Backend, item: _Item, kind: str) -> str:
    """Hash an object's bytes as they stream past (for stores that report no checksum)."""
    hasher = _Expect(kind, "").hasher()
    async with engine.slots.hold(1), engine.budget.hold(_COPY_PART):
        async for chunk in _read(backend, item, _COPY_PART):
            await engine.on_hash(hasher.update, chunk)
    return hasher.hexdigest()


async def _read(backend: _Backend, item: _Item, piece: int) -> AsyncIterator[bytes]:
    """An object's bytes in order, in ranges of ``piece`` (what is not streamed sits whole
    in memory, so ranges keep that to one piece)."""
    for start in range(0, item.size, piece):
        async for chunk in backend.read(
            item.remote, start, min(start + piece, item.size), item.pin
        ):
            yield chunk


async def _listing(backend: _Backend, base: str) -> dict[str, _Item]:
    """Every object below ``base`` by path relative to it; empty when there is none."""
    base = backend.fs._strip_protocol(base).rstrip("/")
    backend.fs.invalidate_cache()
    try:
        found = await backend.call("find", base, detail=True)
    except FileNotFoundError:
        return {}
    items = {}
    for name, info in found.items():
        if info.get("type") != "file":
            continue
        relative = name[len(base) :].lstrip("/") if name.startswith(base) else name
        if relative and WORK_DIR not in relative.split("/"):
            items[relative] = _full_item(backend, name, relative, info)
    return items


async def _object(backend: _Backend, path: str) -> _Item | None:
    backend.fs.invalidate_cache()
    try:
        info = await backend.call("info", path)
    except FileNotFoundError:
        return None
    if info.get("type") != "file":
        return None
    return _full_item(backend, path, posixpath.basename(path), info)


async def _decide(
    engine: _Engine,
    sb: _Backend,
    db: _Backend,
    source: dict[str, _Item],
    target: dict[str, _Item],
) -> tuple[list[str], list[str]]:
    """(to copy, already matching) by size and checksum, hashing where nothing compares."""

    async def differs(relative: str) -> bool:
        mine, theirs = source[relative], target.get(relative)
        if theirs is None:
            return True
        same = _same_content(mine, theirs)
        if same is not None:
            return not same
        kinds = [kind for kind, _ in _checksums(mine) if kind in ("md5", "crc32c")]
        if kinds:  # hash the destination's bytes the way the source's checksum was made
            digest = await _digest(engine, db, theirs, kinds[0])
            return not _same_content(mine, theirs, {kinds[0]: digest})
        stored = [(k, d) for k, d in _checksums(theirs) if k in ("md5", "crc32c")]
        if stored:  # the source has none (a local file): hash it, not the far end
            kind, expected = stored[0]
            return await _digest(engine, sb, mine, kind) != expected
        ours, theirs_md5 = await asyncio.gather(
            _digest(engine, sb, mine, "md5"), _digest(engine, db, theirs, "md5")
        )
        return ours != theirs_md5

    names = sorted(source)
    verdicts = await asyncio.gather(*(differs(name) for name in names))
    copy = [n for n, d in zip(names, verdicts, strict=True) if d]
    same = [n for n, d in zip(names, verdicts, strict=True) if not d]
    return copy, same


async def _uploads_needed(
    src: StorageURI,
    dst: StorageURI,
    dst_auth: Any,
    dst_options: dict[str, Any],
    concurrency: int | None,
    include: Sequence[str] | None,
    exclude: Sequence[str] | None,
) -> tuple[list[str] | None, list[str]]:
    """Local files of a directory upload that the destination lacks or holds otherwise.

    (None, []) for a single file: it is uploaded as given.
    """
    if not os.path.isdir(src.key):
        return None, []
    conc, budget, policy = _options(concurrency, None, None)
    _, sb, spath = await _open_backend(src, None, {}, conc)
    _, db, dpath = await _open_backend(_as_prefix(dst), dst_auth, dst_options, conc)
    engine = _Engine(
        sb,
        TransferReport("", ""),
        concurrency=conc,
        max_buffer=budget,
        policy=policy,
        callback=None,
    )
    try:
        source = {
            rel: item
            for rel, item in (await _listing(sb, spath)).items()
            if _matches(rel, include, exclude)
        }
        target = await engine.retrying(lambda _: _listing(db, dpath))
        return await _decide(engine, sb, db, source, target)
    finally:
        await asyncio.get_running_loop().run_in_executor(None, engine.close)
        db.close()


def _as_prefix(uri: StorageURI) -> StorageURI:
    """``uri`` as a prefix (its key ending in ``/``)."""
    if uri.is_prefix:
        return uri
    return replace(uri, key=uri.key + "/")


class _Copier:
    """Copies one file at a time from one remote filesystem to another, verified."""

    def __init__(
        self, engine: _Engine, dst: _Backend, part_size: int, verify: bool, server_side: bool
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

    async def copy(self, item: _Item, target: str) -> None:
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

    def _hashers(self, item: _Item) -> dict[str, _Hasher]:
        hashers: dict[str, _Hasher] = {"md5": _MD5()}
        expect, _ = _expectation(item, [self.part_size])
        if expect is not None and expect.kind not in hashers:
            hashers[expect.kind] = expect.hasher()
        return hashers

    async def _stream(self, item: _Item, target: str, attempt: int) -> dict[str, _Hasher]:
        engine, report, dst = self.engine, self.engine.report, self.dst
        hashers = self._hashers(item)
        sent = 0

        def feed(chunk: bytes) -> None:
            for hasher in hashers.values():
                hasher.update(chunk)

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
                    await dst.call("pipe_file", target, data, **options)
                    sent = len(data)
            else:
                # Parts are read ahead, side by side, while the writer uploads the one
                # before: the budget holds those being read and the writer's part (twice:
                # its buffer, and the copy an upload of it makes).
                ahead = max(1, min(_READ_AHEAD, engine.budget.limit // self.part_size - 2))
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
                            raise _Permanent(f"read {sent} of {item.size} bytes from {item.remote}")
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

    async def _read_whole(self, item: _Item, width: int) -> bytes:
        """The whole object, in ``part_size`` ranges read ``width`` at a time."""
        gate = asyncio.Semaphore(max(1, width))

        async def part(start: int) -> bytes:
            end = min(start + self.part_size, item.size)
            async with gate:
                return b"".join([c async for c in self.src.read(item.remote, start, end, item.pin)])

        starts = range(0, item.size, self.part_size)
        # bytes, not a bytearray: the SDKs' upload paths want an immutable body
        return b"".join(await asyncio.gather(*(part(start) for start in starts)))

    async def _stored(self, target: str) -> _Item:
        dst = self.dst
        dst.fs.invalidate_cache(target)
        info = await self.engine.retrying(lambda _: dst.call("info", target))
        return _full_item(dst, target, posixpath.basename(target), info)

    async def _check_server_copy(self, item: _Item, target: str) -> None:
        report = self.engine.report
        stored = await self._stored(target)
        same = _same_content(item, stored)
        if same is False:
            raise _Permanent(f"server-side copy of {item.remote} does not match its source")
        (report.checksum_verified if same else report.size_only).append(item.relative)
        if not same:
            report.unverified[item.relative] = "server-side copy: no checksum to compare"

    async def _check_stream(self, item: _Item, target: str, hashers: dict[str, _Hasher]) -> None:
        """The source's checksum against the bytes read; the destination's against them too."""
        report = self.engine.report
        computed = {kind: hasher.hexdigest() for kind, hasher in hashers.items()}
        expect, why = _expectation(item, [self.part_size])
        read_ok = False
        if expect is not None and self.verify:
            if computed.get(expect.kind) != expect.digest:
                if expect.kind == "md5-parts" and item.checksum is None:
                    why = "the source's multipart layout could not be reproduced"
                else:
                    await self._remove(target)
                    raise _Permanent(
                        f"{expect.kind} of the bytes read from {item.remote} is "
                        f"{computed.get(expect.kind)}, the source reports {expect.digest}"
                    )
            else:
                read_ok = True
        if not self.verify:
            report.size_only.append(item.relative)
            return
        stored = await self._stored(target)
        if stored.size != item.size:
            await self._remove(target)
            raise _Permanent(f"copied {item.size} bytes but the destination holds {stored.size}")
        written_ok = False
        for kind, digest in _checksums(stored):
            if kind in computed:
                if computed[kind] != digest:
                    await self._remove(target)
                    raise _Permanent(
                        f"{kind} mismatch after copy: sent {computed[kind]}, "
                        f"the destination reports {digest}"
                    )
                written_ok = True
        if written_ok or read_ok:
            report.checksum_verified.append(item.relative)
            if not written_ok:
                report.unverified[item.relative] = (
                    "the destination reports no checksum; the read was verified in flight"
                )
        else:
            report.size_only.append(item.relative)
            report.unverified[item.relative] = why or "neither end reports a checksum"

    async def _remove(self, target: str) -> None:
        with contextlib.suppress(Exception):
            await self.dst.call("rm", target)


def _parameters(backend: _Backend, name: str) -> frozenset[str]:
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


async def _copy_remote(
    src: StorageURI,
    dst: StorageURI,
    *,
    auth: Any,
    dst_auth: Any,
    include: Sequence[str] | None,
    exclude: Sequence[str] | None,
    only: set[str] | None,
    concurrency: int,
    part_size: int | None,
    max_buffer: int,
    verify: bool,
    retries: RetryPolicy,
    callback: Any,
    storage_options: dict[str, Any],
    dst_options: dict[str, Any],
) -> TransferReport:
    started = time.perf_counter()
    src, sb, spath = await _open_backend(src, auth, storage_options, concurrency)
    dst, db, dpath = await _open_backend(dst, dst_auth, dst_options, concurrency)
    report = TransferReport(source=src.url, destination=dst.url)
    fs_callback, file_callback = _split_callback(callback)
    engine = _Engine(
        sb,
        report,
        concurrency=concurrency,
        max_buffer=max_buffer,
        policy=retries,
        callback=fs_callback,
    )
    todo: list[tuple[_Item, str]] = []
    try:
        items, single = await engine.retrying(
            lambda _: _plan_remote(sb, spath, src, include, exclude)
        )
        if single:
            into = dst.is_prefix
            target = dst.join(items[0].relative).path if into else dpath
            targets = [(_full_item(sb, items[0].remote, items[0].relative, items[0].info), target)]
            existing = {target: found} if (found := await _object(db, target)) else {}
        else:
            base = dst.path.rstrip("/")
            targets = [
                (_full_item(sb, i.remote, i.relative, i.info), f"{base}/{i.relative}")
                for i in items
                if only is None or i.relative in only
            ]
            existing = {f"{base}/{rel}": it for rel, it in (await _listing(db, base)).items()}
        # what already matches is skipped: a copy run again resumes file by file
        by_name = {item.relative: (item, target) for item, target in targets}
        there = {item.relative: existing[target] for item, target in targets if target in existing}
        changed, same = await _decide(
            engine, sb, db, {name: pair[0] for name, pair in by_name.items()}, there
        )
        report.skipped.extend(same)
        todo = [by_name[name] for name in changed]
        if fs_callback is not None:
            fs_callback.set_size(sum(item.size for item, _ in todo))
            attach_report(fs_callback, report, len(todo))
        chosen = part_size or min(MAX_PART_SIZE, max(MIN_PART_SIZE, _COPY_PART))
        chosen = max(MIN_PART_SIZE // 2, min(chosen, max_buffer // 4))
        server_side = sb.fs is db.fs and sb.provider.capabilities(sb.fs).server_side_copy
        copier = _Copier(engine, db, chosen, verify, server_side)
        queue = iter(todo)

        async def worker() -> None:
            for item, target in queue:
                try:
                    await copier.copy(item, target)
                except Exception as exc:
                    report.failed[item.relative] = _describe(exc)
                    continue
                report.transferred.append(item.relative)
                if file_callback is not None:
                    file_callback(item.relative, item.size)

        workers = min(len(todo), max(1, concurrency // 2), max(1, max_buffer // (2 * chosen)) * 4)
        await asyncio.gather(*(worker() for _ in range(max(workers, 1))))
    finally:
        db.fs.invalidate_cache()
        report.peak_buffer = engine.budget.peak
        report.peak_requests = engine.gate.peak
        report.seconds = time.perf_counter() - started
        await asyncio.get_running_loop().run_in_executor(None, engine.close)
        db.close()
    if report.failed:
        first = next(iter(report.failed.items()))
        raise TransferError(
            f"{len(report.failed)} of {len(todo)} files failed (first: {first[0]}: {first[1]})",
            report,
        )
    return report


async def _copy(
    src: str | StorageURI,
    dst: str | StorageURI,
    *,
    auth: Any,
    dst_auth: Any,
    include: Sequence[str] | None,
    exclude: Sequence[str] | None,
    only: set[str] | None,
    concurrency: int | None,
    part_size: int | None,
    max_buffer: int | None,
    verify: bool,
    retries: int | RetryPolicy | None,
    callback: Any,
    storage_options: dict[str, Any],
    dst_options: Mapping[str, Any] | None,
) -> TransferReport:
    from unifs.transfer.download import aget
    from unifs.transfer.upload import aput

    s = parse(src, account=storage_options.get("account_name"))
    d_account = (dst_options or {}).get("account_name") or storage_options.get("account_name")
    d = parse(dst, account=d_account)
    d_auth, d_options = _dst_settings(s, d, auth, dst_auth, storage_options, dst_options)
    if _on_local_disk(s):
        auth, storage_options = None, {}
    if only is not None and (_on_local_disk(d) or _on_local_disk(s)):
        # get and put take globs: each name, escaped, matches only itself
        import glob

        include = [glob.escape(name) for name in sorted(only)]
        exclude = None
    if only is not None and not only:
        return TransferReport(source=s.url, destination=d.url)
    common: dict[str, Any] = {
        "include": include,
        "exclude": exclude,
        "concurrency": concurrency,
        "part_size": part_size,
        "max_buffer": max_buffer,
        "retries": retries,
        "callback": callback,
        "verify": verify,
    }
    if _on_local_disk(d):
        return await aget(s, d.key, auth=auth, **common, **storage_options)
    if _on_local_disk(s):
        skipped: list[str] = []
        if only is None:
            # put uploads everything it is given: leave out what already matches
            upload, skipped = await _uploads_needed(
                s, d, d_auth, d_options, concurrency, include, exclude
            )
            if upload is not None:
                import glob

                common["include"] = [glob.escape(name) for name in upload]
                common["exclude"] = None
                if not upload:
                    return TransferReport(source=s.url, destination=d.url, skipped=skipped)
        report = await aput(s.key, d, auth=d_auth, **common, **d_options)
        report.skipped.extend(skipped)
        return report
    conc, budget, policy = _options(concurrency, max_buffer, retries)
    return await _copy_remote(
        s,
        d,
        auth=auth,
        dst_auth=d_auth,
        include=include,
        exclude=exclude,
        only=only,
        concurrency=conc,
        part_size=part_size,
        max_buffer=budget,
        verify=verify,
        retries=policy,
        callback=callback,
        storage_options=storage_options,
        dst_options=d_options,
    )


@shows_progress("copy")
async def acopy(
    src: str | StorageURI | os.PathLike[str],
    dst: str | StorageURI | os.PathLike[str],
    *,
    auth: Any = None,
    dst_auth: Any = None,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    concurrency: int | None = None,
    part_size: int | None = None,
    verify: bool = True,
    callback: Any = None,
    max_buffer: int | None = None,
    retries: int | RetryPolicy | None = None,
    dst_options: Mapping[str, Any] | None = None,
    **storage_options: Any,
) -> TransferReport:
    """Await a copy of ``src`` to ``dst``; the async form of :func:`copy`."""
    return await _run_async(
        _copy(
            _fspath(src),
            _fspath(dst),
            auth=auth,
            dst_auth=dst_auth,
            include=include,
            exclude=exclude,
            only=None,
            concurrency=concurrency,
            part_size=part_size,
            max_buffer=max_buffer,
            verify=verify,
            retries=retries,
            callback=callback,
            storage_options=storage_options,
            dst_options=dst_options,
        )
    )


@shows_progress("copy")
def copy(
    src: str | StorageURI | os.PathLike[str],
    dst: str | StorageURI | os.PathLike[str],
    *,
    auth: Any = None,
    dst_auth: Any = None,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    concurrency: int | None = None,
    part_size: int | None = None,
    verify: bool = True,
    callback: Any = None,
    max_buffer: int | None = None,
    retries: int | RetryPolicy | None = None,
    dst_options: Mapping[str, Any] | None = None,
    client: Any = None,
    **storage_options: Any,
) -> TransferReport:
    """Copy the object or prefix ``src`` to ``dst``, any URI to any URI, verified.

    Local to cloud runs :func:`unifs.put`, cloud to local :func:`unifs.get`; cloud to cloud
    streams through memory (at most ``max_buffer`` bytes, default 128 MiB, never local
    disk), or copies server-side when both ends are one store with one set of credentials.
    A prefix lands below ``dst``; a single object at ``dst``, or inside it when ``dst`` ends
    in ``/``. Files whose destination already matches (size and checksum) are skipped, so a
    copy run again after an interruption only moves what is missing.

    ``auth`` and ``storage_options`` are the source's; ``dst_auth`` and ``dst_options`` the
    destination's (by default the source's when both ends are the same provider, else
    none). ``callback`` is an fsspec ``Callback`` or ``callback(relative, nbytes)``; when it
    is None a progress bar is shown in notebooks and terminals (``callback=False``: none).
    ``client`` (a ``dask.distributed.Client``) spreads a cloud-to-cloud copy over its
    workers in shards of about equal bytes (:func:`unifs.dask.copy`).

    Raises :class:`TransferError` (with the report) if any file fails.
    """
    if client is not None:  # spread over a Dask cluster: see unifs.dask
        # the decorator has drawn the bar already: None here means no bar
        from unifs.dask import copy as copy_on_dask

        return copy_on_dask(
            src,
            dst,
            client,
            auth=auth,
            dst_auth=dst_auth,
            include=include,
            exclude=exclude,
            concurrency=concurrency,
            part_size=part_size,
            verify=verify,
            callback=False if callback is None else callback,
            max_buffer=max_buffer,
            retries=retries,
            dst_options=dst_options,
            **storage_options,
        )
    return _run_sync(
        _copy(
            _fspath(src),
            _fspath(dst),
            auth=auth,
            dst_auth=dst_auth,
            include=include,
            exclude=exclude,
            only=None,
            concurrency=concurrency,
            part_size=part_size,
            max_buffer=max_buffer,
            verify=verify,
            retries=retries,
            callback=callback,
            storage_options=storage_options,
            dst_options=dst_options,
        )
    )


def _fspath(value: str | StorageURI | os.PathLike[str]) -> str | StorageURI:
    return value if isinstance(value, (str, StorageURI)) else os.fspath(value)
