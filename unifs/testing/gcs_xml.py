"""Take GCS XML-API uploads in front of fake-gcs-server, for polars, obstore and deltalake.

Why this exists
---------------
polars, obstore and deltalake reach Google Cloud Storage through the Rust ``object_store``
crate, which writes through GCS's XML API: a simple upload is ``PUT /{bucket}/{key}`` with no
``uploadType`` (and object_store refuses an answer without an ``ETag`` header), and a large
write is an XML multipart upload (``POST ?uploads``, ``PUT ?partNumber=N&uploadId=U``,
``POST ?uploadId=U``, ``DELETE ?uploadId=U``). No GCS emulator installable here takes them:

- fake-gcs-server (1.54, and upstream's main branch when this was written) routes a plain
  XML ``PUT`` to its signed-URL handler, which answers 400 "invalid uploadType" unless the
  query carries ``X-Goog-Algorithm``, answers in JSON without an ``ETag`` header, and has
  no XML multipart uploads (fsouza/fake-gcs-server issues #331 and #852; pull request #1164
  is unmerged). object_store's own CI runs a fork, tustvold/fake-gcs-server, for this reason.
  Its uploads also ignore ``ifGenerationMatch`` (``simpleUpload`` passes no conditions).
- gcp-storage-emulator (PyPI) takes the simple ``PUT`` but sends no ``ETag``, and answers
  501 to multipart uploads.

What it does
------------
:class:`GCSXMLAdapter` listens on 127.0.0.1 and keeps the bytes in the real server: every
object it writes is stored on fake-gcs-server through its JSON media upload, and every
request it does not implement is forwarded unchanged (GET and HEAD with ranges, the XML
listing, object DELETE, the JSON API, signed-URL PUTs), streaming both ways.

- ``PUT /{b}/{k}``: stored, answered with ``ETag``, ``x-goog-generation`` and
  ``x-goog-hash``; ``x-goog-if-generation-match`` (412 PreconditionFailed), ``Content-MD5``
  and ``x-goog-hash`` (400 BadDigest), ``Content-Type``, ``Cache-Control``,
  ``Content-Disposition``, ``Content-Encoding``, ``Content-Language`` and ``x-goog-meta-*``
  honoured. With ``x-goog-copy-source``: a server-side copy (``CopyObjectResult``).
- ``POST /{b}/{k}?uploads``: ``InitiateMultipartUploadResult``; the object's headers are
  kept for the completion.
- ``PUT /{b}/{k}?partNumber=N&uploadId=U``: the part goes to a temporary file; its ``ETag``
  is its quoted hex MD5; N from 1 to 10000, at most 5 GiB, digests checked.
- ``POST /{b}/{k}?uploadId=U``: ``CompleteMultipartUploadResult``; the listed parts must be
  in ascending order (400 InvalidPartOrder), each uploaded with that ETag (400 InvalidPart),
  all but the last at least 5 MiB (400 EntityTooSmall); unlisted parts are dropped.
- ``DELETE /{b}/{k}?uploadId=U``: 204, the parts deleted.

An unknown or finished upload id is 404 NoSuchUpload, a missing bucket 404 NoSuchBucket;
errors carry GCS's XML body (``<Error><Code>..</Code><Message>..</Message></Error>``).
Listing uploads or parts, and preconditions on a multipart upload (which GCS does not
support), are refused rather than forwarded to a server that would misread them.

Where it differs from GCS, because the bytes live in fake-gcs-server:

- An object's ``ETag`` is the one fake-gcs-server serves on reads (its base64 MD5, quoted),
  so a write's ``ETag`` equals a later read's. GCS's XML API gives the MD5 in hex (parts
  here do), and a multipart object an ETag not based on MD5.
- A multipart object has an MD5 on fake-gcs-server; GCS keeps only its CRC32C (the
  completion's ``x-goog-hash`` carries only crc32c, as GCS's does).
- Preconditions are checked here, under a per-object lock: a write sent straight to
  fake-gcs-server in the same moment is not seen.
- Parts live in this process's temporary directory and vanish with it.

Use ``GCSLocalServer.xml_endpoint`` (:mod:`unifs.testing.servers`), which starts one
lazily, or run one yourself::

    with GCSXMLAdapter(gcs_server.endpoint) as adapter:
        options = unifs.storage_options(
            "gs://bkt/x.parquet", {"auth": "anonymous", "endpoint": adapter.endpoint},
            target="object_store")
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import binascii
import contextlib
import hashlib
import itertools
import json
import os
import secrets
import shutil
import tempfile
import threading
import weakref
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit
from xml.sax.saxutils import escape

from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector, web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

__all__ = ["GCSXMLAdapter", "Handled"]

_HOST = "127.0.0.1"
MiB = 1 << 20
_MIN_PART = 5 * MiB  # every part but the last
_MAX_PART = 5 * 1024 * MiB
_MAX_PART_NUMBER = 10_000
_CHUNK = MiB
_MAX_COMPLETE_BODY = 8 * MiB  # 10,000 <Part> entries fit in well under 1 MiB
# fake-gcs-server's own path prefixes: such a request is never an XML-API object request
_UPSTREAM_PREFIXES = frozenset({"storage", "upload", "download", "batch", "_internal"})
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
     "transfer-encoding", "upgrade", "host"}
)  # fmt: skip
# aiohttp adds these when a request lacks them; a forwarded request must stay as sent
# (an added Accept-Encoding: gzip would make fake-gcs-server serve gzip objects compressed)
_NO_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
_STORED_HEADERS = ("Cache-Control", "Content-Disposition", "Content-Language")
_XML = "application/xml; charset=UTF-8"

_Serve = Callable[[web.Request, str, str], Awaitable[web.StreamResponse]]


# GCS XML-API error codes: status and the message GCS (and S3, whose codes it shares) sends
_ERRORS: dict[str, tuple[int, str]] = {
    "BadDigest": (400, "The digest you specified did not match what was received."),
    "EntityTooLarge": (400, "Your proposed upload exceeds the maximum allowed size."),
    "EntityTooSmall": (400, "Your proposed upload is smaller than the minimum allowed size."),
    "InvalidArgument": (400, "Invalid argument."),
    "InvalidDigest": (400, "The digest you specified is not valid."),
    "InvalidPart": (
        400,
        "One or more of the specified parts could not be found. The part might not have been "
        "uploaded, or the specified entity tag might not have matched the part's entity tag.",
    ),
    "InvalidPartOrder": (
        400,
        "The list of parts was not in ascending order. The parts list must be specified in "
        "order by part number.",
    ),
    "MalformedXML": (
        400,
        "The XML you provided was not well-formed or did not validate against our published "
        "schema.",
    ),
    "NoSuchBucket": (404, "The specified bucket does not exist."),
    "NoSuchKey": (404, "The specified key does not exist."),
    "NoSuchUpload": (404, "The requested upload was not found."),
    "PreconditionFailed": (412, "At least one of the pre-conditions you specified did not hold."),
    "InternalError": (500, "We encountered an internal error. Please try again."),
    "NotImplemented": (501, "A header or query you provided implies functionality that is not "
                       "implemented by this test adapter."),
    "ServiceUnavailable": (503, "The adapter is not running."),
}  # fmt: skip


class _GCSError(Exception):
    """One GCS XML-API error response: a code of ``_ERRORS`` and what in the request failed."""

    def __init__(self, code: str, detail: str = "") -> None:
        self.status, message = _ERRORS[code]
        self.code = code
        self.message = f"{message} {detail}".strip()
        super().__init__(f"{self.status} {code}: {self.message}")

    def body(self) -> str:
        return (
            "<?xml version='1.0' encoding='UTF-8'?>"
            f"<Error><Code>{escape(self.code)}</Code>"
            f"<Message>{escape(self.message)}</Message></Error>"
        )


@dataclass(frozen=True)
class Handled:
    """One request the adapter answered: what it was taken for, and the status sent."""

    method: str
    operation: str  # put | copy | initiate | part | complete | abort | refused | forward
    bucket: str
    key: str
    status: int


class _Digest:
    """MD5 and CRC32C of bytes fed in order, in the forms GCS's headers use."""

    def __init__(self) -> None:
        import google_crc32c  # gcsfs and google-cloud-storage bring it

        self._md5 = hashlib.md5(usedforsecurity=False)
        self._crc = google_crc32c.Checksum()
        self.size = 0

    def update(self, data: bytes) -> None:
        self._md5.update(data)
        self._crc.update(data)
        self.size += len(data)

    @property
    def md5_hex(self) -> str:
        return self._md5.hexdigest()

    @property
    def md5_b64(self) -> str:
        return base64.b64encode(self._md5.digest()).decode()

    @property
    def crc32c_b64(self) -> str:
        return base64.b64encode(self._crc.digest()).decode()


