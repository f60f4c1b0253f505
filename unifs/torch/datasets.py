"""Datasets over the objects below a URI: map-style and sharded iterable."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from unifs.errors import MissingDependencyError

try:
    import torch
    import torch.utils.data
except ImportError as exc:  # pragma: no cover - the torch extra installs it
    raise MissingDependencyError("unifs.torch", "torch", "torch") from exc

from unifs.auth import AuthConfig
from unifs.engine.listing import list_files
from unifs.filesystem import url_to_fs

__all__ = ["ObjectDataset", "ShardedObjects"]

Transform = Callable[[bytes], Any]


class _Objects:
    """The objects below ``uri`` (sorted by key, filtered), and a filesystem to read them."""

    def __init__(
        self,
        uri: str,
        include: Sequence[str] | str | None,
        exclude: Sequence[str] | str | None,
        auth: Mapping[str, Any] | AuthConfig | None,
        storage_options: dict[str, Any],
    ) -> None:
        include = [include] if isinstance(include, str) else include
        exclude = [exclude] if isinstance(exclude, str) else exclude
        self.fs, root = url_to_fs(uri, auth=auth, **storage_options)
        listing = list_files(self.fs, root, include=include, exclude=exclude)
        paths = [f.path for f in listing.files]
        keys = [f.relative for f in listing.files]
        if not paths:
            what = " matching the filters" if include or exclude else ""
            raise FileNotFoundError(f"no objects{what} below {uri}")
        self.paths: list[str] = paths
        self.keys: list[str] = keys

    def read(self, index: int) -> bytes:
        data: bytes = self.fs.cat_file(self.paths[index])
        return data


class ObjectDataset(torch.utils.data.Dataset[Any]):
    """One sample per object below ``uri``: its bytes, or ``transform(bytes)``.

    Objects are listed once, here, sorted by key, so index ``i`` means the same object in
    every worker and every run. ``include``/``exclude`` are glob patterns over the key below
    ``uri`` (``"*.jpg"``, ``"train/*"``). ``keys[i]`` is the key of sample ``i``.
    ``auth`` and ``storage_options`` are as for :func:`unifs.url_to_fs`.
    """

    def __init__(
        self,
        uri: str,
        *,
        transform: Transform | None = None,
        include: Sequence[str] | str | None = None,
        exclude: Sequence[str] | str | None = None,
        auth: Mapping[str, Any] | AuthConfig | None = None,
        **storage_options: Any,
    ) -> None:
        self._objects = _Objects(uri, include, exclude, auth, storage_options)
        self.transform = transform

    @property
    def keys(self) -> list[str]:
        """The key (below ``uri``) of each sample, in index order."""
        return self._objects.keys

    def __len__(self) -> int:
        return len(self._objects.paths)

    def __getitem__(self, index: int) -> Any:
        data = self._objects.read(index)
        return self.transform(data) if self.transform is not None else data


class ShardedObjects(torch.utils.data.IterableDataset[Any]):
    """The objects below ``uri``, split across DataLoader workers and distributed ranks.

    Each (rank, worker) pair reads every ``world_size * num_workers``-th object of the sorted
    listing, so together they read each object exactly once per epoch and never the same
    one twice. ``rank`` and ``world_size`` default to ``torch.distributed``'s when it is
    initialised, else 0 and 1. With ``shuffle=True`` the order changes with
    :meth:`set_epoch` (same ``seed`` and epoch, same order on every rank).
    """

    def __init__(
        self,
        uri: str,
        *,
        transform: Transform | None = None,
        include: Sequence[str] | str | None = None,
        exclude: Sequence[str] | str | None = None,
        shuffle: bool = False,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        auth: Mapping[str, Any] | AuthConfig | None = None,
        **storage_options: Any,
    ) -> None:
        self._objects = _Objects(uri, include, exclude, auth, storage_options)
        self.transform = transform
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        if (rank is None) != (world_size is None):
            raise ValueError("give both rank and world_size, or neither")
        if world_size is not None and rank is not None and not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
        self.rank, self.world_size = rank, world_size

    @property
    def keys(self) -> list[str]:
        """Every object's key (below ``uri``), in listing order."""
        return self._objects.keys

    def set_epoch(self, epoch: int) -> None:
        """Choose the shuffled order of ``epoch`` (call it on every rank before each epoch)."""
        self.epoch = epoch

    def _placement(self) -> tuple[int, int]:
        rank, world = self.rank, self.world_size
        if rank is None or world is None:
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():
                rank, world = dist.get_rank(), dist.get_world_size()
            else:
                rank, world = 0, 1
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        return rank * workers + worker, world * workers

    def shard(self) -> list[int]:
        """The indices (into :attr:`keys`) this rank and worker read, in order."""
        order = list(range(len(self._objects.paths)))
        if self.shuffle:
            random.Random(self.seed * 1_000_003 + self.epoch).shuffle(order)
        shard, shards = self._placement()
        return order[shard::shards]

    def __iter__(self) -> Iterator[Any]:
        for index in self.shard():
            data = self._objects.read(index)
            yield self.transform(data) if self.transform is not None else data

    def __len__(self) -> int:
        """Objects in the whole listing (what all ranks and workers read together)."""
        return len(self._objects.paths)
