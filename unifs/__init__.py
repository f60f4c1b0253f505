"""unifs: one fsspec storage layer over OCI Object Storage, AWS S3, GCS and Azure Blob.

>>> import unifs
>>> unifs.normalize("oci://n/acme/b/models/o/llama/")
'oci://models@acme/llama/'

Names are loaded on first use, so ``import unifs`` costs almost nothing (it also runs at
interpreter start-up through the OCI registration hook, see ``unifs._oci_hook``).
"""

from __future__ import annotations

import importlib

# `typing` is not imported at run time: this module loads at every interpreter start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from unifs.auth import AuthConfig, AuthError, storage_options
    from unifs.capabilities import Capabilities, capabilities
    from unifs.errors import (
        AmbiguousURIError,
        MissingDependencyError,
        ObjectChangedError,
        UnifsError,
        UnsupportedError,
        URIError,
    )
    from unifs.filesystem import open, upath, url_to_fs
    from unifs.presign import PresignedURL, PresignError, presign, revoke
    from unifs.transfer import (
        TransferError,
        TransferReport,
        UnsafeKeyError,
        aget,
        aput,
        get,
        put,
    )
    from unifs.uri import StorageURI, normalize, parse

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "PresignError": "unifs.presign",
    "PresignedURL": "unifs.presign",
    "presign": "unifs.presign",
    "revoke": "unifs.presign",
    "AuthConfig": "unifs.auth",
    "AuthError": "unifs.auth",
    "Capabilities": "unifs.capabilities",
    "capabilities": "unifs.capabilities",
    "storage_options": "unifs.auth",
    "AmbiguousURIError": "unifs.errors",
    "MissingDependencyError": "unifs.errors",
    "ObjectChangedError": "unifs.errors",
    "StorageURI": "unifs.uri",
    "TransferError": "unifs.transfer",
    "TransferReport": "unifs.transfer",
    "UnsafeKeyError": "unifs.transfer",
    "aget": "unifs.transfer",
    "aput": "unifs.transfer",
    "URIError": "unifs.errors",
    "UnifsError": "unifs.errors",
    "UnsupportedError": "unifs.errors",
    "get": "unifs.transfer",
    "normalize": "unifs.uri",
    "open": "unifs.filesystem",
    "parse": "unifs.uri",
    "put": "unifs.transfer",
    "upath": "unifs.filesystem",
    "url_to_fs": "unifs.filesystem",
}

__all__ = [
    "AmbiguousURIError",
    "AuthConfig",
    "AuthError",
    "Capabilities",
    "MissingDependencyError",
    "ObjectChangedError",
    "PresignError",
    "PresignedURL",
    "StorageURI",
    "TransferError",
    "TransferReport",
    "URIError",
    "UnifsError",
    "UnsafeKeyError",
    "UnsupportedError",
    "__version__",
    "aget",
    "aput",
    "capabilities",
    "get",
    "normalize",
    "open",
    "parse",
    "presign",
    "put",
    "revoke",
    "storage_options",
    "upath",
    "url_to_fs",
]


# integrations reached as ``unifs.torch`` after a plain ``import unifs`` (they need extras)
_SUBPACKAGES = frozenset({"torch"})


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"unifs.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'unifs' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
