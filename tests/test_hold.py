# ruff: noqa: F811  (pytest fixtures imported from test_transfer_engine, then requested by name)
"""Checks of the transfer engine no other test would miss (issue #25, item 12).

Each test here fails when the check it names is removed from unifs/engine (verified by
hand, removing it and running this file):

- resuming compares the saved part's object identity (``state.py``, ``_load_state``): with
  ``verify=False`` nothing else stands between a replaced object and a spliced file;
- an object fetched in one request lands in a temporary file, never straight over the final
  path (every other atomicity test uses multi-part files);
- the lexical ``..`` refusal (``planning.safe_join``) for keys like ``a/../b`` that resolve
  inside the destination, which the realpath check behind it lets through.
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
from test_transfer_engine import (  # noqa: F401  (fixtures)
    BIG,
    CLOUDS,
    FILES,
    PART,
    Cloud,
    MiB,
    _leftovers,
    _no_sdk_retries,
    model,
    proxy,
)

import unifs
import unifs.engine.planning
from unifs.testing.faults import Fault, FaultProxy

_made: set[str] = set()


@pytest.fixture(params=CLOUDS)
def cloud(request: pytest.FixtureRequest) -> Cloud:
    """test_transfer_engine's Cloud on a bucket of this module's own (that module's bucket
    fixture keeps its record per module: sharing its bucket would make it twice)."""
    server = request.getfixturevalue(f"{request.param}_server")
    if request.param not in _made:
        server.make_bucket("unifs-hold")
        _made.add(request.param)
    return Cloud(request.param, server, server.uri("unifs-hold", f"h-{uuid.uuid4().hex[:10]}/"))


def test_a_replaced_object_is_never_resumed_without_verification(
    cloud: Cloud, model: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    options = cloud.options(proxy)
    cloud.fs(proxy)
    # two parts of the big file land, then every ranged GET of it fails: its parts stay
    proxy.faults.append(
        Fault("status", status=503, method="GET", path="shard-0", ranged=True, skip=2, times=None)
    )
    with pytest.raises(unifs.TransferError):
        unifs.get(model, tmp_path, part_size=PART, concurrency=1, retries=0, **options)
    assert not (tmp_path / BIG).exists()
    assert _leftovers(tmp_path)  # the parts and their state wait for a resume
    proxy.clear()
    new = os.urandom(len(FILES[BIG]))  # same size, other bytes, a new ETag/generation
    cloud.upload({f"model/{BIG}": new})
    report = unifs.get(model, tmp_path, part_size=PART, verify=False, **options)
    assert (tmp_path / BIG).read_bytes() == new  # never the old parts spliced into it
    assert report.resumed == [] and report.bytes_resumed == 0


@pytest.mark.parametrize("kind", ["reset", "truncate"])
@pytest.mark.parametrize("verify", [True, False], ids=["verify", "no-verify"])
def test_a_streamed_object_cut_mid_body_leaves_the_old_file(
    cloud: Cloud, proxy: FaultProxy, tmp_path: Path, kind: str, verify: bool
) -> None:
    """One object, one streamed GET (no part size), cut halfway: the old copy stays whole."""
    data = os.urandom(24 * MiB + 5)
    cloud.upload({"one/big.bin": data})
    old = os.urandom(len(data))  # an older, good copy of the same size
    (tmp_path / "big.bin").write_bytes(old)
    cloud.fs(proxy)
    proxy.faults.append(Fault(kind, method="GET", path="big.bin", cut=0.5, times=None))
    with pytest.raises(unifs.TransferError) as failed:
        unifs.get(
            cloud.uri("one/"),
            tmp_path,
            concurrency=1,
            retries=0,
            verify=verify,
            **cloud.options(proxy),
        )
    assert list(failed.value.report.failed) == ["big.bin"]
    (cut,) = [s for s in proxy.requests("GET") if "big.bin" in s.target]
    assert cut.fault == kind and 0 < cut.body_bytes < len(data)  # one request, cut
    assert (tmp_path / "big.bin").read_bytes() == old  # not half of the new one over it


def test_a_small_object_corrupted_on_every_fetch_leaves_the_old_file(
    cloud: Cloud, model: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    """A small object is read whole into memory, then written: bytes that fail their
    checksum on every fetch are never written over the good copy."""
    name = "weights/shard-1.bin"  # half a part: one request
    old = os.urandom(len(FILES[name]))
    (tmp_path / "weights").mkdir()
    (tmp_path / name).write_bytes(old)
    cloud.fs(proxy)
    proxy.faults.append(Fault("corrupt", method="GET", path="shard-1", times=None))
    with pytest.raises(unifs.TransferError) as failed:
        unifs.get(model, tmp_path, part_size=PART, retries=1, **cloud.options(proxy))
    assert list(failed.value.report.failed) == [name]
    assert all(s.fault == "corrupt" for s in proxy.requests("GET") if "shard-1" in s.target)
    assert (tmp_path / name).read_bytes() == old


def test_dot_dot_keys_that_stay_inside_are_refused(tmp_path: Path) -> None:
    """``a/../b.txt`` resolves inside the destination: only the lexical check refuses it.

    (Through HTTP stores a client normalizes ``..`` out of the URL path, so the key is made
    where it survives: an in-memory filesystem.)
    """
    import fsspec

    fs = fsspec.filesystem("memory")
    root = "/unifs-hold-dots"
    fs.pipe_file(f"{root}/ok.txt", b"ok")
    fs.pipe_file(f"{root}/a/../b.txt", b"lands at b.txt")  # no b.txt: no name clash either
    assert f"{root}/a/../b.txt" in fs.find(root)  # the key is what it says
    dest = tmp_path / "dest"
    try:
        with pytest.raises(unifs.UnsafeKeyError, match=r"a/\.\./b\.txt.*outside"):
            unifs.get(f"memory://{root}/", dest)
        # nothing lands at b.txt
        assert not dest.exists() or not list(dest.rglob("b.txt"))
        for key in ("a/../b.txt", "a/b/../../c.txt", "c/./../d.txt"):
            with pytest.raises(unifs.UnsafeKeyError, match="outside"):
                unifs.engine.planning.safe_join(str(dest), key)
    finally:
        fs.rm(root, recursive=True)


WRITER = """
import json, resource, signal, sys
from unifs.testing.network import guard
guard()
import unifs
uri, dest, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
try:
    unifs.get(uri, dest, **options)
except unifs.TransferError as exc:
    print(json.dumps(exc.report.failed))
"""


def test_a_small_object_whose_write_fails_midway_leaves_the_old_file(
    s3_server: Any, tmp_path: Path
) -> None:
    """A small object is written in one go once it is in memory: a write that fails half
    way (here the file-size limit, EFBIG) must hit a temporary file, not the final path."""
    if not s3_server.filesystem().exists("unifs-hold-write"):
        s3_server.make_bucket("unifs-hold-write")
    data = os.urandom(MiB // 2)
    s3_server.filesystem().pipe("unifs-hold-write/w/shard.bin", data)
    old = os.urandom(len(data))  # written before the limit: an older, good copy
    (tmp_path / "shard.bin").write_bytes(old)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            WRITER,
            "s3://unifs-hold-write/w/",
            str(tmp_path),
            json.dumps(s3_server.storage_options),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    failed = json.loads(done.stdout.strip().splitlines()[-1])
    assert list(failed) == ["shard.bin"] and "File too large" in failed["shard.bin"]
    assert (tmp_path / "shard.bin").read_bytes() == old
