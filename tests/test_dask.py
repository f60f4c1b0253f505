"""unifs on Dask: copies and syncs spread over a 2-process LocalCluster, a model on every host.

Every cluster here binds to 127.0.0.1 only, and its workers run the same network guard as
this process (installed as a worker setup callback, so a restarted worker gets it too).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import cloudpickle
import pytest
from fsspec.callbacks import Callback

distributed = pytest.importorskip("distributed")

import unifs  # noqa: E402
import unifs.dask  # noqa: E402
from unifs.testing import network  # noqa: E402
from unifs.testing.faults import Fault, FaultProxy, Link, route_through  # noqa: E402

# the helpers below run on the workers, which cannot import this test module
cloudpickle.register_pickle_by_value(sys.modules[__name__])

BUCKET = "unifs-dask"
SCHEME = {"s3": "s3", "gcs": "gs", "azure": "az"}
MODEL = {
    "config.json": b'{"layers": 4}',
    "tokenizer/vocab.txt": b"a\nb\nc\n" * 3000,
    "weights/shard-0.bin": os.urandom(2 * 2**20 + 5),
    "weights/shard-1.bin": os.urandom(2**20 + 3),
    "weights/shard-2.bin": os.urandom(700_000),
    "weights/shard-3.bin": os.urandom(300_000),
}
_made: set[str] = set()


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, silence_logs=logging.ERROR,
    )  # fmt: skip
    dask_client = distributed.Client(cluster)
    dask_client.register_worker_callbacks(setup=network.guard)
    yield dask_client
    blocked = dask_client.run(_blocked)
    dask_client.close()
    cluster.close()
    assert not any(blocked.values()), f"a worker tried to leave 127.0.0.1: {blocked}"


def _blocked() -> list[str]:
    return list(network.blocked)


class End:
    """A fresh prefix on one local server."""

    def __init__(self, request: pytest.FixtureRequest, backend: str) -> None:
        server = request.getfixturevalue(f"{backend}_server")
        if backend not in _made:
            server.make_bucket(BUCKET)
            _made.add(backend)
        self.server = server
        self.options: dict[str, Any] = dict(server.storage_options)
        prefix = f"d-{uuid.uuid4().hex[:10]}"
        if backend == "oci":
            self.root = f"oci://n/{server.namespace}/b/{BUCKET}/o/{prefix}/"
        else:
            self.root = f"{SCHEME[backend]}://{BUCKET}/{prefix}/"
        self.prefix = prefix

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

    def remove(self, name: str) -> None:
        fs, path = unifs.url_to_fs(self.root, **self.options)
        fs.rm(path.rstrip("/") + "/" + name)
        fs.invalidate_cache()


PAIRS = [("oci", "s3"), ("gcs", "azure"), ("s3", "gcs"), ("azure", "oci")]


@pytest.mark.parametrize(("a", "b"), PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
def test_copy_then_sync_a_model_tree_over_two_workers(request, client, a, b):
    src, dst = End(request, a), End(request, b)
    src.write(MODEL)
    with distributed.get_task_stream(client) as stream:
        report = unifs.copy(
            src.root, dst.root, client=client, dst_options=dst.options, callback=False,
            **src.options,
        )  # fmt: skip
    assert dst.read() == MODEL
    assert sorted(report.transferred) == sorted(MODEL)
    assert report.bytes_transferred == sum(map(len, MODEL.values()))
    assert sorted(report.checksum_verified + report.size_only) == sorted(MODEL)
    ran = {t["worker"] for t in stream.data if str(t["key"]).startswith("unifs-copy-")}
    assert len(ran) == 2, "both workers should have copied a shard"

    changed = {"weights/shard-1.bin": os.urandom(2**20 + 3), "extra/new.bin": b"n" * 5000}
    src.write(changed)
    src.remove("weights/shard-3.bin")
    dst.write({"stale/only-here.txt": b"old"})
    synced = unifs.sync(
        src.root, dst.root, client=client, delete=True, dst_options=dst.options,
        callback=False, **src.options,
    )  # fmt: skip
    expected = {k: v for k, v in {**MODEL, **changed}.items() if k != "weights/shard-3.bin"}
    assert dst.read() == expected
    assert sorted(synced.transferred) == sorted(changed)
    assert sorted(synced.deleted) == ["stale/only-here.txt", "weights/shard-3.bin"]
    assert sorted(synced.skipped) == sorted(set(expected) - set(changed))
    again = unifs.sync(
        src.root, dst.root, client=client, delete=True, dst_options=dst.options,
        callback=False, **src.options,
    )  # fmt: skip
    assert again.transferred == [] and again.deleted == []


class _Recorder(Callback):
    """Keeps what the client's bar is told."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []
        self.values: list[int] = []

    def set_size(self, size: int) -> None:
        self.size = size
        self.sizes.append(size)

    def absolute_update(self, value: int) -> None:
        self.value = value
        self.values.append(value)


