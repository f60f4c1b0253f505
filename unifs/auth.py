"""Turn a small auth block into each backend's ``storage_options``.

Model platforms describe storage access as a URI plus a parameter block, the shape OME's
model agent uses::

    storageUri: oci://n/mytenancy/b/models/o/llama
    parameters: {auth: instance_principal, region: us-ashburn-1, compartment_id: ocid1...}

:class:`AuthConfig` holds such a block (immutable; secrets masked in ``repr``) and
:meth:`AuthConfig.validate` checks it against a provider's declarations
(``Provider.auth_modes`` and ``Provider.auth_params``, made of :class:`unifs.types.AuthMode`
and :class:`unifs.types.Param`); this module never asks which provider it talks to.
:func:`unifs.endpoint` validates a block once and asks the URI's provider to turn it into
what s3fs, gcsfs, adlfs or ocifs take; :func:`unifs.storage_options` returns that. Without
``auth``, backends use their standard credential chain.

Secrets (keys, tokens, client secrets, SAS, private keys) never appear in ``repr``, ``str``,
exception messages or logs: errors name parameters, never their values.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from unifs.errors import AuthError
from unifs.redact import is_secret, mask
from unifs.registry import providers
from unifs.types import TARGETS, AuthLike, AuthMode, Param

if TYPE_CHECKING:
    from unifs.providers.base import Provider

__all__ = [
    "TARGETS",
    "AuthConfig",
    "AuthError",
    "AuthMode",
    "Param",
    "auth_table",
    "check_metadata_service",
    "is_secret",
    "mask",
]


def __getattr__(name: str) -> Any:
    # ``unifs.auth.storage_options`` was defined here; it resolves a URI, so it now lives
    # above the endpoint layer (unifs.filesystem), and this old name is loaded on use
    if name == "storage_options":
        from unifs.filesystem import storage_options

        return storage_options
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _snake(name: str) -> str:
    # the model-agent world writes compartmentId as often as compartment_id
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


class AuthConfig(Mapping[str, Any]):
    """An immutable auth block: ``auth`` (the mode) plus its parameters.

    ``AuthConfig({"auth": "instance_principal", "region": "us-ashburn-1"})`` or
    ``AuthConfig(auth="access_key", access_key_id=..., secret_access_key=...)``. Keys may be
    camelCase (``compartmentId``); ``None`` values are dropped. Any plain mapping is accepted
    wherever an AuthConfig is. Which parameters a mode needs is checked against the URI's
    provider by :func:`storage_options` (or :meth:`validate`).
    """

    __slots__ = ("_data",)
    _data: Mapping[str, Any]

    def __init__(self, config: Mapping[str, Any] | None = None, /, **params: Any) -> None:
        if config is not None and not isinstance(config, Mapping):
            raise AuthError(
                f"an auth block is a mapping such as {{'auth': 'access_key', ...}}, "
                f"not {type(config).__name__}"
            )
        data: dict[str, Any] = {}
        for key, value in {**(config or {}), **params}.items():
            if value is not None:
                data[_snake(str(key))] = value
        mode = data.get("auth")
        if mode is not None and not isinstance(mode, str):
            raise AuthError(f"'auth' names a mode as a string, not {type(mode).__name__}")
        object.__setattr__(self, "_data", MappingProxyType(data))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("AuthConfig is immutable; build a new one")

    @property
    def auth(self) -> str | None:
        """The auth mode, or None for the provider's standard credential chain."""
        mode: str | None = self._data.get("auth")
        return mode

    @property
    def params(self) -> dict[str, Any]:
        """Every parameter but ``auth``."""
        return {k: v for k, v in self._data.items() if k != "auth"}

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={mask(k, v)!r}" for k, v in self._data.items())
        return f"AuthConfig({shown})"

    __str__ = __repr__

    def __reduce__(self) -> Any:  # pragma: no cover - pickling support for dask/ray workers
        return (AuthConfig, (dict(self._data),))

    @classmethod
    def coerce(cls, auth: AuthLike) -> AuthConfig | None:
        """Return ``auth`` as an AuthConfig (None stays None)."""
        if auth is None or isinstance(auth, AuthConfig):
            return auth
        return cls(auth)

    @classmethod
    def from_ome(cls, spec: Mapping[str, Any] | str) -> tuple[str, AuthConfig]:
        """Read an OME storage block, ``{storageUri: ..., parameters: {...}}``, as (uri, auth).

        ``spec`` is a mapping or YAML/JSON text; a top-level ``storage:`` key is unwrapped.
        """
        if isinstance(spec, str):
            spec = _load_text(spec)
        if not isinstance(spec, Mapping):
            raise AuthError("an OME storage block is a mapping with storageUri and parameters")
        if "storage" in spec and isinstance(spec["storage"], Mapping):
            spec = spec["storage"]
        uri = spec.get("storageUri", spec.get("storage_uri"))
        if not isinstance(uri, str) or not uri:
            raise AuthError(
                "the storage block has no storageUri; expected e.g. "
                "{storageUri: oci://n/ns/b/bucket/o/key, parameters: {auth: ...}}"
            )
        parameters = spec.get("parameters") or {}
        if not isinstance(parameters, Mapping):
            raise AuthError("the storage block's parameters must be a mapping")
        return uri, cls(parameters)

    def validate(self, provider: Provider) -> AuthMode | None:
        """Check this block against ``provider``'s modes; return the mode (None: default chain).

        Raises :class:`AuthError` naming what was wrong and listing what is accepted.
        """
        modes = provider.auth_modes
        by_name = {alias: mode for mode in modes.values() for alias in (mode.name, *mode.aliases)}
        common = set(provider.auth_params)
        mode = None
        if self.auth is not None:
            mode = by_name.get(self.auth)
            if mode is None:
                elsewhere = _providers_with_mode(self.auth)
                hint = f" ({self.auth!r} is a {', '.join(elsewhere)} mode)" if elsewhere else ""
                raise AuthError(
                    f"{provider.name} has no auth mode {self.auth!r}{hint}; choose one of: "
                    + ", ".join(sorted(by_name))
                )
        else:
            mode = provider.implied_mode(self.params)
        accepted = common | set(mode.accepted if mode else ())
        unknown = sorted(set(self.params) - accepted)
        if unknown:
            where = f"auth {mode.name!r}" if mode else f"{provider.name} without 'auth'"
            owners = {name: _providers_with_param(name) for name in unknown}
            notes = "; ".join(
                f"{name!r} belongs to {', '.join(p)}" for name, p in owners.items() if p
            )
            raise AuthError(
                f"{where} does not take {', '.join(map(repr, unknown))}"
                + (f" ({notes})" if notes else "")
                + f"; accepted: {', '.join(sorted(accepted)) or 'none'}"
            )
        if mode is not None:
            for entry in mode.required:
                choices = entry.split("|")
                if not any(self._present(name, provider) for name in choices):
                    raise AuthError(
                        f"auth {mode.name!r} needs {' or '.join(map(repr, choices))}"
                        + _env_hint(provider, mode, choices)
                    )
        return mode

    def _present(self, name: str, provider: Provider) -> bool:
        if name in self._data:
            return True
        param = provider.param(name)
        return bool(param and param.env and os.environ.get(param.env))


