"""What copy and sync decide from: whether two objects hold the same bytes."""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from unifs.engine.backend import Backend
from unifs.engine.checksums import Expect
from unifs.engine.limits import COPY_PART
from unifs.engine.listing import alist_files
from unifs.engine.planning import Item, make_item
from unifs.engine.scheduling import Engine
from unifs.engine.workdir import WORK_DIR


def same_content(src: Item, dst: Item, digests: Mapping[str, str] | None = None) -> bool | None:
    """Whether two objects hold the same bytes: True, False, or None when nothing tells.

    ``digests`` are ``kind -> hex`` computed of the destination's bytes where its store
    reports none comparable with the source's.
    """
    if src.size != dst.size:
        return False
    theirs = dict(checksums_of(dst))
    theirs.update(digests or {})
    mine = dict(checksums_of(src))
    common = set(mine) & set(theirs)
    if common:
        return all(mine[kind] == theirs[kind] for kind in common)
    if src.multipart is not None and src.multipart == dst.multipart:
        return True
    return None


def checksums_of(item: Item) -> list[tuple[str, str]]:
    found = list(item.info.get("_unifs_checksums", ())) if item.info else []
    if item.checksum is not None:
        found.append(item.checksum)
    return found


def full_item(backend: Backend, remote: str, relative: str, info: dict[str, Any]) -> Item:
    """``make_item`` that keeps every checksum the store reports, not only the cheapest."""
    item = make_item(backend.provider, remote, relative, info)
    info = dict(info)
    info["_unifs_checksums"] = backend.provider.checksums(info)
    return replace(item, info=info)


async def digest_of(engine: Engine, backend: Backend, item: Item, kind: str) -> str:
    """Hash an object's bytes as they stream past (for stores that report no checksum)."""
    hasher = Expect(kind, "").hasher()
    async with engine.slots.hold(1), engine.budget.hold(COPY_PART):
        async for chunk in _read(backend, item, COPY_PART):
            await engine.on_hash(hasher.update, chunk)
    return hasher.hexdigest()


async def _read(backend: Backend, item: Item, piece: int) -> AsyncIterator[bytes]:
    """An object's bytes in order, in ranges of ``piece`` (what is not streamed sits whole
    in memory, so ranges keep that to one piece)."""
    for start in range(0, item.size, piece):
        async for chunk in backend.read(
            item.remote, start, min(start + piece, item.size), item.pin
        ):
            yield chunk


async def list_items(
    backend: Backend,
    base: str,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
) -> dict[str, Item]:
    """Every object below ``base`` (filtered) by path relative to it; empty when none.

    unifs's own work directory is not data: what an interrupted get left there is passed over.
    """
    listing = await alist_files(
        backend, base, include=include, exclude=exclude, keep=_not_work, missing_ok=True
    )
    return {f.relative: full_item(backend, f.path, f.relative, f.info) for f in listing.files}


def _not_work(relative: str) -> bool:
    return WORK_DIR not in relative.split("/")


async def stored_item(backend: Backend, path: str) -> Item | None:
    backend.fs.invalidate_cache()
    try:
        info = await backend.call("info", path)
    except FileNotFoundError:
        return None
    if info.get("type") != "file":
        return None
    return full_item(backend, path, posixpath.basename(path), info)


async def decide(
    engine: Engine,
    sb: Backend,
    db: Backend,
    source: dict[str, Item],
    target: dict[str, Item],
) -> tuple[list[str], list[str]]:
    """(to copy, already matching) by size and checksum, hashing where nothing compares."""

    async def differs(relative: str) -> bool:
        mine, theirs = source[relative], target.get(relative)
        if theirs is None:
            return True
        same = same_content(mine, theirs)
        if same is not None:
            return not same
        kinds = [kind for kind, _ in checksums_of(mine) if kind in ("md5", "crc32c")]
        if kinds:  # hash the destination's bytes the way the source's checksum was made
            digest = await digest_of(engine, db, theirs, kinds[0])
            return not same_content(mine, theirs, {kinds[0]: digest})
        stored = [(k, d) for k, d in checksums_of(theirs) if k in ("md5", "crc32c")]
        if stored:  # the source has none (a local file): hash it, not the far end
            kind, expected = stored[0]
            return await digest_of(engine, sb, mine, kind) != expected
        ours, theirs_md5 = await asyncio.gather(
            digest_of(engine, sb, mine, "md5"), digest_of(engine, db, theirs, "md5")
        )
        return ours != theirs_md5

    names = sorted(source)
    verdicts = await asyncio.gather(*(differs(name) for name in names))
    copy = [n for n, d in zip(names, verdicts, strict=True) if d]
    same = [n for n, d in zip(names, verdicts, strict=True) if not d]
    return copy, same
