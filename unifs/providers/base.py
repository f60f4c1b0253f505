"""What every provider module supplies: the contract concept modules program against."""

from __future__ import annotations

import base64
import importlib.util
import os
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import SplitResult, quote, unquote, urlsplit

from unifs.errors import (
    MissingDependencyError,
    PresignError,
    UnsupportedError,
    URIError,
    causes,
    http_status,
)
from unifs.redact import install_log_filters
from unifs.registry import get_provider
from unifs.types import AuthMode, Capabilities, Param, PartLimits, PresignedURL, Resolved
from unifs.uri import StorageURI

if TYPE_CHECKING:
    from datetime import datetime

    from fsspec import AbstractFileSystem

__all__ = [
    "Provider",
    "Resolved",
    "b64_to_hex",
    "decode_key",
    "encode_key",
    "error_detail",
    "https_path",
    "merge_options",
    "object_store_endpoint",
    "plain_url",
    "reject_query",
    "split_https",
    "split_scheme_uri",
]


def merge_options(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge storage options: ``override`` wins; nested dicts (client_kwargs, ...) merge."""
    merged = dict(base)
    for name, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(name), Mapping):
            merged[name] = merge_options(merged[name], value)
        else:
            merged[name] = value
    return merged


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

    def known_regions(self) -> tuple[str, ...]:
        """The region names this provider's SDK knows (empty: no table to check against).

        The CLI offers the nearest one for a mistyped ``-a region=``; a region missing from
        the table is not an error by itself (tables lag new regions).
        """
        return ()

    def make_bucket(self, fs: Any, path: str) -> None:
        """Create the bucket (or local directory) ``path`` names, with ``fs``'s settings.

        Raises FileExistsError where it is already there. Providers override this where the
        backend's own ``mkdir`` sends what the store refuses.
        """
        fs.mkdir(path, create_parents=True)

    def checksum(self, info: dict[str, Any]) -> tuple[str, str] | None:
        """The whole-object checksum in an fsspec ``info`` dict as ``(kind, hex)``, if any.

        None when the store reports none that a local file can be checked against (for
        example the ETag of a multipart upload): callers then compare sizes only.
        """
        return None

    def checksums(self, info: dict[str, Any]) -> list[tuple[str, str]]:
        """Every whole-object checksum in ``info`` as ``(kind, hex)``; any one proves a file.

        Callers pick the cheapest to compute (CRC32C runs ~20x faster than MD5).
        """
        found = self.checksum(info)
        return [found] if found is not None else []

    def stored_checksums(self, fs: Any, path: str) -> Any:
        """What the store's additional checksums of ``path`` add to its ``info`` dict.

        For stores whose listings leave them out (S3 answers them on ``HEAD`` with
        ``x-amz-checksum-mode: ENABLED``): an awaitable (async backend) or a callable (sync)
        giving the keys to merge into ``info``, which :meth:`checksums` then reads. None:
        ``info`` already holds every checksum the store keeps.
        """
        return None

    def multipart_checksum(self, info: dict[str, Any]) -> tuple[str, int] | None:
        """The digest of a multipart object as ``(hex MD5 of the part MD5s, part count)``, if any.

        A local file is checked against it by hashing each part on its own; the part sizes
        come from :meth:`part_sizes` where the store can say, else :mod:`unifs.transfer`
        infers them from the size and the count.
        """
        return None

    def part_sizes(self, fs: Any, path: str, info: dict[str, Any]) -> Any:
        """The size of each part of the multipart object ``path``, as the store records them.

        Returns an awaitable for an async backend, a callable taking no arguments (run in a
        worker thread) for a synchronous one, or the list itself when ``info`` already says.
        None: the store cannot tell, and the layout has to be inferred.
        """
        return None

    def version_pin(self, info: dict[str, Any]) -> str | None:
        """What names this version of the object for pinned reads: an ETag, a generation.

        Passed back as ``pin`` to :meth:`stream_range` and :meth:`read_range`, which then read
        that version or raise :class:`unifs.errors.ObjectChangedError`. None: reads cannot be
        pinned (the whole-object checksum is then what catches a replaced object).
        """
        return None

    def stream_range(
        self, fs: Any, path: str, start: int, end: int, *, pin: str | None = None
    ) -> Any:
        """Stream bytes ``[start, end)`` of ``path`` in chunks; None lets callers use ``cat_file``.

        Returns an async iterator for an async backend (consumed on the filesystem's loop) or
        a generator for a synchronous one (consumed in a worker thread). Creating it does no
        I/O. Streaming keeps a ranged read's memory to one chunk instead of the whole range.
        With ``pin`` (from :meth:`version_pin`) every request names that version, and a
        replaced object raises :class:`unifs.errors.ObjectChangedError`.
        """
        return None

    def read_range(
        self, fs: Any, path: str, start: int, end: int, *, pin: str | None = None
    ) -> Any:
        """Read bytes ``[start, end)`` of ``path`` whole, pinned to ``pin`` (non-streamed reads).

        Returns an awaitable for an async backend or a callable taking no arguments for a
        synchronous one (run in a worker thread), each giving the bytes; None lets callers
        use ``cat_file`` (unpinned). A replaced object raises
        :class:`unifs.errors.ObjectChangedError`.
        """
        return None

    #: whether paths live on this machine's disk (transfers then use get/put, not streaming)
    local_disk: ClassVar[bool] = False

    def start_parts(self, fs: Any, path: str, *, part_size: int | None = None) -> Any:
        """Begin an upload to ``path`` whose parts any process may send: its upload id.

        With :meth:`put_part`, :meth:`finish_parts` and :meth:`cancel_parts` this lets the
        parts of one object come from different machines (``unifs.dask`` splits a large file
        over workers). Each returns an awaitable (async backend) or a callable (sync) giving
        its result; ``start_parts`` returns None where the store has no such uploads.
        ``part_size`` (every part but a shorter last one) is kept with the object where the
        store cannot report its layout, so its multipart digest can be checked later.
        """
        return None

    def put_part(self, fs: Any, path: str, upload: str, number: int, data: bytes) -> Any:
        """Send part ``number`` (from 1) of ``upload``; gives what :meth:`finish_parts` needs."""
        raise NotImplementedError(f"{self.name} has no part uploads")

    def finish_parts(
        self, fs: Any, path: str, upload: str, parts: list[str], *, md5: bytes | None = None
    ) -> Any:
        """Make the object at ``path`` from ``parts`` (:meth:`put_part`'s results, in order).

        ``md5``, the whole object's binary MD5 where the caller has it, is kept with the
        object by stores that keep one only if told it on commit (:attr:`md5_before_put`).
        """
        raise NotImplementedError(f"{self.name} has no part uploads")

    def cancel_parts(self, fs: Any, path: str, upload: str) -> Any:
        """Throw ``upload`` and its parts away (None where the store drops them itself)."""
        return None

    def upload_store(self, fs: Any) -> str | None:
        """Where ``fs``'s part uploads live, as unifs's upload ledger names it; no secrets.

        The provider's name and the service endpoint (no credentials, query or token), so a
        rerun or ``unifs cleanup`` finds the uploads it recorded for this store. None where
        part uploads are not recorded: the store has none, they cannot be aborted one by
        one, or naming the store would take a secret (an OCI PAR).
        """
        return None

    def list_uploads(self, fs: Any, prefix: str) -> Any:
        """The unfinished part uploads below ``prefix`` (a filesystem path): ``(path,
        upload id)`` pairs, whoever began them; None where the store cannot list them.

        An awaitable (async backend) or a callable (sync), like :meth:`start_parts`.
        """
        return None

    def abort_uploads(self, fs: Any, path: str, *, before: datetime) -> Any:
        """Abort the unfinished multipart uploads to ``path`` that began before ``before``.

        What a killed or failed put left behind (uploaded parts are stored, and billed,
        until aborted). Returns an awaitable (async backend) or a callable (sync) giving the
        number aborted, or None where the store keeps no such uploads that can be listed.
        """
        return None

    #: sizes the store accepts for the parts of one upload (the engine fits its parts to them)
    part_limits: ClassVar[PartLimits] = PartLimits()

    #: whether :meth:`put_file_options` needs the file's MD5 before the upload starts
    md5_before_put: ClassVar[bool] = False

    #: longest object key the store takes, in UTF-8 bytes (None: no limit)
    max_key_bytes: ClassVar[int | None] = None
    #: whether keys holding control characters or ending in '/' are refused (object stores:
    #: their SDKs mangle them, and the request fails with an unrelated error)
    plain_keys_only: ClassVar[bool] = False

    def refused_key_reason(self, key: str) -> str | None:
        """Why the store would refuse (or silently change) the object key ``key``; None if not.

        Asked of the destination for every key before a transfer starts, so that such keys
        are listed up front instead of failing one by one with the store's words.
        """
        if self.max_key_bytes is not None and len(key.encode("utf-8")) > self.max_key_bytes:
            size = len(key.encode("utf-8"))
            return f"{size} bytes in UTF-8: {self.name} keys are at most {self.max_key_bytes}"
        if not self.plain_keys_only:
            return None
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in key):
            return "a control character (newline, tab, ...): rename the object"
        if key.endswith("/"):
            return f"ends in '/': {self.name} takes that for a directory and drops the slash"
        return None

    def one_try_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """``options`` with the SDK's own retry loop turned down to one try per call.

        The transfer engine retries every request under its :class:`RetryPolicy`; an SDK
        that retried too would multiply the attempts (and hold a persistent failure for
        minutes behind its own back-off). Providers map this to their SDK's knob.
        """
        return dict(options)

    def put_file_options(
        self, fs: Any, *, part_size: int, md5: bytes | None = None
    ) -> dict[str, Any]:
        """Extra ``put_file`` arguments so that the stored object keeps a checksum to verify.

        ``md5`` is the whole file's binary MD5 when :attr:`md5_before_put` asks for it.
        """
        return {}

    def pipe_file_options(self, fs: Any, data: bytes) -> dict[str, Any]:
        """Extra ``pipe_file`` arguments for ``data`` sent in one request, so that the stored
        object keeps the checksum a later read verifies at least cost (S3: its CRC64NVME)."""
        return {}

    # -- auth -------------------------------------------------------------------------------

    #: auth modes by name (see unifs.auth.AuthMode); empty: only the default chain
    auth_modes: ClassVar[Mapping[str, AuthMode]] = {}
    #: parameters every mode (and no mode) accepts, e.g. region, endpoint
    auth_params: ClassVar[Mapping[str, Param]] = {}

    def param(self, name: str, mode: AuthMode | None = None) -> Param | None:
        """The declaration of parameter ``name`` (common, or of ``mode``, or of any mode)."""
        if name in self.auth_params:
            return self.auth_params[name]
        modes = [mode] if mode is not None else list(self.auth_modes.values())
        for m in modes:
            for param in m.extra_params:
                if param.name == name:
                    return param
        return None

    def value(self, name: str, params: Mapping[str, Any], mode: AuthMode | None = None) -> Any:
        """A parameter's value from the auth block, else from its environment variable."""
        if name in params:
            return params[name]
        param = self.param(name, mode)
        if param is not None and param.env:
            return os.environ.get(param.env)
        return None

    def implied_mode(self, params: Mapping[str, Any]) -> AuthMode | None:
        """The mode an auth block without ``auth`` means, from its ``params`` (None: the
        provider's default chain), e.g. OCI's ``config_path`` alone means ``user_principal``."""
        return None

    def metadata_service(self, mode: AuthMode) -> tuple[str, str] | None:
        """``(what it is, URL)`` of the cloud metadata service ``mode`` needs, or None.

        The URL honours the SDK's own override (an environment variable), so that a probe
        goes where the SDK would. Modes that read files or the environment return None.
        """
        return None

    def auth_options(
        self, uri: StorageURI, mode: AuthMode | None, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Storage options for ``mode`` (None: the default chain) with validated ``params``."""
        return {}

    def object_store_options(
        self,
        options: Mapping[str, Any],
        *,
        mode: AuthMode | None,
        params: Mapping[str, Any],
        source: Provider,
    ) -> dict[str, str]:
        """The Rust object_store crate's keys (polars, obstore, deltalake) for what the fsspec
        ``options`` of this provider's backend say; ``mode`` and ``params`` are the auth block
        as given to ``source``, the URI's provider (another one for a compatibility route)."""
        raise UnsupportedError(
            f"{source.name} has no mapping to object_store options (polars, obstore, "
            "deltalake); read it through fsspec: unifs.storage_options(uri, auth)"
        )

    def resolve(
        self,
        uri: StorageURI,
        mode: AuthMode | None,
        params: Mapping[str, Any],
        options: Mapping[str, Any],
    ) -> Resolved:
        """Where ``uri`` is reached: URI-implied options, then auth, then the caller's win.

        The path ends with ``uri.key``: :meth:`unifs.Endpoint.child` makes the paths of
        other keys in the same store from it, without resolving again.
        """
        base = merge_options(self.uri_storage_options(uri), self.auth_options(uri, mode, params))
        return Resolved(self.fsspec_protocol, merge_options(base, options), self.fs_path(uri))

    # -- capabilities -----------------------------------------------------------------------

    def capabilities(self, fs: AbstractFileSystem) -> Capabilities:
        """What ``fs`` (this provider's backend, with its credentials) can do. No I/O."""
        return self._capabilities(fs)

    def _capabilities(self, fs: AbstractFileSystem, **fields: Any) -> Capabilities:
        """``Capabilities`` for ``fs`` with ``fields``; what ``fs`` itself says is filled in:
        the provider, whether it is async, whether it was opened version-aware."""
        fields.setdefault("versioning", bool(getattr(fs, "version_aware", False)))
        return Capabilities(
            provider=self.name, async_impl=bool(getattr(fs, "async_impl", False)), **fields
        )

    def matrix_filesystems(self) -> list[tuple[str, AbstractFileSystem]]:
        """Filesystems with typical, throwaway credentials, for the documented matrix."""
        return []

    # -- presigning -------------------------------------------------------------------------

    def presign(
        self,
        fs: AbstractFileSystem,
        path: str,
        uri: StorageURI,
        *,
        method: str,
        expires_at: datetime,
        content_type: str | None,
        access: str | None,
    ) -> PresignedURL:
        """A URL granting ``method`` on ``path`` until ``expires_at`` (checked by the caller)."""
        raise PresignError(f"{self.name} has no presigned URLs")

    def revoke(self, fs: AbstractFileSystem, signed: PresignedURL) -> bool:
        """Delete the server-side resource behind ``signed``; False where none exists."""
        return False

    def list_presigned(self, fs: AbstractFileSystem, path: str) -> list[dict[str, Any]]:
        """The live presigned accesses under ``path``, where the store keeps them."""
        raise PresignError(
            f"{self.name} keeps no record of presigned URLs: they live in the URL alone"
        )

    # -- errors (see unifs.commands.errors) ------------------------------------------------

    def explain_error(self, exc: BaseException, *, uri: str) -> str | None:
        """One line saying what was wrong and how to fix it, if ``exc`` is this provider's SDK's.

        ``exc`` is one exception of a failure's cause chain (the caller walks the chain and
        asks every provider about each); ``uri`` is what the failing command was given, for
        a message about something that does not exist. None: not an error of this
        provider's SDK, or not one with advice to give.

        An SDK that was never imported raised nothing, so an implementation looks its
        exception classes up in ``sys.modules`` and returns None when they are absent: a
        check imports no SDK, and works with only some extras installed. The line may
        quote the SDK's message (:func:`error_detail`); the caller masks secrets in it.
        """
        return None

    # -- fork safety (see unifs.forksafe) ---------------------------------------------------

    #: attributes of this provider's filesystem that hold per-process clients, sessions or
    #: tasks: a forked child drops them (set to None) and the backend builds new ones on use
    per_process_attributes: ClassVar[tuple[str, ...]] = ()

    def forget_clients(self, fs: AbstractFileSystem) -> list[Any]:
        """In a forked child: make ``fs`` build new clients; return what it held before.

        The returned objects belong to the parent (their sockets and loop are the parent's):
        the caller keeps them alive and never closes them, so nothing reaches the parent's
        connections. Runs in the child right after ``fork``, so it does no I/O.
        """
        dropped = []
        for name in self.per_process_attributes:
            value = getattr(fs, name, None)
            if value is not None:
                dropped.append(value)
                setattr(fs, name, None)
        return dropped

    def forget_file_clients(self, f: Any) -> list[Any]:
        """In a forked child, after :meth:`forget_clients` of ``f.fs``: the same for an open
        file that keeps clients of its own. Returns what it held before."""
        return []

    def after_fork(self) -> None:
        """In a forked child: reset the backend's module-level per-process state (worker
        threads and their locks), once per process before any filesystem is renewed."""
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
        # the backend is imported by now, and its clients make their loggers while it is
        # built: cover both (idempotent, a walk over the logger table)
        install_log_filters()
        fs = fsspec.filesystem(self.fsspec_protocol, **storage_options)
        install_log_filters()
        return fs

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        # one provider object per name in every process: a pickled one is the registry's
        return (get_provider, (self.name,))


def error_detail(exc: BaseException, *, limit: int = 200) -> str:
    """``exc``'s message on one line and at most ``limit`` characters, to quote in advice."""
    return " ".join(str(exc).split())[:limit]


def split_scheme_uri(text: str) -> tuple[str, str, str]:
    """Split ``scheme://first/rest`` into (scheme, first, rest); rest keeps its slashes."""
    scheme, _, remainder = text.partition("://")
    first, _, rest = remainder.partition("/")
    return scheme.lower(), first, rest


def split_https(url: str) -> SplitResult:
    """``urlsplit`` with clear errors for a URL it cannot split, with no host, a bad port,
    or a user name or password before the host (object URLs carry none)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise URIError(f"{url!r} is not a URL unifs can read: {exc}", uri=url) from None
    if not parts.hostname:
        raise URIError(f"{url!r} has no host", uri=url)
    if "@" in parts.netloc:
        raise URIError(
            f"{url!r} has a user name or password before the host, which no object URL "
            "carries: remove everything from '//' to '@', and pass credentials with auth=...",
            uri=url,
        )
    return parts


def https_path(parts: SplitResult) -> str:
    """The path of an https URL without its leading ``/`` (one only: ``//k`` is key ``/k``)."""
    path = parts.path
    return path[1:] if path.startswith("/") else path


def decode_key(path: str) -> str:
    """Percent-decode a key taken from an https URL path; it must decode to UTF-8 text."""
    try:
        return unquote(path, errors="strict")
    except UnicodeDecodeError:
        raise URIError(
            f"the key {path!r} does not percent-decode to UTF-8 text, which every object key "
            "is: check the URL's %-escapes",
            uri=path,
        ) from None


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


def object_store_endpoint(endpoint: str | None) -> dict[str, str]:
    """object_store refuses plain-http endpoints (local servers) unless told ``allow_http``."""
    return {"allow_http": "true"} if endpoint and endpoint.startswith("http://") else {}


def b64_to_hex(value: str) -> str:
    """Turn a base64 digest (as GCS, Azure and OCI report MD5s) into hex."""
    return base64.b64decode(value).hex()


def precondition_failed(exc: BaseException) -> bool:
    """True if ``exc`` (or an error it was raised from) is an HTTP 412 Precondition Failed."""
    return any(http_status(cause) == 412 for cause in causes(exc))


#: aiohttp pauses a socket once twice this much is queued (its default, 64 KiB, pauses and
#: resumes reading several times per MiB on a fast link); 512 KiB queued and the engine's
#: 512 KiB piece are the 1 MiB of budget a streamed request holds
STREAM_BUFFER = 1 << 18


async def iter_body(content: Any) -> AsyncIterator[bytes]:
    """Yield an aiohttp response body's bytes as they arrive, each piece as aiohttp got it.

    ``read(n)`` joins the pieces queued so far into one new bytes object (a copy of every
    byte); ``readchunk()`` hands each over as is, and the engine writes them with one
    ``pwritev`` without joining either.
    """
    content.set_read_chunk_size(STREAM_BUFFER)
    while True:
        chunk, end_of_http_chunk = await content.readchunk()
        if chunk:
            yield chunk
        elif not end_of_http_chunk:
            return


def plain_url(url: str) -> str:
    """``url`` without user info, query or fragment: an endpoint as a record may keep it."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return url.split("?", 1)[0].split("#", 1)[0]
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    return SplitResult(parts.scheme, host, parts.path.rstrip("/"), "", "").geturl()
