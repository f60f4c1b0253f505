"""Which failures are worth retrying, and how long to wait between attempts."""

from __future__ import annotations

import asyncio
from typing import Any

from unifs.engine.planning import UnsafeKeyError
from unifs.errors import ObjectChangedError, Permanent, ShortRead, causes, http_status
from unifs.types import RetryPolicy as RetryPolicy  # the policy type lives below providers

_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


_PERMANENT_TYPES = (
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
    FileExistsError,
    UnsafeKeyError,
    ObjectChangedError,
    Permanent,
)


# Network failures as the SDKs spell them (aiohttp, botocore, urllib3, requests, azure-core);
# matched by name so this module imports none of them.
_TRANSIENT_NAMES = frozenset(
    {
        "ClientPayloadError",
        "ClientConnectionError",
        "ClientConnectorError",
        "ClientOSError",
        "ServerDisconnectedError",
        "ServerTimeoutError",
        "ContentLengthError",
        "TransferEncodingError",
        "IncompleteReadError",
        "ResponseStreamingError",
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ReadTimeoutError",
        "ConnectTimeoutError",
        "ProtocolError",
        "IncompleteRead",
        "ChunkedEncodingError",
        "ConnectionError",
        "ReadTimeout",
        "ConnectTimeout",
        "ServiceRequestError",
        "ServiceResponseError",
        "DecodeError",
    }
)


def _retry_after(exc: BaseException) -> float | None:
    """The server's ``Retry-After`` in seconds, if the exception kept the response headers."""
    headers: Any = getattr(exc, "headers", None)
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        headers = response.get("ResponseMetadata", {}).get("HTTPHeaders")
    elif response is not None and headers is None:
        headers = getattr(response, "headers", None)
    if not headers:
        return None
    try:
        value = next((v for k, v in headers.items() if str(k).lower() == "retry-after"), None)
        return float(value) if value is not None else None
    except (TypeError, ValueError, AttributeError):
        return None  # an HTTP date: fall back to our own backoff


def classify(exc: BaseException) -> tuple[bool, float | None]:
    """Whether ``exc`` is worth retrying, and how long the server asked us to wait."""
    for cause in causes(exc):
        if isinstance(cause, ShortRead):
            return True, None
        status = http_status(cause)
        if status is not None:
            return status in _TRANSIENT_STATUS or status >= 500, _retry_after(cause)
        if isinstance(cause, _PERMANENT_TYPES):
            return False, None
        if type(cause).__name__ in _TRANSIENT_NAMES:
            return True, None
        if isinstance(cause, (ConnectionError, TimeoutError, asyncio.TimeoutError, EOFError)):
            return True, None
    # An OSError without a status (EIO from a translated SDK error, ...) may pass; a
    # TypeError or KeyError is a bug that retrying would only hide.
    return isinstance(exc, OSError), None


def describe(exc: BaseException) -> str:
    text = str(exc) or repr(exc)
    return f"{type(exc).__name__}: {text}"
