"""Read any storage URI a user pastes into one :class:`StorageURI`.

``parse`` finds the provider that owns a URI's scheme (or, for ``https://`` URLs, its
host) and lets that provider read it; this module never branches on provider names.
``StorageURI.url`` is the canonical fsspec URL; ``StorageURI.format(style)`` spells the
same object in a provider's other dialects, and ``parse(u.format(style)) == u``.

Equality compares *which object* a URI names (provider, bucket, key, namespace, account).
Where to reach it (region, endpoint) and how (an OCI PAR token) ride along but do not
take part in ``==``: the same object read through two regional endpoints is one object.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from unifs.errors import URIError

if TYPE_CHECKING:
    from unifs.providers.base import Provider

__all__ = ["StorageURI", "normalize", "parse"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")


@dataclass(frozen=True)
class StorageURI:
    """One object or prefix in one store, however the user spelled it.

    ``key`` is the object key ("" for a bucket's root); a trailing ``/`` marks a prefix and
    is kept. For local and in-memory paths ``bucket`` is ``None`` and ``key`` is the path.
    """

    provider: str
    bucket: str | None
    key: str = ""
    namespace: str | None = None
    account: str | None = None
    region: str | None = field(default=None, compare=False)
    endpoint: str | None = field(default=None, compare=False)
    # An OCI pre-authenticated request token is a bearer secret: kept out of repr and ==.
    par: str | None = field(default=None, compare=False, repr=False)

    @property
    def _provider(self) -> Provider:
        from unifs.registry import get_provider

        return get_provider(self.provider)

    @property
    def url(self) -> str:
        """The canonical fsspec URL, e.g. ``oci://models@acme/llama/``."""
        return self._provider.format(self, "fsspec")

    @property
    def protocol(self) -> str:
        """The fsspec protocol that serves this URI (``s3``, ``gs``, ``az``, ``oci``, ...)."""
        return self._provider.fsspec_protocol

    @property
    def path(self) -> str:
        """The path the fsspec filesystem for ``protocol`` expects (no protocol prefix)."""
        return self._provider.fs_path(self)

    @property
    def is_prefix(self) -> bool:
        """True for a bucket root or a key ending in ``/``."""
        return self.key == "" or self.key.endswith("/")

    @property
    def styles(self) -> tuple[str, ...]:
        """The spellings ``format`` accepts for this provider."""
        return self._provider.styles

    def format(self, style: str = "fsspec") -> str:
        """Spell this URI in one of the provider's dialects (see ``styles``).

        ``"fsspec"`` is the canonical URL, ``"ome"`` the OCI model-agent form
        (``oci://n/{ns}/b/{bucket}/o/{key}``), ``"https"`` the provider's object URL.
        """
        return self._provider.format(self, style)

    def join(self, *parts: str) -> StorageURI:
        """Return the URI of ``parts`` below this prefix, joined with ``/``."""
        key = self.key
        for part in parts:
            part = part.lstrip("/")
            key = f"{key}/{part}" if key and not key.endswith("/") else key + part
        return replace(self, key=key)

    def __str__(self) -> str:
        return self.url


def parse(uri: str | os.PathLike[str] | StorageURI, *, account: str | None = None) -> StorageURI:
    """Read ``uri`` in any supported dialect; raise :class:`unifs.URIError` if it is malformed.

    ``account`` names the Azure storage account when the URI itself does not; with it,
    ``az://{account}/{container}/{key}`` is read as account-first.
    """
    if isinstance(uri, StorageURI):
        return uri
    from unifs.registry import provider_for_host, provider_for_scheme, schemes

    if isinstance(uri, os.PathLike):
        uri = os.fspath(uri)
    if not isinstance(uri, str):
        raise URIError(f"a URI must be a string or path, not {type(uri).__name__}")
    text = uri.strip()
    if not text:
        raise URIError("empty URI: give a path or a URI such as s3://bucket/key", uri=uri)
    match = _SCHEME.match(text)
    if match is None:
        if "://" in text or re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:/[^/]", text):
            raise URIError(
                f"{text!r} is not a URI unifs can read: a scheme is followed by '://', "
                "as in s3://bucket/key",
                uri=uri,
            )
        from unifs.registry import get_provider

        return get_provider("local").parse(text, account=account)
    scheme = match.group(1).lower()
    if scheme in ("http", "https"):
        provider = provider_for_host(text)
        if provider is None:
            raise URIError(
                f"{text!r} is not an object URL unifs recognizes. It reads the object URLs "
                "of AWS S3 (*.amazonaws.com), Google Cloud Storage (storage.googleapis.com), "
                "Azure Blob (*.blob.core.windows.net) and OCI "
                "(objectstorage.{region}.oraclecloud.com); for another S3-compatible store "
                "write s3://bucket/key and pass endpoint_url=...",
                uri=uri,
            )
        return provider.parse(text, account=account)
    provider = provider_for_scheme(scheme)
    if provider is None:
        raise URIError(
            f"unknown scheme {scheme + '://'!r} in {text!r}; unifs reads "
            + ", ".join(f"{s}://" for s in schemes())
            + " and the clouds' https object URLs",
            uri=uri,
        )
    return provider.parse(text, account=account)


def normalize(uri: str | os.PathLike[str] | StorageURI, *, account: str | None = None) -> str:
    """Return the canonical fsspec URL for ``uri`` (same as ``parse(uri).url``)."""
    return parse(uri, account=account).url
