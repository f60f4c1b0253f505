"""``get`` / ``aget``: download an object or a prefix into a local path."""

from __future__ import annotations

import os
from typing import Any

from unifs.endpoint import EndpointLike, endpoint
from unifs.engine.config import COMMON, TransferConfig
from unifs.engine.download import download
from unifs.engine.report import TransferReport
from unifs.engine.verbs import asynchronous, blocking
from unifs.types import AuthLike

__all__ = ["aget", "get"]


@asynchronous("get", config=(*COMMON, "resume", "lock_timeout"), renamed={"dest": "dst"})
async def aget(
    src: EndpointLike,
    dst: str | os.PathLike[str],
    transfer_config: TransferConfig,
    *,
    auth: AuthLike = None,
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
    return await download(
        endpoint(src, auth=auth, **storage_options), os.fspath(dst), transfer_config,
        verify_signature=verify_signature, public_key=public_key,
    )  # fmt: skip


get = blocking(aget, "get")
