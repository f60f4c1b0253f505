"""Run transfers on a Dask cluster: copies and syncs spread over workers, a model on every host.

``unifs.copy(src, dst, client=client)`` and ``unifs.sync(..., client=client)`` run here, as
do :func:`copy`, :func:`sync` and :func:`get_on_workers` (extra ``unifs[dask]``).

How a copy is spread:

1. **Planned once.** The client lists the source once (with ``include``/``exclude``) and
   deals the files into shards of about equal bytes: largest first, each to the lightest
   shard (a file also weighs a little for the requests it costs). By default there are two
   shards per worker thread, so a worker that finishes early takes another.
2. **One task per shard.** A worker runs unifs's own engine on its shard's files: the same
   parallel, retried, verified copy as :func:`unifs.copy`, limited to those files.
   **Large files are split by ranges** where the destination takes parts from any process
   (S3 and OCI multipart uploads, Azure staged blocks; see :mod:`unifs.engine.ranges`):
   the client begins the upload, the ranges (whole parts) are dealt into shards like files,
   workers send their parts, and the client makes the object once every part is in and
   checks its multipart digest. Where the destination has no such uploads (GCS) a file is
   one unit of work, copied whole by one worker in parallel ranged parts.
3. **A lost worker's shard runs again elsewhere.** The scheduler re-runs the task of a
   worker that died (and of any finished task whose result only it held); files the
   destination already holds (same size and checksum) are skipped, so the re-run resumes
   file by file, and the parts of a split file that other workers sent stay in the upload:
   only the lost tasks' parts are sent again. Object stores commit an upload only once it
   is complete, so the lost worker leaves no partial object behind.
4. **One bar, one report.** Each task sends ``(bytes done, bytes to do)`` for its shard
   to a :class:`distributed.Queue` a few times a second; the client draws the sum of the
   latest of each shard. The shards' reports are merged into one :class:`TransferReport`.
5. **Secrets stay sealed.** Auth blocks and storage options travel to workers pickled
   inside an object whose ``repr`` is masked, and task keys are
   ``unifs-copy-{random run id}-{shard}``: never derived from arguments, so nothing secret
   appears in a task's key, its ``repr``, the dashboard or a worker's log.

A sync decides on the client (:func:`unifs.sync` with ``dry_run=True``: sizes, checksums,
hashing where stores report nothing comparable), copies what differs on the cluster, and
deletes (``delete=True``) on the client once every copy succeeded.

:func:`get_on_workers` puts one model on the local disk of every host in the cluster:
workers are grouped by host and one :func:`unifs.get` runs per host (restricted to that
host, so a lost worker's download runs again on another worker of the same host).
Both ends of ``copy``/``sync`` must be object stores: a worker's local disk is not the
client's (use :func:`get_on_workers` to fill local disks).

Only synchronous clients (``Client(...)``, not ``Client(asynchronous=True)``) are supported.
"""

from __future__ import annotations

import asyncio
import heapq
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from unifs.dask.progress import Publisher, Watch
from unifs.endpoint import Endpoint, endpoint
from unifs.engine.config import TransferConfig, takes_config
from unifs.engine.hooks import register_hook
from unifs.engine.limits import MIN_PART_SIZE
from unifs.engine.ranges import Range, Sent, Upload, plan_ranges
from unifs.engine.report import SyncReport, TransferError, TransferReport
from unifs.errors import MissingDependencyError, UnsupportedError
from unifs.transfer.sync import sync as local_sync  # a sync decides here, as unifs.sync does
from unifs.types import AuthLike
from unifs.uri import StorageURI, parse

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["copy", "get_on_workers", "sync"]

#: what one file weighs besides its bytes when shards are dealt (its requests cost time too)
_FILE_WEIGHT = 256 * 1024


def _require_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MissingDependencyError("Dask", "dask", "distributed") from exc
    return distributed


class _Sealed:
    """Auth and storage options on their way to a worker: pickled whole, shown masked.

    Dask logs a failed task with its arguments and shows them on the dashboard; this
    object's ``repr`` is all those ever see.
    """

    __slots__ = ("value",)

    def __init__(self, value: dict[str, Any]) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<unifs auth and storage options: masked>"

    __str__ = __repr__

    def __getstate__(self) -> dict[str, Any]:
        return self.value

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.value = state


