"""Answer the pre-authenticated request (PAR) calls of the OCI server, and serve ``/p/`` URLs."""

from __future__ import annotations

import re
import secrets
import uuid
from typing import Any
from urllib.parse import quote, unquote

from unifs.testing.oci_server.buckets import _page, _parse_limit
from unifs.testing.oci_server.http import _json_response, _OCIError, _Request, _Response
from unifs.testing.oci_server.identity import _par_denied
from unifs.testing.oci_server.multipart import _MAX_PART_NUM, _MultipartRoutes
from unifs.testing.oci_server.objects import _tier
from unifs.testing.oci_server.store import (
    _PAR,
    _Bucket,
    _parse_rfc3339,
    _Part,
    _rfc3339,
    _Upload,
    _utcnow,
)

_READ_ACCESS = frozenset({"ObjectRead", "ObjectReadWrite", "AnyObjectRead", "AnyObjectReadWrite"})
_WRITE_ACCESS = frozenset(
    {"ObjectWrite", "ObjectReadWrite", "AnyObjectWrite", "AnyObjectReadWrite"}
)
_OBJECT_ACCESS = frozenset({"ObjectRead", "ObjectWrite", "ObjectReadWrite"})
_ANY_OBJECT_ACCESS = frozenset({"AnyObjectRead", "AnyObjectWrite", "AnyObjectReadWrite"})


