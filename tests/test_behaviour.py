"""One behaviour suite, run through unifs URIs against every backend.

The ``store`` fixture (tests/conftest.py) gives each test a fresh prefix on moto (S3),
fake-gcs-server (GCS), Azurite (Azure), unifs's OCI server, local disk and memory.
"""

from __future__ import annotations

import hashlib
import os

import pandas as pd
import pytest
from upath import UPath

import unifs

DATA = bytes(range(256)) * 40  # 10,240 bytes, every offset distinguishable


def _tree(root, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def test_url_to_fs_picks_the_backend(store):
    fs, path = store.fs_path("x.bin")
    expected = {
        "s3": "s3fs",
        "gcs": "gcsfs",
        "azure": "adlfs",
        "oci": "unifs.providers.oci_filesystem",
        "local": "fsspec.implementations.local",
        "memory": "fsspec.implementations.memory",
    }[store.backend]
    assert type(fs).__module__.startswith(expected)
    assert path.endswith("/x.bin")


def test_write_then_info_exists_and_ls(store):
    with unifs.open(store.uri("dir", "a.bin"), "wb", **store.options) as f:
        f.write(DATA)
    fs, path = store.fs_path("dir", "a.bin")
    fs.invalidate_cache()
    assert fs.exists(path)
    assert fs.info(path)["size"] == len(DATA)
    assert not fs.exists(path + ".missing")
    _, directory = store.fs_path("dir")
    names = [os.path.basename(p.rstrip("/")) for p in fs.ls(directory, detail=False)]
    assert names == ["a.bin"]
    assert fs.isdir(directory) and fs.isfile(path)


def test_cat_with_ranges(store):
    fs, path = store.fs_path("ranged.bin")
    fs.pipe_file(path, DATA)
    assert fs.cat_file(path) == DATA
    assert fs.cat_file(path, start=10, end=20) == DATA[10:20]
    assert fs.cat_file(path, start=10_000) == DATA[10_000:]
    with unifs.open(store.uri("ranged.bin"), "rb", **store.options) as f:
        f.seek(5000)
        assert f.read(100) == DATA[5000:5100]
        f.seek(-7, os.SEEK_END)
        assert f.read() == DATA[-7:]


def test_suffix_range(store, request):
    if store.backend == "azure":
        # adlfs builds a malformed Range header for negative starts (EMULATORS.md): a
        # client bug, kept visible rather than skipped.
        request.applymarker(pytest.mark.xfail(reason="adlfs sends a malformed suffix range"))
    fs, path = store.fs_path("suffix.bin")
    fs.pipe_file(path, DATA)
    assert fs.cat_file(path, start=-5) == DATA[-5:]


def test_put_and_get_a_small_file(store, tmp_path):
    src = tmp_path / "small.txt"
    src.write_bytes(b"hello, unifs\n")
    fs, path = store.fs_path("small.txt")
    fs.put_file(str(src), path)
    back = tmp_path / "back.txt"
    fs.get_file(path, str(back))
    assert back.read_bytes() == b"hello, unifs\n"


@pytest.mark.slow
def test_put_and_get_a_multipart_sized_file(store, tmp_path):
    """12 MiB written in 5 MiB blocks: multipart upload on every cloud backend."""
    data = os.urandom(12 * 2**20)
    fs, path = store.fs_path("big.bin")
    with fs.open(path, "wb", block_size=5 * 2**20) as f:
        for offset in range(0, len(data), 2**20):
            f.write(data[offset : offset + 2**20])
    fs.invalidate_cache()
    assert fs.info(path)["size"] == len(data)
    report = unifs.get(store.uri("big.bin"), tmp_path / "big.bin", **store.options)
    assert report.files == 1
    got = (tmp_path / "big.bin").read_bytes()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    assert (
        fs.cat_file(path, start=6 * 2**20, end=6 * 2**20 + 10) == data[6 * 2**20 : 6 * 2**20 + 10]
    )


def test_directory_put_and_get(store, tmp_path):
    files = {
        "config.json": b'{"a": 1}',
        "tokenizer.json": b"{}",
        "weights/shard-1.bin": os.urandom(300_000),
        "weights/shard-2.bin": os.urandom(200_000),
        "engines/H100/rank0.engine": os.urandom(1000),
    }
    _tree(tmp_path / "src", files)
    up = unifs.put(tmp_path / "src", store.uri("model/"), **store.options)
    assert sorted(up.transferred) == sorted(files)
    fs, base = store.fs_path("model")
    fs.invalidate_cache()
    found = sorted(p[len(base.rstrip("/")) + 1 :] for p in fs.find(base))
    assert found == sorted(files)
    down = unifs.get(store.uri("model/"), tmp_path / "dst", **store.options)
    assert sorted(down.transferred) == sorted(files)
    for name, data in files.items():
        assert (tmp_path / "dst" / name).read_bytes() == data
    again = unifs.get(store.uri("model/"), tmp_path / "dst", **store.options)
    assert again.transferred == [] and sorted(again.skipped) == sorted(files)


def test_rm_file_and_prefix(store):
    fs, base = store.fs_path("rm")
    for name in ("a", "b", "sub/c"):
        fs.pipe_file(f"{base}/{name}", b"x")
    fs.rm(f"{base}/a")
    fs.invalidate_cache()
    assert not fs.exists(f"{base}/a") and fs.exists(f"{base}/b")
    fs.rm(base, recursive=True)
    fs.invalidate_cache()
    assert not fs.exists(f"{base}/b") and not fs.exists(f"{base}/sub/c")


def test_open_text_mode(store):
    with unifs.open(store.uri("notes.txt"), "w", encoding="utf-8", **store.options) as f:
        f.write("première ligne\nsecond line\n")
    with unifs.open(store.uri("notes.txt"), "r", encoding="utf-8", **store.options) as f:
        assert f.readlines() == ["première ligne\n", "second line\n"]


def test_upath(store):
    fs, _ = store.fs_path()
    root = UPath(store.root, **store.options)
    if store.backend == "local":
        (root / "up").mkdir()  # a real directory must exist first; prefixes need not
    (root / "up" / "a.txt").write_bytes(b"aaa")
    (root / "up" / "b.txt").write_text("bbb")
    path = root / "up" / "a.txt"
    assert path.name == "a.txt" and path.stem == "a" and path.suffix == ".txt"
    assert path.parent.name == "up"
    assert path.exists() and path.is_file() and (root / "up").is_dir()
    assert path.read_bytes() == b"aaa"
    assert sorted(p.name for p in (root / "up").iterdir()) == ["a.txt", "b.txt"]
    path.unlink()
    fs.invalidate_cache()
    assert not (root / "up" / "a.txt").exists()


def test_pandas_parquet_round_trip(store):
    df = pd.DataFrame({"name": ["a", "b", "c"], "value": [1.5, 2.5, 3.5]})
    url = unifs.normalize(store.uri("frame.parquet"))
    df.to_parquet(url, storage_options=store.options or None)
    back = pd.read_parquet(url, storage_options=store.options or None)
    pd.testing.assert_frame_equal(back, df)
