"""One auth block for the Rust tools: polars (object_store) on the local servers."""

from __future__ import annotations

import hashlib
import io
import json
import os
import uuid
from typing import Any

import numpy as np
import polars as pl
import pytest

import unifs
from unifs.filesystem import resolve
from unifs.testing.servers import (
    AZURITE_ACCOUNT_KEY,
    AZURITE_ACCOUNT_NAME,
    GCSLocalServer,
    LocalServer,
)

MiB = 1 << 20

FRAME = pl.DataFrame({"id": [1, 2, 3], "name": ["a", "b", "c"], "x": [0.5, 1.5, 2.5]})


def _bucket(server: LocalServer, made: set[str] = set()) -> str:  # noqa: B006 - per session
    name = "polars-suite"
    if (server.provider, name) not in made:
        server.make_bucket(name)
        made.add((server.provider, name))
    return name


def _s3_auth(server: LocalServer) -> dict[str, Any]:
    return {
        "auth": "access_key",
        "access_key_id": server.storage_options["key"],
        "secret_access_key": server.storage_options["secret"],
        "endpoint": server.endpoint,
    }


def _azure_auth(server: LocalServer) -> dict[str, Any]:
    return {
        "auth": "account_key",
        "account_name": AZURITE_ACCOUNT_NAME,
        "account_key": AZURITE_ACCOUNT_KEY,
        "endpoint": server.endpoint,
    }


def _roundtrip(uri: str, auth: dict[str, Any]) -> None:
    options = unifs.storage_options(uri, auth, target="object_store")
    assert all(isinstance(v, str) for v in options.values()), options
    url = resolve(uri, auth=auth).url
    FRAME.write_parquet(url, storage_options=options)
    assert pl.read_parquet(url, storage_options=options).equals(FRAME)
    # and the bytes polars wrote are what fsspec reads through unifs
    with unifs.open(uri, auth=auth) as f:
        assert pl.read_parquet(f).equals(FRAME)


def test_polars_writes_and_reads_parquet_on_s3(s3_server: LocalServer) -> None:
    uri = f"s3://{_bucket(s3_server)}/{uuid.uuid4().hex}/frame.parquet"
    _roundtrip(uri, _s3_auth(s3_server))


def test_polars_writes_and_reads_parquet_on_azure(azure_server: LocalServer) -> None:
    uri = f"az://{_bucket(azure_server)}/{uuid.uuid4().hex}/frame.parquet"
    _roundtrip(uri, _azure_auth(azure_server))


def _gcs_auth(server: GCSLocalServer) -> dict[str, Any]:
    # object_store writes through GCS's XML API, which fake-gcs-server does not take: its
    # endpoint for these tools is the XML adapter in front of it (unifs.testing.gcs_xml)
    return {"auth": "anonymous", "endpoint": server.xml_endpoint}


def _operations(server: GCSLocalServer, key: str) -> list[str]:
    assert server._xml is not None
    return [h.operation for h in server._xml.handled if h.key == key]


def test_polars_writes_and_reads_parquet_on_gcs(gcs_server: GCSLocalServer) -> None:
    key = f"{uuid.uuid4().hex}/frame.parquet"
    uri = f"gs://{_bucket(gcs_server)}/{key}"
    _roundtrip(uri, _gcs_auth(gcs_server))
    assert _operations(gcs_server, key)[0] == "put"  # a small frame is one simple upload
    options = unifs.storage_options(uri, _gcs_auth(gcs_server), target="object_store")
    assert pl.scan_parquet(uri, storage_options=options).select("x").sum().collect()[
        "x"
    ].to_list() == [4.5]
    # the bytes live in fake-gcs-server itself, read here without the adapter
    with unifs.open(uri, auth={"auth": "anonymous", "endpoint": gcs_server.endpoint}) as f:
        assert pl.read_parquet(f).equals(FRAME)


