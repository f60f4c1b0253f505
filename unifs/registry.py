"""The table of storage providers unifs knows, loaded lazily.

Each provider is one module under ``unifs.providers`` holding everything specific to one
store: its URI dialects, fsspec protocol, and (as they grow) auth, capabilities and
presigning. Concept modules ask this registry for a provider and never test provider
names themselves.

Adding a store means writing one provider class and registering it, either in code::

    unifs.registry.register_provider("mystore", "mypkg.unifs_provider:MyStoreProvider")

or, from another distribution, with an entry point::

    [project.entry-points."unifs.providers"]
    mystore = "mypkg.unifs_provider:MyStoreProvider"

Provider modules import no cloud SDK at import time, so loading the table is cheap.
"""

from __future__ import annotations

import importlib
import types
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from unifs.providers.base import Provider

__all__ = [
    "get_provider",
    "known_providers",
    "provider_for_filesystem",
    "provider_for_host",
    "provider_for_scheme",
    "providers",
    "register_provider",
    "schemes",
]

_ENTRY_POINT_GROUP = "unifs.providers"

_known: dict[str, str] = {
    "oci": "unifs.providers.oci:OCIProvider",
    "s3": "unifs.providers.s3:S3Provider",
    "gcs": "unifs.providers.gcs:GCSProvider",
    "azure": "unifs.providers.azure:AzureProvider",
    "local": "unifs.providers.local:LocalProvider",
    "memory": "unifs.providers.local:MemoryProvider",
}
#: provider name -> "module:Class", read-only view of the table.
known_providers: Mapping[str, str] = types.MappingProxyType(_known)

_loaded: dict[str, Provider] = {}
_entry_points_read = False


def register_provider(name: str, target: str, *, clobber: bool = False) -> None:
    """Register a provider class by its ``"module:Class"`` path under ``name``."""
    if name in _known and _known[name] != target and not clobber:
        raise ValueError(
            f"a provider named {name!r} is registered already ({_known[name]}); "
            "pass clobber=True to replace it"
        )
    _known[name] = target
    _loaded.pop(name, None)
    _scheme_table.cache_clear()


def _read_entry_points() -> None:
    global _entry_points_read
    if _entry_points_read:
        return
    _entry_points_read = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=_ENTRY_POINT_GROUP):
        _known.setdefault(ep.name, ep.value)


def get_provider(name: str) -> Provider:
    """Return the provider object registered as ``name`` (``"s3"``, ``"oci"``, ...)."""
    provider = _loaded.get(name)
    if provider is not None:
        return provider
    _read_entry_points()
    if name not in _known:
        raise KeyError(f"no provider named {name!r}; known: {', '.join(sorted(_known))}")
    module_name, _, attr = _known[name].partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    provider = _loaded[name] = cls()
    return provider


def providers() -> list[Provider]:
    """Every registered provider, loading them as needed."""
    _read_entry_points()
    return [get_provider(name) for name in list(_known)]


@lru_cache(maxsize=1)
def _scheme_table() -> dict[str, Provider]:
    table: dict[str, Provider] = {}
    for provider in providers():
        for scheme in provider.schemes:
            table.setdefault(scheme, provider)
    return table


def schemes() -> list[str]:
    """Every URI scheme some provider reads (``s3``, ``gs``, ``oci``, ...)."""
    return sorted(_scheme_table())


def provider_for_scheme(scheme: str) -> Provider | None:
    """The provider that reads ``scheme://`` URIs, or None."""
    return _scheme_table().get(scheme.lower())


def provider_for_host(url: str) -> Provider | None:
    """The provider whose https object URLs look like ``url``, or None."""
    for provider in providers():
        if provider.owns_https(url):
            return provider
    return None


def provider_for_filesystem(fs: object) -> Provider | None:
    """The provider whose backend ``fs`` is (by its fsspec protocols), or None."""
    protocols = getattr(fs, "protocol", ())
    for protocol in (protocols,) if isinstance(protocols, str) else protocols:
        provider = provider_for_scheme(protocol)
        if provider is not None:
            return provider
    return None
