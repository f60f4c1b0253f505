"""``get`` / ``aget``: download an object or a prefix into a local path."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from unifs.engine.config import TransferConfig
from unifs.engine.download import download
from unifs.engine.report import TransferReport
from unifs.engine.retries import RetryPolicy
from unifs.engine.verbs import asynchronous, blocking
from unifs.uri import StorageURI

__all__ = ["aget", "get"]


@asynchronous("get", renamed={"dest": "dst"})
async def aget(
    src: str | StorageURI,
    dst: str | os.PathLike[str],
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
    """Download the object or prefix ``src`` into the local path ``dst``, verified.

    A prefix (or a URI ending in ``/``) lands below ``dst``; a single object lands at
    ``dst``, or inside it when ``dst`` is an existing directory or ends in ``/``.

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

    ``dst`` was called ``dest``: ``dest=`` still works, with a DeprecationWarning.

    Raises :class:`TransferError` (with the report) if any file fails; files that succeeded
    stay (without ``verify_signature``).
    """
    config = TransferConfig.of(
        include=include, exclude=exclude, concurrency=concurrency, part_size=part_size,
        verify=verify, callback=callback, max_buffer=max_buffer, retries=retries,
        resume=resume, lock_timeout=lock_timeout,
    )  # fmt: skip
    return await download(
        src, os.fspath(dst), config, auth=auth, storage_options=storage_options,
        verify_signature=verify_signature, public_key=public_key,
    )  # fmt: skip


get = blocking(aget, "get")
