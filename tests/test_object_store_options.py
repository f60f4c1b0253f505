"""One auth block for the Rust tools: polars (object_store) on the local servers."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import polars as pl
import pytest

import unifs
from unifs.filesystem import resolve
from unifs.testing.servers import AZURITE_ACCOUNT_KEY, AZURITE_ACCOUNT_NAME, LocalServer

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


def test_polars_reads_parquet_on_gcs(gcs_server: LocalServer) -> None:
    # fake-gcs-server does not take object_store's XML-API uploads, so polars only reads here
    uri = f"gs://{_bucket(gcs_server)}/{uuid.uuid4().hex}/frame.parquet"
    auth = {"auth": "anonymous", "endpoint": gcs_server.endpoint}
    buffer = io.BytesIO()
    FRAME.write_parquet(buffer)
    fs, path = unifs.url_to_fs(uri, auth=auth)
    fs.pipe_file(path, buffer.getvalue())
    options = unifs.storage_options(uri, auth, target="object_store")
    assert all(isinstance(v, str) for v in options.values())
    assert pl.read_parquet(f"gs://{path}", storage_options=options).equals(FRAME)
    assert pl.scan_parquet(f"gs://{path}", storage_options=options).select("x").sum().collect()[
        "x"
    ].to_list() == [4.5]


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
