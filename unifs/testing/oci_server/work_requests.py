"""Answer CopyObject as OCI does: an asynchronous work request, and the work-request calls.

Real OCI accepts a copy (202 and an ``opc-work-request-id``), copies later, and the copy
fails unless an IAM policy lets the Object Storage service itself act on the buckets
(``Allow service objectstorage-<region> to manage object-family in compartment ...``);
the reason is only in ``GET /workRequests/{id}/errors``. Here the copy runs
``copy_delay`` seconds after it was accepted, and fails that way when either bucket was
marked with :meth:`_WorkRequestRoutes.deny_copy_service`. ``DELETE /workRequests/{id}``
cancels a copy that has not run.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any
from urllib.parse import quote

from unifs.providers.oci_identity import fake_ocid
from unifs.testing.oci_server.buckets import _page, _parse_limit
from unifs.testing.oci_server.http import _json_response, _OCIError, _Request, _Response
from unifs.testing.oci_server.identity import DEFAULT_REGION
from unifs.testing.oci_server.objects import _ObjectRoutes
from unifs.testing.oci_server.store import _Object, _rfc3339, _utcnow

#: the error OCI records on a copy the service principal may not make
POLICY_ERROR_CODE = "InsufficientServicePermissions"
_FINISHED = ("COMPLETED", "FAILED", "CANCELED")


class _WorkRequestRoutes(_ObjectRoutes):
    """CopyObject, run later as a work request; get, list, cancel work requests, their errors."""

    #: seconds between a copy's acceptance and its run (the ``OCIServer`` argument)
    copy_delay: float
    #: how many times each work request was read (GetWorkRequest), by id
    work_request_reads: dict[str, int]
    _copy_denied: set[str]
    _work_errors: dict[str, list[dict[str, Any]]]
    _timers: dict[str, threading.Timer]

    # ---- administration -------------------------------------------------------------------

    def deny_copy_service(self, bucket: str, denied: bool = True) -> None:
        """Behave as if no IAM policy lets the Object Storage service manage ``bucket``'s
        objects: every copy from or to it is accepted, then FAILS with the reason in the
        work request's errors (as in a tenancy without the service policy)."""
        with self._lock:
            self._bucket(bucket)
            (self._copy_denied.add if denied else self._copy_denied.discard)(bucket)

    # ---- CopyObject -----------------------------------------------------------------------

    def _action(self, req: _Request, ns: str, bucket: str, action: str) -> _Response:
        if action == "copyObject":
            return self._copy_object(req, ns, bucket)
        response: _Response = super()._action(req, ns, bucket, action)
        return response

    def _copy_object(self, req: _Request, ns: str, bucket: str) -> _Response:
        details = req.json()
        source_name = details.get("sourceObjectName")
        dest_name = details.get("destinationObjectName")
        dest_bucket = details.get("destinationBucket")
        dest_ns = details.get("destinationNamespace")
        if not (source_name and dest_name and dest_bucket and dest_ns):
            raise _OCIError(
                400,
                "MissingParameter",
                "sourceObjectName, destinationRegion, "
                "destinationNamespace, destinationBucket and destinationObjectName are required.",
            )
        if not details.get("destinationRegion"):
            raise _OCIError(400, "MissingParameter", "destinationRegion is required.")
        if dest_ns != self._namespace:
            raise _OCIError(404, "NamespaceNotFound", f"Unknown namespace '{dest_ns}'.")
        self._check_name(dest_name)
        now = _utcnow()
        with self._lock:
            src_bucket = self._bucket(bucket)
            self._object(src_bucket, source_name)
            self._bucket(dest_bucket)
            work_id = fake_ocid("objectstorageworkrequest")
            self._work_requests[work_id] = {
                "operationType": "COPY_OBJECT",
                "status": "ACCEPTED",
                "id": work_id,
                "compartmentId": src_bucket.compartment_id,
                "resources": [
                    {
                        "actionType": "WRITTEN",
                        "entityType": "object",
                        "identifier": dest_name,
                        "entityUri": f"/n/{dest_ns}/b/{dest_bucket}/o/{quote(dest_name)}",
                        "metadata": {},
                    }
                ],
                "percentComplete": 0.0,
                "timeAccepted": _rfc3339(now),
            }
            self._work_errors[work_id] = []
            timer = threading.Timer(
                self.copy_delay, self._run_copy, args=(work_id, bucket, source_name, details)
            )
            timer.daemon = True
            self._timers[work_id] = timer
        timer.start()
        return _Response(202, [("opc-work-request-id", work_id)])

    def _fail(self, work: dict[str, Any], code: str, message: str) -> None:
        now = _rfc3339(_utcnow())
        work.update(status="FAILED", timeFinished=now)
        self._work_errors[work["id"]].append({"code": code, "message": message, "timestamp": now})

    def _run_copy(self, work_id: str, bucket: str, source_name: str, details: Any) -> None:
        with self._lock:
            self._timers.pop(work_id, None)
            work = self._work_requests.get(work_id)
            if work is None or work["status"] != "ACCEPTED":
                return  # canceled (or the server was reset)
            work.update(status="IN_PROGRESS", timeStarted=_rfc3339(_utcnow()))
            dest_bucket = details["destinationBucket"]
            denied = sorted({bucket, dest_bucket} & self._copy_denied)
            if denied:
                region = details.get("destinationRegion") or DEFAULT_REGION
                self._fail(
                    work,
                    POLICY_ERROR_CODE,
                    f"Permissions granted to the object storage service principal "
                    f"'objectstorage-{region}' to the bucket '{denied[0]}' are insufficient.",
                )
                return
            try:
                self._copy_now(bucket, source_name, details)
            except _OCIError as err:
                self._fail(work, err.code, err.message)
                return
            work.update(status="COMPLETED", percentComplete=100.0, timeFinished=_rfc3339(_utcnow()))

    def _copy_now(self, bucket: str, source_name: str, details: Any) -> None:
        src_bucket = self._buckets.get(bucket)
        target_bucket = self._buckets.get(details["destinationBucket"])
        if src_bucket is None or target_bucket is None:
            raise _OCIError(404, "BucketNotFound", "A bucket of the copy no longer exists.")
        source = self._object(src_bucket, source_name)
        if details.get("sourceObjectIfMatchETag") not in (None, source.etag):
            raise _OCIError(412, "IfMatchFailed", "sourceObjectIfMatchETag does not match.")
        dest_name = details["destinationObjectName"]
        existing = target_bucket.objects.get(dest_name)
        if details.get("destinationObjectIfMatchETag") not in (
            None,
            existing.etag if existing else object(),
        ):
            raise _OCIError(412, "IfMatchFailed", "destinationObjectIfMatchETag mismatch.")
        if details.get("destinationObjectIfNoneMatchETag") == "*" and existing is not None:
            raise _OCIError(412, "IfNoneMatchFailed", "The destination object exists.")
        metadata = dict(source.metadata)
        content_type = source.content_type
        meta_in = details.get("destinationObjectMetadata")
        if isinstance(meta_in, dict):
            metadata = {
                k[len("opc-meta-") :]: str(v)
                for k, v in meta_in.items()
                if k.lower().startswith("opc-meta-")
            }
            content_type = meta_in.get("Content-Type", content_type)
        now = _utcnow()
        target_bucket.put(
            _Object(
                name=dest_name,
                data=source.data,  # immutable buffer: sharing it is a free copy
                etag=str(uuid.uuid4()),
                md5=source.md5,
                crc32c=source.crc32c,
                multipart=source.multipart,
                content_type=content_type,
                headers=dict(source.headers),
                metadata=metadata,
                storage_tier=details.get("destinationObjectStorageTier") or source.storage_tier,
                time_created=now,
                time_modified=now,
            )
        )

    # ---- work requests --------------------------------------------------------------------

    def _work(self, work_id: str) -> dict[str, Any]:
        work = self._work_requests.get(work_id)
        if work is None:
            raise _OCIError(404, "NotAuthorizedOrNotFound", f"Work request {work_id} not found.")
        return work

    def _get_work_request(self, req: _Request, work_id: str) -> _Response:
        with self._lock:
            work = dict(self._work(work_id))
            self.work_request_reads[work_id] = self.work_request_reads.get(work_id, 0) + 1
        return _json_response(200, work)

    def _cancel_work_request(self, req: _Request, work_id: str) -> _Response:
        with self._lock:
            work = self._work(work_id)
            if work["status"] in _FINISHED:
                raise _OCIError(
                    409, "Conflict", f"Work request {work_id} is {work['status']} already."
                )
            work.update(status="CANCELED", timeFinished=_rfc3339(_utcnow()))
            timer = self._timers.pop(work_id, None)
        if timer is not None:
            timer.cancel()
        return _Response(202)

    def _list_work_request_errors(self, req: _Request, work_id: str) -> _Response:
        with self._lock:
            self._work(work_id)
            errors = list(self._work_errors.get(work_id, []))
        return _json_response(200, errors)

    def _list_work_request_logs(self, req: _Request, work_id: str) -> _Response:
        with self._lock:
            work = dict(self._work(work_id))
        logs = [
            {
                "message": f"{work['operationType']} {work['status']}",
                "timestamp": work["timeAccepted"],
            }
        ]
        return _json_response(200, logs)

    def _list_work_requests(self, req: _Request) -> _Response:
        compartment = req.query.get("compartmentId")
        if not compartment:
            raise _OCIError(400, "MissingParameter", "compartmentId is required.")
        limit = _parse_limit(req.query)
        with self._lock:
            works = {
                f"{w['timeAccepted']}\0{w['id']}": dict(w)
                for w in self._work_requests.values()
                if w["compartmentId"] == compartment
            }
        keys, nxt = _page(sorted(works), req.query.get("page"), limit)
        payload = [works[k] for k in keys]
        return _json_response(200, payload, [("opc-next-page", nxt)] if nxt else [])
