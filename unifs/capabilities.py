"""What a store, reached with given credentials, can do: ``unifs.capabilities(uri_or_fs)``.

Capabilities are read off the filesystem object and its credentials -- never looked up in a
table per cloud, and never by making a request. The same S3 bucket can presign with an
access key and cannot anonymously; GCS needs credentials that can sign; Azure with only a
SAS cannot mint another; OCI creates pre-authenticated requests with any identity allowed
to manage them. Each provider answers for its own store (``Provider.capabilities``); where
a flag is False, ``reasons`` says why.

``capability_matrix()`` renders the table in docs/capabilities.md from this same code.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fsspec import AbstractFileSystem

from unifs.callable_module import make_callable
from unifs.endpoint import EndpointLike, endpoint
from unifs.registry import provider_for_filesystem, providers
from unifs.types import AuthLike, Capabilities, TiB

if TYPE_CHECKING:
    from unifs.providers.base import Provider

__all__ = ["Capabilities", "TiB", "capabilities", "capability_matrix", "provider_for_fs"]


def provider_for_fs(fs: AbstractFileSystem) -> Provider:
    """The provider whose backend ``fs`` is; raise ValueError where none is
    (:func:`unifs.registry.provider_for_filesystem` answers None instead)."""
    provider = provider_for_filesystem(fs)
    if provider is None:
        raise ValueError(f"no unifs provider serves fsspec protocol {fs.protocol!r}")
    return provider


def capabilities(
    uri_or_fs: EndpointLike | AbstractFileSystem, *, auth: AuthLike = None, **storage_options: Any
) -> Capabilities:
    """What the store behind ``uri_or_fs`` can do with these credentials.

    ``uri_or_fs`` is a URI (with optional ``auth`` and storage options, as for
    :func:`unifs.url_to_fs`), an :class:`unifs.Endpoint`, or an fsspec filesystem already
    made. Makes no request.
    """
    if isinstance(uri_or_fs, AbstractFileSystem):
        return provider_for_fs(uri_or_fs).capabilities(uri_or_fs)
    return endpoint(uri_or_fs, auth=auth, **storage_options).capabilities()


# -- the documented matrix ------------------------------------------------------------------

_FLAGS = (
    "presign_get",
    "presign_put",
    "presign_kind",
    "presign_max_lifetime",
    "presign_revocable",
    "ranged_reads",
    "suffix_ranges",
    "server_side_copy",
    "multipart_upload",
    "versioning",
    "checksum",
    "async_impl",
    "max_object_size",
)


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, timedelta):
        return f"{value.days} days" if value.days else str(value)
    if isinstance(value, int):
        return f"{value / TiB:g} TiB"
    return "—" if value is None else str(value)


def capability_matrix(setups: Mapping[str, Capabilities] | None = None) -> str:
    """A Markdown table of capabilities, one column per credential setup.

    Without ``setups``, uses :func:`representative_setups` (filesystems built with
    throwaway credentials; nothing is contacted).
    """
    setups = setups if setups is not None else representative_setups()
    names = list(setups)
    lines = [
        "| capability | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for flag in _FLAGS:
        row = [_cell(getattr(setups[name], flag)) for name in names]
        lines.append(f"| {flag} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def representative_setups() -> dict[str, Capabilities]:
    """Capabilities of each provider under typical credential setups, for the docs."""
    result: dict[str, Capabilities] = {}
    for provider in providers():
        for label, fs in provider.matrix_filesystems():
            key = f"{provider.name}: {label}" if label else provider.name
            result[key] = provider.capabilities(fs)
    return result


make_callable(__name__)
