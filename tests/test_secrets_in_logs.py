"""No secret in DEBUG logs: a put, a get and a presign on each of the four local servers.

Every logger is turned up to DEBUG and propagates to pytest's capture; each store is used
with temporary or signing credentials (moto STS session credentials, a GCS service-account
token from a local token endpoint, an Azure SAS and account key, an OCI API key) and, for
OCI, a PAR that is then downloaded through. Every secret string used is then looked for in
the captured text, and so are the shapes of secrets no test knows in advance (request
signatures).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit

import pytest

import unifs
from unifs.auth import storage_options

# Shapes of secrets whatever their value: a SigV4 signature (header or query), a GCS V4
# signature, an Azure SAS signature, an OCI request signature, an OCI PAR path, a bearer
# token, a PEM key body.
UNMASKED = [
    re.compile(r"Signature=[0-9a-f]{16}"),
    re.compile(r"(?i)X-Amz-Security-Token=(?!\*\*\*)"),
    re.compile(r"X-Goog-Signature=[0-9a-f]{16}"),
    re.compile(r"[?&]sig=(?!\*\*\*)"),
    re.compile(r'signature="(?!\*\*\*)'),
    re.compile(r"/p/(?!\*\*\*)[^/\s]+/n/"),
    re.compile(r"(?i)bearer (?!\*\*\*)\S"),
    re.compile(r"PRIVATE KEY-----(?:\\n|\n)?[A-Za-z0-9+/]{20}"),
]


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every logger at DEBUG (through the root), enabled and propagating, captured.

    (The OCI SDK's per-client loggers stay as the SDK makes them, disabled unless the
    config sets ``log_requests``, which also makes http.client print raw requests to
    stdout: that is print, not logging, and beyond any log filter.)
    """
    saved = {}
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            saved[name] = (logger.level, logger.propagate, logger.disabled)
            logger.setLevel(logging.NOTSET)
            logger.propagate = True
            logger.disabled = False
    caplog.set_level(logging.DEBUG)
    yield caplog
    for name, (level, propagate, disabled) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.propagate = propagate
        logger.disabled = disabled


# The servers' own loggers: moto runs in this process, and its web framework logs each
# request line as received, like any server's access log. Those are the server's records,
# not the client's.
SERVER_LOGGERS = ("werkzeug", "flask_cors", "moto")


@pytest.fixture
def bucket(request: pytest.FixtureRequest) -> str:
    """The test's bucket, made during set-up: the fixtures' own SDK calls are not logged
    into the test's capture (unifs has not installed anything for them yet)."""
    provider = request.node.name.split("_")[1]  # test_{provider}_...
    server = request.getfixturevalue(f"{provider}_server")
    name = f"logs-{provider}"
    server.make_bucket(name)
    return name


def _captured(caplog: pytest.LogCaptureFixture) -> str:
    records = [r for r in caplog.records if r.name.partition(".")[0] not in SERVER_LOGGERS]
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    return "\n".join(handler.format(r) for r in records)


def assert_no_secret(caplog: pytest.LogCaptureFixture, secrets: dict[str, str], *sdks: str):
    text = _captured(caplog)
    loggers = {r.name.partition(".")[0] for r in caplog.records}
    # the capture worked: the SDKs behind the store logged at DEBUG
    assert set(sdks) <= loggers, sorted(loggers)
    for what, secret in secrets.items():
        assert secret and len(secret) >= 8, what
        at = text.find(secret)
        assert at < 0, f"the {what} is in the DEBUG logs: {text[max(0, at - 400) : at + 60]}"
    for shape in UNMASKED:
        found = shape.search(text)
        assert found is None, text[max(0, found.start() - 300) : found.end() + 100]


def _model(tmp_path):
    src = tmp_path / "model"
    (src / "w").mkdir(parents=True)
    (src / "config.json").write_text('{"layers": 2}')
    (src / "w" / "shard.bin").write_bytes(b"w" * 70_000)
    return src


def _get_put_presign(uri: str, tmp_path, auth, presign_auth=None, **options) -> str:
    """put a directory, get it back, presign one object and fetch it; return the URL."""
    src = _model(tmp_path)
    assert unifs.put(src, uri, auth=auth, **options).ok
    report = unifs.get(uri, tmp_path / "back", auth=auth, **options)
    assert report.ok and (tmp_path / "back" / "w" / "shard.bin").stat().st_size == 70_000
    signed = unifs.presign(uri + "config.json", auth=presign_auth or auth, **options)
    with urllib.request.urlopen(signed.url, timeout=30) as response:
        assert response.read() == b'{"layers": 2}'
    return signed.url


