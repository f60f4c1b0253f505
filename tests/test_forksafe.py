"""What unifs hands out, used in a parent, keeps working in forked DataLoader workers.

fsspec's async filesystems refuse a forked child ("This class is not fork-safe") and their
connection pools would be shared with the parent; unifs.forksafe gives each child its own.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import torch.utils.data
from conftest import CLOUDS, Store

import unifs

RUNS = 20
OBJECTS = 6


def _payload(i: int) -> bytes:
    # distinct sizes and contents: a response read by the wrong process shows as a mismatch
    return hashlib.sha256(str(i).encode()).digest() * (300 + 97 * i)


class _ReadBoth(torch.utils.data.Dataset[tuple[int, bytes, bytes]]):
    """Reads object i through a filesystem and through a UPath the parent already used."""

    def __init__(self, store: Store) -> None:
        self.fs, self.root = unifs.url_to_fs(store.root, **store.options)
        self.path = unifs.upath(store.root, **store.options)

    def __len__(self) -> int:
        return OBJECTS

    def __getitem__(self, i: int) -> tuple[int, bytes, bytes]:
        by_fs = self.fs.cat_file(f"{self.root.rstrip('/')}/obj-{i}")
        by_path = (self.path / f"obj-{i}").read_bytes()
        return i, by_fs, by_path


def _loader(dataset: Any) -> torch.utils.data.DataLoader[Any]:
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=None,
        num_workers=2,
        multiprocessing_context="fork",
        timeout=120,
    )


@pytest.mark.parametrize("store", CLOUDS, indirect=True)
def test_filesystem_and_upath_used_in_parent_work_in_forked_workers(store: Store) -> None:
    fs, root = store.fs_path()
    for i in range(OBJECTS):
        fs.pipe_file(f"{root.rstrip('/')}/obj-{i}", _payload(i))
    dataset = _ReadBoth(store)
    # the parent uses both first: its client, session and loop exist before the fork
    assert dataset[0][1] == dataset[0][2] == _payload(0)
    assert len(list(dataset.path.iterdir())) == OBJECTS
    for _ in range(RUNS):
        seen = sorted(_loader(dataset), key=lambda item: item[0])
        assert [i for i, _, _ in seen] == list(range(OBJECTS))
        for i, by_fs, by_path in seen:
            assert by_fs == by_path == _payload(i)
        # and the parent's own connections still answer correctly afterwards
        assert dataset[OBJECTS - 1][1] == _payload(OBJECTS - 1)


class _ReadOpenFile(torch.utils.data.Dataset[tuple[int, bytes]]):
    """Reads slices of one file the parent opened (and read from) before forking."""

    def __init__(self, f: Any, size: int, parts: int) -> None:
        self.f, self.size, self.parts = f, size, parts

    def __len__(self) -> int:
        return self.parts

    def __getitem__(self, i: int) -> tuple[int, bytes]:
        step = self.size // self.parts
        self.f.seek(i * step)
        return i, self.f.read(step)


@pytest.mark.parametrize("store", CLOUDS, indirect=True)
def test_file_opened_in_parent_reads_in_forked_workers(store: Store) -> None:
    data = b"".join(_payload(i) for i in range(8))
    data = data[: len(data) // 8 * 8]
    store.fs_path("big.bin")[0].pipe_file(store.fs_path("big.bin")[1], data)
    with unifs.open(store.uri("big.bin"), "rb", **store.options) as f:
        assert f.read(100) == data[:100]
        dataset = _ReadOpenFile(f, len(data), 8)
        for _ in range(RUNS):
            parts = dict(_loader(dataset))
            assert b"".join(parts[i] for i in range(8)) == data
        f.seek(0)
        assert f.read() == data
