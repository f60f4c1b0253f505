"""Local files and fsspec's in-memory filesystem."""

from __future__ import annotations

import os
import posixpath
import re
from typing import Any

from unifs.errors import ObjectChangedError, URIError
from unifs.providers.base import Provider
from unifs.types import Capabilities
from unifs.uri import StorageURI

__all__ = ["LocalProvider", "MemoryProvider"]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def _local_capabilities(provider: Provider, fs: Any) -> Capabilities:
    no_url = "local paths have no URL to share"
    return provider._capabilities(
        fs,
        server_side_copy=True,
        reasons={"presign_get": no_url, "presign_put": no_url, "checksum": "no stored checksum"},
    )


class LocalProvider(Provider):
    """Local paths: ``/abs/path``, ``./rel``, ``~/x``, ``file:///abs/path``."""

    name = "local"
    local_disk = True
    schemes = ("file", "local")
    fsspec_protocol = "file"
    styles = ("fsspec", "path")

    def parse(self, text: str, *, account: str | None = None) -> StorageURI:
        if _SCHEME.match(text):  # file:// or local://; a bare path may hold '://' itself
            _, _, rest = text.partition("://")
            host, slash, path = rest.partition("/")
            if host not in ("", "localhost"):
                raise URIError(
                    f"{text!r} names host {host!r}; a local path URI has three slashes: "
                    f"file:///{rest}",
                    uri=text,
                )
            text = slash + path
        prefix = text.endswith(("/", os.sep))
        path = os.path.abspath(os.path.expanduser(text)).replace(os.sep, "/")
        if prefix and not path.endswith("/"):
            path += "/"
        return StorageURI(provider=self.name, bucket=None, key=path)

    def _format_fsspec(self, uri: StorageURI) -> str:
        return "file://" + uri.key

    def capabilities(self, fs: Any) -> Capabilities:
        return _local_capabilities(self, fs)

    def matrix_filesystems(self) -> list[tuple[str, Any]]:
        import fsspec

        return [("", fsspec.filesystem("file"))]

    def uri_storage_options(self, uri: StorageURI) -> dict[str, Any]:
        # object stores have no directories to create first; make local paths behave alike
        return {"auto_mkdir": True}

    def _format_path(self, uri: StorageURI) -> str:
        return uri.key

    def fs_path(self, uri: StorageURI) -> str:
        return uri.key

    def version_pin(self, info: dict[str, Any]) -> str | None:
        # a file replaced by rename has a new inode; one rewritten in place a new mtime
        if info.get("ino") is None or info.get("mtime") is None:
            return None
        return f"{info['ino']}:{info['mtime']}:{info.get('size')}"

    def read_range(
        self, fs: Any, path: str, start: int, end: int, *, pin: str | None = None
    ) -> Any:
        if not pin:
            return None

        def read() -> bytes:
            with open(path, "rb") as handle:
                before = _local_pin(os.fstat(handle.fileno()))
                data = os.pread(handle.fileno(), end - start, start)
                if before != pin or _local_pin(os.fstat(handle.fileno())) != pin:
                    raise ObjectChangedError(path, pin)
            return data

        return read


def _local_pin(stat: os.stat_result) -> str:
    return f"{stat.st_ino}:{stat.st_mtime}:{stat.st_size}"


class MemoryProvider(Provider):
    """fsspec's process-local in-memory filesystem: ``memory://path``."""

    name = "memory"
    schemes = ("memory",)
    fsspec_protocol = "memory"

    def parse(self, text: str, *, account: str | None = None) -> StorageURI:
        _, _, rest = text.partition("://")
        prefix = rest.endswith("/") and rest.strip("/") != ""
        path = posixpath.normpath("/" + rest.lstrip("/"))
        if prefix and not path.endswith("/"):  # "memory://./" is the root, not "//"
            path += "/"
        return StorageURI(provider=self.name, bucket=None, key=path)

    def _format_fsspec(self, uri: StorageURI) -> str:
        return "memory://" + uri.key.lstrip("/")

    def capabilities(self, fs: Any) -> Capabilities:
        return _local_capabilities(self, fs)

    def matrix_filesystems(self) -> list[tuple[str, Any]]:
        import fsspec

        return [("", fsspec.filesystem("memory"))]

    def fs_path(self, uri: StorageURI) -> str:
        return uri.key
