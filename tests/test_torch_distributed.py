"""load_safetensors(group=...): ranks share the reading, every rank ends with the model."""

from __future__ import annotations

import json
import os
import pickle
import socket
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import safetensors.torch
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from conftest import CLOUDS, Store
from test_torch_safetensors import _ReplaceOnFirstBytes, _same

import unifs
import unifs.torch
from unifs.testing.faults import Fault, FaultProxy, route_through
from unifs.torch.distributed import owners

KiB = 1024


def _model(seed: int, rows: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "embed.weight": torch.randn(rows, 257, generator=g),
        "layer.0.attn": torch.randn(129, 511, generator=g).to(torch.float16),
        "layer.0.mlp": torch.randn(1023, 65, generator=g).to(torch.bfloat16),
        "layer.1.ids": torch.randint(-(2**40), 2**40, (4099,), generator=g),
        "layer.1.mask": torch.rand(777, generator=g) > 0.5,
        "norm.scale": torch.tensor(1.5),
        "empty": torch.zeros(0, 4),
    }


def _write_sharded(store: Store, folder: str, shards: int = 2) -> tuple[dict[str, bytes], str]:
    """Shards of about 1.3 MiB each and their index; returns {name: bytes} and the index URI."""
    files: dict[str, bytes] = {}
    weight_map = {}
    for shard in range(shards):
        tensors = {f"s{shard}.{k}": v for k, v in _model(20 + shard, rows=1000).items()}
        name = f"model-{shard + 1:05d}-of-{shards:05d}.safetensors"
        files[name] = safetensors.torch.save(tensors)
        weight_map.update(dict.fromkeys(tensors, name))
        fs, path = store.fs_path(f"{folder}/{name}")
        fs.pipe_file(path, files[name])
    fs, path = store.fs_path(f"{folder}/model.safetensors.index.json")
    fs.pipe_file(path, json.dumps({"weight_map": weight_map}).encode())
    return files, store.uri(folder, "model.safetensors.index.json")


def _reference(files: dict[str, bytes]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for data in files.values():
        out.update(safetensors.torch.load(data))
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rank(rank: int, world: int, port: int, out: str, job: dict[str, Any]) -> None:
    """One rank: load, then write its tensors (or its error) to ``out/rank.pt``."""
    from unifs.testing.network import guard

    guard()
    import unifs.torch.distributed
    from unifs.torch import load_safetensors

    if job.get("bucket"):
        unifs.torch.distributed.BUCKET = job["bucket"]

    result: dict[str, Any]
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
        timeout=timedelta(seconds=120),
    )  # fmt: skip
    if job.get("die") == rank:
        os._exit(3)  # a rank lost after joining the group: no load, no goodbye
    try:
        kwargs = dict(job.get("kwargs", {}))
        if job.get("shard"):
            kwargs["shard"] = {pattern: (0, rank, world) for pattern in job["shard"]}
        replace = job.get("replace", {}).get(rank)
        if replace is not None:
            kwargs["callback"] = _ReplaceOnFirstBytes(replace[0], job["options"], replace[1])
        tensors = load_safetensors(job["uri"], group="auto", **kwargs, **job["options"])
        result = {"tensors": tensors}
    except Exception as exc:
        result = {"error": type(exc).__name__, "message": str(exc), "tb": traceback.format_exc()}
    finally:
        dist.destroy_process_group()
    torch.save(result, Path(out) / f"{rank}.pt")


def _run(world: int, tmp_path: Path, job: dict[str, Any]) -> list[dict[str, Any]]:
    """Each rank in its own spawned process; their results, rank by rank (None: it died)."""
    out = tmp_path / f"ranks-{world}"
    out.mkdir()
    pickle.dumps(job)  # what the children are sent must travel
    context = mp.get_context("spawn")
    port = _free_port()
    ranks = [
        context.Process(target=_rank, args=(r, world, port, str(out), job)) for r in range(world)
    ]
    for process in ranks:
        process.start()
    for process in ranks:
        process.join(300)
    alive = [r for r, p in enumerate(ranks) if p.is_alive()]
    for process in ranks:
        if process.is_alive():
            process.kill()
    assert not alive, f"ranks {alive} still running: a hang, not a failure"
    return [
        torch.load(out / f"{r}.pt", weights_only=False) if (out / f"{r}.pt").exists() else None
        for r in range(world)
    ]


def test_owners_are_balanced_contiguous_shares() -> None:
    assert owners([10, 10, 10, 10], 2) == [0, 0, 1, 1]
    assert owners([1, 1, 100, 1], 2) == [0, 0, 1, 1]
    assert owners([5] * 9, 4) == [0, 0, 1, 1, 2, 2, 2, 3, 3]
    assert owners([0, 0], 3) == [0, 0]
    shares = owners([7, 3, 9, 1, 4, 4, 8, 2], 3)
    assert shares == sorted(shares) and set(shares) == {0, 1, 2}


@pytest.mark.parametrize("store", CLOUDS, indirect=True)
def test_two_ranks_each_get_the_whole_model(store: Store, tmp_path: Path) -> None:
    files, uri = _write_sharded(store, "two")
    want = _reference(files)
    # a small staging buffer: several packed broadcasts, and tensors larger than it sent alone
    job = {"uri": uri, "options": store.options, "bucket": 300 * KiB}
    results = _run(2, tmp_path, job)
    for result in results:
        assert "error" not in result, result.get("tb")
        _same(result["tensors"], want)


