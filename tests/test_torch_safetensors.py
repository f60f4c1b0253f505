"""load_safetensors on every cloud: the tensors safetensors' own loader gives, or one error."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

import pytest
import safetensors.torch
import torch
from conftest import CLOUDS, Store
from fsspec.callbacks import Callback

import unifs
from unifs.testing.faults import Fault, FaultProxy, route_through
from unifs.torch import LoadReport, SafetensorsError, load_safetensors

KiB = 1024


def _model(seed: int, rows: int = 2411) -> dict[str, torch.Tensor]:
    """A few MiB across dtypes, with an empty tensor and a scalar; odd sizes so that tensor
    boundaries fall inside ranged reads."""
    g = torch.Generator().manual_seed(seed)
    return {
        "embed.weight": torch.randn(rows, 257, generator=g),
        "layer.0.attn": torch.randn(129, 511, generator=g).to(torch.float16),
        "layer.0.mlp": torch.randn(1023, 65, generator=g).to(torch.bfloat16),
        "layer.1.f64": torch.randn(97, 33, generator=g, dtype=torch.float64),
        "layer.1.ids": torch.randint(-(2**40), 2**40, (4099,), generator=g),
        "layer.1.i8": torch.randint(-128, 127, (3, 5, 7), generator=g, dtype=torch.int8),
        "layer.1.u8": torch.randint(0, 255, (1001,), generator=g, dtype=torch.uint8),
        "layer.1.mask": torch.rand(777, generator=g) > 0.5,
        "layer.1.i32": torch.randint(-1000, 1000, (513,), generator=g, dtype=torch.int32),
        "norm.scale": torch.tensor(1.5),
        "empty": torch.zeros(0, 4),
    }


def _reference(data: bytes, tmp_path: Path, name: str) -> dict[str, torch.Tensor]:
    path = tmp_path / name
    path.write_bytes(data)
    return safetensors.torch.load_file(str(path))


def _same(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    assert sorted(got) == sorted(want)
    for name, tensor in want.items():
        assert got[name].dtype == tensor.dtype, name
        assert got[name].shape == tensor.shape, name
        assert torch.equal(got[name], tensor), name


def _put(store: Store, key: str, data: bytes) -> None:
    fs, path = store.fs_path(key)
    fs.pipe_file(path, data)


@pytest.mark.parametrize("store", CLOUDS, indirect=True)
def test_one_file_equals_safetensors_load_file(store: Store, tmp_path: Path) -> None:
    data = safetensors.torch.save(_model(1), metadata={"format": "pt"})
    assert len(data) > 2 * 2**20
    _put(store, "one/model.safetensors", data)
    # small parts: many ranged reads, tensors split across them
    got = load_safetensors(store.uri("one/model.safetensors"), part_size=256 * KiB, **store.options)
    _same(got, _reference(data, tmp_path, "model.safetensors"))
    # tensors own their memory, as safetensors' do
    assert got["embed.weight"].untyped_storage().nbytes() == got["embed.weight"].nbytes


@pytest.mark.parametrize("store", CLOUDS, indirect=True)
def test_sharded_index_equals_safetensors_load_file(store: Store, tmp_path: Path) -> None:
    reference: dict[str, torch.Tensor] = {}
    weight_map = {}
    for shard in range(3):
        data = safetensors.torch.save(
            {f"s{shard}.{k}": v for k, v in _model(10 + shard, rows=301).items()}
        )
        name = f"model-{shard + 1:05d}-of-00003.safetensors"
        _put(store, f"sharded/{name}", data)
        loaded = _reference(data, tmp_path, name)
        reference.update(loaded)
        weight_map.update(dict.fromkeys(loaded, name))
    index = {"metadata": {"total_size": 0}, "weight_map": weight_map}
    _put(store, "sharded/model.safetensors.index.json", json.dumps(index).encode())

    by_index = load_safetensors(
        store.uri("sharded/model.safetensors.index.json"), part_size=512 * KiB, **store.options
    )
    _same(by_index, reference)
    by_prefix = load_safetensors(store.uri("sharded/"), **store.options)
    _same(by_prefix, reference)
    # include: only matching tensors, and only the shard that holds them is read
    some = load_safetensors(
        store.uri("sharded/model.safetensors.index.json"), include="s1.layer.1.*", **store.options
    )
    _same(some, {k: v for k, v in reference.items() if k.startswith("s1.layer.1.")})


def _replace(uri: str, options: dict[str, Any], data: bytes) -> None:
    fs, path = unifs.url_to_fs(uri, **options)
    fs.pipe_file(path, data)


class _ReplaceOnFirstBytes(Callback):
    """Replaces the object (from another process) as soon as the load has its first bytes."""

    def __init__(self, uri: str, options: dict[str, Any], data: bytes) -> None:
        super().__init__()
        self.args = (uri, options, data)
        self.exitcode: int | None = None

    def call(self, *args: Any, **kwargs: Any) -> None:
        if self.exitcode is None and self.value:
            # the load waits meanwhile: its remaining reads see the new object
            process = multiprocessing.get_context("spawn").Process(target=_replace, args=self.args)
            process.start()
            process.join(120)
            self.exitcode = process.exitcode


@pytest.mark.parametrize("store", CLOUDS, indirect=True)
def test_object_replaced_mid_load_fails_clearly(store: Store) -> None:
    first = safetensors.torch.save(_model(2))
    second = safetensors.torch.save(_model(3))  # same layout and size, other values
    assert len(first) == len(second) and first != second
    _put(store, "moving/model.safetensors", first)
    uri = store.uri("moving/model.safetensors")
    callback = _ReplaceOnFirstBytes(uri, store.options, second)
    with pytest.raises(unifs.ObjectChangedError, match="replaced on the server"):
        load_safetensors(
            uri, part_size=128 * KiB, concurrency=2, callback=callback, **store.options
        )
    assert callback.exitcode == 0
    # the new version loads whole
    _same(load_safetensors(uri, **store.options), safetensors.torch.load(second))


def test_not_safetensors_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "bad.safetensors").write_bytes(b"\xff" * 8 + b"not a header")
    with pytest.raises(SafetensorsError, match="not a safetensors file"):
        load_safetensors((tmp_path / "bad.safetensors").as_uri())
    index = {"weight_map": {"x": "gone.safetensors"}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(SafetensorsError, match=r"gone\.safetensors, which does not exist"):
        load_safetensors((tmp_path / "model.safetensors.index.json").as_uri())
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            load_safetensors((tmp_path / "bad.safetensors").as_uri(), device="cuda:0")


def _two_shards(store: Store, tmp_path: Path) -> tuple[int, dict[str, torch.Tensor]]:
    """A 2 x 24 MiB model with its index, as a sharded checkpoint is stored: a small tensor
    first (inside the header probe), then large ones with odd sizes. Its bytes, and the
    tensors safetensors' own loader gives."""
    reference: dict[str, torch.Tensor] = {}
    weight_map = {}
    stored = 0
    for shard in range(2):
        g = torch.Generator().manual_seed(40 + shard)
        tensors = {
            f"s{shard}.norm": torch.randn(1001, generator=g),
            f"s{shard}.attn": torch.randn(1021, 1531, generator=g),
            f"s{shard}.mlp": torch.randn(2053, 2311, generator=g),
        }
        data = safetensors.torch.save(tensors)
        assert abs(len(data) - 24 * 2**20) < 2**20
        name = f"model-{shard + 1:05d}-of-00002.safetensors"
        _put(store, f"big/{name}", data)
        stored += len(data)
        loaded = _reference(data, tmp_path, name)
        reference.update(loaded)
        weight_map.update(dict.fromkeys(loaded, name))
    index = json.dumps({"metadata": {}, "weight_map": weight_map}).encode()
    _put(store, "big/model.safetensors.index.json", index)
    return stored + len(index), reference


