"""Where unifs's OCI client and its OCI test server once agreed with each other but not with
real OCI (issue #21): each numbered point of the issue, on the local server.

Every test here failed on the code before the fix (client and server written side by side).
The server's behaviour is also checked with Oracle's own SDK in
``tests/test_oci_sdk_conformance.py``.
"""

from __future__ import annotations

import errno
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


# -- 2. realms: a PAR or regional URL keeps its realm's host -------------------------------------


def _realm_regions() -> list[tuple[str, str]]:
    """(region, realm domain) for every region Oracle's SDK lists."""
    from oci.regions import REALMS, REGION_REALMS

    return sorted((region, REALMS[realm]) for region, realm in REGION_REALMS.items())


def _one_region_per_realm() -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for region, domain in _realm_regions():
        seen.setdefault(domain, region)
    return sorted((region, domain) for domain, region in seen.items())


TOKEN = "Zm9vYmFyYmF6cXV4" * 3


@pytest.mark.parametrize(("region", "domain"), _realm_regions())
def test_par_url_keeps_its_realm(region, domain):
    host = f"https://objectstorage.{region}.{domain}"
    url = f"{host}/p/{TOKEN}/n/acme/b/models/o/llama/config.json"
    u = unifs.parse(url)
    assert (u.region, u.namespace, u.bucket, u.key) == (
        region,
        "acme",
        "models",
        "llama/config.json",
    )
    assert u.format("https") == url
    fs, path = unifs.url_to_fs(url)
    assert fs.endpoint == f"{host}/p/{TOKEN}"
    assert path == "models@acme/llama/config.json"


@pytest.mark.parametrize(("region", "domain"), _realm_regions())
def test_regional_uri_formats_in_its_realm(region, domain):
    u = unifs.parse(f"oci://acme@{region}/models/llama/config.json")
    host = f"https://objectstorage.{region}.{domain}"
    assert u.format("https") == f"{host}/n/acme/b/models/o/llama/config.json"
    assert unifs.parse(u.format("https")).endpoint is None  # the host follows from the region
    s3 = unifs.storage_options(
        u,
        {
            "auth": "customer_secret_key",
            "access_key_id": "AKID",
            "secret_access_key": "not-a-real-secret",
        },
    )
    assert s3["endpoint_url"] == f"https://acme.compat.objectstorage.{region}.{domain}"


def test_every_sdk_realm_host_is_read_as_oci():
    from oci.regions import REALMS

    for domain in sorted(set(REALMS.values())):
        url = f"https://objectstorage.us-ashburn-1.{domain}/n/acme/b/m/o/k"
        assert unifs.parse(url).provider == "oci", domain


@pytest.mark.parametrize(("region", "domain"), _one_region_per_realm())
def test_presigned_par_keeps_its_realm(server, options, bucket, region, domain):
    """The PAR's fullPath (as OCI answers it, on the realm's host) survives parse,
    ``url_to_fs`` and ``format("https")``."""
    server.public_region = region
    try:
        signed = unifs.presign(f"oci://{bucket}@{NS}/k.bin", **options)
    finally:
        server.public_region = None
    host = f"https://objectstorage.{region}.{domain}"
    assert signed.url.startswith(f"{host}/p/")
    u = unifs.parse(signed.url)
    assert u.region == region
    assert u.format("https") == signed.url
    fs, _ = unifs.url_to_fs(signed.url)
    assert fs.endpoint.startswith(f"{host}/p/")


# -- 1. server-side copy: an asynchronous work request that needs a service policy ----------------


def test_copy_waits_for_the_work_request_and_backs_off(server, fs, bucket):
    server.put_object(bucket, "src.bin", b"payload")
    server.copy_delay = 1.0
    try:
        fs.cp_file(f"{bucket}@{NS}/src.bin", f"{bucket}@{NS}/dst.bin")
    finally:
        server.copy_delay = 0.05
    assert fs.cat_file(f"{bucket}@{NS}/dst.bin") == b"payload"
    # a second's wait in at most a handful of reads: the interval grows
    assert sum(server.work_request_reads.values()) <= 8


