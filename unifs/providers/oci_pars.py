"""OCI pre-authenticated requests (PARs): create one for an object or prefix, list them.

The OCI provider's presigning, kept apart from its URI and auth mapping. A PAR is a
server-side resource: it can be listed and revoked (``fs.delete_par``).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from unifs.errors import PresignError
from unifs.providers.base import encode_key
from unifs.types import PresignedURL
from unifs.uri import StorageURI

__all__ = ["list_pars", "presign"]

_PAR_ACCESS = (
    "ObjectRead",
    "ObjectWrite",
    "ObjectReadWrite",
    "AnyObjectRead",
    "AnyObjectWrite",
    "AnyObjectReadWrite",
)


def _parse_time(text: Any) -> Any:
    """An RFC 3339 timestamp from a JSON answer as an aware datetime (None stays None)."""
    from datetime import datetime, timezone

    if not text:
        return None
    value = str(text).replace("Z", "+00:00").replace("z", "+00:00")
    value = re.sub(r"\.(\d+)", lambda m: "." + (m.group(1) + "000000")[:6], value, count=1)
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def presign(
    fs: Any,
    path: str,
    uri: StorageURI,
    *,
    method: str,
    expires_at: datetime,
    content_type: str | None,
    access: str | None,
) -> PresignedURL:
    """A PAR for ``path`` (a prefix PAR where ``uri`` is a prefix) as a :class:`PresignedURL`."""
    bucket, namespace, key = fs.split_path(path)
    prefix = uri.is_prefix
    default = ("AnyObject" if prefix else "Object") + ("Read" if method == "GET" else "Write")
    access_type = access or default
    if access_type not in _PAR_ACCESS:
        raise PresignError(
            f"{access_type!r} is not a PAR access type; choose one of {', '.join(_PAR_ACCESS)}"
        )
    if access_type.startswith("AnyObject") != prefix:
        scope = "a prefix" if access_type.startswith("AnyObject") else "one object"
        slash = "without" if prefix else "with"
        raise PresignError(f"{access_type} is for {scope}: write the URI {slash} a trailing '/'")
    details: dict[str, Any] = {
        "name": f"unifs-{uuid.uuid4().hex[:12]}",
        "accessType": access_type,
        "timeExpires": expires_at.isoformat(),
    }
    object_name = (f"{key}/" if prefix and key else key) or None
    if object_name:
        details["objectName"] = object_name
    if access_type == "AnyObjectRead":
        details["bucketListingAction"] = "ListObjects"
    par = fs.create_par(f"{bucket}@{namespace}", details)
    url = par["fullPath"]
    if prefix and key:
        # OCI's URL for a prefix PAR ends at the bucket (/o/); naming the prefix in it
        # makes the URL address that directory, and object names still append to it
        url = f"{url.rstrip('/')}/{encode_key(key)}/"
    headers = {"Content-Type": content_type} if method == "PUT" and content_type else {}
    return PresignedURL(
        url=url,
        method=method,
        expires_at=expires_at,
        headers=headers,
        provider="oci",
        kind="par",
        uri=f"oci://{bucket}@{namespace}/{key}{'/' if prefix and key else ''}",
        par_id=par["id"],
    )


def list_pars(fs: Any, path: str) -> list[dict[str, Any]]:
    """The PARs of ``path``'s bucket (under its key, if any), as plain dicts."""
    bucket, namespace, key = fs.split_path(path)
    pars = fs.list_pars(f"{bucket}@{namespace}", key or None)
    return [
        {
            "id": par.get("id"),
            "name": par.get("name"),
            "access_type": par.get("accessType"),
            "object_name": par.get("objectName"),
            "time_expires": _parse_time(par.get("timeExpires")),
        }
        for par in pars
    ]
