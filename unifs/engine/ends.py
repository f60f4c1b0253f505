"""The two ends of a transfer: which is on local disk, what the destination is given, and
which way the bytes go between them (:func:`copy_between`)."""

from __future__ import annotations

import asyncio
import glob
import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from unifs.engine.backend import open_backend
from unifs.engine.compare import decide, list_items
from unifs.engine.config import TransferConfig
from unifs.engine.report import TransferReport
from unifs.engine.scheduling import Engine
from unifs.registry import get_provider
from unifs.uri import StorageURI


def on_local_disk(uri: StorageURI) -> bool:
    """Whether ``uri`` names a path on this machine's disk."""
    return bool(get_provider(uri.provider).local_disk)


def dst_settings(
    src: StorageURI,
    dst: StorageURI,
    auth: Any,
    dst_auth: Any,
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


def as_prefix(uri: StorageURI) -> StorageURI:
    """``uri`` as a prefix (its key ending in ``/``)."""
    if uri.is_prefix:
        return uri
    return replace(uri, key=uri.key + "/")


def fspath(value: str | StorageURI | os.PathLike[str]) -> str | StorageURI:
    """A URI as given, or a path-like object as its path."""
    return value if isinstance(value, (str, StorageURI)) else os.fspath(value)


async def _uploads_needed(
    src: StorageURI,
    dst: StorageURI,
    config: TransferConfig,
    *,
    dst_auth: Any,
    dst_options: dict[str, Any],
) -> tuple[list[str] | None, list[str]]:
    """Local files of a directory upload that the destination lacks or holds otherwise.

    (None, []) for a single file: it is uploaded as given.
    """
    if not os.path.isdir(src.key):
        return None, []
    _, sb, spath = await open_backend(src, None, {}, config.concurrency)
    _, db, dpath = await open_backend(as_prefix(dst), dst_auth, dst_options, config.concurrency)
    engine = Engine(sb, TransferReport("", ""), config)
    try:
        source = await list_items(sb, spath, config.include, config.exclude)
        target = await engine.retrying(lambda _: list_items(db, dpath))
        return await decide(engine, sb, db, source, target)
    finally:
        await asyncio.get_running_loop().run_in_executor(None, engine.close)
        db.close()


async def copy_between(
    src: StorageURI,
    dst: StorageURI,
    config: TransferConfig,
    *,
    auth: Any,
    dst_auth: Any,
    storage_options: dict[str, Any],
    dst_options: dict[str, Any],
    only: set[str] | None = None,
) -> TransferReport:
    """Copy ``src`` to ``dst`` whichever way the two ends allow (see :mod:`unifs.transfer.copy`).

    ``dst_auth`` and ``dst_options`` are the destination's own (:func:`dst_settings`).
    ``only`` limits a prefix copy to these relative paths.
    """
    from unifs.engine.download import download
    from unifs.engine.streaming import copy_remote
    from unifs.engine.upload import upload

    if on_local_disk(src):
        auth, storage_options = None, {}
    if only is not None and not only:
        return TransferReport(source=src.url, destination=dst.url)
    if only is not None and (on_local_disk(dst) or on_local_disk(src)):
        # get and put take globs: each name, escaped, matches only itself
        config = config.but(include=[glob.escape(name) for name in sorted(only)], exclude=None)
    if on_local_disk(dst):
        return await download(src, dst.key, config, auth=auth, storage_options=storage_options)
    if on_local_disk(src):
        skipped: list[str] = []
        if only is None:
            # put uploads everything it is given: leave out what already matches
            needed, skipped = await _uploads_needed(
                src, dst, config, dst_auth=dst_auth, dst_options=dst_options
            )
            if needed is not None:
                if not needed:
                    return TransferReport(source=src.url, destination=dst.url, skipped=skipped)
                config = config.but(include=[glob.escape(name) for name in needed], exclude=None)
        report = await upload(src.key, dst, config, auth=dst_auth, storage_options=dst_options)
        report.skipped.extend(skipped)
        return report
    return await copy_remote(
        src, dst, config, auth=auth, dst_auth=dst_auth, storage_options=storage_options,
        dst_options=dst_options, only=only,
    )  # fmt: skip
