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

    from unifs.artifacts import ArtifactNotCachedError, download_artifact
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
    from unifs.signing import ModelVerificationError, VerificationReport, sign_model, verify_model
    from unifs.transfer import (
        TransferError,
        TransferReport,
        UnsafeKeyError,
        aget,
        aput,
        get,
        put,
    )
    from unifs.transfer.copy import acopy, copy
    from unifs.transfer.sync import SyncReport, sync
    from unifs.uri import StorageURI, normalize, parse

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "ArtifactNotCachedError": "unifs.artifacts",
    "download_artifact": "unifs.artifacts",
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
    "ModelVerificationError": "unifs.signing",
    "VerificationReport": "unifs.signing",
    "sign_model": "unifs.signing",
    "verify_model": "unifs.signing",
    "ObjectChangedError": "unifs.errors",
    "StorageURI": "unifs.uri",
    "SyncReport": "unifs.transfer",
    "acopy": "unifs.transfer",
    "copy": "unifs.transfer",
    "sync": "unifs.transfer",
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

# public submodules, imported on first use: ``unifs.scan.scan_paths(...)``
_SUBMODULES = ("dask", "scan", "torch")

__all__ = [
    "AmbiguousURIError",
    "ArtifactNotCachedError",
    "AuthConfig",
    "AuthError",
    "Capabilities",
    "MissingDependencyError",
    "ModelVerificationError",
    "ObjectChangedError",
    "PresignError",
    "PresignedURL",
    "StorageURI",
    "SyncReport",
    "TransferError",
    "TransferReport",
    "URIError",
    "UnifsError",
    "UnsafeKeyError",
    "UnsupportedError",
    "VerificationReport",
    "__version__",
    "acopy",
    "aget",
    "aput",
    "capabilities",
    "copy",
    "dask",
    "download_artifact",
    "get",
    "normalize",
    "open",
    "parse",
    "presign",
    "put",
    "revoke",
    "scan",
    "sign_model",
    "storage_options",
    "sync",
    "torch",
    "upath",
    "url_to_fs",
    "verify_model",
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"unifs.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'unifs' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
