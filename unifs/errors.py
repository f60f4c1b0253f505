"""Exceptions raised by unifs: the one hierarchy, all defined here.

Every error unifs raises derives from :class:`UnifsError`, so ``except unifs.UnifsError``
catches them all. Each leaf also derives from the built-in exception a caller would catch
without knowing unifs, so existing ``except ValueError`` / ``except ImportError`` code keeps
working::

    UnifsError
    ├── URIError (ValueError)                    a URI unifs cannot read
    │   └── AmbiguousURIError                    one that reads two ways: spell it out
    ├── AuthError (ValueError)                   an auth block unifs cannot use
    ├── UnsupportedError (ValueError)            a style/operation a provider does not have
    │   └── PresignError                         a URL that cannot be presigned as asked
    ├── ObjectChangedError (OSError)             an object was replaced while it was being read
    ├── NotRestoredError (PermissionError)       an archived object not restored yet (OCI)
    ├── CopyRefused (PermissionError, NotImplementedError)  a server-side copy the store refused
    ├── CopyTimedOut (OSError)                   a server-side copy outlived its deadline
    ├── RestoreTimedOut (OSError)                restores not finished within max_wait
    ├── ShortRead (OSError)                      a response ended before its range (retried)
    ├── Permanent (OSError)                      a failure no retry can fix (the engine's)
    ├── NotRead (ValueError)                     a file the scanner would not read
    ├── MissingDependencyError (ImportError)     a provider's extra is not installed
    ├── TransferError (OSError)                  files failed to transfer (``.report``)
    ├── TransferBusyError (BlockingIOError)      another transfer holds the destination
    ├── UnsafeKeyError (ValueError)              a key would land outside the destination
    ├── ArtifactNotCachedError (FileNotFoundError)  offline, and not in the artifact cache
    ├── CacheEntryDamagedError (OSError)         a cached entry that could not be repaired
    ├── ModelVerificationError (ValueError)      a model does not match its signature
    │   └── UnsafeModelFileError                 a symlink or special file in a local model
    └── SafetensorsError (ValueError)            not a valid safetensors file or index

The modules that raise them re-export them under their old names (``unifs.auth.AuthError``,
``unifs.transfer.TransferError``, ``unifs.signing.ModelVerificationError``, ...).

Messages say what was wrong and how to write it right. They never contain secrets: every
message (and ``URIError.uri``) passes through :func:`unifs.redact.mask_secrets`, so a
presigned URL's signature, a SAS or a PAR token shows as ``***`` however it got there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from unifs.redact import mask_secrets

if TYPE_CHECKING:  # the reports these errors carry (type checkers only)
    from unifs.engine.report import TransferReport
    from unifs.signing import VerificationReport

__all__ = [
    "AmbiguousURIError",
    "ArtifactNotCachedError",
    "AuthError",
    "CacheEntryDamagedError",
    "CopyRefused",
    "CopyTimedOut",
    "DistributedLoadError",
    "MissingDependencyError",
    "ModelVerificationError",
    "NotRead",
    "NotRestoredError",
    "ObjectChangedError",
    "PartSizeError",
    "Permanent",
    "PresignError",
    "RefusedKeyError",
    "RestoreTimedOut",
    "SafetensorsError",
    "ShortRead",
    "TransferBusyError",
    "TransferError",
    "URIError",
    "UnifsError",
    "UnsafeKeyError",
    "UnsafeModelFileError",
    "UnsupportedError",
    "causes",
    "http_status",
]


class UnifsError(Exception):
    """Root of every error unifs raises; its message has every secret masked."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*(mask_secrets(a) if isinstance(a, str) else a for a in args), **kwargs)


class URIError(UnifsError, ValueError):
    """A URI is malformed, or names no provider unifs knows.

    ``uri`` is the input as given, with any secret in it masked; the message shows a correct
    spelling.
    """

    def __init__(self, message: str, *, uri: str | None = None) -> None:
        super().__init__(message)
        self.uri = mask_secrets(uri) if isinstance(uri, str) else uri


class AmbiguousURIError(URIError):
    """A URI could mean more than one object; the message shows how to say which."""


class AuthError(UnifsError, ValueError):
    """An auth block is invalid: unknown mode or parameter, or a required one missing."""


class UnsupportedError(UnifsError, ValueError):
    """A provider cannot do what was asked (a URI style, an operation)."""


class PresignError(UnsupportedError):
    """A URL cannot be presigned as asked; the message says why and how to get one."""


