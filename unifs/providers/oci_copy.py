"""Server-side copy on OCI: CopyObject is an asynchronous work request, waited for here.

OCI accepts a copy (202 and an ``opc-work-request-id``) and makes it later, as the Object
Storage *service*: unless an IAM policy lets that service act on the buckets
(``Allow service objectstorage-<region> to manage object-family in compartment <c>``),
the work request FAILS and the reason is only in ``GET /workRequests/{id}/errors``.
:func:`copy_object` polls the work request with a growing interval under a deadline,
reads those errors, and raises :class:`CopyRefused` (a ``PermissionError`` that is also a
``NotImplementedError``, the signal unifs's copy engine takes to stream the bytes itself
instead) when the service was not allowed to copy.
"""

from __future__ import annotations

import contextlib
import errno
import json
from typing import TYPE_CHECKING, Any

from unifs.errors import CopyRefused, CopyTimedOut
from unifs.providers.oci_http import part, poll

if TYPE_CHECKING:
    from unifs.providers.oci_filesystem import OCIFileSystem

__all__ = ["CopyRefused", "CopyTimedOut", "copy_object", "wait_work_request"]

#: first and longest pause between two reads of a work request, in seconds
_FIRST_POLL = 0.1
_LONGEST_POLL = 5.0
#: work-request error codes (and message words) that mean the service principal was refused
_POLICY_CODES = ("InsufficientServicePermissions", "NotAuthorized", "Forbidden")
_POLICY_WORDS = ("service principal", "not authorized", "permission")


def policy_hint(region: str | None) -> str:
    """The IAM statement that lets OCI's Object Storage service copy within ``region``."""
    service = f"objectstorage-{region}" if region else "objectstorage-<region>"
    return (
        f"an IAM policy must allow it: 'Allow service {service} to manage object-family in "
        "compartment <compartment of both buckets>' (docs/oci.md, IAM policies)"
    )


def _refused(errors: list[dict[str, Any]]) -> bool:
    for error in errors:
        code = str(error.get("code") or "")
        message = str(error.get("message") or "").lower()
        if code in _POLICY_CODES or any(word in message for word in _POLICY_WORDS):
            return True
    return False


async def _errors(fs: OCIFileSystem, work: str) -> list[dict[str, Any]]:
    with contextlib.suppress(OSError):
        reply = await fs._call("GET", f"/workRequests/{part(work)}/errors", what="copy")
        found = reply.json()
        if isinstance(found, list):
            return [e for e in found if isinstance(e, dict)]
    return []


async def wait_work_request(
    fs: OCIFileSystem, work: str, *, timeout: float, what: str
) -> dict[str, Any]:
    """Poll work request ``work`` until it finishes or ``timeout`` seconds pass.

    Returns the finished work request (status COMPLETED, FAILED or CANCELED). On timeout,
    cancels it (best effort) and raises :class:`CopyTimedOut` naming it.
    """
    last: dict[str, Any] = {}

    async def finished() -> dict[str, Any] | None:
        reply = await fs._call("GET", f"/workRequests/{part(work)}", what=what)
        last.clear()
        last.update(reply.json() or {})
        return dict(last) if last.get("status") in ("COMPLETED", "FAILED", "CANCELED") else None

    state = await poll(finished, max_wait=timeout, first=_FIRST_POLL, longest=_LONGEST_POLL)
    if state is not None:
        return state
    with contextlib.suppress(OSError):
        await fs._call("DELETE", f"/workRequests/{part(work)}", what=what)
    raise CopyTimedOut(
        errno.ETIMEDOUT,
        f"{what}: OCI's work request {work} was still {last.get('status') or 'pending'} "
        f"after {timeout:g}s, so it was canceled; give the filesystem a longer "
        "copy_timeout= (seconds) for large or cross-region copies",
    )


async def copy_object(fs: OCIFileSystem, path1: str, path2: str, *, timeout: float) -> None:
    """CopyObject ``path1`` to ``path2`` and wait for OCI's work request to finish."""
    sb, sns, skey, slabel = await fs._resolve(path1)
    db, dns, dkey, dlabel = await fs._resolve(path2)
    if not skey or not dkey:
        raise IsADirectoryError(f"copy needs two objects, not buckets: {path1} -> {path2}")
    what = f"copy {slabel}/{skey} -> {dlabel}/{dkey}"
    details = {
        "sourceObjectName": skey,
        "destinationRegion": fs.region or "",
        "destinationNamespace": dns,
        "destinationBucket": db,
        "destinationObjectName": dkey,
    }
    reply = await fs._call(
        "POST",
        fs._rest(sns, sb, "/actions/copyObject"),
        headers={"Content-Type": "application/json"},
        body=json.dumps(details).encode(),
        what=what,
    )
    work = reply.headers.get("opc-work-request-id")
    try:
        if not work:
            return  # nothing to wait for: the copy is done
        state = await wait_work_request(fs, work, timeout=timeout, what=what)
        status = state.get("status")
        if status == "COMPLETED":
            return
        errors = await _errors(fs, work)
        reasons = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors) or (
            "OCI recorded no reason"
        )
        text = f"{what}: OCI's work request {work} {str(status).lower()}: {reasons}"
        if status == "FAILED" and _refused(errors):
            raise CopyRefused(errno.EACCES, f"{text}. {policy_hint(fs.region)}")
        raise OSError(errno.EIO, text)
    finally:
        fs.invalidate_cache(path2)
