"""Reach any URI through the right fsspec filesystem: ``url_to_fs``, ``open``, ``resolve``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fsspec.core import OpenFile

from unifs import forksafe
from unifs.auth import AuthConfig
from unifs.providers.base import Resolved, merge_options
from unifs.redact import install_log_filters
from unifs.registry import get_provider, provider_for_scheme
from unifs.uri import StorageURI, parse

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem
    from upath import UPath

__all__ = ["Resolved", "check_reachable", "merge_options", "open", "resolve", "upath", "url_to_fs"]

URILike = str | os.PathLike[str] | StorageURI
AuthLike = Mapping[str, Any] | AuthConfig | None


def resolve(uri: URILike, *, auth: AuthLike = None, **storage_options: Any) -> Resolved:
    """How to reach ``uri``: fsspec protocol, storage options and path.

    Options come from the URI (region, endpoint, account), then from ``auth`` (an
    :class:`unifs.AuthConfig` or plain mapping), then ``storage_options``, which win.
    ``resolved.url`` is the fsspec URL to hand to pandas or UPath with ``resolved.options``.
    """
    # before any SDK call: building credentials (STS, token files) may log them at DEBUG
    install_log_filters()
    config = AuthConfig.coerce(auth)
    account = storage_options.get("account_name") or (
        config.get("account_name") if config else None
    )
    u = parse(uri, account=account)
    provider = get_provider(u.provider)
    mode = config.validate(provider) if config is not None else None
    return provider.resolve(u, mode, config.params if config else {}, storage_options)


def url_to_fs(
    uri: URILike, *, auth: AuthLike = None, **storage_options: Any
) -> tuple[AbstractFileSystem, str]:
    """Return ``(filesystem, path)`` for ``uri`` in any dialect unifs reads.

    ``auth`` is an auth block (see :mod:`unifs.auth`); ``storage_options`` go to the
    backend (s3fs, gcsfs, adlfs, ocifs) and win over what the URI and ``auth`` imply.
    """
    resolved = resolve(uri, auth=auth, **storage_options)
    backend = provider_for_scheme(resolved.protocol)
    if backend is None:  # pragma: no cover - every provider resolves to a known protocol
        raise ValueError(f"no provider serves protocol {resolved.protocol!r}")
    # kept usable in forked children (DataLoader workers): see unifs.forksafe
    return forksafe.track(backend.filesystem(**resolved.options)), resolved.path


def open(uri: URILike, mode: str = "rb", *, auth: AuthLike = None, **kwargs: Any) -> OpenFile:
    """Open ``uri`` like :func:`fsspec.open`; use it in a ``with`` block.

    Keyword arguments are storage options, plus fsspec's ``compression``, ``encoding``,
    ``errors`` and ``newline``. A file opened for reading keeps working in a forked child.
    """
    text_options = {
        name: kwargs.pop(name)
        for name in ("compression", "encoding", "errors", "newline")
        if name in kwargs
    }
    fs, path = url_to_fs(uri, auth=auth, **kwargs)
    return _ForkSafeOpenFile(fs, path, mode=mode, **text_options)


def upath(uri: URILike, *, auth: AuthLike = None, **storage_options: Any) -> UPath:
    """A pathlib-style :class:`upath.UPath` for ``uri`` in any dialect, with ``auth`` applied.

    ``UPath`` itself takes storage options only; this resolves the dialect (https URLs, OME
    URIs, OCI's S3 compatibility route) and the auth block first.
    """
    from upath import UPath

    resolved = resolve(uri, auth=auth, **storage_options)
    path = UPath(resolved.url, **resolved.options)
    # paths derived from this one share its filesystem: tracked, it survives a fork
    forksafe.track(path.fs)
    return path


def check_reachable(uri: URILike, *, auth: AuthLike = None, **storage_options: Any) -> None:
    """Fail within seconds when ``auth`` names a mode whose metadata service is not there.

    Called before work that will talk to the store (transfers, the CLI's verbs): off the
    cloud, the SDKs would retry the metadata address for minutes in silence. Raises
    :class:`unifs.AuthError` naming the mode and the service; does nothing for other modes.
    """
    from unifs.auth import check_metadata_service

    config = AuthConfig.coerce(auth)
    if config is None:
        return
    account = storage_options.get("account_name") or config.get("account_name")
    provider = get_provider(parse(uri, account=account).provider)
    mode = config.validate(provider)
    if mode is not None:
        check_metadata_service(provider, mode)


class _ForkSafeOpenFile(OpenFile):
    """fsspec's OpenFile whose opened file is carried over into forked children."""

    def __enter__(self) -> Any:
        f = super().__enter__()
        forksafe.track_file(self.fobjects[0])
        return f
