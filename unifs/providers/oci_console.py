"""OCI Console URLs (``https://cloud.oracle.com/object-storage/buckets/...``) read as URIs.

The console's bucket page is ``/object-storage/buckets/{namespace}/{bucket}/objects?region=...``
(``/details`` and the bare bucket path show the same bucket); an object's page adds the
object name after ``objects/``. Any other console page is refused with the URL to copy
instead. :class:`unifs.providers.oci.OCIProvider` calls :func:`parse_console`.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import SplitResult, parse_qs

from unifs.errors import URIError
from unifs.providers.base import decode_key

__all__ = ["CONSOLE_HOST", "ConsolePage", "parse_console"]

#: the OCI Console's host (every realm's console answers on a cloud.oracle.com name)
CONSOLE_HOST = re.compile(r"^cloud\.oracle\.com$|^console\.[a-z0-9-]+\.oraclecloud\.com$")
_BUCKET_PAGE = re.compile(
    r"^/object-storage/buckets/(?P<ns>[^/]+)/(?P<bucket>[^/]+)"
    r"(?:/(?:details|objects(?:/(?P<key>.+))?))?/?$"
)


class ConsolePage(NamedTuple):
    namespace: str
    bucket: str
    key: str
    region: str | None


def parse_console(text: str, parts: SplitResult) -> ConsolePage:
    """The namespace, bucket, key and region an OCI Console page shows."""
    match = _BUCKET_PAGE.match(parts.path)
    if match is None:
        raise URIError(
            f"{text!r} is an OCI Console page but not a bucket or object page; open the "
            "bucket (https://cloud.oracle.com/object-storage/buckets/NAMESPACE/BUCKET/objects"
            "?region=...) or copy the object's URL from its 'View Object Details' "
            "(URL Path (URI): https://objectstorage.REGION.oraclecloud.com/n/...)",
            uri=text,
        )
    query = parse_qs(parts.query)
    key = decode_key(match.group("key") or "")
    prefix = query.get("prefix", [""])[0]
    if not key and prefix:
        key = prefix if prefix.endswith("/") else prefix + "/"
    return ConsolePage(
        decode_key(match.group("ns")),
        decode_key(match.group("bucket")),
        key,
        query.get("region", [None])[0],
    )
