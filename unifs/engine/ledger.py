"""unifs's record of the part uploads it begins, so a rerun (or ``unifs cleanup``) aborts its own.

A multipart upload a killed process began stays on the store, its parts billed, until
someone aborts it. Neither S3's nor OCI's ListMultipartUploads returns an upload's
metadata, so whose upload it is cannot be read back from the store: unifs writes down each
upload it begins (:func:`begin`), one small JSON file per upload in the ledger directory,
and removes it when the upload is finished (:func:`finished`) or cancelled
(:func:`cancel`). A record holds where the upload lives (the provider's
``upload_store``: its endpoint, never a credential), the filesystem path, the upload id,
and the owning process (pid, host, boot id and the process's start time, so a reused pid
is not taken for the owner). Each file is written under a temporary name and renamed into
place, so a reader sees a whole record or none, and processes need no lock to share the
directory.

:func:`abort_left` is what a rerun does once per transfer: it reads the ledger once and
aborts, by id, the recorded uploads under the destination whose owner is gone -- its pid
is no longer running on this host (or is running something else), or it is this very
process and the upload is no longer in flight. An upload not in the ledger (someone
else's, even to the same key) is never touched, nor is one whose owner is still running,
or runs on another host, unless ``include_live`` (``unifs cleanup --all-unifs``).

The ledger lives in ``$UNIFS_STATE_DIR/uploads``, else the user state directory
(``platformdirs.user_state_dir("unifs")``, ``~/.local/state/unifs`` on Linux, which
honours ``XDG_STATE_HOME``). Stores whose part uploads need no record say so
(``upload_store`` is None): Azure's staged blocks cannot be dropped one upload at a time
and the service discards uncommitted blocks after 7 days.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from unifs.engine.backend import Backend

__all__ = [
    "ENV_STATE_DIR",
    "Entry",
    "abort",
    "abort_left",
    "abort_unfinished",
    "begin",
    "cancel",
    "entries",
    "finished",
    "ledger_dir",
    "under",
]

#: the environment variable naming unifs's state directory (the ledger is ``uploads/`` in it)
ENV_STATE_DIR = "UNIFS_STATE_DIR"
_VERSION = 1
logger = logging.getLogger(__name__)

#: upload ids this process has begun and not yet finished or cancelled
_live: set[str] = set()


def ledger_dir() -> Path:
    """Where the records live: ``$UNIFS_STATE_DIR/uploads``, else the user state directory's."""
    env = os.environ.get(ENV_STATE_DIR)
    if env:
        return Path(env).expanduser() / "uploads"
    import platformdirs

    return Path(platformdirs.user_state_dir("unifs", appauthor=False)) / "uploads"


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:  # not Linux: pids are compared without it
        return ""


def _started_ticks(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks after boot; Linux), to tell a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: count from its end
    fields = stat.rpartition(")")[2].split()
    try:
        return int(fields[19])  # field 22, starttime
    except (IndexError, ValueError):
        return None


def _running(pid: int) -> bool:
    if os.name == "nt":  # os.kill would end the process there: assume it runs
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone's process holds the pid
        return True
    return True


@dataclass(frozen=True)
class Entry:
    """One recorded upload: where it lives, its id, and the process that began it."""

    store: str  # the provider's name for where the uploads live (no secrets)
    path: str  # the object's path in the filesystem
    upload: str  # the store's upload id
    pid: int
    host: str
    started: float  # seconds since the epoch
    boot: str = ""
    ticks: int | None = None
    file: Path | None = field(default=None, compare=False, repr=False)

    def owner_alive(self) -> bool | None:
        """Whether the process that began the upload still runs it; None: cannot tell
        (another host)."""
        if self.host != socket.gethostname():
            return None
        if self.boot and self.boot != _boot_id():
            return False  # the machine has restarted since
        if self.pid == os.getpid():
            return self.upload in _live
        if not _running(self.pid):
            return False
        if self.ticks is not None:
            now = _started_ticks(self.pid)
            if now is not None and now != self.ticks:
                return False  # the pid was given to another process
        return True

    def as_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record.pop("file")
        return record

    def forget(self) -> None:
        """Remove this record (another process may have already)."""
        if self.file is not None:
            with contextlib.suppress(FileNotFoundError):
                self.file.unlink()


def _store_tag(store: str) -> str:
    return hashlib.sha256(store.encode()).hexdigest()[:12]


def _name(store: str, path: str, upload: str) -> str:
    # named by store first: a rerun reads only its own store's records
    whole = hashlib.sha256(f"{store}\n{path}\n{upload}".encode()).hexdigest()[:28]
    return f"{_store_tag(store)}-{whole}.json"


def _write(entry: Entry) -> Path:
    folder = ledger_dir()
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / _name(entry.store, entry.path, entry.upload)
    temporary = folder / f".{final.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    temporary.write_text(json.dumps({"version": _VERSION, **entry.as_dict()}))
    os.replace(temporary, final)
    return final


def record(store: str, path: str, upload: str) -> Entry:
    """Write down that this process began ``upload`` to ``path`` in ``store``."""
    pid = os.getpid()
    entry = Entry(
        store, path, upload, pid, socket.gethostname(), time.time(), _boot_id(),
        _started_ticks(pid),
    )  # fmt: skip
    _live.add(upload)
    return replace(entry, file=_write(entry))