def _env_hint(provider: Provider, mode: AuthMode, names: list[str]) -> str:
    envs = [p.env for n in names if (p := provider.param(n, mode)) is not None and p.env]
    return f" (or the environment variable {' / '.join(envs)})" if envs else ""


def _load_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        import yaml
    except ImportError as exc:  # pragma: no cover - pyyaml is a dependency of the test extra
        raise AuthError("reading a YAML storage block needs PyYAML: pip install pyyaml") from exc
    return yaml.safe_load(text)


def _providers_with_mode(name: str) -> list[str]:
    return [
        p.name
        for p in providers()
        if any(name in (m.name, *m.aliases) for m in p.auth_modes.values())
    ]


def _providers_with_param(name: str) -> list[str]:
    return [
        p.name
        for p in providers()
        if name in p.auth_params or any(name in m.accepted for m in p.auth_modes.values())
    ]


def auth_table() -> str:
    """A Markdown table of every provider's auth modes, from their declarations (for docs)."""
    lines = [
        "| provider | auth | needs | also takes | env fallbacks | verified against |",
        "|---|---|---|---|---|---|",
    ]
    for provider in providers():
        name = provider.name
        common = ", ".join(provider.auth_params)
        for mode in provider.auth_modes.values():
            label = " / ".join((mode.name, *mode.aliases))
            needs = ", ".join(" or ".join(e.split("|")) for e in mode.required) or "—"
            optional = ", ".join([*mode.optional, common] if mode.optional else [common])
            envs = sorted(
                {
                    f"`{p.name}`: `{p.env}`"
                    for p in (*mode.extra_params, *provider.auth_params.values())
                    if p.env
                }
            )
            lines.append(
                f"| {name} | `{label}` | {needs} | {optional} | {', '.join(envs) or '—'} "
                f"| {mode.verified} |"
            )
    return "\n".join(lines) + "\n"


def check_metadata_service(provider: Provider, mode: AuthMode, *, timeout: float = 2.0) -> None:
    """Fail within ``timeout`` seconds when ``mode``'s metadata service does not answer.

    Off the cloud the SDKs retry an unreachable metadata address for minutes in silence;
    one TCP connection attempt says the same at once. Raises :class:`AuthError` naming the
    mode and the service (and its address) it tried.
    """
    import socket
    from urllib.parse import urlsplit

    service = provider.metadata_service(mode)
    if service is None:
        return
    what, url = service
    parts = urlsplit(url if "://" in url else f"http://{url}")
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as exc:
        reason = "did not answer" if isinstance(exc, TimeoutError) else f"refused ({exc})"
        raise AuthError(
            f"auth {mode.name!r} needs {what} at {url}, which {reason} within {timeout:g}s: "
            f"this machine does not look like a {provider.name} instance. Run there, or "
            "choose another auth mode (see docs/auth.md)"
        ) from None
