"""Auth blocks: every mode maps and validates; errors list what is accepted; secrets hide."""

from __future__ import annotations

import logging

import pytest

import unifs
from unifs.auth import AuthConfig, AuthError, is_secret, storage_options
from unifs.filesystem import resolve
from unifs.registry import get_provider

SECRET = "s3cr3t-VALUE-that-must-never-show"

CONN = (
    "DefaultEndpointsProtocol=https;AccountName=acct1;"
    f"AccountKey={SECRET};EndpointSuffix=core.windows.net"
)

URIS = {
    "oci": "oci://n/acme/b/models/o/llama/",
    "s3": "s3://my-models/llama/",
    "gcs": "gs://my-models/llama/",
    "azure": "az://models/llama/",
}

# a minimal valid block per (provider, mode), and what the options must then contain
CASES = [
    (
        "oci",
        {"auth": "user_principal", "config_path": "/tmp/oci.cfg", "profile": "P"},
        {"config": "/tmp/oci.cfg", "profile": "P"},
    ),
    ("oci", {"auth": "api_key"}, {"profile": "DEFAULT"}),
    (
        "oci",
        {"auth": "instance_principal", "region": "us-ashburn-1"},
        {"iam_type": "instance_principal", "region": "us-ashburn-1"},
    ),
    ("oci", {"auth": "resource_principal"}, {"iam_type": "resource_principal"}),
    ("oci", {"auth": "oke_workload_identity"}, {"iam_type": "oke_principal"}),
    (
        "oci",
        {
            "auth": "instance_principal",
            "compartmentId": "ocid1.compartment.oc1..x",
            "endpoint": "https://objectstorage.example",
        },
        {
            "compartment_id": "ocid1.compartment.oc1..x",
            "config_kwargs": {"service_endpoint": "https://objectstorage.example"},
        },
    ),
    (
        "s3",
        {
            "auth": "access_key",
            "access_key_id": "AKIA1",
            "secret_access_key": SECRET,
            "session_token": SECRET,
        },
        {"key": "AKIA1", "secret": SECRET, "token": SECRET},
    ),
    (
        "s3",
        {"auth": "iam_role", "region": "us-west-2"},
        {"client_kwargs": {"region_name": "us-west-2"}},
    ),
    ("s3", {"auth": "instance_profile"}, {}),
    ("s3", {"auth": "profile", "profile": "dev"}, {"profile": "dev"}),
    (
        "s3",
        {"auth": "default", "endpoint": "http://minio:9000", "force_path_style": True},
        {
            "endpoint_url": "http://minio:9000",
            "config_kwargs": {"s3": {"addressing_style": "path"}},
        },
    ),
    ("s3", {"auth": "anonymous"}, {"anon": True}),
    (
        "gcs",
        {"auth": "service_account", "key_file": "/keys/sa.json", "project": "p1"},
        {"token": "/keys/sa.json", "project": "p1"},
    ),
    (
        "gcs",
        {"auth": "service_account", "key_json": '{"type": "service_account"}'},
        {"token": {"type": "service_account"}},
    ),
    ("gcs", {"auth": "workload_identity", "project": "p1"}, {"token": "google_default"}),
    ("gcs", {"auth": "application_default"}, {"token": "google_default"}),
    ("gcs", {"auth": "default"}, {"token": "google_default"}),
    ("gcs", {"auth": "anonymous"}, {"token": "anon"}),
    (
        "azure",
        {"auth": "account_key", "account_name": "acct1", "account_key": SECRET},
        {"account_name": "acct1", "account_key": SECRET},
    ),
    (
        "azure",
        {"auth": "sas_token", "account_name": "acct1", "sas_token": "?sv=1&sig=" + SECRET},
        {"account_name": "acct1", "sas_token": "sv=1&sig=" + SECRET},
    ),
    (
        "azure",
        {"auth": "connection_string", "connection_string": CONN},
        {"connection_string": CONN},
    ),
    (
        "azure",
        {
            "auth": "service_principal",
            "account_name": "acct1",
            "tenant_id": "t",
            "client_id": "c",
            "client_secret": SECRET,
        },
        {"tenant_id": "t", "client_id": "c", "client_secret": SECRET},
    ),
    (
        "azure",
        {
            "auth": "client_secret",
            "account_name": "acct1",
            "tenant_id": "t",
            "client_id": "c",
            "client_secret": SECRET,
        },
        {"client_secret": SECRET},
    ),
    ("azure", {"auth": "default", "account_name": "acct1"}, {"anon": False}),
    ("azure", {"auth": "anonymous", "account_name": "acct1"}, {"anon": True}),
]


@pytest.mark.parametrize(
    ("provider", "block", "expected"), CASES, ids=[f"{c[0]}-{c[1]['auth']}" for c in CASES]
)
def test_mode_maps_to_backend_options(provider, block, expected):
    options = storage_options(URIS[provider], block)
    for name, value in expected.items():
        assert options[name] == value, name


