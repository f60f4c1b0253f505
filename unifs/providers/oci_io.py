"""Object I/O for unifs's OCI filesystem: answers, retry settings, multipart uploads, files.

A multipart upload sends equal parts (the last may be shorter), each with its Content-MD5,
and commits them in order; OCI then reports the object's MD5 as
``"<base64 MD5 of the part MD5s>-<parts>"`` (``opc-multipart-md5``), which
``OCIProvider.multipart_checksum`` reads back. A failed upload is aborted, so no part is
left billed and no partial object appears.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import mimetypes
import re
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from fsspec.asyn import sync
from fsspec.spec import AbstractBufferedFile

if TYPE_CHECKING:
    from unifs.providers.oci_filesystem import OCIFileSystem

__all__ = ["Multipart", "OCIFile"]


def _md5(data: bytes | memoryview) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


def checksum_headers(data: bytes | memoryview) -> dict[str, str]:
    """Content-MD5 and OCI's additional CRC32C of a body: the store keeps the CRC32C, which
    a later get verifies at a twentieth of MD5's CPU (``opc-content-crc32c``)."""
    headers = {"Content-MD5": _md5(data)}
    try:
        import google_crc32c
    except ImportError:  # pragma: no cover - the oci extra brings it
        return headers
    crc = google_crc32c.value(bytes(data)).to_bytes(4, "big")
    headers["opc-checksum-algorithm"] = "CRC32C"
    headers["opc-content-crc32c"] = base64.b64encode(crc).decode("ascii")
    return headers


#: user metadata (``opc-meta-``) unifs keeps on its multipart uploads: their part size in bytes
PART_SIZE_METADATA = "unifs-part-size"
_OCTETS = "application/octet-stream"
_PAR_ENDPOINT = re.compile(r"/p/(?P<token>[^/]+)/?$")


def par_token(fs: OCIFileSystem) -> str | None:
    """The PAR token a filesystem's endpoint ends with (``.../p/{token}``), if any."""
    found = _PAR_ENDPOINT.search(urlsplit(fs.endpoint).path)
    return found["token"] if found else None


