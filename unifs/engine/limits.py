"""Sizes and limits the engine works within: concurrency, memory, part sizes."""

from __future__ import annotations

from unifs.errors import PartSizeError
from unifs.types import PartLimits

MiB = 2**20


#: requests in flight at once, across all files
DEFAULT_CONCURRENCY = 64


#: bytes that requests in flight may hold in memory at once
DEFAULT_MAX_BUFFER = 128 * MiB


#: bounds of the automatic part size (ranged GETs, multipart uploads)
MIN_PART_SIZE = 8 * MiB


MAX_PART_SIZE = 64 * MiB


#: streamed copies write parts of this size unless told otherwise: small enough that several
#: large files fit the byte budget at once (each file's parts upload one after the other)
COPY_PART = 8 * MiB


STREAM_CHUNK = MiB // 2  # a streamed range is written to disk in pieces of this size


STREAM_RESERVE = 2 * STREAM_CHUNK  # budget one streamed range holds: a piece and the next


START_CONCURRENCY = 8  # bulk requests in flight before the gate has measured anything


SMALL_REQUEST = 2 * MiB  # files up to this size are one request, held in memory


MIN_SPLIT = MIN_PART_SIZE  # a running range is cut only if both halves get at least this much


SPLIT_PAYBACK = 4  # ... and only if its tail would take this many first-byte latencies


MIN_UPLOAD_PART = 5 * MiB  # S3 refuses multipart parts below this (all but the last)


#: from this size a HEAD for the store's additional checksums (a CRC) pays over hashing the
#: MD5 a listing gives
HEAD_FOR_CRC_FROM = 8 * MiB


def auto_part_size(total: int, concurrency: int, max_buffer: int, streams: bool) -> int:
    """The size files are cut into.

    Streamed ranges are not cut up front: each file starts as one request, and running
    ranges are split in two as the gate finds that more streams pay (``steal``). Requests
    are not free -- a first-byte latency each, and on some servers a copy of the whole
    object -- so a fast link ends up with few of them and a slow, capped one with many.

    A range read at once sits in memory: there files are cut into the total over
    ``concurrency``, within 8-64 MiB and so that 16 such reads fit the byte budget. Parts
    go out in order, so the bytes behind the slowest one are contiguous and MD5 keeps up.
    """
    if streams:
        return max(total, 1)
    part = -(-total // max(concurrency, 1))
    part = -(-part // MiB) * MiB
    part = min(max(part, MIN_PART_SIZE), MAX_PART_SIZE)
    return min(part, max(MiB, max_buffer // 16))  # 16 such reads fit the budget


def fit_part_size(part_size: int, limits: PartLimits, size: int = 0) -> int:
    """``part_size`` moved into what the store accepts, grown so ``size`` needs few enough parts.

    Raised to ``limits.min_part``, rounded up to ``limits.multiple``, grown (in MiB steps)
    where an object of ``size`` bytes would need more than ``limits.max_parts``, and cut to
    ``limits.max_part``.
    """
    part = max(part_size, limits.min_part, 1)
    if limits.max_parts and size:
        needed = -(-size // limits.max_parts)
        part = max(part, -(-needed // MiB) * MiB)
    if limits.max_part:
        part = min(part, limits.max_part)
    multiple = max(limits.multiple, 1)
    return -(-part // multiple) * multiple


def check_budget(max_buffer: int, limits: PartLimits, where: str) -> None:
    """Refuse, before any byte moves, a budget that cannot hold one part the store accepts."""
    if limits.min_part > max_buffer:
        raise PartSizeError(
            f"max_buffer={max_buffer} bytes cannot hold one part of {where}: it takes parts of "
            f"at least {limits.min_part} bytes ({limits.min_part / MiB:g} MiB); raise "
            f"max_buffer to {limits.min_part} or more"
        )