def test_every_declared_mode_is_covered():
    covered = {(p, b["auth"]) for p, b, _ in CASES}
    covered |= {
        ("oci", "security_token"),
        ("oci", "customer_secret_key"),
        ("oci", "anonymous"),
        ("s3", "assume_role"),
        ("s3", "web_identity"),
        ("azure", "client_certificate"),
        ("azure", "managed_identity"),
        ("azure", "workload_identity"),
    }  # mapped in tests below / test_auth_e2e
    for name in URIS:
        for mode in get_provider(name).auth_modes:
            assert (name, mode) in covered, (name, mode)


@pytest.mark.parametrize(
    ("mode", "params", "credential"),
    [
        ("managed_identity", {"client_id": "cid"}, "ManagedIdentityCredential"),
        ("managed_identity", {"resource_id": "/subscriptions/x"}, "ManagedIdentityCredential"),
        (
            "workload_identity",
            {"tenant_id": "t", "client_id": "c", "token_file": "/var/t"},
            "WorkloadIdentityCredential",
        ),
    ],
)
def test_azure_identity_modes_build_a_credential_without_io(mode, params, credential):
    options = storage_options("az://models/x", {"auth": mode, "account_name": "acct1", **params})
    assert type(options["credential"]).__name__ == credential
    assert options["account_name"] == "acct1"


def test_no_auth_uses_the_default_chain():
    assert storage_options("s3://b12/k") == {}
    assert storage_options("oci://acme@us-phoenix-1/b/k") == {"region": "us-phoenix-1"}
    assert storage_options("abfs://c12@acct1.dfs.core.windows.net/k") == {"account_name": "acct1"}


def test_endpoint_on_azure_builds_a_connection_string_keeping_http():
    options = storage_options(
        "az://models/x",
        {
            "auth": "account_key",
            "account_name": "devstoreaccount1",
            "account_key": "k==",
            "endpoint": "http://127.0.0.1:10000/devstoreaccount1",
        },
    )
    assert options["connection_string"].startswith("DefaultEndpointsProtocol=http;")
    assert "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;" in options["connection_string"]


def test_oci_customer_secret_key_goes_through_s3_compat():
    r = resolve(
        "oci://n/acme/b/models/o/llama/w.bin",
        auth={
            "auth": "customer_secret_key",
            "access_key_id": "AK",
            "secret_access_key": SECRET,
            "region": "us-ashburn-1",
        },
    )
    assert r.protocol == "s3" and r.path == "models/llama/w.bin"
    assert (
        r.options["endpoint_url"]
        == "https://acme.compat.objectstorage.us-ashburn-1.oraclecloud.com"
    )
    assert r.options["config_kwargs"]["s3"] == {"addressing_style": "path"}
    assert r.options["config_kwargs"]["signature_version"] == "s3v4"
    assert (r.options["key"], r.options["secret"]) == ("AK", SECRET)
    assert SECRET not in repr(r)


def test_oci_customer_secret_key_needs_namespace_and_region():
    with pytest.raises(AuthError, match="needs both"):
        storage_options(
            "oci://models/x",
            {"auth": "customer_secret_key", "access_key_id": "a", "secret_access_key": "b"},
        )


def test_oci_anonymous_sends_unsigned_requests():
    options = storage_options("oci://acme@us-ashburn-1/models/x", {"auth": "anonymous"})
    assert options["config"] == {"region": "us-ashburn-1"}
    request = object()
    assert options["signer"](request) is request
    with pytest.raises(AuthError, match="needs 'region'"):
        storage_options("oci://models@acme/x", {"auth": "anonymous"})


def test_user_options_win_over_auth():
    options = storage_options("s3://b12/k", {"auth": "anonymous"})
    assert options == {"anon": True}
    fs, _ = unifs.url_to_fs(
        "s3://b12/k", auth={"auth": "anonymous"}, anon=False, endpoint_url="http://127.0.0.1:9"
    )
    assert fs.anon is False


# -- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "block", "message"),
    [
        (
            URIS["oci"],
            {"auth": "iam_role"},
            "oci has no auth mode 'iam_role' ('iam_role' is a s3 mode)",
        ),
        (URIS["s3"], {"auth": "instance_principal"}, "is a oci mode"),
        (URIS["s3"], {"auth": "nope"}, "choose one of: access_key, anonymous, assume_role"),
        (URIS["s3"], {"auth": "access_key", "access_key_id": "a"}, "needs 'secret_access_key'"),
        (
            URIS["s3"],
            {
                "auth": "access_key",
                "access_key_id": "a",
                "secret_access_key": "b",
                "account_key": "c",
            },
            "'account_key' belongs to azure",
        ),
        (URIS["gcs"], {"auth": "service_account"}, "needs 'key_file' or 'key_json'"),
        (
            URIS["gcs"],
            {"auth": "anonymous", "compartment_id": "x"},
            "'compartment_id' belongs to oci",
        ),
        (URIS["azure"], {"auth": "service_principal", "tenant_id": "t"}, "needs 'client_id'"),
        (URIS["azure"], {"auth": "account_key", "account_key": "k"}, "needs 'account_name'"),
        (
            URIS["oci"],
            {"region": "us-ashburn-1", "bogus": 1},
            "oci without 'auth' does not take 'bogus'",
        ),
        (
            URIS["s3"],
            {"auth": "web_identity", "role_arn": "arn:aws:iam::1:role/r"},
            "needs 'token_file' (or the environment variable AWS_WEB_IDENTITY_TOKEN_FILE)",
        ),
    ],
)
def test_invalid_blocks_say_what_is_accepted(uri, block, message, monkeypatch):
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE", raising=False)
    with pytest.raises(AuthError) as info:
        storage_options(uri, block)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, unifs.UnifsError)


