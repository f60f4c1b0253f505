"""A node-local cache of model artifacts: ``unifs.download_artifact(uri) -> Path``.

>>> path = unifs.download_artifact("oci://n/acme/b/models/o/llama/")   # doctest: +SKIP

The first call downloads (with :func:`unifs.get`: parallel, verified, resumable); later
calls, from any thread or process on the node, return the same local path without moving a
byte. What makes it safe:

- **Keyed by identity**: an entry is named after the normalized URI (plus include/exclude)
  and the identity of every object under it (ETag, generation, MD5 or CRC32C, size). A
  changed remote object is a new entry; the old one stays until pruned.
- **Once per node**: a file lock per URI (``filelock``) makes concurrent callers wait
  while one downloads; they then get the same path.
- **Never half there**: data lands in a staging directory, is checked (and its signature
  verified when asked), and only then renamed into place, so a path this returns is
  always complete. A download interrupted at any point is resumed from its parts by the
  next call.
- **Checked when served**: each hit holds the entry against the record made when it was
  published (size, CRC32C, inode and mtime of every file; ``verify="full"`` re-hashes all
  of them): a damaged or incomplete entry is repaired from the store (offline: refused,
  naming the files). See :mod:`unifs.artifact_integrity`.
- **Held while used**: a served entry is held (a shared lock) by the process until
  :func:`release` or exit, and ``prune`` skips held entries.
- **Offline**: ``offline=True`` or ``UNIFS_OFFLINE=1`` serves the newest cached entry for
  the URI without a single request, or raises :class:`ArtifactNotCachedError`. It trusts
  the cache directory: whoever can read it gets the entry, whatever their credentials.

Layout below the cache root (``cache_dir``, else ``UNIFS_CACHE_DIR``, else the user cache
directory, e.g. ``~/.cache/unifs/artifacts``)::

    <key>/.lock                the per-URI lock
    <key>/.staging-<version>/  a download in progress (resumable; never returned)
    <key>/<version>/           a complete entry: the object, or the prefix's tree
    <key>/<version>.json       what it holds; its mtime is the entry's last use (for LRU)
    <key>/<version>.lock       readers' shared locks on the entry

``unifs cache ls|du|prune`` manage it from a shell.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unifs.artifact_integrity import (
    CacheEntryDamagedError,
    Damage,
    check_tree,
    exclusive,
    hold,
    record_file,
    record_tree,
    release,
)
from unifs.errors import ArtifactNotCachedError as ArtifactNotCachedError
from unifs.errors import UnifsError

__all__ = [
    "ArtifactNotCachedError",
    "CacheEntry",
    "CacheEntryDamagedError",
    "cache_root",
    "download_artifact",
    "entries",
    "prune",
    "release",
]

log = logging.getLogger(__name__)

ENV_CACHE_DIR = "UNIFS_CACHE_DIR"
ENV_OFFLINE = "UNIFS_OFFLINE"
_STAGING = ".staging-"
_TRASH = ".trash-"

# fsspec info keys that change when an object does, most specific first
_IDENTITY_KEYS = (
    "generation",
    "version_id",
    "VersionId",
    "ETag",
    "etag",
    "md5Hash",
    "md5",
    "crc32c",
    "content_md5",
)


@dataclass(frozen=True)
class CacheEntry:
    """One complete entry in the cache."""

    uri: str  # normalized URI (never a credential)
    path: Path  # what download_artifact returns: the file, or the directory
    root: Path  # the entry's directory
    version: str
    files: int
    size: int  # bytes on disk
    last_used: float  # seconds since the epoch

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready data for ``unifs cache ls --json``."""
        return {
            "uri": self.uri,
            "path": str(self.path),
            "version": self.version,
            "files": self.files,
            "size": self.size,
            "last_used": self.last_used,
        }


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cache root: ``cache_dir``, else ``$UNIFS_CACHE_DIR``, else the user cache dir."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("unifs", appauthor=False)) / "artifacts"


def _offline(offline: bool | None) -> bool:
    if offline is not None:
        return offline
    return os.environ.get(ENV_OFFLINE, "").strip().lower() in ("1", "true", "yes", "on")


