"""The one prefix listing: the files below a prefix, by path relative to it, filtered.

Every caller that lists a prefix -- planning a get or a copy, comparing two ends, artifacts,
signing, the torch datasets and safetensors loader, ``unifs du`` -- lists it here, so that
"below", "relative" and the filters mean one thing everywhere:

- only files (``type == "file"``) count; directory markers and prefixes do not;
- ``relative`` is the path below the prefix, ``/``-separated, never empty;
- ``include`` / ``exclude`` are patterns on ``relative`` with rclone's rules (``*`` within a
  segment, ``**`` across, a leading ``/`` anchors), applied with
  :func:`unifs.engine.filters.matches`; ``keep`` is any other test a caller adds;
- entries come sorted by ``relative``.

:func:`list_files` lists through a filesystem's blocking calls, :func:`alist_files` through
an engine :class:`~unifs.engine.backend.Backend` (async where the filesystem is); both put
:func:`files_below` over what ``find`` returns.
"""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from unifs.engine.filters import matches

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from unifs.engine.backend import Backend

__all__ = [
    "Listed",
    "Listing",
    "alist_files",
    "files_below",
    "list_files",
    "prefix_base",
]


class Listed(NamedTuple):
    """One file below a prefix."""

    path: str  #: the path in the filesystem
    relative: str  #: the path below the prefix, '/'-separated
    info: dict[str, Any]  #: what the filesystem's listing says of it (size, ETag, ...)

    @property
    def size(self) -> int:
        return int(self.info.get("size") or 0)


class Listing(NamedTuple):
    """What a listing found: the files kept, and what ``path`` turned out to be."""

    files: list[Listed]
    #: ``path`` named one object (``files`` is that object alone)
    single: bool
    #: entries ``find`` returned before any filter: 0 means nothing is there at all
    found: int


def prefix_base(fs: AbstractFileSystem, path: str) -> str:
    """``path`` as the filesystem names it, without a trailing ``/``: what ``find`` takes."""
    return str(fs._strip_protocol(path)).rstrip("/")


def files_below(
    found: Mapping[str, dict[str, Any]],
    base: str,
    *,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    keep: Callable[[str], bool] | None = None,
) -> list[Listed]:
    """The files of ``found`` (``find(base, detail=True)``) below ``base``, filtered, sorted."""
    listed = []
    for name, info in found.items():
        if info.get("type") != "file":
            continue
        relative = name[len(base) :].lstrip("/") if name.startswith(base) else name
        if not relative or not matches(relative, include, exclude):
            continue
        if keep is not None and not keep(relative):
            continue
        listed.append(Listed(name, relative, info))
    listed.sort(key=lambda entry: entry.relative)
    return listed


async def _list(
    fs: AbstractFileSystem,
    call: Callable[..., Awaitable[Any]],
    path: str,
    *,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    keep: Callable[[str], bool] | None = None,
    single: bool = False,
    missing_ok: bool = False,
) -> Listing:
    """The listing itself, ``call(name, *args)`` making the filesystem's calls.

    With ``single`` a ``path`` that names one object is that object alone (its ``relative``
    the base name; the filters do not apply to it). ``missing_ok`` makes a prefix ``find``
    reports missing an empty listing instead of ``FileNotFoundError``. ``include``,
    ``exclude`` and ``keep`` are :func:`files_below`'s. The filesystem's listings cache is
    dropped first: a cached listing may describe older versions.
    """
    with contextlib.suppress(AttributeError):
        fs.invalidate_cache()
    if single:
        with contextlib.suppress(FileNotFoundError):
            info = await call("info", path)
            if info.get("type") == "file":
                return Listing([Listed(path, posixpath.basename(path.rstrip("/")), info)], True, 1)
    base = prefix_base(fs, path)
    try:
        found = await call("find", base, detail=True)
    except FileNotFoundError:
        if not missing_ok:
            raise
        found = {}
    files = files_below(found, base, include=include, exclude=exclude, keep=keep)
    return Listing(files, False, len(found))


def list_files(fs: AbstractFileSystem, path: str, **options: Any) -> Listing:
    """The files below ``path`` through ``fs``'s blocking calls (a :class:`Listing`).

    ``options``: ``include``, ``exclude``, ``keep``, ``single``, ``missing_ok`` (see
    :func:`_list`).
    """

    async def call(name: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(fs, name)(*args, **kwargs)

    listing = _list(fs, call, path, **options)
    try:  # nothing in it suspends: it runs to its end on the first step
        listing.send(None)
    except StopIteration as done:
        result: Listing = done.value
        return result
    listing.close()  # pragma: no cover - only an awaitable that suspends gets here
    raise RuntimeError("a blocking listing suspended")


async def alist_files(backend: Backend, path: str, **options: Any) -> Listing:
    """:func:`list_files` through ``backend`` (the filesystem's async calls where it has them)."""
    return await _list(backend.fs, backend.call, path, **options)
