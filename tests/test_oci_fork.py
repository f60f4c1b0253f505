"""OCI in forked and spawned workers: every byte right, no error, no stall, 50 times over.

The parent lists and reads through a UPath and a filesystem first, as a training script
does before it builds its DataLoader; then 2 workers read 6 different objects through the
same UPaths and filesystem -- a PyTorch ``DataLoader`` and, separately, a
``multiprocessing`` pool -- started with fork (Linux's default) and with spawn. Forked
workers inherit whatever the parent's filesystem holds (sessions, connection pools, event
loop); spawned ones get it pickled. A stall fails the test through pytest-timeout.

Each of the 50 forked runs forks fresh workers. A spawned worker costs an interpreter
start and the imports (torch alone takes seconds), so the spawn tests start their 2
workers once and run 50 times on them: the DataLoader reads 50 epochs
(``persistent_workers``), and the pool is handed the parent's dataset -- UPaths and
filesystem pickled afresh each run -- 50 times. The parent uses the filesystem between runs.
"""

from __future__ import annotations

import multiprocessing
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fsspec
import pytest
from upath import UPath

REPEATS = 50
# seconds one run of 6 reads may take before it counts as stalled (the whole test: pytest-timeout)
RUN_STALLED = 60
SHARDS = 6

pytestmark = [
    # Python 3.12+ warns on fork() with threads running (the local server's, fsspec's loop);
    # forking such a process is exactly the situation under test
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]


