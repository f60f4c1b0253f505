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

import sys
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from unifs.registry import provider_for_scheme, providers

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from unifs.providers.base import Provider

__all__ = ["Capabilities", "capabilities", "capability_matrix", "provider_for_fs"]

TiB = 2**40


@dataclass(frozen=True)
class Capabilities:
    """What one filesystem, with its credentials, can do. ``reasons`` explains each False."""

    provider: str
    #: a time-limited URL for reading one object can be made with these credentials
    presign_get: bool = False
    #: ... and for writing one
    presign_put: bool = False
    #: "presigned-url" (S3 SigV4), "signed-url" (GCS V4), "sas" (Azure), "par" (OCI), or None
    presign_kind: str | None = None
    #: the longest lifetime such a URL may have, None if the store sets no limit
    presign_max_lifetime: timedelta | None = None
    #: presigned access can be revoked before it expires (only OCI PARs can)
    presign_revocable: bool = False
    #: byte-range reads
    ranged_reads: bool = True
    #: "the last N bytes" reads (Range: bytes=-N)
    suffix_ranges: bool = True
    #: copies happen inside the store, without downloading
    server_side_copy: bool = False
    #: large objects upload in parallel parts
    multipart_upload: bool = False
    #: the filesystem reads and lists object versions
    versioning: bool = False
    #: what whole-object checksum the store reports, in words
    checksum: str = "none"
    #: the fsspec backend is asyncio-native (drives many requests on one thread)
    async_impl: bool = False
    #: read-after-write and list-after-write consistency
    listing_consistency: str = "strong"
    #: the largest object the store accepts, in bytes (None: no fixed limit)
    max_object_size: int | None = None
    reasons: Mapping[str, str] = field(default_factory=dict, compare=False)

    def why_not(self, flag: str) -> str | None:
        """Why ``flag`` is False (None if it is True or no reason was recorded)."""
        return None if getattr(self, flag) else self.reasons.get(flag)


def provider_for_fs(fs: AbstractFileSystem) -> Provider:
    """The provider whose backend ``fs`` is (by its fsspec protocol)."""
    protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
    for protocol in protocols:
        provider = provider_for_scheme(protocol)
        if provider is not None:
            return provider
    raise ValueError(f"no unifs provider serves fsspec protocol {protocols!r}")


def capabilities(
    uri_or_fs: Any, *, auth: Mapping[str, Any] | None = None, **storage_options: Any
) -> Capabilities:
    """What the store behind ``uri_or_fs`` can do with these credentials.

    ``uri_or_fs`` is a URI (with optional ``auth`` and storage options, as for
    :func:`unifs.url_to_fs`) or an fsspec filesystem already made. Makes no request.
    """
    from fsspec import AbstractFileSystem

    from unifs.filesystem import url_to_fs

    if isinstance(uri_or_fs, AbstractFileSystem):
        fs = uri_or_fs
    else:
        fs, _ = url_to_fs(uri_or_fs, auth=auth, **storage_options)
    return provider_for_fs(fs).capabilities(fs)


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


class _CallableModule(types.ModuleType):
    """``unifs.capabilities`` names both this module and its function (DESIGN's public API).

    Importing a submodule rebinds the package attribute to the module, so the module itself
    answers calls: ``unifs.capabilities(uri)`` works whichever binding Python made last.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Capabilities:
        return capabilities(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
