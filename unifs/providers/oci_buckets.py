"""Bucket-level operations of unifs's OCI filesystem: list, create, delete, and PARs.

A mixin of :class:`unifs.providers.oci_filesystem.OCIFileSystem` (it uses the filesystem's
``_call``, ``_resolve`` and caches). Buckets are created in ``compartment_id``, else the
tenancy, else the namespace's default S3 compartment. Pre-authenticated requests (PARs)
are created, listed and deleted through Object Storage's REST API, and ``sign()`` returns a
read PAR's URL.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from fsspec.asyn import sync_wrapper

from unifs.providers.oci_http import Reply, part

__all__ = ["BucketsAndPARs"]


def _dir(name: str) -> dict[str, Any]:
    return {"name": name, "type": "directory", "size": 0}


class BucketsAndPARs:
    """Buckets and pre-authenticated requests (mixed into OCIFileSystem)."""

    compartment_id: str | None
    default_tenancy: str | None
    endpoint: str
    dircache: Any
    _call: Any
    _resolve: Any
    _namespace: Any
    _exists: Any
    _split: Any
    _strip_protocol: Any
    _rest: Any
    invalidate_cache: Any

    async def _lsbuckets(self) -> list[dict[str, Any]]:
        namespace = await self._namespace()
        compartment = self.compartment_id or self.default_tenancy or await self._compartment()
        out: list[dict[str, Any]] = []
        page: str | None = None
        while True:
            reply = await self._call(
                "GET",
                f"/n/{part(namespace)}/b/",
                params={"compartmentId": compartment, "limit": 1000, "page": page},
                what="the bucket listing",
            )
            out += [_dir(f"{b['name']}@{namespace}") for b in reply.json()]
            page = reply.headers.get("opc-next-page")
            if not page:
                return out

    async def _compartment(self) -> str:
        namespace = await self._namespace()
        reply = await self._call("GET", f"/n/{part(namespace)}", what="the namespace metadata")
        meta = reply.json()
        found = meta.get("defaultS3CompartmentId") or meta.get("defaultSwiftCompartmentId")
        if not found:
            raise ValueError(
                "no compartment to list or create buckets in: pass compartment_id='ocid1...'"
            )
        return str(found)

    # -- buckets ----------------------------------------------------------------------------

    async def _mkdir(
        self,
        path: str,
        create_parents: bool = True,
        compartment_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("mode", None)  # pathlib's; an object store has none
        kwargs.pop("exist_ok", None)
        path = self._strip_protocol(path)
        if not path:
            raise ValueError("mkdir needs a bucket: write bucket@namespace")
        bucket, namespace, key, label = await self._resolve(path)
        if await self._exists(label):
            if not key:
                raise FileExistsError(f"bucket {label} exists")
            return
        if key and not create_parents:
            raise FileNotFoundError(f"bucket {label} does not exist (pass create_parents=True)")
        compartment = (
            compartment_id
            or self.compartment_id
            or self.default_tenancy
            or await self._compartment()
        )
        await self._call(
            "POST",
            f"/n/{part(namespace)}/b/",
            headers={"Content-Type": "application/json"},
            body=json.dumps({"name": bucket, "compartmentId": compartment}).encode(),
            what=f"create bucket {label}",
        )
        self.invalidate_cache(label)

    async def _makedirs(self, path: str, exist_ok: bool = False) -> None:
        try:
            await self._mkdir(path, create_parents=True)
        except FileExistsError:
            if not exist_ok:
                raise

    async def _rmdir(self, path: str) -> None:
        bucket, namespace, key, label = await self._resolve(path)
        if key:
            if await self._exists(path):
                raise FileExistsError(f"{path} is not empty: use rm(path, recursive=True)")
            raise FileNotFoundError(path)
        await self._call("DELETE", self._rest(namespace, bucket, "/"), what=f"bucket {label}")
        self.invalidate_cache(label)

    mkdir = sync_wrapper(_mkdir)
    makedirs = sync_wrapper(_makedirs)
    rmdir = sync_wrapper(_rmdir)

    # -- pre-authenticated requests ---------------------------------------------------------

    async def _par_call(
        self, method: str, path: str, suffix: str, details: Any = None, **params: Any
    ) -> Reply:
        bucket, namespace, _, label = await self._resolve(path)
        body = json.dumps(details).encode() if details is not None else b""
        return await self._call(
            method,
            self._rest(namespace, bucket, f"/p/{suffix}"),
            headers={"Content-Type": "application/json"} if details is not None else {},
            body=body,
            params=params or None,
            what=f"pre-authenticated requests of {label}",
        )

    async def _create_par(self, path: str, details: Mapping[str, Any]) -> dict[str, Any]:
        """CreatePreauthenticatedRequest on ``path``'s bucket; the answer has ``fullPath``."""
        reply = await self._par_call("POST", path, "", dict(details))
        out: dict[str, Any] = reply.json()
        if not out.get("fullPath") and out.get("accessUri"):
            out["fullPath"] = f"{self.endpoint}{out['accessUri']}"
        return out

    async def _delete_par(self, path: str, par_id: str) -> None:
        await self._par_call("DELETE", path, part(par_id))

    async def _list_pars(self, path: str, prefix: str | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        page = None
        while True:
            reply = await self._par_call("GET", path, "", objectNamePrefix=prefix, page=page)
            out += reply.json()
            page = reply.headers.get("opc-next-page")
            if not page:
                return out

    create_par = sync_wrapper(_create_par)
    delete_par = sync_wrapper(_delete_par)
    list_pars = sync_wrapper(_list_pars)

    def sign(self, path: str, expiration: int = 3600, **kwargs: Any) -> str:
        """A PAR URL that reads ``path`` for ``expiration`` seconds (needs PAR_MANAGE)."""
        _, _, key, _ = self._split(path)
        expires = datetime.now(timezone.utc) + timedelta(seconds=expiration)
        par = self.create_par(
            path,
            {
                "name": f"unifs-{uuid.uuid4().hex[:12]}",
                "accessType": "ObjectRead",
                "objectName": key,
                "timeExpires": expires.isoformat().replace("+00:00", "Z"),
            },
        )
        return str(par["fullPath"])
