"""One large object copied as ranges of parts, by any number of processes, into one upload.

Where the destination store has part uploads that any process may send to (S3 and OCI
multipart uploads, Azure staged blocks: ``Provider.start_parts``), a large file need not be
copied by one process: the upload is begun once (:func:`start_uploads`), its byte ranges --
whole parts each -- are copied by whoever is given them (:func:`copy_ranges`: read from the
source pinned to the version planned, sent as numbered parts, many at once), and the object
is made from every part once they are all in (:func:`finish_uploads`). ``unifs.dask`` deals
the ranges to its workers.

Verification: every part's MD5 is computed as it is sent; where the destination reports a
multipart digest (S3's ETag, OCI's ``opc-multipart-md5``) it must equal the digest of those
MD5s, which proves the object holds what was read. The source's whole-object checksum is
not recomputed (no process sees every byte); every read names the planned version, so a
replaced source fails instead of mixing versions. A file whose upload cannot be finished is
cancelled: the store keeps the old object or none.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from unifs.engine.backend import Backend
from unifs.engine.ledger import begin, cancel, finished
from unifs.engine.report import TransferReport
from unifs.engine.retries import describe
from unifs.engine.scheduling import Engine

__all__ = ["Range", "Upload", "copy_ranges", "finish_uploads", "plan_ranges", "start_uploads"]

#: most parts one upload may have (S3 allows 10,000; Azure 50,000 blocks)
_MAX_PARTS = 9000


@dataclass(frozen=True)
class Upload:
    """One object being made from parts: where from, where to, and in what part size."""

    relative: str
    source: str  # path in the source filesystem
    target: str  # path in the destination filesystem
    size: int
    pin: str | None
    part_size: int
    upload: str = ""  # the store's upload id, once begun

    @property
    def parts(self) -> int:
        return max(1, -(-self.size // self.part_size))


@dataclass(frozen=True)
class Range:
    """Parts ``first`` to ``last`` (from 1, inclusive) of one upload."""

    upload: Upload
    first: int
    last: int

    @property
    def nbytes(self) -> int:
        start = (self.first - 1) * self.upload.part_size
        return min(self.last * self.upload.part_size, self.upload.size) - start


#: what one part became: (part number, the store's token for it, hex MD5, bytes)
Sent = tuple[int, str, str, int]


def part_size_for(size: int, part_size: int) -> int:
    """``part_size``, grown (in MiB steps) where the object would need too many parts."""
    needed = -(-size // _MAX_PARTS)
    return max(part_size, -(-needed // 2**20) * 2**20)


def plan_ranges(upload: Upload, piece: int) -> list[Range]:
    """Cut ``upload`` into ranges of about ``piece`` bytes, whole parts each."""
    per = max(1, piece // upload.part_size)
    return [
        Range(upload, first, min(first + per - 1, upload.parts))
        for first in range(1, upload.parts + 1, per)
    ]


async def start_uploads(db: Backend, uploads: Sequence[Upload]) -> list[Upload] | None:
    """Begin each upload (None if the destination has no part uploads)."""
    begun: list[Upload] = []
    for upload in uploads:
        # recorded in unifs's upload ledger until finished or cancelled (engine.ledger)
        upload_id = await begin(db, upload.target, part_size=upload.part_size)
        if upload_id is None:
            await cancel_uploads(db, begun)
            return None
        begun.append(Upload(**{**upload.__dict__, "upload": upload_id}))
    return begun


async def cancel_uploads(db: Backend, uploads: Sequence[Upload]) -> None:
    """Throw the uploads away; a failure to do so is not the caller's error."""
    for upload in uploads:
        try:
            await cancel(db, upload.target, upload.upload)
        except Exception:  # the ledger keeps it: a rerun or `unifs cleanup` aborts it
            continue


