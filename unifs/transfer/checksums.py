"""Digests a file is verified against, computed while its bytes land."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from unifs.transfer.limits import MiB
from unifs.transfer.planning import _Item
from unifs.transfer.retries import _Permanent

_HASH_BLOCK = 4 * MiB


# Part sizes common tools write multipart objects with (unifs, boto3, s3fs, OCI CLI, ...):
# tried in this order when a multipart digest must be reproduced from size and part count.
_COMMON_PART_MIB = (8, 5, 16, 32, 64, 50, 128, 10, 15, 25, 100, 256, 512)


class _Hasher:
    """Feeds bytes in order; ``hexdigest()`` in the form the expected value uses."""

    def update(self, data: bytes | memoryview) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def hexdigest(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError


class _MD5(_Hasher):
    def __init__(self) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)

    def update(self, data: bytes | memoryview) -> None:
        self._md5.update(data)

    def hexdigest(self) -> str:
        return self._md5.hexdigest()


class _CRC32C(_Hasher):
    def __init__(self) -> None:
        try:
            import google_crc32c  # shipped with gcsfs, the store that reports crc32c

            self._crc: Any = google_crc32c.Checksum()
            self._hex = lambda: self._crc.digest().hex()
        except ImportError:  # pragma: no cover - gcsfs brings google_crc32c
            import crc32c

            self._crc = crc32c.CRC32CHash()
            self._hex = lambda: self._crc.digest().hex()

    def update(self, data: bytes | memoryview) -> None:
        self._crc.update(bytes(data) if isinstance(data, memoryview) else data)

    def hexdigest(self) -> str:
        return str(self._hex())


class _PartsMD5(_Hasher):
    """MD5 of the concatenated binary MD5s of each part (S3 and OCI multipart digests).

    Parts are ``part_size`` bytes except the last, which takes whatever remains: shorter
    (boto3, unifs) or longer (s3fs and ocifs fold a short tail into the last part).
    """

    def __init__(self, part_size: int, parts: int) -> None:
        self._part_size = part_size
        self._parts = parts
        self._current = hashlib.md5(usedforsecurity=False)
        self._filled = 0
        self._digests: list[bytes] = []

    def update(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while len(view):
            last = len(self._digests) + 1 >= self._parts
            take = len(view) if last else min(len(view), self._part_size - self._filled)
            self._current.update(view[:take])
            self._filled += take
            view = view[take:]
            if not last and self._filled == self._part_size:
                self._digests.append(self._current.digest())
                self._current = hashlib.md5(usedforsecurity=False)
                self._filled = 0

    def hexdigest(self) -> str:
        digests = self._digests + ([self._current.digest()] if self._filled else [])
        return hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class _Expect:
    """The digest a file must have, and how to compute it."""

    kind: str  # "md5" | "crc32c" | "md5-parts"
    digest: str  # hex
    part_size: int = 0  # md5-parts only
    parts: int = 0  # md5-parts only

    def hasher(self) -> _Hasher:
        if self.kind == "md5":
            return _MD5()
        if self.kind == "crc32c":
            return _CRC32C()
        return _PartsMD5(self.part_size, self.parts)


def _infer_part_size(size: int, parts: int, preferred: Sequence[int]) -> int | None:
    """A part size that splits ``size`` bytes into exactly ``parts`` parts, likeliest first.

    The last part may be short or, as s3fs and ocifs write them, up to twice as long.
    """
    if parts <= 1:
        return max(size, 1)

    def fits(candidate: int) -> bool:
        tail = size - (parts - 1) * candidate
        return candidate > 0 and 0 < tail < 2 * candidate

    for candidate in (*preferred, *(mib * MiB for mib in _COMMON_PART_MIB)):
        if fits(candidate):
            return candidate
    whole_mib = -(-size // parts // MiB) * MiB  # the smallest whole MiB that fits
    return whole_mib if fits(whole_mib) else None


def _expectation(item: _Item, preferred_parts: Sequence[int]) -> tuple[_Expect | None, str]:
    """What to check ``item`` against, or None and the reason only its size can be checked."""
    if item.checksum is not None:
        kind, digest = item.checksum
        return _Expect(kind, digest), ""
    if item.multipart is not None:
        digest, parts = item.multipart
        part_size = _infer_part_size(item.size, parts, preferred_parts)
        if part_size is None:
            return None, f"multipart checksum of {parts} parts with no part size to reproduce it"
        return _Expect("md5-parts", digest, part_size, parts), ""
    return None, ""


def _hash_file(path: str, expect: _Expect) -> str:
    hasher = expect.hasher()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_BLOCK):
            hasher.update(chunk)
    return hasher.hexdigest()


def _hash_file_into(local: str, hasher: _Hasher) -> None:
    with open(local, "rb") as handle:
        while chunk := handle.read(_HASH_BLOCK):
            hasher.update(chunk)


def _same_size(local: str, size: int) -> bool:
    try:
        return os.path.getsize(local) == size
    except OSError:
        return False


def _is_valid(local: str, item: _Item, expect: _Expect | None) -> bool:
    """True if ``local`` already holds ``item``: same size and, where known, same digest."""
    if not _same_size(local, item.size):
        return False
    if expect is None:
        # a multipart digest whose layout cannot be reproduced: fetch rather than trust
        return item.multipart is None
    return _hash_file(local, expect) == expect.digest


def _check_digest(item: _Item, expect: _Expect, actual: str) -> tuple[bool, str]:
    """(verified, why not) for a fetched file's digest; raise when the data is wrong."""
    if actual == expect.digest:
        return True, ""
    if expect.kind == "md5-parts" and item.checksum is None:
        # the part size was inferred: a mismatch may mean another layout, not corrupt data,
        # so say what could not be checked instead of failing
        return False, (
            f"multipart checksum not reproduced with {expect.part_size}-byte parts "
            "(the object was uploaded with another part size)"
        )
    raise _Permanent(f"{expect.kind} mismatch: got {actual}, the store reports {expect.digest}")
