"""Check the local OCI Object Storage server against the real oci SDK, ocifs and plain HTTP.

The server must behave like OCI for the SDK and ocifs *and* refuse what OCI refuses
(bad signatures, unknown keys, out-of-scope or expired PARs), so most tests here pair an
accepted call with a refused one.
"""

from __future__ import annotations

# Cloud SDKs probe metadata services on their own: set the no-probe environment and refuse
# connections outside 127.0.0.1/::1 before oci is imported (EMULATORS.md, Network safety).
from unifs.testing.network import guard

guard()

import base64  # noqa: E402
import email.utils  # noqa: E402
import hashlib  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import stat  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import oci  # noqa: E402
import ocifs  # noqa: E402
import pytest  # noqa: E402
import requests  # noqa: E402
from oci.object_storage.models import (  # noqa: E402
    CommitMultipartUploadDetails,
    CommitMultipartUploadPartDetails,
    CopyObjectDetails,
    CreateBucketDetails,
    CreateMultipartUploadDetails,
    CreatePreauthenticatedRequestDetails,
)
from oci.object_storage.transfer.upload_manager import UploadManager  # noqa: E402

import unifs.testing.oci_server.pars as oci_pars_module  # noqa: E402
from unifs.testing.oci_server import OCIServer, OCITestIdentity  # noqa: E402

NS = "unifs"
MIB = 1 << 20


# ---- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ident() -> OCITestIdentity:
    return OCITestIdentity.generate()


@pytest.fixture(scope="module")
def server(ident: OCITestIdentity) -> Iterator[OCIServer]:
    with OCIServer(namespace=NS, identities=[ident], port=0) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: OCIServer, ident: OCITestIdentity) -> oci.object_storage.ObjectStorageClient:
    return _client(server, ident)


@pytest.fixture
def bucket(server: OCIServer, request: pytest.FixtureRequest) -> str:
    """Give each test its own fresh bucket, named after the test."""
    name = re.sub(r"[^A-Za-z0-9_-]", "-", request.node.name)[:60]
    server.create_bucket(name)
    return name


@pytest.fixture(scope="module")
def fs(server: OCIServer, ident: OCITestIdentity) -> ocifs.OCIFileSystem:
    return ocifs.OCIFileSystem(
        config=ident.config(),
        config_kwargs={
            "service_endpoint": server.endpoint,
            "retry_strategy": oci.retry.NoneRetryStrategy(),
        },
        skip_instance_cache=True,
    )


def _client(server: OCIServer, ident: OCITestIdentity) -> oci.object_storage.ObjectStorageClient:
    return oci.object_storage.ObjectStorageClient(
        ident.config(),
        service_endpoint=server.endpoint,
        retry_strategy=oci.retry.NoneRetryStrategy(),
    )


def _signer(ident: OCITestIdentity) -> oci.signer.Signer:
    """Return the SDK's own request signer, for raw `requests` calls."""
    return oci.signer.Signer(
        ident.tenancy,
        ident.user,
        ident.fingerprint,
        None,
        private_key_content=ident.private_key_pem.decode(),
    )


def _urlopen(req: urllib.request.Request | str) -> tuple[int, bytes, Any]:
    """Send with urllib (no SDK, no signature); return status, body, headers, errors included."""
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers


def _par(
    client: oci.object_storage.ObjectStorageClient,
    bucket: str,
    access_type: str,
    object_name: str | None = None,
    listing: str | None = None,
    expires_in: timedelta = timedelta(hours=1),
) -> oci.object_storage.models.PreauthenticatedRequest:
    details = CreatePreauthenticatedRequestDetails(
        name=f"par-{access_type}",
        access_type=access_type,
        object_name=object_name,
        bucket_listing_action=listing,
        time_expires=datetime.now(timezone.utc) + expires_in,
    )
    return client.create_preauthenticated_request(NS, bucket, details).data