def _key(url: str, include: Sequence[str] | None, exclude: Sequence[str] | None) -> str:
    text = json.dumps([url, sorted(include or ()), sorted(exclude or ())])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _identity(provider: Any, info: dict[str, Any]) -> str:
    """What changes when the object does: its version or checksum, and its size."""
    parts = [str(info.get("size") or 0)]
    parts += [f"{k}={info[k]}" for k in _IDENTITY_KEYS if info.get(k)]
    parts += [f"{kind}={digest}" for kind, digest in provider.checksums(info)]
    if len(parts) == 1:  # local files and stores with no checksum: the modification time
        for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
            if info.get(key):
                parts.append(f"{key}={info[key]}")
                break
    return ";".join(parts)


@dataclass(frozen=True)
class _Listing:
    single: str | None  # the object's name when the URI names one object
    objects: tuple[tuple[str, int, str], ...]  # (relative path, size, identity)

    @property
    def version(self) -> str:
        blob = json.dumps([self.single, list(self.objects)])
        return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _list_remote(
    uri: Any,
    auth: Any,
    include: Sequence[str] | None,
    exclude: Sequence[str] | None,
    storage_options: dict[str, Any],
) -> _Listing:
    from unifs.engine.listing import list_files
    from unifs.filesystem import url_to_fs
    from unifs.registry import get_provider

    fs, path = url_to_fs(uri, auth=auth, **storage_options)
    provider = get_provider(uri.provider)
    # the same listing and filters as unifs.get (unifs.engine.filters' rules)
    listing = list_files(fs, path, include=include, exclude=exclude, single=not uri.is_prefix)
    objects = tuple((f.relative, f.size, _identity(provider, f.info)) for f in listing.files)
    if listing.single:
        return _Listing(objects[0][0], objects)
    if not objects:
        raise FileNotFoundError(
            f"nothing found at {uri.url}" + (" (after include/exclude)" if listing.found else "")
        )
    return _Listing(None, objects)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _entry_path(entry_dir: Path, single: str | None) -> Path:
    return entry_dir / single if single else entry_dir


def _touch(meta: Path) -> None:
    with contextlib.suppress(OSError):
        os.utime(meta)


def _lock(key_dir: Path) -> Any:
    from filelock import FileLock

    key_dir.mkdir(parents=True, exist_ok=True)
    return FileLock(key_dir / ".lock")


