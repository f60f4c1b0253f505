"""unifs's OCI test server checked by code neither unifs's client nor the server wrote:
Oracle's own ``oci`` SDK (``ObjectStorageClient``, ``UploadManager``, ``oci.wait_until``
and the SDK's response models, which refuse values outside OCI's enumerations).

Each test drives one behaviour of real OCI that unifs's client depends on (issue #21):
exclusive create, asynchronous CopyObject and its work request (errors included),
Archive-tier restores, PARs (their multipart protocol too), listing pages, unknown uploads.
"""

from __future__ import annotations

from unifs.testing.network import guard

guard()  # before the SDK is imported: loopback only

import base64  # noqa: E402
import hashlib  # noqa: E402
import io  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402
from typing import Any  # noqa: E402

import oci  # noqa: E402
import pytest  # noqa: E402
import requests  # noqa: E402
from oci.object_storage.models import (  # noqa: E402
    CopyObjectDetails,
    CreatePreauthenticatedRequestDetails,
    RestoreObjectsDetails,
    UpdateObjectStorageTierDetails,
    WorkRequest,
)
from oci.object_storage.transfer.upload_manager import UploadManager  # noqa: E402

from unifs.testing.oci_server import OCIServer, OCITestIdentity  # noqa: E402

NS = "sdkconf"
MIB = 1 << 20
REGION = "us-ashburn-1"


@pytest.fixture(scope="module")
def ident() -> OCITestIdentity:
    return OCITestIdentity.generate()


@pytest.fixture(scope="module")
def server(ident: OCITestIdentity) -> Iterator[OCIServer]:
    with OCIServer(namespace=NS, identities=[ident], restore_delay=0.3) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: OCIServer, ident: OCITestIdentity) -> Any:
    return oci.object_storage.ObjectStorageClient(
        ident.config(),
        service_endpoint=server.endpoint,
        retry_strategy=oci.retry.NoneRetryStrategy(),
    )


@pytest.fixture
def bucket(server: OCIServer) -> str:
    name = f"sdk-{uuid.uuid4().hex[:10]}"
    server.create_bucket(name)
    return name


def _error(call: Any, *args: Any, **kwargs: Any) -> oci.exceptions.ServiceError:
    with pytest.raises(oci.exceptions.ServiceError) as caught:
        call(*args, **kwargs)
    return caught.value


def _copy_details(source: str, bucket: str, dest: str) -> CopyObjectDetails:
    return CopyObjectDetails(
        source_object_name=source,
        destination_region=REGION,
        destination_namespace=NS,
        destination_bucket=bucket,
        destination_object_name=dest,
    )


def _finished(client: Any, work_id: str) -> WorkRequest:
    return oci.wait_until(
        client,
        client.get_work_request(work_id),
        evaluate_response=lambda r: r.data.status in ("COMPLETED", "FAILED", "CANCELED"),
        max_wait_seconds=30,
        max_interval_seconds=1,
    ).data


# -- exclusive create ------------------------------------------------------------------------


def test_exclusive_create_is_412_if_none_match_failed(client, bucket):
    client.put_object(NS, bucket, "k", b"one")
    err = _error(client.put_object, NS, bucket, "k", b"two", if_none_match="*")
    assert (err.status, err.code) == (412, "IfNoneMatchFailed")
    # If-None-Match on a read takes an ETag: the current one is 304, a wildcard is refused
    etag = client.head_object(NS, bucket, "k").headers["etag"]
    assert _error(client.head_object, NS, bucket, "k", if_none_match=etag).status == 304
    assert _error(client.get_object, NS, bucket, "k", if_none_match="*").status == 400


# -- CopyObject: an asynchronous work request ------------------------------------------------------