class ObjectChangedError(UnifsError, OSError):
    """An object no longer is the version a read was pinned to (its ETag or generation moved).

    Raised by pinned reads (``If-Match`` on the ETag, GCS's generation) when the store answers
    412 Precondition Failed or otherwise shows another version: the bytes already read belong
    to an object that is gone, so the read must start over or fail, never be spliced.
    ``path`` is the object's path; ``expected`` the identity the read was pinned to.
    """

    def __init__(self, path: str, expected: str | None = None, *, request_id: str | None = None):
        detail = f" (pinned to {expected})" if expected else ""
        rid = f"; request id {request_id}" if request_id else ""
        super().__init__(f"{path} was replaced on the server while it was being read{detail}{rid}")
        self.path = path
        self.expected = expected
        self.request_id = request_id


class NotRestoredError(UnifsError, PermissionError):
    """GET of an object in an archive tier that has not been restored (OCI: 409 NotRestored).

    The message names the object and how to restore it (``unifs restore``).
    """


class CopyRefused(UnifsError, PermissionError, NotImplementedError):
    """The store refused a server-side copy (OCI: the Object Storage service may not act on
    a bucket without an IAM policy).

    A ``PermissionError`` (it is a policy), and a ``NotImplementedError``, so the copy engine
    then streams the bytes through the client instead, and says so in its report.
    """


class CopyTimedOut(UnifsError, OSError):
    """A server-side copy's work request outlived ``copy_timeout`` (and was canceled).

    Not a ``TimeoutError``: fsspec's ``sync()`` replaces those with a bare
    ``FSTimeoutError``, losing the message.
    """


class RestoreTimedOut(UnifsError, OSError):
    """The restores asked for were not finished within ``max_wait`` (they go on in the store)."""


class ShortRead(UnifsError, OSError):
    """The server ended a response before the range was complete (a truncated body)."""


class Permanent(UnifsError, OSError):
    """A failure no retry can fix."""


class NotRead(UnifsError, ValueError):
    """The file was not read: not a regular file, or over the size limit."""


class MissingDependencyError(UnifsError, ImportError):
    """A provider's optional dependency is missing; the message names the extra to install."""

    def __init__(self, provider: str, extra: str, missing: str) -> None:
        super().__init__(
            f"{provider} support needs the {missing!r} package, which is not installed. "
            f"Install it with: pip install 'unifs[{extra}]'",
            name=missing,
        )
        self.provider = provider
        self.extra = extra


class TransferError(UnifsError, OSError):
    """One or more files failed to transfer; ``report`` says which and why."""

    def __init__(self, message: str, report: TransferReport) -> None:
        super().__init__(message)
        self.report = report


class TransferBusyError(UnifsError, BlockingIOError):
    """Another transfer is writing into the same destination and did not finish in time."""


class UnsafeKeyError(UnifsError, ValueError):
    """An object key would be written outside the destination directory."""


class RefusedKeyError(UnsafeKeyError):
    """Object keys the destination store would refuse or change, found before a transfer."""


class PartSizeError(UnifsError, ValueError):
    """The byte budget cannot hold one part of the size the destination store requires."""


class ArtifactNotCachedError(UnifsError, FileNotFoundError):
    """Offline, and the artifact is not in the cache: nothing was requested from the store."""


class ModelVerificationError(UnifsError, ValueError):
    """A model does not match its signature, or the signature does not verify.

    ``report`` (when files were compared) names the files that differ, are missing or are
    extra.
    """

    def __init__(self, message: str, report: VerificationReport | None = None) -> None:
        super().__init__(message)
        self.report = report


class UnsafeModelFileError(ModelVerificationError):
    """A local model holds a symlink (not asked to follow) or a special file."""


class CacheEntryDamagedError(UnifsError, OSError):
    """A cached entry no longer holds what was published, and could not be repaired."""


class SafetensorsError(UnifsError, ValueError):
    """An object is not a valid safetensors file, or an index names what is not there."""


class DistributedLoadError(UnifsError, OSError):
    """A load shared by a ``torch.distributed`` group failed on another rank with an error
    this rank cannot rebuild by type, or a collective failed or timed out (a rank died)."""


def causes(exc: BaseException, *, hidden: bool = True) -> Iterator[BaseException]:
    """``exc`` and every exception behind it (``__cause__``, ``__context__``), each once.

    ``hidden=False`` leaves out a context the code suppressed (``raise ... from None``):
    what a person is shown, rather than everything that happened.
    """
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.append(current.__cause__)
        if hidden or not current.__suppress_context__:
            todo.append(current.__context__)


def http_status(exc: BaseException) -> int | None:
    """The HTTP status ``exc`` itself carries, or None (the causes behind it are not read).

    Read from its shape, not its class, so that no SDK is imported: a ``response`` dict
    with ``ResponseMetadata.HTTPStatusCode`` (botocore), else an int between 100 and 599
    in ``status_code``, ``status`` or ``code`` (azure-core, aiohttp, OCI, gcsfs, ...).
    """
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(status, int):
            return status
    for name in ("status_code", "status", "code"):
        value = getattr(exc, name, None)
        if isinstance(value, int) and 100 <= value <= 599:
            return value
    return None