def test_copy_refused_by_missing_service_policy_names_the_policy(server, fs, bucket):
    from unifs.providers.oci_copy import CopyRefused

    server.put_object(bucket, "src.bin", b"payload")
    server.deny_copy_service(bucket)
    with pytest.raises(CopyRefused) as caught:
        fs.cp_file(f"{bucket}@{NS}/src.bin", f"{bucket}@{NS}/dst.bin")
    message = str(caught.value)
    assert "InsufficientServicePermissions" in message
    assert "Allow service objectstorage-" in message
    assert isinstance(caught.value, PermissionError)
    assert not fs.exists(f"{bucket}@{NS}/dst.bin")


def test_copy_has_a_deadline_and_cancels_the_work_request(server, ident, bucket):
    fs = fsspec.filesystem(
        "oci", skip_instance_cache=True, copy_timeout=0.5, **_options(server, ident)
    )
    server.put_object(bucket, "src.bin", b"payload")
    server.copy_delay = 60.0
    try:
        with pytest.raises(OSError, match="copy_timeout") as caught:
            fs.cp_file(f"{bucket}@{NS}/src.bin", f"{bucket}@{NS}/dst.bin")
    finally:
        server.copy_delay = 0.05
    assert caught.value.errno == errno.ETIMEDOUT
    canceled = [w for w in server._work_requests.values() if w["status"] == "CANCELED"]
    assert canceled, "the timed-out work request was left running"
    assert not fs.exists(f"{bucket}@{NS}/dst.bin")


def test_unifs_copy_streams_when_server_side_copy_is_refused(server, options, bucket):
    for name in ("a.bin", "b/c.bin"):
        server.put_object(bucket, f"src/{name}", name.encode() * 1000)
    server.deny_copy_service(bucket)
    report = unifs.copy(f"oci://{bucket}@{NS}/src/", f"oci://{bucket}@{NS}/dst/", **options)
    assert report.ok, report.failed
    assert sorted(report.transferred) == ["a.bin", "b/c.bin"]
    assert any("server-side copy refused, streamed instead" in n for n in report.notes)
    assert "streamed instead" in report.summary()
    fs = fsspec.filesystem("oci", skip_instance_cache=True, **options)
    assert fs.cat_file(f"{bucket}@{NS}/dst/b/c.bin") == b"b/c.bin" * 1000


# -- 5. Archive and Infrequent Access tiers: 409 NotRestored until restored --------------------


def test_archived_object_is_not_served_until_restored(server, ident, bucket):
    server.put_object(bucket, "cold.bin", b"frozen", storage_tier="Archive")
    path = f"/n/{NS}/b/{bucket}/o/cold.bin"
    got = _raw(server, ident, "GET", path)
    assert (got.status_code, got.json()["code"]) == (409, "NotRestored")
    head = _raw(server, ident, "HEAD", path)
    assert head.status_code == 200 and head.headers["archival-state"] == "Archived"
    assert head.headers["storage-tier"] == "Archive"


def test_reading_an_archived_object_says_so_in_one_line(server, fs, options, bucket, tmp_path):
    from unifs.providers.oci_http import NotRestoredError

    server.put_object(bucket, "cold/a.bin", b"frozen", storage_tier="Archive")
    with pytest.raises(NotRestoredError) as caught:
        fs.cat_file(f"{bucket}@{NS}/cold/a.bin")
    message = str(caught.value)
    assert "\n" not in message
    assert "Archive tier and not restored" in message and "restore" in message
    with pytest.raises(unifs.TransferError) as failed:
        unifs.get(f"oci://{bucket}@{NS}/cold/", str(tmp_path / "out"), **options)
    assert "Archive tier and not restored" in failed.value.report.failed["a.bin"]
    assert not (tmp_path / "out" / "a.bin").exists()