def test_copy_is_a_work_request_the_sdk_waits_for(client, server, bucket):
    client.put_object(NS, bucket, "src", b"payload", opc_meta={"k": "v"})
    server.copy_delay = 0.5
    try:
        accepted = client.copy_object(NS, bucket, _copy_details("src", bucket, "dst"))
    finally:
        server.copy_delay = 0.05
    assert accepted.status == 202
    work_id = accepted.headers["opc-work-request-id"]
    assert client.get_work_request(work_id).data.status == "ACCEPTED"
    assert _error(client.head_object, NS, bucket, "dst").status == 404  # not copied yet
    work = _finished(client, work_id)
    assert (work.status, work.operation_type, work.percent_complete) == (
        "COMPLETED",
        "COPY_OBJECT",
        100.0,
    )
    assert isinstance(work.time_finished, datetime)
    assert work.resources[0].identifier == "dst"
    got = client.get_object(NS, bucket, "dst")
    assert got.data.content == b"payload" and got.headers["opc-meta-k"] == "v"
    assert client.list_work_request_errors(work_id).data == []
    listed = client.list_work_requests(server.compartment_id).data
    assert work_id in [w.id for w in listed]


def test_copy_without_the_service_policy_fails_with_its_reason(client, server, bucket):
    client.put_object(NS, bucket, "src", b"payload")
    server.deny_copy_service(bucket)
    accepted = client.copy_object(NS, bucket, _copy_details("src", bucket, "dst"))
    assert accepted.status == 202  # accepted: the refusal comes later
    work = _finished(client, accepted.headers["opc-work-request-id"])
    assert work.status == "FAILED"
    errors = client.list_work_request_errors(work.id).data
    assert [e.code for e in errors] == ["InsufficientServicePermissions"]
    assert f"objectstorage-{REGION}" in errors[0].message
    assert isinstance(errors[0].timestamp, datetime)
    assert _error(client.head_object, NS, bucket, "dst").status == 404


def test_a_pending_copy_can_be_canceled(client, server, bucket):
    client.put_object(NS, bucket, "src", b"payload")
    server.copy_delay = 30.0
    try:
        accepted = client.copy_object(NS, bucket, _copy_details("src", bucket, "dst"))
        work_id = accepted.headers["opc-work-request-id"]
        client.cancel_work_request(work_id)
    finally:
        server.copy_delay = 0.05
    assert client.get_work_request(work_id).data.status == "CANCELED"
    assert _error(client.cancel_work_request, work_id).status == 409  # finished already
    assert _error(client.head_object, NS, bucket, "dst").status == 404


# -- Archive and Infrequent Access ---------------------------------------------------------------


def test_archive_tier_needs_a_restore(client, bucket):
    client.put_object(NS, bucket, "cold", b"frozen", storage_tier="Archive")
    client.put_object(NS, bucket, "warm", b"warm", storage_tier="InfrequentAccess")
    assert client.get_object(NS, bucket, "warm").data.content == b"warm"
    err = _error(client.get_object, NS, bucket, "cold")
    assert (err.status, err.code) == (409, "NotRestored")
    head = client.head_object(NS, bucket, "cold")
    assert (head.headers["storage-tier"], head.headers["archival-state"]) == (
        "Archive",
        "Archived",
    )
    listed = client.list_objects(NS, bucket, fields="name,storageTier,archivalState").data
    tiers = {o.name: (o.storage_tier, o.archival_state) for o in listed.objects}
    assert tiers == {"cold": ("Archive", "Archived"), "warm": ("InfrequentAccess", None)}

    restored = client.restore_objects(
        NS, bucket, RestoreObjectsDetails(object_name="cold", hours=2)
    )
    assert restored.status == 202
    assert client.head_object(NS, bucket, "cold").headers["archival-state"] == "Restoring"
    for _ in range(300):  # wait_until takes get_* calls only: poll HeadObject
        if client.head_object(NS, bucket, "cold").headers["archival-state"] == "Restored":
            break
        time.sleep(0.1)
    head = client.head_object(NS, bucket, "cold")
    assert head.headers["archival-state"] == "Restored" and head.headers["time-of-archival"]
    assert client.get_object(NS, bucket, "cold").data.content == b"frozen"
    # a restore of an object that is not archived is refused
    warm = RestoreObjectsDetails(object_name="warm")
    assert _error(client.restore_objects, NS, bucket, warm).status == 400


def test_update_storage_tier_to_archive(client, bucket):
    client.put_object(NS, bucket, "k", b"data")
    tier = UpdateObjectStorageTierDetails(object_name="k", storage_tier="Archive")
    client.update_object_storage_tier(NS, bucket, tier)
    assert _error(client.get_object, NS, bucket, "k").code == "NotRestored"


