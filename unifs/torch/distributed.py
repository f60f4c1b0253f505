"""One load per job: ranks of a ``torch.distributed`` group share the reading.

The collectives ``load_safetensors(..., group=...)`` runs, kept apart from what is loaded:

- :func:`owners`: which rank reads which tensor, in balanced contiguous byte shares;
- :meth:`Group.agree`: every rank says whether its step worked; if one failed, every rank
  raises that rank's error (same type, same message) instead of waiting in a broadcast
  that will never come;
- :meth:`Group.share`: a picklable value from one rank to all (the plan, an error);
- :meth:`Group.broadcast`: tensors from their owners to every rank, small ones packed into
  one staging buffer of at most ``bucket`` bytes, large ones sent from where they lie.

Every collective is issued asynchronously and waited for with ``timeout``: a rank that died
or hangs makes the others fail within that bound (gloo also fails at once when a peer's
connection closes).
"""

from __future__ import annotations

import importlib
import pickle
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from unifs.errors import DistributedLoadError as DistributedLoadError

__all__ = ["DistributedLoadError", "Group", "owners", "resolve_group"]

BUCKET = 64 * 2**20  # the staging buffer small tensors travel in


def resolve_group(group: Any) -> Any:
    """``"auto"`` -> the default group when one is initialised (else None: load alone)."""
    if group is None:
        return None
    if isinstance(group, str):
        if group != "auto":
            raise ValueError(f"group={group!r}: pass a torch.distributed ProcessGroup or 'auto'")
        if not (dist.is_available() and dist.is_initialized()):
            return None
        return dist.group.WORLD
    if not (dist.is_available() and dist.is_initialized()):
        raise ValueError(
            "group= was given but torch.distributed is not initialised; call "
            "torch.distributed.init_process_group first (torchrun sets its environment)"
        )
    return group


def owners(sizes: Sequence[int], world: int) -> list[int]:
    """The rank that reads each of ``sizes`` (in object order): contiguous runs of about
    ``sum(sizes) / world`` bytes each, a tensor going to the share its middle falls in.
    Contiguous shares keep each rank's reads few and long."""
    total = sum(sizes)
    result = []
    before = 0
    for size in sizes:
        middle = before + size / 2
        result.append(min(world - 1, int(middle * world / total)) if total else 0)
        before += size
    return result


def _pack(exc: BaseException) -> tuple[str, str, str, dict[str, Any]]:
    attrs = {}
    for key, value in vars(exc).items():
        try:
            pickle.dumps(value)
        except Exception:  # an attribute that cannot travel stays behind
            continue
        attrs[key] = value
    return type(exc).__module__, type(exc).__qualname__, str(exc), attrs


def _unpack(packed: tuple[str, str, str, dict[str, Any]], rank: int) -> BaseException:
    module, qualname, message, attrs = packed
    try:
        cls: Any = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
        if not (isinstance(cls, type) and issubclass(cls, Exception)):
            raise TypeError(qualname)
        exc = cls.__new__(cls)
        Exception.__init__(exc, message)
        exc.__dict__.update(attrs)
    except Exception:
        return DistributedLoadError(f"rank {rank}: {qualname}: {message}")
    return exc


class Group:
    """A process group, this rank's place in it, and the bound on each collective."""

    def __init__(self, group: Any, timeout: float | timedelta | None, device: torch.device):
        self.group = group
        self.rank = dist.get_rank(group)
        self.world = dist.get_world_size(group)
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        self.timeout = timedelta(seconds=seconds) if seconds is not None else None
        # NCCL moves CUDA tensors only; gloo moves CPU tensors
        nccl = dist.get_backend(group) == "nccl"
        self.device = device if nccl else torch.device("cpu")
        self.where = f"rank {self.rank} of {self.world}"

    def _wait(self, work: Any, what: str) -> None:
        try:
            if self.timeout is None:
                work.wait()
            else:
                work.wait(self.timeout)
        except RuntimeError as exc:
            raise DistributedLoadError(
                f"{self.where}: {what} failed or timed out (a rank died, hangs, or is not "
                f"loading the same model): {exc}"
            ) from exc

    def _global(self, rank: int) -> int:
        return dist.get_global_rank(self.group, rank) if self.group is not None else rank

    def _bcast(self, tensor: torch.Tensor, src: int, what: str) -> None:
        work = dist.broadcast(tensor, self._global(src), group=self.group, async_op=True)
        self._wait(work, what)

    def share(self, value: Any, src: int = 0) -> Any:
        """``value`` as rank ``src`` holds it, on every rank."""
        data = pickle.dumps(value) if self.rank == src else b""
        length = torch.tensor([len(data)], dtype=torch.int64, device=self.device)
        self._bcast(length, src, "sharing the plan")
        if self.rank == src:
            buffer = torch.frombuffer(bytearray(data), dtype=torch.uint8).to(self.device)
        else:
            buffer = torch.empty(int(length.item()), dtype=torch.uint8, device=self.device)
        self._bcast(buffer, src, "sharing the plan")
        if self.rank == src:
            return value
        return pickle.loads(buffer.cpu().numpy().tobytes())  # our own ranks sent it

    def agree(self, error: BaseException | None) -> None:
        """Raise on every rank if any rank's step failed: the lowest failing rank's error."""
        status = torch.zeros(self.world, dtype=torch.int64, device=self.device)
        mine = torch.tensor([1 if error is not None else 0], dtype=torch.int64, device=self.device)
        out = list(status.chunk(self.world))
        work = dist.all_gather(out, mine, group=self.group, async_op=True)
        self._wait(work, "agreeing on the load's status")
        failed = [r for r, s in enumerate(out) if int(s.item())]
        if not failed:
            return
        first = failed[0]
        packed = self.share(_pack(error) if self.rank == first and error else None, src=first)
        if self.rank == first and error is not None:
            raise error
        raise _unpack(packed, first) from None

    def broadcast(
        self, buffers: Sequence[tuple[torch.Tensor, int]], bucket: int | None = None
    ) -> None:
        """Fill every rank's flat uint8 ``buffers`` from their owners' (the ``int``), in the
        order given; runs of one owner's small buffers share one staging broadcast of at
        most ``bucket`` bytes (default :data:`BUCKET`)."""
        bucket = bucket or BUCKET
        staging: torch.Tensor | None = None
        run: list[torch.Tensor] = []
        run_owner = -1

        def flush() -> None:
            nonlocal staging, run
            if not run:
                return
            if len(run) == 1:
                self._bcast(run[0], run_owner, "broadcasting tensors")
            else:
                total = sum(b.numel() for b in run)
                if staging is None:
                    staging = torch.empty(bucket, dtype=torch.uint8, device=self.device)
                flat = staging[:total]
                if self.rank == run_owner:
                    torch.cat(run, out=flat)
                self._bcast(flat, run_owner, "broadcasting tensors")
                if self.rank != run_owner:
                    at = 0
                    for b in run:
                        b.copy_(flat[at : at + b.numel()])
                        at += b.numel()
            run = []

        used = 0
        for buffer, owner in buffers:
            size = buffer.numel()
            if size == 0:
                continue
            if owner != run_owner or used + size > bucket:
                flush()
                run_owner, used = owner, 0
            run.append(buffer)
            used += size
        flush()
