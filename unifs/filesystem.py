"""Reach any URI through the right fsspec filesystem: ``url_to_fs``, ``open``, ``resolve``.

Each function here is a thin wrapper over :func:`unifs.endpoint`, which parses, validates
and resolves once; each takes a URI in any dialect (with ``auth`` and storage options) or
an :class:`unifs.Endpoint` made already.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fsspec.core import OpenFile

from unifs import forksafe
from unifs.endpoint import EndpointLike, endpoint
from unifs.providers.base import merge_options
from unifs.types import AuthLike, Resolved, URILike

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem
    from upath import UPath

__all__ = [
    "AuthLike",
    "Resolved",
    "URILike",
    "check_reachable",
    "merge_options",
    "open",
    "resolve",
    "storage_options",
    "upath",
    "url_to_fs",
]


def resolve(uri: EndpointLike, *, auth: AuthLike = None, **storage_options: Any) -> Resolved:
    """How to reach ``uri``: fsspec protocol, storage options and path.

    Options come from the URI (region, endpoint, account), then from ``auth`` (an
    :class:`unifs.AuthConfig` or plain mapping), then ``storage_options``, which win.
    ``resolved.url`` is the fsspec URL to hand to pandas or UPath with ``resolved.options``.
    """
    return endpoint(uri, auth=auth, **storage_options).resolved


def url_to_fs(
    uri: EndpointLike, *, auth: AuthLike = None, **storage_options: Any
) -> tuple[AbstractFileSystem, str]:
    """Return ``(filesystem, path)`` for ``uri`` in any dialect unifs reads.

    ``auth`` is an auth block (see :mod:`unifs.auth`); ``storage_options`` go to the
    backend (s3fs, gcsfs, adlfs, ocifs) and win over what the URI and ``auth`` imply.
    """
    ep = endpoint(uri, auth=auth, **storage_options)
    return ep.fs, ep.path


def open(uri: EndpointLike, mode: str = "rb", *, auth: AuthLike = None, **kwargs: Any) -> OpenFile:
    """Open ``uri`` like :func:`fsspec.open`; use it in a ``with`` block.

    Keyword arguments are storage options, plus fsspec's ``compression``, ``encoding``,
    ``errors`` and ``newline``. A file opened for reading keeps working in a forked child.
    """
    text_options = {
        name: kwargs.pop(name)
        for name in ("compression", "encoding", "errors", "newline")
        if name in kwargs
    }
    ep = endpoint(uri, auth=auth, **kwargs)
    return _ForkSafeOpenFile(ep.fs, ep.path, mode=mode, **text_options)


def upath(uri: EndpointLike, *, auth: AuthLike = None, **storage_options: Any) -> UPath:
    """A pathlib-style :class:`upath.UPath` for ``uri`` in any dialect, with ``auth`` applied.

    ``UPath`` itself takes storage options only; this resolves the dialect (https URLs, OME
    URIs, OCI's S3 compatibility route) and the auth block first.
    """
    from upath import UPath

    ep = endpoint(uri, auth=auth, **storage_options)
    path = UPath(ep.url, **ep.resolved.options)
    # paths derived from this one share its filesystem: tracked, it survives a fork
    forksafe.track(path.fs)
    return path


def check_reachable(uri: EndpointLike, *, auth: AuthLike = None, **storage_options: Any) -> None:
    """Fail within seconds when ``auth`` names a mode whose metadata service is not there.

    Called before work that will talk to the store (transfers, the CLI's verbs): off the
    cloud, the SDKs would retry the metadata address for minutes in silence. Raises
    :class:`unifs.AuthError` naming the mode and the service; does nothing for other modes.
    """
    endpoint(uri, auth=auth, **storage_options).check_reachable()


def storage_options(
    uri: EndpointLike,
    auth: AuthLike = None,
    *,
    target: str = "fsspec",
) -> dict[str, Any]:
    """The storage options that reach ``uri`` with ``auth``, for fsspec, pandas and UPath.

    Includes what the URI implies (region, endpoint, account). Pass the result unchanged to
    ``fsspec.open(normalize(uri), **options)``, ``pandas.read_*(..., storage_options=options)``
    or ``UPath(uri, **options)``. Raises :class:`AuthError` for an invalid block.

    ``target="object_store"`` gives the keys of the Rust ``object_store`` crate instead
    (``aws_access_key_id``, ``google_service_account_key``, ``azure_storage_account_name``,
    ...; every value a string) for polars, obstore and deltalake::

        polars.read_parquet(url, storage_options=unifs.storage_options(uri, auth,
                                                                       target="object_store"))

    with ``url`` = ``unifs.endpoint(uri, auth=auth).url`` (for OCI, the ``s3://`` URL of its
    S3 compatibility route). Raises :class:`unifs.UnsupportedError` where object_store
    cannot express the auth mode.

    ``target="obstore"`` gives the same keys split the way ``obstore.store.from_url`` takes
    them, ``{"config": {...}, "client_options": {...}}`` (obstore refuses a client setting
    such as ``allow_http`` among the store's keys)::

        store = obstore.store.from_url(url, **unifs.storage_options(uri, auth, target="obstore"))
    """
    return endpoint(uri, auth=auth).storage_options(target)


class _ForkSafeOpenFile(OpenFile):
    """fsspec's OpenFile whose opened file is carried over into forked children."""

    def __enter__(self) -> Any:
        f = super().__enter__()
        forksafe.track_file(self.fobjects[0])
        return f