def _service_error(call: Any, *args: Any, **kwargs: Any) -> oci.exceptions.ServiceError:
    with pytest.raises(oci.exceptions.ServiceError) as info:
        call(*args, **kwargs)
    return info.value


# ---- identity -----------------------------------------------------------------------------


def test_identity_config_is_valid_and_repr_hides_key(ident: OCITestIdentity, tmp_path: Path):
    oci.config.validate_config(ident.config())
    assert ident.key_id == f"{ident.tenancy}/{ident.user}/{ident.fingerprint}"
    assert ident.region == "us-ashburn-1"
    assert b"PRIVATE KEY" in ident.private_key_pem
    text = repr(ident)
    assert "PRIVATE" not in text and ident.private_key_pem.decode()[40:80] not in text

    path = ident.write_config_file(tmp_path, profile="TEST")
    loaded = oci.config.from_file(str(path), profile_name="TEST")
    oci.config.validate_config(loaded)
    assert loaded["fingerprint"] == ident.fingerprint
    assert Path(loaded["key_file"]).read_bytes() == ident.private_key_pem
    assert stat.S_IMODE(Path(loaded["key_file"]).stat().st_mode) == 0o600


def test_fingerprint_is_md5_of_der_public_key(ident: OCITestIdentity):
    from cryptography.hazmat.primitives import serialization

    der = ident.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert ident.fingerprint.replace(":", "") == hashlib.md5(der).hexdigest()


def test_server_refuses_non_loopback_host():
    with pytest.raises(ValueError, match="loopback"):
        OCIServer(host="0.0.0.0")


# ---- namespace and buckets ----------------------------------------------------------------


def test_namespace(client, server, ident):
    assert client.get_namespace().data == NS
    meta = client.get_namespace_metadata(NS).data
    assert meta.namespace == NS
    assert meta.default_swift_compartment_id == ident.tenancy
    # Both spellings of the path answer a JSON string.
    resp = requests.get(f"{server.endpoint}/n/", auth=_signer(ident), timeout=10)
    assert resp.status_code == 200 and resp.json() == NS
    assert _service_error(client.get_namespace_metadata, "other-ns").status == 404


def test_bucket_lifecycle(client, ident):
    details = CreateBucketDetails(name="lifecycle-b", compartment_id=ident.tenancy)
    created = client.create_bucket(NS, details)
    assert created.data.name == "lifecycle-b" and created.headers["etag"]
    assert _service_error(client.create_bucket, NS, details).status == 409

    names = [b.name for b in client.list_buckets(NS, ident.tenancy).data]
    assert "lifecycle-b" in names
    assert client.list_buckets(NS, "ocid1.compartment.oc1..other").data == []
    assert client.head_bucket(NS, "lifecycle-b").headers["etag"] == created.headers["etag"]
    got = client.get_bucket(NS, "lifecycle-b", fields=["approximateCount"]).data
    assert got.approximate_count == 0 and got.compartment_id == ident.tenancy

    client.put_object(NS, "lifecycle-b", "x", b"1")
    err = _service_error(client.delete_bucket, NS, "lifecycle-b")
    assert (err.status, err.code) == (409, "BucketNotEmpty")
    client.delete_object(NS, "lifecycle-b", "x")
    assert client.delete_bucket(NS, "lifecycle-b").status == 204
    err = _service_error(client.get_bucket, NS, "lifecycle-b")
    assert (err.status, err.code) == (404, "BucketNotFound")


# ---- objects ------------------------------------------------------------------------------


