"""``put`` / ``aput``: upload a local file or directory to an object or prefix."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from unifs.engine.config import TransferConfig
from unifs.engine.report import TransferReport
from unifs.engine.retries import RetryPolicy
from unifs.engine.upload import upload
from unifs.engine.verbs import asynchronous, blocking
from unifs.uri import StorageURI

__all__ = ["aput", "put"]


@asynchronous("put")
async def aput(
    src: str | os.PathLike[str],
    dst: str | StorageURI,
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
    **storage_options: Any,
) -> TransferReport:
    """Upload the local file or directory ``src`` to the object or prefix ``dst``.

    A directory lands below ``dst``; a file lands at ``dst``, or below it when ``dst``
    ends in ``/``. Files up to ``part_size`` go up in one request each, many at once;
    larger ones through the backend's own (multipart) upload. With ``verify`` the store's
    size and checksum are compared with the local file afterwards. Object stores write each
    object atomically, so a failed upload leaves either the old object or none.
    """
    config = TransferConfig.of(
        include=include, exclude=exclude, concurrency=concurrency, part_size=part_size,
        verify=verify, callback=callback, max_buffer=max_buffer, retries=retries,
    )  # fmt: skip
    return await upload(
        os.fspath(src), dst, config, auth=auth, storage_options=storage_options
    )  # fmt: skip


put = blocking(aput, "put")
