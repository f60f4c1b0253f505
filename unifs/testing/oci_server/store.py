"""Hold the OCI server's data in memory: buckets, objects, multipart uploads and PARs."""

from __future__ import annotations

import base64
import bisect
import email.utils
import hashlib
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _rfc3339(ts: datetime) -> str:
    """Format like OCI does in JSON bodies: ``2024-05-01T12:00:00.123Z``."""
    return (
        ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{ts.microsecond // 1000:03d}Z"
    )


def _http_date(ts: datetime) -> str:
    return email.utils.format_datetime(ts.astimezone(timezone.utc), usegmt=True)


def _parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp on Python 3.10 too (``Z`` suffix, any fraction digits)."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    # fromisoformat before 3.11 wants exactly 3 or 6 fraction digits
    value = re.sub(r"\.(\d+)", lambda m: "." + (m.group(1) + "000000")[:6], value, count=1)
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def _b64md5(data: bytes | bytearray | memoryview) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


def _b64crc32c(data: bytes | bytearray | memoryview) -> str:
    """OCI's ``opc-content-crc32c``: the base64 of the big-endian 32-bit CRC32C."""
    import google_crc32c

    return base64.b64encode(google_crc32c.value(bytes(data)).to_bytes(4, "big")).decode("ascii")


@dataclass
class _Object:
    name: str
    data: bytes | bytearray  # never mutated once stored, so readers slice it without a lock
    etag: str
    md5: str  # base64 MD5, or OCI's "<base64 md5 of part md5s>-<count>" for multipart
    multipart: bool
    content_type: str
    headers: dict[str, str]
    metadata: dict[str, str]
    storage_tier: str
    time_created: datetime
    time_modified: datetime
    version_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    #: an archived object's restore: readable from ``restore_ready_at`` to ``restored_until``
    restore_ready_at: datetime | None = None
    restored_until: datetime | None = None
    #: base64 CRC32C of the whole object, kept when the writer asked for it (CRC32C algorithm)
    crc32c: str | None = None


#: OCI's object storage tiers (Archive objects must be restored before a GET)
STORAGE_TIERS = ("Standard", "InfrequentAccess", "Archive")


def archival_state(obj: _Object, now: datetime | None = None) -> str | None:
    """OCI's ``archival-state`` of ``obj``: None outside the Archive tier, else Archived,
    Restoring or Restored (a restored copy goes back to Archived when its hours are up)."""
    if obj.storage_tier != "Archive":
        return None
    now = now or _utcnow()
    ready, until = obj.restore_ready_at, obj.restored_until
    if ready is None or until is None or now >= until:
        return "Archived"
    return "Restoring" if now < ready else "Restored"


@dataclass
class _Part:
    data: bytes | bytearray
    etag: str
    md5: str
    crc32c: str | None = None


@dataclass
class _Upload:
    upload_id: str
    object_name: str
    time_created: datetime
    storage_tier: str
    content_type: str | None
    headers: dict[str, str]
    metadata: dict[str, str]
    parts: dict[int, _Part] = field(default_factory=dict)
    #: ``opc-checksum-algorithm`` given at CreateMultipartUpload (None: MD5 only)
    checksum_algorithm: str | None = None


@dataclass
class _PAR:
    id: str
    token: str
    name: str
    bucket: str
    object_name: str | None
    access_type: str
    bucket_listing_action: str
    time_expires: datetime
    time_created: datetime


@dataclass
class _Bucket:
    name: str
    compartment_id: str
    created_by: str
    time_created: datetime
    etag: str
    id: str
    metadata: dict[str, str]
    storage_tier: str
    public_access_type: str
    objects: dict[str, _Object] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)  # sorted keys, for ranged listing
    uploads: dict[str, _Upload] = field(default_factory=dict)
    pars: dict[str, _PAR] = field(default_factory=dict)

    def put(self, obj: _Object) -> None:
        if obj.name not in self.objects:
            bisect.insort(self.names, obj.name)
        self.objects[obj.name] = obj

    def remove(self, name: str) -> None:
        del self.objects[name]
        idx = bisect.bisect_left(self.names, name)
        del self.names[idx]


class _Store:
    """The state every route reads and changes; :class:`OCIServer` sets it up.

    Route mixins build on this: buckets, then objects, then multipart uploads and PARs.
    """

    _namespace: str
    compartment_id: str
    _lock: threading.RLock
    _buckets: dict[str, _Bucket]
    _par_tokens: dict[str, tuple[str, str]]  # token -> (bucket, par id)
    _work_requests: dict[str, dict[str, Any]]
    public_region: str | None

    if TYPE_CHECKING:

        @property
        def endpoint(self) -> str: ...
