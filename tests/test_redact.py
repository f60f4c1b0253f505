"""Secrets never shown: the masking rules, and every place unifs shows text that may hold one.

The DEBUG logs of real transfers on the four local servers are checked in
``test_secrets_in_logs.py``.
"""

from __future__ import annotations

import logging

import pytest

import unifs
import unifs.filesystem
from unifs.cli import main
from unifs.redact import RedactingFilter, install_log_filters, mask_secrets

PRESIGNED_S3 = (
    "https://b12.s3.us-east-1.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=ASIAKEYID%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20260101T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host"
    "&X-Amz-Security-Token=SESSIONTOKEN&X-Amz-Signature=0123456789abcdef"
)
SIGNED_GCS = (
    "https://storage.googleapis.com/b12/k?X-Goog-Algorithm=GOOG4-RSA-SHA256"
    "&X-Goog-Credential=sa%40p.iam.gserviceaccount.com%2F20260101%2Fauto%2Fstorage%2Fgoog4_request"
    "&X-Goog-Date=20260101T000000Z&X-Goog-Expires=600&X-Goog-SignedHeaders=host"
    "&X-Goog-Signature=a1b2c3d4e5f6"
)
AZURE_SAS = "https://acct1.blob.core.windows.net/c12/k?sv=2024-01-01&se=2026-01-01&sr=b&sp=r&sig=SASSIG%2Bx%3D"
OCI_PAR = (
    "https://objectstorage.us-ashburn-1.oraclecloud.com/p/PARTOKEN-x_y/n/acme/b/models/o/w.bin"
)

# (text, secrets that must go, what must stay readable)
CASES = [
    (
        PRESIGNED_S3,
        ["0123456789abcdef", "SESSIONTOKEN", "ASIAKEYID"],
        ["b12.s3.us-east-1", "X-Amz-Expires=900"],
    ),
    (SIGNED_GCS, ["a1b2c3d4e5f6", "sa%40p.iam"], ["X-Goog-Expires=600", "/b12/k"]),
    (AZURE_SAS, ["SASSIG", "2026-01-01", "sp=r"], ["acct1.blob.core.windows.net/c12/k?sv="]),
    (OCI_PAR, ["PARTOKEN-x_y"], ["/n/acme/b/models/o/w.bin"]),
    ("endpoint http://127.0.0.1:8080/p/PARTOKEN", ["PARTOKEN"], ["127.0.0.1:8080/p/***"]),
    ('"GET /p/PARTOKEN/n/acme/b/m/o/k HTTP/1.1" 200', ["PARTOKEN"], ["/n/acme/b/m/o/k"]),
    (
        "headers={'Authorization': b'AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/s3/"
        "aws4_request, SignedHeaders=host, Signature=feedface', "
        "'X-Amz-Security-Token': b'SESSIONTOKEN', 'X-Amz-Date': b'20260101T000000Z'}",
        ["feedface", "SESSIONTOKEN", "AKID"],
        ["'X-Amz-Date': b'20260101T000000Z'"],
    ),
    ("x-amz-security-token:SESSIONTOKEN\nhost:b12", ["SESSIONTOKEN"], ["host:b12"]),
    ("Signature:\n" + "c3d75f94" * 8, ["c3d75f94"], ["Signature:"]),
    (
        'authorization: Signature version="1",keyId="ST$SESSIONJWT",algorithm="rsa-sha256",'
        'signature="OCISIG=="',
        ["SESSIONJWT", "OCISIG"],
        ["authorization:"],
    ),
    ('keyId="ST$SESSIONJWT",signature="OCISIG=="', ["SESSIONJWT", "OCISIG"], ["keyId="]),
    ("Authorization: Bearer ya29.ACCESS-token", ["ya29.ACCESS-token"], ["Authorization"]),
    ("SharedKey devstoreaccount1:SHAREDKEYSIG=", ["SHAREDKEYSIG"], ["devstoreaccount1"]),
    (
        "{'key': 'AKID', 'secret': 'SECRETKEY', 'token': 'SESSIONTOKEN', "
        "'config': {'key_content': 'PEMDATA', 'pass_phrase': 'PASSPHRASE', 'user': 'ocid1'}}",
        ["SECRETKEY", "SESSIONTOKEN", "PEMDATA", "PASSPHRASE"],
        ["'user': 'ocid1'", "'key': 'AKID'"],
    ),
    (
        '{"access_token": "ya29.TOKEN", "expires_in": 3599, "private_key": "-----BEGIN '
        'PRIVATE KEY-----\\nMIIEKEY\\n-----END PRIVATE KEY-----\\n"}',
        ["ya29.TOKEN", "MIIEKEY"],
        ['"expires_in": 3599'],
    ),
    (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEKEY\n-----END RSA PRIVATE KEY-----",
        ["MIIEKEY"],
        ["BEGIN RSA PRIVATE KEY"],
    ),
    (
        "<Credentials><AccessKeyId>ASIA1</AccessKeyId><SecretAccessKey>STSSECRET"
        "</SecretAccessKey><SessionToken>STSTOKEN</SessionToken></Credentials>",
        ["STSSECRET", "STSTOKEN"],
        ["<AccessKeyId>ASIA1</AccessKeyId>"],
    ),
    (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=KEY0+/==;"
        "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
        ["KEY0"],
        ["AccountName=devstoreaccount1", "BlobEndpoint=http://127.0.0.1:10000"],
    ),
    ("BlobEndpoint=http://h;SharedAccessSignature=sv=2024&sig=SASSIG;", ["SASSIG"], ["h;"]),
    ("https://user:PASSWORD@host.example/x", ["PASSWORD"], ["host.example/x"]),
]


