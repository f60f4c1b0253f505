"""PyTorch on any store unifs reads (``pip install 'unifs[torch]'``).

- :class:`ObjectDataset`: a map-style dataset, one sample per object, in a stable order.
- :class:`ShardedObjects`: an iterable dataset that splits the objects across DataLoader
  workers and distributed ranks, each object read by exactly one of them.
- :func:`load_safetensors`: a safetensors model (one file, an index and its shards, or a
  prefix) streamed in parallel ranged reads straight into tensors, verified and pinned to
  one version of each object; :class:`LoadReport` says what a load moved.

Both work with forked and spawned DataLoader workers: the filesystem they hold is renewed in
a forked child (:mod:`unifs.forksafe`) and pickled by its options for a spawned one.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["LoadReport", "ObjectDataset", "SafetensorsError", "ShardedObjects", "load_safetensors"]

_EXPORTS = {
    "LoadReport": "unifs.torch.safetensors",
    "ObjectDataset": "unifs.torch.datasets",
    "SafetensorsError": "unifs.torch.safetensors",
    "ShardedObjects": "unifs.torch.datasets",
    "load_safetensors": "unifs.torch.loading",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'unifs.torch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
