"""Answer the namespace, bucket and object-listing calls of the OCI server; page list calls."""

from __future__ import annotations

import bisect
import re
import uuid
from typing import Any

from unifs.providers.oci_identity import fake_ocid
from unifs.testing.oci_server.http import _json_response, _OCIError, _Request, _Response
from unifs.testing.oci_server.identity import _par_denied
from unifs.testing.oci_server.store import (
    _Bucket,
    _Object,
    _rfc3339,
    _Store,
    _utcnow,
    archival_state,
)

_MAX_LIST_LIMIT = 1000
_BUCKET_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,256}$")
_LIST_FIELDS = frozenset(
    {"name", "size", "etag", "md5", "timeCreated", "timeModified", "storageTier", "archivalState"}
)


def _parse_limit(query: dict[str, str], default: int = _MAX_LIST_LIMIT) -> int:
    raw = query.get("limit")
    if raw is None or raw == "":
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise _OCIError(400, "InvalidParameter", f"limit '{raw}' is not an integer.") from None
    if not 1 <= limit <= _MAX_LIST_LIMIT:
        raise _OCIError(400, "InvalidParameter", f"limit must be between 1 and {_MAX_LIST_LIMIT}.")
    return limit


def _page(keys: list[str], page: str | None, limit: int) -> tuple[list[str], str | None]:
    """Slice sorted ``keys`` from token ``page`` (inclusive); return the slice and next token."""
    start = bisect.bisect_left(keys, page) if page else 0
    chunk = keys[start : start + limit]
    nxt = keys[start + limit] if start + limit < len(keys) else None
    return chunk, nxt


