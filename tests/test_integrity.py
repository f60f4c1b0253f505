"""Issue 15: every file a transfer reports as done is exactly one version of its object.

Each case runs on every store where it applies (S3/moto, GCS/fake-gcs-server, Azure/Azurite,
OCI/unifs's server, local disk; memory where it can hold the keys) and asserts the exact
outcome: the exact bytes of one version, or a clear error and nothing at the final path.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from pathlib import Path

import pytest

import unifs
from unifs import transfer
from unifs.transfer.workdir import WorkDir

MiB = 2**20


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and transfer.WORK_DIR not in p.parts
    }


def _upload(store, files: dict[str, bytes]) -> None:
    fs, root = store.fs_path()
    for name, data in files.items():
        fs.pipe_file(f"{root.rstrip('/')}/{name}", data)
    fs.invalidate_cache()


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    """A destination apart from the local store (which lives in ``tmp_path``)."""
    return tmp_path / "dest"


def _work_files(root: Path) -> list[str]:
    return sorted(p.name for p in (root / transfer.WORK_DIR).rglob("*"))


# -- case 4: local name collisions --------------------------------------------------------


def test_an_object_named_like_a_temporary_file_is_its_own_file(store, dest):
    big = os.urandom(3 * MiB + 1)  # fetched in ranged parts, through a temporary file
    files = {"x.bin": big, ".x.bin.unifs-part": b"not a temporary file", "y": b"y"}
    _upload(store, {f"n/{k}": v for k, v in files.items()})
    report = unifs.get(store.uri("n/"), dest, part_size=MiB, **store.options)
    assert sorted(report.transferred) == sorted(files)
    assert _tree(dest) == files
    assert not (dest / transfer.WORK_DIR).exists()


@pytest.mark.parametrize("keys", [["a/b", "a//b", "a/./b"], ["a", "a/b"]], ids=["same", "dir"])
def test_keys_that_share_a_local_path_are_refused_up_front(store, tmp_path, keys):
    if store.backend in ("local", "memory"):
        pytest.skip("a file system cannot hold these keys side by side")
    try:
        _upload(store, {f"c/{k}": k.encode() for k in keys})
    except Exception as exc:  # Azurite refuses to sign a path with '//'
        pytest.skip(f"{store.backend} cannot store these keys: {type(exc).__name__}")
    fs, root = store.fs_path("c/")
    listed = [p[len(root.rstrip("/")) + 1 :] for p in fs.find(root)]
    dest = tmp_path / "dest"
    with pytest.raises(unifs.UnsafeKeyError) as refused:
        unifs.get(store.uri("c/"), dest, **store.options)
    # every key the store lists that shares a path is named in the one error
    clashing = [k for k in listed if k in keys]
    assert len(clashing) >= 2, listed
    for key in clashing:
        assert repr(key) in str(refused.value)
    assert not dest.exists() or _tree(dest) == {}


def test_a_key_inside_the_work_directory_is_refused(store, tmp_path):
    _upload(store, {"w/ok": b"ok", f"w/{transfer.WORK_DIR}/lock": b"x"})
    with pytest.raises(unifs.UnsafeKeyError, match="work directory"):
        unifs.get(store.uri("w/"), tmp_path / "dest", **store.options)
    assert not (tmp_path / "dest" / "ok").exists()


# -- case 5: long names ---------------------------------------------------------------------


@pytest.mark.parametrize("length", [244, 255])
def test_keys_with_the_longest_last_segment_download(store, dest, length):
    big, small = "b" * (length - 4) + ".bin", "s" * length
    files = {big: os.urandom(3 * MiB + 5), small: b"small"}
    _upload(store, {f"long/{k}": v for k, v in files.items()})
    report = unifs.get(store.uri("long/"), dest, part_size=MiB, **store.options)
    assert sorted(report.transferred) == sorted(files)
    assert _tree(dest) == files


# -- case 8: two transfers into one directory ---------------------------------------------


def test_two_concurrent_gets_into_one_directory_both_end_exact(store, dest):
    files = {f"big{i}.bin": os.urandom(3 * MiB + i) for i in range(3)}
    _upload(store, {f"cc/{k}": v for k, v in files.items()})

    def get() -> transfer.TransferReport:
        return unifs.get(store.uri("cc/"), dest, part_size=MiB, **store.options)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        reports = [f.result() for f in [pool.submit(get), pool.submit(get)]]
    assert _tree(dest) == files
    # they took turns: every file was fetched by exactly one and found valid by the other
    assert sorted(reports[0].transferred + reports[1].transferred) == sorted(files)
    assert sorted(reports[0].skipped + reports[1].skipped) == sorted(files)
    assert not (dest / transfer.WORK_DIR).exists()


def test_a_get_into_a_busy_directory_says_so(store, dest):
    _upload(store, {"busy/a.bin": b"a"})
    holder = WorkDir(str(dest))
    asyncio.run(holder.acquire(0))
    try:
        with pytest.raises(transfer.TransferBusyError, match=r"another transfer .* is running"):
            unifs.get(store.uri("busy/"), dest, lock_timeout=0, **store.options)
        assert not (dest / "a.bin").exists()
    finally:
        holder.release()
    report = unifs.get(store.uri("busy/"), dest, lock_timeout=0, **store.options)
    assert report.transferred == ["a.bin"] and (dest / "a.bin").read_bytes() == b"a"


# -- case 1: a replaced object is never spliced (local; the clouds: test_transfer_engine) ---


def test_a_local_file_replaced_while_read_fails_clearly(tmp_path, dest):
    from fsspec.callbacks import Callback

    src = tmp_path / "src"
    src.mkdir()
    old, new = os.urandom(4 * MiB + 1), os.urandom(4 * MiB + 1)
    (src / "big.bin").write_bytes(old)

    class ReplaceOnce(Callback):
        replaced = False

        def relative_update(self, inc: int = 1) -> None:
            super().relative_update(inc)
            if not self.replaced:
                self.replaced = True
                (src / "big.new").write_bytes(new)
                os.replace(src / "big.new", src / "big.bin")

    with pytest.raises(unifs.TransferError) as failed:
        unifs.get(f"{src}/", dest, part_size=MiB, concurrency=1, callback=ReplaceOnce())
    assert failed.value.report.failed["big.bin"].startswith("ObjectChangedError")
    assert not (dest / "big.bin").exists()
    unifs.get(f"{src}/", dest, part_size=MiB)
    assert (dest / "big.bin").read_bytes() == new


# -- case 3: the record kept with a file ----------------------------------------------------


def test_a_record_falls_back_to_the_work_directory_without_xattrs(tmp_path):
    """Where the file system refuses user xattrs (here: Linux refuses them on a FIFO), the
    record lands in the work directory and is read back from there."""
    from unifs.transfer.records import load_record, save_record

    work = WorkDir(str(tmp_path))
    os.makedirs(work.path)
    target = tmp_path / "f.bin"
    target.write_bytes(b"data")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    try:
        with pytest.raises(OSError):
            os.setxattr(fd, "user.unifs.probe", b"1")
        record = {"version": 1, "size": 4, "identity": "etag=x", "digest": {"kind": "md5"}}
        save_record(fd, work, str(target), record)
    finally:
        os.close(fd)
    assert os.path.exists(work.record(str(target)))
    assert load_record(work, str(target)) == record


# -- case 6: put uploads every file the user has --------------------------------------------


def test_put_uploads_files_named_like_work_files_on_every_store(store, tmp_path):
    src = tmp_path / "src"
    files = {".a.bin.unifs-part": b"a", "b.unifs-part.state": b"b", "c/.d.unifs-part": b"d"}
    for name, data in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    report = unifs.put(src, store.uri("up/"), **store.options)
    assert sorted(report.transferred) == sorted(files)
    back = tmp_path / "back"
    unifs.get(store.uri("up/"), back, **store.options)
    assert _tree(back) == files
