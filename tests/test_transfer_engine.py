"""The parallel transfer engine on every cloud server, behind a fault-injecting proxy.

Each test runs against S3 (moto), GCS (fake-gcs-server), Azure (Azurite) and OCI (unifs's
server), with the requests passing through :class:`unifs.testing.faults.FaultProxy`. The
backends' own retries are turned off or bounded (``_without_sdk_retries``) so that what is
measured is unifs's retry loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fsspec.callbacks import Callback

import unifs
from unifs import transfer
from unifs.testing.faults import Fault, FaultProxy, route_through

CLOUDS = ["s3", "gcs", "azure", "oci"]
MiB = 2**20
PART = MiB  # small parts: a 3.5 MiB file is four ranged GETs

FILES = {
    "config.json": b'{"model": "llm"}',
    "tokenizer.json": b"{}" * 100,
    "empty.txt": b"",
    "weights/shard-0.bin": os.urandom(3 * MiB + 12345),
    "weights/shard-1.bin": os.urandom(MiB // 2),
    "engines/H100/rank0.engine": os.urandom(2 * MiB + 7),
    "engines/A100/rank0.engine": os.urandom(1000),
}
BIG = "weights/shard-0.bin"
BIG_PARTS = -(-len(FILES[BIG]) // PART)


@dataclass
class Cloud:
    """A fresh prefix on one cloud server, reachable directly or through a proxy."""

    backend: str
    server: Any
    root: str  # URI of the prefix, ending in "/"

    def uri(self, *parts: str) -> str:
        return self.root + "/".join(parts)

    def options(self, proxy: FaultProxy | None = None) -> dict[str, Any]:
        options = dict(self.server.storage_options)
        if proxy is not None:
            options = route_through(options, self.server.endpoint, proxy.endpoint)
            if self.backend == "s3":
                # botocore's own retries off: only unifs retries what the proxy breaks
                options["config_kwargs"] = {"retries": {"total_max_attempts": 1}}
        return options

    def fs(self, proxy: FaultProxy | None = None) -> Any:
        fs, _ = unifs.url_to_fs(self.root, **self.options(proxy))
        if proxy is not None:
            _without_sdk_retries(self.backend, fs)
        return fs

    def path(self, *parts: str) -> str:
        return unifs.url_to_fs(self.uri(*parts), **self.options())[1]

    def upload(self, files: dict[str, bytes]) -> None:
        fs = self.fs()
        for name, data in files.items():
            fs.pipe_file(self.path(name), data)
        fs.invalidate_cache()


def _without_sdk_retries(backend: str, fs: Any) -> None:
    """Nothing per instance: the ``_no_sdk_retries`` fixture configures the SDKs."""


@pytest.fixture(autouse=True)
def _no_sdk_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Turn the backends' own retries off, so the retries counted are unifs's.

    s3fs wraps botocore in its own retry loop (``S3FileSystem.retries``, a class attribute);
    botocore's is off through ``config_kwargs`` (see ``Cloud.options``). adlfs builds its
    client without passing retry settings through, so it is given ``retry_total=0`` here.
    gcsfs's retry decorator does not cover the ranged reads unifs streams itself; the OCI
    server's storage options already carry ``NoneRetryStrategy``.
    """
    import adlfs.spec
    import s3fs

    monkeypatch.setattr(s3fs.S3FileSystem, "retries", 1)
    original = adlfs.spec.AIOBlobServiceClient.from_connection_string

    def no_retries(conn_str: str, **kwargs: Any) -> Any:
        return original(conn_str=conn_str, retry_total=0, **kwargs)

    monkeypatch.setattr(adlfs.spec.AIOBlobServiceClient, "from_connection_string", no_retries)


@pytest.fixture(params=CLOUDS)
def cloud(request: pytest.FixtureRequest, _engine_buckets: set[str]) -> Cloud:
    backend = request.param
    server = request.getfixturevalue(f"{backend}_server")
    bucket = "unifs-engine"
    if backend not in _engine_buckets:
        server.make_bucket(bucket)
        _engine_buckets.add(backend)
    prefix = f"e-{uuid.uuid4().hex[:10]}"
    if backend == "oci":
        root = f"oci://n/{server.namespace}/b/{bucket}/o/{prefix}/"
    else:
        root = f"{ {'s3': 's3', 'gcs': 'gs', 'azure': 'az'}[backend] }://{bucket}/{prefix}/"
    return Cloud(backend, server, root)


