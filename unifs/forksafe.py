"""Filesystems, paths and open files from unifs keep working in a forked child process.

A ``DataLoader`` with forked workers (Linux's default), ``multiprocessing`` with ``fork``
and Gunicorn-style pre-forking servers all copy a parent that may already have used a
filesystem. What it holds then belongs to the parent: fsspec's event loop (its thread did
not come along), the HTTP connection pool (its sockets are shared with the parent, so two
processes would read each other's responses), locks another thread may have held. fsspec
refuses such an object (``RuntimeError: This class is not fork-safe``).

unifs tracks what it hands out -- filesystems from :func:`unifs.url_to_fs`, the filesystem
of a path from :func:`unifs.upath`, files from :func:`unifs.open` -- and, in the child right
after ``fork``, gives each a new per-process state: fsspec's loop of the child, and no
client, so the backend builds a new one on first use. What was dropped is kept alive and
never closed (closing could reach the parent's connections). Which attributes hold clients
is each provider's knowledge (:meth:`unifs.providers.base.Provider.forget_clients`).

Files open for reading keep their position and size; their read-ahead buffer starts empty
in the child. Files open for writing are not carried over: write in one process.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import TYPE_CHECKING, Any, TypeVar

from unifs.registry import provider_for_filesystem

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from unifs.providers.base import Provider

__all__ = ["renew_after_fork", "track", "track_file"]

_FS = TypeVar("_FS", bound="AbstractFileSystem")

# id -> object; weak so tracking never keeps a filesystem or file alive
_filesystems: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
_files: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
# what forked children inherited and dropped: kept, never closed, never collected
_inherited: list[Any] = []
_hook_installed = False
_lock = threading.Lock()


def _install_hook() -> None:
    global _hook_installed
    if _hook_installed or not hasattr(os, "register_at_fork"):
        return
    with _lock:
        if not _hook_installed:
            os.register_at_fork(after_in_child=renew_after_fork)
            _hook_installed = True


def track(fs: _FS) -> _FS:
    """Give ``fs`` a new per-process state in every forked child; return ``fs``."""
    _install_hook()
    _filesystems[id(fs)] = fs
    return fs


def track_file(f: Any) -> Any:
    """Carry the open file ``f`` (and its filesystem) over into forked children."""
    fs = getattr(f, "fs", None)
    if fs is not None:
        track(fs)
        _files[id(f)] = f
    return f


def renew_after_fork() -> None:
    """Run in a forked child: new per-process state for everything tracked.

    Called by the at-fork hook; call it yourself only in a child made without
    ``os.fork``'s hooks (a C extension's fork).
    """
    global _lock
    _lock = threading.Lock()
    filesystems = list(_filesystems.values())
    files = list(_files.values())
    if not filesystems:
        return
    _reset_fsspec()
    providers = _providers_of(filesystems)
    for provider in {id(p): p for p in providers.values()}.values():
        provider.after_fork()
    for fs in filesystems:
        _renew_filesystem(fs, providers.get(id(fs)))
    for f in files:
        _renew_file(f, providers.get(id(f.fs)))


def _providers_of(filesystems: list[Any]) -> dict[int, Provider]:
    found = {}
    for fs in filesystems:
        provider = provider_for_filesystem(fs)
        if provider is not None:
            found[id(fs)] = provider
    return found


def _reset_fsspec() -> None:
    # fsspec resets its loop and instance cache itself (asyn.reset_after_fork); a lock that
    # guards background closes is left as it was
    from fsspec import asyn

    if hasattr(asyn, "_deferred_close_lock"):
        asyn._deferred_close_lock = threading.Lock()
        asyn._deferred_close_tasks = set()


def _renew_filesystem(fs: Any, provider: Provider | None) -> None:
    from fsspec.asyn import AsyncFileSystem, get_loop

    if isinstance(fs, AsyncFileSystem) and not fs.asynchronous:
        # the loop's thread stayed in the parent; the child's fsspec loop starts here
        fs._pid = os.getpid()
        fs._loop = get_loop()
    if provider is not None:
        _inherited.extend(provider.forget_clients(fs))


def _renew_file(f: Any, provider: Provider | None) -> None:
    from fsspec.caching import caches

    if provider is not None:
        _inherited.extend(provider.forget_file_clients(f))
    cache = getattr(f, "cache", None)
    if getattr(f, "mode", "") == "rb" and cache is not None:
        # a cache may prefetch on the parent's loop: start over with a plain one
        _inherited.append(cache)
        f.cache = caches["readahead"](f.blocksize, f._fetch_range, f.size)