def test_progress_from_every_worker_feeds_one_callback(request, client):
    src, dst = End(request, "gcs"), End(request, "s3")
    src.write(MODEL)
    bar = _Recorder()
    report = unifs.copy(
        src.root, dst.root, client=client, dst_options=dst.options, callback=bar,
        **src.options,
    )  # fmt: skip
    total = sum(map(len, MODEL.values()))
    assert bar.size == total and bar.values[-1] == total == report.bytes_transferred
    assert bar.values == sorted(bar.values)  # nothing was lost or counted twice on the way


BIG = os.urandom(12 * 2**20 + 3)
SPLIT = [("gcs", "s3"), ("s3", "oci"), ("oci", "azure"), ("azure", "gcs")]


@pytest.mark.parametrize(("a", "b"), SPLIT, ids=[f"{a}-{b}" for a, b in SPLIT])
def test_a_large_file_is_split_over_workers_where_the_destination_takes_parts(
    request, client, a, b
):
    src, dst = End(request, a), End(request, b)
    src.write({"model.bin": BIG, "config.json": b"{}"})
    bar = _Recorder()
    with distributed.get_task_stream(client) as stream:
        report = unifs.copy(
            src.root, dst.root, client=client, dst_options=dst.options, callback=bar,
            part_size=5 * 2**20, **src.options,
        )  # fmt: skip
    assert dst.read() == {"model.bin": BIG, "config.json": b"{}"}
    assert bar.values[-1] == bar.size == len(BIG) + 2
    assert sorted(report.transferred) == ["config.json", "model.bin"]
    assert report.bytes_transferred == len(BIG) + 2
    ran = {t["worker"] for t in stream.data if str(t["key"]).startswith("unifs-copy-")}
    assert len(ran) == 2
    if b == "gcs":  # no part uploads: the engine copies it whole
        assert "model.bin" in report.checksum_verified
    elif b == "azure":  # blocks committed by id carry no digest to check
        assert (
            "model.bin" in report.size_only and "several workers" in report.unverified["model.bin"]
        )
    else:  # S3's multipart ETag, OCI's multipart MD5: the parts' MD5s, checked
        assert "model.bin" in report.checksum_verified
    again = unifs.copy(
        src.root, dst.root, client=client, dst_options=dst.options, callback=False,
        part_size=5 * 2**20, **src.options,
    )  # fmt: skip
    assert again.transferred == [] and sorted(again.skipped) == ["config.json", "model.bin"]
    changed = os.urandom(len(BIG) + 1000)  # another size: known to differ, so split again
    src.write({"model.bin": changed})
    synced = unifs.sync(
        src.root, dst.root, client=client, dst_options=dst.options, callback=False,
        part_size=5 * 2**20, **src.options,
    )  # fmt: skip
    assert synced.transferred == ["model.bin"] and synced.skipped == ["config.json"]
    assert dst.read() == {"model.bin": changed, "config.json": b"{}"}


