"""Answer the object calls of the OCI server: get, head, put, delete, copy and rename."""

from __future__ import annotations

import re
import uuid

from unifs.testing.oci_server.buckets import _BucketRoutes
from unifs.testing.oci_server.http import _OCIError, _Request, _Response
from unifs.testing.oci_server.store import (
    STORAGE_TIERS,
    _b64crc32c,
    _b64md5,
    _Bucket,
    _http_date,
    _Object,
    _utcnow,
    archival_state,
)

_MAX_OBJECT_NAME_BYTES = 1024
_CHECKSUM_ALGORITHMS = ("CRC32C", "SHA256", "SHA384")
# Object headers OCI stores with the object and returns on GET/HEAD.
_STORED_HEADERS = ("Content-Language", "Content-Encoding", "Content-Disposition", "Cache-Control")
# GET query parameters that override response headers (OCI's httpResponse* family).
_RESPONSE_OVERRIDES = {
    "httpResponseContentDisposition": "Content-Disposition",
    "httpResponseCacheControl": "Cache-Control",
    "httpResponseContentType": "Content-Type",
    "httpResponseContentLanguage": "Content-Language",
    "httpResponseContentEncoding": "Content-Encoding",
    "httpResponseExpires": "Expires",
}


def _parse_range(value: str, size: int) -> tuple[int, int] | None:
    """Return the inclusive (first, last) byte of a single ``bytes=`` range, None to ignore it.

    Raises 416 when the range is well-formed but selects nothing in an object of ``size``.
    """
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", value)
    if not match or (not match.group(1) and not match.group(2)):
        return None  # RFC 9110: a server may ignore a Range it does not understand
    first_s, last_s = match.groups()
    if not first_s:
        suffix = int(last_s)
        if suffix == 0 or size == 0:
            raise _OCIError(416, "InvalidRange", "The requested range is not satisfiable.")
        return max(0, size - suffix), size - 1
    first = int(first_s)
    last = int(last_s) if last_s else size - 1
    if last_s and last < first:
        return None  # syntactically invalid: ignored, as RFC 9110 says
    if first >= size:
        raise _OCIError(416, "InvalidRange", "The requested range is not satisfiable.")
    return first, min(last, size - 1)


def _tier(value: str | None) -> str:
    """The storage tier a write asked for (``storage-tier``), Standard by default."""
    if value is None or value == "":
        return "Standard"
    if value not in STORAGE_TIERS:
        raise _OCIError(
            400, "InvalidParameter", f"storage-tier must be one of {', '.join(STORAGE_TIERS)}."
        )
    return value