@pytest.fixture(scope="session")
def _engine_buckets() -> set[str]:
    return set()


@pytest.fixture
def model(cloud: Cloud) -> str:
    cloud.upload({f"model/{k}": v for k, v in FILES.items()})
    return cloud.uri("model/")


@pytest.fixture
def proxy(cloud: Cloud) -> Iterator[FaultProxy]:
    with FaultProxy(cloud.server.endpoint) as p:
        yield p


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _leftovers(root: Path) -> list[str]:
    """unifs's work files below ``root``: its work directory, or old-style temp names."""
    work = [p.name for p in (root / transfer.WORK_DIR).rglob("*")]
    return work + [p.name for p in root.rglob("*") if ".unifs-part" in p.name]


def _big_gets(proxy: FaultProxy) -> list[str | None]:
    return [s.range for s in proxy.requests("GET") if "shard-0" in s.target and s.range]


# -- byte-exact, parallel, bounded --------------------------------------------------------


def test_directory_get_is_byte_exact_in_ranged_parts(cloud, model, proxy, tmp_path):
    report = unifs.get(model, tmp_path, part_size=PART, max_buffer=2 * MiB, **cloud.options(proxy))
    assert _tree(tmp_path) == FILES
    assert sorted(report.checksum_verified) == sorted(FILES), report.summary()
    assert report.bytes_transferred == sum(map(len, FILES.values()))
    assert len(_big_gets(proxy)) == BIG_PARTS  # large files really go in ranged parts
    assert report.peak_buffer <= 2 * MiB  # the byte budget held
    assert _leftovers(tmp_path) == []


def test_directory_put_is_byte_exact_and_verified(cloud, tmp_path):
    src = tmp_path / "src"
    for name, data in FILES.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    # a user's file is data whatever its name (issue 15, case 6); unifs's work directory,
    # left by an interrupted get, is not
    user = {**FILES, ".x.bin.unifs-part": b"mine", "w.unifs-part.state": b"also mine"}
    for name in (".x.bin.unifs-part", "w.unifs-part.state"):
        (src / name).write_bytes(user[name])
    (src / transfer.WORK_DIR).mkdir()
    (src / transfer.WORK_DIR / "0123.part").write_bytes(b"an unfinished download")
    report = unifs.put(src, cloud.uri("up/"), part_size=PART, **cloud.options())
    assert sorted(report.transferred) == sorted(user)
    assert set(report.checksum_verified) | set(report.size_only) == set(user)
    back = tmp_path / "back"
    unifs.get(cloud.uri("up/"), back, **cloud.options())
    assert _tree(back) == user


