"""Digests a file is verified against, computed while its bytes land."""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from unifs.engine.limits import MiB
from unifs.engine.planning import Item
from unifs.engine.retries import Permanent

HASH_BLOCK = 4 * MiB


# Part sizes common tools write multipart objects with (unifs, boto3, s3fs, OCI CLI, ...):
# tried in this order when a multipart digest must be reproduced from size and part count.
_COMMON_PART_MIB = (8, 5, 16, 32, 64, 50, 128, 10, 15, 25, 100, 256, 512)


class Hasher:
    """Feeds bytes in order; ``hexdigest()`` in the form the expected value uses."""

    #: whether ``update`` reads a memoryview in place (else it copies it to bytes first)
    takes_views = True

    def update(self, data: bytes | memoryview) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def hexdigest(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError


class MD5(Hasher):
    def __init__(self) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)

    def update(self, data: bytes | memoryview) -> None:
        self._md5.update(data)

    def hexdigest(self) -> str:
        return self._md5.hexdigest()


class CRC32C(Hasher):
    takes_views = False  # google_crc32c takes only bytes

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


class CRC32(Hasher):
    """S3's CRC32 (what botocore writes by default without awscrt): zlib's, native."""

    def __init__(self) -> None:
        self._crc = 0

    def update(self, data: bytes | memoryview) -> None:
        self._crc = zlib.crc32(data, self._crc)

    def hexdigest(self) -> str:
        return self._crc.to_bytes(4, "big").hex()


class CRC64NVME(Hasher):
    """S3's CRC64NVME (current AWS SDKs' default), computed by awscrt where it is installed."""

    def __init__(self) -> None:
        from awscrt import checksums as crt  # planning offers crc64nvme only where it imports

        self._update = crt.crc64nvme
        self._crc = 0

    def update(self, data: bytes | memoryview) -> None:
        self._crc = self._update(data, self._crc)

    def hexdigest(self) -> str:
        return self._crc.to_bytes(8, "big").hex()


