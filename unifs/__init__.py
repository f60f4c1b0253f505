"""unifs: one fsspec storage layer over OCI Object Storage, AWS S3, GCS and Azure Blob.

>>> import unifs
>>> unifs.normalize("oci://n/acme/b/models/o/llama/")
'oci://models@acme/llama/'

Names are loaded on first use, so ``import unifs`` costs almost nothing (it also runs at
interpreter start-up through the OCI registration hook, see ``unifs.providers.oci_hook``).
"""

from __future__ import annotations

import importlib

# `typing` is not imported at run time: this module loads at every interpreter start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    # what type checkers see; tests/test_exported_members.py keeps it equal to _EXPORTS
    from typing import Any

    from unifs.artifacts import download_artifact as download_artifact
    from unifs.auth import AuthConfig as AuthConfig
    from unifs.capabilities import capabilities as capabilities
    from unifs.endpoint import Endpoint as Endpoint
    from unifs.endpoint import endpoint as endpoint
    from unifs.errors import AmbiguousURIError as AmbiguousURIError
    from unifs.errors import ArtifactNotCachedError as ArtifactNotCachedError
    from unifs.errors import AuthError as AuthError
    from unifs.errors import MissingDependencyError as MissingDependencyError
    from unifs.errors import ModelVerificationError as ModelVerificationError
    from unifs.errors import ObjectChangedError as ObjectChangedError
    from unifs.errors import PresignError as PresignError
    from unifs.errors import TransferError as TransferError
    from unifs.errors import UnifsError as UnifsError
    from unifs.errors import UnsafeKeyError as UnsafeKeyError
    from unifs.errors import UnsupportedError as UnsupportedError
    from unifs.errors import URIError as URIError
    from unifs.filesystem import open as open
    from unifs.filesystem import storage_options as storage_options
    from unifs.filesystem import upath as upath
    from unifs.filesystem import url_to_fs as url_to_fs
    from unifs.presign import presign as presign
    from unifs.presign import revoke as revoke
    from unifs.signing import VerificationReport as VerificationReport
    from unifs.signing import sign_model as sign_model
    from unifs.signing import verify_model as verify_model
    from unifs.transfer import TransferReport as TransferReport
    from unifs.transfer import aget as aget
    from unifs.transfer import aput as aput
    from unifs.transfer import get as get
    from unifs.transfer import put as put
    from unifs.transfer.copy import acopy as acopy
    from unifs.transfer.copy import copy as copy
    from unifs.transfer.sync import SyncReport as SyncReport
    from unifs.transfer.sync import sync as sync
    from unifs.types import AuthLike as AuthLike
    from unifs.types import Capabilities as Capabilities
    from unifs.types import PresignedURL as PresignedURL
    from unifs.types import RetryPolicy as RetryPolicy
    from unifs.types import URILike as URILike
    from unifs.uri import StorageURI as StorageURI
    from unifs.uri import normalize as normalize
    from unifs.uri import parse as parse

__version__ = "0.1.0"

# The one list of public names: name -> module that defines it, loaded on first use.
# ``__all__`` is these, the public submodules and ``__version__``.
_EXPORTS = {
    "AmbiguousURIError": "unifs.errors",
    "ArtifactNotCachedError": "unifs.errors",
    "AuthConfig": "unifs.auth",
    "AuthError": "unifs.errors",
    "AuthLike": "unifs.types",
    "Capabilities": "unifs.types",
    "Endpoint": "unifs.endpoint",
    "MissingDependencyError": "unifs.errors",
    "ModelVerificationError": "unifs.errors",
    "ObjectChangedError": "unifs.errors",
    "PresignError": "unifs.errors",
    "PresignedURL": "unifs.types",
    "RetryPolicy": "unifs.types",
    "StorageURI": "unifs.uri",
    "SyncReport": "unifs.transfer",
    "TransferError": "unifs.errors",
    "TransferReport": "unifs.transfer",
    "URIError": "unifs.errors",
    "URILike": "unifs.types",
    "UnifsError": "unifs.errors",
    "UnsafeKeyError": "unifs.errors",
    "UnsupportedError": "unifs.errors",
    "VerificationReport": "unifs.signing",
    "acopy": "unifs.transfer",
    "aget": "unifs.transfer",
    "aput": "unifs.transfer",
    "capabilities": "unifs.capabilities",
    "copy": "unifs.transfer",
    "download_artifact": "unifs.artifacts",
    "endpoint": "unifs.endpoint",
    "get": "unifs.transfer",
    "normalize": "unifs.uri",
    "open": "unifs.filesystem",
    "parse": "unifs.uri",
    "presign": "unifs.presign",
    "put": "unifs.transfer",
    "revoke": "unifs.presign",
    "sign_model": "unifs.signing",
    "storage_options": "unifs.filesystem",
    "sync": "unifs.transfer",
    "upath": "unifs.filesystem",
    "url_to_fs": "unifs.filesystem",
    "verify_model": "unifs.signing",
}

# public submodules, imported on first use: ``unifs.scan.scan_paths(...)``
_SUBMODULES = ("dask", "scan", "torch", "transfer")

__all__ = sorted([*_EXPORTS, *_SUBMODULES, "__version__"])


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