def test_put_get_head_delete(client, bucket):
    key = "dir/hello wörld+100%.txt"  # '/', space, unicode, '+', '%' all survive the path
    put = client.put_object(
        NS, bucket, key, b"hello world", content_type="text/plain", opc_meta={"color": "blue"}
    )
    md5 = base64.b64encode(hashlib.md5(b"hello world").digest()).decode()
    assert put.headers["opc-content-md5"] == md5

    got = client.get_object(NS, bucket, key)
    assert got.data.content == b"hello world"
    assert got.headers["Content-Type"] == "text/plain"
    assert got.headers["opc-meta-color"] == "blue"
    assert got.headers["Content-MD5"] == md5
    assert got.headers["etag"] == put.headers["etag"]

    head = client.head_object(NS, bucket, key)
    assert head.headers["Content-Length"] == "11"
    assert head.headers["accept-ranges"] == "bytes"
    assert "last-modified" in head.headers and "version-id" in head.headers

    assert client.delete_object(NS, bucket, key).status == 204
    err = _service_error(client.get_object, NS, bucket, key)
    assert (err.status, err.code) == (404, "ObjectNotFound")
    assert _service_error(client.head_object, NS, bucket, key).status == 404
    assert _service_error(client.get_object, NS, "no-such-bucket", key).code == "BucketNotFound"


def test_put_checks_content_md5_and_if_none_match(client, bucket):
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    err = _service_error(client.put_object, NS, bucket, "k", b"data", content_md5=wrong)
    assert err.status == 400
    assert _service_error(client.head_object, NS, bucket, "k").status == 404  # nothing stored

    right = base64.b64encode(hashlib.md5(b"data").digest()).decode()
    assert client.put_object(NS, bucket, "k", b"data", content_md5=right).status == 200
    err = _service_error(client.put_object, NS, bucket, "k", b"new", if_none_match="*")
    assert (err.status, err.code) == (412, "IfNoneMatchFailed")  # as real OCI answers
    assert client.get_object(NS, bucket, "k").data.content == b"data"


def test_list_prefix_delimiter_and_pagination(client, server, bucket):
    names = [f"a/{i:02d}" for i in range(12)] + ["a/sub/x", "a/sub/y", "b/1", "top"]
    for name in names:
        server.put_object(bucket, name, name.encode())

    flat = oci.pagination.list_call_get_all_results(
        client.list_objects, NS, bucket, limit=5, fields="name,size,md5,etag,timeCreated"
    ).data.objects
    assert [o.name for o in flat] == sorted(names)
    assert flat[0].size == len(flat[0].name) and flat[0].md5 and flat[0].time_created

    first = client.list_objects(NS, bucket, limit=5).data
    assert len(first.objects) == 5 and first.next_start_with == "a/05"
    assert first.objects[0].size is None  # only "name" unless fields asks for more

    top = client.list_objects(NS, bucket, delimiter="/").data
    assert [o.name for o in top.objects] == ["top"]
    assert top.prefixes == ["a/", "b/"]

    under_a = client.list_objects(NS, bucket, prefix="a/", delimiter="/").data
    assert len(under_a.objects) == 12 and under_a.prefixes == ["a/sub/"]

    # Paging through a delimited listing: every object folded into a prefix counts toward a
    # page's limit, as in OCI; here "a/sub/"'s objects fit on one page, so it is there once
    # (tests/test_oci_realcloud.py has one that straddles pages).
    pages: list[Any] = []
    start = None
    while True:
        kwargs = {"start": start} if start else {}
        page = client.list_objects(NS, bucket, prefix="a/", delimiter="/", limit=4, **kwargs).data
        pages.append(page)
        start = page.next_start_with
        if start is None:
            break
    assert sum(len(p.objects) for p in pages) == 12
    assert [pre for p in pages for pre in p.prefixes] == ["a/sub/"]

    ranged = client.list_objects(NS, bucket, start="a/10", end="a/sub/y").data
    assert [o.name for o in ranged.objects] == ["a/10", "a/11", "a/sub/x"]
    assert _service_error(client.list_objects, NS, bucket, delimiter="-").status == 400


