"""``unifs.endpoint``: a URI and its auth parsed, validated and resolved once, against real
local servers (moto for S3, unifs's OCI server)."""

from __future__ import annotations

import contextlib
import os
import pickle
import socket
from typing import Any

import pytest
from conftest import ResolutionCounts

import unifs
from unifs.endpoint import Endpoint
from unifs.filesystem import check_reachable, resolve

SECRET = "unifs-testing-secret"  # what the S3 test server's options carry
BUCKET = "unifs-endpoint"


@pytest.fixture(scope="module")
def s3_auth(s3_server: Any) -> dict[str, Any]:
    """An auth block (not storage options) that reaches the S3 test server."""
    with contextlib.suppress(FileExistsError):
        s3_server.make_bucket(BUCKET)
    return {
        "auth": "access_key",
        "access_key_id": s3_server.storage_options["key"],
        "secret_access_key": s3_server.storage_options["secret"],
        "endpoint": s3_server.endpoint,
    }


def test_endpoint_parses_and_validates_once(
    s3_auth: dict[str, Any], resolution_counts: ResolutionCounts
) -> None:
    ep = unifs.endpoint(f"s3://{BUCKET}/models/llama/", auth=s3_auth)
    assert (resolution_counts.parses, resolution_counts.validate_calls) == (1, 1)
    assert ep.uri == unifs.parse(f"s3://{BUCKET}/models/llama/")
    assert ep.provider.name == "s3" and ep.mode is not None and ep.mode.name == "access_key"
    assert isinstance(ep.auth, unifs.AuthConfig) and ep.auth["access_key_id"]
    assert (ep.protocol, ep.path) == ("s3", f"{BUCKET}/models/llama/")
    assert ep.url == f"s3://{BUCKET}/models/llama/" == ep.resolved.url
    assert ep.options["endpoint_url"] == s3_auth["endpoint"]
    resolution_counts.parse_calls.clear()

    # the wrappers take the endpoint as it is: nothing parsed or validated again
    ep.fs.pipe_file(f"{ep.path}config.json", b'{"layers": 32}')
    fs, path = unifs.url_to_fs(ep)
    assert (fs, path) == (ep.fs, ep.path)
    assert resolve(ep) is ep.resolved
    with unifs.open(ep.child("config.json")) as f:
        assert f.read() == b'{"layers": 32}'
    assert unifs.capabilities(ep).presign_get
    assert unifs.storage_options(ep) == ep.options
    assert unifs.endpoint(ep) is ep
    check_reachable(ep)
    assert (resolution_counts.parses, resolution_counts.validate_calls) == (0, 1)


def test_the_old_verbs_resolve_once_per_call(
    s3_auth: dict[str, Any], resolution_counts: ResolutionCounts
) -> None:
    uri = f"s3://{BUCKET}/once/a.bin"
    unifs.url_to_fs(uri, auth=s3_auth)[0].pipe_file(f"{BUCKET}/once/a.bin", b"a")
    unifs.presign(uri, auth=s3_auth)
    unifs.storage_options(uri, s3_auth, target="object_store")
    assert resolution_counts.parses == 3 and resolution_counts.validate_calls == 3


def test_child_reuses_the_parse_the_auth_and_the_filesystem(
    s3_auth: dict[str, Any], resolution_counts: ResolutionCounts
) -> None:
    root = unifs.endpoint(f"s3://{BUCKET}/shards/", auth=s3_auth)
    children = [root.child(f"part-{i:04d}.bin") for i in range(50)]
    nested = root.child("sub/").child("deep.bin")
    assert (resolution_counts.parses, resolution_counts.validate_calls) == (1, 1)

    assert [c.path for c in children[:2]] == [
        f"{BUCKET}/shards/part-0000.bin",
        f"{BUCKET}/shards/part-0001.bin",
    ]
    assert (nested.uri.bucket, nested.uri.key) == (BUCKET, "shards/sub/deep.bin")
    assert all(c.auth is root.auth and c.mode is root.mode for c in children)
    # one filesystem for the store, however many keys: built once, on first use
    assert "fs" not in vars(root)
    for i, child in enumerate(children[:5]):
        child.fs.pipe_file(child.path, bytes([i]) * (i + 1))
    assert all(c.fs is root.fs for c in children) and nested.fs is root.fs
    assert sorted(root.fs.ls(root.path, detail=False)) == [c.path for c in children[:5]]
    assert resolution_counts.parses == 1


@pytest.mark.parametrize(
    ("root", "auth", "options"),
    [
        ("s3://b-ucket/models/", None, {}),
        ("gs://bucket/models/", None, {"token": "anon"}),
        ("az://container/models/", None, {"account_name": "myaccount"}),
        ("oci://n/acme/b/models/o/llama/", None, {}),
        ("oci://models@acme/llama", None, {}),
        (
            "https://objectstorage.us-ashburn-1.oraclecloud.com/p/Tok3n/n/acme/b/models/o/llama/",
            None,
            {},
        ),
        (
            "oci://n/acme/b/models/o/llama/",
            {
                "auth": "customer_secret_key",
                "region": "us-ashburn-1",
                "access_key_id": "AKID",
                "secret_access_key": "S3CR3T",
            },
            {},
        ),
        ("memory://scratch/models/", None, {}),
        ("/tmp/unifs-models/", None, {}),
    ],
)
def test_a_child_is_what_endpoint_makes_of_the_joined_uri(
    root: str, auth: Any, options: dict[str, Any]
) -> None:
    ep = unifs.endpoint(root, auth=auth, **options)
    for key in ("config.json", "sub/dir/", "/leading/slash.bin"):
        child = ep.child(key)
        fresh = unifs.endpoint(ep.uri.join(key), auth=auth, **options)
        assert (child.uri, child.path, child.protocol) == (fresh.uri, fresh.path, fresh.protocol)
        assert child.resolved.options is ep.resolved.options and child.mode is ep.mode


