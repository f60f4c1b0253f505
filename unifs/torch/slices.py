"""Tensor-parallel slices: ``load_safetensors(..., shard={"*.q_proj.weight": (0, rank, world)})``.

A slice along dim 0 of a row-major tensor is one contiguous byte range of the object, so a
rank reads only its part's bytes. Parts are as ``torch.tensor_split`` makes them: the first
``rows % world`` parts have one row more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from unifs.engine.listing import matches

__all__ = ["Slice", "check_shard", "rows", "spec_for"]

Slice = tuple[int, int, int]  # (dim, part, parts)


def check_shard(shard: Mapping[str, Any] | None) -> dict[str, Slice]:
    """``shard`` validated: glob pattern -> (dim, part, parts), dim 0 only."""
    if not shard:
        return {}
    if not isinstance(shard, Mapping):
        raise ValueError(
            f"shard={shard!r}: pass a mapping of tensor-name pattern -> (dim, part, parts), "
            'e.g. {"*.q_proj.weight": (0, rank, world)}'
        )
    checked: dict[str, Slice] = {}
    for pattern, spec in shard.items():
        try:
            dim, part, parts = (int(v) for v in spec)
        except (TypeError, ValueError):
            raise ValueError(
                f"shard[{pattern!r}]={spec!r}: expected (dim, part, parts), e.g. (0, rank, world)"
            ) from None
        if dim != 0:
            raise ValueError(
                f"shard[{pattern!r}]: dim {dim} is not supported; only dim 0 (rows, one "
                "contiguous byte range) can be read alone"
            )
        if parts < 1 or not 0 <= part < parts:
            raise ValueError(f"shard[{pattern!r}]: part {part} of {parts} is not in 0..parts-1")
        checked[pattern] = (dim, part, parts)
    return checked


def spec_for(name: str, shard: Mapping[str, Slice]) -> Slice | None:
    """The slice the first matching pattern asks of tensor ``name`` (None: all of it)."""
    for pattern, spec in shard.items():
        if matches(name, [pattern], None):
            return spec
    return None


def rows(
    name: str, shape: Sequence[int], itemsize: int, start: int, spec: Slice
) -> tuple[int, int, list[int]]:
    """Where part ``spec`` of tensor ``name`` (at byte ``start`` of its object) lies:
    ``(start, end, shape)`` of the slice."""
    _, part, parts = spec
    if not shape:
        raise ValueError(f"shard: tensor {name!r} is a scalar; it has no dim 0 to split")
    count = shape[0]
    base, extra = divmod(count, parts)
    first = part * base + min(part, extra)
    last = first + base + (1 if part < extra else 0)
    row = itemsize
    for n in shape[1:]:
        row *= n
    return start + first * row, start + last * row, [last - first, *shape[1:]]