def test_ranges(client, server, bucket):
    data = bytes(range(256)) * 4
    server.put_object(bucket, "r", data)
    cases = {"bytes=10-19": (10, 19), "bytes=1000-": (1000, 1023), "bytes=-5": (1019, 1023)}
    for header, (first, last) in cases.items():
        resp = client.get_object(NS, bucket, "r", range=header)
        assert resp.status == 206
        assert resp.data.content == data[first : last + 1]
        assert resp.headers["Content-Range"] == f"bytes {first}-{last}/1024"
        assert "Content-MD5" not in resp.headers  # a checksum of the whole would mislead
    past_end = client.get_object(NS, bucket, "r", range="bytes=1000-5000")
    assert past_end.data.content == data[1000:]
    for unsatisfiable in ("bytes=1024-", "bytes=2000-3000"):
        err = _service_error(client.get_object, NS, bucket, "r", range=unsatisfiable)
        assert err.status == 416
    server.put_object(bucket, "empty", b"")
    assert _service_error(client.get_object, NS, bucket, "empty", range="bytes=-1").status == 416
    # A range the server does not understand is ignored, as RFC 9110 allows.
    assert client.get_object(NS, bucket, "r", range="bytes=9-3").status == 200


def test_large_object_streams_intact(client, server, bucket):
    data = os.urandom(3 * MIB + 123)  # several 1 MiB socket writes
    server.put_object(bucket, "big", data)
    assert client.get_object(NS, bucket, "big").data.content == data
    tail = client.get_object(NS, bucket, "big", range=f"bytes={2 * MIB}-").data.content
    assert tail == data[2 * MIB :]


# ---- multipart ----------------------------------------------------------------------------


def _multipart_md5(parts: list[bytes]) -> str:
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).digest()
    return f"{base64.b64encode(digest).decode()}-{len(parts)}"


def test_upload_manager_multipart(client, bucket, tmp_path):
    data = os.urandom(2 * MIB + 5000)
    path = tmp_path / "payload.bin"
    path.write_bytes(data)
    manager = UploadManager(client, allow_parallel_uploads=True, parallel_process_count=3)
    resp = manager.upload_file(NS, bucket, "mp/obj", str(path), part_size=MIB)
    expected = _multipart_md5([data[:MIB], data[MIB : 2 * MIB], data[2 * MIB :]])
    assert resp.headers["opc-multipart-md5"] == expected

    got = client.get_object(NS, bucket, "mp/obj")
    assert got.data.content == data
    assert got.headers["opc-multipart-md5"] == expected
    assert "Content-MD5" not in got.headers
    listed = client.list_objects(NS, bucket, prefix="mp/", fields="md5,size").data.objects
    assert [(o.md5, o.size) for o in listed] == [(expected, len(data))]
    assert client.list_multipart_uploads(NS, bucket).data == []  # committed uploads are gone


def test_multipart_api_parts_commit_and_abort(client, bucket):
    create = CreateMultipartUploadDetails(object="manual", content_type="text/csv")
    upload = client.create_multipart_upload(NS, bucket, create).data
    assert [u.upload_id for u in client.list_multipart_uploads(NS, bucket).data] == [
        upload.upload_id
    ]
    etags = {}
    for num, chunk in ((1, b"a" * 10), (2, b"b" * 5)):
        resp = client.upload_part(NS, bucket, "manual", upload.upload_id, num, chunk)
        etags[num] = resp.headers["etag"]
        assert (
            resp.headers["opc-content-md5"]
            == base64.b64encode(hashlib.md5(chunk).digest()).decode()
        )
    parts = client.list_multipart_upload_parts(NS, bucket, "manual", upload.upload_id).data
    assert [(p.part_number, p.size, p.etag) for p in parts] == [(1, 10, etags[1]), (2, 5, etags[2])]

    def commit(etag2: str) -> oci.response.Response:
        details = CommitMultipartUploadDetails(
            parts_to_commit=[
                CommitMultipartUploadPartDetails(part_num=1, etag=etags[1]),
                CommitMultipartUploadPartDetails(part_num=2, etag=etag2),
            ]
        )
        return client.commit_multipart_upload(NS, bucket, "manual", upload.upload_id, details)

    assert _service_error(commit, "wrong-etag").status == 400
    done = commit(etags[2])
    assert done.headers["opc-multipart-md5"] == _multipart_md5([b"a" * 10, b"b" * 5])
    got = client.get_object(NS, bucket, "manual")
    assert got.data.content == b"a" * 10 + b"b" * 5
    assert got.headers["Content-Type"] == "text/csv"

    other = client.create_multipart_upload(
        NS, bucket, CreateMultipartUploadDetails(object="aborted")
    ).data
    assert client.abort_multipart_upload(NS, bucket, "aborted", other.upload_id).status == 204
    err = _service_error(client.upload_part, NS, bucket, "aborted", other.upload_id, 1, b"x")
    assert err.status == 404


