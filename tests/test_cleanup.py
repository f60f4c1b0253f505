"""A killed run's uploads are aborted by a rerun or ``unifs cleanup``; no one else's (25.6).

A copy from GCS into S3 or OCI runs in a child process on a slow link and is killed with
SIGKILL while its multipart upload is open (a copy sends one large file's parts at a
time). The store's unfinished uploads are listed
with the store's own SDK (boto3, oci), not unifs. An upload someone else began (with that
SDK, to the same key and to another key below the prefix) must survive the rerun and
``unifs cleanup``: unifs aborts only the uploads its ledger recorded, whose process is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import unifs
from unifs.engine import ledger
from unifs.testing.faults import FaultProxy, Link, route_through

pytestmark = pytest.mark.timeout(180)

MiB = 2**20
BUCKET = "unifs-cleanup"
_made: set[str] = set()


class Dest:
    """A fresh prefix in S3 or OCI, and the store's own SDK to look at its uploads."""

    def __init__(self, backend: str, server: Any) -> None:
        self.backend, self.server = backend, server
        self.prefix = f"c-{uuid.uuid4().hex[:10]}/"
        if backend == "oci":
            import oci

            self.root = f"oci://n/{server.namespace}/b/{BUCKET}/o/{self.prefix}"
            self.client = oci.object_storage.ObjectStorageClient(
                server.identity.config(),
                service_endpoint=server.endpoint,
                retry_strategy=oci.retry.NoneRetryStrategy(),
            )
        else:
            import boto3

            self.root = f"s3://{BUCKET}/{self.prefix}"
            self.client = boto3.client(
                "s3",
                endpoint_url=server.endpoint,
                aws_access_key_id=server.storage_options["key"],
                aws_secret_access_key=server.storage_options["secret"],
                region_name="us-east-1",
            )

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.server.storage_options)

    def unfinished(self) -> set[tuple[str, str]]:
        """(key below the prefix, upload id) of every unfinished upload, as the SDK lists them."""
        if self.backend == "oci":
            listed = self.client.list_multipart_uploads(self.server.namespace, BUCKET).data
            pairs = {(u.object, u.upload_id) for u in listed}
        else:
            page = self.client.list_multipart_uploads(Bucket=BUCKET, Prefix=self.prefix)
            pairs = {(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])}
        return {(k[len(self.prefix) :], u) for k, u in pairs if k.startswith(self.prefix)}

    def someone_elses(self, name: str) -> str:
        """An upload begun with the store's SDK (not unifs), one part in: its id."""
        key = self.prefix + name
        if self.backend == "oci":
            from oci.object_storage.models import CreateMultipartUploadDetails

            ns = self.server.namespace
            details = CreateMultipartUploadDetails(object=key)
            upload = self.client.create_multipart_upload(ns, BUCKET, details).data.upload_id
            self.client.upload_part(ns, BUCKET, key, upload, 1, b"y" * (5 * MiB))
            return str(upload)
        upload = self.client.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
        self.client.upload_part(
            Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=1, Body=b"y" * (5 * MiB)
        )
        return str(upload)

    def read(self, name: str) -> bytes:
        fs, path = unifs.url_to_fs(self.root + name, **self.options)
        fs.invalidate_cache()
        return bytes(fs.cat_file(path))


@pytest.fixture(params=["s3", "oci"])
def dest(request: pytest.FixtureRequest) -> Dest:
    backend = request.param
    server = request.getfixturevalue(f"{backend}_server")
    if backend not in _made:
        with contextlib.suppress(FileExistsError):
            server.make_bucket(BUCKET)
        _made.add(backend)
    return Dest(backend, server)


@pytest.fixture
def source(gcs_server: Any) -> tuple[str, dict[str, Any]]:
    """A GCS prefix holding two files of three 5 MiB parts each (and a few bytes)."""
    if "gcs" not in _made:
        with contextlib.suppress(FileExistsError):
            gcs_server.make_bucket(BUCKET)
        _made.add("gcs")
    root = f"gs://{BUCKET}/src-{uuid.uuid4().hex[:10]}/"
    options = dict(gcs_server.storage_options)
    fs, path = unifs.url_to_fs(root, **options)
    for name in ("big.bin", "sub/other.bin"):
        fs.pipe_file(path + name, os.urandom(3 * 5 * MiB + 7))
    fs.invalidate_cache()
    return root, options


CHILD = """
import json, sys
from unifs.testing.network import guard
guard()
import unifs
src, dst, src_options, dst_options = sys.argv[1], sys.argv[2], *map(json.loads, sys.argv[3:5])
unifs.copy(src, dst, dst_options=dst_options, part_size=5 * 2**20, callback=False,
           concurrency=4, **src_options)
"""


