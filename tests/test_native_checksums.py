"""Issue 24 item 1: every file verified against the cheapest strong checksum its store keeps.

Objects written by each store's own SDK (boto3's default CRC64NVME, the OCI SDK's CRC32C)
and by unifs are verified against that checksum, and the report says which; a flipped byte
in transit or at rest is caught; an object with only an MD5 is still verified by MD5.
"""

from __future__ import annotations

import base64
import os
import uuid
import zlib
from typing import Any

import google_crc32c
import pytest

import unifs
from unifs.testing.faults import Fault, FaultProxy, route_through

MiB = 2**20


def _b64crc32c(data: bytes) -> str:
    return base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()


# -- OCI: the server keeps and answers the additional CRC32C -------------------------------


def _fresh_bucket(server: Any) -> str:
    name = f"crc-{uuid.uuid4().hex[:12]}"
    server.make_bucket(name)
    return name


@pytest.fixture
def oci_bucket(oci_server: Any) -> str:
    return _fresh_bucket(oci_server)


def _put_crc32c(client: Any, server: Any, bucket: str, name: str, data: bytes) -> Any:
    """PutObject through the OCI SDK with its additional CRC32C."""
    return client.put_object(
        server.namespace, bucket, name, data,
        opc_checksum_algorithm="CRC32C", opc_content_crc32c=_b64crc32c(data),
    )  # fmt: skip


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
    put = _put_crc32c(oci_client, oci_server, oci_bucket, "a.bin", data)
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
    _put_crc32c(oci_client, oci_server, oci_bucket, "m.bin", data)
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
    _put_crc32c(oci_client, oci_server, oci_bucket, "t.bin", data)
    faults = [Fault("corrupt", method="GET", path="t.bin", times=None)]
    with FaultProxy(oci_server.endpoint, faults=faults) as proxy:
        options = route_through(oci_server.storage_options, oci_server.endpoint, proxy.endpoint)
        with pytest.raises(unifs.TransferError) as failed:
            unifs.get(oci_server.uri(oci_bucket, "t.bin"), tmp_path / "t.bin", retries=0, **options)
    assert "crc32c mismatch" in failed.value.report.failed["t.bin"]
    assert not (tmp_path / "t.bin").exists()


def test_oci_a_flipped_byte_at_rest_is_caught(oci_server, oci_client, oci_bucket, tmp_path):
    data = os.urandom(200_000)
    _put_crc32c(oci_client, oci_server, oci_bucket, "r.bin", data)
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


# -- S3: the additional checksums HEAD answers with x-amz-checksum-mode: ENABLED ----------


@pytest.fixture
def s3_bucket(s3_server: Any) -> str:
    return _fresh_bucket(s3_server)


@pytest.fixture
def s3_client(s3_server: Any) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint,
        aws_access_key_id=s3_server.storage_options["key"],
        aws_secret_access_key=s3_server.storage_options["secret"],
        region_name="us-east-1",
    )


BIG = 9 * MiB  # past the size where a HEAD for the CRC is worth it over the ETag's MD5


def _has_crt() -> bool:
    try:
        from awscrt import checksums

        return hasattr(checksums, "crc64nvme")
    except ImportError:
        return False


def test_boto3_default_checksum_is_what_a_get_verifies(s3_server, s3_client, s3_bucket, tmp_path):
    """boto3 writes its default additional checksum (CRC64NVME with awscrt, else CRC32)."""
    data = os.urandom(BIG)
    s3_client.put_object(Bucket=s3_bucket, Key="b.bin", Body=data)
    head = s3_client.head_object(Bucket=s3_bucket, Key="b.bin", ChecksumMode="ENABLED")
    default = "crc64nvme" if "ChecksumCRC64NVME" in head else "crc32"
    assert default == "crc64nvme" or "ChecksumCRC32" in head
    uri = f"s3://{s3_bucket}/b.bin"
    report = unifs.get(uri, tmp_path / "b.bin", **s3_server.storage_options)
    assert (tmp_path / "b.bin").read_bytes() == data
    assert report.verified_against == {
        "b.bin": default if _has_crt() or default == "crc32" else "md5"
    }


def _s3_checksum(client: Any, algorithm: str, data: bytes) -> dict[str, str]:
    """The put_object argument that sends ``algorithm``'s value, computed here (botocore
    computes CRC32C and CRC64NVME only with awscrt), and the algorithm header it would send."""

    def name_it(request: Any, **_: Any) -> None:
        request.headers["x-amz-sdk-checksum-algorithm"] = algorithm

    client.meta.events.register("before-sign.s3.PutObject", name_it)
    if algorithm == "CRC32":
        value = zlib.crc32(data).to_bytes(4, "big")
    elif algorithm == "CRC32C":
        value = google_crc32c.value(data).to_bytes(4, "big")
    else:
        from awscrt import checksums

        value = checksums.crc64nvme(data).to_bytes(8, "big")
    return {f"Checksum{algorithm}": base64.b64encode(value).decode()}


@pytest.mark.parametrize("algorithm", ["CRC32C", "CRC32", "CRC64NVME"])
def test_s3_full_object_crc_is_verified(s3_server, s3_client, s3_bucket, tmp_path, algorithm):
    if algorithm == "CRC64NVME" and not _has_crt():
        pytest.skip("awscrt is not installed: nothing here computes CRC64NVME natively")
    data = os.urandom(BIG)
    s3_client.put_object(
        Bucket=s3_bucket, Key="c.bin", Body=data, **_s3_checksum(s3_client, algorithm, data)
    )
    head = s3_client.head_object(Bucket=s3_bucket, Key="c.bin", ChecksumMode="ENABLED")
    assert f"Checksum{algorithm}" in head
    report = unifs.get(f"s3://{s3_bucket}/c.bin", tmp_path / "c.bin", **s3_server.storage_options)
    assert report.verified_against == {"c.bin": algorithm.lower()}


