"""Reach any URI through the right fsspec filesystem: ``url_to_fs`` and ``open``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from unifs.registry import get_provider
from unifs.uri import StorageURI, parse

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem
    from fsspec.core import OpenFile

__all__ = ["merge_options", "open", "url_to_fs"]

URILike = str | os.PathLike[str] | StorageURI


def merge_options(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge storage options: ``override`` wins; nested dicts (client_kwargs, ...) merge."""
    merged = dict(base)
    for name, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = merge_options(merged[name], value)
        else:
            merged[name] = value
    return merged


def url_to_fs(uri: URILike, **storage_options: Any) -> tuple[AbstractFileSystem, str]:
    """Return ``(filesystem, path)`` for ``uri`` in any dialect unifs reads.

    ``storage_options`` go to the backend (s3fs, gcsfs, adlfs, ocifs) and win over what
    the URI implies (region, endpoint, account).
    """
    u = parse(uri, account=storage_options.get("account_name"))
    provider = get_provider(u.provider)
    options = merge_options(provider.uri_storage_options(u), storage_options)
    return provider.filesystem(**options), u.path


def open(uri: URILike, mode: str = "rb", **kwargs: Any) -> OpenFile:
    """Open ``uri`` like :func:`fsspec.open`; use it in a ``with`` block.

    Keyword arguments are storage options, plus fsspec's ``compression``, ``encoding``,
    ``errors`` and ``newline``.
    """
    from fsspec.core import OpenFile

    text_options = {
        name: kwargs.pop(name)
        for name in ("compression", "encoding", "errors", "newline")
        if name in kwargs
    }
    fs, path = url_to_fs(uri, **kwargs)
    return OpenFile(fs, path, mode=mode, **text_options)