def test_a_part_refused_fails_its_file_and_cancels_its_upload(request, client):
    src, dst = End(request, "gcs"), End(request, "s3")
    src.write({"model.bin": BIG, "config.json": b"{}"})
    upstream = dst.server.endpoint
    refuse = Fault("status", status=403, method="PUT", path="partNumber=2", times=None)
    with FaultProxy(upstream, faults=[refuse]) as proxy:
        options = route_through(dst.options, upstream, proxy.endpoint)
        with pytest.raises(unifs.TransferError) as caught:
            unifs.copy(
                src.root, dst.root, client=client, dst_options=options, callback=False,
                part_size=5 * 2**20, **src.options,
            )  # fmt: skip
    report = caught.value.report
    assert list(report.failed) == ["model.bin"] and "part 2" in report.failed["model.bin"]
    assert report.transferred == ["config.json"]
    assert dst.read() == {"config.json": b"{}"}  # no object made of the other parts
    fs, path = unifs.url_to_fs(dst.root, **dst.options)
    bucket, prefix = path.split("/", 1)
    uploads = fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=prefix)
    assert not uploads.get("Uploads"), "the part upload was not cancelled"


def test_shards_hold_about_equal_bytes():
    sizes = {f"f{i}": size for i, size in enumerate([9, 7, 6, 5, 4, 3, 2, 2, 1, 1])}
    sizes = {name: size * 2**20 for name, size in sizes.items()}
    shards = unifs.dask._shards(sizes, 3)
    assert sorted(n for shard in shards for n in shard) == sorted(sizes)
    weights = [sum(sizes[n] for n in shard) for shard in shards]
    assert max(weights) - min(weights) <= 2 * 2**20
    assert unifs.dask._shards({"only": 5}, 4) == [["only"]]


async def _kill_worker() -> None:
    os._exit(1)  # the process dies at once, as on a lost node


def test_worker_killed_mid_copy_ends_byte_exact(request, client):
    src, dst = End(request, "s3"), End(request, "oci")
    files = {f"part-{i:02d}.bin": os.urandom(384 * 1024 + i) for i in range(10)}
    src.write(files)
    upstream = src.server.endpoint
    # a slow link to the source: each shard takes seconds, so a worker dies mid-shard
    with FaultProxy(upstream, link=Link(per_connection=512 * 1024)) as proxy:
        options = route_through(src.options, upstream, proxy.endpoint)
        shards = unifs.dask._shards({n: len(d) for n, d in files.items()}, 2)
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                result["report"] = unifs.dask.copy(
                    src.root, dst.root, client, dst_options=dst.options, callback=False,
                    shards=2, concurrency=2, **options,
                )  # fmt: skip
            except BaseException as exc:  # handed to the test thread below
                result["error"] = exc

        thread = threading.Thread(target=run)
        thread.start()
        victim, landed = None, None
        deadline = time.monotonic() + 120
        while victim is None and time.monotonic() < deadline and thread.is_alive():
            there = set(dst.read())
            for worker, keys in client.processing().items():
                for key in keys:
                    if str(key).startswith("unifs-copy-"):
                        shard = shards[int(str(key).rsplit("-", 1)[1])]
                        done = there & set(shard)
                        if done and len(done) < len(shard) - 1:
                            victim, landed = worker, sorted(done)
            time.sleep(0.05)
        assert victim is not None, "no worker was caught half-way through a shard"
        client.run(_kill_worker, workers=[victim], wait=False)
        thread.join(180)
    assert not thread.is_alive()
    if "error" in result:
        raise result["error"]
    report = result["report"]
    assert dst.read() == files
    # the lost shard ran again elsewhere and resumed: what had landed was not copied again
    assert set(landed) <= set(report.skipped)
    assert sorted(report.transferred + report.skipped) == sorted(files)
    client.wait_for_workers(2, timeout=60)