def _forget(store: str, path: str, upload: str) -> None:
    _live.discard(upload)
    with contextlib.suppress(FileNotFoundError):
        (ledger_dir() / _name(store, path, upload)).unlink()


def under(path: str, prefix: str) -> bool:
    """Whether ``path`` is ``prefix`` or below it (a prefix ends in ``/`` or is a bucket)."""
    if prefix.endswith("/") or "/" not in prefix.rstrip("/"):
        return path.startswith(prefix.rstrip("/") + "/") or path == prefix.rstrip("/")
    return path == prefix or path.startswith(prefix + "/")


def entries(store: str | None = None, prefix: str | None = None) -> list[Entry]:
    """The recorded uploads (in ``store``, under ``prefix`` where given): one read of the ledger."""
    folder = ledger_dir()
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return []
    found = []
    tag = None if store is None else _store_tag(store) + "-"
    for name in names:
        if not name.endswith(".json") or name.startswith("."):
            continue
        if tag is not None and not name.startswith(tag):
            continue
        try:
            data = json.loads((folder / name).read_text())
            entry = Entry(
                str(data["store"]), str(data["path"]), str(data["upload"]), int(data["pid"]),
                str(data["host"]), float(data["started"]), str(data.get("boot") or ""),
                data.get("ticks"), folder / name,
            )  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError):
            continue  # removed meanwhile, or not a record of this version
        if store is not None and entry.store != store:
            continue
        if prefix is not None and not under(entry.path, prefix):
            continue
        found.append(entry)
    return found


# -- what the engine calls ---------------------------------------------------------------------


async def begin(backend: Backend, target: str, *, part_size: int | None = None) -> str | None:
    """Begin a part upload to ``target`` and record it: its upload id (None: the store has
    no part uploads). The one way the engine starts one (``Provider.start_parts``)."""
    provider = backend.provider
    made = provider.start_parts(backend.fs, target, part_size=part_size)
    if made is None:
        return None
    upload = str(await backend.resolve(made))
    store = provider.upload_store(backend.fs)
    if store is not None:
        try:
            record(store, target, upload)
        except OSError as exc:  # an unwritable state directory must not fail the copy
            logger.warning(
                "could not record upload %s in %s (a kill would leave it for the store's "
                "lifecycle rules): %s", upload, ledger_dir(), exc,
            )  # fmt: skip
    return upload


def finished(backend: Backend, target: str, upload: str) -> None:
    """The upload became the object (or is gone): its record goes."""
    store = backend.provider.upload_store(backend.fs)
    _live.discard(upload)
    if store is not None:
        _forget(store, target, upload)


async def cancel(backend: Backend, target: str, upload: str) -> None:
    """Abort ``upload`` and forget it; raises if the store refused (the record then stays,
    no longer in flight, for the next rerun or ``unifs cleanup``)."""
    _live.discard(upload)
    with contextlib.suppress(FileNotFoundError):  # already gone
        await backend.resolve(backend.provider.cancel_parts(backend.fs, target, upload))
    finished(backend, target, upload)


async def abort_left(
    backend: Backend,
    prefix: str,
    *,
    include_live: bool = False,
    dry_run: bool = False,
) -> tuple[list[Entry], list[tuple[Entry, str]]]:
    """Abort the recorded uploads under ``prefix`` whose owner is gone: (aborted, failed).

    ``include_live`` takes those of running processes (and other hosts) too; ``dry_run``
    aborts nothing and returns what would go. Uploads the ledger does not hold are never
    touched. The ledger is read once.
    """
    store = backend.provider.upload_store(backend.fs)
    if store is None:
        return [], []
    found = await asyncio.to_thread(entries, store, prefix)
    chosen = [e for e in found if include_live or e.owner_alive() is False]
    if dry_run:
        return chosen, []
    aborted, failed = [], []
    for entry in chosen:
        try:
            await abort(backend, entry)
        except Exception as exc:
            failed.append((entry, str(exc)))
            continue
        aborted.append(entry)
    return aborted, failed


async def abort(backend: Backend, entry: Entry) -> None:
    """Abort the recorded upload ``entry`` by its id and forget it (raises if refused)."""
    provider = backend.provider
    with contextlib.suppress(FileNotFoundError):  # the store no longer has it
        await backend.resolve(provider.cancel_parts(backend.fs, entry.path, entry.upload))
    _live.discard(entry.upload)
    entry.forget()


async def abort_unfinished(backend: Backend, prefix: str) -> None:
    """What a rerun does first: abort the uploads killed unifs runs left under ``prefix``.

    Only uploads in the ledger whose owner is gone; a failure to clean up is logged, never
    the transfer's failure.
    """
    try:
        aborted, failed = await abort_left(backend, prefix)
    except Exception as exc:  # cleaning up must not fail the transfer itself
        logger.warning("could not read or clean unfinished uploads under %s: %s", prefix, exc)
        return
    if aborted:
        logger.info(
            "aborted %d unfinished upload(s) a killed run left under %s", len(aborted), prefix
        )
    for entry, why in failed:
        logger.warning("could not abort upload %s to %s: %s", entry.upload, entry.path, why)
