"""unifs.copy and unifs.sync between the local servers: cloud to cloud, local, server-side."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

import unifs
from unifs.testing.faults import Fault, FaultProxy, route_through

BUCKET = "unifs-copy"
FILES = {
    "config.json": b'{"layers": 2}',
    "weights/shard-0.bin": os.urandom(3 * 2**20 + 17),
    "weights/shard-1.bin": os.urandom(2**20),
    "tokenizer/vocab.txt": b"a\nb\nc\n" * 1000,
}
SCHEME = {"s3": "s3", "gcs": "gs", "azure": "az"}
_made: set[str] = set()


class End:
    """A fresh prefix on one backend: its URI and the storage options that reach it."""

    def __init__(self, request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> None:
        prefix = f"c-{uuid.uuid4().hex[:10]}"
        self.backend = backend
        if backend == "local":
            self.root = f"{tmp_path.as_posix()}/{prefix}/"
            self.options: dict[str, Any] = {}
            self.server = None
            return
        server = request.getfixturevalue(f"{backend}_server")
        if backend not in _made:
            with contextlib.suppress(FileExistsError):  # made by another module's import
                server.make_bucket(BUCKET)
            _made.add(backend)
        self.server = server
        self.options = dict(server.storage_options)
        if backend == "oci":
            self.root = f"oci://n/{server.namespace}/b/{BUCKET}/o/{prefix}/"
        else:
            self.root = f"{SCHEME[backend]}://{BUCKET}/{prefix}/"

    def uri(self, relative: str = "") -> str:
        return self.root + relative

    def read(self) -> dict[str, bytes]:
        fs, path = unifs.url_to_fs(self.root, **self.options)
        fs.invalidate_cache()
        base = path.rstrip("/")
        try:
            found = fs.find(base)
        except FileNotFoundError:
            return {}
        return {name[len(base) :].lstrip("/"): fs.cat_file(name) for name in found}

    def write(self, files: dict[str, bytes]) -> None:
        fs, path = unifs.url_to_fs(self.root, **self.options)
        for name, data in files.items():
            fs.pipe_file(path.rstrip("/") + "/" + name, data)
        fs.invalidate_cache()


def end(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> End:
    return End(request, backend, tmp_path)


PAIRS = [
    ("oci", "s3"),
    ("gcs", "azure"),
    ("s3", "gcs"),
    ("azure", "oci"),
    ("s3", "s3"),  # one store: server-side
    ("local", "gcs"),
    ("oci", "local"),
]


@pytest.mark.parametrize(("a", "b"), PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
def test_copy_prefix_between_stores(request, tmp_path, a, b):
    src, dst = end(request, tmp_path, a), end(request, tmp_path / "d", b)
    src.write(FILES) if a != "local" else _write_local(src.root, FILES)
    report = unifs.copy(
        src.root,
        dst.root,
        dst_options=dst.options,
        callback=False,
        part_size=2**20 * 5,
        **src.options,
    )
    assert sorted(report.transferred) == sorted(FILES)
    assert (dst.read() if b != "local" else _read_local(dst.root)) == FILES
    assert report.checksum_verified, report.unverified
    again = unifs.copy(src.root, dst.root, dst_options=dst.options, callback=False, **src.options)
    assert again.transferred == [] and sorted(again.skipped) == sorted(FILES)


def test_copy_single_object_into_prefix(request, tmp_path):
    src, dst = end(request, tmp_path, "gcs"), end(request, tmp_path, "oci")
    src.write({"x/model.bin": b"m" * 1000})
    report = unifs.copy(
        src.uri("x/model.bin"), dst.root, dst_options=dst.options, callback=False, **src.options
    )
    assert report.transferred == ["model.bin"]
    assert dst.read() == {"model.bin": b"m" * 1000}


def _write_local(root: str, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = Path(root) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _read_local(root: str) -> dict[str, bytes]:
    base = Path(root)
    return {
        p.relative_to(base).as_posix(): p.read_bytes()
        for p in base.rglob("*")
        if p.is_file() and ".unifs" not in p.relative_to(base).as_posix()
    }


SYNC_PAIRS = [("gcs", "s3"), ("s3", "azure"), ("azure", "oci"), ("local", "oci"), ("oci", "local")]


@pytest.mark.parametrize(("a", "b"), SYNC_PAIRS, ids=[f"{a}-{b}" for a, b in SYNC_PAIRS])
def test_sync_twice_delete_and_dry_run(request, tmp_path, a, b):
    src, dst = end(request, tmp_path, a), end(request, tmp_path / "d", b)
    write_src = src.write if a != "local" else lambda f: _write_local(src.root, f)
    write_dst = dst.write if b != "local" else lambda f: _write_local(dst.root, f)
    read_dst = dst.read if b != "local" else lambda: _read_local(dst.root)
    write_src(FILES)
    write_dst({"stale.txt": b"old", "config.json": b"{}"})
    kw: dict[str, Any] = {"dst_options": dst.options, "callback": False, **src.options}

    plan = unifs.sync(src.root, dst.root, delete=True, dry_run=True, **kw)
    assert sorted(plan.would_copy) == sorted(FILES) and plan.would_delete == ["stale.txt"]
    assert read_dst() == {"stale.txt": b"old", "config.json": b"{}"}  # nothing changed

    first = unifs.sync(src.root, dst.root, **kw)
    assert sorted(first.transferred) == sorted(FILES) and first.deleted == []
    assert read_dst() == {**FILES, "stale.txt": b"old"}

    second = unifs.sync(src.root, dst.root, **kw)
    assert second.transferred == [] and sorted(second.skipped) == sorted(FILES)

    write_src({"config.json": b'{"layers": 3}'})  # same size? no: one byte more
    write_src({"tokenizer/vocab.txt": b"x\nb\nc\n" * 1000})  # same size, other bytes
    third = unifs.sync(src.root, dst.root, delete=True, **kw)
    assert sorted(third.transferred) == ["config.json", "tokenizer/vocab.txt"]
    assert third.deleted == ["stale.txt"]
    expected = {
        **FILES,
        "config.json": b'{"layers": 3}',
        "tokenizer/vocab.txt": b"x\nb\nc\n" * 1000,
    }
    assert read_dst() == expected


def test_sync_filters_limit_what_is_deleted(request, tmp_path):
    src, dst = end(request, tmp_path, "gcs"), end(request, tmp_path, "s3")
    src.write({"a.bin": b"a"})
    dst.write({"keep.log": b"k", "gone.bin": b"g"})
    report = unifs.sync(
        src.root,
        dst.root,
        delete=True,
        include=["*.bin"],
        dst_options=dst.options,
        callback=False,
        **src.options,
    )
    assert report.deleted == ["gone.bin"] and report.transferred == ["a.bin"]
    assert dst.read() == {"a.bin": b"a", "keep.log": b"k"}


def test_copy_cut_half_way_and_run_again_ends_byte_exact(request, tmp_path):
    """Writes to the destination fail for good half-way; the second run completes it."""
    src, dst = end(request, tmp_path, "gcs"), end(request, tmp_path, "s3")
    files = {f"part-{i:02d}.bin": os.urandom(300_000 + i) for i in range(12)}
    files["big.bin"] = os.urandom(11 * 2**20)  # a multipart upload, aborted when cut
    src.write(files)
    assert dst.server is not None
    with FaultProxy(dst.server.endpoint) as proxy:
        routed = route_through(dst.options, dst.server.endpoint, proxy.endpoint)
        proxy.faults.append(Fault(status=403, method="PUT|POST", skip=6, times=None))
        with pytest.raises(unifs.TransferError) as caught:
            unifs.copy(
                src.root,
                dst.root,
                dst_options=routed,
                callback=False,
                retries=1,
                concurrency=2,
                part_size=5 * 2**20,
                **src.options,
            )
        first = caught.value.report
        assert first.failed and len(first.transferred) >= 1
        stored = dst.read()
        assert all(files[name] == data for name, data in stored.items())  # nothing partial
        proxy.clear()
        second = unifs.copy(src.root, dst.root, dst_options=routed, callback=False, **src.options)
    assert sorted(second.skipped) == sorted(first.transferred)
    assert dst.read() == files


def test_copy_reports_progress_in_bytes_and_files(request, tmp_path):
    import io

    src, dst = end(request, tmp_path, "oci"), end(request, tmp_path, "gcs")
    src.write(FILES)
    out = io.StringIO()
    bar = unifs.transfer.progress_bar("copy", file=out, mininterval=0, disable=False)
    unifs.copy(src.root, dst.root, dst_options=dst.options, callback=bar, **src.options)
    bar.close()
    assert bar.value == bar.size == sum(map(len, FILES.values()))
    assert "MiB/s" in out.getvalue() and f"{len(FILES)}/{len(FILES)} files" in out.getvalue()


def _run_on_terminal(code: str, env: dict[str, str]) -> str:
    """Run ``code`` in a child whose stderr is a terminal; return what it drew there."""
    import fcntl
    import pty
    import struct
    import subprocess
    import sys
    import termios

    master, slave = pty.openpty()
    # a terminal 120 columns wide (a fresh pty has none, and tqdm then draws nothing)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    child = subprocess.Popen(
        [sys.executable, "-c", code], stderr=slave, stdout=subprocess.DEVNULL,
        env={**os.environ, **env},
    )  # fmt: skip
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    child.wait(timeout=120)
    os.close(master)
    assert child.returncode == 0, b"".join(chunks)[-2000:]
    return b"".join(chunks).decode(errors="replace")


def test_library_shows_progress_by_default_on_a_terminal(tmp_path):
    _write_local(str(tmp_path / "src"), FILES)
    code = f"import unifs; unifs.copy({str(tmp_path / 'src')!r}, 'memory://progress/')"
    drawn = _run_on_terminal(code, {})
    assert "MiB/s" in drawn and f"{len(FILES)}/{len(FILES)} files" in drawn
    assert _run_on_terminal(code, {"UNIFS_PROGRESS": "0"}) == ""


@pytest.mark.parametrize(("a", "b"), [("s3", "gcs"), ("gcs", "oci"), ("oci", "azure")])
def test_large_file_streams_in_parts(request, tmp_path, a, b):
    """A file of several parts: read ahead in ranges, written through the store's writer
    (or its parallel one-call upload), hashed in flight, byte-exact at the end."""
    src, dst = end(request, tmp_path, a), end(request, tmp_path, b)
    big = os.urandom(13 * 2**20 + 5)
    src.write({"big.bin": big})
    report = unifs.copy(
        src.root, dst.root, dst_options=dst.options, callback=False, part_size=5 * 2**20,
        max_buffer=24 * 2**20, **src.options,
    )  # fmt: skip
    assert report.transferred == ["big.bin"] and report.peak_buffer <= 24 * 2**20
    assert dst.read() == {"big.bin": big}
