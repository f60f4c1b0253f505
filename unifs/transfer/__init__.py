"""Download and upload whole prefixes fast and safely: ``get``, ``put``, ``aget``, ``aput``.

What every transfer guarantees, whatever the store:

- **Parallel, bounded**: files move side by side and large files in ranged parts, under one
  limit of requests in flight (``concurrency``) and one byte budget (``max_buffer``), so
  memory does not grow with file size or file count. Async backends (s3fs, gcsfs, adlfs) run
  on fsspec's event loop; synchronous ones (ocifs) get the same parallelism from a bounded
  thread pool.
- **Atomic**: data lands in a temporary file in the destination's hidden work directory
  (``.unifs-transfer/``, names hashed from the path: they never collide with an object's
  name nor exceed NAME_MAX) and is renamed over the target only once complete and verified.
  A failed or interrupted get never leaves a partial file at the final path, and never
  removes a good one already there. A lock there makes a second get into the same
  destination wait (``lock_timeout``), then fail with :class:`TransferBusyError`.
- **One version per file**: every read of a file names the version seen when the transfer
  was planned (If-Match on the ETag, GCS's generation; ``Provider.version_pin``); a
  replaced object fails that file with :class:`unifs.errors.ObjectChangedError`, never
  splices two versions.
- **Resumable**: the temporary file's parts are recorded as they land; a later get of the
  same, unchanged object (the identity is checked first) fetches only the missing parts.
  Partial data is kept only after transient failures (retries exhausted, interruption); a
  permanent one (404, 403, a replaced object) leaves nothing behind.
- **Verified**: data is hashed while it lands (never re-read from the store) and compared
  with the object's MD5, CRC32C, multipart ETag (its layout asked of the store) or OCI
  multipart MD5. A mismatch fetches the file once more from scratch, then fails it.
  ``report.size_only`` lists the files that had nothing to compare, ``report.unverified``
  says why.
- **Skip if valid**: an existing local file is skipped only if it hashes to the store's
  checksum or, where the store has none, to the digest an earlier get recorded with it for
  this very version (an xattr, else a record in the work directory): never on size alone.
- **Retried**: each request is retried with exponential backoff and jitter on transient
  failures (5xx, 429/503 with ``Retry-After``, connection resets, truncated bodies); a
  truncated part resumes from its last byte. ``report.retries`` counts them.
- **Contained**: a key that would land outside the destination (``..``, absolute paths,
  drive letters) is refused before anything is written.
- **Filtered**: ``include`` / ``exclude`` are fnmatch-style globs on the path relative to
  the source prefix (``*`` also matches ``/``), e.g. ``include=["*/H100/*"]``.

Which store this package talks to is never tested by name: checksums, pinned and streaming
reads and multipart layouts come from the provider object (``Provider.checksums``,
``multipart_checksum``, ``part_sizes``, ``version_pin``, ``stream_range``, ``read_range``,
``abort_uploads``), async or sync from the filesystem's ``async_impl`` trait.

This package holds the verbs, one module each: ``download`` (``aget``, ``get``), ``upload``
(``aput``, ``put``), ``copy`` (``acopy``, ``copy``: any URI to any URI) and ``sync``
(``async_sync``, ``sync``: one-way, by size and checksum). Each verb is one async function
over two :class:`unifs.Endpoint` ends and a :class:`unifs.engine.config.TransferConfig`;
its blocking form is derived from it (:mod:`unifs.engine.verbs`). The machinery they run
is :mod:`unifs.engine`: ``listing`` (the one prefix listing), ``compare`` (what copy and
sync decide from), ``planning``, ``checksums``, ``retries``, ``scheduling``, ``backend``,
``state``, ``parts``, ``download``, ``upload``, ``streaming`` (cloud to cloud), ``ranges``
(one large object made from parts sent by several processes, used by ``unifs.dask``),
``progress`` and ``report``. The names this package always exported stay here.
"""

from __future__ import annotations

# engine helpers the tests exercise directly, under the names they always had here
from unifs.engine.checksums import PartsMD5 as _PartsMD5  # noqa: F401
from unifs.engine.checksums import infer_part_size as _infer_part_size  # noqa: F401
from unifs.engine.limits import DEFAULT_CONCURRENCY, DEFAULT_MAX_BUFFER
from unifs.engine.planning import UnsafeKeyError, safe_join
from unifs.engine.progress import progress_bar
from unifs.engine.report import SyncReport, TransferError, TransferReport
from unifs.engine.retries import RetryPolicy
from unifs.engine.retries import classify as _classify  # noqa: F401
from unifs.engine.workdir import WORK_DIR, TransferBusyError
from unifs.transfer.copy import acopy, copy
from unifs.transfer.download import aget, get
from unifs.transfer.sync import async_sync, sync
from unifs.transfer.upload import aput, put

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_BUFFER",
    "WORK_DIR",
    "RetryPolicy",
    "SyncReport",
    "TransferBusyError",
    "TransferError",
    "TransferReport",
    "UnsafeKeyError",
    "acopy",
    "aget",
    "aput",
    "async_sync",
    "copy",
    "get",
    "progress_bar",
    "put",
    "safe_join",
    "sync",
]