def test_async_forms(cloud, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.bin").write_bytes(b"a" * 1000)

    async def roundtrip() -> tuple[transfer.TransferReport, transfer.TransferReport]:
        up = await unifs.aput(src, cloud.uri("async/"), **cloud.options())
        down = await unifs.aget(cloud.uri("async/"), tmp_path / "dst", **cloud.options())
        return up, down

    up, down = asyncio.run(roundtrip())
    assert up.transferred == down.transferred == ["a.bin"]
    assert (tmp_path / "dst" / "a.bin").read_bytes() == b"a" * 1000


class _Recorder(Callback):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.children: dict[str, _Recorder] = {}

    def branched(self, path_1: str, path_2: str, **kwargs: Any) -> _Recorder:
        child = _Recorder()
        self.children[path_1.rsplit("/", 1)[-1]] = child
        return child


def test_progress_in_bytes_with_a_child_per_file(cloud, model, tmp_path):
    recorder = _Recorder()
    unifs.get(model, tmp_path, part_size=PART, callback=recorder, **cloud.options())
    total = sum(map(len, FILES.values()))
    assert recorder.size == recorder.value == total
    child = recorder.children["shard-0.bin"]
    assert child.size == child.value == len(FILES[BIG])


# -- skip, corruption, resume -------------------------------------------------------------


def test_skip_if_valid_and_refetch_a_corrupted_file(cloud, model, proxy, tmp_path):
    options = cloud.options(proxy)
    unifs.get(model, tmp_path, part_size=PART, **options)
    again = unifs.get(model, tmp_path, part_size=PART, **options)
    assert again.transferred == [] and sorted(again.skipped) == sorted(FILES)
    target = tmp_path / BIG
    target.write_bytes(b"X" * len(FILES[BIG]))  # same size, wrong bytes
    proxy.clear()
    fixed = unifs.get(model, tmp_path, part_size=PART, **options)
    assert fixed.transferred == [BIG] and fixed.checksum_verified == [BIG]
    assert target.read_bytes() == FILES[BIG]
    assert len(_big_gets(proxy)) == BIG_PARTS


def test_multipart_objects_are_checksum_verified(cloud, tmp_path):
    """Multipart ETags (S3) and multipart MD5s (OCI) are reproduced from the parts."""
    data = os.urandom(11 * MiB + 5)
    fs = cloud.fs()
    with fs.open(cloud.path("mp.bin"), "wb", block_size=5 * MiB) as f:
        for offset in range(0, len(data), MiB):
            f.write(data[offset : offset + MiB])
    fs.invalidate_cache()
    report = unifs.get(cloud.uri("mp.bin"), tmp_path / "mp.bin", **cloud.options())
    assert (tmp_path / "mp.bin").read_bytes() == data
    if cloud.backend == "azure":
        # a blob committed from blocks has no Content-MD5: size only, and the report says so
        assert report.size_only == ["mp.bin"]
        return
    assert report.checksum_verified == ["mp.bin"], report.unverified
    # the last byte flipped (a fixed replacement would equal a random last byte 1 time in 256)
    (tmp_path / "mp.bin").write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    again = unifs.get(cloud.uri("mp.bin"), tmp_path / "mp.bin", **cloud.options())
    assert again.transferred == ["mp.bin"]
    assert hashlib.md5((tmp_path / "mp.bin").read_bytes()).digest() == hashlib.md5(data).digest()


def test_an_interrupted_get_resumes_with_only_the_missing_parts(cloud, model, proxy, tmp_path):
    options = cloud.options(proxy)
    fs = cloud.fs(proxy)
    assert fs is not None
    # two ranged GETs of the big file succeed, every later one fails: retries run out
    proxy.faults.append(
        Fault("status", status=503, method="GET", path="shard-0", ranged=True, skip=2, times=None)
    )
    with pytest.raises(unifs.TransferError) as failed:
        unifs.get(model, tmp_path, part_size=PART, concurrency=2, retries=1, **options)
    assert list(failed.value.report.failed) == [BIG]
    assert failed.value.report.retries >= 1
    assert not (tmp_path / BIG).exists()  # nothing partial at the final path
    # the temporary file and its state, named by a hash in the work directory
    assert sorted(Path(name).suffix for name in _leftovers(tmp_path)) == [".part", ".state"]
    proxy.clear()
    resumed = unifs.get(model, tmp_path, part_size=PART, **options)
    assert resumed.transferred == [BIG] and resumed.resumed == [BIG]
    assert resumed.bytes_resumed == 2 * PART
    assert len(_big_gets(proxy)) == BIG_PARTS - 2  # only what was missing
    assert (tmp_path / BIG).read_bytes() == FILES[BIG]
    assert resumed.checksum_verified == [BIG]
    assert _leftovers(tmp_path) == []


def _span(header: str | None) -> tuple[int, int]:
    first, _, last = (header or "").partition("=")[2].partition("-")
    return int(first), int(last) + 1


def test_an_interrupted_stream_resumes_from_its_last_byte(cloud, proxy, tmp_path):
    """A file read as one stream (the default where reads stream) that keeps getting cut:
    what landed is kept, and the next get asks only for the bytes after it."""
    data = os.urandom(24 * MiB + 5)
    cloud.upload({"cut/big.bin": data})
    cloud.fs(proxy)
    proxy.faults.append(Fault("reset", method="GET", path="big.bin", ranged=True, times=None))
    with pytest.raises(unifs.TransferError) as failed:
        unifs.get(cloud.uri("cut/"), tmp_path, concurrency=1, retries=2, **cloud.options(proxy))
    assert failed.value.report.retries == 2
    assert not (tmp_path / "big.bin").exists()
    proxy.clear()
    resumed = unifs.get(cloud.uri("cut/"), tmp_path, **cloud.options(proxy))
    assert (tmp_path / "big.bin").read_bytes() == data
    asked = [_span(s.range) for s in proxy.requests("GET") if "big.bin" in s.target and s.range]
    # every byte not on disk was asked for exactly once, and nothing that was
    assert sum(end - start for start, end in asked) == len(data) - resumed.bytes_resumed
    if cloud.backend != "azure":  # Azure's SDK returns a range whole or not at all
        assert resumed.bytes_resumed >= 8 * MiB  # each attempt cut at half: most of it landed
        assert min(start for start, _ in asked) == resumed.bytes_resumed
    assert _leftovers(tmp_path) == []


def test_a_changed_object_is_not_resumed(cloud, model, proxy, tmp_path):
    options = cloud.options(proxy)
    cloud.fs(proxy)
    proxy.faults.append(
        Fault("status", status=503, method="GET", path="shard-0", ranged=True, skip=1, times=None)
    )
    with pytest.raises(unifs.TransferError):
        unifs.get(model, tmp_path, part_size=PART, concurrency=1, retries=0, **options)
    proxy.clear()
    new = os.urandom(len(FILES[BIG]))
    cloud.upload({f"model/{BIG}": new})
    report = unifs.get(model, tmp_path, part_size=PART, **options)
    assert report.resumed == [] and (tmp_path / BIG).read_bytes() == new


# -- retries and failures -----------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        Fault("status", status=503, retry_after=0),
        Fault("status", status=500),
        Fault("status", status=429, retry_after=0),
        Fault("reset"),
        Fault("truncate"),
    ],
    ids=["503-retry-after", "500", "429", "reset", "truncate"],
)
def test_retries_recover_from_transient_failures(cloud, model, proxy, tmp_path, fault):
    options = cloud.options(proxy)
    cloud.fs(proxy)
    fault = Fault(fault.kind, fault.status, fault.retry_after, method="GET", ranged=True, times=3)
    proxy.faults.append(fault)
    report = unifs.get(model, tmp_path, part_size=PART, **options)
    assert fault.hits == 3
    if cloud.backend == "azure" and fault.kind != "status":
        # azure-storage-blob re-reads a broken body itself (three tries, not configurable)
        assert report.ok
    else:
        assert report.retries >= 1, report.summary()
    assert _tree(tmp_path) == FILES
    assert _leftovers(tmp_path) == []