# ---- ocifs --------------------------------------------------------------------------------


def test_ocifs_write_read_copy_rename(fs, client, bucket):
    root = f"oci://{bucket}@{NS}"
    data = os.urandom(11 * MIB)  # > 5 MiB block: ocifs goes multipart
    with fs.open(f"{root}/dir/big.bin", "wb") as fh:
        fh.write(data)
    # ocifs sends one 5 MiB part and folds the 6 MiB remainder into the second.
    head = client.head_object(NS, bucket, "dir/big.bin")
    assert head.headers["opc-multipart-md5"] == _multipart_md5([data[: 5 * MIB], data[5 * MIB :]])
    info = fs.info(f"{root}/dir/big.bin")
    assert info["size"] == len(data) and info["type"] == "file"
    assert isinstance(fs.checksum(f"{root}/dir/big.bin"), int)  # ocifs parses the ETag as hex

    with fs.open(f"{root}/dir/big.bin", "rb", block_size=MIB) as fh:
        fh.seek(7 * MIB)
        assert fh.read(100) == data[7 * MIB : 7 * MIB + 100]
    assert fs.cat_file(f"{root}/dir/big.bin", start=-10) == data[-10:]

    fs.pipe(f"{root}/dir/small.txt", b"small")
    assert fs.cat(f"{root}/dir/small.txt") == b"small"
    assert sorted(fs.ls(f"{root}/dir", refresh=True)) == [
        f"{bucket}@{NS}/dir/big.bin",
        f"{bucket}@{NS}/dir/small.txt",
    ]
    assert fs.info(f"{root}/dir")["type"] == "directory"

    fs.copy(f"{root}/dir/small.txt", f"{root}/copied.txt")
    # OCI copies asynchronously (a work request) and ocifs does not wait for it
    oci.wait_until(
        client,
        client.list_objects(NS, bucket, prefix="copied.txt"),
        evaluate_response=lambda r: bool(r.data.objects),
        max_wait_seconds=30,
        max_interval_seconds=1,
        succeed_on_not_found=False,
    )
    assert fs.cat(f"{root}/copied.txt") == b"small"
    fs.rename(f"{root}/copied.txt", f"{root}/renamed.txt")
    assert fs.cat(f"{root}/renamed.txt") == b"small"
    assert not fs.exists(f"{root}/copied.txt")
    fs.rm(f"{root}/renamed.txt")
    with pytest.raises(FileNotFoundError):
        fs.info(f"{root}/renamed.txt")


def test_copy_object_reports_completed_work_request(client, server, bucket):
    server.put_object(bucket, "src", b"payload", metadata={"k": "v"})
    details = CopyObjectDetails(
        source_object_name="src",
        destination_region="us-ashburn-1",
        destination_namespace=NS,
        destination_bucket=bucket,
        destination_object_name="dst",
    )
    server.copy_delay = 1.0  # as in OCI, the copy is accepted now and made later
    try:
        resp = client.copy_object(NS, bucket, details)
        assert resp.status == 202
        work_id = resp.headers["opc-work-request-id"]
        assert client.get_work_request(work_id).data.status == "ACCEPTED"
    finally:
        server.copy_delay = 0.05
    work = oci.wait_until(
        client,
        client.get_work_request(work_id),
        "status",
        "COMPLETED",
        max_wait_seconds=30,
        max_interval_seconds=1,
    ).data
    assert work.status == "COMPLETED" and work.operation_type == "COPY_OBJECT"
    got = client.get_object(NS, bucket, "dst")
    assert got.data.content == b"payload" and got.headers["opc-meta-k"] == "v"
    details.source_object_name = "missing"
    assert _service_error(client.copy_object, NS, bucket, details).status == 404