def _content(i: int) -> bytes:
    """Distinct bytes and sizes per shard, so a mix-up cannot go unnoticed."""
    seed = f"shard-{i}:".encode()
    return (seed * (40_000 // len(seed) + 1))[: 40_000 + 997 * i] + bytes([i]) * 3


CONTENT = {f"shard-{i}.bin": _content(i) for i in range(SHARDS)}


class Shards:
    """A map-style dataset (what DataLoader needs) reading each shard three ways."""

    def __init__(self, paths: list[UPath], fs: fsspec.AbstractFileSystem, names: list[str]):
        self.paths = paths
        self.fs = fs
        self.names = names  # the same objects as filesystem paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[str, int, bytes, bytes, bytes]:
        path, name = self.paths[i], self.names[i]
        via_upath = path.read_bytes()
        via_fs = self.fs.cat_file(name)
        with self.fs.open(name, "rb") as f:
            via_open = f.read()
        return path.name, os.getpid(), via_upath, via_fs, via_open


@dataclass
class Setup:
    root: UPath
    fs: fsspec.AbstractFileSystem
    fs_root: str

    def dataset(self) -> Shards:
        names = sorted(CONTENT)
        return Shards(
            [self.root / n for n in names], self.fs, [f"{self.fs_root}/{n}" for n in names]
        )

    def use_in_parent(self) -> None:
        """List and read through the UPath and the filesystem, as the parent script does."""
        assert sorted(p.name for p in self.root.iterdir()) == sorted(CONTENT)
        assert (self.root / "shard-0.bin").read_bytes() == CONTENT["shard-0.bin"]
        assert sorted(self.fs.ls(self.fs_root, detail=False)) == [
            f"{self.fs_root}/{n}" for n in sorted(CONTENT)
        ]
        assert self.fs.cat_file(f"{self.fs_root}/shard-5.bin") == CONTENT["shard-5.bin"]


@pytest.fixture(scope="module")
def setup(oci_server: Any) -> Setup:
    bucket = f"fork-{uuid.uuid4().hex[:10]}"
    oci_server.make_bucket(bucket)
    for name, data in CONTENT.items():
        oci_server.oci_server.put_object(bucket, f"shards/{name}", data)
    options = {
        "config": oci_server.identity.config(),
        "config_kwargs": {"service_endpoint": oci_server.endpoint},
    }
    root = UPath(f"oci://{bucket}@{oci_server.namespace}/shards", **options)
    # the filesystem as user code gets it: fsspec's cached instance, shared with the UPaths
    fs = fsspec.filesystem("oci", **options)
    return Setup(root, fs, f"{bucket}@{oci_server.namespace}/shards")


def _whose(data: bytes) -> str:
    for name, content in CONTENT.items():
        if data == content:
            return f"{name}'s bytes"
    return f"{len(data)} bytes of no shard"


def _check(results: list[tuple[str, int, bytes, bytes, bytes]], run: int) -> set[int]:
    """Every shard once, each read right three ways; return the worker pids."""
    assert sorted(r[0] for r in results) == sorted(CONTENT), f"run {run}: shards {results!r:.200}"
    for name, pid, *reads in results:
        for how, data in zip(("UPath.read_bytes", "fs.cat_file", "fs.open"), reads, strict=True):
            assert data == CONTENT[name], f"run {run}: {how} of {name} in {pid} gave {_whose(data)}"
    return {r[1] for r in results}


def _repeat(setup: Setup, read_in_workers: Callable[[Shards], list[Any]]) -> None:
    parent = os.getpid()
    for run in range(REPEATS):
        setup.use_in_parent()
        pids = _check(read_in_workers(setup.dataset()), run)
        assert parent not in pids, "the reads should happen in the workers"
    setup.use_in_parent()  # and the parent's filesystem still works after all of it


def _data_loader(context: str) -> Callable[[Shards], list[Any]]:
    """A new DataLoader (new workers) per run."""
    from torch.utils.data import DataLoader

    def read(dataset: Shards) -> list[Any]:
        loader = DataLoader(
            dataset,
            batch_size=None,
            num_workers=2,
            multiprocessing_context=context,
            timeout=RUN_STALLED,  # one run is a few requests: longer than this is a stall
        )
        return list(loader)

    return read


def _persistent_data_loader(context: str) -> Callable[[Shards], list[Any]]:
    """One DataLoader whose workers start once and serve every run as an epoch."""
    from torch.utils.data import DataLoader

    loader: DataLoader[Any] | None = None

    def read(dataset: Shards) -> list[Any]:
        nonlocal loader
        if loader is None:
            loader = DataLoader(
                dataset,
                batch_size=None,
                num_workers=2,
                multiprocessing_context=context,
                persistent_workers=True,
            )
        return list(loader)

    return read


def _pool(context: str) -> Callable[[Shards], list[Any]]:
    """A new pool (new workers) per run."""
    ctx = multiprocessing.get_context(context)

    def read(dataset: Shards) -> list[Any]:
        with ctx.Pool(2) as pool:
            # one run is a few requests: a run that takes this long has stalled
            return pool.map_async(dataset.__getitem__, range(len(dataset))).get(RUN_STALLED)

    return read


def _each_item_in_its_own_task(dataset: Shards, i: int) -> tuple[str, int, bytes, bytes, bytes]:
    return dataset[i]


@pytest.mark.timeout(600)
def test_forked_data_loader_workers_read_every_byte_right(setup: Setup) -> None:
    _repeat(setup, _data_loader("fork"))


@pytest.mark.timeout(600)
def test_forked_pool_workers_read_every_byte_right(setup: Setup) -> None:
    _repeat(setup, _pool("fork"))


@pytest.mark.timeout(600)
def test_spawned_data_loader_workers_read_every_byte_right(setup: Setup) -> None:
    _repeat(setup, _persistent_data_loader("spawn"))


@pytest.mark.timeout(600)
def test_spawned_pool_workers_read_every_byte_right(setup: Setup) -> None:
    with multiprocessing.get_context("spawn").Pool(2) as pool:

        def read(dataset: Shards) -> list[Any]:
            # one task per item, so both workers unpickle the dataset every run
            tasks = [(dataset, i) for i in range(len(dataset))]
            return pool.starmap(_each_item_in_its_own_task, tasks, chunksize=1)

        _repeat(setup, read)
