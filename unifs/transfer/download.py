"""``get`` / ``aget``: download an object or a prefix into a local path."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from unifs.transfer.backend import _open_backend
from unifs.transfer.checksums import _DigestMismatch, _expectation, _is_valid, _same_size
from unifs.transfer.limits import _auto_part_size
from unifs.transfer.parts import _download_all
from unifs.transfer.planning import _Item, _plan_remote, check_targets, safe_join
from unifs.transfer.progress import _split_callback, attach_report, shows_progress
from unifs.transfer.records import load_record
from unifs.transfer.report import TransferError, TransferReport
from unifs.transfer.retries import RetryPolicy
from unifs.transfer.scheduling import _Engine, _options, _run_async, _run_sync
from unifs.transfer.state import _Download
from unifs.transfer.workdir import WorkDir
from unifs.uri import StorageURI

logger = logging.getLogger(__name__)


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
    lock_timeout: float,
    storage_options: dict[str, Any],
    verify_signature: Any = None,
    public_key: Any = None,
) -> TransferReport:
    started = time.perf_counter()
    hold = verify_signature not in (None, False)
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
    work: WorkDir | None = None
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
            root = dest
            targets = [(item, safe_join(dest, item.relative)) for item in items]
        check_targets([(item.relative, target) for item, target in targets], root)
        work = WorkDir(root)
        await work.acquire(lock_timeout)
        targets = await _with_layouts(engine, targets)
        preferred = [part_size] if part_size else []
        expects = {item.relative: _expectation(item, preferred) for item, _ in targets}

        async def check(item: _Item, target: str) -> bool:
            if not _same_size(target, item.size):  # a stat: no thread needed
                return False
            assert work is not None
            record = load_record(work, target)
            expect = expects[item.relative][0]
            return await engine.on_hash(_is_valid, target, item, expect, record)

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
            attach_report(fs_callback, report, len(todo))
        downloads = []
        for item, target in todo:
            expect, why = expects[item.relative] if verify else (None, "")
            if why:
                report.unverified[item.relative] = why
            # parts left by an earlier run are trusted only where the whole file is then
            # checked against the store: with nothing to check, a damaged part would stay
            reuse = resume and (expect is not None or not verify)
            downloads.append(
                _Download(
                    engine,
                    item,
                    target,
                    expect,
                    chosen,
                    reuse,
                    work,
                    local_hash=verify,
                    hold=hold,
                )
            )
            if downloads[-1].resumed_bytes and fs_callback is not None:
                fs_callback.relative_update(downloads[-1].resumed_bytes)
        await _download_all(engine, downloads)
        # bytes that did not hash to the store's digest are fetched once more, from scratch
        again = []
        for dl in downloads:
            if isinstance(dl.error, _DigestMismatch):
                logger.warning("%s: %s; fetching it again", dl.item.relative, dl.error)
                del report.failed[dl.item.relative]
                again.append(
                    _Download(
                        engine, dl.item, dl.target, dl.expect, chosen, False, work,
                        local_hash=verify, last_try=True, hold=hold,
                    )
                )  # fmt: skip
        if again:
            await _download_all(engine, again)
            downloads += again
        if hold:
            await _publish_if_signed(
                engine, uri, targets, downloads, report, verify_signature, public_key,
                auth, storage_options,
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
    if report.failed:
        first = next(iter(report.failed.items()))
        raise TransferError(
            f"{len(report.failed)} of {len(todo)} files failed (first: {first[0]}: {first[1]})",
            report,
        )
    return report


async def _publish_if_signed(
    engine: _Engine,
    uri: StorageURI,
    targets: list[tuple[_Item, str]],
    downloads: list[_Download],
    report: TransferReport,
    signature: Any,
    public_key: Any,
    auth: Any,
    storage_options: dict[str, Any],
) -> None:
    """Check every file of the model against ``signature``; publish the held ones if all pass.

    Files fetched by this get wait in the work directory; files skipped as valid are checked
    where they are. Nothing is moved into place unless the whole model matches the signature
    (and every file transferred): otherwise the held files are removed and the error names
    each file that differs, is missing or is extra.
    """
    from unifs.signing import DEFAULT_SIGNATURE_NAME, verify_files

    if signature is True:  # the signature model_signing's CLI keeps inside the model
        signature = uri.url.rstrip("/") + "/" + DEFAULT_SIGNATURE_NAME
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
                model=uri.url, auth=auth, **storage_options,
            ),
        )  # fmt: skip
        for dl in held:
            engine.makedirs(os.path.dirname(dl.target) or ".")
            await engine.on_disk(dl.publish)
        held = []
    finally:
        for dl in held:
            dl.discard()


async def _with_layouts(
    engine: _Engine, targets: list[tuple[_Item, str]]
) -> list[tuple[_Item, str]]:
    """Ask the store for the part sizes of multipart objects that have no other checksum."""
    backend = engine.backend
    asking = asyncio.Semaphore(engine.concurrency)

    async def layout(item: _Item) -> _Item:
        if item.checksum is not None or item.multipart is None:
            return item
        async with asking:
            return await ask(item)

    async def ask(item: _Item) -> _Item:
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


@shows_progress("get")
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
    lock_timeout: float = 600.0,
    verify_signature: str | os.PathLike[str] | bool | None = None,
    public_key: str | os.PathLike[str] | None = None,
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
            lock_timeout=lock_timeout,
            storage_options=storage_options,
            verify_signature=verify_signature,
            public_key=public_key,
        )
    )


@shows_progress("get")
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
    lock_timeout: float = 600.0,
    verify_signature: str | os.PathLike[str] | bool | None = None,
    public_key: str | os.PathLike[str] | None = None,
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

    ``verify_signature`` (a local path or URI of a model-signing bundle, checked with
    ``public_key``, or of a ``model_signature.json``; True: the ``model.sig`` inside the
    model) makes the get publish nothing unless
    every file matches the signature: fetched files wait in the work directory until the
    whole model is checked, and :class:`unifs.signing.ModelVerificationError` names each
    file that differs, is missing or is extra.

    Raises :class:`TransferError` (with the report) if any file fails; files that succeeded
    stay (without ``verify_signature``).
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
            lock_timeout=lock_timeout,
            storage_options=storage_options,
            verify_signature=verify_signature,
            public_key=public_key,
        )
    )
