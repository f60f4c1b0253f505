"""The fsspec filesystem for ``oci://``: ocifs, taught every OCI URI dialect unifs reads.

fsspec finds this class through unifs's ``fsspec.specs`` entry point, so
``fsspec.open("oci://n/{ns}/b/{bucket}/o/{key}")`` works without importing unifs; the
last line of this module makes sure it also wins when ocifs was imported first (see
:mod:`unifs._oci_hook`). ``OCIPath`` is the matching universal-pathlib class.

Paths inside the filesystem are ocifs's canonical ``{bucket}@{namespace}/{key}``.
"""

from __future__ import annotations

from typing import Any

import ocifs
from fsspec.registry import register_implementation
from fsspec.utils import stringify_path
from upath.implementations.cloud import CloudPath

from unifs.providers.oci import OCIProvider
from unifs.redact import install_log_filters

__all__ = ["OCIFileSystem", "OCIPath"]

_PROVIDER = OCIProvider()

# ocifs logs its whole config dict at DEBUG, private key content and passphrase included.
install_log_filters(("ocifs",), later=False)


class OCIFileSystem(ocifs.OCIFileSystem):
    """ocifs's filesystem that also reads the OME and region-qualified ``oci://`` dialects."""

    protocol = ("oci",)

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = stringify_path(path)
        if path.startswith("oci://"):
            uri = _PROVIDER.parse(path)
            stripped = _PROVIDER.fs_path(uri)
            if uri.key:
                return stripped.rstrip("/")
            # a bucket root: ocifs's own rule keeps "bucket@ns" without a slash
            return stripped.rstrip("/")
        return super()._strip_protocol(path)

    @staticmethod
    def _get_kwargs_from_urls(path: str) -> dict[str, Any]:
        # the region-qualified dialect carries the region; hand it to the client
        if isinstance(path, str) and path.startswith("oci://"):
            return _PROVIDER.uri_storage_options(_PROVIDER.parse(path))
        return {}

    # ocifs returns requests' CaseInsensitiveDict, which is not a dict: fsspec's contract
    # (and UPath.iterdir, pandas, ...) expect plain dicts.
    def ls(self, path: str, detail: bool = False, **kwargs: Any) -> list[Any]:
        entries = super().ls(path, detail=detail, **kwargs)
        return [dict(e) for e in entries] if detail else entries

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        info = dict(super().info(path, **kwargs))
        if info.get("type") == "file" and "md5" not in info:
            # ocifs's HEAD drops the MD5 headers; listings carry them, so ask the listing
            info.update(self._listed_md5(info["name"]))
        return info

    def _listed_md5(self, name: str) -> dict[str, Any]:
        bucket, namespace, key = self.split_path(name)
        listing = self.oci_client.list_objects(
            namespace, bucket, prefix=key, limit=1, fields="name,size,md5"
        ).data.objects
        if listing and listing[0].name == key and listing[0].md5:
            return {"md5": listing[0].md5}
        return {}


class OCIPath(CloudPath):
    """A pathlib-style path on OCI Object Storage (universal-pathlib)."""

    __slots__ = ()


register_implementation("oci", OCIFileSystem, clobber=True)