@dataclass
class _Part:
    path: Path
    size: int
    md5_hex: str


@dataclass
class _Upload:
    upload_id: str
    bucket: str
    key: str
    directory: Path
    headers: dict[str, str]  # the object's stored headers, from the initiating request
    content_encoding: str
    parts: dict[int, _Part] = field(default_factory=dict)


def _target(raw_path: str) -> tuple[str, str] | None:
    """Return ``(bucket, key)`` of an XML-API path, or None for fake-gcs-server's own APIs."""
    path = raw_path.split("?", 1)[0].lstrip("/")
    bucket_part, _, key_part = path.partition("/")
    bucket = unquote(bucket_part)
    if not bucket or bucket in _UPSTREAM_PREFIXES:
        return None
    return bucket, unquote(key_part)


def _stored_headers(headers: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """The headers an upload stores with its object, and its Content-Encoding."""
    kept = {"Content-Type": headers.get("Content-Type") or "application/octet-stream"}
    for name in _STORED_HEADERS:
        if headers.get(name):
            kept[name] = headers[name]
    for name, value in headers.items():
        if name.lower().startswith("x-goog-meta-"):
            kept[name] = value
    return kept, headers.get("Content-Encoding", "")


def _check_digests(headers: CIMultiDictProxy[str], digest: _Digest) -> None:
    """Refuse a body whose ``Content-MD5`` or ``x-goog-hash`` does not match what arrived."""
    declared: list[tuple[str, str]] = []
    if headers.get("Content-MD5"):
        declared.append(("md5", headers["Content-MD5"]))
    for value in headers.getall("x-goog-hash", []):
        for item in value.split(","):
            name, _, b64 = item.strip().partition("=")
            declared.append((name.strip().lower(), b64.strip()))
    for name, b64 in declared:
        try:
            base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise _GCSError("InvalidDigest", f"{name}={b64!r} is not base64.") from None
        actual = {"md5": digest.md5_b64, "crc32c": digest.crc32c_b64}.get(name)
        if actual is None:
            raise _GCSError("InvalidArgument", f"Unknown x-goog-hash algorithm {name!r}.")
        if b64 != actual:
            raise _GCSError("BadDigest", f"{name}: declared {b64}, received {actual}.")


def _written_headers(obj: Mapping[str, Any], *, md5: bool = True) -> dict[str, str]:
    """What GCS's XML API answers a write with, from fake-gcs-server's JSON object."""
    hashes = f"crc32c={obj['crc32c']}" + (f",md5={obj['md5Hash']}" if md5 else "")
    return {
        "ETag": f'"{obj["etag"]}"',
        "x-goog-generation": str(obj["generation"]),
        "x-goog-metageneration": str(obj.get("metageneration", "1")),
        "x-goog-hash": hashes,
        "x-goog-stored-content-length": str(obj["size"]),
        "x-goog-stored-content-encoding": obj.get("contentEncoding") or "identity",
    }


async def _read_files(paths: Iterable[Path]) -> AsyncIterator[bytes]:
    for path in paths:
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                yield chunk


class GCSXMLAdapter:
    """Serve GCS's XML-API uploads at ``endpoint``, storing on fake-gcs-server at ``upstream``.

    Runs its own event loop in a daemon thread: ``start()`` (or ``with``), ``stop()``.
    ``handled`` lists every request answered, in order (for tests that check which upload
    path a client took).
    """

    def __init__(self, upstream: str, *, port: int = 0, spool_dir: str | None = None) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or parts.hostname is None or parts.port is None:
            raise ValueError(
                f"upstream must be fake-gcs-server's http://127.0.0.1:PORT, not {upstream!r}"
            )
        self.upstream = upstream.rstrip("/")
        self.endpoint = ""
        self.handled: list[Handled] = []
        self._port = port
        self._spool_dir = spool_dir
        self._spool_root: str | None = None  # temporary directory of parts and bodies
        self._pid = 0  # the process that started it: a forked child must not clean up
        self._uploads: dict[str, _Upload] = {}
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> GCSXMLAdapter:
        """Start serving in a background thread; return self once it listens."""
        self._pid = os.getpid()
        self._spool_root = tempfile.mkdtemp(prefix="unifs-gcs-xml-", dir=self._spool_dir)
        self._thread = threading.Thread(target=self._serve, name="unifs-gcs-xml", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            self.stop()
            raise RuntimeError(f"the GCS XML adapter did not start: {self._error}")
        _LIVE.add(self)
        _register_atexit()
        return self

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._listen())
        except BaseException as err:  # reported by start()
            self._error = err
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _listen(self) -> None:
        app = web.Application(client_max_size=_MAX_COMPLETE_BODY)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, _HOST, self._port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.endpoint = f"http://{_HOST}:{port}"
        self._session = ClientSession(
            connector=TCPConnector(limit=64),
            timeout=ClientTimeout(total=None, sock_connect=10),
            auto_decompress=False,
        )

    def stop(self) -> None:
        """Stop serving, drop unfinished uploads and their parts; safe to call twice."""
        _LIVE.discard(self)
        if self._pid != os.getpid():  # a forked copy: the thread and the files are the parent's
            self._loop = self._thread = self._spool_root = None
            return
        loop, self._loop = self._loop, None
        if loop is not None and loop.is_running():

            async def shutdown() -> None:
                if self._runner is not None:
                    await self._runner.cleanup()
                if self._session is not None:
                    await self._client.close()

            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        self._uploads.clear()
        spool, self._spool_root = self._spool_root, None
        if spool is not None:
            shutil.rmtree(spool, ignore_errors=True)

    def __enter__(self) -> GCSXMLAdapter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def _client(self) -> ClientSession:
        if self._session is None:
            raise _GCSError("ServiceUnavailable")
        return self._session

    @property
    def uploads_in_progress(self) -> int:
        """How many multipart uploads were started and neither completed nor aborted."""
        return len(self._uploads)

    # -- dispatch -------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        target = _target(request.raw_path)
        bucket, key = target or ("", "")
        operation = "refused"  # until _route names it
        try:
            operation, handler = self._route(request, target)
            if handler is None:
                response = await self._forward(request)
            else:
                response = await handler(request, bucket, key)
        except ClientError as err:  # fake-gcs-server unreachable or hung up
            error = _GCSError("InternalError", f"fake-gcs-server: {err}")
            response = web.Response(
                status=error.status, text=error.body(), headers={"Content-Type": _XML}
            )
        except _GCSError as err:
            response = web.Response(
                status=err.status, text=err.body(), headers={"Content-Type": _XML}
            )
        self.handled.append(Handled(request.method, operation, bucket, key, response.status))
        return response

    def _route(
        self, request: web.Request, target: tuple[str, str] | None
    ) -> tuple[str, _Serve | None]:
        """Name the operation ``request`` is, and the coroutine that serves it (None: forward)."""
        if target is None:
            return "forward", None
        method, query, key = request.method, request.query, target[1]
        if not key:
            if "uploads" in query:
                raise _GCSError("NotImplemented", "(listing multipart uploads)")
            return "forward", None
        if method == "POST" and "uploads" in query:
            return "initiate", self._initiate
        if "uploadId" in query:
            if method == "PUT":
                return "part", self._put_part
            if method == "POST":
                return "complete", self._complete
            if method == "DELETE":
                return "abort", self._abort
            raise _GCSError("NotImplemented", "(listing parts)")
        # a signed-URL PUT carries X-Goog-Algorithm: fake-gcs-server serves those itself
        if method == "PUT" and "X-Goog-Algorithm" not in query and "uploadType" not in query:
            if "x-goog-copy-source" in request.headers:
                return "copy", self._copy
            return "put", self._put
        return "forward", None

    # -- forwarding -----------------------------------------------------------------------

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        headers = CIMultiDict(
            (k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP
        )
        url = URL(self.upstream + request.raw_path, encoded=True)
        data = request.content if request.body_exists else None
        async with self._client.request(
            request.method,
            url,
            headers=headers,
            data=data,
            allow_redirects=False,
            skip_auto_headers=_NO_AUTO_HEADERS,
        ) as upstream:
            out = CIMultiDict(
                (k, v) for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP
            )
            if request.method == "HEAD" or upstream.status in (204, 304):
                return web.Response(status=upstream.status, reason=upstream.reason, headers=out)
            response = web.StreamResponse(
                status=upstream.status, reason=upstream.reason, headers=out
            )
            await response.prepare(request)
            async for chunk in upstream.content.iter_chunked(_CHUNK):
                await response.write(chunk)
            await response.write_eof()
            return response

    # -- fake-gcs-server's JSON API -------------------------------------------------------

    def _json_url(self, bucket: str, key: str | None = None) -> URL:
        path = f"/storage/v1/b/{quote(bucket, safe='')}"
        if key is not None:
            path += f"/o/{quote(key, safe='')}"
        return URL(self.upstream + path, encoded=True)

    async def _require_bucket(self, bucket: str) -> None:
        async with self._client.get(self._json_url(bucket)) as response:
            await response.read()
            if response.status == 404:
                raise _GCSError("NoSuchBucket")
            if response.status >= 400:
                raise _GCSError("InternalError", f"fake-gcs-server said {response.status}")

    async def _generation(self, bucket: str, key: str) -> int:
        """The live generation of ``key``, or 0 when there is none (GCS's "does not exist")."""
        async with self._client.get(
            self._json_url(bucket, key), params={"fields": "generation"}
        ) as response:
            body = await response.read()
            if response.status == 404:
                return 0
            if response.status >= 400:
                raise _GCSError("InternalError", f"fake-gcs-server said {response.status}")
            return int(json.loads(body)["generation"])

    async def _check_precondition(self, request: web.Request, bucket: str, key: str) -> None:
        """Refuse the write (412) unless ``x-goog-if-generation-match`` holds (0: absent)."""
        for name in ("x-goog-if-metageneration-match", "x-goog-if-generation-not-match"):
            if name in request.headers:
                raise _GCSError("NotImplemented", f"({name})")
        wanted = request.headers.get("x-goog-if-generation-match")
        if wanted is None:
            return
        try:
            expected = int(wanted)
        except ValueError:
            raise _GCSError("InvalidArgument", f"x-goog-if-generation-match={wanted!r}") from None
        if await self._generation(bucket, key) != expected:
            raise _GCSError("PreconditionFailed")

    async def _store(
        self,
        bucket: str,
        key: str,
        paths: list[Path],
        size: int,
        headers: Mapping[str, str],
        content_encoding: str,
    ) -> dict[str, Any]:
        """Write the concatenation of ``paths`` as ``key`` on fake-gcs-server; its JSON."""
        url = URL(f"{self.upstream}/upload/storage/v1/b/{quote(bucket, safe='')}/o", encoded=True)
        params = {"uploadType": "media", "name": key}
        if content_encoding:
            params["contentEncoding"] = content_encoding
        async with self._client.post(
            url,
            params=params,
            data=_read_files(paths),
            headers={**headers, "Content-Length": str(size)},
            skip_auto_headers=_NO_AUTO_HEADERS,
        ) as response:
            body = await response.read()
            if response.status == 404:
                raise _GCSError("NoSuchBucket")
            if response.status >= 400:
                detail = body.decode(errors="replace")[:300]
                raise _GCSError(
                    "InternalError", f"fake-gcs-server said {response.status}: {detail}"
                )
            stored: dict[str, Any] = json.loads(body)
            return stored

    def _lock(self, bucket: str, key: str) -> asyncio.Lock:
        lock = self._locks.get((bucket, key))
        if lock is None:
            lock = self._locks[(bucket, key)] = asyncio.Lock()
        return lock

    # -- spooling request bodies ----------------------------------------------------------

    def _spool_path(self, *parts: str) -> Path:
        if self._spool_root is None:
            raise _GCSError("ServiceUnavailable")
        return Path(self._spool_root, *parts)

    async def _spool(
        self, request: web.Request, path: Path, *, limit: int | None = None
    ) -> _Digest:
        """Write the request body to ``path`` (a new file), checking size and digests."""
        digest = _Digest()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(path, "wb") as out:
                async for chunk in request.content.iter_chunked(_CHUNK):
                    digest.update(chunk)
                    if limit is not None and digest.size > limit:
                        raise _GCSError("EntityTooLarge", f"(over {limit} bytes)")
                    out.write(chunk)
            _check_digests(request.headers, digest)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return digest

    # -- simple upload and copy -----------------------------------------------------------

    async def _put(self, request: web.Request, bucket: str, key: str) -> web.StreamResponse:
        headers, encoding = _stored_headers(request.headers)
        body = self._spool_path("puts", secrets.token_hex(16))
        try:
            digest = await self._spool(request, body)
            async with self._lock(bucket, key):
                await self._check_precondition(request, bucket, key)
                stored = await self._store(bucket, key, [body], digest.size, headers, encoding)
        finally:
            body.unlink(missing_ok=True)
        return web.Response(status=200, headers=_written_headers(stored))

    async def _copy(self, request: web.Request, bucket: str, key: str) -> web.StreamResponse:
        source = unquote(request.headers["x-goog-copy-source"]).lstrip("/")
        source_bucket, _, source_key = source.partition("/")
        if not source_bucket or not source_key:
            raise _GCSError(
                "InvalidArgument", f"x-goog-copy-source={source!r} is not BUCKET/OBJECT."
            )
        if request.headers.get("x-goog-metadata-directive", "COPY").upper() != "COPY":
            raise _GCSError("NotImplemented", "(x-goog-metadata-directive: REPLACE)")
        url = URL(
            f"{self.upstream}/storage/v1/b/{quote(source_bucket, safe='')}"
            f"/o/{quote(source_key, safe='')}/copyTo/b/{quote(bucket, safe='')}"
            f"/o/{quote(key, safe='')}",
            encoded=True,
        )
        params = {}
        if request.headers.get("x-goog-copy-source-generation"):
            params["sourceGeneration"] = request.headers["x-goog-copy-source-generation"]
        async with self._lock(bucket, key):
            await self._check_precondition(request, bucket, key)
            async with self._client.post(url, params=params) as response:
                body = await response.read()
                if response.status == 404:
                    await self._require_bucket(source_bucket)
                    await self._require_bucket(bucket)
                    raise _GCSError("NoSuchKey")
                if response.status >= 400:
                    raise _GCSError("InternalError", f"fake-gcs-server said {response.status}")
                stored = json.loads(body)
        text = (
            "<?xml version='1.0' encoding='UTF-8'?><CopyObjectResult>"
            f"<LastModified>{escape(stored.get('updated', ''))}</LastModified>"
            f'<ETag>"{escape(stored["etag"])}"</ETag></CopyObjectResult>'
        )
        return web.Response(
            status=200, text=text, headers={**_written_headers(stored), "Content-Type": _XML}
        )

    # -- XML multipart uploads ------------------------------------------------------------

    def _upload(self, request: web.Request, bucket: str, key: str) -> _Upload:
        upload = self._uploads.get(request.query["uploadId"])
        if upload is None or (upload.bucket, upload.key) != (bucket, key):
            raise _GCSError("NoSuchUpload")
        return upload

    async def _initiate(self, request: web.Request, bucket: str, key: str) -> web.StreamResponse:
        if any(name.lower().startswith("x-goog-if-") for name in request.headers):
            raise _GCSError("InvalidArgument", "XML API multipart uploads take no preconditions.")
        await request.read()
        await self._require_bucket(bucket)
        headers, encoding = _stored_headers(request.headers)
        upload_id = secrets.token_urlsafe(48)
        directory = self._spool_path("uploads", secrets.token_hex(16))
        directory.mkdir(parents=True)
        self._uploads[upload_id] = _Upload(upload_id, bucket, key, directory, headers, encoding)
        text = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key>"
            f"<UploadId>{upload_id}</UploadId></InitiateMultipartUploadResult>"
        )
        return web.Response(status=200, text=text, headers={"Content-Type": _XML})

    async def _put_part(self, request: web.Request, bucket: str, key: str) -> web.StreamResponse:
        upload = self._upload(request, bucket, key)
        raw = request.query.get("partNumber", "")
        if not raw.isdigit() or not 1 <= int(raw) <= _MAX_PART_NUMBER:
            raise _GCSError(
                "InvalidArgument", f"partNumber={raw!r} is not 1 to {_MAX_PART_NUMBER}."
            )
        number = int(raw)
        # a new name per attempt: a retried or concurrent upload of the same part number
        # must not write into the file the other is reading
        path = upload.directory / f"part-{number:05d}-{secrets.token_hex(8)}"
        digest = await self._spool(request, path, limit=_MAX_PART)
        if self._uploads.get(upload.upload_id) is not upload:  # aborted or completed meanwhile
            path.unlink(missing_ok=True)
            raise _GCSError("NoSuchUpload")
        replaced = upload.parts.get(number)
        upload.parts[number] = _Part(path, digest.size, digest.md5_hex)
        if replaced is not None:
            replaced.path.unlink(missing_ok=True)
        return web.Response(
            status=200,
            headers={
                "ETag": f'"{digest.md5_hex}"',
                "x-goog-hash": f"crc32c={digest.crc32c_b64},md5={digest.md5_b64}",
            },
        )

    async def _complete(self, request: web.Request, bucket: str, key: str) -> web.StreamResponse:
        upload = self._upload(request, bucket, key)
        listed = _parse_complete(await request.read())
        numbers = [number for number, _ in listed]
        if any(a >= b for a, b in itertools.pairwise(numbers)):
            raise _GCSError("InvalidPartOrder")
        chosen: list[_Part] = []
        for number, etag in listed:
            part = upload.parts.get(number)
            if part is None or etag.strip().strip('"').lower() != part.md5_hex:
                raise _GCSError("InvalidPart", f"(part {number}, ETag {etag})")
            chosen.append(part)
        for number, part in zip(numbers[:-1], chosen[:-1], strict=True):
            if part.size < _MIN_PART:
                raise _GCSError(
                    "EntityTooSmall",
                    f"Part {number} is {part.size} bytes; all but the last "
                    f"must be at least {_MIN_PART}.",
                )
        size = sum(part.size for part in chosen)
        async with self._lock(bucket, key):
            if self._uploads.get(upload.upload_id) is not upload:
                raise _GCSError("NoSuchUpload")
            stored = await self._store(
                bucket,
                key,
                [part.path for part in chosen],
                size,
                upload.headers,
                upload.content_encoding,
            )
            self._drop(upload)
        location = f"{self.endpoint}/{quote(bucket, safe='')}/{quote(key, safe='')}"
        text = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Location>{escape(location)}</Location><Bucket>{escape(bucket)}</Bucket>"
            f'<Key>{escape(key)}</Key><ETag>"{escape(stored["etag"])}"</ETag>'
            "</CompleteMultipartUploadResult>"
        )
        # GCS keeps no MD5 for an object assembled from parts
        headers = {**_written_headers(stored, md5=False), "Content-Type": _XML}
        return web.Response(status=200, text=text, headers=headers)

    async def _abort(self, request: web.Request, bucket: str, key: str) -> web.StreamResponse:
        self._drop(self._upload(request, bucket, key))
        return web.Response(status=204)

    def _drop(self, upload: _Upload) -> None:
        self._uploads.pop(upload.upload_id, None)
        shutil.rmtree(upload.directory, ignore_errors=True)


def _parse_complete(body: bytes) -> list[tuple[int, str]]:
    """``(PartNumber, ETag)`` pairs of a CompleteMultipartUpload body, in the order given."""
    malformed = _GCSError("MalformedXML")
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise malformed from None

    def local(tag: str) -> str:
        return tag.rsplit("}", 1)[-1]

    if local(root.tag) != "CompleteMultipartUpload":
        raise malformed
    listed = []
    for part in root:
        if local(part.tag) != "Part":
            raise malformed
        fields = {local(child.tag): (child.text or "") for child in part}
        number, etag = fields.get("PartNumber", ""), fields.get("ETag")
        if not number.strip().isdigit() or etag is None:
            raise malformed
        listed.append((int(number), etag))
    if not listed:
        raise malformed
    return listed


_LIVE: weakref.WeakSet[GCSXMLAdapter] = weakref.WeakSet()
_atexit_registered = False


def _register_atexit() -> None:
    # registered on first start, not at import, so importing this module has no effects
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(_stop_all)
        _atexit_registered = True


def _stop_all() -> None:
    for adapter in list(_LIVE):
        with contextlib.suppress(Exception):
            adapter.stop()