def test_worker_killed_while_sending_parts_ends_byte_exact(request, client):
    src, dst = End(request, "s3"), End(request, "oci")
    big = os.urandom(8 * 5 * 2**20 + 11)  # 9 parts of 5 MiB
    src.write({"model.bin": big})
    upstream = src.server.endpoint
    with FaultProxy(upstream, link=Link(per_connection=4 * 2**20)) as proxy:
        options = route_through(src.options, upstream, proxy.endpoint)
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                result["report"] = unifs.dask.copy(
                    src.root, dst.root, client, dst_options=dst.options, callback=False,
                    part_size=5 * 2**20, concurrency=2, shards=2, **options,
                )  # fmt: skip
            except BaseException as exc:  # handed to the test thread below
                result["error"] = exc

        thread = threading.Thread(target=run)
        thread.start()
        victim = None
        deadline = time.monotonic() + 120
        while victim is None and time.monotonic() < deadline and thread.is_alive():
            ranged = [s for s in proxy.requests("GET", timeout=1) if s.range]
            busy = [w for w, keys in client.processing().items() if keys]
            if len(ranged) >= 2 and busy:  # parts are on their way
                victim = busy[0]
            time.sleep(0.05)
        assert victim is not None, "no worker was caught sending parts"
        client.run(_kill_worker, workers=[victim], wait=False)
        thread.join(180)
    assert not thread.is_alive()
    if "error" in result:
        raise result["error"]
    report = result["report"]
    assert dst.read() == {"model.bin": big}
    assert report.transferred == ["model.bin"] and report.checksum_verified == ["model.bin"]
    client.wait_for_workers(2, timeout=60)


def _served(proxy: FaultProxy, prefix: str, name: str) -> int:
    """Bytes the server sent for GETs naming ``prefix/name`` (data and metadata)."""
    return sum(
        seen.body_bytes
        for seen in proxy.requests("GET")
        if unquote(seen.target.split("?", 1)[0]).endswith(f"{prefix}/{name}")
    )


def _digests(root: str) -> dict[str, str]:
    base = Path(root)
    return {
        p.relative_to(base).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in base.rglob("*")
        if p.is_file() and ".unifs" not in p.relative_to(base).as_posix()
    }


@pytest.mark.parametrize("backend", ["s3", "gcs", "azure", "oci"])
def test_get_on_workers_downloads_once_per_host(request, client, tmp_path, backend):
    src = End(request, backend)
    src.write(MODEL)
    upstream = src.server.endpoint
    with FaultProxy(upstream, rewrite_host=backend == "gcs") as proxy:
        options = route_through(src.options, upstream, proxy.endpoint)
        local = tmp_path / "model"
        reports = unifs.dask.get_on_workers(src.root, local, client, callback=False, **options)
        served = {name: _served(proxy, src.prefix, name) for name in MODEL}
    # both workers live on 127.0.0.1: one host, one download
    assert list(reports) == ["127.0.0.1"]
    assert sorted(reports["127.0.0.1"].transferred) == sorted(MODEL)
    for name, data in MODEL.items():
        assert len(data) <= served[name] < len(data) + 4096, (name, served[name])
    want = {n: hashlib.sha256(d).hexdigest() for n, d in MODEL.items()}
    seen_by_workers = client.run(_digests, str(local))
    assert len(seen_by_workers) == 2
    assert all(found == want for found in seen_by_workers.values())


def test_get_on_workers_survives_its_worker_and_resumes(request, client, tmp_path):
    src = End(request, "gcs")
    big = os.urandom(24 * 2**20 + 7)
    src.write({"model.bin": big})
    upstream = src.server.endpoint
    with FaultProxy(upstream, rewrite_host=True, link=Link(per_connection=2**20)) as proxy:
        options = route_through(src.options, upstream, proxy.endpoint)
        local = tmp_path / "model"
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                result["reports"] = unifs.dask.get_on_workers(
                    src.root, local, client, callback=False, concurrency=4, **options
                )
            except BaseException as exc:  # handed to the test thread below
                result["error"] = exc

        thread = threading.Thread(target=run)
        thread.start()
        victim = None
        deadline = time.monotonic() + 120
        while victim is None and time.monotonic() < deadline and thread.is_alive():
            busy = [w for w, keys in client.processing().items() if keys]
            # the get records each MiB that lands in its state file, one line each
            states = list((local / unifs.transfer.WORK_DIR).glob("*.state"))
            if busy and states and len(states[0].read_text().splitlines()) > 4:
                victim = busy[0]
            time.sleep(0.05)
        assert victim is not None, "no worker was caught downloading"
        client.run(_kill_worker, workers=[victim], wait=False)
        thread.join(180)
        served = _served(proxy, src.prefix, "model.bin")
    assert not thread.is_alive()
    if "error" in result:
        raise result["error"]
    report = result["reports"]["127.0.0.1"]
    assert report.transferred == ["model.bin"]
    assert (local / "model.bin").read_bytes() == big
    # the other worker of the host took over and fetched only what was not on disk yet
    assert report.bytes_resumed > 0 and served < 2 * len(big)
    # the nanny restarts the killed worker for the tests after this one: a fresh process that
    # imports the SDKs and torch, which took over 60 s on a loaded 2-core machine (a limit
    # against a hang, not a speed check)
    client.wait_for_workers(2, timeout=300)