def test_a_fraction_of_failing_requests_still_converges(cloud, model, proxy, tmp_path):
    cloud.fs(proxy)
    proxy.faults.append(Fault("reset", method="GET", ranged=True, rate=0.3, times=None))
    policy = transfer.RetryPolicy(attempts=12, base_delay=0.01, max_delay=0.05)
    report = unifs.get(model, tmp_path, part_size=PART, retries=policy, **cloud.options(proxy))
    assert _tree(tmp_path) == FILES and report.ok


def test_a_permanent_failure_leaves_nothing_partial(cloud, model, proxy, tmp_path):
    good = b"an older, good copy"
    (tmp_path / "weights").mkdir()
    (tmp_path / BIG).write_bytes(good)
    cloud.fs(proxy)
    proxy.faults.append(
        Fault("status", status=403, method="GET", path="shard-0", ranged=True, skip=1, times=None)
    )
    with pytest.raises(unifs.TransferError) as failed:
        unifs.get(model, tmp_path, part_size=PART, concurrency=1, **cloud.options(proxy))
    report = failed.value.report
    assert list(report.failed) == [BIG] and report.retries == 0  # 403 is not retried
    assert (tmp_path / BIG).read_bytes() == good  # the good file stays
    assert _leftovers(tmp_path) == []  # and no partial data anywhere
    assert sorted(report.transferred) == sorted(set(FILES) - {BIG})  # the others made it


def test_exhausted_retries_never_touch_the_final_path(cloud, model, proxy, tmp_path):
    cloud.fs(proxy)
    proxy.faults.append(Fault("reset", method="GET", path="shard-1", times=None))
    with pytest.raises(unifs.TransferError) as failed:
        unifs.get(model, tmp_path, part_size=PART, retries=2, **cloud.options(proxy))
    assert list(failed.value.report.failed) == ["weights/shard-1.bin"]
    assert failed.value.report.retries >= 2
    assert not (tmp_path / "weights" / "shard-1.bin").exists()
    assert _leftovers(tmp_path) == []  # one part, nothing done: nothing worth keeping


