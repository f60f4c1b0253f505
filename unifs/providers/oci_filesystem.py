"""The fsspec filesystem for ``oci://`` (and ``ocios://``): unifs's own, async, over aiohttp.

fsspec finds this class through unifs's ``fsspec.specs`` entry point, so
``fsspec.open("oci://n/{ns}/b/{bucket}/o/{key}")`` works without importing unifs; the
last lines of this module make sure it also wins when ocifs was imported first (see
:mod:`unifs.providers.oci_hook`). ``OCIPath`` is the matching universal-pathlib class.

Paths inside the filesystem are ocifs's ``{bucket}@{namespace}/{key}`` (or ``{bucket}/{key}``
with the namespace looked up); ocifs's storage options (``config``, ``profile``, ``signer``,
``iam_type``, ``region``, ``config_kwargs``, ``compartment_id``, ``namespace``...) keep
their meaning. Every request goes through :meth:`OCIFileSystem._call`: signed with the oci
SDK's signer, retried on 429/5xx and dropped connections under a :class:`RetryPolicy`,
mapped to built-in exceptions that carry OCI's ``opc-request-id``.

Fork-safe: a child process inherits no HTTP session or event loop; the first call in the
child opens its own. Pickles (spawn, multiprocessing, Dask) as its storage options.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import sys
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from fsspec.asyn import AsyncFileSystem, _run_coros_in_chunks, get_loop, sync, sync_wrapper
from fsspec.registry import register_implementation
from fsspec.utils import stringify_path
from upath.implementations.cloud import CloudPath

from unifs.providers.base import iter_body
from unifs.providers.oci import OCIProvider
from unifs.providers.oci_buckets import BucketsAndPARs
from unifs.providers.oci_hook import watching
from unifs.providers.oci_http import (
    AnonymousSigner,
    Reply,
    RetrySettings,
    Transport,
    build_auth,
    chunks,
    part,
    retry_settings,
)
from unifs.providers.oci_io import OCIFile, checksum_headers

__all__ = ["OCIFileSystem", "OCIPath"]


def _let_ocifs_register_first() -> None:
    """ocifs registers its class for "oci" at import and refuses (ValueError) if another
    class holds the name. Where the start-up hook's watcher stands it steps unifs's class
    aside for that moment (see :mod:`unifs.providers.oci_hook`); otherwise, where ocifs is
    installed, import it now, before this module takes the name."""
    from importlib.util import find_spec

    if "ocifs" in sys.modules or watching():
        return
    with contextlib.suppress(ImportError, ValueError):
        if find_spec("ocifs") is not None:
            import ocifs  # noqa: F401


_let_ocifs_register_first()

_PROVIDER = OCIProvider()
_LIST_FIELDS = "name,size,etag,md5,timeCreated,timeModified,storageTier,archivalState"


def _entry(label: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": f"{label}/{obj['name']}",
        "type": "file",
        "size": int(obj.get("size") or 0),
        "etag": obj.get("etag"),
        "md5": obj.get("md5"),
        "timeCreated": obj.get("timeCreated"),
        "timeModified": obj.get("timeModified"),
        "storageTier": obj.get("storageTier"),
        "archivalState": obj.get("archivalState"),
    }


def _dir(name: str) -> dict[str, Any]:
    return {"name": name, "type": "directory", "size": 0}


#: what fsspec's own base classes read from the storage options (listings cache, docs,
#: batch size); ``skip_instance_cache`` is fsspec's too (its metaclass takes it out first)
_FSSPEC_OPTIONS = frozenset(
    {
        "use_listings_cache",
        "listings_expiry_time",
        "max_paths",
        "add_docs",
        "add_aliases",
        "batch_size",
        "skip_instance_cache",
    }
)


def _refuse_unknown_options(extra: Mapping[str, Any]) -> None:
    """A storage option nobody reads is a mistake (``namepsace=``, or a keyword of another
    function that fell through to ``**storage_options``): say so, naming it."""
    import difflib
    import inspect

    unknown = sorted(set(extra) - _FSSPEC_OPTIONS)
    if not unknown:
        return
    known = {
        name
        for name, param in inspect.signature(OCIFileSystem.__init__).parameters.items()
        if param.kind not in (param.VAR_KEYWORD, param.VAR_POSITIONAL) and name != "self"
    } | _FSSPEC_OPTIONS
    name = unknown[0]
    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"its options: {', '.join(sorted(known))}"
    raise TypeError(
        f"unifs's OCI filesystem takes no storage option {name!r} ({hint}): "
        f"OCIFileSystem() got an unexpected keyword argument {name!r}"
    )


class OCIFileSystem(BucketsAndPARs, AsyncFileSystem):
    """OCI Object Storage as an fsspec async filesystem, every unifs ``oci://`` dialect.

    Options are ocifs's (``config``, ``signer``, ``profile``, ``iam_type``, ``region``,
    ``compartment_id``, ``default_block_size``, ``config_kwargs`` with ``service_endpoint``,
    ``namespace``, ``tenancy``) plus ``federation_endpoint`` (instance principals),
    ``max_attempts`` (tries per request, under unifs's RetryPolicy back-off;
    ``config_kwargs["retry_strategy"]`` set to the SDK's ``NoneRetryStrategy`` means 1;
    ``retries`` is accepted as an alias, but it is also ``unifs.get``'s own keyword),
    ``connect_timeout``/``read_timeout`` (seconds),
    ``max_connections``, ``multipart_threshold`` (bytes above which a write is a
    multipart upload) and ``copy_timeout`` (seconds a server-side copy's work request may
    take before it is canceled and the copy fails). ``oci_additional_kwargs`` (ocifs's
    per-call SDK arguments) is accepted and unused: no SDK call is made.
    """

    protocol = ("oci", "ocios")
    root_marker = ""
    default_block_size = 5 * 2**20
    connect_timeout = 10.0
    read_timeout = 60.0

    def __init__(
        self,
        config: Any = None,
        signer: Any = None,
        profile: str | None = None,
        iam_type: str | None = None,
        region: str | None = None,
        compartment_id: str | None = None,
        default_block_size: int | None = None,
        default_cache_type: str = "readahead",
        default_cache_options: dict[str, Any] | None = None,
        config_kwargs: dict[str, Any] | None = None,
        oci_additional_kwargs: dict[str, Any] | None = None,
        *,
        namespace: str | None = None,
        tenancy: str | None = None,
        federation_endpoint: str | None = None,
        max_attempts: int | None = None,
        retries: int | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        max_connections: int = 64,
        multipart_threshold: int = 64 * 2**20,
        copy_timeout: float = 3600.0,
        asynchronous: bool = False,
        loop: Any = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.pop("version_aware", False):
            raise ValueError(
                "version_aware=True: unifs's OCI filesystem reads each object's current "
                "version only; drop the option"
            )
        self.version_aware = False
        _refuse_unknown_options(kwargs)
        super().__init__(asynchronous=asynchronous, loop=loop, **kwargs)
        self.config_kwargs = dict(config_kwargs or {})
        self.oci_additional_kwargs = dict(oci_additional_kwargs or {})
        self._auth = build_auth(
            config=config,
            signer=signer,
            profile=profile,
            iam_type=iam_type,
            region=region,
            config_kwargs=self.config_kwargs,
            federation_endpoint=federation_endpoint,
        )
        self._signer = self._auth.signer
        self.region = self._auth.region
        self.endpoint = self._auth.endpoint
        self.compartment_id = compartment_id
        self.default_namespace = namespace
        self.default_tenancy = tenancy or self._auth.tenancy
        self.default_block_size = default_block_size or self.default_block_size
        self.default_cache_type = default_cache_type
        self.default_cache_options = default_cache_options
        attempts = max_attempts if max_attempts is not None else retries
        self.retry: RetrySettings = retry_settings(attempts, self.config_kwargs)
        self.connect_timeout = connect_timeout or self.connect_timeout
        self.read_timeout = read_timeout or self.read_timeout
        self.max_connections = max_connections
        self.multipart_threshold = multipart_threshold
        self.copy_timeout = copy_timeout
        self._transport = Transport(
            self._auth,
            self.retry,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            max_connections=max_connections,
        )

    def __repr__(self) -> str:
        # the endpoint of a PAR filesystem holds the PAR token: never show it
        return f"<OCIFileSystem region={self.region!r}>"

    # -- fork safety ------------------------------------------------------------------------

    @property
    def loop(self) -> Any:
        """fsspec's IO loop of *this* process: a forked child gets its own, transparently."""
        pid: int = self.__dict__["_pid"]
        if pid != os.getpid():
            self._pid = os.getpid()
            if not self.asynchronous:
                self._loop = get_loop()
        return self._loop

    async def set_session(self) -> Any:
        """The aiohttp session of this process and loop (opened on first use)."""
        return await self._transport.session()

    # -- paths ------------------------------------------------------------------------------

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = stringify_path(path)
        lowered = path.lower()
        if lowered.startswith(("oci://", "ocios://")):
            uri = _PROVIDER.parse(path)
            return _PROVIDER.fs_path(uri).rstrip("/")
        return path.rstrip("/")

    @staticmethod
    def _get_kwargs_from_urls(path: str) -> dict[str, Any]:
        # the region-qualified dialect carries the region; hand it to the client
        if isinstance(path, str) and path.lower().startswith(("oci://", "ocios://")):
            return _PROVIDER.uri_storage_options(_PROVIDER.parse(path))
        return {}

    def unstrip_protocol(self, name: str) -> str:
        return f"oci://{self._strip_protocol(name)}"

    def _split(self, path: str) -> tuple[str, str | None, str, str]:
        """(bucket, namespace or None, key, label): label is the first path part as given."""
        path = self._strip_protocol(path)
        label, _, key = path.partition("/")
        bucket, _, namespace = label.partition("@")
        return bucket, namespace or self.default_namespace or None, key, label

    async def _namespace(self) -> str:
        if not self.default_namespace:
            reply = await self._call("GET", "/n/", what="the tenancy's namespace")
            self.default_namespace = str(reply.json())
        return self.default_namespace

    async def _resolve(self, path: str) -> tuple[str, str, str, str]:
        bucket, namespace, key, label = self._split(path)
        if not bucket:
            raise ValueError(f"{path!r} names no bucket: write bucket@namespace/key")
        return bucket, namespace or await self._namespace(), key, label

    def split_path(self, path: str) -> tuple[str, str, str]:
        """``(bucket, namespace, key)`` as ocifs gives it (looks the namespace up if needed)."""
        bucket, namespace, key, _ = self._split(path)
        if not namespace:
            namespace = sync(self.loop, self._namespace)
        return bucket, namespace, key

    @staticmethod
    def _rest(namespace: str, bucket: str, suffix: str = "") -> str:
        return f"/n/{part(namespace)}/b/{part(bucket)}{suffix}"

    # -- the one request path ---------------------------------------------------------------

    async def _send(self, method: str, rest: str, **kwargs: Any) -> Any:
        """One signed request under the retry policy; the live response (see Transport)."""
        return await self._transport.send(method, rest, **kwargs)

    async def _call(self, method: str, rest: str, **kwargs: Any) -> Reply:
        """One signed request, answer read whole, under the retry policy."""
        return await self._transport.call(method, rest, **kwargs)

    # -- listing ----------------------------------------------------------------------------

    async def _list_pages(
        self,
        bucket: str,
        namespace: str,
        *,
        prefix: str = "",
        delimiter: str | None = "/",
        limit: int = 1000,
        max_items: int | None = None,
        what: str,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every page of ListObjects; a failing page raises (after retries), never truncates."""
        start: str | None = None
        seen = 0
        while True:
            params = {
                "prefix": prefix or None,
                "delimiter": delimiter,
                "fields": _LIST_FIELDS,
                "limit": limit if max_items is None else min(limit, max_items - seen),
                "start": start,
            }
            reply = await self._call(
                "GET", self._rest(namespace, bucket, "/o"), params=params, what=what
            )
            page = reply.json()
            yield page
            seen += len(page.get("objects") or []) + len(page.get("prefixes") or [])
            start = page.get("nextStartWith")
            if not start or (max_items is not None and seen >= max_items):
                return

    async def _lsdir(self, path: str) -> list[dict[str, Any]]:
        bucket, namespace, key, label = await self._resolve(path)
        prefix = f"{key}/" if key else ""
        entries: list[dict[str, Any]] = []
        seen: set[str] = set()
        async for page in self._list_pages(bucket, namespace, prefix=prefix, what=path):
            for obj in page.get("objects") or []:
                if obj["name"] == prefix:
                    continue  # a "folder" marker object equal to the prefix itself
                entries.append(_entry(label, obj))
            for common in page.get("prefixes") or []:
                if common not in seen:  # OCI repeats a prefix on each page its objects reach
                    seen.add(common)
                    entries.append(_dir(f"{label}/{common[:-1]}"))
        entries.sort(key=lambda e: e["name"])
        return entries

    async def _ls(
        self, path: str, detail: bool = True, refresh: bool = False, **kwargs: Any
    ) -> Any:
        path = self._strip_protocol(path)
        if not path:
            if refresh or "" not in self.dircache:
                self.dircache[""] = await self._lsbuckets()
            entries = self.dircache[""]
        elif not refresh and path in self.dircache:
            entries = self.dircache[path]
        else:
            entries = await self._lsdir(path)
            if entries:
                self.dircache[path] = entries
            else:
                _, _, key, _ = self._split(path)
                if key:
                    # an object, not a prefix: ls gives its own entry (or nothing exists)
                    entries = [await self._info_object(path)]
                else:
                    self.dircache[path] = entries  # an empty bucket
        return [dict(e) for e in entries] if detail else [e["name"] for e in entries]

    async def _find(
        self,
        path: str,
        maxdepth: int | None = None,
        withdirs: bool = False,
        detail: bool = False,
        **kwargs: Any,
    ) -> Any:
        """One flat, paginated listing of everything under ``path`` (no per-directory walk)."""
        path = self._strip_protocol(path)
        if maxdepth is not None or not path:
            return await super()._find(
                path, maxdepth=maxdepth, withdirs=withdirs, detail=detail, **kwargs
            )
        bucket, namespace, key, label = await self._resolve(path)
        prefix = f"{key}/" if key else ""
        found: dict[str, dict[str, Any]] = {}
        async for page in self._list_pages(
            bucket, namespace, prefix=prefix, delimiter=None, what=path
        ):
            for obj in page.get("objects") or []:
                if obj["name"] == prefix:
                    continue
                entry = _entry(label, obj)
                found[entry["name"]] = entry
        if withdirs:
            for name in list(found):
                parent = name.rsplit("/", 1)[0]
                while len(parent) > len(path) and parent not in found:
                    found[parent] = _dir(parent)
                    parent = parent.rsplit("/", 1)[0]
            if found or not key:
                found.setdefault(path, _dir(path))
        if not found and key:
            with contextlib.suppress(FileNotFoundError):
                info = await self._info_object(path)
                found[info["name"]] = info
        names = sorted(found)
        return {n: found[n] for n in names} if detail else names

    # -- info -------------------------------------------------------------------------------

    async def _info_object(self, path: str) -> dict[str, Any]:
        bucket, namespace, key, label = await self._resolve(path)
        reply = await self._call(
            "HEAD", self._rest(namespace, bucket, f"/o/{part(key)}"), what=f"{label}/{key}"
        )
        return self._head_info(f"{label}/{key}", reply.headers)

    @staticmethod
    def _head_info(name: str, headers: Mapping[str, str]) -> dict[str, Any]:
        modified = headers.get("last-modified")
        info: dict[str, Any] = {
            "name": name,
            "type": "file",
            "size": int(headers.get("content-length") or 0),
            "etag": headers.get("etag"),
            "md5": headers.get("opc-multipart-md5") or headers.get("content-md5"),
            "crc32c": headers.get("opc-content-crc32c"),
            "timeModified": (
                parsedate_to_datetime(modified).astimezone(timezone.utc).isoformat()
                if modified
                else None
            ),
            "ContentType": headers.get("content-type"),
            "storageTier": headers.get("storage-tier"),
            "archivalState": headers.get("archival-state"),
            "metadata": {
                name[len("opc-meta-") :]: value
                for name, value in headers.items()
                if name.lower().startswith("opc-meta-")
            },
            "version_id": headers.get("version-id"),
        }
        return info

    async def _info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        if not path:
            return _dir("")
        bucket, namespace, key, label = await self._resolve(path)
        if not key:
            await self._call("HEAD", self._rest(namespace, bucket, "/"), what=label)
            return _dir(label)
        parent = self._parent(path)
        for entry in self.dircache.get(parent) or ():
            if entry["name"] == path:
                return dict(entry)
        try:
            return await self._info_object(path)
        except FileNotFoundError:
            pass
        async for page in self._list_pages(
            bucket, namespace, prefix=f"{key}/", delimiter=None, limit=1, max_items=1, what=path
        ):
            if page.get("objects") or page.get("prefixes"):
                return _dir(path)
        raise FileNotFoundError(path)

    async def _exists(self, path: str, **kwargs: Any) -> bool:
        try:
            await self._info(path)
        except FileNotFoundError:
            return False
        return True

    async def _isdir(self, path: str) -> bool:
        try:
            return (await self._info(path))["type"] == "directory"
        except FileNotFoundError:
            return False

    async def _modified(self, path: str) -> datetime:
        info = await self._info(path)
        stamp = info.get("timeModified")
        if not stamp:
            raise IsADirectoryError(f"{path} is a directory: it has no modification time")
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))

    modified = sync_wrapper(_modified)

    def checksum(self, path: str) -> int:
        return int(self.ukey(path), 16)

    def ukey(self, path: str) -> str:
        info = self.info(path)
        return hashlib.sha256(str(info.get("etag") or info).encode()).hexdigest()

    def invalidate_cache(self, path: str | None = None) -> None:
        if path is None:
            self.dircache.clear()
            return
        path = self._strip_protocol(path)
        while path:
            self.dircache.pop(path, None)
            path = self._parent(path)
        self.dircache.pop("", None)

    # -- reading ----------------------------------------------------------------------------

    async def _range_header(self, path: str, start: int | None, end: int | None) -> str | None:
        if start is None and end is None:
            return None
        if (start or 0) >= 0 and end is not None and end >= 0 and end <= (start or 0):
            return ""  # nothing to read
        return await self._process_limits(path, start, end)

    async def _cat_file(
        self,
        path: str,
        start: int | None = None,
        end: int | None = None,
        *,
        if_match: str | None = None,
        **kwargs: Any,
    ) -> bytes:
        bucket, namespace, key, label = await self._resolve(path)
        rng = await self._range_header(path, start, end)
        if rng == "" or (rng and rng.endswith("=-0")):
            return b""
        headers = {"Range": rng} if rng else {}
        if if_match:
            headers["If-Match"] = if_match
        reply = await self._call(
            "GET",
            self._rest(namespace, bucket, f"/o/{part(key)}"),
            headers=headers,
            what=f"{label}/{key}",
            pinned=if_match,
            allow=(416,),
        )
        return b"" if reply.status == 416 else reply.data

    async def _stream(
        self,
        path: str,
        start: int,
        end: int,
        *,
        if_match: str | None = None,
        chunk_size: int = 1 << 20,
    ) -> AsyncIterator[bytes]:
        """Yield bytes ``[start, end)`` of ``path`` as they arrive (one request).

        ``chunk_size=0`` yields each piece as aiohttp received it (no join, no copy).
        """
        if end <= start:
            return
        bucket, namespace, key, label = await self._resolve(path)
        headers = {"Range": f"bytes={start}-{end - 1}"}
        if if_match:
            headers["If-Match"] = if_match
        response = await self._send(
            "GET",
            self._rest(namespace, bucket, f"/o/{part(key)}"),
            headers=headers,
            what=f"{label}/{key}",
            pinned=if_match,
        )
        try:
            pieces = (
                chunks(response.content, chunk_size) if chunk_size else iter_body(response.content)
            )
            async for chunk in pieces:
                yield chunk
        except BaseException:
            response.close()  # the rest of the body is still on the wire
            raise
        response.release()

    async def _get_file(self, rpath: str, lpath: str, callback: Any = None, **kwargs: Any) -> None:
        if os.path.isdir(lpath):
            return
        bucket, namespace, key, label = await self._resolve(rpath)
        response = await self._send(
            "GET", self._rest(namespace, bucket, f"/o/{part(key)}"), what=f"{label}/{key}"
        )
        try:
            size = int(response.headers.get("content-length") or 0)
            if callback is not None:
                callback.set_size(size)
            with open(lpath, "wb") as handle:
                async for chunk in response.content.iter_chunked(1 << 20):
                    handle.write(chunk)
                    if callback is not None:
                        callback.relative_update(len(chunk))
        except BaseException:
            response.close()
            raise
        response.release()

    # -- writing ----------------------------------------------------------------------------

    async def _put_object(
        self, path: str, data: bytes, *, exclusive: bool = False, content_type: str | None = None
    ) -> dict[str, str]:
        bucket, namespace, key, label = await self._resolve(path)
        headers = {
            "Content-Type": content_type or "application/octet-stream",
            **checksum_headers(data),
        }
        if exclusive:
            headers["If-None-Match"] = "*"
        reply = await self._call(
            "PUT",
            self._rest(namespace, bucket, f"/o/{part(key)}"),
            headers=headers,
            body=data,
            sign_body=False,
            what=f"{label}/{key}",
        )
        self.invalidate_cache(path)
        return dict(reply.headers)

    async def _pipe_file(
        self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any
    ) -> None:
        data = bytes(value)
        exclusive = mode == "create"
        if len(data) <= self.multipart_threshold:
            await self._put_object(path, data, exclusive=exclusive)
            return
        from unifs.providers.oci_io import Multipart

        upload = await Multipart.start(self, path, exclusive=exclusive)
        step = max(self.default_block_size, -(-len(data) // 10_000))
        await upload.run(
            [(i + 1, data[off : off + step]) for i, off in enumerate(range(0, len(data), step))],
            concurrency=8,
        )

    async def _put_file(
        self,
        lpath: str,
        rpath: str,
        callback: Any = None,
        chunksize: int | None = None,
        max_concurrency: int | None = None,
        mode: str = "overwrite",
        **kwargs: Any,
    ) -> None:
        if os.path.isdir(lpath):
            return  # an object store has no directories to make
        size = os.path.getsize(lpath)
        if callback is not None:
            callback.set_size(size)
        exclusive = mode == "create"
        # a part size the caller chose means multipart above it; otherwise the threshold
        part = chunksize or max(self.default_block_size, 16 * 2**20)
        if size <= (part if chunksize else max(self.multipart_threshold, part)):
            data = await asyncio.get_running_loop().run_in_executor(None, _read_all, lpath)
            await self._put_object(rpath, data, exclusive=exclusive)
        else:
            from unifs.providers.oci_io import Multipart

            part = max(part, -(-size // 10_000))
            # equal parts, the size recorded with the object: its multipart MD5 can be checked
            upload = await Multipart.start(self, rpath, exclusive=exclusive, part_size=part)
            await upload.run_file(lpath, size, part, concurrency=max_concurrency or 8)
        if callback is not None:
            callback.relative_update(size)

    async def _cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        """Server-side CopyObject, its work request waited for (under ``copy_timeout``).

        Raises :class:`unifs.providers.oci_copy.CopyRefused` when OCI's service may not
        copy (no service IAM policy): ``unifs.copy`` then streams the bytes instead.
        """
        from unifs.providers.oci_copy import copy_object

        await copy_object(self, path1, path2, timeout=self.copy_timeout)

    async def _restore(
        self, path: str, hours: int = 24, wait: bool = False, max_wait: float = 3 * 3600.0
    ) -> list[str]:
        """Restore the Archive-tier object ``path`` (or those under a prefix) for ``hours``;
        ``wait=True`` returns once they are readable. See :mod:`unifs.providers.oci_restore`."""
        from unifs.providers.oci_restore import restore

        return await restore(self, path, hours=hours, wait=wait, max_wait=max_wait)

    restore = sync_wrapper(_restore)

    async def _rm_file(self, path: str, **kwargs: Any) -> None:
        bucket, namespace, key, label = await self._resolve(path)
        if not key:
            raise IsADirectoryError(f"{path} is a bucket: use rmdir to delete it")
        try:
            await self._call(
                "DELETE", self._rest(namespace, bucket, f"/o/{part(key)}"), what=f"{label}/{key}"
            )
        finally:
            self.invalidate_cache(path)

    async def _rm(
        self,
        path: Any,
        recursive: bool = False,
        batch_size: int | None = None,
        maxdepth: int | None = None,
        **kwargs: Any,
    ) -> None:
        paths = await self._expand_path(path, recursive=recursive, maxdepth=maxdepth)
        files: list[str] = []
        buckets: list[str] = []
        for p in paths:
            (files if self._split(p)[2] else buckets).append(p)

        async def delete(p: str) -> None:
            try:
                await self._rm_file(p)
            except FileNotFoundError:
                if not recursive:
                    raise  # an explicitly named object that is not there

        await _run_coros_in_chunks(
            [delete(p) for p in files], batch_size=batch_size or 64, nofiles=True
        )
        for bucket in buckets:
            await self._rmdir(bucket)

    # -- files ------------------------------------------------------------------------------

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        cache_type: str | None = None,
        **kwargs: Any,
    ) -> OCIFile:
        if mode not in ("rb", "wb", "xb"):
            raise ValueError(f"mode {mode!r}: OCI objects open as 'rb', 'wb' or 'xb'")
        if mode == "xb" and self.exists(path):
            raise FileExistsError(f"{path} exists (mode 'xb' only creates new objects)")
        return OCIFile(
            self,
            path,
            mode,
            block_size=block_size or self.default_block_size,
            autocommit=autocommit,
            cache_type=cache_type or self.default_cache_type,
            cache_options=cache_options or self.default_cache_options,
            **kwargs,
        )


def _read_all(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


class OCIPath(CloudPath):
    """A pathlib-style path on OCI Object Storage: anchor ``bucket@namespace/``, like S3Path."""

    __slots__ = ()


def _teach_upath() -> None:
    """universal-pathlib learns that an OCI bucket is the anchor, as an S3 bucket is."""
    from upath._flavour import WrappedFileSystemFlavour
    from upath.registry import register_implementation as register_path

    config = WrappedFileSystemFlavour.protocol_config
    for protocol in OCIFileSystem.protocol:
        config["netloc_is_anchor"].add(protocol)
        config["supports_empty_parts"].add(protocol)
        register_path(protocol, OCIPath, clobber=True)
    WrappedFileSystemFlavour.from_protocol.cache_clear()


_teach_upath()
for _protocol in OCIFileSystem.protocol:
    register_implementation(_protocol, OCIFileSystem, clobber=True)
# the anonymous signer is importable from here too (PAR and public-bucket filesystems)
_ = AnonymousSigner