class Multipart:
    """One OCI multipart upload: start, parts, commit or abort."""

    def __init__(
        self,
        fs: OCIFileSystem,
        path: str,
        rest: str,
        upload_id: str,
        exclusive: bool,
        *,
        par: bool = False,
    ) -> None:
        self.fs = fs
        self.path = path
        self.rest = rest
        self.upload_id = upload_id
        self.exclusive = exclusive
        #: begun through a PAR: ``rest`` is the upload's accessUri (below the PAR's token)
        self.par = par
        self.parts: dict[int, str] = {}

    @classmethod
    async def start(
        cls,
        fs: OCIFileSystem,
        path: str,
        *,
        exclusive: bool = False,
        content_type: str | None = None,
        part_size: int | None = None,
    ) -> Multipart:
        """Begin an upload; ``part_size`` (all parts but a shorter last one) is kept with it.

        Through a PAR (a filesystem whose endpoint is ``.../p/{token}``) this is OCI's PAR
        protocol: a bodiless ``PUT`` of the object with ``opc-multipart: true`` answers an
        ``accessUri`` under which the parts are PUT (``{accessUri}{n}``), then committed
        (``POST``) or aborted (``DELETE``)."""
        bucket, namespace, key, label = await fs._resolve(path)
        if par_token(fs) is not None:
            return await cls._start_par(fs, path, exclusive, content_type, part_size)
        details: dict[str, Any] = {"object": key}
        if content_type:
            details["contentType"] = content_type
        if part_size:
            details["metadata"] = {f"opc-meta-{PART_SIZE_METADATA}": str(part_size)}
        headers = {"Content-Type": "application/json", "opc-checksum-algorithm": "CRC32C"}
        if exclusive:
            headers["If-None-Match"] = "*"
        reply = await fs._call(
            "POST",
            fs._rest(namespace, bucket, "/u"),
            headers=headers,
            body=json.dumps(details).encode(),
            what=f"{label}/{key}",
        )
        rest = fs._rest(namespace, bucket, f"/u/{quote(key, safe='')}")
        return cls(fs, f"{label}/{key}", rest, reply.json()["uploadId"], exclusive)

    @classmethod
    async def _start_par(
        cls,
        fs: OCIFileSystem,
        path: str,
        exclusive: bool,
        content_type: str | None,
        part_size: int | None,
    ) -> Multipart:
        bucket, namespace, key, label = await fs._resolve(path)
        headers = {
            "opc-multipart": "true",
            "Content-Type": content_type or _OCTETS,
            "opc-checksum-algorithm": "CRC32C",
        }
        if part_size:
            headers[f"opc-meta-{PART_SIZE_METADATA}"] = str(part_size)
        if exclusive:
            headers["If-None-Match"] = "*"
        reply = await fs._call(
            "PUT",
            fs._rest(namespace, bucket, f"/o/{quote(key, safe='')}"),
            headers=headers,
            sign_body=False,
            what=f"{label}/{key}",
        )
        answer = reply.json() or {}
        # the accessUri names the PAR's own /p/{token}, which the endpoint already ends with
        rest = "/" + str(answer["accessUri"]).split("/", 3)[3]
        return cls(fs, f"{label}/{key}", rest, str(answer["uploadId"]), exclusive, par=True)

    @classmethod
    async def attach(cls, fs: OCIFileSystem, path: str, upload_id: str) -> Multipart:
        """The upload ``upload_id`` to ``path``, begun elsewhere (another process, a crash)."""
        bucket, namespace, key, label = await fs._resolve(path)
        if par_token(fs) is not None:
            rest = fs._rest(namespace, bucket, f"/u/{quote(key, safe='')}/id/{upload_id}/")
            return cls(fs, f"{label}/{key}", rest, upload_id, False, par=True)
        rest = fs._rest(namespace, bucket, f"/u/{quote(key, safe='')}")
        return cls(fs, f"{label}/{key}", rest, upload_id, False)

    async def part(self, number: int, data: bytes | memoryview) -> None:
        if self.par:
            reply = await self.fs._call(
                "PUT",
                f"{self.rest}{number}",
                headers={"Content-Type": _OCTETS, **checksum_headers(data)},
                body=bytes(data),
                sign_body=False,
                what=f"{self.path} part {number}",
            )
            self.parts[number] = reply.headers.get("etag", "")
            return
        reply = await self.fs._call(
            "PUT",
            self.rest,
            params={"uploadId": self.upload_id, "uploadPartNum": number},
            headers={"Content-Type": _OCTETS, **checksum_headers(data)},
            body=bytes(data),
            sign_body=False,
            what=f"{self.path} part {number}",
        )
        self.parts[number] = reply.headers["etag"]

    async def commit(self) -> None:
        if self.par:  # a PAR upload commits every part it holds
            await self.fs._call(
                "POST",
                self.rest,
                headers={"If-None-Match": "*"} if self.exclusive else {},
                what=self.path,
            )
            self.fs.invalidate_cache(self.path)
            return
        details = {
            "partsToCommit": [{"partNum": n, "etag": e} for n, e in sorted(self.parts.items())]
        }
        headers = {"Content-Type": "application/json"}
        if self.exclusive:
            headers["If-None-Match"] = "*"
        await self.fs._call(
            "POST",
            self.rest,
            params={"uploadId": self.upload_id},
            headers=headers,
            body=json.dumps(details).encode(),
            what=self.path,
        )
        self.fs.invalidate_cache(self.path)

    async def abort(self) -> None:
        params = None if self.par else {"uploadId": self.upload_id}
        with contextlib.suppress(FileNotFoundError):
            await self.fs._call("DELETE", self.rest, params=params, what=self.path)

    @classmethod
    async def abort_abandoned(cls, fs: OCIFileSystem, path: str, *, before: datetime) -> int:
        """Abort the unfinished uploads to ``path`` begun before ``before``; how many.

        A PAR cannot list uploads: through one, nothing is found (0)."""
        if par_token(fs) is not None:
            return 0
        bucket, namespace, key, label = await fs._resolve(path)
        listing = fs._rest(namespace, bucket, "/u")
        aborted, page = 0, None
        while True:
            params = {"limit": "1000", **({"page": page} if page else {})}
            reply = await fs._call("GET", listing, params=params, what=f"{label}/{key}")
            for upload in reply.json() or []:
                created = datetime.fromisoformat(upload["timeCreated"].replace("Z", "+00:00"))
                if upload.get("object") == key and created < before:
                    await (await cls.attach(fs, path, upload["uploadId"])).abort()
                    aborted += 1
            page = reply.headers.get("opc-next-page")
            if not page:
                return aborted

    @classmethod
    async def list_unfinished(cls, fs: OCIFileSystem, prefix: str) -> list[tuple[str, str]]:
        """``(path, upload id)`` of the unfinished uploads below ``prefix``, whoever began them.

        OCI's ListMultipartUploads takes no prefix: the bucket's are listed and filtered."""
        bucket, namespace, key, label = await fs._resolve(prefix)
        listing = fs._rest(namespace, bucket, "/u")
        found: list[tuple[str, str]] = []
        page = None
        while True:
            params = {"limit": "1000", **({"page": page} if page else {})}
            reply = await fs._call("GET", listing, params=params, what=f"{label}/{key}")
            for upload in reply.json() or []:
                name = str(upload.get("object", ""))
                if name.startswith(key):
                    found.append((f"{label}/{name}", str(upload["uploadId"])))
            page = reply.headers.get("opc-next-page")
            if not page:
                return found

    async def _guarded(self, work: Any) -> None:
        try:
            await work
            await self.commit()
        except BaseException:
            await asyncio.shield(self.abort())
            raise

    async def run(self, parts: Iterable[tuple[int, bytes]], *, concurrency: int) -> None:
        """Upload ``(number, bytes)`` parts, at most ``concurrency`` at once, then commit."""
        gate = asyncio.Semaphore(max(1, concurrency))

        async def one(number: int, data: bytes) -> None:
            async with gate:
                await self.part(number, data)

        async def all_parts() -> None:
            await asyncio.gather(*(one(n, d) for n, d in parts))

        await self._guarded(all_parts())

    async def run_file(self, local: str, size: int, part_size: int, *, concurrency: int) -> None:
        """Upload ``local`` in ``part_size`` parts read as they are sent (bounded memory)."""
        gate = asyncio.Semaphore(max(1, concurrency))
        loop = asyncio.get_running_loop()

        def read(offset: int) -> bytes:
            with open(local, "rb") as handle:
                handle.seek(offset)
                return handle.read(part_size)

        async def one(number: int, offset: int) -> None:
            async with gate:
                data = await loop.run_in_executor(None, read, offset)
                await self.part(number, data)

        async def all_parts() -> None:
            await asyncio.gather(
                *(one(i + 1, off) for i, off in enumerate(range(0, size, part_size)))
            )

        await self._guarded(all_parts())