# -- multipart: UploadManager, unknown uploads --------------------------------------------------


def test_upload_manager_multipart_and_its_md5(client, bucket):
    data = bytes(range(256)) * (9 * MIB // 256)
    manager = UploadManager(client, allow_parallel_uploads=True, parallel_process_count=3)
    response = manager.upload_stream(NS, bucket, "big", io.BytesIO(data), part_size=4 * MIB)
    parts = [data[i : i + 4 * MIB] for i in range(0, len(data), 4 * MIB)]
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).digest()
    expected = f"{base64.b64encode(digest).decode()}-{len(parts)}"
    assert response.headers["opc-multipart-md5"] == expected
    assert client.get_object(NS, bucket, "big").data.content == data


def test_unknown_upload_is_404(client, bucket):
    err = _error(client.abort_multipart_upload, NS, bucket, "k", "no-such-upload")
    assert (err.status, err.code) == (404, "NotAuthorizedOrNotFound")


# -- PARs: writes, multipart through the PAR -----------------------------------------------------


def _par(client: Any, bucket: str, access: str, name: str | None) -> str:
    details = CreatePreauthenticatedRequestDetails(
        name=f"par-{uuid.uuid4().hex[:8]}",
        access_type=access,
        object_name=name,
        time_expires=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    return str(client.create_preauthenticated_request(NS, bucket, details).data.full_path)


def test_par_multipart_protocol(client, bucket):
    url = _par(client, bucket, "ObjectWrite", "via-par.bin")
    started = requests.put(url, headers={"opc-multipart": "true"}, timeout=10)
    assert started.status_code == 200
    access = started.json()["accessUri"]
    base = url.split("/p/")[0] + access
    assert requests.put(f"{base}2", data=b"second", timeout=10).status_code == 200
    assert requests.put(f"{base}1", data=b"first-", timeout=10).status_code == 200
    assert requests.post(base, timeout=10).status_code == 200
    assert client.get_object(NS, bucket, "via-par.bin").data.content == b"first-second"
    head = client.head_object(NS, bucket, "via-par.bin")
    assert head.headers["opc-multipart-md5"].endswith("-2")
    # an aborted PAR upload leaves no object and no upload
    other = _par(client, bucket, "ObjectWrite", "aborted.bin")
    access = requests.put(other, headers={"opc-multipart": "true"}, timeout=10).json()
    aborted = other.split("/p/")[0] + access["accessUri"]
    assert requests.put(f"{aborted}1", data=b"x", timeout=10).status_code == 200
    assert requests.delete(aborted, timeout=10).status_code == 204
    assert client.list_multipart_uploads(NS, bucket).data == []
    assert _error(client.head_object, NS, bucket, "aborted.bin").status == 404


def test_par_multipart_is_refused_outside_the_par(client, bucket):
    reader = _par(client, bucket, "ObjectRead", "x.bin")
    assert requests.put(reader, headers={"opc-multipart": "true"}, timeout=10).status_code == 404
    writer = _par(client, bucket, "ObjectWrite", "x.bin")
    elsewhere = writer.replace("/o/x.bin", "/o/y.bin")
    assert requests.put(elsewhere, headers={"opc-multipart": "true"}, timeout=10).status_code == 404


# -- listing ------------------------------------------------------------------------------------


def test_a_prefix_is_repeated_on_each_page_it_reaches(client, server, bucket):
    for name in ("d/1", "d/2", "d/3", "e"):
        server.put_object(bucket, name, b"x")
    first = client.list_objects(NS, bucket, delimiter="/", limit=2).data
    assert (first.prefixes, first.next_start_with) == (["d/"], "d/3")
    second = client.list_objects(NS, bucket, delimiter="/", limit=2, start="d/3").data
    assert second.prefixes == ["d/"] and [o.name for o in second.objects] == ["e"]
    every = oci.pagination.list_call_get_all_results(
        client.list_objects, NS, bucket, delimiter="/", limit=2
    ).data
    assert sorted(set(every.prefixes)) == ["d/"] and [o.name for o in every.objects] == ["e"]