# -- S3: temporary credentials from moto's STS ----------------------------------------------


def test_s3_session_credentials(s3_server, bucket, tmp_path, debug_logs):
    endpoint = s3_server.storage_options["endpoint_url"]
    source_secret = "source-secret-never-logged-0123456789"
    # unifs asks moto's STS for session credentials (botocore logs the response at DEBUG)
    temporary = storage_options(
        "s3://logs-s3/m/",
        {
            "auth": "assume_role",
            "role_arn": "arn:aws:iam::123456789012:role/loader",
            "access_key_id": "AKIASOURCEKEY0000000",
            "secret_access_key": source_secret,
            "sts_endpoint_url": endpoint,
        },
    )
    auth = {
        "auth": "access_key",
        "access_key_id": temporary["key"],
        "secret_access_key": temporary["secret"],
        "session_token": temporary["token"],
        "endpoint": endpoint,
    }
    url = _get_put_presign("s3://logs-s3/m/", tmp_path, auth)
    query = dict(parse_qsl(urlsplit(url).query))
    assert query["X-Amz-Security-Token"] == temporary["token"]
    secrets = {
        "source secret": source_secret,
        "temporary secret": temporary["secret"],
        "session token": temporary["token"],
        "presigned signature": query["X-Amz-Signature"],
    }
    assert_no_secret(debug_logs, secrets, "botocore", "urllib3")
    assert "<SessionToken>***</SessionToken>" in _captured(debug_logs)


# -- GCS: a service-account token from a local token endpoint -------------------------------


def test_gcs_service_account_token(gcs_server, bucket, tmp_path, debug_logs):
    from test_auth_e2e import _service_account, _TokenEndpoint

    info, key = _service_account("")
    server = _TokenEndpoint(key.public_key())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        info["token_uri"] = f"http://127.0.0.1:{server.server_address[1]}/token"
        endpoint = gcs_server.storage_options["endpoint_url"]
        auth = {"auth": "service_account", "key_json": json.dumps(info), "endpoint": endpoint}
        url = _get_put_presign("gs://logs-gcs/m/", tmp_path, auth)
        assert server.issued  # gcsfs did fetch a token and used it
    finally:
        server.shutdown()
        server.server_close()
    body = info["private_key"].splitlines()[5]
    secrets = {
        "access token": "ya29.local",
        "private key": body,
        "signed-URL signature": dict(parse_qsl(urlsplit(url).query))["X-Goog-Signature"],
    }
    assert_no_secret(debug_logs, secrets, "gcsfs")


# -- Azure: a SAS for I/O, the account key to presign ---------------------------------------


def test_azure_sas_and_account_key(azure_server, bucket, tmp_path, debug_logs):
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    sas = generate_container_sas(
        azure_server.account_name,
        "logs-azure",
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
    key_auth = {
        "auth": "account_key",
        "account_name": azure_server.account_name,
        "account_key": azure_server.account_key,
        "endpoint": azure_server.endpoint,
    }
    url = _get_put_presign("az://logs-azure/m/", tmp_path, auth, presign_auth=key_auth)
    secrets = {
        "SAS signature": dict(parse_qsl(sas))["sig"],
        "account key": azure_server.account_key,
        "presigned SAS signature": dict(parse_qsl(urlsplit(url).query))["sig"],
    }
    assert_no_secret(debug_logs, secrets, "azure")


# -- OCI: an API key, then a PAR that is downloaded through ---------------------------------


def test_oci_api_key_and_par(oci_server, bucket, tmp_path, debug_logs):
    config = oci_server.identity.write_config_file(tmp_path / "oci")
    auth = {"auth": "user_principal", "config_path": str(config), "endpoint": oci_server.endpoint}
    root = f"oci://n/{oci_server.namespace}/b/logs-oci/o/m/"
    url = _get_put_presign(root, tmp_path, auth)
    prefix_par = unifs.presign(root, auth=auth)
    report = unifs.get(prefix_par.url, tmp_path / "via-par")
    assert report.ok and (tmp_path / "via-par" / "config.json").read_text() == '{"layers": 2}'
    unifs.revoke(prefix_par, auth=auth)
    token = re.search(r"/p/([^/]+)/", prefix_par.url).group(1)
    pem = oci_server.identity.private_key_pem.decode().splitlines()[5]
    secrets = {
        "object PAR token": re.search(r"/p/([^/]+)/", url).group(1),
        "prefix PAR token": token,
        "private key": pem,
    }
    # unifs's OCI filesystem logs each request (PAR paths included) at DEBUG: masked
    assert_no_secret(debug_logs, secrets, "unifs", "oci")
    assert "/p/***/" in _captured(debug_logs)
