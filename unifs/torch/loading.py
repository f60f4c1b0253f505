"""``load_safetensors``: one process alone, or a ``torch.distributed`` group sharing the load.

Alone, the model streams through :mod:`unifs.torch.safetensors`. With ``group=``, rank 0
plans, each rank reads its share through the same machinery, and the owners broadcast
(:mod:`unifs.torch.distributed`), with the ranks agreeing on a status after every step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from unifs.errors import MissingDependencyError, SafetensorsError

try:
    import torch
except ImportError as exc:  # pragma: no cover - the torch extra installs it
    raise MissingDependencyError("unifs.torch", "torch", exc.name or "torch") from exc

from unifs.auth import AuthConfig
from unifs.engine.checksums import Expect
from unifs.engine.config import TransferConfig
from unifs.engine.retries import Permanent, RetryPolicy
from unifs.engine.scheduling import run_sync
from unifs.torch.distributed import Group, owners, resolve_group
from unifs.torch.safetensors import (
    LoadReport,
    _allocate,
    _fetch,
    _File,
    _hash,
    _load,
    _planned,
    _slice,
)
from unifs.torch.slices import Slice, check_shard

__all__ = ["load_safetensors"]


def _load_group(
    uri: str, config: TransferConfig, group: Group, shard: Mapping[str, Slice], **kw: Any
) -> dict[str, torch.Tensor]:
    """Rank 0 plans; each rank reads its share (and its own slices); owners broadcast;
    every rank has it all."""
    device: torch.device = kw["device"]
    files: list[_File] | None = None
    error: BaseException | None = None
    if group.rank == 0:
        try:
            files = run_sync(_planned(uri, config, **kw))
        except Exception as exc:
            error = exc
    group.agree(error)
    files = group.share(files, src=0)
    assert files is not None
    # a tensor-parallel slice is this rank's own: read here, never broadcast
    sliced = _slice(files, shard)
    flat = [(f, t) for f in files for t in f.tensors if t.name not in sliced]
    own = owners([t.end - t.start for _, t in flat], group.world)
    mine: list[_File] = []
    for file in files:
        owned = [
            t for (f, t), o in zip(flat, own, strict=True)
            if f is file and o == group.rank and t.end > t.start
        ] + [t for t in file.tensors if t.name in sliced and t.end > t.start]  # fmt: skip
        owned.sort(key=lambda t: t.start)
        if owned:
            # this rank reads part of the object: its checksum is checked once all is here
            share = _File(file.item, file.header, [], file.whole, None)
            _allocate(share, owned, device.type == "cuda")
            mine.append(share)
    out: dict[str, torch.Tensor] = {}
    error = None
    try:
        if mine:
            out = run_sync(_fetch(uri, config, mine, **kw))
    except Exception as exc:
        error = exc
    group.agree(error)

    for file in files:
        for tensor in file.tensors:
            if tensor.name in sliced and tensor.end == tensor.start:
                out[tensor.name] = torch.empty(tensor.shape, dtype=tensor.dtype, device=device)
    buffers = []
    for (_, tensor), owner in zip(flat, own, strict=True):
        size = tensor.end - tensor.start
        if size == 0:
            out[tensor.name] = torch.empty(tensor.shape, dtype=tensor.dtype, device=device)
            continue
        if owner == group.rank:
            buffer = out[tensor.name].reshape(-1).view(torch.uint8).to(group.device)
        else:
            buffer = torch.empty(size, dtype=torch.uint8, device=group.device)
            out[tensor.name] = buffer.view(tensor.dtype).reshape(tensor.shape)
        buffers.append((buffer, owner))
    group.broadcast(buffers)
    for name, value in out.items():
        if value.device != device:
            out[name] = value.to(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)

    error = None
    try:
        for number, file in enumerate(files):
            if file.expect is not None and number % group.world == group.rank:
                _verify(file, file.expect, out)
    except Exception as exc:
        error = exc
    group.agree(error)
    return out


def _verify(file: _File, expect: Expect, out: dict[str, torch.Tensor]) -> None:
    """The whole object's checksum, over the bytes every rank now holds."""
    memories = [
        memoryview(out[t.name].cpu().reshape(-1).view(torch.uint8).numpy())  # type: ignore[arg-type]
        for t in file.tensors
        if t.end > t.start
    ]
    digest = _hash(expect, file.header, memories)
    if digest != expect.digest and (expect.kind != "md5-parts" or file.item.checksum is not None):
        raise Permanent(
            f"{file.item.remote}: {expect.kind} mismatch: read {digest}, the store "
            f"reports {expect.digest}"
        )


