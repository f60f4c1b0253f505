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
import time
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from unifs.engine.backend import open_backend
from unifs.engine.compare import decide, list_items
from unifs.engine.config import TransferConfig
from unifs.engine.ends import End, copy_between, ends
from unifs.engine.report import SyncReport, TransferReport
from unifs.engine.scheduling import Engine
from unifs.engine.verbs import asynchronous, blocking
from unifs.types import AuthLike

__all__ = ["async_sync", "sync"]


@asynchronous("sync")
async def async_sync(
    src: End,
    dst: End,
    transfer_config: TransferConfig,
    *,
    delete: bool = False,
    dry_run: bool = False,
    auth: AuthLike = None,
    dst_auth: AuthLike = None,
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
    s, d = ends(
        src, dst, auth=auth, dst_auth=dst_auth, storage_options=storage_options,
        dst_options=dst_options,
    )  # fmt: skip
    sb = await open_backend(s, transfer_config.concurrency)
    db = await open_backend(d, transfer_config.concurrency)
    spath, dpath = s.path, d.path
    report = SyncReport(source=s.uri.url, destination=d.uri.url, dry_run=dry_run)
    engine = Engine(sb, report, transfer_config)
    try:
        source = await engine.retrying(
            lambda _: list_items(sb, spath, transfer_config.include, transfer_config.exclude)
        )
        if not source and not await engine.retrying(lambda _: sb.call("exists", spath)):
            raise FileNotFoundError(f"nothing found at {s.uri.url}: check the bucket and prefix")
        target = await engine.retrying(
            lambda _: list_items(db, dpath, transfer_config.include, transfer_config.exclude)
        )
        to_copy, same = await decide(engine, sb, db, source, target)
        to_delete = sorted(set(target) - set(source)) if delete else []
        report.skipped.extend(same)
        if dry_run:
            report.would_copy, report.would_delete = to_copy, to_delete
            return report
        if to_copy:
            copied = await copy_between(
                s, d, transfer_config.but(include=None, exclude=None), only=set(to_copy)
            )
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
