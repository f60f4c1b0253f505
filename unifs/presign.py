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

import warnings
from datetime import datetime, timedelta, timezone
from typing import Any

from unifs.callable_module import make_callable
from unifs.endpoint import Endpoint, EndpointLike, endpoint
from unifs.errors import PresignError
from unifs.types import AuthLike, PresignedURL, seconds_until

__all__ = [
    "PresignError",
    "PresignedURL",
    "list_presigned",
    "presign",
    "revoke",
    "seconds_until",
]

METHODS = ("GET", "PUT")


def _as_timedelta(expires: timedelta | int | float) -> timedelta:
    if isinstance(expires, timedelta):
        return expires
    if isinstance(expires, (int, float)) and not isinstance(expires, bool):
        return timedelta(seconds=expires)
    raise PresignError(f"expires is a timedelta or seconds, not {type(expires).__name__}")


def presign(
    uri: EndpointLike,
    *,
    method: str = "GET",
    expires: timedelta | int | float = timedelta(hours=1),
    auth: AuthLike = None,
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
    method = method.upper()
    if method not in METHODS:
        raise PresignError(f"presign makes GET or PUT URLs, not {method!r}")
    lifetime = _as_timedelta(expires)
    if lifetime <= timedelta(0):
        raise PresignError(f"expires must be in the future, got {lifetime}")
    ep = endpoint(uri, auth=auth, **storage_options)
    caps = ep.capabilities()
    flag = "presign_get" if method == "GET" else "presign_put"
    if not getattr(caps, flag):
        raise PresignError(
            f"cannot presign {method} {ep.uri.url} with these credentials: "
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
    return ep.backend.presign(
        ep.fs,
        ep.path,
        ep.uri,
        method=method,
        expires_at=expires_at,
        content_type=content_type,
        access=access,
    )


def revoke(
    signed: PresignedURL,
    *,
    auth: AuthLike = None,
    via: Endpoint | None = None,
    **storage_options: Any,
) -> bool:
    """End a presigned URL's access now; True if it was revoked.

    Only OCI PARs exist on the server and can be deleted. For the others nothing
    server-side exists: this returns False with a warning saying so (rotate the signing
    key or credentials to cut every URL they signed short). The PAR is deleted with
    ``auth`` and ``storage_options``, or through ``via``, an endpoint in the same bucket
    (e.g. the one it was made through), without resolving anything again.
    """
    if not signed.revocable:
        warnings.warn(
            f"a {signed.provider} {signed.kind} cannot be revoked before it expires at "
            f"{signed.expires_at.isoformat()}; rotate the key that signed it to end it sooner",
            UserWarning,
            stacklevel=2,
        )
        return False
    if via is not None:
        if auth is not None or storage_options:
            raise TypeError("revoke takes an endpoint's credentials (via=) or auth=, not both")
        ep = via
    else:
        ep = endpoint(signed.uri, auth=auth, **storage_options)
    return ep.backend.revoke(ep.fs, signed)


def list_presigned(
    uri: EndpointLike, *, auth: AuthLike = None, **storage_options: Any
) -> list[dict[str, Any]]:
    """The live presigned accesses (OCI PARs) on ``uri``'s bucket, under its key prefix."""
    ep = endpoint(uri, auth=auth, **storage_options)
    return ep.backend.list_presigned(ep.fs, ep.path)


make_callable(__name__)
