"""What every provider module supplies: the contract concept modules program against."""

from __future__ import annotations

import base64
import importlib.util
import re
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import SplitResult, quote, unquote, urlsplit

from unifs.errors import MissingDependencyError, UnsupportedError, URIError
from unifs.uri import StorageURI

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = [
    "Provider",
    "b64_to_hex",
    "decode_key",
    "encode_key",
    "reject_query",
    "split_https",
    "split_scheme_uri",
]


class Provider(ABC):
    """One store: its URI dialects, its fsspec backend, and what is particular to it.

    Subclasses declare their traits as class attributes and implement ``parse`` and the
    ``_format_{style}`` methods for each style they list.
    """

    #: registry name, also ``StorageURI.provider``
    name: ClassVar[str]
    #: URI schemes this provider reads (lower case, without ``://``)
    schemes: ClassVar[tuple[str, ...]]
    #: the fsspec protocol its filesystem registers
    fsspec_protocol: ClassVar[str]
    #: spellings ``format`` knows; "fsspec" first
    styles: ClassVar[tuple[str, ...]] = ("fsspec",)
    #: pip extra that installs the backend (``pip install unifs[extra]``), None if built in
    extra: ClassVar[str | None] = None
    #: importable modules the backend needs
    requires: ClassVar[tuple[str, ...]] = ()
    #: what a valid bucket name looks like, and the rule in words for error messages
    bucket_pattern: ClassVar[re.Pattern[str]] = re.compile(r"^[^/\s]+$")
    bucket_rule: ClassVar[str] = "a bucket name without '/' or spaces"
    #: the word this provider's users say for a bucket
    bucket_word: ClassVar[str] = "bucket"

    # -- URIs -------------------------------------------------------------------------------

    def owns_https(self, url: str) -> bool:
        """True if ``url`` is an https object URL of this provider."""
        return False

    @abstractmethod
    def parse(self, text: str, *, account: str | None = None) -> StorageURI:
        """Read ``text``, a URI with one of ``schemes`` or an https URL this provider owns."""

    def format(self, uri: StorageURI, style: str) -> str:
        """Spell ``uri`` in ``style``; raise UnsupportedError for a style the provider lacks."""
        if style not in self.styles:
            raise UnsupportedError(
                f"{self.name} URIs have no {style!r} spelling; choose one of "
                + ", ".join(repr(s) for s in self.styles)
            )
        formatter = getattr(self, f"_format_{style}")
        result: str = formatter(uri)
        return result

    def fs_path(self, uri: StorageURI) -> str:
        """The path the fsspec backend expects for ``uri`` (no protocol)."""
        return f"{uri.bucket}/{uri.key}"

    def uri_storage_options(self, uri: StorageURI) -> dict[str, Any]:
        """Storage options implied by the URI itself (region, endpoint, account)."""
        return {}

    def check_bucket(self, bucket: str, text: str) -> str:
        """Return ``bucket`` if it is a valid name, else raise a URIError saying the rule."""
        if not bucket:
            raise URIError(f"{text!r} names no {self.bucket_word}: write {self.example}", uri=text)
        if not self.bucket_pattern.match(bucket):
            raise URIError(
                f"{bucket!r} in {text!r} is not a valid {self.name} {self.bucket_word} name "
                f"({self.bucket_rule}); e.g. {self.example}",
                uri=text,
            )
        return bucket

    @property
    def example(self) -> str:
        """A correct URI for this provider, shown in error messages."""
        return f"{self.schemes[0]}://my-{self.bucket_word}/path/to/key"

    def checksum(self, info: dict[str, Any]) -> tuple[str, str] | None:
        """The whole-object checksum in an fsspec ``info`` dict as ``(kind, hex)``, if any.

        None when the store reports none that a local file can be checked against (for
        example the ETag of a multipart upload): callers then compare sizes only.
        """
        return None

    # -- filesystems ------------------------------------------------------------------------

    def ensure_installed(self) -> None:
        """Raise MissingDependencyError naming the extra if the backend is not installed."""
        for module in self.requires:
            if importlib.util.find_spec(module) is None:
                raise MissingDependencyError(self.name, self.extra or self.name, module)

    def filesystem(self, **storage_options: Any) -> AbstractFileSystem:
        """An fsspec filesystem for this provider built from ``storage_options``."""
        import fsspec

        self.ensure_installed()
        return fsspec.filesystem(self.fsspec_protocol, **storage_options)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def split_scheme_uri(text: str) -> tuple[str, str, str]:
    """Split ``scheme://first/rest`` into (scheme, first, rest); rest keeps its slashes."""
    scheme, _, remainder = text.partition("://")
    first, _, rest = remainder.partition("/")
    return scheme.lower(), first, rest


def split_https(url: str) -> SplitResult:
    """``urlsplit`` with the host lower-cased and a clear error for a URL with no host."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise URIError(f"{url!r} has no host", uri=url)
    return parts


def decode_key(path: str) -> str:
    """Percent-decode a key taken from an https URL path."""
    return unquote(path)


def encode_key(key: str) -> str:
    """Percent-encode a key for an https URL path, keeping ``/`` as the separator."""
    return quote(key, safe="/~")


def reject_query(parts: SplitResult, url: str) -> None:
    """Refuse an object URL that carries a query string or fragment (a signature, say)."""
    if parts.query or parts.fragment:
        raise URIError(
            f"{url!r} carries a query string or fragment, which is not part of an object's "
            "address. If it is a presigned URL, read it as a plain https URL "
            "(fsspec.open(url)); otherwise remove everything from '?' on.",
            uri=url,
        )


def b64_to_hex(value: str) -> str:
    """Turn a base64 digest (as GCS, Azure and OCI report MD5s) into hex."""
    return base64.b64decode(value).hex()
