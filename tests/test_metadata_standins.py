"""Each cloud SDK obtains its metadata-service credentials from unifs's local stand-ins.

The SDKs are pointed at the stand-ins only through their own documented overrides (the
servers' ``env()``); the network guard of ``conftest.py`` fails any test that tries to reach
a real metadata address instead.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from unifs.testing.metadata import (
    AWSMetadataServer,
    AzureManagedIdentityServer,
    GCEMetadataServer,
    MetadataServer,
    OCIMetadataServer,
    RecordedRequest,
    reload_google_auth_metadata,
)

STORAGE_SCOPE = "https://storage.azure.com/.default"


def point_at(monkeypatch: pytest.MonkeyPatch, server: MetadataServer) -> None:
    """Apply a stand-in's environment for this test only."""
    for name in server.unset_env():
        monkeypatch.delenv(name, raising=False)
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)


def http(
    method: str, url: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One plain request to a stand-in, errors returned rather than raised."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, dict(err.headers.items()), err.read()


def routes(server: MetadataServer) -> list[tuple[str, str]]:
    return [(r.method, r.route) for r in server.requests]


# -- common ---------------------------------------------------------------------------------


def test_stand_ins_bind_to_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        AWSMetadataServer(host="0.0.0.0")


def test_environ_applies_env_and_unset_env() -> None:
    with AWSMetadataServer() as imds:
        env = imds.environ({"AWS_ACCESS_KEY_ID": "from-user", "PATH": "/bin"})
        assert "AWS_ACCESS_KEY_ID" not in env
        assert env["PATH"] == "/bin"
        assert env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] == f"{imds.endpoint}/"
    with pytest.raises(RuntimeError, match="not running"):
        _ = imds.endpoint


# -- AWS: IMDSv2 ----------------------------------------------------------------------------


@pytest.fixture
def imds(monkeypatch: pytest.MonkeyPatch) -> Iterator[AWSMetadataServer]:
    server = AWSMetadataServer(
        access_key_id="ASIAUNIFSTESTROLE123",
        secret_access_key="role-secret-from-the-stand-in",
        token="role-session-token-from-the-stand-in",
        role="unifs-reader",
        region="eu-west-3",
    )
    with server:
        point_at(monkeypatch, server)
        yield server


def _assert_imdsv2_sequence(requests: list[RecordedRequest], role: str) -> None:
    put, listing, creds = requests
    assert (put.method, put.path) == ("PUT", "/latest/api/token")
    assert put.headers["x-aws-ec2-metadata-token-ttl-seconds"].isdigit()
    assert (listing.method, listing.path) == ("GET", "/latest/meta-data/iam/security-credentials/")
    assert (creds.method, creds.path) == (
        "GET",
        f"/latest/meta-data/iam/security-credentials/{role}",
    )
    # both GETs carry the session token the PUT handed out (IMDSv2, not v1)
    assert listing.headers["x-aws-ec2-metadata-token"]
    assert creds.headers["x-aws-ec2-metadata-token"] == listing.headers["x-aws-ec2-metadata-token"]


def test_botocore_gets_iam_role_credentials_from_the_stand_in(imds: AWSMetadataServer) -> None:
    import botocore.session

    creds = botocore.session.Session().get_credentials()

    assert creds is not None and creds.method == "iam-role"
    frozen = creds.get_frozen_credentials()
    assert frozen.access_key == "ASIAUNIFSTESTROLE123"
    assert frozen.secret_key == "role-secret-from-the-stand-in"
    assert frozen.token == "role-session-token-from-the-stand-in"
    _assert_imdsv2_sequence(imds.requests, "unifs-reader")


def test_boto3_session_gets_iam_role_credentials(imds: AWSMetadataServer) -> None:
    import boto3

    creds = boto3.Session().get_credentials()

    assert creds is not None and creds.method == "iam-role"
    assert creds.get_frozen_credentials().token == "role-session-token-from-the-stand-in"
    _assert_imdsv2_sequence(imds.requests, "unifs-reader")


def test_aiobotocore_the_sdk_under_s3fs_gets_them_too(imds: AWSMetadataServer) -> None:
    from aiobotocore.session import AioSession

    async def fetch() -> tuple[str, Any]:
        creds = await AioSession().get_credentials()
        assert creds is not None
        return creds.method, await creds.get_frozen_credentials()

    method, frozen = asyncio.run(fetch())

    assert method == "iam-role"
    assert frozen.access_key == "ASIAUNIFSTESTROLE123"
    assert frozen.secret_key == "role-secret-from-the-stand-in"
    assert frozen.token == "role-session-token-from-the-stand-in"
    _assert_imdsv2_sequence(imds.requests, "unifs-reader")