def test_s3_a_flipped_byte_in_transit_fails_the_crc(s3_server, s3_client, s3_bucket, tmp_path):
    data = os.urandom(BIG)
    s3_client.put_object(
        Bucket=s3_bucket, Key="t.bin", Body=data, **_s3_checksum(s3_client, "CRC32C", data)
    )
    faults = [Fault("corrupt", method="GET", path="t.bin", times=None)]
    with FaultProxy(s3_server.endpoint, faults=faults) as proxy:
        options = route_through(s3_server.storage_options, s3_server.endpoint, proxy.endpoint)
        with pytest.raises(unifs.TransferError) as failed:
            unifs.get(f"s3://{s3_bucket}/t.bin", tmp_path / "t.bin", retries=0, **options)
    assert "crc32c mismatch" in failed.value.report.failed["t.bin"]
    assert not (tmp_path / "t.bin").exists()


def test_s3_small_objects_keep_the_etag_md5(s3_server, s3_client, s3_bucket, tmp_path):
    """Below the size where it pays, no HEAD is made: the listing's MD5 verifies the file."""
    s3_client.put_object(Bucket=s3_bucket, Key="s/a.bin", Body=b"a" * 1000)
    report = unifs.get(f"s3://{s3_bucket}/s/", tmp_path, **s3_server.storage_options)
    assert report.verified_against == {"a.bin": "md5"}


def test_oci_listed_objects_are_verified_against_their_crc32c(
    oci_server, oci_client, oci_bucket, tmp_path
):
    """A listing carries only the MD5: a large object's CRC32C is asked of one HEAD."""
    big, small = os.urandom(9 * MiB), os.urandom(1000)
    for name, data in (("d/big.bin", big), ("d/small.bin", small)):
        _put_crc32c(oci_client, oci_server, oci_bucket, name, data)
    uri = oci_server.uri(oci_bucket, "d/")
    report = unifs.get(uri, tmp_path, **oci_server.storage_options)
    assert (tmp_path / "big.bin").read_bytes() == big
    assert report.verified_against == {"big.bin": "crc32c", "small.bin": "md5"}


def test_get_json_says_what_each_file_was_verified_against(
    s3_server, s3_client, s3_bucket, tmp_path, capsys
):
    import json

    from unifs.cli import main

    data = os.urandom(BIG)
    s3_client.put_object(
        Bucket=s3_bucket, Key="j/c.bin", Body=data, **_s3_checksum(s3_client, "CRC32C", data)
    )
    s3_client.put_object(Bucket=s3_bucket, Key="j/s.bin", Body=b"small")
    opts = [arg for name, value in s3_server.storage_options.items()
            for arg in ("-o", f"{name}={json.dumps(value)}")]  # fmt: skip
    assert main(["get", f"s3://{s3_bucket}/j/", str(tmp_path / "out"), "--json", *opts]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["verified_against"] == {"c.bin": "crc32c", "s.bin": "md5"}


# -- bit rot at rest, on every store -------------------------------------------------------


@pytest.fixture(scope="module")
def gcs_on_disk(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """fake-gcs-server keeping its objects as files, so that a test can rot one."""
    from unifs.testing.servers import start_gcs

    with start_gcs(data_dir=str(tmp_path_factory.mktemp("gcs-data"))) as server:
        yield server


@pytest.fixture(scope="module")
def azure_on_disk(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Azurite keeping its blobs on disk, so that a test can rot one."""
    from unifs.testing.servers import start_azure

    with start_azure(data_dir=str(tmp_path_factory.mktemp("azure-data"))) as server:
        yield server


@pytest.mark.parametrize("size", [200_000, 9 * MiB + 5], ids=["one-request", "parts"])
@pytest.mark.parametrize("backend", ["s3", "gcs", "azure", "oci"])
def test_a_flipped_byte_at_rest_is_caught_on_every_store(
    backend: str, size: int, request: pytest.FixtureRequest, tmp_path: Any
) -> None:
    """An object unifs wrote, rotted in the store's own storage (its checksums kept): the get
    fails that file, names the mismatch, and leaves nothing at the final path."""
    server = request.getfixturevalue(
        {"gcs": "gcs_on_disk", "azure": "azure_on_disk"}.get(backend, f"{backend}_server")
    )
    bucket = _fresh_bucket(server)
    data = os.urandom(size)
    (tmp_path / "w.bin").write_bytes(data)
    uri = server.uri(bucket, "at-rest/w.bin")
    unifs.put(tmp_path / "w.bin", uri, **server.storage_options)
    good = unifs.get(uri, tmp_path / "good.bin", part_size=4 * MiB, **server.storage_options)
    assert (tmp_path / "good.bin").read_bytes() == data and good.verified_against
    if backend == "oci":
        server.oci_server.rot(bucket, "at-rest/w.bin", size // 3)
    else:
        server.rot(bucket, "at-rest/w.bin", size // 3)
    with pytest.raises(unifs.TransferError) as failed:
        unifs.get(uri, tmp_path / "out.bin", part_size=4 * MiB, retries=0, **server.storage_options)
    assert "mismatch" in failed.value.report.failed["w.bin"], failed.value.report.failed
    assert not (tmp_path / "out.bin").exists()