def test_put_retries_a_failed_upload(cloud, proxy, tmp_path):
    src = tmp_path / "one.bin"
    src.write_bytes(os.urandom(4096))
    cloud.fs(proxy)
    proxy.faults.append(Fault("status", status=503, method="PUT|POST", retry_after=0, times=1))
    report = unifs.put(src, cloud.uri("put", "one.bin"), **cloud.options(proxy))
    assert report.transferred == ["one.bin"]
    assert proxy.faults[0].hits == 1
    assert cloud.fs().cat_file(cloud.path("put", "one.bin")) == src.read_bytes()


# -- containment and filters --------------------------------------------------------------


def test_a_traversal_key_is_refused_on_every_cloud(cloud, tmp_path):
    # a backslash key survives every HTTP stack untouched; on Windows it would be '..\..'
    cloud.upload({"trav/ok.txt": b"ok", "trav/a\\..\\..\\evil.txt": b"evil"})
    dest = tmp_path / "dest"
    with pytest.raises(unifs.UnsafeKeyError, match="outside"):
        unifs.get(cloud.uri("trav/"), dest, **cloud.options())
    assert not dest.exists() or _tree(dest) == {}
    assert not list(tmp_path.rglob("evil.txt"))


def test_include_and_exclude_through_the_engine(cloud, model, tmp_path):
    report = unifs.get(
        model,
        tmp_path,
        include=["*/H100/*", "weights/*"],
        exclude=["*shard-1*"],
        part_size=PART,
        **cloud.options(),
    )
    assert sorted(report.transferred) == ["engines/H100/rank0.engine", BIG]
    assert _tree(tmp_path) == {k: FILES[k] for k in report.transferred}


def test_a_large_file_is_split_among_idle_workers(cloud, proxy, tmp_path):
    """One 40 MiB object: idle workers take the tails of running ranges (where reads stream)."""
    data = os.urandom(40 * MiB + 3)
    cloud.upload({"split/big.bin": data})
    report = unifs.get(cloud.uri("split/"), tmp_path, **cloud.options(proxy))
    assert (tmp_path / "big.bin").read_bytes() == data
    gets = [s for s in proxy.requests("GET") if "big.bin" in s.target and s.range]
    assert len(gets) >= 2, gets  # more than one stream worked on it
    assert report.bytes_transferred == len(data)  # and no byte was counted twice
    if cloud.backend != "azure":  # a block blob has no whole-object MD5
        assert report.checksum_verified == ["big.bin"]


# -- issue 15: every file is exactly one version of its object ----------------------------


def test_an_object_replaced_between_parts_fails_clearly_and_is_never_spliced(
    cloud, proxy, tmp_path
):
    """Every ranged read names the version seen at planning (If-Match on the ETag, GCS's
    generation): the part after a replacement fails with ObjectChangedError, nothing
    reaches the final path, and the next get fetches the new version whole."""
    old, new = os.urandom(4 * MiB + 7), os.urandom(4 * MiB + 7)  # same size: a splice fits
    cloud.upload({"rep/big.bin": old})
    writer = cloud.fs()

    def replace() -> None:
        writer.pipe_file(cloud.path("rep", "big.bin"), new)

    cloud.fs(proxy)
    proxy.faults.append(
        Fault("call", method="GET", path="big.bin", ranged=True, skip=1, action=replace)
    )
    options = cloud.options(proxy)
    with pytest.raises(unifs.TransferError) as failed:
        unifs.get(cloud.uri("rep/"), tmp_path, part_size=PART, concurrency=1, **options)
    assert proxy.faults[0].hits == 1
    reason = failed.value.report.failed["big.bin"]
    assert reason.startswith("ObjectChangedError") and "replaced" in reason, reason
    assert not (tmp_path / "big.bin").exists()
    assert _leftovers(tmp_path) == []  # parts of a version that is gone are not kept
    again = unifs.get(cloud.uri("rep/"), tmp_path, part_size=PART, **options)
    assert again.checksum_verified == ["big.bin"]
    assert (tmp_path / "big.bin").read_bytes() == new


MP = 11 * MiB + 5  # three 5 MiB parts, the last short


def _put_multipart(cloud: Cloud, tmp_path: Path, name: str, data: bytes) -> None:
    src = tmp_path / "upload" / name
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_bytes(data)
    unifs.put(src, cloud.uri(name), part_size=5 * MiB, **cloud.options())


