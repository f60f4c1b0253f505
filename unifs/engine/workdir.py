"""The one hidden work directory a get keeps in its destination, and the lock on it.

Temporary and state files live in ``{destination}/.unifs-transfer/``, named by a hash of
the file's path below the destination: a fixed-length name that can neither be an object's
local name nor exceed NAME_MAX, however long the key. A lock file in the same directory
makes two transfers into one destination take turns instead of sharing temporary files.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import time

from unifs.errors import TransferBusyError as TransferBusyError

#: the hidden directory below a destination that holds unifs's temporary and state files
WORK_DIR = ".unifs-transfer"
_LOCK = "lock"
_POLL = 0.2  # seconds between attempts to take a busy lock
logger = logging.getLogger(__name__)


class WorkDir:
    """``root``'s work directory: names for a target's temporary and state files, the lock."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.path = os.path.join(self.root, WORK_DIR)
        self._lock_fd: int | None = None

    def _name(self, target: str) -> str:
        relative = os.path.relpath(os.path.abspath(target), self.root)
        return hashlib.sha256(relative.encode("utf-8", "surrogateescape")).hexdigest()[:40]

    def tmp(self, target: str) -> str:
        """Where ``target``'s bytes land until they are verified and renamed into place."""
        return os.path.join(self.path, self._name(target) + ".part")

    def state(self, target: str) -> str:
        """Where the byte spans of ``target``'s temporary file are recorded, to resume."""
        return os.path.join(self.path, self._name(target) + ".state")

    def record(self, target: str) -> str:
        """Where ``target``'s verified identity is kept when the file system has no xattrs."""
        return os.path.join(self.path, self._name(target) + ".json")

    async def acquire(self, timeout: float) -> None:
        """Take the destination's lock, waiting up to ``timeout`` seconds for another transfer."""
        deadline = time.monotonic() + max(timeout, 0.0)
        said = False
        while (holder := self._try_lock()) is not None:
            if time.monotonic() >= deadline:
                raise TransferBusyError(
                    f"another transfer{holder} is running into {self.root!r}; wait for it "
                    "to finish (or pass a longer lock_timeout=), or download elsewhere"
                )
            if not said:
                logger.warning(
                    "another transfer%s is running into %s: waiting for it", holder, self.root
                )
                said = True
            await asyncio.sleep(_POLL)

    def _try_lock(self) -> str | None:
        """Take the lock now, or say who holds it (" (process N)", or "").

        The lock file is removed on release, so a lock taken on a file that was meanwhile
        unlinked is dropped and taken again on the new one.
        """
        lock = os.path.join(self.path, _LOCK)
        while True:
            os.makedirs(self.path, exist_ok=True)
            try:
                fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            except FileNotFoundError:  # the directory was removed between the two calls
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                return _read_pid(lock)
            try:
                same = os.fstat(fd).st_ino == os.stat(lock).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # released and removed meanwhile: take the new one
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            self._lock_fd = fd
            return None

    def release(self) -> None:
        """Drop the lock; remove the work directory if nothing is left in it."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(self.path, _LOCK))
        os.close(fd)
        with contextlib.suppress(OSError):  # not empty: parts to resume, records
            os.rmdir(self.path)


def _read_pid(lock: str) -> str:
    with contextlib.suppress(OSError, ValueError), open(lock, encoding="ascii") as handle:
        return f" (process {int(handle.read().strip())})"
    return ""
