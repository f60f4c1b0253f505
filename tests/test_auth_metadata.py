"""Auth modes that need a metadata or token service, through unifs's mapping, against the
local stand-ins of unifs.testing.metadata reached via each SDK's documented override."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

import unifs
from unifs.auth import storage_options
from unifs.testing.metadata import (
    AWSMetadataServer,
    AzureManagedIdentityServer,
    GCEMetadataServer,
    MetadataServer,
    OCIMetadataServer,
    reload_google_auth_metadata,
)


def _point_at(monkeypatch: pytest.MonkeyPatch, server: MetadataServer) -> None:
    for name in server.unset_env():
        monkeypatch.delenv(name, raising=False)
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)


def test_s3_iam_role_from_imds(s3_server, monkeypatch):
    with AWSMetadataServer(
        access_key_id="ASIAFROMIMDS",
        secret_access_key="imds-secret",
        token="imds-token",
        role="loader",
        region="us-east-1",
    ) as imds:
        _point_at(monkeypatch, imds)
        endpoint = s3_server.storage_options["endpoint_url"]
        s3_server.make_bucket("auth-imds")
        fs, path = unifs.url_to_fs(
            "s3://auth-imds/k",
            auth={"auth": "iam_role", "endpoint": endpoint},
            skip_instance_cache=True,
        )
        fs.pipe_file(path, b"role")
        assert fs.cat_file(path) == b"role"
        routes = [r.route for r in imds.requests]
        assert "/latest/api/token" in routes
        assert "/latest/meta-data/iam/security-credentials/loader" in routes


@pytest.fixture
def gce(monkeypatch) -> Iterator[GCEMetadataServer]:
    with GCEMetadataServer(access_token="ya29.from-metadata", project_id="unifs-testing") as server:
        _point_at(monkeypatch, server)
        reload_google_auth_metadata()  # google-auth reads GCE_METADATA_HOST once, at import
        yield server
    monkeypatch.undo()
    reload_google_auth_metadata()


@pytest.mark.parametrize("mode", ["application_default", "workload_identity"])
def test_gcs_default_credentials_from_the_metadata_server(gcs_server, gce, mode):
    endpoint = gcs_server.storage_options["endpoint_url"]
    gcs_server.make_bucket(f"auth-{mode.replace('_', '-')}")
    fs, path = unifs.url_to_fs(
        f"gs://auth-{mode.replace('_', '-')}/k",
        auth={"auth": mode, "endpoint": endpoint},
        skip_instance_cache=True,
    )
    fs.pipe_file(path, b"metadata")
    assert fs.cat_file(path) == b"metadata"
    assert any(r.route.endswith("/service-accounts/default/token") for r in gce.requests)


def test_azure_managed_identity_from_the_identity_endpoint(monkeypatch):
    with AzureManagedIdentityServer(
        access_token="system-token", user_assigned={"cid-1": "user-token"}
    ) as server:
        _point_at(monkeypatch, server)
        scope = "https://storage.azure.com/.default"
        system = storage_options(
            "az://c12/k", {"auth": "managed_identity", "account_name": "acct1"}
        )
        assert system["credential"].get_token(scope).token == "system-token"
        user = storage_options(
            "az://c12/k",
            {"auth": "managed_identity", "account_name": "acct1", "client_id": "cid-1"},
        )
        assert user["credential"].get_token(scope).token == "user-token"
        assert any("client_id=cid-1" in r.path for r in server.requests)


def test_oci_instance_principal_from_metadata_and_federation(monkeypatch):
    with OCIMetadataServer(region="us-ashburn-1") as server:
        _point_at(monkeypatch, server)
        options = storage_options(
            "oci://models@acme/k",
            {"auth": "instance_principal", **server.signer_kwargs()},
        )
        assert options["config"] == {"region": "us-ashburn-1"}
        request = requests.Request("GET", "https://objectstorage.example/n/acme").prepare()
        options["signer"](request)
        assert f'keyId="ST${server.tokens[-1]}"' in request.headers["authorization"]