def _work_parts(root: Path) -> list[Path]:
    return sorted((root / transfer.WORK_DIR).glob("*.part"))


def test_a_unifs_upload_leaves_a_checksum_every_get_verifies(cloud, tmp_path):
    """S3: the multipart ETag's layout is asked (HEAD ?partNumber); Azure: put sets the
    blob's Content-MD5 on commit; OCI: the part size unifs chose; GCS: crc32c."""
    data = os.urandom(MP)
    _put_multipart(cloud, tmp_path, "mp.bin", data)
    info = cloud.fs().info(cloud.path("mp.bin"))
    if cloud.backend == "s3":
        assert str(info["ETag"]).endswith('-3"')  # multipart: no MD5 of the whole
    if cloud.backend == "azure":
        assert bytes(info["content_settings"]["content_md5"]) == hashlib.md5(data).digest()
    report = unifs.get(cloud.uri("mp.bin"), tmp_path / "mp.bin", **cloud.options())
    assert report.checksum_verified == ["mp.bin"] and report.unverified == {}
    assert (tmp_path / "mp.bin").read_bytes() == data


def test_s3_multipart_of_uneven_parts_is_verified_from_the_layout_the_store_reports(
    cloud, tmp_path
):
    if cloud.backend != "s3":
        pytest.skip("HEAD ?partNumber=N is S3's")
    from fsspec.asyn import sync

    fs = cloud.fs()
    sizes = [6 * MiB, 7 * MiB, 1 * MiB]  # no common part size reproduces this layout
    data = os.urandom(sum(sizes))
    bucket, key, _ = fs.split_path(cloud.path("uneven.bin"))

    async def upload() -> None:
        mpu = await fs._call_s3("create_multipart_upload", Bucket=bucket, Key=key)
        parts, offset = [], 0
        for number, size in enumerate(sizes, 1):
            out = await fs._call_s3(
                "upload_part", Bucket=bucket, Key=key, UploadId=mpu["UploadId"],
                PartNumber=number, Body=data[offset : offset + size],
            )  # fmt: skip
            parts.append({"PartNumber": number, "ETag": out["ETag"]})
            offset += size
        await fs._call_s3(
            "complete_multipart_upload", Bucket=bucket, Key=key, UploadId=mpu["UploadId"],
            MultipartUpload={"Parts": parts},
        )  # fmt: skip

    sync(fs.loop, upload)
    fs.invalidate_cache()
    report = unifs.get(cloud.uri("uneven.bin"), tmp_path / "u.bin", **cloud.options())
    assert report.checksum_verified == ["uneven.bin"], report.unverified
    assert (tmp_path / "u.bin").read_bytes() == data


def test_oci_multipart_of_an_unusual_part_size_is_verified_from_the_size_unifs_recorded(
    cloud, proxy, tmp_path
):
    """OCI keeps no part sizes: unifs's own uploads record theirs as user metadata, so the
    multipart MD5 is checked even where no common part size reproduces it."""
    if cloud.backend != "oci":
        pytest.skip("OCI's multipart MD5 carries no layout; the other stores say or need none")
    odd = 7 * MiB + 12_345  # not among the sizes unifs tries when it has to guess
    data = os.urandom(3 * odd - 999)
    src = tmp_path / "upload" / "odd.bin"
    src.parent.mkdir(parents=True)
    src.write_bytes(data)
    unifs.put(src, cloud.uri("odd.bin"), part_size=odd, **cloud.options())
    info = cloud.fs().info(cloud.path("odd.bin"))
    assert info["md5"].endswith("-3") and info["metadata"]["unifs-part-size"] == str(odd)
    report = unifs.get(
        cloud.uri("odd.bin"), tmp_path / "odd.bin", part_size=PART, **cloud.options()
    )
    assert report.checksum_verified == ["odd.bin"] and report.unverified == {}
    assert (tmp_path / "odd.bin").read_bytes() == data
    # and with a known layout a body corrupted on every fetch is a failure, not "size only"
    cloud.fs(proxy)
    proxy.faults.append(Fault("corrupt", method="GET", path="odd.bin", ranged=True, times=None))
    with pytest.raises(unifs.TransferError) as failed:
        unifs.get(
            cloud.uri("odd.bin"), tmp_path / "again.bin", part_size=PART, **cloud.options(proxy)
        )
    assert "mismatch" in failed.value.report.failed["odd.bin"]
    assert not (tmp_path / "again.bin").exists()