@dataclass(frozen=True)
class _Run:
    """What every task of one run needs besides its files: where, how, and whose keys."""

    src: str
    dst: str
    sealed: _Sealed
    config: TransferConfig  # without a callback: each task makes its own
    queue: str


# -- planning --------------------------------------------------------------------------------


def _shards(sizes: Mapping[str, int], count: int) -> list[list[str]]:
    """Deal files into at most ``count`` shards of about equal weight (largest first)."""
    count = max(1, min(count, len(sizes)))
    heap = [(0, index) for index in range(count)]
    shards: list[list[str]] = [[] for _ in range(count)]
    for name in sorted(sizes, key=lambda n: (-sizes[n], n)):
        weight, index = heapq.heappop(heap)
        shards[index].append(name)
        heapq.heappush(heap, (weight + sizes[name] + _FILE_WEIGHT, index))
    return [sorted(shard) for shard in shards if shard]


def _workers(client: Client) -> dict[str, Any]:
    try:
        info = client.scheduler_info(n_workers=-1)
    except TypeError:  # distributed before 2025: every worker, always
        info = client.scheduler_info()
    return dict(info.get("workers", {}))


def _threads(client: Client) -> int:
    workers = _workers(client)
    return max(1, sum(int(info.get("nthreads", 1)) for info in workers.values()))


def _hosts(client: Client) -> dict[str, list[str]]:
    """Worker addresses by host, hosts in order."""
    found: dict[str, list[str]] = {}
    for address, info in _workers(client).items():
        found.setdefault(str(info.get("host") or address), []).append(address)
    return {host: sorted(found[host]) for host in sorted(found)}


def _check_client(client: Any) -> None:
    distributed = _require_distributed()
    if not isinstance(client, distributed.Client):
        raise TypeError(
            f"client must be a dask.distributed.Client, not {type(client).__name__}; "
            "make one with `Client(cluster)` or `Client('tcp://scheduler:8786')`"
        )
    if client.asynchronous:
        raise UnsupportedError(
            "unifs runs on a synchronous Dask client; make it with Client(...) rather than "
            "Client(asynchronous=True), or call unifs from a thread"
        )


def _cloud_ends(src: StorageURI, dst: StorageURI, verb: str) -> None:
    for end, uri in (("source", src), ("destination", dst)):
        if uri._provider.local_disk:
            raise UnsupportedError(
                f"{verb}(..., client=...) needs object stores at both ends, and the {end} "
                f"{uri.url} is on local disk, which differs from worker to worker. Copy "
                "without client=, or put a model on every worker's disk with "
                "unifs.dask.get_on_workers"
            )


@dataclass
class _Plan:
    """What the client decided: files for the engine, large files as part uploads."""

    sizes: dict[str, int]  # relative name -> size, of the files the engine copies whole
    single: bool  # the source is one object (the engine then copies it as named)
    uploads: list[Upload] = field(default_factory=list)  # large files, uploads begun
    skipped: list[str] = field(default_factory=list)  # large files that already match


def _prepare(
    s: StorageURI,
    d: StorageURI,
    secrets: _Sealed,
    *,
    include: Any,
    exclude: Any,
    only: set[str] | None,
    part_size: int | None,
) -> _Plan:
    """List the source once; begin a part upload for each large file the destination lacks.

    A file of at least two parts goes to a part upload where the destination has them
    (``Provider.start_parts``) if the destination lacks it or holds it with another size or
    checksum; one the checksums say matches is skipped; one only hashing can decide is left
    to the engine like every other file (it hashes on a worker, and skips or copies whole).
    """
    from unifs.engine.backend import open_backend
    from unifs.engine.compare import full_item, same_content, stored_item
    from unifs.engine.planning import plan_remote
    from unifs.engine.ranges import part_size_for, start_uploads
    from unifs.engine.scheduling import run_sync

    keys = secrets.value

    async def plan() -> _Plan:
        src_end = endpoint(s, auth=keys["auth"], **keys["storage_options"])
        dst_end = endpoint(d, auth=keys["dst_auth"], **keys["dst_options"])
        uri, dst, spath, dpath = src_end.uri, dst_end.uri, src_end.path, dst_end.path
        sb = await open_backend(src_end, 4)
        db = await open_backend(dst_end, 16)
        try:
            items, single = await plan_remote(sb, spath, uri, include, exclude)
            if only is not None and not single:
                items = [item for item in items if item.relative in only]
            result = _Plan({item.relative: item.size for item in items}, single)
            part = part_size or MIN_PART_SIZE
            large = [item for item in items if item.size >= 2 * part]
            candidates = []
            for item in large:
                if single:
                    target = dst.join(item.relative).path if dst.is_prefix else dpath
                else:
                    target = f"{dst.path.rstrip('/')}/{item.relative}"
                there = await stored_item(db, target)
                if there is not None:
                    same = same_content(full_item(sb, item.remote, item.relative, item.info), there)
                    if same:
                        result.skipped.append(item.relative)
                        del result.sizes[item.relative]
                    if same is not False:
                        # None: only hashing tells, which the engine does on a worker (and
                        # then copies the file whole if it differs)
                        continue
                candidates.append(
                    Upload(item.relative, item.remote, target, item.size, item.pin,
                           part_size_for(item.size, part))
                )  # fmt: skip
            begun = await start_uploads(db, candidates) if candidates else []
            for upload in begun or []:
                del result.sizes[upload.relative]
            result.uploads = begun or []
            return result
        finally:
            sb.close()
            db.close()

    return run_sync(plan())


