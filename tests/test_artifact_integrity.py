# ruff: noqa: F811  (the proxy fixture comes from test_artifacts)
"""The artifact cache checks what it serves, repairs it, and never prunes an entry in use.

Against moto behind the counting proxy (unifs.testing.faults), so "refetched only the
damaged file" is counted at the server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from test_artifacts import (  # noqa: F401  (proxy: a fixture)
    object_gets,
    proxy,
    read_tree,
    routed,
)

import unifs
from unifs import artifacts
from unifs.cli import main
from unifs.testing.faults import FaultProxy

FILES = {
    "config.json": b'{"layers": 2}',
    "tokenizer.json": b'{"vocab": 3}',
    "weights/a.bin": os.urandom(64 * 1024),
    "weights/b.bin": os.urandom(48 * 1024),
    "weights/c.bin": os.urandom(32 * 1024),
    "weights/d.bin": os.urandom(16 * 1024),
}


@pytest.fixture(scope="module")
def bucket(s3_server: Any) -> str:
    s3_server.make_bucket("unifs-artifact-integrity")
    return "unifs-artifact-integrity"


@pytest.fixture
def model(s3_server: Any, bucket: str) -> str:
    """A fresh prefix holding FILES (six of them); its URI, ending in '/'."""
    prefix = f"s3://{bucket}/integrity-{uuid.uuid4().hex[:10]}/"
    s3_server.filesystem().pipe({f"{prefix[5:]}{name}": data for name, data in FILES.items()})
    return prefix


def flip_byte(path: Path, *, keep_stat: bool = False) -> None:
    """One byte changed in place; with keep_stat, mtime restored (bit rot leaves no trace)."""
    st = path.stat()
    with open(path, "r+b") as f:
        f.seek(7)
        byte = f.read(1)
        f.seek(7)
        f.write(bytes([byte[0] ^ 0x01]))
    if keep_stat:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_flipped_byte_is_refetched_and_only_that_file(
    s3_server: Any, model: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    options = routed(s3_server, proxy)
    path = unifs.download_artifact(model, cache_dir=tmp_path, **options)
    flip_byte(path / "weights/b.bin")
    proxy.clear()
    again = unifs.download_artifact(model, cache_dir=tmp_path, **options)
    assert again == path and read_tree(again) == FILES
    assert object_gets(proxy, model) == {"weights/b.bin": 1}
    proxy.clear()
    assert read_tree(unifs.download_artifact(model, cache_dir=tmp_path, **options)) == FILES
    assert object_gets(proxy, model) == {}  # repaired, and the record refreshed


def test_bit_rot_with_the_mtime_kept_needs_verify_full(
    s3_server: Any, model: str, tmp_path: Path
) -> None:
    options = s3_server.storage_options
    path = unifs.download_artifact(model, cache_dir=tmp_path, **options)
    flip_byte(path / "weights/a.bin", keep_stat=True)
    # the fast check trusts an unchanged inode, size and mtime (documented)
    fast = unifs.download_artifact(model, cache_dir=tmp_path, **options)
    assert (fast / "weights/a.bin").read_bytes() != FILES["weights/a.bin"]
    full = unifs.download_artifact(model, cache_dir=tmp_path, verify="full", **options)
    assert read_tree(full) == FILES
    with pytest.raises(ValueError, match="verify must be one of fast, full"):
        unifs.download_artifact(model, cache_dir=tmp_path, verify="quick", **options)


def test_a_touched_file_with_the_same_bytes_is_not_damage(
    s3_server: Any, model: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    options = routed(s3_server, proxy)
    path = unifs.download_artifact(model, cache_dir=tmp_path, **options)
    target = path / "config.json"
    os.utime(target, (1_000_000, 1_000_000))
    proxy.clear()
    assert read_tree(unifs.download_artifact(model, cache_dir=tmp_path, **options)) == FILES
    assert object_gets(proxy, model) == {}


def test_half_an_entry_deleted_is_repaired_online_and_refused_offline(
    s3_server: Any, model: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    options = routed(s3_server, proxy)
    path = unifs.download_artifact(model, cache_dir=tmp_path, **options)
    gone = ["tokenizer.json", "weights/a.bin", "weights/c.bin"]
    for name in gone:
        (path / name).unlink()
    proxy.clear()
    with pytest.raises(artifacts.CacheEntryDamagedError) as info:
        unifs.download_artifact(model, cache_dir=tmp_path, offline=True, **options)
    message = str(info.value)
    assert all(name in message for name in gone) and "online" in message
    assert "weights/b.bin" not in message
    assert proxy.requests() == []
    again = unifs.download_artifact(model, cache_dir=tmp_path, **options)
    assert again == path and read_tree(again) == FILES
    assert object_gets(proxy, model) == dict.fromkeys(gone, 1)
    assert read_tree(unifs.download_artifact(model, cache_dir=tmp_path, offline=True)) == FILES


def test_a_file_never_published_is_removed_online_and_named_offline(
    s3_server: Any, model: str, tmp_path: Path
) -> None:
    options = s3_server.storage_options
    path = unifs.download_artifact(model, cache_dir=tmp_path, **options)
    secret = tmp_path / "outside-secret"
    secret.write_bytes(b"not part of the model")
    (path / "weights" / "link.bin").symlink_to(secret)
    (path / "notes.txt").write_bytes(b"added later")
    with pytest.raises(artifacts.CacheEntryDamagedError, match=r"weights/link\.bin"):
        unifs.download_artifact(model, cache_dir=tmp_path, offline=True)
    again = unifs.download_artifact(model, cache_dir=tmp_path, **options)
    assert read_tree(again) == FILES
    assert not (again / "weights" / "link.bin").is_symlink()
    assert secret.read_bytes() == b"not part of the model"  # the link's target is untouched


def test_a_damaged_single_object_is_refetched(s3_server: Any, model: str, tmp_path: Path) -> None:
    options = s3_server.storage_options
    path = unifs.download_artifact(model + "weights/d.bin", cache_dir=tmp_path, **options)
    path.write_bytes(b"short")
    again = unifs.download_artifact(model + "weights/d.bin", cache_dir=tmp_path, **options)
    assert again == path and again.read_bytes() == FILES["weights/d.bin"]


READER = """
import sys
from pathlib import Path
from unifs.testing.network import guard
guard()
import unifs
uri, cache, options = sys.argv[1], sys.argv[2], __import__("json").loads(sys.argv[3])
path = unifs.download_artifact(uri, cache_dir=cache, **options)
print(path, flush=True)
sys.stdin.readline()          # the parent prunes now
files = sorted(p for p in Path(path).rglob("*") if p.is_file())
print(len(files), sum(len(p.read_bytes()) for p in files), flush=True)
"""


def test_prune_skips_an_entry_another_process_holds(
    s3_server: Any, model: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options = s3_server.storage_options
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, model, str(tmp_path), json.dumps(options)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "UNIFS_OFFLINE": ""},
    )
    try:
        assert reader.stdout is not None and reader.stdin is not None
        served = Path(reader.stdout.readline().strip())
        assert served.is_dir(), reader.stderr.read() if reader.stderr else ""
        assert artifacts.prune(0, cache_dir=tmp_path) == []
        assert main(["cache", "--cache-dir", str(tmp_path), "prune", "--max-size", "0"]) == 0
        printed = capsys.readouterr().out
        assert f"kept {unifs.normalize(model)}" in printed and "removed 0 entries" in printed
        assert read_tree(served) == FILES
        out, err = reader.communicate("go\n", timeout=120)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    assert reader.returncode == 0, err
    assert out.split() == [str(len(FILES)), str(sum(map(len, FILES.values())))]
    # the reader is gone: its hold went with it
    (removed,) = artifacts.prune(0, cache_dir=tmp_path)
    assert removed.root == served and not served.exists()
    assert not served.with_name(served.name + ".lock").exists()


def test_release_and_this_processes_own_holds(s3_server: Any, model: str, tmp_path: Path) -> None:
    options = s3_server.storage_options
    path = unifs.download_artifact(model, cache_dir=tmp_path, **options)
    assert artifacts.release(path) is True
    assert artifacts.release(path) is False
    path = unifs.download_artifact(model, cache_dir=tmp_path, **options)
    (removed,) = artifacts.prune(0, cache_dir=tmp_path)  # its own hold does not stop it
    assert removed.root == path and not path.exists()
