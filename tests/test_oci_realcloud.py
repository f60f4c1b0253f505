"""Where unifs's OCI client and its OCI test server once agreed with each other but not with
real OCI (issue #21): each numbered point of the issue, on the local server.

Every test here failed on the code before the fix (client and server written side by side).
The server's behaviour is also checked with Oracle's own SDK in
``tests/test_oci_sdk_conformance.py``.
"""

from __future__ import annotations

import pickle
import re
import uuid
from collections.abc import Iterator
from typing import Any

import fsspec
import pytest

import unifs
from unifs.testing.oci_server import OCIServer, OCITestIdentity

NS = "realcloud"


@pytest.fixture(scope="module")
def ident() -> OCITestIdentity:
    return OCITestIdentity.generate()


@pytest.fixture(scope="module")
def server(ident: OCITestIdentity) -> Iterator[OCIServer]:
    with OCIServer(namespace=NS, identities=[ident]) as srv:
        yield srv


def _options(server: OCIServer, ident: OCITestIdentity, **extra: Any) -> dict[str, Any]:
    return {
        "config": ident.config(),
        "config_kwargs": {"service_endpoint": server.endpoint},
        "max_attempts": 1,
        **extra,
    }


@pytest.fixture
def options(server: OCIServer, ident: OCITestIdentity) -> dict[str, Any]:
    return _options(server, ident)


@pytest.fixture
def fs(options: dict[str, Any]) -> Any:
    return fsspec.filesystem("oci", skip_instance_cache=True, **options)


@pytest.fixture
def bucket(server: OCIServer) -> str:
    name = f"rc-{uuid.uuid4().hex[:10]}"
    server.create_bucket(name)
    return name


def _raw(server: OCIServer, ident: OCITestIdentity, method: str, path: str, **kw: Any) -> Any:
    """One request signed by Oracle's SDK signer, sent with requests (no unifs code)."""
    import oci
    import requests

    signer = oci.signer.Signer(
        ident.tenancy,
        ident.user,
        ident.fingerprint,
        None,
        private_key_content=ident.private_key_pem.decode(),
    )
    return requests.request(method, server.endpoint + path, auth=signer, timeout=10, **kw)


# -- 3. exclusive create: 412 IfNoneMatchFailed; no If-None-Match: * on reads -----------------


def test_exclusive_create_is_412_if_none_match_failed(server, ident, bucket):
    path = f"/n/{NS}/b/{bucket}/o/k"
    assert _raw(server, ident, "PUT", path, data=b"one").status_code == 200
    lost = _raw(server, ident, "PUT", path, data=b"two", headers={"If-None-Match": "*"})
    assert (lost.status_code, lost.json()["code"]) == (412, "IfNoneMatchFailed")
    # a read with the wildcard is refused, as OCI's GetObject takes an ETag there
    read = _raw(server, ident, "GET", path, headers={"If-None-Match": "*"})
    assert read.status_code == 400
    assert _raw(server, ident, "GET", path).content == b"one"


def test_exclusive_create_through_unifs_is_file_exists(fs, bucket):
    fs.pipe_file(f"{bucket}@{NS}/k", b"one")
    with pytest.raises(FileExistsError) as caught:
        fs.pipe_file(f"{bucket}@{NS}/k", b"two", mode="create")
    assert caught.value.status == 412  # type: ignore[attr-defined]
    assert fs.cat_file(f"{bucket}@{NS}/k") == b"one"


# -- 7. the test options are plain data: pickling round-trips equal -------------------------------


def test_fixture_options_are_plain_data_and_pickle_equal(oci_server):
    options = oci_server.storage_options
    assert "retry_strategy" not in options.get("config_kwargs", {})
    assert pickle.loads(pickle.dumps(options)) == options
    path = unifs.upath(f"oci://n/{oci_server.namespace}/b/data/o/x", **options)
    assert pickle.loads(pickle.dumps(path)) == path


# -- 8. an unknown storage option is refused by name --------------------------------------------


def test_unknown_storage_option_is_refused_by_name(options):
    with pytest.raises(TypeError, match=r"storage option 'namepsace' \(did you mean 'namespace'"):
        fsspec.filesystem("oci", skip_instance_cache=True, namepsace="x", **options)


def test_keyword_falling_through_to_storage_options_is_refused(options, bucket, tmp_path):
    with pytest.raises(TypeError, match="storage option 'concurency'"):
        unifs.get(f"oci://{bucket}@{NS}/", str(tmp_path), concurency=4, **options)


def test_fsspec_own_options_are_still_accepted(options):
    fs = fsspec.filesystem(
        "oci", skip_instance_cache=True, use_listings_cache=False, max_paths=10, **options
    )
    assert re.match(r"<OCIFileSystem", repr(fs))