def test_required_parameter_may_come_from_its_environment_variable(monkeypatch):
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_NAME", "envacct")
    options = storage_options("az://models/x", {"auth": "account_key", "account_key": "k"})
    assert options["account_name"] == "envacct"


# -- AuthConfig ---------------------------------------------------------------------------


def test_auth_config_is_immutable_and_reads_camel_case():
    config = AuthConfig({"auth": "instance_principal", "compartmentId": "ocid1..x", "region": None})
    assert config.auth == "instance_principal"
    assert dict(config) == {"auth": "instance_principal", "compartment_id": "ocid1..x"}
    assert config.params == {"compartment_id": "ocid1..x"}
    with pytest.raises(AttributeError):
        config.auth = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        config["auth"] = "x"  # type: ignore[index]
    assert AuthConfig(auth="anonymous") == {"auth": "anonymous"}


def test_auth_config_rejects_non_mappings():
    with pytest.raises(AuthError, match="mapping"):
        AuthConfig(["auth", "x"])  # type: ignore[arg-type]
    with pytest.raises(AuthError, match="string"):
        AuthConfig({"auth": 3})


def test_from_ome_reads_the_model_agent_block_as_yaml_or_dict():
    text = """
storage:
  storageUri: oci://n/mytenancy/b/models/o/llama
  parameters:
    auth: instance_principal
    region: us-ashburn-1
    compartment_id: ocid1.compartment.oc1..aaa
"""
    uri, auth = AuthConfig.from_ome(text)
    assert uri == "oci://n/mytenancy/b/models/o/llama"
    assert auth == {
        "auth": "instance_principal",
        "region": "us-ashburn-1",
        "compartment_id": "ocid1.compartment.oc1..aaa",
    }
    options = storage_options(uri, auth)
    assert options["iam_type"] == "instance_principal" and options["region"] == "us-ashburn-1"
    uri2, auth2 = AuthConfig.from_ome(
        {
            "storageUri": "s3://my-models/llama",
            "parameters": {"auth": "iam_role", "region": "us-west-2"},
        }
    )
    assert (uri2, auth2.auth) == ("s3://my-models/llama", "iam_role")
    with pytest.raises(AuthError, match="no storageUri"):
        AuthConfig.from_ome({"parameters": {}})


# -- secrets ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "block", "expected"),
    [c for c in CASES if SECRET in str(c[1])],
    ids=[f"{c[0]}-{c[1]['auth']}-{i}" for i, c in enumerate(CASES) if SECRET in str(c[1])],
)
def test_secrets_never_show(provider, block, expected, caplog):
    config = AuthConfig(block)
    assert SECRET not in repr(config) and SECRET not in str(config)
    assert "***" in repr(config)
    assert SECRET not in repr(resolve(URIS[provider], auth=block))
    with pytest.raises(AuthError) as info:
        storage_options(URIS[provider], {**block, "not_a_param": SECRET, "another": 1})
    assert SECRET not in str(info.value)
    with caplog.at_level(logging.DEBUG):
        storage_options(URIS[provider], block)
        unifs.url_to_fs(URIS[provider], auth=block)
    assert SECRET not in caplog.text


@pytest.mark.parametrize(
    "name",
    [
        "secret_access_key",
        "session_token",
        "client_secret",
        "account_key",
        "sas_token",
        "connection_string",
        "key_json",
        "key_content",
        "pass_phrase",
        "certificate_password",
        "private_key",
        "token",
    ],
)
def test_secret_names(name):
    assert is_secret(name)


@pytest.mark.parametrize(
    "name",
    [
        "access_key_id",
        "key_file",
        "token_file",
        "role_arn",
        "account_name",
        "client_id",
        "config_path",
        "sts_endpoint_url",
        "region",
    ],
)
def test_not_secret_names(name):
    assert not is_secret(name)


def test_ocifs_debug_log_of_its_config_is_redacted(caplog):
    from unifs.providers.oci_filesystem import OCIFileSystem  # installs the filter

    assert OCIFileSystem
    with caplog.at_level(logging.DEBUG, logger="ocifs"):
        logging.getLogger("ocifs").debug("config: %s", {"key_content": SECRET, "user": "u"})
    assert SECRET not in caplog.text and "'key_content': '***'" in caplog.text


def test_docs_auth_table_is_generated_from_the_code():
    from pathlib import Path

    from unifs.auth import auth_table

    docs = Path(__file__).resolve().parent.parent / "docs" / "auth.md"
    assert auth_table() in docs.read_text()