# -- what runs on a worker -------------------------------------------------------------------


class _RangeProgress:
    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher

    def relative_update(self, inc: int) -> None:
        self.publisher.extra_done += inc


def _copy_shard(
    run: _Run, shard: int, names: list[str] | None, ranges: list[Range]
) -> tuple[TransferReport, list[tuple[str, Sent]]]:
    """Copy one shard: its files with unifs's engine (all of a single object for ``None``),
    its ranges of large files as parts; the report and what each part became."""
    from unifs.engine.scheduling import run_sync
    from unifs.engine.streaming import copy_remote

    secrets = run.sealed.value
    progress = Publisher(run.queue, shard)
    progress.extra_size = sum(rng.nbytes for rng in ranges)
    try:
        # bytes, requests and retries of the parts sent; their files are reported once made
        sent_report = TransferReport(source=run.src, destination=run.dst)
        sent = run_sync(_send_ranges(run, ranges, progress, sent_report)) if ranges else []
        if names is not None and not names:
            return sent_report, sent
        try:
            s_options, d_options = dict(secrets["storage_options"]), secrets["dst_options"]
            report = run_sync(
                copy_remote(
                    _end(run.src, secrets["auth"], s_options),
                    _end(run.dst, secrets["dst_auth"], d_options),
                    run.config.but(callback=progress),
                    only=None if names is None else set(names),
                )
            )  # fmt: skip
        except TransferError as err:
            report = err.report
        return _merge([sent_report], report), sent
    finally:
        progress.close()


async def _send_ranges(
    run: _Run, ranges: list[Range], progress: Publisher, report: TransferReport
) -> list[tuple[str, Sent]]:
    from unifs.engine.backend import open_backend
    from unifs.engine.ranges import copy_ranges
    from unifs.engine.scheduling import Engine

    keys = run.sealed.value
    conc = run.config.concurrency
    sb = await open_backend(_end(run.src, keys["auth"], keys["storage_options"]), conc)
    db = await open_backend(_end(run.dst, keys["dst_auth"], keys["dst_options"]), conc)
    engine = Engine(sb, report, run.config)
    try:
        return await copy_ranges(engine, db, ranges, _RangeProgress(progress))
    finally:
        await asyncio.get_running_loop().run_in_executor(None, engine.close)
        db.close()


def _get_on_host(run: _Run, shard: int) -> TransferReport:
    """Download the model to this host's disk with :func:`unifs.get`."""
    from unifs.engine.download import download
    from unifs.engine.scheduling import run_sync

    secrets = run.sealed.value
    progress = Publisher(run.queue, shard)
    try:
        return run_sync(
            download(
                _end(run.src, secrets["auth"], secrets["storage_options"]), run.dst,
                run.config.but(callback=progress),
            )
        )  # fmt: skip
    except TransferError as err:
        return err.report
    finally:
        progress.close()


# -- on the client ---------------------------------------------------------------------------


def _merge(reports: Sequence[TransferReport], into: TransferReport) -> TransferReport:
    """Add the shards' reports to ``into``: lists and counts summed, peaks the largest."""
    for report in reports:
        for f in fields(TransferReport):
            if f.name in ("source", "destination", "seconds"):
                continue
            mine, theirs = getattr(into, f.name), getattr(report, f.name)
            if f.name.startswith("peak_"):
                setattr(into, f.name, max(mine, theirs))
            elif isinstance(mine, list):
                mine.extend(theirs)
            elif isinstance(mine, dict):
                mine.update(theirs)
            else:
                setattr(into, f.name, mine + theirs)
    return into


