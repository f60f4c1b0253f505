"""Uploads from local disk in parts (issue 25 item 3, issue 22, issue 24).

A file larger than one part goes out as the numbered parts of one upload where the store
has them (S3 and OCI multipart uploads, Azure staged blocks): each part read from disk,
hashed on the way and retried on its own, progress moving as each part lands, the upload
thrown away on any failure. S3 objects unifs writes carry a full-object CRC64NVME, which
a later read verifies at CRC cost. Requests pass through
:class:`unifs.testing.faults.FaultProxy`, which counts them and fails chosen ones.
"""

from __future__ import annotations

import base64
import os
import re
from collections import Counter
from typing import Any

import pytest
from fsspec.callbacks import Callback
from test_parts import _root, _routed, _unfinished

import unifs
from unifs.testing.faults import Fault, FaultProxy
from unifs.transfer import RetryPolicy

pytestmark = pytest.mark.timeout(180)

MiB = 2**20
PART = 5 * MiB
# enough attempts that a part answered 500 three times in ten still lands
LENIENT = RetryPolicy(attempts=8, base_delay=0.01, max_delay=0.05)
QUICK = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)
# how each store's requests spell "part n" (Azure: a staged block, its id in the query)
PART_QUERY = {
    "s3": r"[?&]partNumber=(\d+)",
    "oci": r"[?&]uploadPartNum=(\d+)",
    "azure": r"[?&]comp=block(?:&|$)",
}
PART_FAULT = {
    "s3": r"[?&]partNumber=\d+",
    "oci": r"[?&]uploadPartNum=\d+",
    "azure": r"[?&]comp=block(&|$)",
}


def _part_of(backend: str, target: str) -> str | None:
    """Which part a PUT sent: its number (S3, OCI) or its block id (Azure)."""
    if backend == "azure":
        if not re.search(PART_QUERY["azure"], target):
            return None
        found = re.search(r"[?&]blockid=([^&]+)", target)
        return found.group(1) if found else None
    found = re.search(PART_QUERY[backend], target)
    return found.group(1) if found else None


def _open_uploads(backend: str, server: Any, root: str, name: str) -> list[str]:
    """The unfinished uploads to ``name`` (S3, OCI). Azure has none to list or cancel: its
    staged blocks are no upload of their own, and the service drops uncommitted ones after
    a week (no call removes them without committing or deleting the blob)."""
    if backend == "azure":
        return []
    return _unfinished(backend, server, root, name)


@pytest.mark.parametrize("backend", ["s3", "oci", "azure"])
def test_a_third_of_parts_failing_resends_only_the_failed_parts(request, tmp_path, backend):
    """~30 % of part PUTs answered 500: the file lands, and only failed parts go again."""
    server, root = _root(request, backend)
    data = os.urandom(8 * PART + 1234)  # nine parts
    (tmp_path / "big.bin").write_bytes(data)
    with FaultProxy(server.endpoint, seed=7) as proxy:
        fault = Fault(status=500, method="PUT", path=PART_FAULT[backend], rate=0.3, times=None)
        proxy.faults.append(fault)
        report = unifs.put(
            str(tmp_path / "big.bin"), root + "big.bin", part_size=PART, retries=LENIENT,
            callback=False, **_routed(server, backend, proxy),
        )  # fmt: skip
        sent = [
            (part, seen.fault)
            for seen in proxy.requests("PUT")
            if (part := _part_of(backend, seen.target)) is not None
        ]
    fs, path = unifs.url_to_fs(root + "big.bin", **server.storage_options)
    assert fs.cat_file(path) == data
    assert report.transferred == ["big.bin"] and not report.failed
    assert fault.hits >= 1, "the proxy failed no part: nothing was tested"
    tries = Counter(part for part, _ in sent)
    failures = Counter(part for part, fault in sent if fault)
    assert len(tries) == 9, f"{len(tries)} distinct parts sent, the file has 9"
    for part, count in tries.items():
        # a part is sent once more for each time it failed, never again for another's failure
        assert count == failures[part] + 1, (part, count, failures[part])
    assert _open_uploads(backend, server, root, "big.bin") == []


@pytest.mark.parametrize("backend", ["s3", "oci", "azure"])
def test_a_part_that_keeps_failing_ends_within_its_attempts_and_leaves_no_upload(
    request, tmp_path, backend
):
    server, root = _root(request, backend)
    (tmp_path / "big.bin").write_bytes(os.urandom(3 * PART + 17))
    with FaultProxy(server.endpoint) as proxy:
        routed = _routed(server, backend, proxy)
        # part 3 (Azure: the third block staged) fails on every try
        if backend == "azure":
            fault = Fault(status=500, method="PUT", path=PART_FAULT["azure"], skip=2, times=None)
        else:
            pattern = PART_FAULT[backend].replace(r"\d+", "3") + "(&|$)"
            fault = Fault(status=500, method="PUT", path=pattern, times=None)
        proxy.faults.append(fault)
        with pytest.raises(unifs.TransferError) as failed:
            unifs.put(
                str(tmp_path / "big.bin"), root + "big.bin", part_size=PART, retries=QUICK,
                callback=False, concurrency=2, **routed,
            )  # fmt: skip
        sent = [s for s in proxy.requests("PUT") if _part_of(backend, s.target) is not None]
    assert list(failed.value.report.failed) == ["big.bin"]
    assert "part" in failed.value.report.failed["big.bin"]
    # the part's own attempts, not attempts x attempts (a whole-file retry sends it again)
    assert fault.hits == QUICK.attempts, f"{fault.hits} tries of the failing part"
    assert len(sent) <= 3 + QUICK.attempts, f"{len(sent)} part PUTs for a 4-part file"
    fs, path = unifs.url_to_fs(root + "big.bin", **server.storage_options)
    assert not fs.exists(path)
    assert _open_uploads(backend, server, root, "big.bin") == []


