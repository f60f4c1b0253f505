"""What an artifact-cache entry held when it was published, whether it still does, and who holds it.

Two concerns of :mod:`unifs.artifacts` that outlive a download:

- **A record per file** (:func:`record_tree`): size, CRC32C of the bytes, and the inode and
  modification time they had when the entry was published (after :func:`unifs.get` verified
  them against the store). :func:`check_tree` holds an entry against it: ``"fast"`` stats
  every file (a file whose inode or mtime moved is re-hashed, so a ``touch`` or a copy
  back in place is not damage, a rewritten byte is), ``"full"`` re-hashes every file.
  Files missing, changed, or present but never published (and anything that is not a
  regular file) are damage.
- **Reader holds** (:func:`hold`): a shared ``flock`` on ``<version>.lock`` next to the entry,
  taken when an entry is served and kept by the process until :func:`release` (or exit), so
  ``prune`` — which needs the same lock exclusively, without waiting — never deletes an
  entry a live process was handed. Where ``fcntl.flock`` does not exist (Windows), holds are
  not tracked: :func:`exclusive` then always succeeds, and says so in the log once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unifs.errors import CacheEntryDamagedError

__all__ = [
    "VERIFY_MODES",
    "CacheEntryDamagedError",
    "Damage",
    "check_tree",
    "exclusive",
    "hold",
    "lock_path",
    "record_file",
    "record_tree",
    "release",
]

log = logging.getLogger(__name__)

VERIFY_MODES = ("fast", "full")
_CHUNK = 1 << 20

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Damage:
    """How an entry differs from its record: relative paths, sorted."""

    missing: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()  # other bytes, other size, or no longer a regular file
    extra: tuple[str, ...] = ()  # on disk, never published

    def __bool__(self) -> bool:
        return bool(self.missing or self.changed or self.extra)

    @property
    def refetch(self) -> tuple[str, ...]:
        """The published files that must come from the store again."""
        return tuple(sorted(self.missing + self.changed))

    def describe(self) -> str:
        parts = []
        for label, names in (("missing", self.missing), ("changed", self.changed)):
            if names:
                parts.append(f"{label}: {', '.join(names)}")
        if self.extra:
            parts.append(f"not published: {', '.join(self.extra)}")
        return "; ".join(parts)


def _crc32c(path: Path) -> str:
    import google_crc32c

    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            crc = google_crc32c.extend(crc, chunk)
    return f"{crc:08x}"


def record_file(path: Path, st: os.stat_result | None = None) -> dict[str, Any]:
    """One file's record: size, CRC32C, inode and mtime (it is read once, whole)."""
    st = st or os.lstat(path)
    return {
        "size": st.st_size,
        "crc32c": _crc32c(path),
        "ino": st.st_ino,
        "mtime_ns": st.st_mtime_ns,
    }


def _walk(root: Path) -> Iterator[tuple[str, Path]]:
    """Every name below root (files, symlinks, special files; not directories), relative."""
    for current, dirs, names in os.walk(root):
        base = Path(current)
        for name in list(dirs):
            if (base / name).is_symlink():  # os.walk does not descend into it: report it
                yield (base / name).relative_to(root).as_posix(), base / name
        for name in names:
            yield (base / name).relative_to(root).as_posix(), base / name


def record_tree(root: Path) -> dict[str, dict[str, Any]]:
    """The record of every regular file below ``root`` (which was just verified)."""
    return {
        name: record_file(path)
        for name, path in sorted(_walk(root))
        if stat.S_ISREG(os.lstat(path).st_mode)
    }


def check_tree(
    root: Path,
    record: Mapping[str, Mapping[str, Any]],
    mode: str = "fast",
    *,
    only: tuple[str, ...] | None = None,
) -> tuple[Damage, dict[str, dict[str, Any]]]:
    """Hold ``root`` against ``record``: the damage found, and refreshed records.

    The refreshed records are for files whose inode or mtime moved but whose bytes did not
    (``fast``), so the next fast check needs no hash. ``only`` limits the check to those
    names (and skips the search for extra files).
    """
    if mode not in VERIFY_MODES:
        raise ValueError(f"verify must be one of {', '.join(VERIFY_MODES)}, not {mode!r}")
    missing, changed, refreshed = [], [], {}
    for name in only if only is not None else sorted(record):
        want = record[name]
        path = root / name
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            missing.append(name)
            continue
        except NotADirectoryError:  # a parent was replaced by a file
            missing.append(name)
            continue
        if not stat.S_ISREG(st.st_mode) or st.st_size != want.get("size"):
            changed.append(name)
            continue
        same_stat = st.st_ino == want.get("ino") and st.st_mtime_ns == want.get("mtime_ns")
        if mode == "fast" and same_stat:
            continue
        try:
            got = record_file(path, st)
        except OSError:
            changed.append(name)
            continue
        if got["crc32c"] != want.get("crc32c"):
            changed.append(name)
        elif not same_stat:
            refreshed[name] = got
    extra: list[str] = []
    if only is None:
        extra = sorted(name for name, _ in _walk(root) if name not in record)
    return Damage(tuple(missing), tuple(changed), tuple(extra)), refreshed


