"""Answer the multipart-upload calls of the OCI server."""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any
from urllib.parse import quote

from unifs.testing.oci_server.buckets import _page, _parse_limit
from unifs.testing.oci_server.http import _json_response, _OCIError, _Request, _Response
from unifs.testing.oci_server.objects import _ObjectRoutes
from unifs.testing.oci_server.store import (
    _b64crc32c,
    _Bucket,
    _http_date,
    _Object,
    _Part,
    _rfc3339,
    _Upload,
    _utcnow,
)

_MAX_PART_NUM = 10000


class _MultipartRoutes(_ObjectRoutes):
    """Create, upload parts to, list, commit and abort multipart uploads."""

    # ---- multipart ------------------------------------------------------------------------

    def _upload(self, bucket: _Bucket, upload_id: str | None, key: str) -> _Upload:
        upload = bucket.uploads.get(upload_id or "")
        if upload is None or upload.object_name != key:
            # OCI's generic code for a resource in the URI that is not there (not S3's
            # NoSuchUpload): clients must go by the 404
            raise _OCIError(
                404,
                "NotAuthorizedOrNotFound",
                f"The upload '{upload_id}' for object '{key}' does not exist, or you are not "
                "authorized to access it.",
            )
        return upload

    @staticmethod
    def _upload_json(ns: str, bucket: str, upload: _Upload) -> dict[str, Any]:
        return {
            "namespace": ns,
            "bucket": bucket,
            "object": upload.object_name,
            "uploadId": upload.upload_id,
            "timeCreated": _rfc3339(upload.time_created),
            "storageTier": upload.storage_tier,
        }

    def _create_upload(self, req: _Request, ns: str, bucket: str) -> _Response:
        details = req.json()
        name = details.get("object")
        if not isinstance(name, str):
            raise _OCIError(400, "MissingParameter", "object is required.")
        self._check_name(name)
        headers = {
            header: details[key]
            for key, header in (
                ("contentLanguage", "Content-Language"),
                ("contentEncoding", "Content-Encoding"),
                ("contentDisposition", "Content-Disposition"),
                ("cacheControl", "Cache-Control"),
            )
            if details.get(key)
        }
        metadata = {
            (k[len("opc-meta-") :] if k.lower().startswith("opc-meta-") else k): str(v)
            for k, v in (details.get("metadata") or {}).items()
        }
        with self._lock:
            b = self._bucket(bucket)
            self._check_put_conditions(req, b.objects.get(name))
            upload = _Upload(
                upload_id=str(uuid.uuid4()),
                object_name=name,
                time_created=_utcnow(),
                storage_tier=details.get("storageTier") or "Standard",
                content_type=details.get("contentType"),
                headers=headers,
                metadata=metadata,
                checksum_algorithm=req.header("opc-checksum-algorithm"),
            )
            b.uploads[upload.upload_id] = upload
        location = f"{self.endpoint}/n/{ns}/b/{bucket}/u/{quote(name)}?uploadId={upload.upload_id}"
        return _json_response(200, self._upload_json(ns, bucket, upload), [("Location", location)])

    def _upload_part(self, req: _Request, ns: str, bucket: str, key: str) -> _Response:
        try:
            part_num = int(req.query.get("uploadPartNum", ""))
        except ValueError:
            raise _OCIError(400, "InvalidParameter", "uploadPartNum must be an integer.") from None
        if not 1 <= part_num <= _MAX_PART_NUM:
            raise _OCIError(400, "InvalidParameter", "uploadPartNum must be 1 to 10000.")
        md5 = self._check_md5(req, req.body)
        with self._lock:
            upload = self._upload(self._bucket(bucket), req.query.get("uploadId"), key)
        crc32c = self._check_crc32c(req, req.body, upload.checksum_algorithm)
        part = _Part(data=req.body, etag=str(uuid.uuid4()), md5=md5, crc32c=crc32c)
        with self._lock:
            upload.parts[part_num] = part
        headers = [("ETag", part.etag), ("opc-content-md5", md5)]
        if crc32c is not None:
            headers.append(("opc-content-crc32c", crc32c))
        return _Response(200, headers)

    def _list_parts(self, req: _Request, ns: str, bucket: str, key: str) -> _Response:
        limit = _parse_limit(req.query)
        with self._lock:
            upload = self._upload(self._bucket(bucket), req.query.get("uploadId"), key)
            parts = sorted(upload.parts.items())
        page = req.query.get("page")
        start = int(page) if page and page.isdigit() else 0
        chosen = [(n, p) for n, p in parts if n >= start][: limit + 1]
        nxt = str(chosen[limit][0]) if len(chosen) > limit else None
        payload = [
            {"partNumber": n, "etag": p.etag, "md5": p.md5, "size": len(p.data)}
            for n, p in chosen[:limit]
        ]
        return _json_response(200, payload, [("opc-next-page", nxt)] if nxt else [])

    def _commit_upload(self, req: _Request, ns: str, bucket: str, key: str) -> _Response:
        details = req.json()
        to_commit = details.get("partsToCommit") or []
        if not to_commit:
            raise _OCIError(400, "InvalidParameter", "partsToCommit must not be empty.")
        with self._lock:
            b = self._bucket(bucket)
            upload = self._upload(b, req.query.get("uploadId"), key)
            chosen: dict[int, _Part] = {}
            for entry in to_commit:
                num = entry.get("partNum")
                part = upload.parts.get(num) if isinstance(num, int) else None
                if part is None or entry.get("etag") != part.etag:
                    raise _OCIError(
                        400,
                        "InvalidUploadPart",
                        "There were some invalid part (partNum/etag) combination for the "
                        f"upload (part {num}).",
                    )
                chosen[num] = part
            return self._assemble(req, b, upload, [chosen[n] for n in sorted(chosen)])

    def _assemble(
        self, req: _Request, b: _Bucket, upload: _Upload, ordered: list[_Part]
    ) -> _Response:
        """Make the object of ``upload`` from ``ordered`` parts (the caller holds the lock)."""
        self._check_put_conditions(req, b.objects.get(upload.object_name))
        # OCI's multipart checksum: MD5 over the concatenated binary part MD5s, then -count.
        digest = hashlib.md5(b"".join(base64.b64decode(p.md5) for p in ordered)).digest()
        multipart_md5 = f"{base64.b64encode(digest).decode('ascii')}-{len(ordered)}"
        now = _utcnow()
        data = b"".join(p.data for p in ordered)
        # a CRC32C upload keeps the whole object's CRC32C (CRCs combine; recomputed here)
        crc32c = _b64crc32c(data) if all(p.crc32c for p in ordered) else None
        obj = _Object(
            name=upload.object_name,
            data=data,
            etag=str(uuid.uuid4()),
            md5=multipart_md5,
            multipart=True,
            content_type=upload.content_type or "application/octet-stream",
            headers=upload.headers,
            metadata=upload.metadata,
            storage_tier=upload.storage_tier,
            time_created=now,
            time_modified=now,
            crc32c=crc32c,
        )
        b.put(obj)
        del b.uploads[upload.upload_id]
        headers = [
            ("ETag", obj.etag),
            ("opc-multipart-md5", multipart_md5),
            ("last-modified", _http_date(now)),
            ("version-id", obj.version_id),
        ]
        if crc32c is not None:
            headers.append(("opc-content-crc32c", crc32c))
        return _Response(200, headers)

    def _abort_upload(self, req: _Request, ns: str, bucket: str, key: str) -> _Response:
        with self._lock:
            b = self._bucket(bucket)
            upload = self._upload(b, req.query.get("uploadId"), key)
            del b.uploads[upload.upload_id]
        return _Response(204)

    def _list_uploads(self, req: _Request, ns: str, bucket: str) -> _Response:
        limit = _parse_limit(req.query)
        with self._lock:
            uploads = {
                f"{u.object_name}\0{u.upload_id}": u for u in self._bucket(bucket).uploads.values()
            }
        keys, nxt = _page(sorted(uploads), req.query.get("page"), limit)
        payload = [self._upload_json(ns, bucket, uploads[k]) for k in keys]
        return _json_response(200, payload, [("opc-next-page", nxt)] if nxt else [])
