"""What a completed get verified, kept with the file: so that skipping it later needs proof.

A record names the object version the file was read from (size and identity: ETag,
generation, ...) and a digest of its bytes -- the store's checksum where there was one,
else a CRC32C (or MD5) computed while the bytes landed. It is an extended attribute of the file
(``user.unifs.verified``) where the file system has them, else a small JSON file in the
destination's work directory. A later get skips a file with no store checksum only if its
record names the object's current version and the file still hashes to the recorded digest.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from unifs.engine.checksums import Expect
    from unifs.engine.planning import Item
    from unifs.engine.workdir import WorkDir

_XATTR = "user.unifs.verified"
_VERSION = 1


def make_record(item: Item, hashed: Expect, digest: str, verified: bool) -> dict[str, Any]:
    """The record of ``item`` fetched and hashed as ``hashed`` describes, to ``digest``."""
    from dataclasses import replace

    return {
        "version": _VERSION,
        "key": item.relative,
        "size": item.size,
        "identity": item.identity,
        "digest": replace(hashed, digest=digest).to_json(),
        "verified": verified,
    }


def save_record(fd: int, work: WorkDir, target: str, record: dict[str, Any]) -> None:
    """Attach ``record`` to the open file ``fd`` (to be renamed to ``target``)."""
    data = json.dumps(record, separators=(",", ":")).encode()
    manifest = work.record(target)
    try:
        os.setxattr(fd, _XATTR, data)
    except OSError:  # no user xattrs here (some tmpfs, network and FAT file systems)
        partial = manifest + ".new"
        with open(partial, "wb") as handle:
            handle.write(data)
        os.replace(partial, manifest)
        return
    with contextlib.suppress(FileNotFoundError):
        os.remove(manifest)


def load_record(work: WorkDir, target: str) -> dict[str, Any] | None:
    """The record kept with ``target``, if there is one of this format."""
    try:
        data = os.getxattr(target, _XATTR)
    except OSError:
        try:
            with open(work.record(target), "rb") as handle:
                data = handle.read()
        except OSError:
            return None
    try:
        record = json.loads(data)
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get("version") != _VERSION:
        return None
    return record
