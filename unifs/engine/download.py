"""Download an object or a prefix into a local path: planned, verified, resumable."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from unifs.engine.backend import open_backend
from unifs.engine.checksums import DigestMismatch, expectation, is_valid, same_size
from unifs.engine.config import TransferConfig
from unifs.engine.hooks import hook
from unifs.engine.limits import HEAD_FOR_CRC_FROM, auto_part_size
from unifs.engine.parts import download_all
from unifs.engine.planning import Item, check_targets, make_item, plan_remote, safe_join
from unifs.engine.progress import attach_report, split_callback
from unifs.engine.records import load_record
from unifs.engine.report import TransferReport
from unifs.engine.scheduling import Engine
from unifs.engine.state import Download
from unifs.engine.workdir import WorkDir

if TYPE_CHECKING:
    from unifs.endpoint import Endpoint

logger = logging.getLogger(__name__)


async def download(
    src: Endpoint,
    dst: str,
    config: TransferConfig,
    *,
    prefix: bool = False,
    verify_signature: Any = None,
    public_key: Any = None,
) -> TransferReport:
    """Download ``src`` into the local path ``dst`` as ``config`` says (see :func:`unifs.get`).

    ``prefix`` takes ``src`` as a prefix even where its key does not end in ``/``. With
    ``verify_signature`` nothing is published unless the whole model matches it.
    """
    started = time.perf_counter()
    hold = verify_signature not in (None, False)
    uri = src.uri
    backend = await open_backend(src, config.concurrency)
    report = TransferReport(source=uri.url, destination=dst)
    fs_callback, file_callback = split_callback(config.callback)
    engine = Engine(backend, report, config, callback=fs_callback)
    work: WorkDir | None = None
    try:
        items, single = await engine.retrying(
            lambda _: plan_remote(
                backend, src.path, uri, config.include, config.exclude, prefix=prefix
            )
        )
        if single:
            into_dir = os.path.isdir(dst) or dst.endswith(("/", os.sep))
            root = dst if into_dir else os.path.dirname(os.path.abspath(dst))
            targets = [(items[0], safe_join(root, items[0].relative) if into_dir else dst)]
        else:
            # every key is checked before anything is written
            root = dst
            targets = [(item, safe_join(dst, item.relative)) for item in items]
        check_targets([(item.relative, target) for item, target in targets], root)
        work = WorkDir(root)
        await work.acquire(config.lock_timeout)
        targets = await _with_layouts(engine, targets)
        preferred = [config.part_size] if config.part_size else []
        expects = {item.relative: expectation(item, preferred) for item, _ in targets}

        async def check(item: Item, target: str) -> bool:
            if not same_size(target, item.size):  # a stat: no thread needed
                return False
            assert work is not None
            record = load_record(work, target)
            expect = expects[item.relative][0]
            return await engine.on_hash(is_valid, target, item, expect, record)

        valid = await asyncio.gather(*(check(item, target) for item, target in targets))
        todo = []
        for (item, target), ok in zip(targets, valid, strict=True):
            if ok:
                report.skipped.append(item.relative)
            else:
                todo.append((item, target))
        total = sum(item.size for item, _ in todo)
        chosen = config.part_size or auto_part_size(
            total, config.concurrency, config.max_buffer, backend.streams
        )
        if fs_callback is not None:
            fs_callback.set_size(total)
            attach_report(fs_callback, report, len(todo))
        downloads = []
        for item, target in todo:
            expect, why = expects[item.relative] if config.verify else (None, "")
            if why:
                report.unverified[item.relative] = why
            # parts left by an earlier run are trusted only where the whole file is then
            # checked against the store: with nothing to check, a damaged part would stay
            reuse = config.resume and (expect is not None or not config.verify)
            downloads.append(
                Download(
                    engine,
                    item,
                    target,
                    expect,
                    chosen,
                    reuse,
                    work,
                    local_hash=config.verify,
                    hold=hold,
                )
            )
            if downloads[-1].resumed_bytes and fs_callback is not None:
                fs_callback.relative_update(downloads[-1].resumed_bytes)
        await download_all(engine, downloads)
        # bytes that did not hash to the store's digest are fetched once more, from scratch
        again = []
        for dl in downloads:
            if isinstance(dl.error, DigestMismatch):
                logger.warning("%s: %s; fetching it again", dl.item.relative, dl.error)
                del report.failed[dl.item.relative]
                again.append(
                    Download(
                        engine, dl.item, dl.target, dl.expect, chosen, False, work,
                        local_hash=config.verify, last_try=True, hold=hold,
                    )
                )  # fmt: skip
        if again:
            await download_all(engine, again)
            downloads += again
        if hold:
            await _publish_if_signed(
                engine, src, targets, downloads, report, verify_signature, public_key
            )  # fmt: skip
        if file_callback is not None:
            done = set(report.transferred)
            for dl in downloads:
                if dl.item.relative in done:
                    file_callback(dl.item.relative, dl.item.size)
    finally:
        report.peak_buffer = engine.budget.peak
        report.peak_requests = engine.gate.peak
        report.seconds = time.perf_counter() - started
        if work is not None:
            work.release()
        await asyncio.get_running_loop().run_in_executor(None, engine.close)
    report.raise_if_failed(f"of {len(todo)} files")
    return report


async def _publish_if_signed(
    engine: Engine,
    src: Endpoint,
    targets: list[tuple[Item, str]],
    downloads: list[Download],
    report: TransferReport,
    signature: Any,
    public_key: Any,
) -> None:
    """Check every file of the model against ``signature``; publish the held ones if all pass.

    Files fetched by this get wait in the work directory; files skipped as valid are checked
    where they are. Nothing is moved into place unless the whole model matches the signature
    (and every file transferred): otherwise the held files are removed and the error names
    each file that differs, is missing or is extra.
    """
    verify_files = hook("verify_files")  # unifs.signing's: the engine imports no integration
    uri = src.uri
    done = set(report.transferred)
    held = [dl for dl in downloads if dl.item.relative in done and not dl.error]
    try:
        if report.failed:
            return  # the get fails as it is; nothing of an incomplete model is published
        files = {item.relative: target for item, target in targets}
        files.update({dl.item.relative: dl.tmp for dl in held})
        await asyncio.get_running_loop().run_in_executor(
            None,
            functools.partial(
                verify_files, files, signature=signature, public_key=public_key,
                model=uri.url, auth=src.auth, **src.overrides,
            ),
        )  # fmt: skip
        for dl in held:
            engine.makedirs(os.path.dirname(dl.target) or ".")
            await engine.on_disk(dl.publish)
        held = []
    finally:
        for dl in held:
            dl.discard()


def _worth_asking(item: Item) -> bool:
    """Whether a HEAD for the store's additional checksums may spare hashing an MD5."""
    return item.checksum is None or (item.checksum[0] == "md5" and item.size >= HEAD_FOR_CRC_FROM)