def _run_tasks(
    client: Client,
    function: Any,
    tasks: list[tuple[str, tuple[Any, ...], dict[str, Any]]],
    run: _Run,
    planned: dict[int, int],
    callback: Any,
) -> list[Any]:
    """Submit ``(key, args, submit options)`` tasks; wait, feeding ``callback``; their results."""
    watch = Watch(client, run.queue, callback, planned)
    futures = [
        client.submit(function, run, *args, key=key, pure=False, **options)
        for key, args, options in tasks
    ]
    try:
        watch.wait(futures)
        return list(client.gather(futures))
    finally:
        for future in futures:
            future.release()
        watch.close()


def _end(url: str, auth: AuthLike, options: Mapping[str, Any]) -> Endpoint:
    """The endpoint of one end of a run, on the worker (endpoints do not travel: their
    filesystems are this process's own)."""
    return endpoint(
        parse(url, account=options.get("account_name")), auth=auth, **dict(options)
    )  # fmt: skip


def _as_prefix(uri: StorageURI) -> StorageURI:
    """``uri`` as a prefix (its key ending in ``/``)."""
    return uri if uri.is_prefix else replace(uri, key=uri.key + "/")


def _sealed(**values: Any) -> _Sealed:
    return _Sealed({k: (dict(v) if isinstance(v, Mapping) else v) for k, v in values.items()})


def _run_id() -> str:
    return uuid.uuid4().hex[:12]