def test_polars_large_parquet_goes_up_in_parts_byte_exact_on_gcs(
    gcs_server: GCSLocalServer,
) -> None:
    # ~74 MiB of parquet: past polars' 32 MiB upload chunk, so object_store's XML multipart
    rng = np.random.default_rng(7)
    frame = pl.DataFrame({"r": rng.integers(0, 2**62, size=5_000_000), "f": rng.random(5_000_000)})
    expected = io.BytesIO()
    frame.write_parquet(expected)
    key = f"{uuid.uuid4().hex}/large.parquet"
    uri = f"gs://{_bucket(gcs_server)}/{key}"
    options = unifs.storage_options(uri, _gcs_auth(gcs_server), target="object_store")
    assert gcs_server._xml is not None
    unfinished = gcs_server._xml.uploads_in_progress
    frame.write_parquet(uri, storage_options=options)

    operations = _operations(gcs_server, key)
    assert operations[0] == "initiate" and operations[-1] == "complete", operations
    assert operations.count("part") >= 2, operations
    fs = gcs_server.filesystem()
    stored = fs.cat_file(f"{_bucket(gcs_server)}/{key}")  # gcsfs, straight from the server
    assert hashlib.sha256(stored).digest() == hashlib.sha256(expected.getvalue()).digest()
    assert pl.read_parquet(uri, storage_options=options).equals(frame)
    assert gcs_server._xml.uploads_in_progress == unfinished  # completed, nothing left over


def test_obstore_puts_copies_and_gets_on_gcs(gcs_server: GCSLocalServer) -> None:
    import obstore
    from obstore.exceptions import AlreadyExistsError
    from obstore.store import from_url

    bucket = _bucket(gcs_server)
    prefix = uuid.uuid4().hex
    options = unifs.storage_options(f"gs://{bucket}/", _gcs_auth(gcs_server), target="obstore")
    # obstore takes allow_http as a client option, not among the store's keys
    assert options["client_options"] == {"allow_http": "true"}
    assert "allow_http" not in options["config"]
    store = from_url(f"gs://{bucket}", **options)

    put = obstore.put(store, f"{prefix}/small.bin", b"hello")
    assert obstore.get(store, f"{prefix}/small.bin").bytes().to_bytes() == b"hello"
    head = obstore.head(store, f"{prefix}/small.bin")
    assert (head["e_tag"], head["version"]) == (put["e_tag"], put["version"])

    data = os.urandom(12 * MiB)  # parts of 5 MiB, 5 MiB and 2 MiB
    obstore.put(store, f"{prefix}/large.bin", data, use_multipart=True, chunk_size=5 * MiB)
    assert _operations(gcs_server, f"{prefix}/large.bin").count("part") == 3
    assert gcs_server.filesystem().cat_file(f"{bucket}/{prefix}/large.bin") == data

    with pytest.raises(AlreadyExistsError):
        obstore.put(store, f"{prefix}/small.bin", b"other", mode="create")
    obstore.copy(store, f"{prefix}/small.bin", f"{prefix}/copy.bin")
    with pytest.raises(AlreadyExistsError):
        obstore.copy(store, f"{prefix}/large.bin", f"{prefix}/copy.bin", overwrite=False)
    assert obstore.get(store, f"{prefix}/copy.bin").bytes().to_bytes() == b"hello"
    listed = sorted(m["path"] for m in obstore.list(store, f"{prefix}/").collect())
    assert listed == [f"{prefix}/{n}" for n in ("copy.bin", "large.bin", "small.bin")]


@pytest.mark.parametrize("server_name", ["s3_server", "azure_server"])
def test_obstore_takes_the_split_options_on_s3_and_azure(
    server_name: str, request: pytest.FixtureRequest
) -> None:
    from obstore import get, put
    from obstore.store import from_url

    server: LocalServer = request.getfixturevalue(server_name)
    scheme, auth = (
        ("s3", _s3_auth(server)) if server_name == "s3_server" else ("az", _azure_auth(server))
    )
    uri = f"{scheme}://{_bucket(server)}/{uuid.uuid4().hex}/blob.bin"
    options = unifs.storage_options(uri, auth, target="obstore")
    assert set(options) == {"config", "client_options"}
    assert options["client_options"] == {"allow_http": "true"}  # the local servers are http
    url = resolve(uri, auth=auth).url
    bucket_url, _, key = url.partition(f"{_bucket(server)}/")
    store = from_url(bucket_url + _bucket(server), **options)
    put(store, key, b"split options")
    assert get(store, key).bytes().to_bytes() == b"split options"
    with unifs.open(uri, auth=auth) as f:  # what obstore wrote is what unifs reads
        assert f.read() == b"split options"


