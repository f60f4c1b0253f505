"""The shared types: what providers, concept modules and verbs pass each other.

Data only -- dataclasses and type aliases, no operation that reaches a store -- so that
every layer may import them: providers build :class:`Capabilities`, :class:`PresignedURL`
and :class:`Resolved`, declare :class:`AuthMode` and :class:`Param`, and the modules above
hand them on. The functions that make them live in their concept modules
(:mod:`unifs.capabilities`, :mod:`unifs.presign`, :mod:`unifs.endpoint`, ...), which also
re-export them under their old names.

``URILike`` and ``AuthLike`` are what every public signature takes for a URI and an auth
block.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from unifs.redact import mask, mask_secrets
from unifs.uri import StorageURI

__all__ = [
    "TARGETS",
    "AuthLike",
    "AuthMode",
    "Capabilities",
    "Param",
    "PresignedURL",
    "Resolved",
    "RetryPolicy",
    "TiB",
    "URILike",
    "seconds_until",
]

#: a URI in any dialect unifs reads, a local path, or a parsed :class:`unifs.StorageURI`
URILike = str | os.PathLike[str] | StorageURI
#: an auth block: a mapping such as ``{"auth": "access_key", ...}`` or an
#: :class:`unifs.AuthConfig` (itself a mapping); None for the backend's default chain
AuthLike = Mapping[str, Any] | None

KiB = 2**10
MiB = 2**20
GiB = 2**30
TiB = 2**40

#: what :func:`unifs.storage_options` can produce options for
TARGETS = ("fsspec", "object_store", "obstore")


# -- auth declarations ----------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One auth parameter: its name, what it means, its environment fallback, and whether
    its value is a secret."""

    name: str
    doc: str
    env: str | None = None
    secret: bool = False


@dataclass(frozen=True)
class AuthMode:
    """One way to authenticate: which parameters it needs and which it accepts.

    An entry of ``required`` may list alternatives separated by ``|`` ("key_file|key_json").
    ``verified`` says how the test suite proves the mode against a local server, or that
    only its mapping is tested (modes that need a cloud metadata service).
    """

    name: str
    doc: str
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    verified: str = "mapping only"
    extra_params: tuple[Param, ...] = field(default=())

    @property
    def accepted(self) -> tuple[str, ...]:
        names: list[str] = []
        for entry in (*self.required, *self.optional):
            names.extend(entry.split("|"))
        return tuple(names)


# -- resolution -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    """How to reach a URI: the fsspec protocol, its storage options, and the path in it."""

    protocol: str
    options: dict[str, Any]
    path: str

    @property
    def url(self) -> str:
        """The fsspec URL of ``path`` under ``protocol``."""
        return f"{self.protocol}://{self.path}"

    def __repr__(self) -> str:
        shown = {k: mask(k, v) for k, v in self.options.items()}
        # by name (secret_access_key, ...), then by shape (a PAR token in an endpoint, ...)
        return mask_secrets(
            f"Resolved(protocol={self.protocol!r}, options={shown!r}, path={self.path!r})"
        )


# -- capabilities ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PartLimits:
    """What a store accepts as the parts of one upload (a fact of the provider).

    ``min_part`` binds every part but the last; ``multiple`` is what every part but the
    last must be a multiple of; ``max_parts`` is the most parts one object may have.
    """

    min_part: int = 1
    max_part: int | None = None
    max_parts: int | None = None
    multiple: int = 1


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


# -- presigning -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PresignedURL:
    """A URL that grants ``method`` on one object (or an OCI prefix) until ``expires_at``."""

    url: str = field(repr=False)
    method: str
    expires_at: datetime
    #: headers the caller must send with the request
    headers: Mapping[str, str] = field(default_factory=dict)
    provider: str = ""
    #: "presigned-url", "signed-url", "sas" or "par"
    kind: str = ""
    #: the canonical address of what the URL opens (no secret in it)
    uri: str = ""
    #: an OCI PAR's id, needed to revoke it
    par_id: str | None = None

    @property
    def revocable(self) -> bool:
        """True if :func:`unifs.revoke` can end this URL's access before it expires."""
        return self.par_id is not None

    def __str__(self) -> str:
        return (
            f"<{self.kind} {self.method} {self.uri} until {self.expires_at.isoformat()} "
            "(url hidden: use .url)>"
        )


def seconds_until(moment: datetime) -> int:
    """Whole seconds from now until ``moment`` (at least 1): the lifetime to sign for."""
    return max(1, round((moment - datetime.now(timezone.utc)).total_seconds()))


# -- retries --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Retry each request up to ``attempts`` times in all, backing off exponentially with jitter.

    The n-th retry waits a random time up to ``min(max_delay, base_delay * 2**n)``, or what
    the server's ``Retry-After`` asks (at most ``max_retry_after`` seconds). The transfer
    engine (:mod:`unifs.transfer`) and the OCI filesystem both retry under it.
    """

    attempts: int = 6
    base_delay: float = 0.25
    max_delay: float = 10.0
    max_retry_after: float = 60.0

    def delay(self, retry: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        # full jitter: spreads clients that failed together (AWS architecture blog)
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**retry))
