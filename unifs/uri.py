"""Read any storage URI a user pastes into one :class:`StorageURI`.

``parse`` finds the provider that owns a URI's scheme (or, for ``https://`` URLs, its
host) and lets that provider read it; this module never branches on provider names.
``StorageURI.url`` is the canonical fsspec URL; ``StorageURI.format(style)`` spells the
same object in a provider's other dialects, and ``parse(u.format(style)) == u`` as well
as ``parse(u.url) == u`` for every URI ``parse`` accepts: a shape that could be read two
ways is refused, never read as another object.

Equality compares *which object* a URI names (provider, bucket, key, namespace, account).
Where to reach it (region, endpoint) and how (an OCI PAR token) ride along but do not
take part in ``==``: the same object read through two regional endpoints is one object.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from unifs.errors import URIError
from unifs.registry import get_provider, provider_for_host, provider_for_scheme, schemes

if TYPE_CHECKING:
    from unifs.providers.base import Provider

__all__ = ["StorageURI", "join_key", "normalize", "parse"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
# "s3:/b/k", "3s://x", "my bucket://x": a scheme was meant (a path starting with "/", "."
# or a directory name does not match: its ':/' comes after a '/')
_LOOKS_LIKE_SCHEME = re.compile(r"^[^/]*:/")


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
        return replace(self, key=join_key(self.key, *parts))

    def __str__(self) -> str:
        return self.url


def join_key(key: str, *parts: str) -> str:
    """``parts`` below ``key``, joined with ``/`` (a leading ``/`` of a part is dropped)."""
    for part in parts:
        part = part.lstrip("/")
        key = f"{key}/{part}" if key and not key.endswith("/") else key + part
    return key


def parse(uri: str | os.PathLike[str] | StorageURI, *, account: str | None = None) -> StorageURI:
    """Read ``uri`` in any supported dialect; raise :class:`unifs.URIError` if it is malformed.

    ``account`` names the Azure storage account when the URI itself does not; with it,
    ``az://{account}/{container}/{key}`` is read as account-first.

    Whitespace around a string is dropped (what a paste leaves). What cannot be read back
    from its own canonical URL is refused rather than read as another object: control
    characters anywhere, a key ending in whitespace (``%20`` at the end of an https URL),
    and shapes a provider calls ambiguous (:class:`unifs.AmbiguousURIError`). Only
    :class:`unifs.UnifsError` subclasses leave ``parse``, whatever the text.
    """
    if isinstance(uri, StorageURI):
        return uri
    if isinstance(uri, os.PathLike):
        # a path object names exactly its path: nothing around it is paste residue
        text = uri = os.fspath(uri)
        if not isinstance(text, str):
            raise URIError(f"a URI must be text, not a {type(text).__name__} path")
    elif isinstance(uri, str):
        text = uri.strip()
    else:
        raise URIError(f"a URI must be a string or path, not {type(uri).__name__}")
    if not text:
        raise URIError("empty URI: give a path or a URI such as s3://bucket/key", uri=uri)
    _check_characters(text)
    match = _SCHEME.match(text)
    if match is None:
        if _LOOKS_LIKE_SCHEME.match(text):
            raise URIError(
                f"{text!r} is not a URI unifs can read: a scheme is followed by '://', "
                "as in s3://bucket/key",
                uri=uri,
            )
        return _checked(get_provider("local").parse(text, account=account), text)
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
        return _checked(provider.parse(text, account=account), text)
    provider = provider_for_scheme(scheme)
    if provider is None:
        raise URIError(
            f"unknown scheme {scheme + '://'!r} in {text!r}; unifs reads "
            + ", ".join(f"{s}://" for s in schemes())
            + " and the clouds' https object URLs",
            uri=uri,
        )
    return _checked(provider.parse(text, account=account), text)


def _check_characters(text: str, *, key: str | None = None) -> None:
    """Refuse text no key can hold: control characters (which ``urlsplit`` would silently
    drop, so the URL would name another object) and lone surrogates (not UTF-8).

    ``key``, when given, is the decoded key of ``text`` to check instead.
    """
    where = f"the key {key!r} of {text!r}" if key is not None else repr(text)
    for position, char in enumerate(key if key is not None else text):
        category = unicodedata.category(char)
        if category == "Cc":
            raise URIError(
                f"{where} holds the control character U+{ord(char):04X} at position "
                f"{position}; unifs reads no URI with control characters (a key holding one "
                "cannot be written back unambiguously). Remove it, or rename the object.",
                uri=text,
            )
        if category == "Cs":
            raise URIError(
                f"{where} holds the lone surrogate U+{ord(char):04X} at position {position}, "
                "which is not text any store accepts: keys are UTF-8",
                uri=text,
            )


def _checked(uri: StorageURI, text: str) -> StorageURI:
    """Refuse a key its own canonical URL could not carry back (see ``parse``)."""
    _check_characters(text, key=uri.key)
    if uri.key[-1:].isspace():
        raise URIError(
            f"{text!r} names the key {uri.key!r}, which ends in whitespace: its URL "
            f"{uri.url!r} would lose it when read back, as pasted URIs are stripped. unifs "
            "addresses no key that ends in whitespace; rename the object.",
            uri=text,
        )
    return uri


def normalize(uri: str | os.PathLike[str] | StorageURI, *, account: str | None = None) -> str:
    """Return the canonical fsspec URL for ``uri`` (same as ``parse(uri).url``)."""
    return parse(uri, account=account).url
