"""Auth modes shown working, and refusing wrong credentials, against servers that check them.

- S3 ``access_key``, ``profile``, ``assume_role``, OCI ``customer_secret_key``: moto with IAM
  authentication enforced (its own process: moto's auth switch is process-wide).
- S3 ``web_identity``: moto's STS.
- GCS ``service_account``: a throwaway key whose ``token_uri`` is a local token endpoint that
  verifies the signed JWT assertion; fake-gcs-server then serves the data.
- Azure ``account_key``, ``connection_string``, ``sas_token``: Azurite, which checks them.
- OCI ``user_principal``: unifs's OCI server, which checks request signatures.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import unifs
from unifs.auth import storage_options

ALLOW_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)
TRUST_ALL = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"},
            {
                "Effect": "Allow",
                "Principal": {"Federated": "oidc"},
                "Action": "sts:AssumeRoleWithWebIdentity",
            },
        ],
    }
)
SETUP_CALLS = 5  # unauthenticated IAM calls moto allows before it enforces auth


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def moto_iam() -> Iterator[dict[str, str]]:
    """A moto server that checks SigV4 signatures and IAM policies, with one user and role."""
    import boto3

    port = _free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_CALLS)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("moto server with auth did not start")
            time.sleep(0.1)
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
        )
        iam.create_user(UserName="unifs")
        iam.put_user_policy(UserName="unifs", PolicyName="all", PolicyDocument=ALLOW_ALL)
        key = iam.create_access_key(UserName="unifs")["AccessKey"]
        role = iam.create_role(RoleName="reader", AssumeRolePolicyDocument=TRUST_ALL)["Role"]
        iam.put_role_policy(RoleName="reader", PolicyName="all", PolicyDocument=ALLOW_ALL)
        yield {
            "endpoint": endpoint,
            "key": key["AccessKeyId"],
            "secret": key["SecretAccessKey"],
            "role_arn": role["Arn"],
        }
    finally:
        proc.terminate()
        proc.wait(10)


def _roundtrip(uri: str, auth: dict, **options: object) -> bytes:
    fs, path = unifs.url_to_fs(uri, auth=auth, **options)
    bucket = path.split("/", 1)[0]
    if not fs.exists(bucket):
        fs.mkdir(bucket)
    fs.pipe_file(path, b"authenticated")
    fs.invalidate_cache()
    return fs.cat_file(path)


# -- AWS ----------------------------------------------------------------------------------


def test_s3_access_key_works_and_a_wrong_secret_is_refused(moto_iam):
    good = {
        "auth": "access_key",
        "access_key_id": moto_iam["key"],
        "secret_access_key": moto_iam["secret"],
        "endpoint": moto_iam["endpoint"],
    }
    assert _roundtrip("s3://auth-access/k", good) == b"authenticated"
    bad = {**good, "secret_access_key": "wrong" + moto_iam["secret"][5:]}
    with pytest.raises(PermissionError):
        _roundtrip("s3://auth-access/k2", bad)


def test_s3_profile_from_a_temporary_aws_config(moto_iam, tmp_path, monkeypatch):
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[dev]\naws_access_key_id = {moto_iam['key']}\n"
        f"aws_secret_access_key = {moto_iam['secret']}\n"
        f"[stale]\naws_access_key_id = {moto_iam['key']}\naws_secret_access_key = nope\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    auth = {"auth": "profile", "profile": "dev", "endpoint": moto_iam["endpoint"]}
    assert _roundtrip("s3://auth-profile/k", auth) == b"authenticated"
    with pytest.raises(PermissionError):
        _roundtrip("s3://auth-profile/k", {**auth, "profile": "stale"})


def test_s3_assume_role_through_sts(moto_iam):
    auth = {
        "auth": "assume_role",
        "role_arn": moto_iam["role_arn"],
        "access_key_id": moto_iam["key"],
        "secret_access_key": moto_iam["secret"],
        "sts_endpoint_url": moto_iam["endpoint"],
        "endpoint": moto_iam["endpoint"],
        "duration": 900,
    }
    options = storage_options("s3://auth-role/k", auth)
    # temporary credentials from STS, not the source key pair
    assert options["key"] != moto_iam["key"] and options["token"]
    assert _roundtrip("s3://auth-role/k", auth) == b"authenticated"


def test_s3_assume_role_is_refused_with_a_wrong_source_secret(moto_iam):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match=r"InvalidClientTokenId|SignatureDoesNotMatch"):
        storage_options(
            "s3://auth-role/k",
            {
                "auth": "assume_role",
                "role_arn": moto_iam["role_arn"],
                "access_key_id": moto_iam["key"],
                "secret_access_key": "not-the-secret",
                "sts_endpoint_url": moto_iam["endpoint"],
            },
        )


def test_s3_web_identity_through_sts(s3_server, tmp_path):
    token = tmp_path / "token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1bmlmcyJ9.c2ln")
    endpoint = s3_server.storage_options["endpoint_url"]
    auth = {
        "auth": "web_identity",
        "role_arn": "arn:aws:iam::123456789012:role/irsa",
        "token_file": str(token),
        "sts_endpoint_url": endpoint,
        "endpoint": endpoint,
    }
    options = storage_options("s3://auth-web/k", auth)
    assert options["key"].startswith("ASIA") and options["token"]
    assert _roundtrip("s3://auth-web/k", auth) == b"authenticated"


def test_oci_customer_secret_key_through_the_s3_compat_route(moto_iam):
    auth = {
        "auth": "customer_secret_key",
        "access_key_id": moto_iam["key"],
        "secret_access_key": moto_iam["secret"],
        "region": "us-ashburn-1",
        "endpoint": moto_iam["endpoint"],  # stands in for {ns}.compat.objectstorage...
    }
    uri = "oci://n/acme/b/compat-bucket/o/models/w.bin"
    fs, path = unifs.url_to_fs(uri, auth=auth)
    assert type(fs).__module__.startswith("s3fs") and path == "compat-bucket/models/w.bin"
    assert _roundtrip(uri, auth) == b"authenticated"
    with pytest.raises(PermissionError):
        _roundtrip(uri, {**auth, "secret_access_key": "wrong"})


# -- GCS ----------------------------------------------------------------------------------


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class _TokenEndpoint(http.server.ThreadingHTTPServer):
    """Google's OAuth token endpoint, locally: verifies the JWT-bearer assertion's RS256
    signature against the service account's public key before issuing a token."""

    def __init__(self, public_key: rsa.RSAPublicKey) -> None:
        super().__init__(("127.0.0.1", 0), _TokenHandler)
        self.public_key = public_key
        self.issued: list[str] = []
        self.refused = 0