def test_restore_then_read(server, fs, bucket):
    server.put_object(bucket, "cold/a.bin", b"frozen-a", storage_tier="Archive")
    server.put_object(bucket, "cold/b.bin", b"frozen-b", storage_tier="Archive")
    server.put_object(bucket, "cold/warm.bin", b"warm", storage_tier="InfrequentAccess")
    assert fs.cat_file(f"{bucket}@{NS}/cold/warm.bin") == b"warm"  # no restore needed
    asked = fs.restore(f"{bucket}@{NS}/cold", wait=True, max_wait=60)
    assert sorted(asked) == [f"{bucket}@{NS}/cold/a.bin", f"{bucket}@{NS}/cold/b.bin"]
    assert fs.info(f"{bucket}@{NS}/cold/a.bin")["archivalState"] == "Restored"
    assert fs.cat_file(f"{bucket}@{NS}/cold/b.bin") == b"frozen-b"


def test_restore_wait_has_a_deadline(server, fs, bucket):
    from unifs.providers.oci_restore import RestoreTimedOut

    server.put_object(bucket, "cold.bin", b"frozen", storage_tier="Archive")
    server.restore_delay = 60.0
    try:
        with pytest.raises(RestoreTimedOut, match="still restoring"):
            fs.restore(f"{bucket}@{NS}/cold.bin", wait=True, max_wait=0.3)
    finally:
        server.restore_delay = 0.5
    assert fs.info(f"{bucket}@{NS}/cold.bin")["archivalState"] == "Restoring"


# -- 6. Retry-After dates, prefixes repeated across pages, unknown-upload errors -----------------


def test_retry_after_as_an_http_date():
    from datetime import datetime, timedelta, timezone
    from email.utils import format_datetime

    from unifs.providers.oci_http import retry_after_seconds

    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    later = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert retry_after_seconds(later, now) == 7.0
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=9), usegmt=True), now) == 0
    assert retry_after_seconds("3", now) == 3.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


def test_a_prefix_straddling_pages_is_on_each_page_and_listed_once(server, ident, fs, bucket):
    for name in ("d/1", "d/2", "d/3", "e"):
        server.put_object(bucket, name, b"x")
    path = f"/n/{NS}/b/{bucket}/o"
    first = _raw(server, ident, "GET", path, params={"delimiter": "/", "limit": "2"}).json()
    assert first["prefixes"] == ["d/"] and first["nextStartWith"] == "d/3"
    second = _raw(
        server, ident, "GET", path, params={"delimiter": "/", "limit": "2", "start": "d/3"}
    ).json()
    assert second["prefixes"] == ["d/"] and [o["name"] for o in second["objects"]] == ["e"]
    # unifs's listing pages by 1000: a prefix with more objects than that straddles two
    for i in range(1000):
        server.put_object(bucket, f"d/more/{i:04d}", b"x")
    assert fs.ls(f"{bucket}@{NS}", detail=False) == [f"{bucket}@{NS}/d", f"{bucket}@{NS}/e"]


def test_unknown_upload_is_404_not_authorized_or_not_found(server, ident, fs, bucket):
    path = f"/n/{NS}/b/{bucket}/u/k"
    answer = _raw(server, ident, "DELETE", path, params={"uploadId": "no-such-upload"})
    assert (answer.status_code, answer.json()["code"]) == (404, "NotAuthorizedOrNotFound")
    # unifs goes by the status: aborting an upload that is gone is not an error
    from fsspec.asyn import sync

    from unifs.providers.oci_io import Multipart

    upload = sync(fs.loop, Multipart.attach, fs, f"{bucket}@{NS}/k", "no-such-upload")
    sync(fs.loop, upload.abort)
    with pytest.raises(FileNotFoundError):
        sync(fs.loop, upload.part, 1, b"data")


# -- 9. instance principal off the cloud, a proxy answering the metadata address with 403 ---------