@pytest.mark.parametrize("server_name", ["s3_server", "gcs_server", "azure_server"])
def test_deltalake_writes_appends_and_reads_a_table(
    server_name: str, request: pytest.FixtureRequest
) -> None:
    # deltalake (through polars) commits its log with object_store's conditional writes
    server = request.getfixturevalue(server_name)
    if server_name == "s3_server":
        scheme, auth = "s3", _s3_auth(server)
    elif server_name == "gcs_server":
        scheme, auth = "gs", _gcs_auth(server)
    else:
        scheme, auth = "az", _azure_auth(server)
    uri = f"{scheme}://{_bucket(server)}/{uuid.uuid4().hex}/table"
    options = unifs.storage_options(uri, auth, target="object_store")
    url = resolve(uri, auth=auth).url
    FRAME.write_delta(url, storage_options=options)
    FRAME.write_delta(url, storage_options=options, mode="append")
    back = pl.read_delta(url, storage_options=options)
    assert back.sort("id").equals(pl.concat([FRAME, FRAME]).sort("id"))
    # two commits in the log, written where unifs lists them
    fs, path = unifs.url_to_fs(uri, auth=auth)
    logs = sorted(p.rsplit("/", 1)[-1] for p in fs.ls(f"{path}/_delta_log", detail=False))
    assert [name for name in logs if name.endswith(".json")] == [
        "00000000000000000000.json",
        "00000000000000000001.json",
    ]


def test_oci_customer_secret_key_goes_through_the_s3_route(s3_server: LocalServer) -> None:
    # moto stands in for {namespace}.compat.objectstorage.{region}.oraclecloud.com
    uri = f"oci://n/acme/b/{_bucket(s3_server)}/o/{uuid.uuid4().hex}/frame.parquet"
    auth = {
        "auth": "customer_secret_key",
        "access_key_id": s3_server.storage_options["key"],
        "secret_access_key": s3_server.storage_options["secret"],
        "region": "us-ashburn-1",
        "endpoint": s3_server.endpoint,
    }
    options = unifs.storage_options(uri, auth, target="object_store")
    assert options["aws_region"] == "us-ashburn-1"
    assert options["aws_virtual_hosted_style_request"] == "false"
    assert resolve(uri, auth=auth).url.startswith("s3://polars-suite/")
    _roundtrip(uri, auth)


def test_oci_without_customer_secret_key_is_a_clear_error() -> None:
    with pytest.raises(unifs.UnsupportedError, match="customer_secret_key"):
        unifs.storage_options(
            "oci://n/acme/b/models/o/x.parquet",
            {"auth": "instance_principal", "region": "us-ashburn-1"},
            target="object_store",
        )


def test_mapping_by_auth_mode() -> None:
    anon = unifs.storage_options(
        "s3://bkt/k", {"auth": "anonymous", "region": "eu-west-1"}, target="object_store"
    )
    assert anon == {"aws_skip_signature": "true", "aws_region": "eu-west-1"}
    sas = unifs.storage_options(
        "az://ctr/k",
        {"auth": "sas_token", "account_name": "acct", "sas_token": "?sv=1&sig=s"},
        target="object_store",
    )
    assert sas == {"azure_storage_account_name": "acct", "azure_storage_sas_key": "sv=1&sig=s"}
    sp = unifs.storage_options(
        "az://ctr/k",
        {
            "auth": "service_principal",
            "account_name": "acct",
            "tenant_id": "t",
            "client_id": "c",
            "client_secret": "s",
        },
        target="object_store",
    )
    assert sp["azure_storage_client_secret"] == "s" and sp["azure_storage_tenant_id"] == "t"
    key = {"type": "service_account", "client_email": "x@y", "private_key": "k"}
    gcs = unifs.storage_options(
        "gs://bkt/k", {"auth": "service_account", "key_json": key}, target="object_store"
    )
    assert json.loads(gcs["google_service_account_key"]) == key
    with pytest.raises(ValueError, match="object_store"):
        unifs.storage_options("s3://bkt/k", target="polars")