def test_botocore_reads_the_region_from_the_stand_in(imds: AWSMetadataServer) -> None:
    import botocore.session
    from botocore.utils import IMDSRegionProvider

    # what defaults_mode="auto" uses to tell in-region from cross-region
    region = IMDSRegionProvider(botocore.session.Session()).provide()

    assert region == "eu-west-3"
    assert ("GET", "/latest/meta-data/placement/availability-zone/") in routes(imds)


def test_guard_environment_keeps_botocore_off_imds(monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.session

    with AWSMetadataServer() as server:
        point_at(monkeypatch, server)
        # the network guard's setting: IMDS disabled, so the chain ends without asking
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        assert botocore.session.Session().get_credentials() is None
        assert server.requests == []


def test_aws_stand_in_enforces_imdsv2() -> None:
    with AWSMetadataServer(imds_v1=False) as server:
        creds_url = f"{server.endpoint}/latest/meta-data/iam/security-credentials/"
        assert http("GET", creds_url)[0] == 401  # no session token: v1 refused
        assert http("GET", creds_url, {"X-aws-ec2-metadata-token": "forged"})[0] == 401
        assert http("PUT", f"{server.endpoint}/latest/api/token")[0] == 400  # TTL required
        status, _, token = http(
            "PUT",
            f"{server.endpoint}/latest/api/token",
            {"X-aws-ec2-metadata-token-ttl-seconds": "60"},
        )
        assert status == 200
        ok = http("GET", creds_url, {"X-aws-ec2-metadata-token": token.decode()})
        assert ok[:1] == (200,) and ok[2] == b"unifs-test-role"
        assert (
            http("GET", creds_url + "someone-else", {"X-aws-ec2-metadata-token": token.decode()})[0]
            == 404
        )


# -- GCP: metadata server -------------------------------------------------------------------


@pytest.fixture
def gce() -> Iterator[GCEMetadataServer]:
    server = GCEMetadataServer(
        access_token="ya29.token-from-the-stand-in",
        email="reader@unifs-proj.iam.gserviceaccount.com",
        project_id="unifs-proj",
        expires_in=1800,
    )
    with server, pytest.MonkeyPatch.context() as mp:
        point_at(mp, server)
        # google-auth copies GCE_METADATA_HOST at import: make it read ours
        reload_google_auth_metadata()
        yield server
    # environment restored by now: point google-auth back at the guard's address
    reload_google_auth_metadata()


def test_compute_engine_credentials_refresh_from_the_stand_in(gce: GCEMetadataServer) -> None:
    import google.auth.transport.requests
    from google.auth import compute_engine

    creds = compute_engine.Credentials()
    creds.refresh(google.auth.transport.requests.Request())

    assert creds.token == "ya29.token-from-the-stand-in"
    assert creds.service_account_email == "reader@unifs-proj.iam.gserviceaccount.com"
    assert creds.expiry is not None
    # google-auth keeps expiry as naive UTC
    left = creds.expiry - datetime.now(timezone.utc).replace(tzinfo=None)
    assert timedelta(minutes=25) < left <= timedelta(minutes=30)
    info, token = gce.requests
    assert info.path == "/computeMetadata/v1/instance/service-accounts/default/?recursive=true"
    assert token.route == "/computeMetadata/v1/instance/service-accounts/default/token"
    assert all(r.headers["metadata-flavor"] == "Google" for r in gce.requests)


def test_google_auth_default_detects_gce_through_the_stand_in(gce: GCEMetadataServer) -> None:
    import google.auth
    import google.auth.transport.requests
    from google.auth import compute_engine

    creds, project = google.auth.default()

    assert isinstance(creds, compute_engine.Credentials)
    assert project == "unifs-proj"
    # detection pinged GCE_METADATA_IP, then read the project from GCE_METADATA_HOST
    assert routes(gce) == [("GET", "/"), ("GET", "/computeMetadata/v1/project/project-id")]
    creds.refresh(google.auth.transport.requests.Request())
    assert creds.token == "ya29.token-from-the-stand-in"


def test_gce_stand_in_answers_like_the_metadata_server() -> None:
    with GCEMetadataServer() as server:
        status, headers, _ = http("GET", f"{server.endpoint}/")
        assert status == 200 and headers["Metadata-Flavor"] == "Google"  # detection mark
        email_url = f"{server.endpoint}/computeMetadata/v1/instance/service-accounts/default/email"
        assert http("GET", email_url)[0] == 403  # no Metadata-Flavor request header
        flavored = {"Metadata-Flavor": "Google"}
        assert http("GET", email_url, flavored)[2].decode() == server.email
        proxied = {**flavored, "X-Forwarded-For": "203.0.113.9"}
        assert http("GET", email_url, proxied)[0] == 403
        other = email_url.replace("/default/", "/someone@else.iam.gserviceaccount.com/")
        assert http("GET", other, flavored)[0] == 404


def test_reload_google_auth_metadata_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from google.auth.compute_engine import _metadata

    before = _metadata._get_metadata_root(False)
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:4242")
    assert _metadata._get_metadata_root(False) == before  # read at import only
    reload_google_auth_metadata()
    try:
        assert _metadata._get_metadata_root(False) == "http://127.0.0.1:4242/computeMetadata/v1/"
    finally:
        monkeypatch.undo()
        reload_google_auth_metadata()
    assert _metadata._get_metadata_root(False) == before


def test_fresh_process_needs_only_the_environment() -> None:
    # How a deployed process meets it: the variables are set before google-auth is
    # imported, no reload involved. The child installs the same network guard.
    child = textwrap.dedent(
        """
        import json
        from unifs.testing import network
        network.guard()
        import google.auth, google.auth.transport.requests
        creds, project = google.auth.default()
        creds.refresh(google.auth.transport.requests.Request())
        print(json.dumps({"token": creds.token, "project": project,
                          "email": creds.service_account_email, "blocked": network.blocked}))
        """
    )
    with GCEMetadataServer(access_token="ya29.fresh-process", project_id="fresh-proj") as server:
        done = subprocess.run(
            [sys.executable, "-c", child],
            env=server.environ(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result == {
            "token": "ya29.fresh-process",
            "project": "fresh-proj",
            "email": server.email,
            "blocked": [],
        }
        assert ("GET", "/") in routes(server)


# -- Azure: managed identity ----------------------------------------------------------------

USER_ASSIGNED = {"11111111-2222-3333-4444-555555555555": "token-for-the-user-assigned-identity"}


@pytest.fixture
def msi(monkeypatch: pytest.MonkeyPatch) -> Iterator[AzureManagedIdentityServer]:
    server = AzureManagedIdentityServer(
        access_token="token-for-the-system-assigned-identity",
        user_assigned=USER_ASSIGNED,
        expires_in=1200,
    )
    with server:
        point_at(monkeypatch, server)
        yield server


def test_managed_identity_credential_uses_the_app_service_endpoint(
    msi: AzureManagedIdentityServer,
) -> None:
    from azure.identity import ManagedIdentityCredential

    token = ManagedIdentityCredential().get_token(STORAGE_SCOPE)

    assert token.token == "token-for-the-system-assigned-identity"
    assert 1100 < token.expires_on - time.time() <= 1200
    (req,) = msi.requests
    assert req.route == AzureManagedIdentityServer.APP_SERVICE_PATH
    assert req.query == {"api-version": "2019-08-01", "resource": "https://storage.azure.com"}
    assert req.headers["x-identity-header"] == msi.identity_header


def test_user_assigned_identity_sends_its_client_id(msi: AzureManagedIdentityServer) -> None:
    from azure.identity import ManagedIdentityCredential

    (client_id,) = USER_ASSIGNED
    token = ManagedIdentityCredential(client_id=client_id).get_token(STORAGE_SCOPE)

    assert token.token == "token-for-the-user-assigned-identity"
    (req,) = msi.requests
    assert req.query["client_id"] == client_id


def test_unassigned_client_id_is_refused(msi: AzureManagedIdentityServer) -> None:
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import ManagedIdentityCredential

    with pytest.raises(ClientAuthenticationError):
        ManagedIdentityCredential(client_id="not-assigned-here").get_token(STORAGE_SCOPE)
    assert [r.query.get("client_id") for r in msi.requests] == ["not-assigned-here"]


def test_wrong_identity_header_is_refused(
    msi: AzureManagedIdentityServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import ManagedIdentityCredential

    monkeypatch.setenv("IDENTITY_HEADER", "guessed")
    with pytest.raises(ClientAuthenticationError):
        ManagedIdentityCredential().get_token(STORAGE_SCOPE)
    assert [r.headers["x-identity-header"] for r in msi.requests] == ["guessed"]


def test_default_azure_credential_the_adlfs_default_reaches_it(
    msi: AzureManagedIdentityServer,
) -> None:
    from azure.identity import DefaultAzureCredential

    token = DefaultAzureCredential().get_token(STORAGE_SCOPE)

    assert token.token == "token-for-the-system-assigned-identity"
    assert [r.route for r in msi.requests] == [AzureManagedIdentityServer.APP_SERVICE_PATH]


def test_vm_imds_flavour_through_pod_identity_host(monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.identity import ManagedIdentityCredential

    (client_id,) = USER_ASSIGNED
    server = AzureManagedIdentityServer(
        access_token="vm-token", user_assigned=USER_ASSIGNED, flavour="imds"
    )
    with server:
        point_at(monkeypatch, server)
        assert ManagedIdentityCredential().get_token(STORAGE_SCOPE).token == "vm-token"
        user = ManagedIdentityCredential(client_id=client_id).get_token(STORAGE_SCOPE)
        assert user.token == USER_ASSIGNED[client_id]
        system, assigned = server.requests
    assert system.route == assigned.route == AzureManagedIdentityServer.IMDS_PATH
    assert system.headers["metadata"] == "true"
    assert system.query["api-version"] == "2018-02-01"
    assert "client_id" not in system.query and assigned.query["client_id"] == client_id


# -- OCI: instance principals ---------------------------------------------------------------


@pytest.fixture(scope="module")
def oci_metadata() -> Iterator[OCIMetadataServer]:
    # module scope: making its keys and certificates is the slow part
    with OCIMetadataServer(region="iad") as server:
        yield server


def _instance_principal_signer(server: OCIMetadataServer) -> Any:
    import oci

    return oci.auth.signers.InstancePrincipalsSecurityTokenSigner(
        retry_strategy=oci.retry.NoneRetryStrategy(),
        federation_client_retry_strategy=oci.retry.NoneRetryStrategy(),
        federation_client_circuit_breaker_strategy=oci.circuit_breaker.NoCircuitBreakerStrategy(),
        **server.signer_kwargs(),
    )


def test_instance_principal_signer_obtains_a_token_from_the_stand_in(
    oci_metadata: OCIMetadataServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jwt
    from oci._vendor import requests as oci_requests

    point_at(monkeypatch, oci_metadata)
    oci_metadata.clear_requests()
    before = len(oci_metadata.tokens)

    signer = _instance_principal_signer(oci_metadata)

    assert signer.tenancy_id == oci_metadata.tenancy_id
    assert signer.region == "us-ashburn-1"  # "iad", mapped
    (token,) = oci_metadata.tokens[before:]
    assert signer.federation_client.get_security_token() == token
    claims = jwt.decode(
        token, oci_metadata.token_public_key_pem, algorithms=["RS256"], audience="oci"
    )
    assert claims["opc-tenant"] == oci_metadata.tenancy_id
    # the token binds the session key the SDK generated and will sign with
    session_public = signer.session_key_supplier.get_key_pair()["public"]
    jwk = json.loads(claims["jwk"])
    numbers = session_public.public_numbers()
    assert int.from_bytes(jwt.utils.base64url_decode(jwk["n"]), "big") == numbers.n

    metadata = [r for r in oci_metadata.requests if r.route.startswith("/opc/v2/")]
    assert {r.route for r in metadata} == {
        "/opc/v2/identity/cert.pem",
        "/opc/v2/identity/key.pem",
        "/opc/v2/identity/intermediate.pem",
        "/opc/v2/instance/region",
    }
    assert all(r.headers["authorization"] == "Bearer Oracle" for r in metadata)
    (federation,) = [r for r in oci_metadata.requests if r.route == "/v1/x509"]
    assert federation.method == "POST"
    assert f'keyId="{oci_metadata.federation_key_id}"' in federation.headers["authorization"]

    # and requests signed with it carry the token as their key
    request = oci_requests.Request("GET", "http://127.0.0.1:9/n/").prepare()
    signer(request)
    assert f'keyId="ST${token}"' in request.headers["authorization"]


def test_oci_stand_in_refuses_what_the_services_refuse(oci_metadata: OCIMetadataServer) -> None:
    base = oci_metadata.metadata_base_url
    assert http("GET", f"{base}/instance/region")[0] == 401  # no "Bearer Oracle"
    ok = http("GET", f"{base}/instance/region", {"Authorization": "Bearer Oracle"})
    assert ok[0] == 200 and ok[2] == b"iad"
    forged = (
        'Signature version="1",keyId="{}",algorithm="rsa-sha256",'
        'headers="date (request-target) content-length content-type x-content-sha256",'
        'signature="{}"'
    ).format(oci_metadata.federation_key_id, "A" * 344)
    status, _, body = http(
        "POST",
        oci_metadata.federation_endpoint,
        {"Authorization": forged, "Content-Type": "application/json"},
        b"{}",
    )
    assert status == 401 and json.loads(body)["code"] == "NotAuthenticated"
