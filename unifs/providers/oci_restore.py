"""Archive-tier objects on OCI: restore them (RestoreObjects), and wait for the restore.

An object in OCI's Archive tier cannot be read (GET answers 409 ``NotRestored``) until a
RestoreObjects call has made a readable copy, which takes up to an hour and stays for the
``hours`` asked (24 by default). HEAD works throughout and reports ``archival-state``
(``Archived``, ``Restoring``, ``Restored``). Infrequent Access objects need no restore.
"""

from __future__ import annotations

import asyncio
import errno
import json
from typing import TYPE_CHECKING, Any

from unifs.errors import RestoreTimedOut
from unifs.providers.oci_http import poll

if TYPE_CHECKING:
    from unifs.providers.oci_filesystem import OCIFileSystem

__all__ = ["RestoreTimedOut", "restore"]

_FIRST_POLL = 0.2
_LONGEST_POLL = 30.0


async def _archived(fs: OCIFileSystem, path: str) -> list[tuple[str, str | None]]:
    """(path, archival state) of every Archive-tier object at or under ``path``."""
    info = await fs._info(path)
    if info["type"] == "file":
        head = await fs._info_object(path)
        entries = [head]
    else:
        entries = list((await fs._find(path, detail=True)).values())
    out = []
    for entry in entries:
        if entry.get("storageTier") == "Archive" or entry.get("archivalState"):
            out.append((entry["name"], entry.get("archivalState")))
    return out


async def restore(
    fs: OCIFileSystem,
    path: str,
    *,
    hours: int = 24,
    wait: bool = False,
    max_wait: float = 3 * 3600.0,
) -> list[str]:
    """Restore the archived object ``path`` (or every archived object under a prefix) for
    ``hours``; with ``wait``, poll until each is readable, at most ``max_wait`` seconds
    (not ``timeout``: fsspec's ``sync()`` takes that name for itself).

    Returns the paths a restore was asked for. Objects not in the Archive tier are left
    alone; an object already restored gets its hours extended.
    """
    found = await _archived(fs, path)
    for name, _ in found:
        bucket, namespace, key, label = await fs._resolve(name)
        await fs._call(
            "POST",
            fs._rest(namespace, bucket, "/actions/restoreObjects"),
            headers={"Content-Type": "application/json"},
            body=json.dumps({"objectName": key, "hours": int(hours)}).encode(),
            what=f"restore {label}/{key}",
        )
        fs.invalidate_cache(name)
    names = [name for name, _ in found]
    if wait:
        await _wait_restored(fs, names, max_wait)
    return names


async def _wait_restored(fs: OCIFileSystem, names: list[str], max_wait: float) -> None:
    pending = list(names)

    async def all_restored() -> bool | None:
        nonlocal pending
        states: list[Any] = await asyncio.gather(*(fs._info_object(n) for n in pending))
        done = [s.get("archivalState") == "Restored" for s in states]
        pending = [n for n, ready in zip(pending, done, strict=True) if not ready]
        return True if not pending else None

    if not pending:
        return
    if await poll(all_restored, max_wait=max_wait, first=_FIRST_POLL, longest=_LONGEST_POLL):
        return
    raise RestoreTimedOut(
        errno.ETIMEDOUT,
        f"{len(pending)} archived object(s) still restoring after {max_wait:g}s "
        f"(first: {pending[0]}); OCI keeps restoring them: read them later, or "
        "wait longer (max_wait=)",
    )