def download_artifact(
    uri: str | Any,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    auth: Any = None,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    offline: bool | None = None,
    verify_signature: str | os.PathLike[str] | bool | None = None,
    public_key: str | os.PathLike[str] | None = None,
    callback: Any = None,
    verify: str = "fast",
    **storage_options: Any,
) -> Path:
    """Return a local path holding the artifact at ``uri``, downloading it at most once per node.

    A single object gives the path of the file; a prefix (or a URI ending in ``/``) the
    directory holding its tree. ``include`` / ``exclude`` filter a prefix as in
    :func:`unifs.get` (and are part of the cache key). ``offline=True`` (or
    ``UNIFS_OFFLINE=1``) makes no request: it serves the newest cached entry for ``uri``
    or raises :class:`ArtifactNotCachedError`.

    ``verify_signature`` checks the model before it is published into the cache, and a
    cached entry each time it is served (an entry cached unchecked is never handed out as
    checked; offline, the signature must be local or inside the model). It is the path
    or URI of a signature (a model-signing bundle, or a ``model_signature.json`` with
    ``artifact_uri`` and ``sha256``), or ``True`` for ``model.sig`` inside the artifact.
    ``public_key`` is the PEM public key that bundle was signed with. A model that fails
    is not published: :class:`unifs.signing.ModelVerificationError` names the files that
    differ, are missing or are extra. ``callback`` is passed to :func:`unifs.get`.

    ``verify`` is how a hit is checked against the record made at publication: ``"fast"``
    (stat every file; re-hash those whose inode or mtime moved) or ``"full"`` (re-hash
    every file). Files missing, changed or never published are repaired from the store;
    offline, :class:`CacheEntryDamagedError` names them. The entry returned stays held by
    this process (``prune`` skips it) until :func:`release` or exit.
    """
    from unifs.uri import parse

    u = parse(uri, account=storage_options.get("account_name"))
    root = cache_root(cache_dir)
    key_dir = root / _key(u.url, include, exclude)
    check = _SignatureCheck.make(u.url, verify_signature, public_key, auth, storage_options)
    if _offline(offline):
        return _serve_offline(u.url, root, key_dir, check, verify)

    listing = _list_remote(u, auth, include, exclude, storage_options)
    version = listing.version
    entry_dir = key_dir / version
    meta = key_dir / f"{version}.json"
    options = dict(auth=auth, exclude=exclude, storage_options=storage_options)
    if entry_dir.is_dir():  # a hit needs no lock: entries appear by rename, complete
        repair = _Repair(u, key_dir, meta, listing.single, verify, locked=False, **options)
        served = _serve(entry_dir, meta, listing.single, check, verify, repair)
        if served is not None:
            return served
    with _lock(key_dir):
        if entry_dir.is_dir():  # another thread or process finished it while we waited
            repair = _Repair(u, key_dir, meta, listing.single, verify, locked=True, **options)
            served = _serve(entry_dir, meta, listing.single, check, verify, repair)
            if served is not None:
                return served
        _clear_stale(key_dir, keep=version)
        staging = key_dir / f"{_STAGING}{version}"
        staging.mkdir(exist_ok=True)
        target = staging / listing.single if listing.single else staging
        from unifs.transfer import get

        get(
            u,
            target,
            auth=auth,
            include=include,
            exclude=exclude,
            callback=callback,
            **storage_options,
        )
        if check is not None:
            try:
                check.run(staging)
            except BaseException:
                # a model that fails is never published; its bytes are not worth resuming
                shutil.rmtree(staging, ignore_errors=True)
                raise
        files, size = _measure(staging)
        record = {
            "uri": u.url,
            "version": version,
            "single": listing.single,
            "files": files,
            "size": size,
            "created": time.time(),
            "manifest": record_tree(staging),  # renaming the directory keeps inodes, mtimes
        }
        _write_atomic(meta, json.dumps(record, indent=1))  # ignored until the entry exists
        os.rename(staging, entry_dir)
        hold(entry_dir)  # under the URI lock: no prune got in between
    log.info("cached %s as %s", u.url, entry_dir)
    return _entry_path(entry_dir, listing.single)


@dataclass(frozen=True)
class _SignatureCheck:
    """A model's signature check, run on a staged download and on every cache hit.

    Hits are checked too: an entry cached without a signature check (or with another key)
    is never handed to a caller who asked for one.
    """

    url: str
    signature: str | os.PathLike[str] | None  # None: model.sig inside the entry
    public_key: str | os.PathLike[str] | None
    auth: Any
    storage_options: dict[str, Any]

    @classmethod
    def make(
        cls,
        url: str,
        verify_signature: str | os.PathLike[str] | bool | None,
        public_key: str | os.PathLike[str] | None,
        auth: Any,
        storage_options: dict[str, Any],
    ) -> _SignatureCheck | None:
        if verify_signature is None or verify_signature is False:
            return None
        where = None if verify_signature is True else verify_signature
        return cls(url, where, public_key, auth, storage_options)

    def run(self, directory: Path) -> None:
        from unifs.signing import DEFAULT_SIGNATURE_NAME, verify_files

        files = {
            p.relative_to(directory).as_posix(): p for p in directory.rglob("*") if p.is_file()
        }
        verify_files(
            files,
            signature=self.signature or directory / DEFAULT_SIGNATURE_NAME,
            public_key=self.public_key,
            model=self.url,
            auth=self.auth,
            **self.storage_options,
        )


def _serve(
    entry_dir: Path,
    meta: Path,
    single: str | None,
    check: _SignatureCheck | None,
    verify: str = "fast",
    repair: _Repair | None = None,
) -> Path | None:
    """Hold, check (repair) and hand out an entry; None if a prune removed it meanwhile."""
    if not hold(entry_dir):
        return None
    try:
        if check is not None:  # the check the caller asked for first: its failure is theirs
            check.run(entry_dir)
        _check_entry(entry_dir, meta, verify, repair)
    except BaseException:
        release(entry_dir)
        raise
    _touch(meta)
    return _entry_path(entry_dir, single)