def _served(proxy: FaultProxy, names: list[str]) -> int:
    return sum(
        seen.body_bytes
        for seen in proxy.requests("GET")
        if unquote(seen.target.split("?", 1)[0]).rsplit("/", 1)[-1] in names
    )


@pytest.mark.parametrize("world", [1, 2, 4])
@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_bytes_served_are_the_model_once(
    store: Store, s3_server: Any, tmp_path: Path, world: int
) -> None:
    files, uri = _write_sharded(store, f"once{world}")
    want = _reference(files)
    model = sum(len(d) for d in files.values())
    with FaultProxy(s3_server.endpoint) as proxy:
        options = route_through(store.options, s3_server.endpoint, proxy.endpoint)
        results = _run(world, tmp_path, {"uri": uri, "options": options})
        served = _served(proxy, list(files))
    for result in results:
        assert "error" not in result, result.get("tb")
        _same(result["tensors"], want)
    assert model <= served <= 1.05 * model, (served, model)


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_shard_reads_only_the_slice(store: Store, s3_server: Any) -> None:
    files, uri = _write_sharded(store, "slice")
    want = _reference(files)["s0.embed.weight"].tensor_split(3)[1]
    first = next(iter(files))
    with FaultProxy(s3_server.endpoint) as proxy:
        options = route_through(store.options, s3_server.endpoint, proxy.endpoint)
        got = unifs.torch.load_safetensors(
            uri, include="s0.*", shard={"*.embed.weight": (0, 1, 3)}, **options
        )
        served = _served(proxy, [first])
    assert torch.equal(got["s0.embed.weight"], want)
    assert got["s0.embed.weight"].untyped_storage().nbytes() == want.nbytes
    rest = sum(v.nbytes for k, v in got.items() if k != "s0.embed.weight")
    # the slice, the other tensors and at most the 64 KiB header probe; not the whole weight
    assert served <= want.nbytes + rest + 68 * KiB < len(files[first])
    with pytest.raises(ValueError, match="only dim 0"):
        unifs.torch.load_safetensors(uri, shard={"*": (1, 0, 2)}, **store.options)
    with pytest.raises(ValueError, match="part 2 of 2"):
        unifs.torch.load_safetensors(uri, shard={"*": (0, 2, 2)}, **store.options)


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_two_ranks_with_tensor_parallel_slices(store: Store, tmp_path: Path) -> None:
    files, uri = _write_sharded(store, "tp")
    want = _reference(files)
    job = {"uri": uri, "options": store.options, "shard": ["*.layer.0.attn", "*.empty"]}
    results = _run(2, tmp_path, job)
    for rank, result in enumerate(results):
        assert result is not None and "error" not in result, result
        expected = {
            k: v.tensor_split(2)[rank] if k.endswith((".layer.0.attn", ".empty")) else v
            for k, v in want.items()
        }
        _same(result["tensors"], expected)


@pytest.mark.parametrize("store", ["s3", "gcs"], indirect=True)
def test_object_replaced_in_one_ranks_share_fails_every_rank(store: Store, tmp_path: Path) -> None:
    files, uri = _write_sharded(store, "moving")
    second = list(files)[1]  # rank 1's share: the second shard
    old = safetensors.torch.load(files[second])
    new = safetensors.torch.save({k: v + 1 if v.is_floating_point() else v for k, v in old.items()})
    assert len(new) == len(files[second]) and new != files[second]
    job = {
        "uri": uri,
        "options": store.options,
        "kwargs": {"part_size": 64 * KiB, "concurrency": 2},
        "replace": {1: (store.uri("moving", second), new)},
    }
    results = _run(2, tmp_path, job)
    for result in results:
        assert result.get("error") == "ObjectChangedError", result
        assert second in result["message"] and "replaced on the server" in result["message"]
    assert results[0]["message"] == results[1]["message"]


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_a_rank_that_dies_fails_the_others(store: Store, tmp_path: Path) -> None:
    _, uri = _write_sharded(store, "dies")
    job = {"uri": uri, "options": store.options, "kwargs": {"timeout": 30}, "die": 1}
    results = _run(2, tmp_path, job)
    assert results[1] is None
    assert results[0] is not None and results[0].get("error") == "DistributedLoadError", results
    assert "rank 0 of 2" in results[0]["message"]


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_checksum_mismatch_on_one_rank_fails_every_rank(
    store: Store, s3_server: Any, tmp_path: Path
) -> None:
    files, uri = _write_sharded(store, "corrupt")
    second = list(files)[1]  # rank 1 reads it and checks its MD5
    # rank 0's header probe passes; rank 1's first read of the shard has a byte flipped
    flip = Fault(kind="corrupt", method="GET", path=second, ranged=True, skip=1, times=1)
    with FaultProxy(s3_server.endpoint, faults=[flip]) as proxy:
        options = route_through(store.options, s3_server.endpoint, proxy.endpoint)
        results = _run(2, tmp_path, {"uri": uri, "options": options})
    assert flip.hits == 1
    for result in results:
        assert result is not None and result.get("error") == "Permanent", result
        assert second in result["message"] and "md5 mismatch" in result["message"]
    assert results[0]["message"] == results[1]["message"]


@pytest.mark.skipif(
    not torch.cuda.is_available(), reason="NCCL needs CUDA devices; this machine is CPU-only"
)
def test_nccl_cuda_ranks() -> None:  # pragma: no cover - no GPU here
    pytest.skip("the NCCL path (device='cuda:N', init_process_group('nccl')) needs GPU hosts")