def load_safetensors(
    uri: str,
    *,
    device: str | torch.device = "cpu",
    auth: Mapping[str, Any] | AuthConfig | None = None,
    include: Sequence[str] | str | None = None,
    group: Any = None,
    shard: Mapping[str, tuple[int, int, int]] | None = None,
    timeout: float | timedelta | None = 300.0,
    concurrency: int | None = None,
    part_size: int | None = None,
    max_buffer: int | None = None,
    retries: int | RetryPolicy | None = None,
    verify: bool = True,
    callback: Any = None,
    report: LoadReport | None = None,
    **storage_options: Any,
) -> dict[str, torch.Tensor]:
    """Load a safetensors model from ``uri`` into tensors, streamed in parallel ranged reads.

    ``uri`` names one ``.safetensors`` object, a ``model.safetensors.index.json`` (its shards
    are read), or a prefix (every ``.safetensors`` object below it), in any dialect unifs
    reads; ``auth`` and ``storage_options`` are as for :func:`unifs.url_to_fs`.
    ``include`` keeps only tensors whose names match these glob patterns (shards an index
    assigns none of them are not read).

    ``device="cuda:N"`` lands bytes in pinned host memory and moves each tensor to the GPU
    as soon as its bytes are in; on a machine without CUDA, ask for ``"cpu"``.

    ``group`` (a ``torch.distributed`` process group, or ``"auto"`` for the default group
    when one is initialised) loads the model once per group: rank 0 reads the headers, each
    rank reads a balanced, contiguous byte share of the tensors, and the owners broadcast
    them (gloo on CPU, NCCL for CUDA tensors), so every rank returns the whole state dict.
    Every rank must make the same call. A failure on any rank raises the same error on every
    rank; ``timeout`` (seconds) bounds each collective, so a rank that died fails the others.

    ``shard`` maps tensor-name glob patterns to ``(dim, part, parts)``: a matching tensor is
    loaded as part ``part`` of ``parts`` along ``dim`` (as ``torch.tensor_split`` cuts it),
    e.g. ``{"*.q_proj.weight": (0, rank, world)}`` for tensor parallelism. Only dim 0 is
    supported: its parts are contiguous byte ranges, and only those bytes are read. With a
    ``group``, every rank must name the same patterns; their slices are read by each rank
    itself, never broadcast. An object a slice was taken from is checked for its version,
    not its checksum (not all of its bytes are read).

    ``concurrency`` caps requests in flight (default 64, ramped up while it pays),
    ``max_buffer`` the bytes they may hold (default 128 MiB), ``part_size`` the size of each
    ranged read (default: where reads stream, each span is read in windows of at least
    8 MiB, at most half of what it has left, and what no request has asked for yet is split
    while more streams pay, so no byte is asked for twice; elsewhere 8-64 MiB, 16 reads to
    the budget). ``retries`` is a count or a :class:`unifs.transfer.RetryPolicy`.
    ``callback`` is an fsspec ``Callback`` told the bytes as they land, e.g.
    ``unifs.transfer.progress_bar("model")``. ``report`` (a :class:`unifs.torch.LoadReport`)
    is filled in with what the load moved: bytes received and returned, ranged reads,
    retries, reads abandoned or duplicated, which objects were checksum-verified (with
    ``group=``, each rank's own reads).

    Raises :class:`unifs.errors.ObjectChangedError` if an object was replaced during the
    load, :class:`SafetensorsError` for an object that is not valid safetensors, and
    ``OSError`` when a checksum does not match or reads fail past their retries.
    """
    target = torch.device(device)
    if target.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={str(device)!r} but this machine has no CUDA device; use device='cpu'"
        )
    patterns = [include] if isinstance(include, str) else include
    config = TransferConfig.of(
        concurrency=concurrency, part_size=part_size, max_buffer=max_buffer, retries=retries,
        verify=verify, callback=callback,
    )  # fmt: skip
    kw: dict[str, Any] = {
        "device": target, "auth": auth, "include": patterns, "storage_options": storage_options,
        "report": report,
    }  # fmt: skip
    slices = check_shard(shard)
    process_group = resolve_group(group)
    if process_group is None:
        out = run_sync(_load(str(uri), config, slices, **kw))
    else:
        out = _load_group(str(uri), config, Group(process_group, timeout, target), slices, **kw)
    if patterns and not out:
        raise SafetensorsError(f"no tensor in {uri} matches include={list(patterns)}")
    return out
