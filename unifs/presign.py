"""Time-limited access to one object (or an OCI prefix) without credentials: ``presign``.

One call, four mechanisms:

| store | what ``presign`` makes | longest life | revocable |
|---|---|---|---|
| S3 (and OCI's S3 compatibility API) | a SigV4 presigned URL | 7 days | no (until expiry) |
| GCS | a V4 signed URL (service-account key, or IAM signBlob) | 7 days | no |
| Azure | a SAS (account key, or a user delegation key) | none / 7 days | no |
| OCI | a pre-authenticated request (PAR), a server-side resource | none | yes: ``revoke`` |

Whether a URL can be made, and for how long, is decided by :func:`unifs.capabilities` for
the credentials at hand; a refusal says why and what to do. ``PresignedURL.headers`` are the
headers a caller must send with the URL (a PUT's ``Content-Type``, Azure's blob type).
Presigned URLs are bearer credentials: ``repr`` never shows one; print ``.url`` on purpose.
"""

from __future__ import annotations

import sys
import types
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from unifs.errors import UnsupportedError

if TYPE_CHECKING:
    from unifs.uri import StorageURI

__all__ = [
    "PresignError",
    "PresignedURL",
    "list_presigned",
    "presign",
    "revoke",
    "seconds_until",
]

METHODS = ("GET", "PUT")


class PresignError(UnsupportedError):
    """A URL cannot be presigned as asked; the message says why and how to get one."""


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
        """True if :func:`revoke` can end this URL's access before it expires."""
        return self.par_id is not None

    def __str__(self) -> str:
        return (
            f"<{self.kind} {self.method} {self.uri} until {self.expires_at.isoformat()} "
            "(url hidden: use .url)>"
        )


def seconds_until(moment: datetime) -> int:
    """Whole seconds from now until ``moment`` (at least 1): the lifetime to sign for."""
    return max(1, round((moment - datetime.now(timezone.utc)).total_seconds()))


def _as_timedelta(expires: timedelta | int | float) -> timedelta:
    if isinstance(expires, timedelta):
        return expires
    if isinstance(expires, (int, float)) and not isinstance(expires, bool):
        return timedelta(seconds=expires)
    raise PresignError(f"expires is a timedelta or seconds, not {type(expires).__name__}")


def presign(
    uri: str | StorageURI,
    *,
    method: str = "GET",
    expires: timedelta | int | float = timedelta(hours=1),
    auth: Mapping[str, Any] | None = None,
    content_type: str | None = None,
    access: str | None = None,
    **storage_options: Any,
) -> PresignedURL:
    """Make a URL that lets anyone holding it ``GET`` (or ``PUT``) ``uri`` until it expires.

    ``expires`` is a timedelta (or seconds). ``content_type`` is the type a PUT must send
    (default ``application/octet-stream``). ``access`` picks an OCI PAR access type other
    than the default for the method (e.g. ``"ObjectReadWrite"``); a URI ending in ``/`` on
    OCI makes a prefix PAR that also allows listing. Raises :class:`PresignError` when the
    credentials cannot presign, the lifetime exceeds the store's maximum, or the method is
    not GET or PUT.
    """
    from unifs.capabilities import provider_for_fs
    from unifs.filesystem import url_to_fs
    from unifs.uri import parse

    method = method.upper()
    if method not in METHODS:
        raise PresignError(f"presign makes GET or PUT URLs, not {method!r}")
    lifetime = _as_timedelta(expires)
    if lifetime <= timedelta(0):
        raise PresignError(f"expires must be in the future, got {lifetime}")
    account = storage_options.get("account_name") or (auth or {}).get("account_name")
    u = parse(uri, account=account)
    fs, path = url_to_fs(u, auth=auth, **storage_options)
    provider = provider_for_fs(fs)
    caps = provider.capabilities(fs)
    flag = "presign_get" if method == "GET" else "presign_put"
    if not getattr(caps, flag):
        raise PresignError(
            f"cannot presign {method} {u.url} with these credentials: "
            f"{caps.reasons.get(flag, 'the store offers no presigned ' + method)}"
        )
    if caps.presign_max_lifetime is not None and lifetime > caps.presign_max_lifetime:
        raise PresignError(
            f"{caps.presign_kind} URLs live at most {caps.presign_max_lifetime} on "
            f"{caps.provider}; ask for expires <= {caps.presign_max_lifetime}"
            + (
                f" ({caps.reasons['presign_max_lifetime']})"
                if "presign_max_lifetime" in caps.reasons
                else ""
            )
        )
    expires_at = datetime.now(timezone.utc) + lifetime
    return provider.presign(
        fs,
        path,
        u,
        method=method,
        expires_at=expires_at,
        content_type=content_type,
        access=access,
    )


def revoke(
    signed: PresignedURL, *, auth: Mapping[str, Any] | None = None, **storage_options: Any
) -> bool:
    """End a presigned URL's access now; True if it was revoked.

    Only OCI PARs exist on the server and can be deleted. For the others nothing
    server-side exists: this returns False with a warning saying so (rotate the signing
    key or credentials to cut every URL they signed short).
    """
    from unifs.capabilities import provider_for_fs
    from unifs.filesystem import url_to_fs

    if not signed.revocable:
        warnings.warn(
            f"a {signed.provider} {signed.kind} cannot be revoked before it expires at "
            f"{signed.expires_at.isoformat()}; rotate the key that signed it to end it sooner",
            UserWarning,
            stacklevel=2,
        )
        return False
    fs, _ = url_to_fs(signed.uri, auth=auth, **storage_options)
    return provider_for_fs(fs).revoke(fs, signed)


def list_presigned(
    uri: str | StorageURI, *, auth: Mapping[str, Any] | None = None, **storage_options: Any
) -> list[dict[str, Any]]:
    """The live presigned accesses (OCI PARs) on ``uri``'s bucket, under its key prefix."""
    from unifs.capabilities import provider_for_fs
    from unifs.filesystem import url_to_fs
    from unifs.uri import parse

    u = parse(uri)
    fs, path = url_to_fs(u, auth=auth, **storage_options)
    return provider_for_fs(fs).list_presigned(fs, path)


class _CallableModule(types.ModuleType):
    """``unifs.presign`` names both this module and its function (DESIGN's public API);
    importing the submodule rebinds the package attribute, so the module answers calls."""

    def __call__(self, *args: Any, **kwargs: Any) -> PresignedURL:
        return presign(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
