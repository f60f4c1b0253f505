"""ObjectDataset and ShardedObjects in forked and spawned DataLoaders on every cloud."""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import pytest
import torch.utils.data
from conftest import CLOUDS, Store

from unifs.torch import ObjectDataset, ShardedObjects

RUNS = 20
OBJECTS = 9


def _payload(i: int) -> bytes:
    return hashlib.sha256(f"object {i}".encode()).digest() * (50 + 31 * i)


def _fill(store: Store) -> dict[str, bytes]:
    fs, root = store.fs_path()
    objects = {f"data/{i:02d}.bin": _payload(i) for i in range(OBJECTS)}
    objects["data/skip.txt"] = b"not a sample"
    for key, data in objects.items():
        fs.pipe_file(f"{root.rstrip('/')}/{key}", data)
    return {k: v for k, v in objects.items() if k.endswith(".bin")}


def _epochs(dataset: Any, context: str) -> list[list[bytes]]:
    """RUNS epochs: forked workers start anew each time; spawned ones persist (each spawn
    imports torch, seconds apiece)."""
    spawn = context == "spawn"
    options: dict[str, Any] = {"batch_size": None, "num_workers": 2, "timeout": 120}
    options["multiprocessing_context"] = context
    if spawn:
        loader = torch.utils.data.DataLoader(dataset, persistent_workers=True, **options)
        return [list(loader) for _ in range(RUNS)]
    return [list(torch.utils.data.DataLoader(dataset, **options)) for _ in range(RUNS)]


@pytest.mark.parametrize("context", ["fork", "spawn"])
@pytest.mark.parametrize("store", CLOUDS, indirect=True)
def test_object_dataset_returns_each_object_once(store: Store, context: str) -> None:
    objects = _fill(store)
    dataset = ObjectDataset(store.uri("data/"), include="*.bin", **store.options)
    assert dataset.keys == sorted(k.removeprefix("data/") for k in objects)
    assert dataset[0] == objects["data/00.bin"]  # the parent reads first
    for epoch in _epochs(dataset, context):
        # a map-style dataset keeps its index order
        assert epoch == [objects[f"data/{k}"] for k in dataset.keys]


@pytest.mark.parametrize("context", ["fork", "spawn"])
@pytest.mark.parametrize("store", CLOUDS, indirect=True)
def test_sharded_objects_split_across_workers_without_overlap(store: Store, context: str) -> None:
    objects = _fill(store)
    dataset = ShardedObjects(store.uri("data/"), exclude=["*.txt"], **store.options)
    expected = Counter(objects.values())
    for epoch in _epochs(dataset, context):
        assert Counter(epoch) == expected


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_sharded_objects_split_across_ranks(store: Store) -> None:
    objects = _fill(store)
    seen: list[bytes] = []
    for rank in range(3):
        ranked = ShardedObjects(
            store.uri("data/"), include="*.bin", rank=rank, world_size=3, shuffle=True, seed=7,
            **store.options,
        )  # fmt: skip
        ranked.set_epoch(1)
        loader = torch.utils.data.DataLoader(
            ranked, batch_size=None, num_workers=2, multiprocessing_context="fork"
        )
        seen.extend(loader)
    assert Counter(seen) == Counter(objects.values())


def test_bad_input_is_one_clear_error(tmp_path: Any) -> None:
    (tmp_path / "a.bin").write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match="no objects matching"):
        ObjectDataset(tmp_path.as_uri(), include="*.jpg")
    with pytest.raises(ValueError, match="rank and world_size"):
        ShardedObjects(tmp_path.as_uri(), rank=1)