def test_a_corrupted_body_is_fetched_once_more_then_verified(cloud, proxy, tmp_path):
    data = os.urandom(MP)
    _put_multipart(cloud, tmp_path, "c.bin", data)
    cloud.fs(proxy)
    proxy.faults.append(Fault("corrupt", method="GET", path="c.bin", ranged=True, times=1))
    report = unifs.get(
        cloud.uri("c.bin"), tmp_path / "c.bin", part_size=PART, **cloud.options(proxy)
    )
    assert proxy.faults[0].hits == 1
    assert report.checksum_verified == ["c.bin"] and report.failed == {}
    assert (tmp_path / "c.bin").read_bytes() == data


def test_bytes_corrupted_on_every_fetch_fail_clearly(cloud, proxy, tmp_path):
    data = os.urandom(MP)
    _put_multipart(cloud, tmp_path, "bad.bin", data)
    (tmp_path / "bad.bin").write_bytes(b"an older, good copy")
    cloud.fs(proxy)
    proxy.faults.append(Fault("corrupt", method="GET", path="bad.bin", ranged=True, times=None))
    options = cloud.options(proxy)
    with pytest.raises(unifs.TransferError) as failed:
        unifs.get(cloud.uri("bad.bin"), tmp_path / "bad.bin", part_size=PART, **options)
    reason = failed.value.report.failed["bad.bin"]
    assert "mismatch" in reason and "twice" in reason, reason
    assert (tmp_path / "bad.bin").read_bytes() == b"an older, good copy"  # never replaced
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("writer", ["unifs.put", "fs.open"])
def test_a_resume_over_a_damaged_part_file_ends_exact(cloud, proxy, tmp_path, writer):
    """Issue 15 case 2: the resumed bytes do not hash to the store's digest, so the file is
    fetched again from scratch instead of kept. An object with no checksum at all (an Azure
    blob another tool committed from blocks) is not resumed: nothing could check the parts."""
    data = os.urandom(MP)
    if writer == "unifs.put":
        _put_multipart(cloud, tmp_path, "r.bin", data)
    else:
        with cloud.fs().open(cloud.path("r.bin"), "wb", block_size=5 * MiB) as f:
            for offset in range(0, len(data), MiB):
                f.write(data[offset : offset + MiB])
    dest = tmp_path / "dest"
    cloud.fs(proxy)
    proxy.faults.append(
        Fault("status", status=503, method="GET", path="r.bin", ranged=True, skip=2, times=None)
    )
    options = cloud.options(proxy)
    with pytest.raises(unifs.TransferError):
        unifs.get(
            cloud.uri("r.bin"), dest / "r.bin", part_size=PART, concurrency=2, retries=1, **options
        )
    parts = _work_parts(dest)
    if not parts:  # nothing could check resumed parts: none were kept
        assert cloud.backend == "azure" and writer == "fs.open"
    for part in parts:
        with open(part, "r+b") as handle:  # damage what the first run landed
            handle.write(b"\0" * 1000)
    proxy.clear()
    report = unifs.get(cloud.uri("r.bin"), dest / "r.bin", part_size=PART, **options)
    if report.size_only:  # nothing to check against
        assert cloud.backend == "azure" and writer == "fs.open" and report.resumed == []
    else:
        assert report.checksum_verified == ["r.bin"]
    assert (dest / "r.bin").read_bytes() == data
    assert _leftovers(dest) == []


def test_skip_if_valid_never_trusts_the_size_alone(cloud, tmp_path):
    """Issue 15 case 3: an object with no checksum (an Azure blob committed from blocks by
    another tool) is recorded with the file; a same-size corrupt or outdated local copy is
    fetched again."""
    old = os.urandom(MP)
    fs = cloud.fs()
    with fs.open(cloud.path("s.bin"), "wb", block_size=5 * MiB) as f:
        for offset in range(0, len(old), MiB):
            f.write(old[offset : offset + MiB])
    fs.invalidate_cache()
    target = tmp_path / "s.bin"
    first = unifs.get(cloud.uri("s.bin"), target, **cloud.options())
    if first.size_only:
        assert cloud.backend == "azure" and "no checksum" in first.unverified["s.bin"]
    assert unifs.get(cloud.uri("s.bin"), target, **cloud.options()).skipped == ["s.bin"]
    target.write_bytes(b"X" * MP)  # corrupt, same size
    again = unifs.get(cloud.uri("s.bin"), target, **cloud.options())
    assert again.transferred == ["s.bin"] and target.read_bytes() == old
    new = os.urandom(MP)  # outdated: the object changed, same size
    with fs.open(cloud.path("s.bin"), "wb", block_size=5 * MiB) as f:
        f.write(new)
    fs.invalidate_cache()
    latest = unifs.get(cloud.uri("s.bin"), target, **cloud.options())
    assert latest.transferred == ["s.bin"] and target.read_bytes() == new