def _serve_offline(
    url: str, root: Path, key_dir: Path, check: _SignatureCheck | None, verify: str = "fast"
) -> Path:
    """The newest complete entry for this key, found on disk alone."""
    newest: tuple[float, Path, dict[str, Any]] | None = None
    if key_dir.is_dir():
        for _, version, record in _iter_key(key_dir):
            created = float(record.get("created", 0))
            if newest is None or created > newest[0]:
                newest = (created, key_dir / version, record)
    if newest is None:
        raise ArtifactNotCachedError(
            f"offline: {url} is not in the artifact cache at {root}. Run once with network "
            f"access (offline=False, or unset {ENV_OFFLINE}) to fetch it, or point "
            f"{ENV_CACHE_DIR} at the cache that holds it."
        )
    _, entry_dir, record = newest
    if check is not None and check.signature is not None:
        from unifs.signing import is_local

        if not is_local(check.signature):
            raise UnifsError(
                "offline: the signature to verify against is remote, and offline mode makes "
                "no requests; pass a local copy of it as verify_signature="
            )
    meta = entry_dir.with_name(f"{entry_dir.name}.json")
    served = _serve(entry_dir, meta, record.get("single"), check, verify)
    if served is None:
        raise ArtifactNotCachedError(f"offline: the cached entry for {url} was just pruned")
    return served


def _read_record(meta: Path) -> dict[str, Any]:
    try:
        record: dict[str, Any] = json.loads(meta.read_text())
    except (OSError, ValueError):
        record = {}
    return record


def _check_entry(entry_dir: Path, meta: Path, verify: str, repair: _Repair | None) -> None:
    """Hold a served entry against its publication record; repair it or refuse it."""
    record = _read_record(meta)
    manifest = record.get("manifest")
    if not isinstance(manifest, dict):  # published by an older unifs: trust it once
        record["manifest"] = record_tree(entry_dir)
        with contextlib.suppress(OSError):  # a cache this user may only read
            _write_atomic(meta, json.dumps(record, indent=1))
        return
    damage, refreshed = check_tree(entry_dir, manifest, verify)
    if damage:
        if repair is None:
            raise CacheEntryDamagedError(
                f"offline: the cached entry {entry_dir} no longer holds what was published "
                f"({damage.describe()}); run once online to repair it from the store"
            )
        repair(entry_dir, damage)
    elif refreshed:  # saves the next fast check a hash; not needed to serve
        record["manifest"] = {**manifest, **refreshed}
        with contextlib.suppress(OSError):
            _write_atomic(meta, json.dumps(record, indent=1))


@dataclass(frozen=True)
class _Repair:
    """Refetch an entry's damaged files from the store (whose listing still matches it)."""

    uri: Any
    key_dir: Path
    meta: Path
    single: str | None
    verify: str
    locked: bool  # the URI lock is already held by this caller
    auth: Any
    exclude: Sequence[str] | None
    storage_options: dict[str, Any]

    def __call__(self, entry_dir: Path, damage: Damage) -> None:
        with contextlib.nullcontext() if self.locked else _lock(self.key_dir):
            record = _read_record(self.meta)
            manifest = record.get("manifest") or {}
            damage, _ = check_tree(entry_dir, manifest, self.verify)  # someone else fixed it?
            if not damage:
                return
            log.warning("repairing cached entry %s: %s", entry_dir, damage.describe())
            for name in damage.extra + damage.changed:
                _remove(entry_dir / name)
            names = damage.refetch
            if names:
                self._fetch(entry_dir, names)
            after, _ = check_tree(entry_dir, manifest, "full", only=names)
            if after:
                raise CacheEntryDamagedError(
                    f"the cached entry {entry_dir} was damaged ({damage.describe()}) and the "
                    f"store's copy no longer matches it ({after.describe()}); call again to "
                    "fetch the store's new version"
                )
            for name in names:
                manifest[name] = record_file(entry_dir / name)
            record["manifest"] = manifest
            _write_atomic(self.meta, json.dumps(record, indent=1))

    def _fetch(self, entry_dir: Path, names: tuple[str, ...]) -> None:
        from unifs.engine.filters import literal
        from unifs.transfer import get

        if self.single:
            target, include = entry_dir / self.single, None
        else:
            target, include = entry_dir, [literal(name) for name in names]
        get(
            self.uri,
            target,
            auth=self.auth,
            include=include,
            exclude=self.exclude,
            **self.storage_options,
        )


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _clear_stale(key_dir: Path, *, keep: str) -> None:
    """Under the lock: staging dirs of other versions (an object changed mid-way) and trash."""
    for child in key_dir.iterdir():
        stale_staging = child.name.startswith(_STAGING) and child.name != f"{_STAGING}{keep}"
        if stale_staging or child.name.startswith(_TRASH):
            shutil.rmtree(child, ignore_errors=True)