async def _with_layouts(engine: Engine, targets: list[tuple[Item, str]]) -> list[tuple[Item, str]]:
    """Ask the store for its additional checksums (CRCs a listing leaves out) of objects
    with no checksum or only an MD5 (large ones), and for the part sizes of multipart
    objects that still have no other checksum."""
    backend = engine.backend
    asking = asyncio.Semaphore(engine.concurrency)

    async def layout(item: Item) -> Item:
        if _worth_asking(item):
            async with asking:
                item = await stored(item)
        if item.checksum is not None or item.multipart is None:
            return item
        async with asking:
            return await ask(item)

    async def stored(item: Item) -> Item:
        asked = backend.provider.stored_checksums(backend.fs, item.remote)
        if asked is None:
            return item
        try:
            extra = await engine.retrying(lambda _: backend.resolve(asked))
        except Exception as exc:  # the listing's checksum stays what the file is checked by
            logger.debug("no additional checksums for %s: %s", item.relative, exc)
            return item
        fresh = make_item(backend.provider, item.remote, item.relative, {**item.info, **extra})
        return replace(item, checksum=fresh.checksum, info=fresh.info)

    async def ask(item: Item) -> Item:
        try:
            sizes = await engine.retrying(
                lambda _: backend.resolve(
                    backend.provider.part_sizes(backend.fs, item.remote, item.info)
                )
            )
        except Exception as exc:  # the layout stays unknown: the file is checked as before
            logger.debug("no part sizes for %s: %s", item.relative, exc)
            return item
        return replace(item, part_sizes=tuple(sizes)) if sizes else item

    items = await asyncio.gather(*(layout(item) for item, _ in targets))
    return [(item, target) for item, (_, target) in zip(items, targets, strict=True)]