class PartsMD5(Hasher):
    """MD5 of the concatenated binary MD5s of each part (S3 and OCI multipart digests).

    Parts are ``part_size`` bytes except the last, which takes whatever remains: shorter
    (boto3, unifs) or longer (s3fs and ocifs fold a short tail into the last part). With
    ``sizes`` (the layout the store recorded) part ``n`` is ``sizes[n]`` bytes instead.
    """

    def __init__(self, part_size: int, parts: int, sizes: Sequence[int] = ()) -> None:
        self._part_size = part_size
        self._parts = parts
        self._sizes = tuple(sizes)
        self._current = hashlib.md5(usedforsecurity=False)
        self._filled = 0
        self._digests: list[bytes] = []

    def update(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while len(view):
            last = len(self._digests) + 1 >= self._parts
            size = self._sizes[len(self._digests)] if self._sizes else self._part_size
            take = len(view) if last else min(len(view), size - self._filled)
            self._current.update(view[:take])
            self._filled += take
            view = view[take:]
            if not last and self._filled == size:
                self._digests.append(self._current.digest())
                self._current = hashlib.md5(usedforsecurity=False)
                self._filled = 0

    def hexdigest(self) -> str:
        digests = self._digests + ([self._current.digest()] if self._filled else [])
        return hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class Expect:
    """The digest a file must have, and how to compute it."""

    kind: str  # "crc64nvme" | "crc32c" | "crc32" | "md5" | "md5-parts"
    digest: str  # hex
    part_size: int = 0  # md5-parts only
    parts: int = 0  # md5-parts only
    sizes: tuple[int, ...] = ()  # md5-parts only: each part's size, as the store recorded it
    #: False when the part layout was guessed: a mismatch may mean another layout
    known: bool = True

    @property
    def label(self) -> str:
        """What a report says the file was verified against."""
        return "md5-of-parts" if self.kind == "md5-parts" else self.kind

    def hasher(self) -> Hasher:
        if self.kind == "md5":
            return MD5()
        if self.kind == "crc32c":
            return CRC32C()
        if self.kind == "crc32":
            return CRC32()
        if self.kind == "crc64nvme":
            return CRC64NVME()
        return PartsMD5(self.part_size, self.parts, self.sizes)

    def to_json(self) -> dict[str, Any]:
        """A form :func:`json.dumps` takes, for a file's record (``from_json`` reads it)."""
        return {
            "kind": self.kind,
            "digest": self.digest,
            "part_size": self.part_size,
            "parts": self.parts,
            "sizes": list(self.sizes),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Expect:
        return cls(
            str(data["kind"]),
            str(data["digest"]),
            int(data.get("part_size", 0)),
            int(data.get("parts", 0)),
            tuple(int(n) for n in data.get("sizes", ())),
        )


def local_digest() -> Expect:
    """How to hash a file the store gives no checksum for, to record it: the cheapest kind.

    CRC32C costs a twentieth of MD5's CPU and catches any corruption a record is for (the
    record names the object version; the digest only proves the local bytes unchanged).
    """
    try:
        import google_crc32c  # noqa: F401  (gcsfs brings it)
    except ImportError:
        try:
            import crc32c  # noqa: F401
        except ImportError:
            return Expect("md5", "", known=False)
    return Expect("crc32c", "", known=False)


def _part_size_candidates(size: int, parts: int, preferred: Sequence[int]) -> list[int]:
    """Part sizes that split ``size`` bytes into exactly ``parts`` parts, likeliest first.

    The last part may be short or, as s3fs and ocifs write them, up to twice as long.
    """
    if parts <= 1:
        return [max(size, 1)]

    def fits(candidate: int) -> bool:
        tail = size - (parts - 1) * candidate
        return candidate > 0 and 0 < tail < 2 * candidate

    whole_mib = -(-size // parts // MiB) * MiB  # the smallest whole MiB that fits
    found: list[int] = []
    for candidate in (*preferred, *(mib * MiB for mib in _COMMON_PART_MIB), whole_mib):
        if fits(candidate) and candidate not in found:
            found.append(candidate)
    return found


def infer_part_size(size: int, parts: int, preferred: Sequence[int]) -> int | None:
    """The likeliest part size that splits ``size`` bytes into exactly ``parts`` parts."""
    candidates = _part_size_candidates(size, parts, preferred)
    return candidates[0] if candidates else None


_MAX_OTHER_LAYOUTS = 4  # each costs a pass over the file (from the page cache)


def other_layout(path: str, expect: Expect, size: int) -> Expect | None:
    """Another guessed part size under which the file at ``path`` reproduces ``expect``.

    Several common part sizes can give the same part count (24 MiB in 4 parts: 8 MiB with a
    tiny tail, or 5 MiB with a long one); a digest match under any of them proves the file.
    """
    others = _part_size_candidates(size, expect.parts, ())
    for candidate in [c for c in others if c != expect.part_size][:_MAX_OTHER_LAYOUTS]:
        guess = replace(expect, part_size=candidate)
        if hash_file(path, guess) == expect.digest:
            return guess
    return None


def expectation(item: Item, preferred_parts: Sequence[int]) -> tuple[Expect | None, str]:
    """What to check ``item`` against, or None and the reason only its size can be checked."""
    if item.checksum is not None:
        kind, digest = item.checksum
        return Expect(kind, digest), ""
    if item.multipart is not None:
        digest, parts = item.multipart
        sizes = item.part_sizes
        if sizes and len(sizes) == parts and sum(sizes) == item.size:
            return Expect("md5-parts", digest, sizes[0], parts, sizes), ""
        part_size = infer_part_size(item.size, parts, preferred_parts)
        if part_size is None:
            return None, (
                f"multipart checksum of {parts} parts, and the store does not say their sizes"
            )
        return Expect("md5-parts", digest, part_size, parts, known=False), ""
    return None, "the store keeps no checksum for this object"


def hash_file(path: str, expect: Expect) -> str:
    hasher = expect.hasher()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_BLOCK):
            hasher.update(chunk)
    return hasher.hexdigest()


def hash_file_into(local: str, hasher: Hasher) -> None:
    with open(local, "rb") as handle:
        while chunk := handle.read(HASH_BLOCK):
            hasher.update(chunk)


def same_size(local: str, size: int) -> bool:
    try:
        return os.path.getsize(local) == size
    except OSError:
        return False


def is_valid(local: str, item: Item, expect: Expect | None, record: dict[str, Any] | None) -> bool:
    """True if ``local`` already holds ``item``: same size and the same digest.

    The digest is the store's where it has one. Where it has none (or only a multipart
    digest whose layout was guessed), ``record`` -- what an earlier get verified and
    recorded with the file -- must name this very version, and the file must still hash to
    what was recorded: a size alone is never trusted.
    """
    if not same_size(local, item.size):
        return False
    if expect is not None and hash_file(local, expect) == expect.digest:
        return True
    if expect is not None and expect.known:
        return False
    if not record or record.get("identity") != item.identity or record.get("size") != item.size:
        return False
    try:
        recorded = Expect.from_json(record["digest"])
    except (KeyError, TypeError, ValueError):
        return False
    return hash_file(local, recorded) == recorded.digest


class DigestMismatch(Permanent):
    """The bytes fetched do not hash to the store's digest: fetched once more, then failed."""


def check_digest(expect: Expect, actual: str, *, last_try: bool) -> tuple[bool, str]:
    """(verified, why not) for a fetched file's digest; raise when the data is wrong.

    A first mismatch raises :class:`DigestMismatch` (the file is fetched again from
    scratch). On the last try a mismatch fails the file, unless the multipart layout was
    guessed: the data, read pinned to one version, may well be right and the guess wrong.
    """
    if actual == expect.digest:
        return True, ""
    message = f"{expect.kind} mismatch: got {actual}, the store reports {expect.digest}"
    if not last_try:
        raise DigestMismatch(message)
    if not expect.known:
        return False, (
            f"multipart checksum not reproduced with {expect.part_size}-byte parts (the "
            "object was uploaded with another part size, which the store does not record)"
        )
    raise Permanent(message + " (after fetching it twice)")