def _unfinished_uploads(cloud: Cloud, name: str) -> list[str]:
    """Upload ids of the multipart uploads to ``name`` the store still holds open."""
    fs = cloud.fs()
    if cloud.backend == "s3":
        from fsspec.asyn import sync

        bucket, key, _ = fs.split_path(cloud.path(name))
        page = sync(fs.loop, fs._call_s3, "list_multipart_uploads", Bucket=bucket, Prefix=key)
        return [u["UploadId"] for u in page.get("Uploads", []) if u["Key"] == key]
    from fsspec.asyn import sync

    bucket, namespace, key = fs.split_path(cloud.path(name))
    listed = sync(fs.loop, fs._call, "GET", fs._rest(namespace, bucket, "/u"), what=name)
    return [u["uploadId"] for u in listed.json() if u["object"] == key]


def _start_upload(cloud: Cloud, name: str) -> None:
    """What a killed put leaves: a multipart upload with one part, never completed."""
    fs = cloud.fs()
    if cloud.backend == "s3":
        from fsspec.asyn import sync

        bucket, key, _ = fs.split_path(cloud.path(name))
        mpu = sync(fs.loop, fs._call_s3, "create_multipart_upload", Bucket=bucket, Key=key)
        sync(
            fs.loop, fs._call_s3, "upload_part", Bucket=bucket, Key=key,
            UploadId=mpu["UploadId"], PartNumber=1, Body=b"x" * (5 * MiB),
        )  # fmt: skip
        return
    from fsspec.asyn import sync

    from unifs.providers.oci_io import Multipart

    upload = sync(fs.loop, Multipart.start, fs, cloud.path(name))
    sync(fs.loop, upload.part, 1, b"x" * (5 * MiB))


def test_a_later_put_aborts_uploads_a_killed_put_left(cloud, tmp_path, killed_upload):
    """Issue 15 case 7, on the stores that list unfinished multipart uploads (S3, OCI): the
    upload a killed unifs process began (in unifs's ledger) goes; one another tool began at
    the same key stays (issue 25 item 6)."""
    if cloud.backend not in ("s3", "oci"):
        pytest.skip("GCS and Azure list no unfinished uploads (they expire them themselves)")
    _start_upload(cloud, "left.bin")
    (theirs,) = _unfinished_uploads(cloud, "left.bin")
    left = killed_upload(cloud.uri("left.bin"), cloud.options())
    assert sorted(_unfinished_uploads(cloud, "left.bin")) == sorted([theirs, left])
    data = os.urandom(MP)
    _put_multipart(cloud, tmp_path, "left.bin", data)
    assert _unfinished_uploads(cloud, "left.bin") == [theirs]
    assert cloud.fs().cat_file(cloud.path("left.bin")) == data


def test_a_failed_multipart_put_leaves_no_upload_behind(cloud, proxy, tmp_path):
    if cloud.backend not in ("s3", "oci"):
        pytest.skip("GCS and Azure list no unfinished uploads (they expire them themselves)")
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(MP))
    cloud.fs(proxy)
    # the second part upload is refused for good
    proxy.faults.append(Fault("status", status=403, method="PUT", path="f.bin", skip=1))
    with pytest.raises(unifs.TransferError) as failed:
        unifs.put(src, cloud.uri("f.bin"), part_size=5 * MiB, **cloud.options(proxy))
    assert list(failed.value.report.failed) == ["f.bin"]
    assert proxy.faults[0].hits == 1
    assert _unfinished_uploads(cloud, "f.bin") == []
    assert not cloud.fs().exists(cloud.path("f.bin"))