class _ObjectRoutes(_BucketRoutes):
    """The object calls (CopyObject's work requests: ``work_requests``)."""

    # ---- objects --------------------------------------------------------------------------

    @staticmethod
    def _check_name(name: str) -> None:
        if not name or len(name.encode("utf-8")) > _MAX_OBJECT_NAME_BYTES:
            raise _OCIError(400, "InvalidParameter", "Object names must be 1 to 1024 bytes.")

    def _object(self, bucket: _Bucket, name: str) -> _Object:
        obj = bucket.objects.get(name)
        if obj is None:
            raise _OCIError(
                404,
                "ObjectNotFound",
                f"The object '{name}' was not found in the bucket '{bucket.name}'",
            )
        return obj

    def _object_headers(self, obj: _Object) -> list[tuple[str, str]]:
        headers = [
            ("Content-Type", obj.content_type),
            ("ETag", obj.etag),
            ("last-modified", _http_date(obj.time_modified)),
            ("accept-ranges", "bytes"),
            ("version-id", obj.version_id),
            ("storage-tier", obj.storage_tier),
            ("time-created", _http_date(obj.time_created)),
        ]
        state = archival_state(obj)
        if state is not None:
            headers.append(("archival-state", state))
            if state == "Restored" and obj.restored_until is not None:
                # when the restored copy goes back to the archive
                headers.append(("time-of-archival", _http_date(obj.restored_until)))
        headers += [(k, v) for k, v in obj.headers.items()]
        headers += [(f"opc-meta-{k}", v) for k, v in obj.metadata.items()]
        return headers

    def _get_object(self, req: _Request, ns: str, bucket: str, key: str) -> _Response:
        with self._lock:
            obj = self._object(self._bucket(bucket), key)
        return self._serve_object(req, obj)

    def _serve_object(self, req: _Request, obj: _Object) -> _Response:
        """Answer GET/HEAD for ``obj`` with conditionals and a single byte range."""
        if_match = req.header("if-match")
        if if_match is not None and if_match not in ("*", obj.etag):
            raise _OCIError(412, "IfMatchFailed", "The If-Match header does not match the ETag.")
        if archival_state(obj) in ("Archived", "Restoring") and req.method == "GET":
            raise _OCIError(
                409,
                "NotRestored",
                f"The object '{obj.name}' is archived and has not been restored. "
                "Restore it with RestoreObjects first.",
            )
        if_none_match = req.header("if-none-match")
        if if_none_match == "*":
            # OCI's GetObject/HeadObject take an ETag here; the wildcard is for writes only
            raise _OCIError(
                400, "InvalidParameter", "If-None-Match '*' is not supported on GET or HEAD."
            )
        if if_none_match == obj.etag:
            return _Response(304, [("ETag", obj.etag)])
        headers = self._object_headers(obj)
        for param, header in _RESPONSE_OVERRIDES.items():
            if param in req.query:
                headers = [(k, v) for k, v in headers if k.lower() != header.lower()]
                headers.append((header, req.query[param]))
        size = len(obj.data)
        view = memoryview(obj.data)  # slices share the stored buffer: no per-request copy
        range_header = req.header("Range")
        span = _parse_range(range_header, size) if range_header else None
        if span is None:
            # Full-object checksums only make sense when the whole object is sent.
            headers.append(
                ("opc-multipart-md5", obj.md5) if obj.multipart else ("Content-MD5", obj.md5)
            )
            if obj.crc32c is not None:
                headers.append(("opc-content-crc32c", obj.crc32c))
            body: memoryview = view
            status = 200
        else:
            first, last = span
            headers.append(("Content-Range", f"bytes {first}-{last}/{size}"))
            body = view[first : last + 1]
            status = 206
        if req.method == "HEAD":
            return _Response(status, headers, b"", head_length=len(body))
        return _Response(status, headers, body)

    @staticmethod
    def _check_md5(req: _Request, data: bytearray) -> str:
        actual = _b64md5(data)
        expected = req.header("Content-MD5")
        if expected is not None and expected.strip() != actual:
            raise _OCIError(
                400,
                "UnmatchedContentMD5",
                f"The computed MD5 of the request body ({actual}) "
                f"does not match the Content-MD5 header ({expected})",
            )
        return actual

    @staticmethod
    def _check_crc32c(req: _Request, data: bytearray, algorithm: str | None = None) -> str | None:
        """The body's base64 CRC32C when the CRC32C algorithm applies, else None.

        As OCI's PutObject/UploadPart: ``opc-content-crc32c`` applies only with
        ``opc-checksum-algorithm: CRC32C`` (given here, or at CreateMultipartUpload as
        ``algorithm``), and a value the body does not match is refused with a 400.
        """
        algorithm = req.header("opc-checksum-algorithm") or algorithm
        if algorithm is not None and algorithm.upper() not in _CHECKSUM_ALGORITHMS:
            raise _OCIError(
                400,
                "InvalidParameter",
                f"opc-checksum-algorithm must be one of {', '.join(_CHECKSUM_ALGORITHMS)}.",
            )
        expected = req.header("opc-content-crc32c")
        if algorithm is None or algorithm.upper() != "CRC32C":
            if expected is not None:
                raise _OCIError(
                    400,
                    "InvalidParameter",
                    "opc-content-crc32c applies only with opc-checksum-algorithm: CRC32C.",
                )
            return None
        actual = _b64crc32c(data)
        if expected is not None and expected.strip() != actual:
            raise _OCIError(
                400,
                "UnmatchedContentCRC32C",
                f"The computed CRC32C of the request body ({actual}) does not match the "
                f"opc-content-crc32c header ({expected})",
            )
        return actual

    @staticmethod
    def _check_put_conditions(req: _Request, existing: _Object | None) -> None:
        if_match = req.header("if-match")
        if if_match is not None and (existing is None or if_match not in ("*", existing.etag)):
            raise _OCIError(412, "IfMatchFailed", "The If-Match header does not match the ETag.")
        if_none_match = req.header("if-none-match")
        if if_none_match is not None:
            if if_none_match != "*":
                raise _OCIError(400, "InvalidParameter", "If-None-Match only supports '*'.")
            if existing is not None:
                # real OCI: 412, not 409 (which is what a conflict on a bucket gets)
                raise _OCIError(
                    412, "IfNoneMatchFailed", "The object already exists and If-None-Match is '*'."
                )

    def _store_put(self, req: _Request, bucket: _Bucket, key: str) -> _Response:
        """Store a PutObject body under ``key`` (shared by signed and PAR uploads)."""
        self._check_name(key)
        md5 = self._check_md5(req, req.body)
        crc32c = self._check_crc32c(req, req.body)
        metadata = {
            name[len("opc-meta-") :]: str(value)
            for name, value in req.headers.items()
            if name.lower().startswith("opc-meta-")
        }
        stored = {h: str(req.headers[h]) for h in _STORED_HEADERS if req.headers.get(h)}
        now = _utcnow()
        with self._lock:
            existing = bucket.objects.get(key)
            self._check_put_conditions(req, existing)
            obj = _Object(
                name=key,
                data=req.body,
                etag=str(uuid.uuid4()),
                md5=md5,
                multipart=False,
                content_type=req.header("Content-Type") or "application/octet-stream",
                headers=stored,
                metadata=metadata,
                storage_tier=_tier(req.header("storage-tier")),
                time_created=now,
                time_modified=now,
                crc32c=crc32c,
            )
            bucket.put(obj)
        headers = [
            ("ETag", obj.etag),
            ("opc-content-md5", md5),
            ("last-modified", _http_date(now)),
            ("version-id", obj.version_id),
        ]
        if crc32c is not None:
            headers.append(("opc-content-crc32c", crc32c))
        return _Response(200, headers)

    def _put_object(self, req: _Request, ns: str, bucket: str, key: str) -> _Response:
        with self._lock:
            b = self._bucket(bucket)
        return self._store_put(req, b, key)

    def _delete_object(self, req: _Request, ns: str, bucket: str, key: str) -> _Response:
        with self._lock:
            b = self._bucket(bucket)
            obj = self._object(b, key)
            if_match = req.header("if-match")
            if if_match is not None and if_match not in ("*", obj.etag):
                raise _OCIError(412, "IfMatchFailed", "The If-Match header does not match.")
            b.remove(key)
        return _Response(204, [("last-modified", _http_date(_utcnow()))])

    # ---- copy (see work_requests) / rename ------------------------------------------------

    def _action(self, req: _Request, ns: str, bucket: str, action: str) -> _Response:
        """POST .../actions/{action}; copyObject, restoreObjects and updateObjectStorageTier
        are answered by the work-request and tier mixins, which come first."""
        if action == "renameObject":
            return self._rename_object(req, bucket)
        raise _OCIError(404, "NotFound", f"Unsupported action {action!r}.")

    def _rename_object(self, req: _Request, bucket: str) -> _Response:
        details = req.json()
        source_name = details.get("sourceName")
        new_name = details.get("newName")
        if not source_name or not new_name:
            raise _OCIError(400, "MissingParameter", "sourceName and newName are required.")
        self._check_name(new_name)
        with self._lock:
            b = self._bucket(bucket)
            source = self._object(b, source_name)
            if details.get("srcObjIfMatchETag") not in (None, source.etag):
                raise _OCIError(412, "IfMatchFailed", "srcObjIfMatchETag does not match.")
            existing = b.objects.get(new_name)
            if details.get("newObjIfMatchETag") not in (
                None,
                existing.etag if existing else object(),
            ):
                raise _OCIError(412, "IfMatchFailed", "newObjIfMatchETag does not match.")
            if details.get("newObjIfNoneMatchETag") == "*" and existing is not None:
                raise _OCIError(412, "IfNoneMatchFailed", "An object named newName exists.")
            now = _utcnow()
            renamed = _Object(
                name=new_name,
                data=source.data,
                etag=source.etag,
                md5=source.md5,
                crc32c=source.crc32c,
                multipart=source.multipart,
                content_type=source.content_type,
                headers=source.headers,
                metadata=source.metadata,
                storage_tier=source.storage_tier,
                time_created=source.time_created,
                time_modified=now,
            )
            if new_name != source_name:
                b.remove(source_name)
            b.put(renamed)
        return _Response(
            200,
            [
                ("ETag", renamed.etag),
                ("last-modified", _http_date(now)),
                ("version-id", renamed.version_id),
            ],
        )