# ---- pre-authenticated requests -----------------------------------------------------------


def test_par_create_list_get_delete(client, server, ident, bucket):
    par = _par(client, bucket, "ObjectRead", object_name="a b.txt")
    assert par.access_uri.startswith("/p/") and par.access_uri.endswith("/o/a%20b.txt")
    assert par.full_path.startswith("http://127.0.0.1:")
    assert par.time_expires > datetime.now(timezone.utc)

    listed = client.list_preauthenticated_requests(NS, bucket).data
    assert [(p.id, p.object_name, p.access_type) for p in listed] == [
        (par.id, "a b.txt", "ObjectRead")
    ]
    got = client.get_preauthenticated_request(NS, bucket, par.id).data
    assert (got.name, got.object_name) == (par.name, "a b.txt")
    # Like OCI, the bearer URL is shown once at creation and never again.
    raw = requests.get(
        f"{server.endpoint}/n/{NS}/b/{bucket}/p/{par.id}", auth=_signer(ident), timeout=10
    )
    assert raw.json()["id"] == par.id and "accessUri" not in raw.json()
    assert par.access_uri.split("/")[2] not in raw.text

    assert client.delete_preauthenticated_request(NS, bucket, par.id).status == 204
    assert client.list_preauthenticated_requests(NS, bucket).data == []
    err = _service_error(client.get_preauthenticated_request, NS, bucket, par.id)
    assert err.status == 404


def test_par_create_rejects_bad_requests(client, bucket):
    err = _service_error(_par, client, bucket, "ObjectRead")  # object PAR without object
    assert err.status == 400
    err = _service_error(_par, client, bucket, "AnyObjectWrite", listing="ListObjects")
    assert err.status == 400
    err = _service_error(_par, client, bucket, "AnyObjectRead", expires_in=timedelta(hours=-1))
    assert err.status == 400


def test_par_object_read_download_and_refusals(client, server, bucket):
    server.put_object(bucket, "shared/file.txt", b"shared bytes")
    server.put_object(bucket, "shared/other.txt", b"other bytes")
    par = _par(client, bucket, "ObjectRead", object_name="shared/file.txt")

    status, body, headers = _urlopen(par.full_path)
    assert (status, body) == (200, b"shared bytes")
    assert headers["ETag"]
    ranged = requests.get(par.full_path, headers={"Range": "bytes=-5"}, timeout=10)
    assert (ranged.status_code, ranged.content) == (206, b"bytes")

    put = urllib.request.Request(par.full_path, data=b"overwrite", method="PUT")
    assert _urlopen(put)[0] == 404  # read PAR refuses writes
    other = par.full_path.replace("file.txt", "other.txt")
    assert _urlopen(other)[0] == 404  # object PAR refuses other objects
    assert client.get_object(NS, bucket, "shared/file.txt").data.content == b"shared bytes"


def test_par_object_write_upload(client, bucket):
    par = _par(client, bucket, "ObjectWrite", object_name="inbox/upload.bin")
    put = urllib.request.Request(
        par.full_path,
        data=b"uploaded via PAR",
        method="PUT",
        headers={"Content-Type": "application/octet-stream"},
    )
    assert _urlopen(put)[0] == 200
    assert client.get_object(NS, bucket, "inbox/upload.bin").data.content == b"uploaded via PAR"
    assert _urlopen(par.full_path)[0] == 404  # write PAR refuses reads
    assert requests.put(par.full_path + "x", data=b"no", timeout=10).status_code == 404


