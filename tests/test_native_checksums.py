"""Issue 24 item 1: every file verified against the cheapest strong checksum its store keeps.

Objects written by each store's own SDK (boto3's default CRC64NVME, the OCI SDK's CRC32C)
and by unifs are verified against that checksum, and the report says which; a flipped byte
in transit or at rest is caught; an object with only an MD5 is still verified by MD5.
"""

from __future__ import annotations

import base64
import os
import uuid
from typing import Any

import google_crc32c
import pytest

import unifs
from unifs.testing.faults import Fault, FaultProxy, route_through

MiB = 2**20


def _b64crc32c(data: bytes) -> str:
    return base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()


# -- OCI: the server keeps and answers the additional CRC32C -------------------------------


@pytest.fixture
def oci_bucket(oci_server: Any) -> str:
    name = f"crc-{uuid.uuid4().hex[:12]}"
    oci_server.make_bucket(name)
    return name


@pytest.fixture
def oci_client(oci_server: Any) -> Any:
    import oci

    return oci.object_storage.ObjectStorageClient(
        oci_server.identity.config(),
        service_endpoint=oci_server.endpoint,
        retry_strategy=oci.retry.NoneRetryStrategy(),
    )


def test_oci_sdk_crc32c_put_is_kept_and_answered_on_head(oci_server, oci_client, oci_bucket):
    data = os.urandom(100_000)
    put = oci_client.put_object(
        oci_server.namespace,
        oci_bucket,
        "a.bin",
        data,
        opc_checksum_algorithm="CRC32C",
        opc_content_crc32c=_b64crc32c(data),
    )
    assert put.headers["opc-content-crc32c"] == _b64crc32c(data)
    head = oci_client.head_object(oci_server.namespace, oci_bucket, "a.bin")
    assert head.headers["opc-content-crc32c"] == _b64crc32c(data)


def test_oci_server_refuses_a_wrong_crc32c_on_put(oci_server, oci_client, oci_bucket):
    import oci

    data = os.urandom(1000)
    with pytest.raises(oci.exceptions.ServiceError) as refused:
        oci_client.put_object(
            oci_server.namespace,
            oci_bucket,
            "bad.bin",
            data,
            opc_checksum_algorithm="CRC32C",
            opc_content_crc32c=_b64crc32c(data + b"x"),
        )
    assert refused.value.status == 400
    assert refused.value.code == "UnmatchedContentCRC32C"
    # a CRC32C value without the CRC32C algorithm is refused too, as by OCI
    with pytest.raises(oci.exceptions.ServiceError) as refused:
        oci_client.put_object(
            oci_server.namespace, oci_bucket, "bad.bin", data, opc_content_crc32c=_b64crc32c(data)
        )
    assert refused.value.status == 400
    names = oci_client.list_objects(oci_server.namespace, oci_bucket).data.objects
    assert [o.name for o in names] == []


def test_oci_sdk_crc32c_object_is_verified_against_crc32c(
    oci_server, oci_client, oci_bucket, tmp_path
):
    data = os.urandom(3 * MiB + 7)
    oci_client.put_object(
        oci_server.namespace,
        oci_bucket,
        "m.bin",
        data,
        opc_checksum_algorithm="CRC32C",
        opc_content_crc32c=_b64crc32c(data),
    )
    uri = oci_server.uri(oci_bucket, "m.bin")
    report = unifs.get(uri, tmp_path / "m.bin", part_size=MiB, **oci_server.storage_options)
    assert (tmp_path / "m.bin").read_bytes() == data
    assert report.verified_against == {"m.bin": "crc32c"}


def test_oci_md5_only_object_is_still_verified_by_md5(oci_server, oci_client, oci_bucket, tmp_path):
    data = os.urandom(200_000)
    oci_client.put_object(oci_server.namespace, oci_bucket, "old.bin", data)
    head = oci_client.head_object(oci_server.namespace, oci_bucket, "old.bin")
    assert "opc-content-crc32c" not in head.headers
    uri = oci_server.uri(oci_bucket, "old.bin")
    report = unifs.get(uri, tmp_path / "old.bin", **oci_server.storage_options)
    assert report.verified_against == {"old.bin": "md5"}


@pytest.mark.parametrize("size", [100_000, 3 * MiB + 5], ids=["single", "multipart"])
def test_unifs_put_writes_crc32c_and_get_verifies_it(
    oci_server, oci_client, oci_bucket, tmp_path, size
):
    data = os.urandom(size)
    src = tmp_path / "up.bin"
    src.write_bytes(data)
    uri = oci_server.uri(oci_bucket, "up.bin")
    unifs.put(src, uri, part_size=MiB, **oci_server.storage_options)
    head = oci_client.head_object(oci_server.namespace, oci_bucket, "up.bin")
    assert head.headers["opc-content-crc32c"] == _b64crc32c(data)
    report = unifs.get(uri, tmp_path / "down.bin", part_size=MiB, **oci_server.storage_options)
    assert (tmp_path / "down.bin").read_bytes() == data
    assert report.verified_against == {"up.bin": "crc32c"}


def test_oci_a_flipped_byte_in_transit_is_caught(oci_server, oci_client, oci_bucket, tmp_path):
    data = os.urandom(200_000)
    oci_client.put_object(
        oci_server.namespace,
        oci_bucket,
        "t.bin",
        data,
        opc_checksum_algorithm="CRC32C",
        opc_content_crc32c=_b64crc32c(data),
    )
    faults = [Fault("corrupt", method="GET", path="t.bin", times=None)]
    with FaultProxy(oci_server.endpoint, faults=faults) as proxy:
        options = route_through(oci_server.storage_options, oci_server.endpoint, proxy.endpoint)
        with pytest.raises(unifs.TransferError) as failed:
            unifs.get(oci_server.uri(oci_bucket, "t.bin"), tmp_path / "t.bin", retries=0, **options)
    assert "crc32c mismatch" in failed.value.report.failed["t.bin"]
    assert not (tmp_path / "t.bin").exists()


def test_oci_a_flipped_byte_at_rest_is_caught(oci_server, oci_client, oci_bucket, tmp_path):
    data = os.urandom(200_000)
    oci_client.put_object(
        oci_server.namespace,
        oci_bucket,
        "r.bin",
        data,
        opc_checksum_algorithm="CRC32C",
        opc_content_crc32c=_b64crc32c(data),
    )
    oci_server.oci_server.rot(oci_bucket, "r.bin", 1234)
    with pytest.raises(unifs.TransferError) as failed:
        unifs.get(
            oci_server.uri(oci_bucket, "r.bin"),
            tmp_path / "r.bin",
            retries=0,
            **oci_server.storage_options,
        )
    assert "crc32c mismatch" in failed.value.report.failed["r.bin"]
    assert not (tmp_path / "r.bin").exists()
