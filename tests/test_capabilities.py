"""Capabilities come from the filesystem and its credentials, and the docs match the code."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import fsspec
import pytest

import unifs
from unifs.capabilities import Capabilities, capabilities, capability_matrix

DOCS = Path(__file__).resolve().parent.parent / "docs" / "capabilities.md"


def test_s3_access_key_presigns_anonymous_does_not():
    keyed = capabilities(
        "s3://b12/k", auth={"auth": "access_key", "access_key_id": "AK", "secret_access_key": "s"}
    )
    anonymous = capabilities("s3://b12/k", auth={"auth": "anonymous"})
    assert keyed.presign_get and keyed.presign_put and keyed.presign_kind == "presigned-url"
    assert keyed.presign_max_lifetime == timedelta(days=7)
    assert not anonymous.presign_get and anonymous.presign_kind is None
    assert anonymous.why_not("presign_get") == "anonymous: nothing to sign with"
    assert keyed != anonymous


def test_azure_key_mints_sas_a_sas_alone_cannot():
    key = base64.b64encode(b"k" * 64).decode()
    with_key = capabilities(
        "az://c12/k", auth={"auth": "account_key", "account_name": "acct1", "account_key": key}
    )
    with_sas = capabilities(
        "az://c12/k", auth={"auth": "sas_token", "account_name": "acct1", "sas_token": "sv=1&sig=x"}
    )
    with_identity = capabilities(
        "az://c12/k", auth={"auth": "managed_identity", "account_name": "acct1"}
    )
    assert with_key.presign_get and with_key.presign_max_lifetime is None
    assert not with_sas.presign_get and "cannot mint" in with_sas.why_not("presign_get")
    assert with_identity.presign_get and with_identity.presign_max_lifetime == timedelta(days=7)
    assert not with_key.suffix_ranges and "adlfs" in with_key.reasons["suffix_ranges"]


def test_gcs_anonymous_cannot_sign(gcs_server):
    endpoint = gcs_server.storage_options["endpoint_url"]
    anonymous = capabilities("gs://b12/k", auth={"auth": "anonymous", "endpoint": endpoint})
    assert not anonymous.presign_get and anonymous.async_impl


def test_oci_identity_creates_pars_anonymous_cannot(oci_server):
    signed = capabilities("oci://n/unifs/b/b1/o/k", **oci_server.storage_options)
    anonymous = capabilities(
        "oci://n/unifs/b/b1/o/k",
        auth={"auth": "anonymous", "region": "us-ashburn-1", "endpoint": oci_server.endpoint},
    )
    assert signed.presign_kind == "par" and signed.presign_revocable and signed.presign_put
    assert not anonymous.presign_get and not anonymous.presign_revocable
    assert signed.async_impl  # unifs's own OCI filesystem is async (aiohttp)


def test_capabilities_of_a_filesystem_object_and_versioning():
    fs = fsspec.filesystem("s3", anon=True, version_aware=True, skip_instance_cache=True)
    caps = capabilities(fs)
    assert caps.provider == "s3" and caps.versioning
    assert not capabilities(fsspec.filesystem("s3", anon=True, skip_instance_cache=True)).versioning


def test_local_and_memory():
    local = capabilities("/tmp/x")
    assert local.provider == "local" and not local.presign_get and not local.multipart_upload
    assert capabilities("memory://x").provider == "memory"


def test_capabilities_are_frozen():
    caps = capabilities("memory://x")
    with pytest.raises(AttributeError):
        caps.presign_get = True  # type: ignore[misc]
    assert isinstance(caps, Capabilities)


def test_docs_matrix_is_generated_from_the_code():
    assert capability_matrix() in DOCS.read_text()


def test_unknown_filesystem_is_a_clear_error():
    from fsspec.implementations.http import HTTPFileSystem

    with pytest.raises(ValueError, match="no unifs provider serves"):
        capabilities(HTTPFileSystem())


def test_public_name_is_callable_however_it_was_bound():
    import importlib

    assert unifs.capabilities("memory://x").provider == "memory"
    importlib.import_module("unifs.capabilities")  # rebinds the package attribute
    assert unifs.capabilities("memory://x").provider == "memory"
