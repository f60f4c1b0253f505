"""Local files and fsspec's in-memory filesystem."""

from __future__ import annotations

import os
import posixpath
import re
from typing import TYPE_CHECKING, Any

from unifs.errors import URIError
from unifs.providers.base import Provider
from unifs.uri import StorageURI

if TYPE_CHECKING:
    from unifs.capabilities import Capabilities

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