def _wait_for(
    condition: Callable[[], bool], what: str, child: subprocess.Popen[str], timeout: float = 90.0
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if child.poll() is not None:
            pytest.fail(f"the child ended ({child.returncode}): {child.communicate()[1][-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


PUT_CHILD = """
import json, sys
from unifs.testing.network import guard
guard()
import unifs
src, dst, _, dst_options = sys.argv[1], sys.argv[2], *map(json.loads, sys.argv[3:5])
unifs.put(src, dst, part_size=5 * 2**20, callback=False, concurrency=1, **dst_options)
"""


@contextlib.contextmanager
def _killed_copy(
    dest: Dest, source: tuple[str, dict[str, Any]], script: str = CHILD
) -> Iterator[tuple[set[tuple[str, str]], dict[str, Any]]]:
    """Run a copy (or ``script``: a put) in a child on a slow link, SIGKILL it once its
    upload is open; yields what the store then holds open, and the options that reach the
    store the way the child did (through the same proxy, now at full speed: the ledger
    knows a store by its endpoint)."""
    src, src_options = source
    before = dest.unfinished()
    with FaultProxy(dest.server.endpoint, link=Link(per_connection=2 * MiB)) as proxy:
        routed = route_through(dest.options, dest.server.endpoint, proxy.endpoint)
        child = subprocess.Popen(
            [sys.executable, "-c", script, src, dest.root, json.dumps(src_options),
             json.dumps(routed)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        try:
            _wait_for(lambda: dest.unfinished() - before, "the child's upload", child)
            _wait_for(lambda: ledger.entries(), "the child's ledger record", child)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            _, err = child.communicate(timeout=60)
        assert child.returncode == -signal.SIGKILL, err
        proxy.link = Link()
        yield dest.unfinished() - before, routed


def _leaves(options: Any) -> list[str]:
    """Every credential-like string in storage options (not endpoints, not the namespace)."""
    if isinstance(options, dict):
        return [v for key, value in options.items() if key != "namespace" for v in _leaves(value)]
    text = str(options)
    return [] if len(text) < 8 or text.startswith("http") else [text]


def _unifs(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "unifs", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ},
    )  # fmt: skip


def _o(options: dict[str, Any]) -> list[str]:
    return [arg for k, v in options.items() for arg in ("-o", f"{k}={json.dumps(v)}")]


def test_a_rerun_aborts_what_the_killed_copy_left_and_nothing_else(dest, source):
    theirs_same_key = dest.someone_elses("big.bin")
    theirs_other_key = dest.someone_elses("sub/theirs.bin")
    with _killed_copy(dest, source) as (left, routed):
        # a copy sends one large file's parts at a time: one upload is open
        assert len(left) == 1 and {n for n, _ in left} <= {"big.bin", "sub/other.bin"}, left
        recorded = {(e.path.rpartition(dest.prefix)[2], e.upload) for e in ledger.entries()}
        assert recorded == left  # the ledger holds exactly what the killed run began
        text = "".join(p.read_text() for p in ledger.ledger_dir().glob("*.json"))
        leaked = [v for v in _leaves(routed) if v in text]
        assert not leaked, "a credential reached the ledger"
        src, src_options = source
        report = unifs.copy(src, dest.root, dst_options=routed, part_size=5 * MiB,
                            callback=False, **src_options)  # fmt: skip
    assert sorted(report.transferred) == ["big.bin", "sub/other.bin"]
    fs, path = unifs.url_to_fs(src, **src_options)
    assert dest.read("big.bin") == fs.cat_file(path + "big.bin")
    assert dest.unfinished() == {("big.bin", theirs_same_key), ("sub/theirs.bin", theirs_other_key)}
    assert ledger.entries() == []


def test_a_rerun_put_aborts_what_the_killed_put_left_and_nothing_else(dest, tmp_path):
    """A put from disk begins its part uploads through the ledger too. (One file at a time,
    so that the kill cannot fall between the store's answer to a second file's "begin" and
    its record: that window is the one a ledger cannot close, see docs/transfers.md.)"""
    local = tmp_path / "model"
    (local / "sub").mkdir(parents=True)
    for name in ("big.bin", "sub/other.bin"):
        (local / name).write_bytes(os.urandom(3 * 5 * MiB + 7))
    theirs = dest.someone_elses("big.bin")
    with _killed_copy(dest, (str(local), {}), PUT_CHILD) as (left, routed):
        assert len(left) == 1 and {n for n, _ in left} <= {"big.bin", "sub/other.bin"}, left
        recorded = {(e.path.rpartition(dest.prefix)[2], e.upload) for e in ledger.entries()}
        assert recorded == left
        report = unifs.put(local, dest.root, part_size=5 * MiB, callback=False, **routed)
    assert sorted(report.transferred) == ["big.bin", "sub/other.bin"]
    assert dest.read("big.bin") == (local / "big.bin").read_bytes()
    assert dest.unfinished() == {("big.bin", theirs)}
    assert ledger.entries() == []


def test_cleanup_dry_run_lists_then_cleanup_aborts_only_unifs_uploads(dest, source):
    theirs = dest.someone_elses("big.bin")
    with _killed_copy(dest, source) as (left, routed):
        assert len(left) == 1
        dry = _unifs("cleanup", "--dry-run", dest.root, *_o(routed))
        assert dry.returncode == 0, dry.stderr
        would = [line for line in dry.stdout.splitlines() if line.startswith("would abort ")]
        assert len(would) == 1, dry.stdout
        assert all(upload in dry.stdout for _, upload in left)
        assert theirs not in dry.stdout
        assert "1 other unfinished upload(s)" in dry.stdout
        assert dest.unfinished() == left | {("big.bin", theirs)}  # nothing aborted
        done = _unifs("cleanup", "--json", dest.root, *_o(routed))
        assert done.returncode == 0, done.stderr
        lines = [json.loads(line) for line in done.stdout.splitlines()]
        assert {(r["action"], r["upload"]) for r in lines} == {("aborted", u) for _, u in left}
        assert {r["uri"] for r in lines} == {dest.root + name for name, _ in left}
        assert dest.unfinished() == {("big.bin", theirs)}
        assert ledger.entries() == []
        again = _unifs("cleanup", dest.root, *_o(routed))
    assert again.returncode == 0 and "no unfinished unifs uploads" in again.stdout


def test_cleanup_keeps_a_running_process_uploads_unless_all_unifs(dest):
    """This test's own process begins an upload (through the ledger) and is still running."""
    from fsspec.asyn import sync

    from unifs.engine.backend import Backend

    end = unifs.endpoint(dest.root + "live.bin", **dest.options)
    backend = Backend(end.fs, end.backend, 2, end)
    upload = sync(end.fs.loop, ledger.begin, backend, end.path, part_size=5 * MiB)
    try:
        assert dest.unfinished() == {("live.bin", upload)}
        kept = _unifs("cleanup", dest.root, *_o(dest.options))
        assert kept.returncode == 0, kept.stderr
        assert "kept " in kept.stdout and "still running" in kept.stdout
        assert dest.unfinished() == {("live.bin", upload)}
        gone = _unifs("cleanup", "--all-unifs", dest.root, *_o(dest.options))
        assert gone.returncode == 0, gone.stderr
        assert f"aborted {dest.root}live.bin" in gone.stdout
        assert dest.unfinished() == set()
        assert ledger.entries() == []
    finally:
        backend.close()


HOLDER = """
import json, sys
from unifs.testing.network import guard
guard()
import unifs
from unifs.engine import ledger
from unifs.engine.backend import open_backend
from unifs.engine.scheduling import run_sync

async def begin():
    end = unifs.endpoint(sys.argv[1], **json.loads(sys.argv[2]))
    backend = await open_backend(end, 2)
    return await ledger.begin(backend, end.path, part_size=5 * 2**20)

print(run_sync(begin()), flush=True)
sys.stdin.readline()  # holds the upload open until told
"""


def test_a_rerun_keeps_the_upload_of_a_unifs_process_still_running(dest, tmp_path):
    """Another unifs process copying into the same prefix keeps its upload; once that
    process is gone, the next sync takes it."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, dest.root + "held.bin", json.dumps(dest.options)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        held = holder.stdout.readline().strip()
        assert dest.unfinished() == {("held.bin", held)}, holder.stderr
        (tmp_path / "up").mkdir()
        (tmp_path / "up" / "small.bin").write_bytes(b"small")
        unifs.sync(tmp_path / "up", dest.root, callback=False, **dest.options)
        assert dest.unfinished() == {("held.bin", held)}  # its process still runs
    finally:
        holder.kill()
        holder.communicate(timeout=60)
    (tmp_path / "up" / "small.bin").write_bytes(b"changed")
    unifs.sync(tmp_path / "up", dest.root, callback=False, **dest.options)
    assert dest.unfinished() == set()
    assert ledger.entries() == []
