"""The two ends of a transfer: their endpoints, which is on local disk, what the destination
is given, and which way the bytes go between them (:func:`copy_between`)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Any

from unifs.endpoint import Endpoint, endpoint
from unifs.engine.backend import open_backend
from unifs.engine.compare import decide, list_items
from unifs.engine.config import TransferConfig
from unifs.engine.filters import literal
from unifs.engine.report import TransferReport
from unifs.engine.scheduling import Engine
from unifs.registry import get_provider
from unifs.types import AuthLike
from unifs.uri import StorageURI, parse

#: what a verb takes as one end: any URI unifs reads, a path, or an Endpoint
End = str | StorageURI | os.PathLike[str] | Endpoint


def on_local_disk(uri: StorageURI) -> bool:
    """Whether ``uri`` names a path on this machine's disk."""
    return bool(get_provider(uri.provider).local_disk)


def dst_settings(
    src: StorageURI,
    dst: StorageURI,
    auth: AuthLike,
    dst_auth: AuthLike,
    storage_options: Mapping[str, Any],
    dst_options: Mapping[str, Any] | None,
) -> tuple[Any, dict[str, Any]]:
    """The destination's auth and options: its own, or the source's for the same provider.

    A source on local disk needs neither, so what was given is the destination's.
    """
    same = src.provider == dst.provider or on_local_disk(src)
    if dst_auth is None and same:
        dst_auth = auth
    if dst_options is None:
        dst_options = storage_options if same else {}
    return dst_auth, dict(dst_options)


def fspath(value: str | StorageURI | os.PathLike[str]) -> str | StorageURI:
    """A URI as given, or a path-like object as its path."""
    return value if isinstance(value, (str, StorageURI)) else os.fspath(value)


def ends(
    src: End,
    dst: End,
    *,
    auth: AuthLike,
    dst_auth: AuthLike,
    storage_options: Mapping[str, Any],
    dst_options: Mapping[str, Any] | None,
) -> tuple[Endpoint, Endpoint]:
    """The endpoints of a copy or sync: each URI parsed once, each auth block validated once.

    ``auth`` and ``storage_options`` are the source's, ``dst_auth`` and ``dst_options`` the
    destination's (see :func:`dst_settings`); an :class:`~unifs.Endpoint` given as an end
    is used as it is.
    """
    s = src.uri if isinstance(src, Endpoint) else parse(
        fspath(src), account=storage_options.get("account_name")
    )  # fmt: skip
    if isinstance(dst, Endpoint):
        d = dst.uri
    else:
        account = (dst_options or {}).get("account_name") or storage_options.get("account_name")
        d = parse(fspath(dst), account=account)
    d_auth, d_options = dst_settings(s, d, auth, dst_auth, storage_options, dst_options)
    if on_local_disk(s):  # what was given is the destination's
        auth, storage_options = None, {}
    return (
        src if isinstance(src, Endpoint) else endpoint(s, auth=auth, **storage_options),
        dst if isinstance(dst, Endpoint) else endpoint(d, auth=d_auth, **d_options),
    )


async def _uploads_needed(
    src: Endpoint, dst: Endpoint, config: TransferConfig
) -> tuple[list[str] | None, list[str]]:
    """Local files of a directory upload that the destination lacks or holds otherwise.

    (None, []) for a single file: it is uploaded as given.
    """
    if not os.path.isdir(src.uri.key):
        return None, []
    sb = await open_backend(src, config.concurrency)
    db = await open_backend(dst, config.concurrency)
    engine = Engine(sb, TransferReport("", ""), config)
    try:
        source = await list_items(sb, src.path, config.include, config.exclude)
        target = await engine.retrying(lambda _: list_items(db, dst.path))
        return await decide(engine, sb, db, source, target)
    finally:
        await asyncio.get_running_loop().run_in_executor(None, engine.close)
        db.close()


async def copy_between(
    src: Endpoint, dst: Endpoint, config: TransferConfig, *, only: set[str] | None = None
) -> TransferReport:
    """Copy ``src`` to ``dst`` whichever way the two ends allow (see :mod:`unifs.transfer.copy`).

    ``only`` limits a prefix copy to these relative paths (both ends are then prefixes).
    """
    from unifs.engine.download import download
    from unifs.engine.streaming import copy_remote
    from unifs.engine.upload import upload

    if only is not None and not only:
        return TransferReport(source=src.uri.url, destination=dst.uri.url)
    local_src, local_dst = on_local_disk(src.uri), on_local_disk(dst.uri)
    if only is not None and (local_src or local_dst):
        # get and put take patterns: each name's literal pattern matches only itself
        config = config.but(include=[literal(name) for name in sorted(only)], exclude=None)
    if local_dst:
        return await download(src, dst.uri.key, config, prefix=only is not None)
    if local_src:
        skipped: list[str] = []
        if only is None:
            # put uploads everything it is given: leave out what already matches
            needed, skipped = await _uploads_needed(src, dst, config)
            if needed is not None:
                if not needed:
                    return TransferReport(
                        source=src.uri.url, destination=dst.uri.url, skipped=skipped
                    )
                config = config.but(include=[literal(name) for name in needed], exclude=None)
        report = await upload(src.uri.key, dst, config, prefix=only is not None)
        report.skipped.extend(skipped)
        return report
    return await copy_remote(src, dst, config, only=only)