def test_par_prefix_listing_and_scope(client, server, bucket):
    for name in ("pub/a.txt", "pub/sub/b.txt", "private/c.txt"):
        server.put_object(bucket, name, name.encode())
    par = _par(client, bucket, "AnyObjectRead", object_name="pub/", listing="ListObjects")
    assert par.access_uri.endswith("/o/")

    listing = requests.get(par.full_path, timeout=10)
    assert listing.status_code == 200
    assert [o["name"] for o in listing.json()["objects"]] == ["pub/a.txt", "pub/sub/b.txt"]
    nested = requests.get(
        par.full_path, params={"prefix": "pub/", "delimiter": "/"}, timeout=10
    ).json()
    assert [o["name"] for o in nested["objects"]] == ["pub/a.txt"]
    assert nested["prefixes"] == ["pub/sub/"]
    assert requests.get(par.full_path, params={"prefix": "private/"}, timeout=10).status_code == 404

    assert _urlopen(par.full_path + "pub/sub/b.txt")[1] == b"pub/sub/b.txt"
    assert _urlopen(par.full_path + "private/c.txt")[0] == 404  # outside the prefix
    put = urllib.request.Request(par.full_path + "pub/new.txt", data=b"x", method="PUT")
    assert _urlopen(put)[0] == 404

    no_listing = _par(client, bucket, "AnyObjectReadWrite")
    assert requests.get(no_listing.full_path, timeout=10).status_code == 404
    assert requests.put(no_listing.full_path + "rw.txt", data=b"rw", timeout=10).status_code == 200
    assert _urlopen(no_listing.full_path + "rw.txt")[1] == b"rw"


def test_par_expired_and_revoked(client, server, bucket, monkeypatch):
    server.put_object(bucket, "f", b"secret")
    par = _par(client, bucket, "ObjectRead", object_name="f", expires_in=timedelta(minutes=5))
    assert _urlopen(par.full_path)[0] == 200

    # Jump the clock the PAR routes read past timeExpires instead of sleeping through it.
    later = datetime.now(timezone.utc) + timedelta(minutes=6)
    monkeypatch.setattr(oci_pars_module, "_utcnow", lambda: later)
    status, body, _ = _urlopen(par.full_path)
    assert status == 404 and b"secret" not in body
    monkeypatch.undo()
    assert _urlopen(par.full_path)[0] == 200

    client.delete_preauthenticated_request(NS, bucket, par.id)
    assert _urlopen(par.full_path)[0] == 404
    forged = re.sub(r"/p/[^/]+/", "/p/not-a-real-token/", par.full_path)
    assert _urlopen(forged)[0] == 404


def test_keep_alive_serves_several_requests_per_connection(client, server, bucket):
    server.put_object(bucket, "ka", b"keep-alive")
    par = _par(client, bucket, "ObjectRead", object_name="ka")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        for _ in range(3):
            conn.request("GET", par.access_uri)
            resp = conn.getresponse()
            assert (resp.status, resp.read()) == (200, b"keep-alive")
            assert resp.getheader("Connection") != "close"
        conn.request("GET", "/n/")  # unsigned: refused, connection still usable after
        resp = conn.getresponse()
        assert resp.status == 401 and json.loads(resp.read())["code"] == "NotAuthenticated"
        conn.request("HEAD", par.access_uri)
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Content-Length") == "10"
        assert resp.read() == b""
    finally:
        conn.close()


# ---- signatures ---------------------------------------------------------------------------


def test_untrusted_key_is_refused_until_added(server, bucket):
    stranger = OCITestIdentity.generate()
    stranger_client = _client(server, stranger)
    err = _service_error(stranger_client.list_objects, NS, bucket)
    assert (err.status, err.code) == (401, "NotAuthenticated")
    server.add_identity(stranger)
    try:
        assert stranger_client.list_objects(NS, bucket).status == 200
    finally:
        server.remove_identity(stranger)
    assert _service_error(stranger_client.get_namespace).status == 401


