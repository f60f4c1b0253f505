"""``put`` / ``aput``: upload a local file or directory to an object or prefix."""

from __future__ import annotations

import os
from typing import Any

from unifs.endpoint import EndpointLike, endpoint
from unifs.engine.config import TransferConfig
from unifs.engine.report import TransferReport
from unifs.engine.upload import upload
from unifs.engine.verbs import asynchronous, blocking
from unifs.types import AuthLike

__all__ = ["aput", "put"]


@asynchronous("put")
async def aput(
    src: str | os.PathLike[str],
    dst: EndpointLike,
    transfer_config: TransferConfig,
    *,
    auth: AuthLike = None,
    **storage_options: Any,
) -> TransferReport:
    """Upload the local file or directory ``src`` to the object or prefix ``dst``.

    A directory lands below ``dst``; a file lands at ``dst``, or below it when ``dst``
    ends in ``/``. Files up to ``part_size`` go up in one request each, many at once;
    larger ones through the backend's own (multipart) upload. With ``verify`` the store's
    size and checksum are compared with the local file afterwards. Object stores write each
    object atomically, so a failed upload leaves either the old object or none.
    """
    return await upload(
        os.fspath(src), endpoint(dst, auth=auth, **storage_options), transfer_config
    )


put = blocking(aput, "put")