class OCIFile(AbstractBufferedFile):
    """A file on OCI: reads pinned to the ETag it opened, writes as one PUT or a multipart."""

    def __init__(
        self,
        fs: OCIFileSystem,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_type: str = "readahead",
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        content_type = kwargs.pop("content_type", None)
        super().__init__(
            fs,
            path,
            mode,
            block_size=block_size,
            autocommit=autocommit,
            cache_type=cache_type,
            cache_options=cache_options,
            **kwargs,
        )
        self.exclusive = mode == "xb"
        self.content_type = (
            content_type or mimetypes.guess_type(path)[0] or "application/octet-stream"
        )
        self.upload: Multipart | None = None
        self._pending: bytes | None = None
        self.etag = self.details.get("etag") if mode == "rb" else None

    def _fetch_range(self, start: int, end: int) -> bytes:
        data: bytes = self.fs.cat_file(self.path, start=start, end=end, if_match=self.etag)
        return data

    def _upload_chunk(self, final: bool = False) -> bool:
        data = self.buffer.getvalue()
        if final and self.upload is None:
            self._pending = data  # one PUT, at commit
            if self.autocommit:
                self.commit()
            return True
        if self.upload is None:
            self.upload = sync(
                self.fs.loop,
                Multipart.start,
                self.fs,
                self.path,
                exclusive=self.exclusive,
                content_type=self.content_type,
            )
        if data:
            try:
                sync(self.fs.loop, self.upload.part, len(self.upload.parts) + 1, data)
            except BaseException:
                self.discard()
                raise
        if final and self.autocommit:
            self.commit()
        return True

    def commit(self) -> None:
        if self._pending is not None:
            data, self._pending = self._pending, None
            sync(
                self.fs.loop,
                self.fs._put_object,
                self.path,
                data,
                exclusive=self.exclusive,
                content_type=self.content_type,
            )
        if self.upload is not None:
            try:
                sync(self.fs.loop, self.upload.commit)
            except BaseException:
                self.discard()
                raise
            self.upload = None

    def discard(self) -> None:
        self._pending = None
        if self.upload is not None:
            sync(self.fs.loop, self.upload.abort)
            self.upload = None
