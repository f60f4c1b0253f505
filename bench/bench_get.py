"""Download a model-shaped directory with unifs.get and with each backend's stock fsspec get.

    python bench/bench_get.py [--shard-mib 64] [--providers oci,s3,gcs,azure] [--repeat 3]

Both run in the same process, against the same local server and the same data, so the
ratio (stock / unifs time) is what to read; absolute MiB/s depend on this machine. Local
servers answer at loopback speed: this measures per-request overhead and parallelism, not a
cloud link (issue 4 adds an emulated link). Prints one table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

from unifs.testing.network import guard

guard()  # benchmarks, like tests, never leave 127.0.0.1

import unifs  # noqa: E402
from unifs.testing import servers  # noqa: E402

SMALL_FILES = 12


def _seed(server: servers.LocalServer, bucket: str, shard_mib: int) -> tuple[str, int]:
    server.make_bucket(bucket)
    fs = server.filesystem()
    root = server.uri(bucket, "model/")
    _, base = unifs.url_to_fs(root, **server.storage_options)
    total = 0
    for index in range(4):
        data = os.urandom(shard_mib * 2**20)
        fs.pipe_file(f"{base}shard-{index}.safetensors", data)
        total += len(data)
    for index in range(SMALL_FILES):
        data = os.urandom(4096 + index)
        fs.pipe_file(f"{base}config-{index}.json", data)
        total += len(data)
    return root, total


def _time(fn: object, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        scratch = tempfile.mkdtemp(prefix="unifs-bench-")
        started = time.perf_counter()
        fn(scratch)  # type: ignore[operator]
        samples.append(time.perf_counter() - started)
        shutil.rmtree(scratch)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shard-mib", type=int, default=64)
    parser.add_argument("--providers", default="oci,s3,gcs,azure")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'provider':<8} {'MiB':>6} {'unifs MiB/s':>12} {'fsspec MiB/s':>13} {'ratio':>6}")
    for provider in args.providers.split(","):
        server = servers.start(provider)
        try:
            root, total = _seed(server, "bench-get", args.shard_mib)
            options = server.storage_options

            def with_unifs(dest: str, root: str = root, options: dict = options) -> None:
                unifs.get(root, dest, **options)

            def with_fsspec(dest: str, root: str = root, options: dict = options) -> None:
                fs, path = unifs.url_to_fs(root, **options)
                fs.get(path, dest + "/", recursive=True)

            ours = _time(with_unifs, args.repeat)
            stock = _time(with_fsspec, args.repeat)
            mib = total / 2**20
            print(
                f"{provider:<8} {mib:>6.0f} {mib / ours:>12.1f} {mib / stock:>13.1f} "
                f"{stock / ours:>5.2f}x"
            )
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
