"""unifs.get / unifs.put: containment, filters, verification, atomic replacement."""

from __future__ import annotations

import os

import fsspec
import pytest

import unifs
from unifs.transfer import safe_join

MODEL = {
    "config.json": b'{"model": "llm"}',
    "tokenizer.json": b"{}",
    "engines/A100/rank0.engine": b"a100" * 100,
    "engines/A100/config.json": b"{}",
    "engines/H100/rank0.engine": b"h100" * 100,
    "engines/H100/config.json": b"{}",
}


@pytest.fixture
def model(store):
    fs, base = store.fs_path("model")
    for name, data in MODEL.items():
        fs.pipe_file(f"{base}/{name}", data)
    fs.invalidate_cache()
    return store.uri("model/")


@pytest.mark.parametrize(
    "key", ["../evil.txt", "a/../../evil.txt", "/etc/passwd", "C:/Windows/evil", "a\\..\\..\\e"]
)
def test_safe_join_refuses_keys_that_escape(tmp_path, key):
    with pytest.raises(unifs.UnsafeKeyError, match="outside"):
        safe_join(str(tmp_path), key)


def test_safe_join_refuses_symlinked_escape(tmp_path):
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "link").symlink_to(tmp_path)
    with pytest.raises(unifs.UnsafeKeyError, match="resolves outside"):
        safe_join(str(tmp_path / "dest"), "link/evil.txt")
    assert safe_join(str(tmp_path / "dest"), "a/./b.txt") == str(tmp_path / "dest" / "a" / "b.txt")


@pytest.mark.parametrize("backend_key", ["../outside.txt", "x/../../outside.txt"])
def test_get_refuses_a_traversal_key_before_writing_anything(tmp_path, backend_key):
    fs = fsspec.filesystem("memory")
    fs.pipe_file("/trav/ok.txt", b"ok")
    fs.store["/trav/" + backend_key] = fs.store["/trav/ok.txt"]  # a key no sane store normalizes
    dest = tmp_path / "dest"
    with pytest.raises(unifs.UnsafeKeyError):
        unifs.get("memory://trav/", dest)
    assert not (tmp_path / "outside.txt").exists()
    assert not dest.exists() or list(dest.rglob("*")) == []
    fs.rm("/trav", recursive=True)


def test_include_keeps_one_gpu_shape(store, model, tmp_path):
    dest = tmp_path / "dest"
    report = unifs.get(model, dest, include=["*/H100/*", "*.json"], **store.options)
    got = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert got == sorted(
        [
            "config.json",
            "tokenizer.json",
            "engines/A100/config.json",
            "engines/H100/rank0.engine",
            "engines/H100/config.json",
        ]
    )
    assert sorted(report.transferred) == got


def test_exclude_drops_matches(store, model, tmp_path):
    unifs.get(model, tmp_path, exclude=["engines/A100/*"], **store.options)
    assert not (tmp_path / "engines" / "A100").exists()
    assert (tmp_path / "engines" / "H100" / "rank0.engine").read_bytes() == MODEL[
        "engines/H100/rank0.engine"
    ]


def test_corrupted_local_file_is_detected_where_the_store_has_a_checksum(store, model, tmp_path):
    first = unifs.get(model, tmp_path, **store.options)
    target = tmp_path / "engines" / "H100" / "rank0.engine"
    target.write_bytes(b"X" * len(MODEL["engines/H100/rank0.engine"]))  # same size, bad bytes
    again = unifs.get(model, tmp_path, **store.options)
    if "engines/H100/rank0.engine" in first.checksum_verified:
        assert again.transferred == ["engines/H100/rank0.engine"]
        assert target.read_bytes() == MODEL["engines/H100/rank0.engine"]
    else:
        # local and memory report no checksum: only the size could be compared, and the
        # report says so rather than claiming a verification it did not do
        assert store.backend in ("local", "memory")
        assert "engines/H100/rank0.engine" in first.size_only
        assert again.transferred == []


def test_checksums_are_verified_on_every_cloud(store, model, tmp_path):
    report = unifs.get(model, tmp_path, **store.options)
    if store.backend in ("local", "memory"):
        assert sorted(report.size_only) == sorted(MODEL)
    else:
        assert sorted(report.checksum_verified) == sorted(MODEL), report.summary()


def test_truncated_local_file_is_refetched(store, model, tmp_path):
    unifs.get(model, tmp_path, **store.options)
    (tmp_path / "config.json").write_bytes(b"{")
    again = unifs.get(model, tmp_path, **store.options)
    assert again.transferred == ["config.json"]
    assert (tmp_path / "config.json").read_bytes() == MODEL["config.json"]


def test_single_object_to_file_and_to_directory(store, model, tmp_path):
    unifs.get(store.uri("model", "config.json"), tmp_path / "c.json", **store.options)
    assert (tmp_path / "c.json").read_bytes() == MODEL["config.json"]
    (tmp_path / "into").mkdir()
    unifs.get(store.uri("model", "config.json"), tmp_path / "into", **store.options)
    assert (tmp_path / "into" / "config.json").read_bytes() == MODEL["config.json"]


def test_missing_source_is_a_clear_error(store, tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing found"):
        unifs.get(store.uri("does-not-exist/"), tmp_path, **store.options)


def test_no_partial_files_are_left_behind(store, model, tmp_path):
    unifs.get(model, tmp_path, **store.options)
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".unifs-part")]
    assert leftovers == []


def test_put_single_file_and_report(store, tmp_path):
    src = tmp_path / "one.bin"
    src.write_bytes(os.urandom(1000))
    report = unifs.put(src, store.uri("dst", "renamed.bin"), **store.options)
    assert report.transferred == ["one.bin"] and report.bytes_transferred == 1000
    fs, path = store.fs_path("dst", "renamed.bin")
    assert fs.cat_file(path) == src.read_bytes()
    report = unifs.put(src, store.uri("dir/"), **store.options)
    fs, path = store.fs_path("dir", "one.bin")
    assert fs.cat_file(path) == src.read_bytes()
