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

from collections.abc import Mapping
from typing import Any

from unifs.engine.config import TransferConfig
from unifs.engine.ends import End, copy_between, ends
from unifs.engine.report import TransferReport
from unifs.engine.verbs import asynchronous, blocking
from unifs.types import AuthLike

__all__ = ["acopy", "copy"]


@asynchronous("copy")
async def acopy(
    src: End,
    dst: End,
    transfer_config: TransferConfig,
    *,
    auth: AuthLike = None,
    dst_auth: AuthLike = None,
    dst_options: Mapping[str, Any] | None = None,
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
    The blocking form, :func:`copy`, also takes ``client`` (a ``dask.distributed.Client``):
    it spreads a cloud-to-cloud copy over its workers in shards of about equal bytes
    (:func:`unifs.dask.copy`).

    Raises :class:`TransferError` (with the report) if any file fails.
    """
    s, d = ends(
        src, dst, auth=auth, dst_auth=dst_auth, storage_options=storage_options,
        dst_options=dst_options,
    )  # fmt: skip
    return await copy_between(s, d, transfer_config)


copy = blocking(acopy, "copy", distributed=True)