@pytest.fixture
def forbidding_metadata(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An HTTP server on loopback that answers everything 403, as a corporate proxy does for
    169.254.169.254; the SDK is pointed at it through its documented override."""
    import http.server
    import threading

    class Forbid(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>Forbidden by proxy policy</html>"
            self.send_response(403)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Forbid)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}/opc/v2"
    monkeypatch.setenv("OCI_METADATA_BASE_URL", base)
    try:
        yield base
    finally:
        httpd.shutdown()
        httpd.server_close()


# the SDK's certificate retriever leaves its streamed 403 response open when its signer
# fails to build; collect it here, where it was made, not in whichever test runs next
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_instance_principal_behind_a_403_proxy_is_one_unifs_line(forbidding_metadata):
    import gc

    auth = {"auth": "instance_principal", "region": "us-ashburn-1"}
    with pytest.raises(unifs.AuthError) as caught:
        unifs.url_to_fs("oci://models@acme/k", auth=auth)
    gc.collect()
    message = str(caught.value)
    assert "\n" not in message and "{" not in message  # not the SDK's error dict
    assert "auth 'instance_principal'" in message
    assert f"metadata service at {forbidding_metadata}" in message and "HTTP 403" in message


# -- 4. writes through a PAR over the multipart threshold: OCI's PAR multipart protocol ------------

MIB = 1 << 20


def test_par_multipart_protocol_on_the_server(server, options, bucket):
    import base64
    import hashlib

    import requests

    signed = unifs.presign(f"oci://{bucket}@{NS}/big.bin", method="PUT", **options)
    started = requests.put(signed.url, headers={"opc-multipart": "true"}, timeout=10)
    assert started.status_code == 200, started.text
    answer = started.json()
    assert answer["accessUri"].startswith("/p/") and answer["accessUri"].endswith("/")
    base = server.endpoint + answer["accessUri"]
    parts = [b"a" * MIB, b"b" * 100]
    for number, data in enumerate(parts, 1):
        put = requests.put(f"{base}{number}", data=data, timeout=10)
        assert put.status_code == 200, put.text
    assert requests.post(base, timeout=10).status_code == 200
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).digest()
    fs = fsspec.filesystem("oci", skip_instance_cache=True, **options)
    info = fs.info(f"{bucket}@{NS}/big.bin")
    assert info["md5"] == f"{base64.b64encode(digest).decode()}-2"
    assert fs.cat_file(f"{bucket}@{NS}/big.bin") == b"".join(parts)
    # the upload is gone once committed, and its PAR paths with it
    assert requests.put(f"{base}3", data=b"x", timeout=10).status_code == 404


def test_unifs_writes_through_a_par_over_the_multipart_threshold(server, options, bucket):
    signed = unifs.presign(f"oci://{bucket}@{NS}/dir/", method="PUT", **options)
    par_fs, root = unifs.url_to_fs(signed.url, multipart_threshold=5 * MIB)
    root = root.rstrip("/")
    data = bytes(range(256)) * (12 * MIB // 256)  # three 5 MiB parts, the last shorter
    par_fs.pipe_file(f"{root}/model.bin", data)
    fs = fsspec.filesystem("oci", skip_instance_cache=True, **options)
    assert fs.cat_file(f"{bucket}@{NS}/dir/model.bin") == data
    assert fs.info(f"{bucket}@{NS}/dir/model.bin")["md5"].endswith("-3")
    assert not server._buckets[bucket].uploads  # nothing left behind


def test_cli_restore(server, options, bucket, capsys):
    import json as _json

    from unifs.cli import main

    server.put_object(bucket, "cold/a.bin", b"frozen", storage_tier="Archive")
    opts = []
    for name, value in options.items():
        opts += ["-o", f"{name}={_json.dumps(value)}"]
    uri = f"oci://{bucket}@{NS}/cold/"
    assert main(["restore", uri, "--wait", "--max-wait", "60", *opts]) == 0
    assert f"restored: {bucket}@{NS}/cold/a.bin" in capsys.readouterr().out
    assert main(["cat", f"{uri}a.bin", *opts]) == 0
    assert capsys.readouterr().out == "frozen"
