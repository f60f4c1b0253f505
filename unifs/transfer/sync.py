"""``sync`` / ``async_sync``: make a destination prefix hold what a source prefix holds, one way.

A file is copied when the destination lacks it, or holds one of another size, or of another
checksum. Checksums are compared where both ends report one of the same kind (MD5, CRC32C,
identical multipart digests); where they do not (a local file, an object uploaded in parts,
a blob stored without Content-MD5) the destination's bytes are hashed as they stream past
and compared with the source's checksum, or both ends are hashed when the source reports
none. Modification times are never the deciding fact: a store sets them on upload, so they
say when a copy was made, not what it holds.

With ``delete=True`` destination files the source lacks (within ``include``/``exclude``)
are removed; ``dry_run=True`` decides and reports, and changes nothing. The copying itself
is :func:`unifs.copy`, so it is parallel, retried, verified and skips what already matches.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from unifs.engine.backend import open_backend
from unifs.engine.compare import decide, list_items
from unifs.engine.config import TransferConfig
from unifs.engine.ends import as_prefix, copy_between, dst_settings, fspath, on_local_disk
from unifs.engine.report import SyncReport, TransferReport
from unifs.engine.retries import RetryPolicy
from unifs.engine.scheduling import Engine
from unifs.engine.verbs import asynchronous, blocking
from unifs.uri import StorageURI, parse

__all__ = ["async_sync", "sync"]


@asynchronous("sync")
async def async_sync(
    src: str | StorageURI | os.PathLike[str],
    dst: str | StorageURI | os.PathLike[str],
    *,
    delete: bool = False,
    dry_run: bool = False,
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
) -> SyncReport:
    """Make the prefix ``dst`` hold what the prefix ``src`` holds (one way), any URI to any.

    A file is copied when ``dst`` lacks it or holds other bytes, decided by size and
    checksum (hashing what the stores report no comparable checksum for), never by
    modification time alone; a second run copies nothing. ``delete=True`` removes the
    files ``dst`` has and ``src`` lacks (within ``include``/``exclude``); ``dry_run=True``
    only reports (``would_copy``, ``would_delete``). Copying is :func:`unifs.copy`: the
    other arguments mean what they mean there. The blocking form, :func:`sync`, also takes
    ``client`` (a ``dask.distributed.Client``): the copying is then spread over its workers
    (:func:`unifs.dask.sync`).

    Raises :class:`TransferError` (with the report) if any file fails to copy.
    """
    started = time.perf_counter()
    config = TransferConfig.of(
        include=include, exclude=exclude, concurrency=concurrency, part_size=part_size,
        verify=verify, callback=callback, max_buffer=max_buffer, retries=retries,
    )  # fmt: skip
    s = parse(fspath(src), account=storage_options.get("account_name"))
    d = parse(fspath(dst), account=(dst_options or {}).get("account_name"))
    d_auth, d_options = dst_settings(s, d, auth, dst_auth, storage_options, dst_options)
    if on_local_disk(s):
        auth, storage_options = None, {}
    s, sb, spath = await open_backend(s, auth, storage_options, config.concurrency)
    d, db, dpath = await open_backend(d, d_auth, d_options, config.concurrency)
    report = SyncReport(source=s.url, destination=d.url, dry_run=dry_run)
    engine = Engine(sb, report, config)
    try:
        source = await engine.retrying(lambda _: list_items(sb, spath, include, exclude))
        if not source and not await engine.retrying(lambda _: sb.call("exists", spath)):
            raise FileNotFoundError(f"nothing found at {s.url}: check the bucket and prefix")
        target = await engine.retrying(lambda _: list_items(db, dpath, include, exclude))
        to_copy, same = await decide(engine, sb, db, source, target)
        to_delete = sorted(set(target) - set(source)) if delete else []
        report.skipped.extend(same)
        if dry_run:
            report.would_copy, report.would_delete = to_copy, to_delete
            return report
        if to_copy:
            copied = await copy_between(
                as_prefix(s), as_prefix(d), config.but(include=None, exclude=None), auth=auth,
                dst_auth=d_auth, storage_options=storage_options, dst_options=d_options,
                only=set(to_copy),
            )  # fmt: skip
            for f in fields(TransferReport):
                if f.name not in ("source", "destination", "skipped", "seconds"):
                    setattr(report, f.name, getattr(copied, f.name))
        if to_delete:
            # only once every copy succeeded (a failed copy raised above)
            base = db.fs._strip_protocol(dpath).rstrip("/")
            await db.remove_all([f"{base}/{rel}" for rel in to_delete])
            report.deleted = to_delete
            db.fs.invalidate_cache()
    finally:
        report.seconds = time.perf_counter() - started
        await asyncio.get_running_loop().run_in_executor(None, engine.close)
        db.close()
    return report


sync = blocking(async_sync, "sync", distributed=True)