class _PARRoutes(_MultipartRoutes):
    """Create, list, get and delete PARs; answer requests made with one, multipart
    uploads through a PAR included."""

    # ---- pre-authenticated requests -------------------------------------------------------

    def _par_summary(self, par: _PAR) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": par.id,
            "name": par.name,
            "accessType": par.access_type,
            "bucketListingAction": par.bucket_listing_action,
            "timeExpires": _rfc3339(par.time_expires),
            "timeCreated": _rfc3339(par.time_created),
        }
        if par.object_name is not None:
            out["objectName"] = par.object_name
        return out

    def _create_par(self, req: _Request, ns: str, bucket: str) -> _Response:
        details = req.json()
        name = details.get("name")
        access_type = details.get("accessType")
        object_name = details.get("objectName") or None
        listing = details.get("bucketListingAction") or "Deny"
        if not name:
            raise _OCIError(400, "MissingParameter", "name is required.")
        if access_type not in _OBJECT_ACCESS | _ANY_OBJECT_ACCESS:
            raise _OCIError(400, "InvalidParameter", f"Invalid accessType {access_type!r}.")
        if access_type in _OBJECT_ACCESS and object_name is None:
            raise _OCIError(400, "InvalidParameter", f"{access_type} requires an objectName.")
        if listing not in ("Deny", "ListObjects"):
            raise _OCIError(400, "InvalidParameter", f"Invalid bucketListingAction {listing!r}.")
        if listing == "ListObjects" and access_type not in ("AnyObjectRead", "AnyObjectReadWrite"):
            raise _OCIError(
                400,
                "InvalidParameter",
                "bucketListingAction ListObjects needs AnyObjectRead or AnyObjectReadWrite.",
            )
        try:
            expires = _parse_rfc3339(str(details.get("timeExpires") or ""))
        except ValueError:
            raise _OCIError(400, "InvalidParameter", "timeExpires must be RFC 3339.") from None
        now = _utcnow()
        if expires <= now:
            raise _OCIError(400, "InvalidParameter", "timeExpires must be in the future.")
        par = _PAR(
            id=secrets.token_urlsafe(48),
            token=secrets.token_urlsafe(48),
            name=name,
            bucket=bucket,
            object_name=object_name,
            access_type=access_type,
            bucket_listing_action=listing,
            time_expires=expires,
            time_created=now,
        )
        with self._lock:
            b = self._bucket(bucket)
            b.pars[par.id] = par
            self._par_tokens[par.token] = (bucket, par.id)
        access_uri = f"/p/{par.token}/n/{quote(ns, safe='')}/b/{quote(bucket, safe='')}/o/"
        if access_type in _OBJECT_ACCESS:
            access_uri += quote(object_name or "", safe="/")
        payload = self._par_summary(par) | {
            "accessUri": access_uri,
            "fullPath": f"{self._public_endpoint()}{access_uri}",
        }
        return _json_response(200, payload)

    def _public_endpoint(self) -> str:
        region = self.public_region
        if region is None:
            return self.endpoint
        from oci.regions import endpoint_for

        return str(
            endpoint_for(
                "object_storage",
                region=region,
                service_endpoint_template="https://objectstorage.{region}.{secondLevelDomain}",
            )
        )

    def _list_pars(self, req: _Request, ns: str, bucket: str) -> _Response:
        limit = _parse_limit(req.query)
        prefix = req.query.get("objectNamePrefix", "")
        with self._lock:
            pars = {
                f"{p.time_created.isoformat()}\0{p.id}": p
                for p in self._bucket(bucket).pars.values()
                if (p.object_name or "").startswith(prefix)
            }
        keys, nxt = _page(sorted(pars), req.query.get("page"), limit)
        payload = [self._par_summary(pars[k]) for k in keys]
        return _json_response(200, payload, [("opc-next-page", nxt)] if nxt else [])

    def _par(self, bucket: str, par_id: str) -> _PAR:
        par = self._bucket(bucket).pars.get(par_id)
        if par is None:
            raise _OCIError(404, "NotFound", f"Pre-authenticated request {par_id} not found.")
        return par

    def _get_par(self, req: _Request, ns: str, bucket: str, par: str) -> _Response:
        with self._lock:
            found = self._par(bucket, par)
        return _json_response(200, self._par_summary(found))

    def _delete_par(self, req: _Request, ns: str, bucket: str, par: str) -> _Response:
        with self._lock:
            found = self._par(bucket, par)
            del self._buckets[bucket].pars[found.id]
            self._par_tokens.pop(found.token, None)
        return _Response(204)

    def _par_for(self, match: re.Match[str]) -> tuple[_PAR, _Bucket, str, str]:
        """The live PAR a ``/p/{token}/...`` path names: (par, bucket, namespace, key)."""
        token = match.group("token")
        ns = unquote(match.group("ns"))
        bucket_name = unquote(match.group("bucket"))
        raw_key = match.group("key")
        key = unquote(raw_key) if raw_key else ""
        with self._lock:
            ref = self._par_tokens.get(token)
            bucket = self._buckets.get(ref[0]) if ref else None
            par = bucket.pars.get(ref[1]) if (bucket and ref) else None
        if par is None or bucket is None or ns != self._namespace or bucket_name != par.bucket:
            raise _par_denied()
        if par.time_expires <= _utcnow():
            raise _par_denied()
        return par, bucket, ns, key

    @staticmethod
    def _in_scope(par: _PAR, key: str) -> bool:
        if par.access_type in _OBJECT_ACCESS:
            return key == par.object_name
        return key.startswith(par.object_name or "")

    def _serve_par(self, req: _Request, match: re.Match[str]) -> _Response:
        """Serve ``/p/{token}/n/{ns}/b/{bucket}/o/...`` without a signature, within the PAR."""
        par, bucket, ns, key = self._par_for(match)
        if not key:
            # Listing: only bucket/prefix PARs created with bucketListingAction=ListObjects.
            if req.method != "GET" or par.bucket_listing_action != "ListObjects":
                raise _par_denied()
            return _json_response(
                200, self._list_objects(bucket, req.query, forced_prefix=par.object_name or "")
            )
        if not self._in_scope(par, key):
            raise _par_denied()
        if req.method in ("GET", "HEAD"):
            if par.access_type not in _READ_ACCESS:
                raise _par_denied()
            with self._lock:
                obj = self._object(bucket, key)
            return self._serve_object(req, obj)
        if req.method == "PUT":
            if par.access_type not in _WRITE_ACCESS:
                raise _par_denied()
            if (req.header("opc-multipart") or "").lower() == "true":
                return self._start_par_upload(req, par, bucket, ns, key)
            return self._store_put(req, bucket, key)
        raise _OCIError(405, "MethodNotAllowed", f"{req.method} is not allowed on a PAR.")

    # ---- multipart uploads through a PAR ---------------------------------------------------

    def _start_par_upload(
        self, req: _Request, par: _PAR, bucket: _Bucket, ns: str, key: str
    ) -> _Response:
        """``PUT`` of a PAR URL with ``opc-multipart: true`` and no body: a new upload, whose
        ``accessUri`` takes the parts (``PUT {accessUri}{n}``), the commit (``POST``) and
        the abort (``DELETE``), all under the same PAR."""
        if req.body:
            raise _OCIError(400, "InvalidParameter", "A multipart start has no body.")
        self._check_name(key)
        metadata = {
            name[len("opc-meta-") :]: str(value)
            for name, value in req.headers.items()
            if name.lower().startswith("opc-meta-")
        }
        with self._lock:
            self._check_put_conditions(req, bucket.objects.get(key))
            upload = _Upload(
                upload_id=str(uuid.uuid4()),
                object_name=key,
                time_created=_utcnow(),
                storage_tier=_tier(req.header("storage-tier")),
                content_type=req.header("Content-Type"),
                headers={},
                metadata=metadata,
                checksum_algorithm=req.header("opc-checksum-algorithm"),
            )
            bucket.uploads[upload.upload_id] = upload
        access_uri = (
            f"/p/{par.token}/n/{quote(ns, safe='')}/b/{quote(bucket.name, safe='')}"
            f"/u/{quote(key, safe='')}/id/{upload.upload_id}/"
        )
        payload = {
            "accessUri": access_uri,
            "bucketName": bucket.name,
            "namespace": ns,
            "objectName": key,
            "uploadId": upload.upload_id,
        }
        return _json_response(200, payload)

    def _serve_par_upload(self, req: _Request, match: re.Match[str]) -> _Response:
        """Parts, commit and abort of an upload begun through a PAR (see above)."""
        par, bucket, _, key = self._par_for(match)
        if not self._in_scope(par, key) or par.access_type not in _WRITE_ACCESS:
            raise _par_denied()
        number = match.group("part")
        with self._lock:
            upload = self._upload(bucket, match.group("upload"), key)
        if req.method == "PUT" and number:
            part_num = int(number)
            if not 1 <= part_num <= _MAX_PART_NUM:
                raise _OCIError(400, "InvalidParameter", "The part number must be 1 to 10000.")
            md5 = self._check_md5(req, req.body)
            crc32c = self._check_crc32c(req, req.body, upload.checksum_algorithm)
            stored = _Part(data=req.body, etag=str(uuid.uuid4()), md5=md5, crc32c=crc32c)
            with self._lock:
                upload.parts[part_num] = stored
            return _Response(200, [("ETag", stored.etag), ("opc-content-md5", md5)])
        if number:
            raise _OCIError(405, "MethodNotAllowed", f"{req.method} is not allowed on a part.")
        if req.method == "POST":
            with self._lock:
                if not upload.parts:
                    raise _OCIError(400, "InvalidParameter", "The upload has no parts to commit.")
                ordered = [upload.parts[n] for n in sorted(upload.parts)]
                return self._assemble(req, bucket, upload, ordered)
        if req.method == "DELETE":
            with self._lock:
                bucket.uploads.pop(upload.upload_id, None)
            return _Response(204)
        raise _OCIError(405, "MethodNotAllowed", f"{req.method} is not allowed on an upload.")
