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
from dataclasses import dataclass, field, fields
from typing import Any

from unifs.transfer.backend import _Backend, _open_backend
from unifs.transfer.copy import (
    _as_prefix,
    _copy,
    _decide,
    _dst_settings,
    _fspath,
    _listing,
    _on_local_disk,
)
from unifs.transfer.planning import _matches
from unifs.transfer.progress import shows_progress
from unifs.transfer.report import TransferReport
from unifs.transfer.retries import RetryPolicy
from unifs.transfer.scheduling import _Engine, _options, _run_async, _run_sync
from unifs.uri import StorageURI, parse

__all__ = ["SyncReport", "async_sync", "sync"]


@dataclass
class SyncReport(TransferReport):
    """A :class:`TransferReport` that also says what a sync deleted, or would do."""

    #: destination files removed because the source lacks them (``delete=True``)
    deleted: list[str] = field(default_factory=list)
    #: with ``dry_run``: the files that would be copied (nothing was)
    would_copy: list[str] = field(default_factory=list)
    #: with ``dry_run``: the files that would be deleted (nothing was)
    would_delete: list[str] = field(default_factory=list)
    dry_run: bool = False

    def summary(self) -> str:
        """One line for a log or a terminal."""
        if self.dry_run:
            return (
                f"dry run: would copy {len(self.would_copy)} files, delete "
                f"{len(self.would_delete)}; {len(self.skipped)} already match"
            )
        line = super().summary()
        return line + (f", {len(self.deleted)} deleted" if self.deleted else "")


async def _sync(
    src: str | StorageURI,
    dst: str | StorageURI,
    *,
    delete: bool,
    dry_run: bool,
    auth: Any,
    dst_auth: Any,
    include: Sequence[str] | None,
    exclude: Sequence[str] | None,
    concurrency: int | None,
    part_size: int | None,
    max_buffer: int | None,
    verify: bool,
    retries: int | RetryPolicy | None,
    callback: Any,
    storage_options: dict[str, Any],
    dst_options: Mapping[str, Any] | None,
) -> SyncReport:
    started = time.perf_counter()
    s = parse(src, account=storage_options.get("account_name"))
    d = parse(dst, account=(dst_options or {}).get("account_name"))
    d_auth, d_options = _dst_settings(s, d, auth, dst_auth, storage_options, dst_options)
    if _on_local_disk(s):
        auth, storage_options = None, {}
    conc, budget, policy = _options(concurrency, max_buffer, retries)
    s, sb, spath = await _open_backend(s, auth, storage_options, conc)
    d, db, dpath = await _open_backend(d, d_auth, d_options, conc)
    report = SyncReport(source=s.url, destination=d.url, dry_run=dry_run)
    engine = _Engine(sb, report, concurrency=conc, max_buffer=budget, policy=policy, callback=None)
    try:
        source = {
            rel: item
            for rel, item in (await engine.retrying(lambda _: _listing(sb, spath))).items()
            if _matches(rel, include, exclude)
        }
        if not source and not await engine.retrying(lambda _: sb.call("exists", spath)):
            raise FileNotFoundError(f"nothing found at {s.url}: check the bucket and prefix")
        target = {
            rel: item
            for rel, item in (await engine.retrying(lambda _: _listing(db, dpath))).items()
            if _matches(rel, include, exclude)
        }
        to_copy, same = await _decide(engine, sb, db, source, target)
        to_delete = sorted(set(target) - set(source)) if delete else []
        report.skipped.extend(same)
        if dry_run:
            report.would_copy, report.would_delete = to_copy, to_delete
            return report
        if to_copy:
            copied = await _copy(
                _as_prefix(s),
                _as_prefix(d),
                auth=auth,
                dst_auth=d_auth,
                include=None,
                exclude=None,
                only=set(to_copy),
                concurrency=conc,
                part_size=part_size,
                max_buffer=budget,
                verify=verify,
                retries=policy,
                callback=callback,
                storage_options=storage_options,
                dst_options=d_options,
            )
            for f in fields(TransferReport):
                if f.name not in ("source", "destination", "skipped", "seconds"):
                    setattr(report, f.name, getattr(copied, f.name))
        if to_delete:
            # only once every copy succeeded (a failed copy raised above)
            base = db.fs._strip_protocol(dpath).rstrip("/")
            await _delete(db, [f"{base}/{rel}" for rel in to_delete])
            report.deleted = to_delete
            db.fs.invalidate_cache()
    finally:
        report.seconds = time.perf_counter() - started
        await asyncio.get_running_loop().run_in_executor(None, engine.close)
        db.close()
    return report


async def _delete(backend: _Backend, paths: list[str]) -> None:
    """Remove ``paths``, 16 requests at a time (ocifs takes one path per ``rm``)."""
    for start in range(0, len(paths), 16):
        batch = paths[start : start + 16]
        await asyncio.gather(*(backend.call("rm", path) for path in batch))


@shows_progress("sync")
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
    """Await a sync of ``src`` to ``dst``; the async form of :func:`sync`."""
    return await _run_async(
        _sync(
            _fspath(src),
            _fspath(dst),
            delete=delete,
            dry_run=dry_run,
            auth=auth,
            dst_auth=dst_auth,
            include=include,
            exclude=exclude,
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


@shows_progress("sync")
def sync(
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
    client: Any = None,
    **storage_options: Any,
) -> SyncReport:
    """Make the prefix ``dst`` hold what the prefix ``src`` holds (one way), any URI to any.

    A file is copied when ``dst`` lacks it or holds other bytes, decided by size and
    checksum (hashing what the stores report no comparable checksum for), never by
    modification time alone; a second run copies nothing. ``delete=True`` removes the
    files ``dst`` has and ``src`` lacks (within ``include``/``exclude``); ``dry_run=True``
    only reports (``would_copy``, ``would_delete``). Copying is :func:`unifs.copy`: the
    other arguments mean what they mean there. With ``client`` (a
    ``dask.distributed.Client``) the copying is spread over its workers
    (:func:`unifs.dask.sync`).

    Raises :class:`TransferError` (with the report) if any file fails to copy.
    """
    if client is not None:  # spread over a Dask cluster: see unifs.dask
        # the decorator has drawn the bar already: None here means no bar
        from unifs.dask import sync as sync_on_dask

        return sync_on_dask(
            src,
            dst,
            client,
            delete=delete,
            dry_run=dry_run,
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
        _sync(
            _fspath(src),
            _fspath(dst),
            delete=delete,
            dry_run=dry_run,
            auth=auth,
            dst_auth=dst_auth,
            include=include,
            exclude=exclude,
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