def _spread_copy(
    client: Client,
    s: StorageURI,
    d: StorageURI,
    *,
    secrets: _Sealed,
    config: TransferConfig,
    callback: Any,
    shards: int | None,
    into: TransferReport,
    only: set[str] | None = None,
) -> TransferReport:
    from unifs.engine.scheduling import run_sync

    count = shards if shards is not None else 2 * _threads(client)
    if count < 1:
        raise ValueError(f"shards must be 1 or more, not {shards}")
    plan = _prepare(
        s, d, secrets, include=config.include, exclude=config.exclude, only=only,
        part_size=config.part_size,
    )  # fmt: skip
    into.skipped.extend(plan.skipped)
    # the units of work: whole files (for the engine) and ranges of large files
    units = {f"f:{name}": size for name, size in plan.sizes.items()}
    ranges: dict[str, Range] = {}
    total = sum(plan.sizes.values()) + sum(upload.size for upload in plan.uploads)
    piece = max(1, total // (2 * count))
    for upload in plan.uploads:
        for rng in plan_ranges(upload, piece):
            ranges[f"r:{rng.first:06d}:{upload.relative}"] = rng
            units[f"r:{rng.first:06d}:{upload.relative}"] = rng.nbytes
    run_id = _run_id()
    run = _Run(s.url, d.url, secrets, config.but(callback=None), queue=f"unifs-progress-{run_id}")
    tasks: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
    planned = {}
    for i, shard in enumerate(_shards(units, count) if units else []):
        names: list[str] | None = [unit[2:] for unit in shard if unit.startswith("f:")]
        if plan.single and names:
            names = None  # the one object, which the engine copies as named
        mine = [ranges[unit] for unit in shard if unit in ranges]
        tasks.append((f"unifs-copy-{run_id}-{i}", (i, names, mine), {}))
        planned[i] = sum(units[unit] for unit in shard)
    finished = False
    try:
        results = _run_tasks(client, _copy_shard, tasks, run, planned, callback) if tasks else []
        _merge([report for report, _ in results], into)
        sent: dict[str, list[Sent]] = {}
        for _, parts in results:
            for relative, part in parts:
                sent.setdefault(relative, []).append(part)
        run_sync(_finish(d, secrets, plan.uploads, sent, into, verify=config.verify))
        finished = True
    finally:
        if not finished and plan.uploads:
            run_sync(_cancel(d, secrets, plan.uploads))
    return into


async def _finish(
    d: StorageURI,
    secrets: _Sealed,
    uploads: list[Upload],
    sent: dict[str, list[Sent]],
    into: TransferReport,
    *,
    verify: bool,
) -> None:
    from unifs.engine.backend import open_backend
    from unifs.engine.ranges import finish_uploads

    if not uploads:
        return
    keys = secrets.value
    db = await open_backend(endpoint(d, auth=keys["dst_auth"], **keys["dst_options"]), 16)
    try:
        await finish_uploads(db, uploads, sent, into, verify=verify)
    finally:
        db.fs.invalidate_cache()
        db.close()


async def _cancel(d: StorageURI, secrets: _Sealed, uploads: list[Upload]) -> None:
    from unifs.engine.backend import open_backend
    from unifs.engine.ranges import cancel_uploads

    keys = secrets.value
    db = await open_backend(endpoint(d, auth=keys["dst_auth"], **keys["dst_options"]), 16)
    try:
        await cancel_uploads(db, uploads)
    finally:
        db.close()


@takes_config()
def copy(
    src: str | StorageURI | os.PathLike[str],
    dst: str | StorageURI | os.PathLike[str],
    client: Client,
    *,
    transfer_config: TransferConfig,
    auth: AuthLike = None,
    dst_auth: AuthLike = None,
    dst_options: Mapping[str, Any] | None = None,
    shards: int | None = None,
    **storage_options: Any,
) -> TransferReport:
    """Copy ``src`` to ``dst`` (both object stores) on the Dask cluster behind ``client``.

    The same copy as :func:`unifs.copy` (which calls this when given ``client=``): listed
    once here, split into ``shards`` of about equal bytes (default: two per worker thread),
    each shard copied by a worker; ``concurrency`` and ``max_buffer`` apply per shard.
    Files of two ``part_size`` parts or more (default 8 MiB parts) are split by ranges
    over the shards where the destination takes parts from any process (S3, OCI, Azure).
    Returns one report for the whole copy and raises :class:`TransferError` (with it) if
    any file failed. ``callback=None`` shows one bar for all workers where someone is
    watching.
    """
    from unifs.engine.ends import dst_settings, fspath
    from unifs.engine.progress import auto_progress

    _check_client(client)
    started = time.perf_counter()
    s = parse(fspath(src), account=storage_options.get("account_name"))
    d_account = (dst_options or {}).get("account_name") or storage_options.get("account_name")
    d = parse(fspath(dst), account=d_account)
    _cloud_ends(s, d, "copy")
    d_auth, d_options = dst_settings(s, d, auth, dst_auth, storage_options, dst_options)
    secrets = _sealed(
        auth=auth, dst_auth=d_auth, storage_options=storage_options, dst_options=d_options
    )
    report = TransferReport(source=s.url, destination=d.url)
    with auto_progress(transfer_config.callback, "copy") as bar:
        _spread_copy(
            client, s, d, secrets=secrets, config=transfer_config, callback=bar, shards=shards,
            into=report,
        )  # fmt: skip
    report.seconds = time.perf_counter() - started
    report.raise_if_failed("files to copy")
    return report


@takes_config()
def sync(
    src: str | StorageURI | os.PathLike[str],
    dst: str | StorageURI | os.PathLike[str],
    client: Client,
    *,
    transfer_config: TransferConfig,
    delete: bool = False,
    dry_run: bool = False,
    auth: AuthLike = None,
    dst_auth: AuthLike = None,
    dst_options: Mapping[str, Any] | None = None,
    shards: int | None = None,
    **storage_options: Any,
) -> SyncReport:
    """Make the prefix ``dst`` hold what ``src`` holds, the copying spread over the cluster.

    Decided here as :func:`unifs.sync` decides (size and checksum); the files that differ
    are copied as :func:`copy` copies them; with ``delete=True`` what ``src`` lacks is
    removed here once every copy succeeded. ``dry_run=True`` only decides.
    """
    from unifs.engine.ends import dst_settings, fspath
    from unifs.engine.progress import auto_progress

    _check_client(client)
    started = time.perf_counter()
    s = parse(fspath(src), account=storage_options.get("account_name"))
    d = parse(fspath(dst), account=(dst_options or {}).get("account_name"))
    _cloud_ends(s, d, "sync")
    d_auth, d_options = dst_settings(s, d, auth, dst_auth, storage_options, dst_options)
    how = transfer_config
    decided = local_sync(
        s, d, delete=delete, dry_run=True, auth=auth, dst_auth=dst_auth, include=how.include,
        exclude=how.exclude, concurrency=how.concurrency, retries=how.retries, callback=False,
        max_buffer=how.max_buffer, dst_options=dst_options, **storage_options,
    )  # fmt: skip
    if dry_run:
        decided.seconds = time.perf_counter() - started
        return decided
    report = SyncReport(source=decided.source, destination=decided.destination)
    report.skipped.extend(decided.skipped)
    if decided.would_copy:
        secrets = _sealed(
            auth=auth, dst_auth=d_auth, storage_options=storage_options, dst_options=d_options
        )
        with auto_progress(transfer_config.callback, "sync") as bar:
            _spread_copy(
                client, _as_prefix(s), _as_prefix(d), secrets=secrets,
                config=transfer_config.but(include=None, exclude=None),
                callback=bar, shards=shards, into=report, only=set(decided.would_copy),
            )  # fmt: skip
        report.seconds = time.perf_counter() - started
        report.raise_if_failed("files to copy")
    if decided.would_delete:
        _delete(d, d_auth, d_options, decided.would_delete)
        report.deleted = list(decided.would_delete)
    report.seconds = time.perf_counter() - started
    return report


def _delete(d: StorageURI, auth: AuthLike, options: dict[str, Any], names: list[str]) -> None:
    from unifs.engine.backend import open_backend
    from unifs.engine.scheduling import run_sync

    async def remove() -> None:
        end = endpoint(d, auth=auth, **options)
        backend, path = await open_backend(end, 16), end.path
        try:
            base = backend.fs._strip_protocol(path).rstrip("/")
            await backend.remove_all([f"{base}/{name}" for name in names])
        finally:
            backend.fs.invalidate_cache()
            backend.close()

    run_sync(remove())


@takes_config()
def get_on_workers(
    uri: str | StorageURI,
    local_dir: str | os.PathLike[str],
    client: Client,
    *,
    transfer_config: TransferConfig,
    auth: AuthLike = None,
    **storage_options: Any,
) -> dict[str, TransferReport]:
    """Put ``uri`` at ``local_dir`` on every worker host's disk, fetched once per host.

    Workers are grouped by host and one :func:`unifs.get` runs on one worker of each
    (the others on that host share its disk and are not used); if that worker is lost the
    download runs again, resuming its parts, on another worker of the same host. Returns
    one report per host, by host name. ``local_dir`` must be absolute: it names the same
    directory on every host. Raises :class:`TransferError` (with the hosts' reports
    merged, failed files named ``host:file``) if any host failed.
    """
    from unifs.engine.progress import auto_progress

    _check_client(client)
    local = os.fspath(local_dir)
    if not os.path.isabs(local):
        raise ValueError(
            f"local_dir must be an absolute path, not {local!r}: it names the same directory "
            "on every worker host, whose working directories differ"
        )
    hosts = _hosts(client)
    if not hosts:
        raise RuntimeError(
            "the Dask cluster has no workers yet: wait for them with client.wait_for_workers(1)"
        )
    s = parse(uri, account=storage_options.get("account_name"))
    run_id = _run_id()
    run = _Run(
        s.url, local, _sealed(auth=auth, storage_options=storage_options),
        transfer_config.but(callback=None),
        queue=f"unifs-progress-{run_id}",
    )  # fmt: skip
    names = list(hosts)
    tasks = [
        (f"unifs-get-{run_id}-{i}", (i,), {"workers": [host], "allow_other_workers": False})
        for i, host in enumerate(names)
    ]
    planned = dict.fromkeys(range(len(names)), 0)  # each host's task says its size
    with auto_progress(transfer_config.callback, "get on workers") as bar:
        reports = _run_tasks(client, _get_on_host, tasks, run, planned, bar)
    by_host = dict(zip(names, reports, strict=True))
    failed = sorted(host for host, r in by_host.items() if r.failed)
    if failed:
        merged = TransferReport(source=s.url, destination=local)
        for host, r in by_host.items():
            _merge([replace(r, failed={f"{host}:{k}": v for k, v in r.failed.items()})], merged)
        raise TransferError(
            f"the download failed on {len(failed)} of {len(by_host)} hosts "
            f"({', '.join(failed)}); report.failed names each file as host:file",
            merged,
        )
    return by_host


# ``unifs.copy(..., client=c)`` and ``unifs.sync(..., client=c)`` run here (the verbs ask
# the engine's hooks; the ``unifs.hooks`` entry point names this module)
register_hook("copy", copy)
register_hook("sync", sync)