def test_filesystem_is_cached_and_works_in_a_forked_child(s3_auth: dict[str, Any]) -> None:
    ep = unifs.endpoint(f"s3://{BUCKET}/fork/", auth=s3_auth)
    obj = ep.child("payload.bin")
    obj.fs.pipe_file(obj.path, b"parent wrote this")
    assert ep.fs is ep.fs
    # the parent's client, session and loop exist before the fork; fsspec refuses an async
    # filesystem used across a fork unless unifs.forksafe renewed it
    assert obj.fs.cat_file(obj.path) == b"parent wrote this"
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 1
        try:
            os.close(read)
            os.write(write, obj.fs.cat_file(obj.path))
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    got = b""
    while chunk := os.read(read, 1 << 16):
        got += chunk
    os.close(read)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and got == b"parent wrote this"


def test_repr_and_str_never_show_a_secret(s3_auth: dict[str, Any], oci_server: Any) -> None:
    ep = unifs.endpoint(f"s3://{BUCKET}/k", auth=s3_auth)
    for shown in (repr(ep), str(ep), repr(ep.child("x")), repr(ep.resolved)):
        assert SECRET not in shown
    assert "***" in repr(ep) and "access_key" in repr(ep) and f"s3://{BUCKET}/k" == str(ep)
    # a PAR token is a bearer secret in the URI itself
    token = "Sup3rS3cretParT0ken"
    par = (
        f"https://objectstorage.us-ashburn-1.oraclecloud.com/p/{token}/n/"
        f"{oci_server.namespace}/b/{BUCKET}/o/model.bin"
    )
    par_ep = unifs.endpoint(par)
    for shown in (repr(par_ep), str(par_ep), repr(par_ep.child("x"))):
        assert token not in shown


def test_an_endpoint_is_immutable_and_refuses_more_options(s3_auth: dict[str, Any]) -> None:
    ep = unifs.endpoint(f"s3://{BUCKET}/k", auth=s3_auth)
    with pytest.raises(AttributeError):
        ep.uri = unifs.parse("s3://other-bucket/k")  # type: ignore[misc]
    with pytest.raises(TypeError, match="carries its auth"):
        unifs.endpoint(ep, auth={"auth": "anonymous"})
    with pytest.raises(TypeError, match="carries its auth"):
        unifs.url_to_fs(ep, anon=True)


def test_a_bad_auth_block_fails_when_the_endpoint_is_made(
    monkeypatch: pytest.MonkeyPatch, resolution_counts: ResolutionCounts
) -> None:
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    with pytest.raises(unifs.AuthError, match="needs 'secret_access_key'"):
        unifs.endpoint(f"s3://{BUCKET}/k", auth={"auth": "access_key", "access_key_id": "A"})
    with pytest.raises(unifs.URIError):
        unifs.endpoint("s3:/missing-a-slash")
    assert resolution_counts.validate_calls == 1


def test_check_reachable_asks_the_validated_mode(
    monkeypatch: pytest.MonkeyPatch, resolution_counts: ResolutionCounts
) -> None:
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED", raising=False)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()[1]  # nothing listens once this socket is closed
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"http://127.0.0.1:{dead}/")
    ep = unifs.endpoint(f"s3://{BUCKET}/k", auth={"auth": "iam_role"})
    with pytest.raises(unifs.AuthError, match=r"iam_role.*metadata service"):
        ep.check_reachable()
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"http://127.0.0.1:{port}/")
        ep.check_reachable()  # a service answers: nothing raised
    assert resolution_counts.validate_calls == 1


def test_a_pickled_endpoint_builds_its_own_filesystem(s3_auth: dict[str, Any]) -> None:
    ep = unifs.endpoint(f"s3://{BUCKET}/pickled.bin", auth=s3_auth)
    ep.fs.pipe_file(ep.path, b"sent to a worker")
    copy = pickle.loads(pickle.dumps(ep))
    assert isinstance(copy, Endpoint) and copy.provider is ep.provider
    assert (copy.uri, copy.resolved, copy.mode) == (ep.uri, ep.resolved, ep.mode)
    assert "fs" not in vars(copy)
    assert copy.fs.cat_file(copy.path) == b"sent to a worker"


def test_oci_endpoint_through_the_local_server(oci_server: Any) -> None:
    bucket = "unifs-endpoint-oci"
    with contextlib.suppress(FileExistsError):
        oci_server.make_bucket(bucket)
    ep = unifs.endpoint(
        f"oci://n/{oci_server.namespace}/b/{bucket}/o/dir/", **oci_server.storage_options
    )
    assert ep.provider.name == "oci" and ep.mode is None
    leaf = ep.child("weights.bin")
    leaf.fs.pipe_file(leaf.path, b"\x00" * 1024)
    assert leaf.fs is ep.fs and ep.fs.info(leaf.path)["size"] == 1024
    assert leaf.uri.format("ome") == f"oci://n/{oci_server.namespace}/b/{bucket}/o/dir/weights.bin"
    pem = oci_server.storage_options["config"]["key_content"]
    assert pem.splitlines()[1] not in repr(ep) and "PRIVATE KEY" not in repr(ep)