@pytest.mark.parametrize("store", CLOUDS, indirect=True)
def test_a_load_moves_its_bytes_once(
    store: Store, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Everything the server sends for a load (bodies and heads, every request however it
    ended, as the fault proxy relays it) stays within 1.02x the model's stored bytes: no
    range is asked for past where another request takes over, and the header probe's bytes
    are not fetched again (issue #25, item 11)."""
    stored, reference = _two_shards(store, tmp_path)
    server = request.getfixturevalue(f"{store.backend}_server")
    report = LoadReport()
    with FaultProxy(server.endpoint) as proxy:
        options = route_through(store.options, server.endpoint, proxy.endpoint)
        got = load_safetensors(
            store.uri("big/model.safetensors.index.json"), report=report, **options
        )
        log = proxy.requests()
    _same(got, reference)
    relayed = sum(s.upstream_bytes for s in log)
    print(
        f"\n{store.backend}: {relayed} B relayed for {stored} B stored "
        f"({relayed / stored:.3f}x) in {len(log)} requests: "
        f"{[(s.method, s.range, s.ended, s.body_bytes) for s in log]}; {report.summary()}"
    )
    assert relayed <= 1.02 * stored
    assert all(s.ended == "complete" for s in log if s.range)  # no ranged read cut short
    # the report agrees: every stored byte received once, none abandoned or duplicated
    assert report.bytes_transferred == stored
    assert report.bytes_returned == sum(t.nbytes for t in reference.values())
    assert (report.requests_abandoned, report.bytes_abandoned, report.bytes_duplicated) == (0,) * 3
    assert len(report.checksum_verified) + len(report.size_only) == 2


@pytest.mark.parametrize("store", ["s3", "oci"], indirect=True)
def test_a_read_cut_short_is_counted_as_abandoned(
    store: Store, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A reset mid-response: the read resumes where the bytes stopped, and the report counts
    the abandoned request and what it still owed, and no byte twice."""
    stored, reference = _two_shards(store, tmp_path)
    server = request.getfixturevalue(f"{store.backend}_server")
    # the first ranged read past the two header probes is reset half-way through its body
    fault = Fault("reset", method="GET", path="00001-of", ranged=True, skip=1, cut=0.5)
    report = LoadReport()
    with FaultProxy(server.endpoint, faults=[fault]) as proxy:
        options = route_through(store.options, server.endpoint, proxy.endpoint)
        got = load_safetensors(
            store.uri("big/model.safetensors.index.json"), report=report, **options
        )
        log = proxy.requests()
    _same(got, reference)
    (cut,) = [s for s in log if s.fault]
    print(f"\n{store.backend}: {report.summary()}; cut {cut.range} after {cut.body_bytes} B")
    assert report.retries == 1 and report.requests_abandoned == 1
    assert report.bytes_abandoned > 0
    assert report.bytes_transferred + report.bytes_abandoned >= stored
    assert report.bytes_duplicated == 0
    relayed = sum(s.upstream_bytes for s in log)
    assert relayed <= 1.02 * stored