@pytest.mark.parametrize(("text", "secrets", "kept"), CASES, ids=[c[0][:40] for c in CASES])
def test_mask_secrets(text, secrets, kept):
    masked = mask_secrets(text)
    for secret in secrets:
        assert secret not in masked, masked
    for part in kept:
        assert part in masked, masked
    assert mask_secrets(masked) == masked


def test_plain_text_and_object_uris_are_left_alone():
    for text in (
        "s3://bucket/p/readme.md",
        "oci://models@acme/llama/config.json",
        "oci://n/acme/b/models/o/p/x",
        "https://b12.s3.amazonaws.com/dir/a%20b?",
        "3 files (1.0 MiB) in 0.20s",
        "az://c12/token/signature/key",
    ):
        assert mask_secrets(text) == text


@pytest.mark.parametrize("url", [PRESIGNED_S3, SIGNED_GCS, AZURE_SAS])
def test_uri_errors_mask_signed_urls_in_the_message_and_uri(url):
    with pytest.raises(unifs.URIError) as info:
        unifs.parse(url)
    shown = [str(info.value), repr(info.value), info.value.uri, *map(str, info.value.args)]
    for text in shown:
        for secret in ("0123456789abcdef", "SESSIONTOKEN", "a1b2c3d4e5f6", "SASSIG"):
            assert secret not in text
    assert "presigned URL" in str(info.value)


def test_uri_error_masks_a_par_token():
    bad = "https://objectstorage.us-ashburn-1.oraclecloud.com/p/PARTOKEN/n/acme/x"
    with pytest.raises(unifs.URIError) as info:
        unifs.parse(bad)
    assert "PARTOKEN" not in str(info.value) and "PARTOKEN" not in info.value.uri
    assert "/p/***/n/acme/x" in info.value.uri


def test_every_unifs_error_masks_its_message():
    error = unifs.UnifsError(f"could not read {OCI_PAR}")
    assert "PARTOKEN" not in str(error) and "could not read https://" in str(error)


def test_resolve_of_a_par_url_shows_no_token():
    resolved = unifs.filesystem.resolve(OCI_PAR)
    assert "PARTOKEN" in resolved.options["config_kwargs"]["service_endpoint"]
    assert "PARTOKEN" not in repr(resolved)
    assert "/p/***" in repr(resolved)
    assert "PARTOKEN" not in repr(unifs.parse(OCI_PAR)) and "PARTOKEN" not in str(
        unifs.parse(OCI_PAR)
    )


def test_cli_does_not_echo_an_auth_value_written_with_the_wrong_separator(capsys):
    argv = ["ls", "s3://b12/x", "-a", "auth=access_key", "-a", "secret_access_key:S3CR3T"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "S3CR3T" not in err
    assert "-a takes name=value" in err and "-a number 2" in err
    assert main(["ls", "memory://x/", "-o", "=hunter2"]) == 2
    err = capsys.readouterr().err
    assert "hunter2" not in err and "no name before '='" in err


def test_cli_masks_signed_urls_in_errors(capsys):
    assert main(["normalize", PRESIGNED_S3]) == 2
    err = capsys.readouterr().err
    assert "0123456789abcdef" not in err and "SESSIONTOKEN" not in err
    assert "unifs normalize:" in err
    with pytest.raises(SystemExit) as info:
        main(["get", "--concurrency", OCI_PAR, "src", "dst"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "PARTOKEN" not in err and "invalid int value" in err


def test_filter_masks_message_arguments_and_tracebacks(caplog):
    logger = logging.getLogger("unifs.test_redact.child")
    install_log_filters(("unifs",))
    assert any(isinstance(f, RedactingFilter) for f in logger.filters)
    caplog.set_level(logging.DEBUG)
    logger.debug("GET %s -> %d", OCI_PAR, 200)
    try:
        raise RuntimeError(f"failed on {PRESIGNED_S3}")
    except RuntimeError:
        logger.exception("request failed")
    text = caplog.text
    assert "PARTOKEN" not in text and "0123456789abcdef" not in text
    assert "/p/***/n/acme" in text and "RuntimeError: failed on" in text
    # idempotent: one filter however often it is installed
    install_log_filters(("unifs",))
    assert sum(isinstance(f, RedactingFilter) for f in logger.filters) == 1
