"""The GCS XML-API adapter answers uploads as GCS does, refuses what GCS refuses, forwards the rest.

Plain HTTP requests against the adapter in front of the session's fake-gcs-server; what was
stored is read back from fake-gcs-server directly (gcsfs), without the adapter.
"""

from __future__ import annotations

import base64
import hashlib
import os
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import quote, unquote

import pytest

from unifs.testing.gcs_xml import GCSXMLAdapter
from unifs.testing.servers import GCSLocalServer

MiB = 1 << 20
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def code(self) -> str:
        """The <Code> of a GCS XML error body."""
        return ET.fromstring(self.body).findtext("Code") or ""

    def text(self, tag: str) -> str:
        """The text of the first element named ``tag`` (any namespace) in an XML body."""
        for element in ET.fromstring(self.body).iter():
            if element.tag.rsplit("}", 1)[-1] == tag:
                return element.text or ""
        raise AssertionError(f"no <{tag}> in {self.body!r}")


def call(method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Answer:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with _DIRECT.open(request, timeout=30) as response:
            return Answer(
                response.status,
                {k.lower(): v for k, v in response.headers.items()},
                response.read(),
            )
    except urllib.error.HTTPError as err:
        return Answer(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())


@pytest.fixture(scope="module")
def bucket(gcs_server: GCSLocalServer) -> str:
    name = f"xml-{uuid.uuid4().hex[:12]}"
    gcs_server.make_bucket(name)
    return name


@pytest.fixture
def obj(gcs_server: GCSLocalServer, bucket: str) -> str:
    """The adapter's URL of a fresh key (object_store encodes '/' in keys as %2F)."""
    return f"{gcs_server.xml_endpoint}/{bucket}/{quote(f'{uuid.uuid4().hex}/o.bin', safe='')}"


def stored(gcs_server: GCSLocalServer, url: str) -> bytes | None:
    """The object's bytes on fake-gcs-server itself (None when absent), read with gcsfs."""
    bucket, key = url.split("/", 3)[3].split("/", 1)
    fs = gcs_server.filesystem()
    try:
        return bytes(fs.cat_file(f"{bucket}/{unquote(key)}"))
    except FileNotFoundError:
        return None


def initiate(url: str) -> str:
    answer = call("POST", url + "?uploads", headers={"Content-Type": "text/csv"})
    assert answer.status == 200, answer
    return answer.text("UploadId")


def put_part(url: str, upload_id: str, number: int, data: bytes) -> Answer:
    return call("PUT", f"{url}?partNumber={number}&uploadId={upload_id}", data)


def complete_body(*parts: tuple[int, str]) -> bytes:
    inner = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>" for n, e in parts)
    return f"<CompleteMultipartUpload>{inner}</CompleteMultipartUpload>".encode()


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def test_simple_put_answers_like_gcs(gcs_server: GCSLocalServer, obj: str) -> None:
    data = os.urandom(1000)
    answer = call(
        "PUT",
        obj,
        data,
        {"Content-Type": "text/plain", "x-goog-meta-team": "ml", "Content-MD5": md5_b64(data)},
    )
    assert answer.status == 200, answer
    assert answer.headers["x-goog-hash"] == f"crc32c={_crc32c(data)},md5={md5_b64(data)}"
    head = call("HEAD", obj)  # forwarded to fake-gcs-server
    assert answer.headers["etag"] == head.headers["etag"]
    assert answer.headers["x-goog-generation"] == head.headers["x-goog-generation"]
    assert (head.headers["content-type"], head.headers["x-goog-meta-team"]) == ("text/plain", "ml")
    assert stored(gcs_server, obj) == data


def test_simple_put_honours_generation_preconditions(gcs_server: GCSLocalServer, obj: str) -> None:
    first = call("PUT", obj, b"one", {"x-goog-if-generation-match": "0"})
    assert first.status == 200
    again = call("PUT", obj, b"two", {"x-goog-if-generation-match": "0"})
    assert (again.status, again.code) == (412, "PreconditionFailed")
    stale = str(int(first.headers["x-goog-generation"]) - 1)
    assert call("PUT", obj, b"two", {"x-goog-if-generation-match": stale}).status == 412
    assert stored(gcs_server, obj) == b"one"
    generation = first.headers["x-goog-generation"]
    assert call("PUT", obj, b"two", {"x-goog-if-generation-match": generation}).status == 200
    assert stored(gcs_server, obj) == b"two"


def test_a_body_that_does_not_match_its_digest_is_not_stored(
    gcs_server: GCSLocalServer, obj: str
) -> None:
    answer = call("PUT", obj, b"payload", {"Content-MD5": md5_b64(b"something else")})
    assert (answer.status, answer.code) == (400, "BadDigest")
    answer = call("PUT", obj, b"payload", {"x-goog-hash": f"crc32c={_crc32c(b'other')}"})
    assert (answer.status, answer.code) == (400, "BadDigest")
    assert stored(gcs_server, obj) is None


def test_multipart_upload_assembles_the_listed_parts(gcs_server: GCSLocalServer, obj: str) -> None:
    first, second, unused = os.urandom(5 * MiB), os.urandom(1234), os.urandom(100)
    upload_id = initiate(obj)
    # parts may arrive in any order; part 3 is uploaded but left out of the completion
    b = put_part(obj, upload_id, 2, second)
    a = put_part(obj, upload_id, 1, first)
    assert put_part(obj, upload_id, 3, unused).status == 200
    assert a.headers["etag"] == f'"{hashlib.md5(first).hexdigest()}"'  # GCS: the part's MD5
    answer = call(
        "POST",
        f"{obj}?uploadId={upload_id}",
        complete_body((1, a.headers["etag"]), (2, b.headers["etag"])),
    )
    assert answer.status == 200, answer
    assert stored(gcs_server, obj) == first + second
    head = call("HEAD", obj)
    assert answer.text("ETag") == head.headers["etag"]
    assert answer.headers["x-goog-generation"] == head.headers["x-goog-generation"]
    assert head.headers["content-type"] == "text/csv"  # from the initiating request
    assert answer.headers["x-goog-hash"] == f"crc32c={_crc32c(first + second)}"  # no MD5
    # the upload is gone: its id is unknown now
    again = put_part(obj, upload_id, 1, b"late")
    assert (again.status, again.code) == (404, "NoSuchUpload")


def test_completion_refuses_what_gcs_refuses(gcs_server: GCSLocalServer, obj: str) -> None:
    small, big = os.urandom(1024), os.urandom(5 * MiB)
    upload_id = initiate(obj)
    etag_small = put_part(obj, upload_id, 1, small).headers["etag"]
    etag_big = put_part(obj, upload_id, 2, big).headers["etag"]
    complete = f"{obj}?uploadId={upload_id}"

    wrong_etag = call("POST", complete, complete_body((1, '"' + "0" * 32 + '"')))
    assert (wrong_etag.status, wrong_etag.code) == (400, "InvalidPart")
    missing = call("POST", complete, complete_body((7, etag_small)))
    assert (missing.status, missing.code) == (400, "InvalidPart")
    order = call("POST", complete, complete_body((2, etag_big), (1, etag_small)))
    assert (order.status, order.code) == (400, "InvalidPartOrder")
    too_small = call("POST", complete, complete_body((1, etag_small), (2, etag_big)))
    assert (too_small.status, too_small.code) == (400, "EntityTooSmall")
    malformed = call("POST", complete, b"<CompleteMultipartUpload><Part>")
    assert (malformed.status, malformed.code) == (400, "MalformedXML")
    empty = call("POST", complete, b"<CompleteMultipartUpload/>")
    assert (empty.status, empty.code) == (400, "MalformedXML")
    # nothing of a refused completion reached the store, and the upload can still finish
    assert stored(gcs_server, obj) is None
    done = call("POST", complete, complete_body((2, etag_big)))
    assert done.status == 200, done
    assert stored(gcs_server, obj) == big


def test_parts_are_refused_outside_gcs_limits(gcs_server: GCSLocalServer, obj: str) -> None:
    upload_id = initiate(obj)
    for number in ("0", "10001", "x"):
        answer = call("PUT", f"{obj}?partNumber={number}&uploadId={upload_id}", b"data")
        assert (answer.status, answer.code) == (400, "InvalidArgument"), number
    bad = call(
        "PUT", f"{obj}?partNumber=1&uploadId={upload_id}", b"data", {"Content-MD5": md5_b64(b"x")}
    )
    assert (bad.status, bad.code) == (400, "BadDigest")
    unknown = call("PUT", f"{obj}?partNumber=1&uploadId=not-an-upload", b"data")
    assert (unknown.status, unknown.code) == (404, "NoSuchUpload")
    elsewhere = call("PUT", f"{obj}x?partNumber=1&uploadId={upload_id}", b"data")
    assert (elsewhere.status, elsewhere.code) == (404, "NoSuchUpload")  # another key's id
    preconditioned = call("POST", obj + "?uploads", headers={"x-goog-if-generation-match": "0"})
    assert (preconditioned.status, preconditioned.code) == (400, "InvalidArgument")
    assert call("DELETE", f"{obj}?uploadId={upload_id}").status == 204


def test_abort_drops_the_upload_and_its_parts(gcs_server: GCSLocalServer, obj: str) -> None:
    assert gcs_server._xml is not None
    before = gcs_server._xml.uploads_in_progress
    upload_id = initiate(obj)
    etag = put_part(obj, upload_id, 1, b"part").headers["etag"]
    assert gcs_server._xml.uploads_in_progress == before + 1
    assert call("DELETE", f"{obj}?uploadId={upload_id}").status == 204
    assert gcs_server._xml.uploads_in_progress == before
    for method, body in (("DELETE", b""), ("POST", complete_body((1, etag)))):
        answer = call(method, f"{obj}?uploadId={upload_id}", body)
        assert (answer.status, answer.code) == (404, "NoSuchUpload"), method
    assert stored(gcs_server, obj) is None


def test_a_missing_bucket_is_no_such_bucket(gcs_server: GCSLocalServer) -> None:
    url = f"{gcs_server.xml_endpoint}/no-such-bucket-{uuid.uuid4().hex[:8]}/k"
    for method, suffix in (("PUT", ""), ("POST", "?uploads")):
        answer = call(method, url + suffix, b"")
        assert (answer.status, answer.code) == (404, "NoSuchBucket"), method


def test_copy_is_server_side_and_honours_if_generation_match(
    gcs_server: GCSLocalServer, bucket: str, obj: str
) -> None:
    assert call("PUT", obj, b"source").status == 200
    source = obj.split("/", 3)[3]  # bucket/encoded-key, as object_store sends it
    target = obj + "-copy"
    copied = call("PUT", target, headers={"x-goog-copy-source": source})
    assert copied.status == 200, copied
    assert copied.text("ETag") == call("HEAD", target).headers["etag"]
    assert stored(gcs_server, target) == b"source"
    exists = call(
        "PUT", target, headers={"x-goog-copy-source": source, "x-goog-if-generation-match": "0"}
    )
    assert (exists.status, exists.code) == (412, "PreconditionFailed")
    nothing = call("PUT", target, headers={"x-goog-copy-source": f"{bucket}/no-such-key"})
    assert (nothing.status, nothing.code) == (404, "NoSuchKey")


def test_everything_else_is_forwarded_unchanged(gcs_server: GCSLocalServer, obj: str) -> None:
    data = bytes(range(256)) * 64
    assert call("PUT", obj, data).status == 200
    ranged = call("GET", obj, headers={"Range": "bytes=10-19"})
    assert (ranged.status, ranged.body) == (206, data[10:20])
    suffix = call("GET", obj, headers={"Range": "bytes=-5"})
    assert suffix.body == data[-5:]
    assert call("HEAD", obj).headers["content-length"] == str(len(data))
    bucket = obj.split("/")[3]
    json_api = call("GET", f"{gcs_server.xml_endpoint}/storage/v1/b/{bucket}")
    assert json_api.status == 200 and b'"name"' in json_api.body
    listing = call("GET", f"{gcs_server.xml_endpoint}/{bucket}?list-type=2&prefix=")
    assert listing.status == 200 and b"<ListBucketResult" in listing.body
    assert call("GET", f"{gcs_server.xml_endpoint}/{bucket}?uploads").status == 501


def test_adapter_checks_its_upstream_and_stops(gcs_server: GCSLocalServer) -> None:
    with pytest.raises(ValueError, match="fake-gcs-server"):
        GCSXMLAdapter("not-a-url")
    with GCSXMLAdapter(gcs_server.endpoint) as adapter:
        answer = call("GET", f"{adapter.endpoint}/storage/v1/b")
        assert answer.status == 200
        endpoint = adapter.endpoint
    with pytest.raises(urllib.error.URLError):
        _DIRECT.open(f"{endpoint}/storage/v1/b", timeout=5)


def _crc32c(data: bytes) -> str:
    import google_crc32c

    return base64.b64encode(google_crc32c.Checksum(data).digest()).decode()