class _TokenHandler(http.server.BaseHTTPRequestHandler):
    server: _TokenEndpoint

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        form = urllib.parse.parse_qs(body)
        assertion = form.get("assertion", [""])[0]
        try:
            header, payload, signature = assertion.split(".")
            self.server.public_key.verify(
                _b64url_decode(signature),
                f"{header}.{payload}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
            claims = json.loads(_b64url_decode(payload))
        except Exception:
            self.server.refused += 1
            self._send(400, {"error": "invalid_grant", "error_description": "bad signature"})
            return
        self.server.issued.append(claims["iss"])
        self._send(200, {"access_token": "ya29.local", "expires_in": 3600, "token_type": "Bearer"})

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _service_account(token_uri: str) -> tuple[dict, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "unifs-testing",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "loader@unifs-testing.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }
    return info, key


def test_gcs_service_account_key_with_a_local_token_endpoint(gcs_server, tmp_path):
    info, key = _service_account("")
    server = _TokenEndpoint(key.public_key())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        info["token_uri"] = f"http://127.0.0.1:{server.server_address[1]}/token"
        gcs_server.make_bucket("auth-sa")
        endpoint = gcs_server.storage_options["endpoint_url"]
        key_file = tmp_path / "sa.json"
        key_file.write_text(json.dumps(info))
        for auth in (
            {"auth": "service_account", "key_file": str(key_file), "endpoint": endpoint},
            {"auth": "service_account", "key_json": json.dumps(info), "endpoint": endpoint},
        ):
            assert _roundtrip("gs://auth-sa/k", auth) == b"authenticated"
        assert server.issued and set(server.issued) == {info["client_email"]}

        # a key the token endpoint does not trust gets no token (asked directly: gcsfs
        # would retry a failed refresh six times with backoff)
        import google.auth.exceptions
        import google.auth.transport.requests

        other, _ = _service_account(info["token_uri"])
        fs, _ = unifs.url_to_fs(
            "gs://auth-sa/k",
            auth={"auth": "service_account", "key_json": other, "endpoint": endpoint},
        )
        with pytest.raises(google.auth.exceptions.RefreshError, match="invalid_grant"):
            fs.credentials.credentials.refresh(google.auth.transport.requests.Request())
        assert server.refused >= 1
    finally:
        server.shutdown()
        server.server_close()


# -- Azure --------------------------------------------------------------------------------


def test_azure_account_key_against_azurite(azure_server):
    azure_server.make_bucket("auth-key")
    auth = {
        "auth": "account_key",
        "account_name": azure_server.account_name,
        "account_key": azure_server.account_key,
        "endpoint": azure_server.endpoint,
    }
    assert _roundtrip("az://auth-key/k", auth) == b"authenticated"
    wrong = base64.b64encode(b"x" * 64).decode()
    fs, path = unifs.url_to_fs("az://auth-key/k", auth={**auth, "account_key": wrong})
    with pytest.raises(Exception, match="AuthorizationFailure"):
        fs.cat_file(path)


def test_azure_connection_string_against_azurite(azure_server):
    azure_server.make_bucket("auth-conn")
    auth = {"auth": "connection_string", "connection_string": azure_server.connection_string}
    assert _roundtrip("az://auth-conn/k", auth) == b"authenticated"


def test_azure_sas_token_against_azurite(azure_server):
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    azure_server.make_bucket("auth-sas")
    sas = generate_container_sas(
        azure_server.account_name,
        "auth-sas",
        account_key=azure_server.account_key,
        permission=ContainerSasPermissions(read=True, write=True, list=True, create=True),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    auth = {
        "auth": "sas_token",
        "account_name": azure_server.account_name,
        "sas_token": sas,
        "endpoint": azure_server.endpoint,
    }
    fs, path = unifs.url_to_fs("az://auth-sas/k", auth=auth)
    fs.pipe_file(path, b"via sas")
    assert fs.cat_file(path) == b"via sas"
    tampered = sas.replace("sig=", "sig=AAAA")
    fs, path = unifs.url_to_fs("az://auth-sas/k", auth={**auth, "sas_token": tampered})
    with pytest.raises(Exception, match=r"AuthorizationFailure|AuthenticationFailed"):
        fs.cat_file(path)


# -- OCI ----------------------------------------------------------------------------------


def test_oci_user_principal_from_a_config_file(oci_server, tmp_path):
    from unifs.testing.oci_server import OCITestIdentity

    oci_server.make_bucket("auth-user")
    config = oci_server.identity.write_config_file(tmp_path / "trusted", profile="MODELS")
    auth = {
        "auth": "user_principal",
        "config_path": str(config),
        "profile": "MODELS",
        "endpoint": oci_server.endpoint,
    }
    uri = f"oci://n/{oci_server.namespace}/b/auth-user/o/k"
    fs, path = unifs.url_to_fs(uri, auth=auth)
    fs.pipe_file(path, b"signed")
    assert fs.cat_file(path) == b"signed"

    stranger = OCITestIdentity.generate()  # a valid key the server does not trust
    other = stranger.write_config_file(tmp_path / "untrusted", profile="MODELS")
    fs, path = unifs.url_to_fs(uri, auth={**auth, "config_path": str(other)})
    with pytest.raises(PermissionError):
        fs.cat_file(path)


def test_oci_security_token_profile_signs_with_the_session_token(tmp_path):
    import requests

    from unifs.testing.oci_server import OCITestIdentity

    ident = OCITestIdentity.generate()
    config = ident.write_config_file(tmp_path, profile="SESSION")
    token = tmp_path / "token"
    token.write_text("header.payload.signature")
    with open(config, "a") as handle:
        handle.write(f"security_token_file = {token}\n")
    options = storage_options(
        "oci://models@acme/k",
        {"auth": "security_token", "config_path": str(config), "profile": "SESSION"},
    )
    assert options["config"]["region"] == ident.region
    request = requests.Request("GET", "https://objectstorage.example/n/acme").prepare()
    options["signer"](request)
    assert 'keyId="ST$header.payload.signature"' in request.headers["authorization"]


def test_oci_anonymous_requests_are_unsigned_and_refused_by_a_private_bucket(oci_server):
    oci_server.make_bucket("auth-anon")
    fs, path = unifs.url_to_fs(
        f"oci://n/{oci_server.namespace}/b/auth-anon/o/k",
        auth={"auth": "anonymous", "region": "us-ashburn-1", "endpoint": oci_server.endpoint},
    )
    with pytest.raises(PermissionError):
        fs.cat_file(path)


def test_upath_with_auth_on_s3_and_on_the_oci_compat_route(moto_iam):
    auth = {
        "auth": "access_key",
        "access_key_id": moto_iam["key"],
        "secret_access_key": moto_iam["secret"],
        "endpoint": moto_iam["endpoint"],
    }
    _roundtrip("s3://auth-upath/seed", auth)
    p = unifs.upath("s3://auth-upath/dir/a.txt", auth=auth)
    p.write_text("through upath")
    assert p.read_text() == "through upath" and p.parent.name == "dir"
    compat = unifs.upath(
        "oci://n/acme/b/auth-upath/o/dir/a.txt",
        auth={**auth, "auth": "customer_secret_key", "region": "us-ashburn-1"},
    )
    assert str(compat) == "s3://auth-upath/dir/a.txt" and compat.read_text() == "through upath"
    with pytest.raises(PermissionError):
        unifs.upath(
            "s3://auth-upath/dir/a.txt", auth={**auth, "secret_access_key": "x"}
        ).read_text()


def test_upath_with_auth_on_oci(oci_server, tmp_path):
    oci_server.make_bucket("auth-upath-oci")
    config = oci_server.identity.write_config_file(tmp_path)
    auth = {"auth": "user_principal", "config_path": str(config), "endpoint": oci_server.endpoint}
    p = unifs.upath(f"oci://n/{oci_server.namespace}/b/auth-upath-oci/o/m/config.json", auth=auth)
    p.write_bytes(b"{}")
    assert [c.name for c in p.parent.iterdir()] == ["config.json"]