async def copy_ranges(
    engine: Engine, db: Backend, ranges: Sequence[Range], callback: Any = None
) -> list[tuple[str, Sent]]:
    """Copy the parts of ``ranges``, many at once; ``(relative, what each part became)``.

    A part that fails (after the engine's retries) fails its file: it is named in
    ``engine.report.failed`` and its file's other parts are still sent and returned (the
    upload is cancelled when it is finished, see :func:`finish_uploads`).
    """
    sb = engine.backend

    async def one(rng: Range, number: int) -> tuple[str, Sent]:
        upload = rng.upload
        start = (number - 1) * upload.part_size
        end = min(start + upload.part_size, upload.size)

        async def attempt(_: int) -> Sent:
            chunks = [c async for c in sb.read(upload.source, start, end, upload.pin)]
            data = b"".join(chunks)
            if len(data) != end - start:
                raise OSError(f"read {len(data)} of {end - start} bytes of {upload.source}")
            digest = await engine.on_hash(lambda: hashlib.md5(data).hexdigest())
            token = await db.resolve(
                db.provider.put_part(db.fs, upload.target, upload.upload, number, data)
            )
            return number, str(token), digest, len(data)

        async with engine.slots.hold(2), engine.budget.hold(2 * upload.part_size):
            sent = await engine.retrying(attempt)
        engine.report.requests += 2
        engine.report.bytes_transferred += sent[3]
        if callback is not None:
            callback.relative_update(sent[3])
        return upload.relative, sent

    work = [(rng, n) for rng in ranges for n in range(rng.first, rng.last + 1)]
    results = await asyncio.gather(*(one(rng, n) for rng, n in work), return_exceptions=True)
    done = []
    for (rng, number), result in zip(work, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result  # cancelled, interrupted: not a failure of the file
            engine.report.failed.setdefault(
                rng.upload.relative, f"part {number}: {describe(result)}"
            )
        else:
            done.append(result)
    return done


async def finish_uploads(
    db: Backend,
    uploads: Sequence[Upload],
    sent: dict[str, list[Sent]],
    report: TransferReport,
    *,
    verify: bool,
) -> None:
    """Make each object from its parts, then check its size and multipart digest.

    Uploads of files already in ``report.failed`` are cancelled instead.
    """
    from unifs.engine.compare import full_item

    for upload in uploads:
        if upload.relative in report.failed:  # a part failed on a worker
            await cancel_uploads(db, [upload])
            continue
        parts = sorted({p[0]: p for p in sent.get(upload.relative, [])}.values())
        try:
            if [p[0] for p in parts] != list(range(1, upload.parts + 1)):
                raise OSError(f"{upload.parts - len(parts)} of {upload.parts} parts never arrived")
            await db.resolve(
                db.provider.finish_parts(db.fs, upload.target, upload.upload, [p[1] for p in parts])
            )
            finished(db, upload.target, upload.upload)
        except Exception as exc:
            await cancel_uploads(db, [upload])
            report.failed[upload.relative] = describe(exc)
            continue
        report.requests += 1
        db.fs.invalidate_cache(upload.target)
        info = await db.call("info", upload.target)
        stored = full_item(db, upload.target, upload.relative, info)
        combined = hashlib.md5(b"".join(bytes.fromhex(p[2]) for p in parts)).hexdigest()
        if stored.size != upload.size:
            report.failed[upload.relative] = (
                f"made {stored.size} bytes from parts, the source holds {upload.size}"
            )
            continue
        report.transferred.append(upload.relative)
        if not verify:
            report.size_only.append(upload.relative)
        elif stored.multipart is not None and stored.multipart == (combined, len(parts)):
            report.checksum_verified.append(upload.relative)
        elif stored.multipart is not None:
            await db.call("rm", upload.target)
            report.transferred.remove(upload.relative)
            report.failed[upload.relative] = (
                f"multipart digest after copy is {stored.multipart[0]}, the parts sent hash "
                f"to {combined}"
            )
        else:
            report.size_only.append(upload.relative)
            report.unverified[upload.relative] = (
                "copied in parts by several workers: the destination reports no multipart "
                "digest to check them against"
            )
