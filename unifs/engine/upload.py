"""Upload a local file or directory to an object or prefix, verified afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from unifs.engine.backend import Backend, open_backend
from unifs.engine.checksums import MD5, Hasher, expectation, hash_file, hash_file_into
from unifs.engine.config import TransferConfig
from unifs.engine.ledger import abort_unfinished, begin, cancel, finished
from unifs.engine.limits import (
    HEAD_FOR_CRC_FROM,
    MAX_PART_SIZE,
    MIN_PART_SIZE,
    MIN_UPLOAD_PART,
    check_budget,
    fit_part_size,
)
from unifs.engine.planning import below, key_below, make_item, plan_local, refuse_keys
from unifs.engine.progress import attach_report, split_callback
from unifs.engine.report import TransferError, TransferReport
from unifs.engine.retries import Permanent, describe
from unifs.engine.scheduling import Engine

if TYPE_CHECKING:
    from unifs.endpoint import Endpoint

logger = logging.getLogger(__name__)


def _read_and_hash(local: str, hasher: Hasher) -> bytes:
    with open(local, "rb") as handle:
        data = handle.read()
    hasher.update(data)
    return data


def _read_range(local: str, offset: int, length: int) -> bytes:
    with open(local, "rb") as handle:
        return os.pread(handle.fileno(), length, offset)


async def _put_one(
    engine: Engine,
    local: str,
    relative: str,
    remote: str,
    part_size: int,
    verify: bool,
) -> None:
    """Upload one file with retries; verify it against what the store then reports."""
    backend, report = engine.backend, engine.report
    size = await engine.on_disk(os.path.getsize, local)
    local_md5 = MD5()
    if size <= part_size:
        async with engine.slots.hold(1), engine.budget.hold(size):
            data = await engine.on_disk(_read_and_hash, local, local_md5)
            options = backend.provider.pipe_file_options(backend.fs, data)

            async def upload(_: int) -> None:
                report.requests += 1
                await backend.call("pipe_file", remote, data, **options)

            await engine.retrying(upload)
        if engine.callback is not None:
            engine.callback.relative_update(size)
    elif not await _put_parts(engine, local, remote, size, part_size, local_md5):
        await _put_whole(engine, local, remote, size, part_size, local_md5)
    report.bytes_transferred += size
    await _check_upload(engine, local, relative, remote, size, part_size, local_md5, verify)


async def _put_parts(
    engine: Engine, local: str, remote: str, size: int, part_size: int, md5: Hasher
) -> bool:
    """Upload ``local`` as the numbered parts of one upload, each part retried on its own.

    Parts are read from disk in order, hashed on the way and sent side by side; progress
    moves as each part lands. A part that runs out of attempts fails the file (the parts
    before it are not sent again, the file is not tried again), and any failure or
    cancellation throws the upload away. False where the store has no part uploads.
    """
    backend, report = engine.backend, engine.report
    provider = backend.provider
    part_size = fit_part_size(part_size, provider.part_limits, size)  # the store's part count
    probe = provider.start_parts(backend.fs, remote, part_size=part_size)
    if probe is None:
        return False
    getattr(probe, "close", lambda: None)()  # only asked whether the store has part uploads
    count = -(-size // part_size)
    # as many parts in flight as the put_file path sends side by side (a part is held twice:
    # its bytes, and the copy an SDK makes of them)
    parallel = max(1, min(count, engine.concurrency // 2, engine.budget.limit // 2 // part_size))

    async def start(_: int) -> str:
        # begun through the ledger: a killed run's upload is aborted by the next run
        upload = await begin(backend, remote, part_size=part_size)
        assert upload is not None  # the store said it has part uploads
        return upload

    upload: str | None = None
    puts: dict[int, asyncio.Future[str]] = {}
    room = asyncio.Semaphore(parallel)
    sent = 0

    async def put(upload: str, number: int, data: bytes) -> str:
        nonlocal sent
        try:

            async def attempt(_: int) -> str:
                report.requests += 1
                done = provider.put_part(backend.fs, remote, upload, number, data)
                return str(await backend.resolve(done))

            try:
                token = await engine.retrying(attempt)
            except Exception as exc:  # its own attempts are spent: the file is not tried again
                raise Permanent(
                    f"part {number} of {count} to {remote} failed: {describe(exc)}"
                ) from exc
            sent += len(data)
            if engine.callback is not None:
                engine.callback.relative_update(len(data))
            return token
        finally:
            room.release()

    try:
        async with engine.slots.hold(parallel), engine.budget.hold(2 * parallel * part_size):
            upload = await engine.retrying(start)
            report.requests += 1
            for number in range(1, count + 1):
                await room.acquire()
                for landed in [f for f in puts.values() if f.done()]:
                    landed.result()  # a part's failure ends the file now
                offset = (number - 1) * part_size
                length = min(part_size, size - offset)
                data = await engine.on_disk(_read_range, local, offset, length)
                if len(data) != length:
                    raise Permanent(f"{local} changed while it was uploaded")
                await engine.on_hash(md5.update, data)  # in order: the whole file's MD5
                puts[number] = asyncio.ensure_future(put(upload, number, data))
            tokens = [await puts[number] for number in range(1, count + 1)]
            digest = bytes.fromhex(md5.hexdigest())
            await engine.retrying(
                lambda _: backend.resolve(
                    provider.finish_parts(backend.fs, remote, upload, tokens, md5=digest)
                )
            )
            report.requests += 1
            finished(backend, remote, upload)
    except BaseException:
        for putting in puts.values():
            putting.cancel()
        await asyncio.gather(*puts.values(), return_exceptions=True)
        if upload is not None:
            with contextlib.suppress(Exception):  # else its record stays for the next run
                await asyncio.shield(cancel(backend, remote, upload))
        if sent and engine.callback is not None:
            engine.callback.relative_update(-sent)  # these bytes never became the object
        raise
    return True


async def _put_whole(
    engine: Engine, local: str, remote: str, size: int, part_size: int, local_md5: Hasher
) -> None:
    """Upload ``local`` through the backend's own ``put_file`` (stores with no part uploads),
    retried as a whole."""
    backend, report = engine.backend, engine.report
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
    provider = backend.provider
    md5: bytes | None = None
    if provider.md5_before_put:  # the store keeps a whole-object MD5 only if told it
        await engine.on_hash(hash_file_into, local, local_md5)
        md5 = bytes.fromhex(local_md5.hexdigest())
        hashing = asyncio.ensure_future(asyncio.sleep(0))
    else:
        hashing = asyncio.ensure_future(engine.on_hash(hash_file_into, local, local_md5))
    options.update(provider.put_file_options(backend.fs, part_size=part_size, md5=md5))

    async def upload_file(_: int) -> None:
        report.requests += 1
        await backend.call("put_file", local, remote, **options)

    try:
        async with engine.slots.hold(parallel), engine.budget.hold(parallel * part_size):
            await engine.retrying(upload_file)
    except BaseException:
        # a failed or interrupted upload leaves no parts behind (the SDKs abort on some
        # errors only, and never on cancellation). The SDK began it, so its id is not in
        # unifs's ledger: this aborts the key's uploads begun before now (stores with part
        # uploads take the ledger's path, :func:`_put_parts`)
        await asyncio.shield(_abort_key_uploads(engine.backend, remote))
        raise
    finally:
        await hashing
    if engine.callback is not None:
        engine.callback.relative_update(size)


async def _check_upload(
    engine: Engine,
    local: str,
    relative: str,
    remote: str,
    size: int,
    part_size: int,
    local_md5: Hasher,
    verify: bool,
) -> None:
    """Check the stored object against the file: its size, and the cheapest checksum the
    store reports (its additional CRCs asked for where a HEAD pays)."""
    backend, report = engine.backend, engine.report
    verified, why, expect = False, "", None
    if verify:
        backend.fs.invalidate_cache(remote)
        info = await engine.retrying(lambda _: backend.call("info", remote))
        if int(info.get("size", -1)) != size:
            raise Permanent(f"uploaded {size} bytes but the store reports {info.get('size')}")
        item = make_item(backend.provider, remote, relative, info)
        # the store's additional checksums (S3's CRC64NVME, which unifs sent) where a HEAD
        # pays: a multipart object's ETag needs a pass of MD5 per part to check
        md5_only = item.checksum is not None and item.checksum[0] == "md5"
        if item.checksum is None or (md5_only and size >= HEAD_FOR_CRC_FROM):
            asked = backend.provider.stored_checksums(backend.fs, remote)
            try:
                extra = await engine.retrying(lambda _: backend.resolve(asked)) if asked else {}
            except Exception as exc:  # the checksum info gave stays what the file is checked by
                logger.debug("no additional checksums for %s: %s", remote, exc)
                extra = {}
            item = make_item(backend.provider, remote, relative, {**info, **extra})
        expect, why = expectation(item, [part_size])
        if expect is not None:
            if expect.kind == "md5":
                actual = local_md5.hexdigest()
            else:
                actual = await engine.on_hash(hash_file, local, expect)
            if actual != expect.digest and expect.known:
                raise Permanent(
                    f"{expect.kind} mismatch after upload: local {actual}, store {expect.digest}"
                )
            verified = actual == expect.digest
            if not verified:
                why = f"multipart checksum not reproduced with {expect.part_size}-byte parts"
    if why and not verified:
        report.unverified[relative] = why
    report.transferred.append(relative)
    report.settle(relative, expect.label if verified and expect is not None else None)


async def _abort_key_uploads(backend: Backend, remote: str) -> None:
    """Abort the multipart uploads to ``remote`` begun before now, where the store has them.

    What this put's SDK upload left after a failure (its parts are stored, and billed,
    until aborted).
    """
    now = datetime.now(timezone.utc)
    try:
        aborted = await backend.resolve(
            backend.provider.abort_uploads(backend.fs, remote, before=now)
        )
    except Exception as exc:  # cleaning up must not fail the upload itself
        logger.warning("could not list or abort unfinished uploads to %s: %s", remote, exc)
        return
    if aborted:
        logger.info("aborted %d unfinished multipart upload(s) to %s", aborted, remote)


async def upload(
    src: str, dst: Endpoint, config: TransferConfig, *, prefix: bool = False
) -> TransferReport:
    """Upload the local ``src`` to ``dst`` as ``config`` says (see :func:`unifs.put`).

    ``prefix`` takes ``dst`` as a prefix even where its key does not end in ``/``.
    """
    started = time.perf_counter()
    uri = dst.uri
    backend = await open_backend(dst, config.concurrency)
    report = TransferReport(source=src, destination=uri.url)
    fs_callback, file_callback = split_callback(config.callback)
    engine = Engine(backend, report, config, callback=fs_callback)
    pairs = await engine.on_disk(plan_local, src, config.include, config.exclude)
    single = os.path.isfile(src)

    def remote_for(relative: str) -> str:
        if single and not (prefix or uri.is_prefix):
            return dst.path
        return below(dst, relative)

    chosen = config.part_size or min(
        MAX_PART_SIZE, max(MIN_PART_SIZE, config.max_buffer // config.concurrency)
    )
    keys = [
        dst.uri.key if single and not (prefix or uri.is_prefix) else key_below(dst.uri.key, rel)
        for _, rel in pairs
    ]
    refuse_keys(backend.provider, keys, uri.url)  # before any byte moves
    limits = backend.provider.part_limits
    check_budget(config.max_buffer, limits, uri.url)  # before any byte moves
    chosen = fit_part_size(max(chosen, MIN_UPLOAD_PART), limits)
    # what killed runs of unifs left under the destination (one ledger read)
    whole_key = single and not (prefix or uri.is_prefix)
    await abort_unfinished(backend, dst.path if whole_key else dst.path.rstrip("/") + "/")
    if fs_callback is not None:
        sizes = await engine.on_disk(lambda: sum(os.path.getsize(p) for p, _ in pairs))
        fs_callback.set_size(sizes)
        attach_report(fs_callback, report, len(pairs))
    queue = iter(pairs)

    async def worker() -> None:
        for local, relative in queue:
            try:
                await _put_one(engine, local, relative, remote_for(relative), chosen, config.verify)
            except Exception as exc:
                report.failed[relative] = describe(exc)
                continue
            if file_callback is not None:
                file_callback(relative, os.path.getsize(local))

    try:
        await asyncio.gather(*(worker() for _ in range(min(config.concurrency, len(pairs)) or 1)))
    finally:
        backend.fs.invalidate_cache()
        report.peak_buffer = engine.budget.peak
        report.seconds = time.perf_counter() - started
        await asyncio.get_running_loop().run_in_executor(None, engine.close)
    if report.failed:
        raise TransferError(f"{len(report.failed)} of {len(pairs)} uploads failed", report)
    return report