# -- reader holds ---------------------------------------------------------------------------

_held: dict[str, int] = {}  # entry directory -> the descriptor holding its shared lock
_held_lock = threading.Lock()
_warned = False


def lock_path(entry_dir: Path) -> Path:
    """The per-entry lock file: ``<version>.lock`` next to ``<version>/``."""
    return entry_dir.with_name(f"{entry_dir.name}.lock")


def _warn_untracked() -> None:
    global _warned
    if not _warned:
        _warned = True
        log.warning(
            "fcntl.flock is not available: artifact-cache readers are not tracked, so "
            "`unifs cache prune` cannot tell which entries are in use; prune only when no "
            "process is reading the cache"
        )


def _open_locked(path: Path, operation: int) -> int | None:
    """A descriptor of ``path`` locked with ``operation``, or None when it would block.

    Retries when the file was unlinked (by a prune) between open and lock, so the lock
    taken is always on the file that is at ``path`` now.
    """
    assert fcntl is not None
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except PermissionError:  # a cache this user may read, not write: flock still works
            fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, operation)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def hold(entry_dir: Path) -> bool:
    """Take (or keep) this process's shared hold on an entry. False if it is gone meanwhile.

    A prune that got there first removed the directory before releasing its exclusive
    lock, so an entry still present once the shared lock is taken stays until released.
    """
    key = str(entry_dir)
    if fcntl is None:  # pragma: no cover - Windows
        _warn_untracked()
        return entry_dir.is_dir()
    with _held_lock:
        if key in _held:
            return entry_dir.is_dir()
    if not entry_dir.parent.is_dir():
        return False
    # not under _held_lock: this may wait for a prune's exclusive lock to go
    try:
        fd = _open_locked(lock_path(entry_dir), fcntl.LOCK_SH)
    except OSError as exc:  # a read-only cache without the lock file: serve it untracked
        log.debug("cannot hold %s (%s): prune will not see this reader", entry_dir, exc)
        return entry_dir.is_dir()
    assert fd is not None  # a blocking shared lock never returns None
    if not entry_dir.is_dir():
        os.close(fd)
        return False
    with _held_lock:
        if key in _held:  # another thread of this process took it meanwhile
            os.close(fd)
        else:
            _held[key] = fd
    return True


def release(entry_dir: str | os.PathLike[str]) -> bool:
    """Drop this process's hold on an entry (its directory, or the file path served from it).

    Returns whether a hold was dropped. Holds are dropped at exit anyway; release one
    earlier to let ``prune`` remove an entry a long-lived process no longer reads.
    """
    path = Path(entry_dir)
    with _held_lock:
        for candidate in (path, path.parent):
            fd = _held.pop(str(candidate), None)
            if fd is not None:
                os.close(fd)
                return True
    return False


@contextlib.contextmanager
def exclusive(entry_dir: Path) -> Iterator[bool]:
    """Try, without waiting, to lock an entry against every reader: yields whether it did.

    While it is held (yielded True) no other process holds the entry, and none can take a
    hold on it; remove the entry inside, and the lock file goes with it. This process's
    own hold does not count: the process asking to remove an entry has decided for itself.
    """
    if fcntl is None:  # pragma: no cover - Windows
        _warn_untracked()
        yield True
        return
    path = lock_path(entry_dir)
    with _held_lock:
        fd = _held.pop(str(entry_dir), None)
    mine = fd is not None
    if fd is not None:  # convert this process's own shared lock
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # others hold it too; a failed conversion drops ours: retake
            fcntl.flock(fd, fcntl.LOCK_SH)
            with _held_lock:
                _held[str(entry_dir)] = fd
            yield False
            return
    else:
        fd = _open_locked(path, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if fd is None:
            yield False
            return
    try:
        yield True
    finally:
        if mine and entry_dir.exists():  # kept after all: this process's hold stays
            fcntl.flock(fd, fcntl.LOCK_SH)
            with _held_lock:
                _held.setdefault(str(entry_dir), fd)
        else:
            if not entry_dir.exists():
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            os.close(fd)
