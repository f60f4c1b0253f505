"""A cross-cloud copy on Dask: 1 worker against 2, both ends behind an emulated cloud link.

    python bench/bench_dask.py                          # model dataset, GCS -> OCI
    python bench/bench_dask.py --dataset small --scale 0.5 --repeat 3
    python bench/bench_dask.py --src s3 --dst azure --concurrency 4

The source and the destination are local servers (``--src``, ``--dst``), each behind its own
link proxy from ``bench_transfer.py`` (:mod:`unifs.testing.faults` in a separate process:
``--rtt-ms`` per request, ``--conn-mibps`` per connection, ``--total-mibps`` in all). The
copy is ``unifs.copy(src, dst, client=client)`` on a ``LocalCluster`` of 1, then 2 worker
processes (one thread each, 127.0.0.1 only; ``--workers 0,1,2`` adds ``unifs.copy`` in this
process, without a cluster); ``--concurrency`` is each worker's share of
requests, so a second worker brings a second share, as a second node would. Every run starts
from an empty destination and is checked (file count and bytes) before its time counts.

Prints MiB/s per worker count (median of ``--repeat``), the speed-up, and the load average,
since on a shared 2-core machine the proxies, servers and workers compete for the CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import statistics
import sys
import time
from typing import Any

from bench_transfer import BUCKET, MiB, dataset_files, seed, start_link

from unifs.testing import network


def _count(uri: str, options: dict[str, Any]) -> tuple[int, int]:
    import unifs

    fs, path = unifs.url_to_fs(uri, **options)
    fs.invalidate_cache()
    try:
        found = fs.find(path.rstrip("/"), detail=True)
    except FileNotFoundError:
        return 0, 0
    sizes = [int(info.get("size") or 0) for info in found.values() if info.get("type") == "file"]
    return len(sizes), sum(sizes)


def _clear(uri: str, options: dict[str, Any]) -> None:
    import unifs

    fs, path = unifs.url_to_fs(uri, **options)
    fs.invalidate_cache()
    with contextlib.suppress(FileNotFoundError):
        fs.rm(path.rstrip("/"), recursive=True)
    fs.invalidate_cache()


def _warm(src: str, src_options: dict, dst: str, dst_options: dict) -> None:
    """Import each end's SDK and list it once, so that no timed run pays for start-up."""
    import unifs

    for uri, options in ((src, src_options), (dst, dst_options)):
        fs, path = unifs.url_to_fs(uri, **options)
        fs.ls(path.split("/", 1)[0])


def run(workers: int, args: Any, src: str, dst: str, options: tuple[dict, dict]) -> float:
    """Seconds for one copy on ``workers`` worker processes (0: ``unifs.copy`` here, no
    cluster), after a check of the result."""
    import distributed

    src_options, dst_options = options
    if workers == 0:
        _warm(src, src_options, dst, dst_options)
        return _timed(None, 0, args, src, dst, options)
    with (
        distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None, silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):  # fmt: skip
        client.register_worker_callbacks(setup=network.guard)
        client.run(_warm, src, src_options, dst, dst_options)
        return _timed(client, workers, args, src, dst, options)


def _timed(
    client: Any, workers: int, args: Any, src: str, dst: str, options: tuple[dict, dict]
) -> float:
    import unifs

    src_options, dst_options = options
    files = dataset_files(args.dataset, args.scale)
    times = []
    for _ in range(args.repeat):
        _clear(dst, dst_options)
        started = time.perf_counter()
        report = unifs.copy(
            src, dst, client=client, dst_options=dst_options, callback=False,
            concurrency=args.concurrency, **src_options,
        )  # fmt: skip
        times.append(time.perf_counter() - started)
        print(
            f"  {workers} worker(s), run {len(times)}: {times[-1]:.2f}s, "
            f"{report.requests} requests, {report.retries} retries",
            flush=True,
        )
        count, size = _count(dst, dst_options)
        if (count, size) != (len(files), sum(files.values())):
            raise SystemExit(f"incomplete copy: {count} files, {size} bytes")
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dataset", default="model", help="model, small or large")
    parser.add_argument("--scale", type=float, default=0.25, help="shrink sizes and counts")
    parser.add_argument("--src", default="gcs")
    parser.add_argument("--dst", default="oci")
    parser.add_argument("--workers", default="1,2", help="worker counts to compare (0: no cluster)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per worker count (median)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests per worker")
    parser.add_argument("--rtt-ms", type=float, default=20.0)
    parser.add_argument("--conn-mibps", type=float, default=16.0)
    parser.add_argument("--total-mibps", type=float, default=256.0)
    args = parser.parse_args()

    from unifs.testing import servers
    from unifs.testing.faults import route_through

    print(
        f"{args.dataset} x{args.scale} {args.src} -> {args.dst}, {args.concurrency} requests "
        f"per worker; link: +{args.rtt_ms:g} ms RTT, {args.conn_mibps:g} MiB/s per "
        f"connection, {args.total_mibps:g} MiB/s in all (each end); {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    started = {name: servers.start(name) for name in dict.fromkeys((args.src, args.dst))}
    links = []
    try:
        for server in started.values():
            server.make_bucket(BUCKET)
        source = started[args.src]
        src_root, files = seed(source, args.dataset, args.scale)
        dest = started[args.dst]
        dst_root = dest.uri(BUCKET, f"copy-of-{args.dataset}/")
        ends = []
        for server in (source, dest):
            link, endpoint = start_link(server.endpoint, args, server.provider)
            links.append(link)
            ends.append(route_through(dict(server.storage_options), server.endpoint, endpoint))
        mib = sum(files.values()) / MiB
        speeds = {}
        for workers in (int(w) for w in args.workers.split(",")):
            seconds = run(workers, args, src_root, dst_root, (ends[0], ends[1]))
            speeds[workers] = mib / seconds
            print(
                f"{workers} worker(s): {mib:.0f} MiB in {seconds:.2f}s = "
                f"{speeds[workers]:.1f} MiB/s (load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
        if len(speeds) > 1:
            first, *_, last = speeds
            print(f"speed-up {last} vs {first} workers: {speeds[last] / speeds[first]:.2f}x")
    finally:
        for link in links:
            link.terminate()
            link.wait(10)
        for server in started.values():
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