def test_same_ocids_with_a_different_key_are_refused(server, ident):
    # An attacker who knows the OCIDs and fingerprint but not the private key.
    impostor_key = OCITestIdentity.generate()
    cfg = ident.config() | {"key_content": impostor_key.private_key_pem.decode()}
    impostor = oci.object_storage.ObjectStorageClient(
        cfg, service_endpoint=server.endpoint, retry_strategy=oci.retry.NoneRetryStrategy()
    )
    assert _service_error(impostor.get_namespace).status == 401


def test_unsigned_request_is_refused(server):
    status, body, _ = _urlopen(f"{server.endpoint}/n/")
    assert status == 401 and json.loads(body)["code"] == "NotAuthenticated"


class _TamperedSignature(requests.auth.AuthBase):
    """Sign with the SDK's signer, then flip one signature character."""

    def __init__(self, signer: oci.signer.Signer) -> None:
        self.signer = signer

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r = self.signer(r)
        auth = r.headers["authorization"]
        sig = re.search(r'signature="([^"]+)"', auth).group(1)
        flipped = ("B" if sig[0] == "A" else "A") + sig[1:]
        r.headers["authorization"] = auth.replace(sig, flipped)
        return r


def test_tampered_signature_is_refused(server, ident):
    url = f"{server.endpoint}/n/"
    assert requests.get(url, auth=_signer(ident), timeout=10).status_code == 200
    resp = requests.get(url, auth=_TamperedSignature(_signer(ident)), timeout=10)
    assert resp.status_code == 401 and resp.json()["code"] == "NotAuthenticated"


def test_signature_replayed_on_another_path_is_refused(server, ident, bucket):
    signed = requests.Request("GET", f"{server.endpoint}/n/{NS}/b/{bucket}/o").prepare()
    signed = _signer(ident)(signed)
    with requests.Session() as session:
        assert session.send(signed, timeout=10).status_code == 200
        signed.url = f"{server.endpoint}/n/{NS}/b/{bucket}/o?prefix=x"
        assert session.send(signed, timeout=10).status_code == 401


def test_stale_date_is_refused(server, ident):
    old = email.utils.format_datetime(datetime.now(timezone.utc) - timedelta(minutes=10), True)
    resp = requests.get(
        f"{server.endpoint}/n/", headers={"date": old}, auth=_signer(ident), timeout=10
    )
    assert resp.status_code == 401


def test_body_changed_after_signing_is_refused(server, ident):
    body = json.dumps({"name": "tamper-b", "compartmentId": ident.tenancy})
    req = requests.Request(
        "POST",
        f"{server.endpoint}/n/{NS}/b",
        data=body,
        headers={"content-type": "application/json"},
    ).prepare()
    req = _signer(ident)(req)
    assert "x-content-sha256" in req.headers["authorization"]
    req.body = body.replace("tamper-b", "tamper-c").encode()  # same length, other bytes
    with requests.Session() as session:
        assert session.send(req, timeout=10).status_code == 401


def test_post_without_body_headers_signed_is_refused(server, ident):
    # A POST signed with only the GET header set leaves the body unprotected: OCI refuses it.
    body = json.dumps({"name": "weak-b", "compartmentId": ident.tenancy})
    req = requests.Request(
        "POST",
        f"{server.endpoint}/n/{NS}/b",
        data=body,
        headers={"content-type": "application/json"},
    ).prepare()
    req = _signer(ident).without_content_headers(req)
    with requests.Session() as session:
        assert session.send(req, timeout=10).status_code == 401


def test_stop_closes_port_and_reset_drops_state(ident):
    srv = OCIServer(identities=[ident]).start()
    srv.create_bucket("gone")
    c = _client(srv, ident)
    assert [b.name for b in c.list_buckets(NS, ident.tenancy).data] == ["gone"]
    srv.reset()
    assert c.list_buckets(NS, ident.tenancy).data == []
    endpoint = srv.endpoint
    srv.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{endpoint}/n/", timeout=2)