class _Updates(Callback):
    """Counts the byte-progress updates a transfer makes."""

    def __init__(self) -> None:
        super().__init__()
        self.updates: list[int] = []

    def relative_update(self, inc: int = 1) -> None:
        self.updates.append(inc)
        super().relative_update(inc)


@pytest.mark.parametrize("backend", ["s3", "oci", "azure"])
def test_one_large_put_moves_the_progress_as_each_part_lands(request, tmp_path, backend):
    server, root = _root(request, backend)
    data = os.urandom(4 * PART + 3)
    (tmp_path / "big.bin").write_bytes(data)
    progress = _Updates()
    report = unifs.put(
        str(tmp_path / "big.bin"), root + "big.bin", part_size=PART, callback=progress,
        **server.storage_options,
    )  # fmt: skip
    assert sum(progress.updates) == len(data)
    assert len(progress.updates) == 5, f"progress moved {len(progress.updates)} time(s)"
    # sent in parts, still verified against a checksum the store keeps of the whole object
    # (Azure: the Content-MD5 set on the block-list commit)
    assert report.verified_against == {"big.bin": VERIFIED_BY[backend]}


VERIFIED_BY = {"s3": "crc64nvme", "oci": "crc32c", "azure": "md5"}


# -- S3: unifs's own uploads carry a full-object CRC64NVME (issue 24) ----------------------


def _crc64nvme_b64(data: bytes) -> str:
    from awscrt import checksums

    return base64.b64encode(checksums.crc64nvme(data).to_bytes(8, "big")).decode()


def _s3_head(server: Any, root: str, name: str) -> dict[str, Any]:
    import boto3

    fs, path = unifs.url_to_fs(root + name, **server.storage_options)
    bucket, key, _ = fs.split_path(path)
    client = boto3.client(
        "s3", endpoint_url=server.endpoint, region_name="us-east-1",
        aws_access_key_id=server.storage_options["key"],
        aws_secret_access_key=server.storage_options["secret"],
    )  # fmt: skip
    return client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")


def _full_object(multipart: bool) -> str | None:
    """The ChecksumType moto answers: a single PUT's checksum is of the whole object by its
    nature, and moto leaves its type out (AWS says FULL_OBJECT)."""
    return "FULL_OBJECT" if multipart else None


@pytest.mark.parametrize(
    ("size", "part_size"), [(9 * MiB + 5, 16 * MiB), (3 * PART + 5, PART)], ids=["single", "parts"]
)
def test_s3_put_writes_a_full_object_crc64nvme_that_get_verifies(
    request, tmp_path, size, part_size
):
    server, root = _root(request, "s3")
    data = os.urandom(size)
    (tmp_path / "up.bin").write_bytes(data)
    put = unifs.put(
        str(tmp_path / "up.bin"), root + "up.bin", part_size=part_size, callback=False,
        **server.storage_options,
    )  # fmt: skip
    head = _s3_head(server, root, "up.bin")
    # computed here, not taken from the store: moto keeps a single PUT's value unchecked
    assert head.get("ChecksumCRC64NVME") == _crc64nvme_b64(data), head
    assert head.get("ChecksumType") == _full_object(size > part_size)
    assert put.verified_against == {"up.bin": "crc64nvme"}
    got = unifs.get(root + "up.bin", tmp_path / "down.bin", **server.storage_options)
    assert (tmp_path / "down.bin").read_bytes() == data
    assert got.verified_against == {"up.bin": "crc64nvme"}


def test_s3_copy_writes_a_full_object_crc64nvme(request, tmp_path):
    """Streamed cloud-to-cloud copies into S3, one request and in parts, send it too."""
    gcs, src = _root(request, "gcs")
    server, dst = _root(request, "s3")
    files = {"one.bin": os.urandom(2 * MiB + 1), "parts.bin": os.urandom(2 * PART + 9)}
    fs, path = unifs.url_to_fs(src, **gcs.storage_options)
    for name, data in files.items():
        fs.pipe_file(path + name, data)
    unifs.copy(
        src, dst, dst_options=dict(server.storage_options), part_size=PART, callback=False,
        **gcs.storage_options,
    )  # fmt: skip
    for name, data in files.items():
        head = _s3_head(server, dst, name)
        assert head.get("ChecksumCRC64NVME") == _crc64nvme_b64(data), (name, head)
        assert head.get("ChecksumType") == _full_object(len(data) > PART), name


def test_a_copy_into_azure_in_blocks_keeps_a_content_md5(request):
    """Blocks committed with the MD5 hashed on the way: the copy is checked at the far end."""
    gcs, src = _root(request, "gcs")
    server, dst = _root(request, "azure")
    data = os.urandom(2 * PART + 9)
    fs, path = unifs.url_to_fs(src, **gcs.storage_options)
    fs.pipe_file(path + "big.bin", data)
    report = unifs.copy(
        src, dst, dst_options=dict(server.storage_options), part_size=PART, callback=False,
        **gcs.storage_options,
    )  # fmt: skip
    dfs, dpath = unifs.url_to_fs(dst + "big.bin", **server.storage_options)
    assert dfs.cat_file(dpath) == data
    assert report.verified_against == {"big.bin": "md5"}
    assert "big.bin" not in report.unverified