class _BucketRoutes(_Store):
    """GetNamespace, the bucket calls, ListObjects."""

    # ---- namespace ------------------------------------------------------------------------

    def _get_namespace(self, req: _Request) -> _Response:
        return _json_response(200, self._namespace)

    def _get_namespace_metadata(self, req: _Request, ns: str) -> _Response:
        return _json_response(
            200,
            {
                "namespace": self._namespace,
                "defaultS3CompartmentId": self.compartment_id,
                "defaultSwiftCompartmentId": self.compartment_id,
            },
        )

    # ---- buckets --------------------------------------------------------------------------

    def _bucket(self, name: str) -> _Bucket:
        bucket = self._buckets.get(name)
        if bucket is None:
            raise _OCIError(
                404,
                "BucketNotFound",
                f"Either the bucket named '{name}' does not exist in the "
                f"namespace '{self._namespace}' or you are not authorized to access it",
            )
        return bucket

    def _create_bucket(
        self,
        name: str,
        compartment_id: str,
        created_by: str,
        metadata: dict[str, str] | None = None,
        storage_tier: str = "Standard",
        public_access_type: str = "NoPublicAccess",
    ) -> _Bucket:
        if not isinstance(name, str) or not _BUCKET_NAME_RE.match(name):
            raise _OCIError(400, "InvalidBucketName", f"Invalid bucket name: {name!r}")
        with self._lock:
            if name in self._buckets:
                raise _OCIError(
                    409,
                    "BucketAlreadyExists",
                    f"Either the bucket '{name}' in namespace "
                    f"'{self._namespace}' already exists or you are not authorized to create it",
                )
            bucket = _Bucket(
                name=name,
                compartment_id=compartment_id,
                created_by=created_by,
                time_created=_utcnow(),
                etag=str(uuid.uuid4()),
                id=fake_ocid("bucket"),
                metadata=dict(metadata or {}),
                storage_tier=storage_tier,
                public_access_type=public_access_type,
            )
            self._buckets[name] = bucket
            return bucket

    def _bucket_json(self, bucket: _Bucket, fields: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "namespace": self._namespace,
            "name": bucket.name,
            "compartmentId": bucket.compartment_id,
            "metadata": bucket.metadata,
            "createdBy": bucket.created_by,
            "timeCreated": _rfc3339(bucket.time_created),
            "etag": bucket.etag,
            "publicAccessType": bucket.public_access_type,
            "storageTier": bucket.storage_tier,
            "objectEventsEnabled": False,
            "freeformTags": {},
            "definedTags": {},
            "replicationEnabled": False,
            "isReadOnly": False,
            "id": bucket.id,
            "versioning": "Disabled",
            "autoTiering": "Disabled",
        }
        if "approximateCount" in fields:
            out["approximateCount"] = len(bucket.objects)
        if "approximateSize" in fields:
            out["approximateSize"] = sum(len(o.data) for o in bucket.objects.values())
        return out

    def _create_bucket_api(self, req: _Request, ns: str) -> _Response:
        details = req.json()
        compartment = details.get("compartmentId")
        if not compartment:
            raise _OCIError(400, "MissingParameter", "compartmentId is required.")
        assert req.principal is not None
        bucket = self._create_bucket(
            details.get("name", ""),
            compartment,
            req.principal.user,
            metadata=details.get("metadata"),
            storage_tier=details.get("storageTier") or "Standard",
            public_access_type=details.get("publicAccessType") or "NoPublicAccess",
        )
        return _json_response(
            200,
            self._bucket_json(bucket, set()),
            [("ETag", bucket.etag), ("Location", f"{self.endpoint}/n/{ns}/b/{bucket.name}")],
        )

    def _list_buckets(self, req: _Request, ns: str) -> _Response:
        compartment = req.query.get("compartmentId")
        if not compartment:
            raise _OCIError(400, "MissingParameter", "compartmentId is required.")
        limit = _parse_limit(req.query)
        with self._lock:
            buckets = {n: b for n, b in self._buckets.items() if b.compartment_id == compartment}
        names, nxt = _page(sorted(buckets), req.query.get("page"), limit)
        summaries = [
            {
                "namespace": self._namespace,
                "name": name,
                "compartmentId": buckets[name].compartment_id,
                "createdBy": buckets[name].created_by,
                "timeCreated": _rfc3339(buckets[name].time_created),
                "etag": buckets[name].etag,
                "freeformTags": {},
                "definedTags": {},
            }
            for name in names
        ]
        return _json_response(200, summaries, [("opc-next-page", nxt)] if nxt else [])

    def _get_bucket(self, req: _Request, ns: str, bucket: str) -> _Response:
        with self._lock:
            b = self._bucket(bucket)
            fields = set(filter(None, req.query.get("fields", "").split(",")))
            payload = self._bucket_json(b, fields)
        etag = b.etag
        if req.header("if-match") not in (None, etag):
            raise _OCIError(412, "IfMatchFailed", "The If-Match header does not match the ETag.")
        if req.header("if-none-match") in ("*", etag):
            return _Response(304, [("ETag", etag)])
        return _json_response(200, payload, [("ETag", etag)])

    def _delete_bucket(self, req: _Request, ns: str, bucket: str) -> _Response:
        with self._lock:
            b = self._bucket(bucket)
            if b.objects or b.uploads:
                raise _OCIError(
                    409,
                    "BucketNotEmpty",
                    f"Bucket named '{bucket}' is not empty. Delete all "
                    "objects and uncommitted multipart uploads first.",
                )
            for par in b.pars.values():
                self._par_tokens.pop(par.token, None)
            del self._buckets[bucket]
        return _Response(204)

    # ---- listing --------------------------------------------------------------------------

    def _list_objects(
        self, bucket: _Bucket, query: dict[str, str], forced_prefix: str = ""
    ) -> dict[str, Any]:
        """Answer ListObjects for ``bucket``; ``forced_prefix`` confines a prefix PAR."""
        prefix = query.get("prefix", "")
        if forced_prefix:
            if prefix.startswith(forced_prefix):
                pass
            elif forced_prefix.startswith(prefix):
                prefix = forced_prefix
            else:
                raise _par_denied()
        delimiter = query.get("delimiter") or None
        if delimiter not in (None, "/"):
            raise _OCIError(400, "InvalidParameter", "Only '/' is supported as a delimiter.")
        start = query.get("start") or ""
        start_after = query.get("startAfter")
        end = query.get("end") or None
        limit = _parse_limit(query)
        fields = set(filter(None, query.get("fields", "name").split(","))) | {"name"}
        unknown = fields - _LIST_FIELDS
        if unknown:
            raise _OCIError(400, "InvalidParameter", f"Unknown fields: {sorted(unknown)}")

        with self._lock:
            names = bucket.names
            i = bisect.bisect_left(names, max(prefix, start))
            if start_after is not None:
                i = max(i, bisect.bisect_right(names, start_after))
            objects: list[dict[str, Any]] = []
            prefixes: list[str] = []
            next_start: str | None = None
            scanned = 0
            while i < len(names):
                name = names[i]
                if not name.startswith(prefix) or (end is not None and name >= end):
                    break
                if scanned >= limit:
                    next_start = name
                    break
                scanned += 1
                cut = name.find("/", len(prefix)) if delimiter else -1
                if cut >= 0:
                    # As OCI does, every object folded into a prefix counts toward the
                    # page's limit, so a prefix whose objects straddle pages is on each.
                    common = name[: cut + 1]
                    if not prefixes or prefixes[-1] != common:
                        prefixes.append(common)
                    i += 1
                    continue
                objects.append(self._summary(bucket.objects[name], fields))
                i += 1
        result: dict[str, Any] = {"objects": objects, "prefixes": prefixes}
        if next_start is not None:
            result["nextStartWith"] = next_start
        return result

    @staticmethod
    def _summary(obj: _Object, fields: set[str]) -> dict[str, Any]:
        full = {
            "name": obj.name,
            "size": len(obj.data),
            "etag": obj.etag,
            "md5": obj.md5,
            "timeCreated": _rfc3339(obj.time_created),
            "timeModified": _rfc3339(obj.time_modified),
            "storageTier": obj.storage_tier,
            "archivalState": archival_state(obj),
        }
        return {k: v for k, v in full.items() if k in fields and v is not None}

    def _list_objects_api(self, req: _Request, ns: str, bucket: str) -> _Response:
        with self._lock:
            b = self._bucket(bucket)
        return _json_response(200, self._list_objects(b, req.query))