def test_get_on_workers_wants_an_absolute_directory(client):
    with pytest.raises(ValueError, match="absolute"):
        unifs.dask.get_on_workers("s3://my-bucket/model/", "relative/dir", client)


def test_local_ends_are_refused_with_a_pointer(client, tmp_path):
    with pytest.raises(unifs.UnsupportedError, match="get_on_workers"):
        unifs.copy(str(tmp_path), "s3://my-bucket/x/", client=client)


class _Keep(logging.Handler):
    """Keeps every record it is given (found again on the root logger by ``captured``)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.captured: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.captured.append(self.format(record))


# these run on the workers (pickled by value: each call brings its own copy of this module's
# globals, so what they share lives on the root logger)
_DEBUG_LOGGERS = ("distributed", "botocore", "s3fs", "azure", "adlfs", "unifs", "fsspec")


def _capture_debug() -> None:
    handler = _Keep()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    logging.getLogger("distributed").addHandler(handler)  # it does not propagate to root
    for name in _DEBUG_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)


def _captured() -> list[str]:
    root = logging.getLogger()
    return [line for h in root.handlers for line in getattr(h, "captured", [])]


def _release_capture() -> None:
    root = logging.getLogger()
    for handler in [h for h in root.handlers if hasattr(h, "captured")]:
        root.removeHandler(handler)
        logging.getLogger("distributed").removeHandler(handler)
    root.setLevel(logging.WARNING)
    for name in _DEBUG_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if name == "distributed" else 0)


def test_secrets_stay_out_of_worker_logs_task_keys_and_reprs(request, client, s3_server):
    src, dst = End(request, "s3"), End(request, "azure")
    secret = f"unifsSECRET{uuid.uuid4().hex}"
    src.options = {**src.options, "secret": secret}  # moto takes any secret
    src.write({"a.bin": b"a" * 70_000, "b.bin": b"b" * 90_000})
    account_key = dst.options["connection_string"].split("AccountKey=", 1)[1].split(";", 1)[0]
    client.run(_capture_debug)
    try:
        with distributed.get_task_stream(client) as stream:
            unifs.copy(
                src.root, dst.root, client=client, dst_options=dst.options, callback=False,
                **src.options,
            )  # fmt: skip
            # a failing task: Dask logs it with its key and the repr of its arguments
            with pytest.raises(FileNotFoundError):
                unifs.dask.get_on_workers(
                    src.root + "missing/", "/tmp/unifs-never", client, callback=False,
                    **src.options,
                )  # fmt: skip
        logs = client.run(_captured)
    finally:
        client.run(_release_capture)
    text = "\n".join(line for lines in logs.values() for line in lines)
    assert "Compute Failed" in text  # the failing task was logged with its key and repr
    assert "botocore" in text  # the SDKs logged at DEBUG too
    keys = [str(t["key"]) for t in stream.data]
    assert any(k.startswith("unifs-copy-") for k in keys)
    for value in (secret, account_key):
        assert value not in text
        assert not any(value in k for k in keys)
    run = unifs.dask._Run("s3://b/", "gs://b/", unifs.dask._sealed(secret=secret), {}, "q")
    assert secret not in repr(run) and secret not in str(run.sealed)