def _measure(directory: Path) -> tuple[int, int]:
    files = size = 0
    for current, _, names in os.walk(directory):
        for name in names:
            with contextlib.suppress(OSError):
                size += os.lstat(os.path.join(current, name)).st_size
                files += 1
    return files, size


# -- managing the cache ---------------------------------------------------------------------


def _iter_key(key_dir: Path) -> Iterator[tuple[Path, str, dict[str, Any]]]:
    for meta in sorted(key_dir.glob("*.json")):
        version = meta.name[: -len(".json")]
        if meta.name.startswith(".") or not (key_dir / version).is_dir():
            continue
        try:
            record = json.loads(meta.read_text())
        except (OSError, ValueError):
            continue
        yield key_dir, version, record


def _iter_entries(root: Path) -> Iterator[tuple[Path, str, dict[str, Any]]]:
    if not root.is_dir():
        return
    for key_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        yield from _iter_key(key_dir)


def entries(cache_dir: str | os.PathLike[str] | None = None) -> list[CacheEntry]:
    """Every complete entry in the cache, least recently used first."""
    root = cache_root(cache_dir)
    found = []
    for key_dir, version, record in _iter_entries(root):
        entry_dir = key_dir / version
        with contextlib.suppress(OSError):
            found.append(
                CacheEntry(
                    uri=str(record.get("uri", "")),
                    path=_entry_path(entry_dir, record.get("single")),
                    root=entry_dir,
                    version=version,
                    files=int(record.get("files", 0)),
                    size=int(record.get("size", 0)),
                    last_used=(key_dir / f"{version}.json").stat().st_mtime,
                )
            )
    return sorted(found, key=lambda e: (e.last_used, str(e.root)))


def prune(
    max_size: int,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    dry_run: bool = False,
    on_remove: Callable[[CacheEntry], None] | None = None,
    on_keep: Callable[[CacheEntry], None] | None = None,
) -> list[CacheEntry]:
    """Remove least recently used entries until the cache holds at most ``max_size`` bytes.

    Each removal takes the entry's lock and renames the entry away before deleting it, so
    no caller is ever handed a half-deleted directory; an entry some process holds (it was
    served and not released) is kept, and passed to ``on_keep``. Returns the entries removed.
    """
    if max_size < 0:
        raise ValueError(f"max_size must be 0 or more bytes, not {max_size}")
    listed = entries(cache_dir)
    total = sum(e.size for e in listed)
    removed = []
    for entry in listed:
        if total <= max_size:
            break
        if not dry_run:
            key_dir = entry.root.parent
            with _lock(key_dir), exclusive(entry.root) as free:
                if not entry.root.is_dir():
                    continue
                if not free:  # a live process was handed this entry: never pull it away
                    log.info("prune: kept %s, a process holds it", entry.root)
                    if on_keep is not None:
                        on_keep(entry)
                    continue
                trash = key_dir / f"{_TRASH}{entry.version}-{uuid.uuid4().hex[:8]}"
                os.rename(entry.root, trash)
                with contextlib.suppress(FileNotFoundError):
                    (key_dir / f"{entry.version}.json").unlink()
                shutil.rmtree(trash, ignore_errors=True)
        total -= entry.size
        removed.append(entry)
        if on_remove is not None:
            on_remove(entry)
    return removed
