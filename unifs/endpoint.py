"""One URI plus its auth block, parsed, validated and resolved once: an :class:`Endpoint`.

Every verb used to take ``(uri, auth, **storage_options)`` and parse, validate and resolve
them again, and build a filesystem each time. :func:`endpoint` is the one place that does
it; everything above this layer takes an :class:`Endpoint` (or anything ``endpoint``
accepts) and asks it::

    ep = unifs.endpoint("oci://n/acme/b/models/o/llama/", auth={"auth": "instance_principal"})
    ep.fs, ep.path              # the filesystem (built once, on first use) and its path
    ep.child("config.json")     # another key in the same store: nothing parsed again
    ep.check_reachable()        # the metadata service its auth mode needs answers, or fail

``endpoint(ep)`` returns ``ep`` itself, so a function that calls ``endpoint`` on what it
is given accepts either a URI or an endpoint. An endpoint is immutable and never shows a
secret: its ``repr`` masks the auth block's secrets and every secret-shaped value
(:mod:`unifs.redact`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from unifs import forksafe
from unifs.auth import AuthConfig, check_metadata_service
from unifs.callable_module import make_callable
from unifs.redact import install_log_filters, mask_secrets
from unifs.registry import get_provider, provider_for_scheme
from unifs.types import TARGETS, AuthLike, AuthMode, Capabilities, Resolved, URILike
from unifs.uri import StorageURI, parse

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from unifs.providers.base import Provider

__all__ = ["Endpoint", "EndpointLike", "endpoint"]

#: object_store's HTTP client settings (``ClientConfigKey``): obstore takes these apart from
#: the store's keys, as ``client_options``
_CLIENT_KEYS = frozenset(
    {
        "allow_http",
        "allow_invalid_certificates",
        "connect_timeout",
        "default_content_type",
        "http1_only",
        "http2_only",
        "pool_idle_timeout",
        "pool_max_idle_per_host",
        "proxy_url",
        "proxy_ca_certificate",
        "proxy_excludes",
        "timeout",
        "user_agent",
    }
)


class _Filesystem:
    """The one filesystem of a store and its options, built on first use and then shared
    by an endpoint and every :meth:`Endpoint.child` of it. A pickled copy (an endpoint sent
    to another process) starts empty and builds its own."""

    __slots__ = ("_fs", "_lock")

    def __init__(self) -> None:
        self._fs: AbstractFileSystem | None = None
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[type[_Filesystem], tuple[()]]:
        return (_Filesystem, ())

    def get(self, backend: Provider, options: Mapping[str, Any]) -> AbstractFileSystem:
        if self._fs is None:
            with self._lock:
                if self._fs is None:
                    # kept usable in forked children (DataLoader workers): see unifs.forksafe
                    self._fs = forksafe.track(backend.filesystem(**options))
        return self._fs


@dataclass(frozen=True, eq=False)
class Endpoint:
    """One object or prefix in one store, with the auth that reaches it, resolved.

    Made by :func:`endpoint`, never by hand. ``uri`` is the parsed URI, ``provider`` the
    store it names, ``auth`` the auth block (an :class:`unifs.AuthConfig`, or None for the
    backend's default credential chain), ``mode`` the auth mode it was validated to (None:
    the default chain), ``resolved`` the fsspec protocol, options and path that reach it.
    """

    uri: StorageURI
    provider: Provider
    auth: AuthConfig | None
    mode: AuthMode | None
    resolved: Resolved
    #: the caller's storage options, which win over what the URI and auth imply
    overrides: Mapping[str, Any] = field(default_factory=dict, repr=False)
    _filesystem: _Filesystem = field(default_factory=_Filesystem, repr=False)

    # -- where ---------------------------------------------------------------------------

    @property
    def path(self) -> str:
        """The path in :attr:`fs` (no protocol)."""
        return self.resolved.path

    @property
    def protocol(self) -> str:
        """The fsspec protocol that serves this endpoint (``s3`` for OCI's S3 route)."""
        return self.resolved.protocol

    @property
    def url(self) -> str:
        """The fsspec URL to give pandas or UPath together with :attr:`options`."""
        return self.resolved.url

    @property
    def options(self) -> dict[str, Any]:
        """The storage options of :attr:`fs`: from the URI, then auth, then the caller's."""
        return dict(self.resolved.options)

    @property
    def backend(self) -> Provider:
        """The provider whose filesystem serves :attr:`protocol` (usually :attr:`provider`;
        S3's for OCI reached through its S3 compatibility API)."""
        backend = provider_for_scheme(self.resolved.protocol)
        if backend is None:  # pragma: no cover - every provider resolves to a known protocol
            raise ValueError(f"no provider serves protocol {self.resolved.protocol!r}")
        return backend

    # -- what it is reached with ---------------------------------------------------------

    @cached_property
    def fs(self) -> AbstractFileSystem:
        """The fsspec filesystem, built on first use, shared with :meth:`child` endpoints and
        renewed in forked children (:mod:`unifs.forksafe`)."""
        return self._filesystem.get(self.backend, self.resolved.options)

    def child(self, key: str) -> Endpoint:
        """The endpoint of ``key`` below this prefix: same store, auth and options.

        ``key`` is relative (``"shard-0001.bin"``, ``"sub/dir/"``); nothing is parsed,
        validated or resolved again (an auth mode that fetches temporary credentials does
        not fetch more), and the child shares this endpoint's filesystem.
        """
        uri = self.uri.join(key)
        path = self.resolved.path
        if not path.endswith(self.uri.key):  # pragma: no cover - every provider's does
            raise ValueError(f"{self.provider.name}'s path {path!r} does not end in its key")
        resolved = replace(self.resolved, path=path[: len(path) - len(self.uri.key)] + uri.key)
        return replace(self, uri=uri, resolved=resolved)

    def with_options(self, options: Mapping[str, Any]) -> Endpoint:
        """This endpoint reached with the storage options ``options`` (a filesystem of its own)."""
        resolved = replace(self.resolved, options=dict(options))
        return replace(self, resolved=resolved, _filesystem=_Filesystem())

    def check_reachable(self) -> None:
        """Fail within seconds when the auth mode's metadata service is not there.

        Call it before work that will talk to the store: off the cloud the SDKs retry the
        metadata address for minutes in silence. Raises :class:`unifs.AuthError` naming the
        mode and the service; does nothing for modes that need none.
        """
        if self.mode is not None:
            check_metadata_service(self.provider, self.mode)

    def capabilities(self) -> Capabilities:
        """What the store can do with these credentials (see :func:`unifs.capabilities`)."""
        return self.backend.capabilities(self.fs)

    def storage_options(self, target: str = "fsspec") -> dict[str, Any]:
        """The options that reach this endpoint from another library (``target``).

        ``"fsspec"`` (fsspec, pandas, UPath), ``"object_store"`` (polars, deltalake: the
        Rust crate's keys, every value a string) or ``"obstore"`` (``{"config": ...,
        "client_options": ...}`` as ``obstore.store.from_url`` takes them). See
        :func:`unifs.storage_options`.
        """
        if target not in TARGETS:
            raise ValueError(
                f"target {target!r} is not one of {', '.join(map(repr, TARGETS))}: 'fsspec' "
                "for fsspec, pandas and UPath; 'object_store' for polars and deltalake; "
                "'obstore' for obstore.store.from_url"
            )
        if target == "fsspec":
            return self.options
        # the provider that serves the resolved protocol maps (OCI's S3 route goes to S3's)
        options = self.backend.object_store_options(
            self.resolved.options,
            mode=self.mode,
            params=self.auth.params if self.auth is not None else {},
            source=self.provider,
        )
        if target == "obstore":
            return {
                "config": {k: v for k, v in options.items() if k not in _CLIENT_KEYS},
                "client_options": {k: v for k, v in options.items() if k in _CLIENT_KEYS},
            }
        return options

    def __getstate__(self) -> dict[str, Any]:
        # the filesystem stays in this process: a copy builds its own on first use
        return {k: v for k, v in self.__dict__.items() if k != "fs"}

    # -- shown -----------------------------------------------------------------------------

    def __repr__(self) -> str:
        mode = self.mode.name if self.mode is not None else None
        # AuthConfig's repr masks by name; mask_secrets then catches secrets by shape
        # (a PAR token in the URL, a signature in an endpoint option)
        return mask_secrets(
            f"Endpoint(uri={self.uri.url!r}, provider={self.provider.name!r}, "
            f"mode={mode!r}, auth={self.auth!r}, resolved={self.resolved!r})"
        )

    def __str__(self) -> str:
        return mask_secrets(self.uri.url)


#: what :func:`endpoint` (and every verb that calls it) accepts
EndpointLike = URILike | Endpoint


def endpoint(uri: EndpointLike, *, auth: AuthLike = None, **storage_options: Any) -> Endpoint:
    """Parse ``uri``, validate ``auth`` against its provider and resolve both, once.

    ``uri`` is any dialect unifs reads (or a :class:`unifs.StorageURI`); ``auth`` an auth
    block (a mapping or :class:`unifs.AuthConfig`, see :mod:`unifs.auth`);
    ``storage_options`` go to the backend and win over what the URI and ``auth`` imply.
    Raises :class:`unifs.URIError` for a URI it cannot read and :class:`unifs.AuthError`
    for an invalid block. Given an :class:`Endpoint`, returns it unchanged.
    """
    if isinstance(uri, Endpoint):
        if auth is not None or storage_options:
            raise TypeError(
                "an Endpoint carries its auth and storage options already: pass the "
                "Endpoint alone, or build another with unifs.endpoint(uri, auth=..., ...)"
            )
        return uri
    # before any SDK call: building credentials (STS, token files) may log them at DEBUG
    install_log_filters()
    config = AuthConfig.coerce(auth)
    account = storage_options.get("account_name") or (
        config.get("account_name") if config else None
    )
    parsed = parse(uri, account=account)
    provider = get_provider(parsed.provider)
    mode = config.validate(provider) if config is not None else None
    params = config.params if config is not None else {}
    resolved = provider.resolve(parsed, mode, params, storage_options)
    return Endpoint(parsed, provider, config, mode, resolved, dict(storage_options))


make_callable(__name__)
