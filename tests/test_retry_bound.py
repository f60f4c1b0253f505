"""``retries`` is the one bound on attempts (issue 25, item 4): the SDKs try each call once.

A persistent 500 on one object used to hold a transfer to Azure for minutes (azure-core's
ten retries with back-off under unifs's own). Through :class:`unifs.testing.faults.FaultProxy`
answering 500 forever, each test counts the requests the proxy saw for the object: never
more than the policy's attempts. No wall-clock is asserted; the timeout only stops a hang.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from typing import Any

import pytest

import unifs
from unifs.testing.faults import Fault, FaultProxy, route_through
from unifs.transfer import RetryPolicy

pytestmark = pytest.mark.timeout(90)

BUCKET = "unifs-bound"
POLICY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)
_made: set[str] = set()


def _root(request: pytest.FixtureRequest, backend: str) -> tuple[Any, str]:
    server = request.getfixturevalue(f"{backend}_server")
    if backend not in _made:
        with contextlib.suppress(FileExistsError):
            server.make_bucket(BUCKET)
        _made.add(backend)
    prefix = f"b-{uuid.uuid4().hex[:10]}"
    if backend == "oci":
        return server, f"oci://n/{server.namespace}/b/{BUCKET}/o/{prefix}/"
    return server, f"{ {'s3': 's3', 'azure': 'az', 'gcs': 'gs'}[backend] }://{BUCKET}/{prefix}/"


@pytest.mark.parametrize("backend", ["s3", "azure", "oci"])
@pytest.mark.parametrize("verb", ["get", "put"])
def test_a_persistent_500_ends_within_the_policys_attempts(request, tmp_path, backend, verb):
    server, root = _root(request, backend)
    fs, path = unifs.url_to_fs(root, **server.storage_options)
    fs.pipe_file(path + "ok.bin", b"fine")
    fs.pipe_file(path + "bad.bin", b"x" * 1000)
    fs.invalidate_cache()
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "ok.bin").write_bytes(b"fine")
    (tmp_path / "up" / "bad.bin").write_bytes(b"y" * 1000)
    with FaultProxy(server.endpoint) as proxy:
        routed = route_through(dict(server.storage_options), server.endpoint, proxy.endpoint)
        method = "GET" if verb == "get" else "PUT"
        fault = Fault(status=500, method=method, path=r"bad\.bin", times=None)
        proxy.faults.append(fault)
        with pytest.raises(unifs.TransferError) as failed:
            if verb == "get":
                unifs.get(root, tmp_path / "down", retries=POLICY, callback=False, **routed)
            else:
                unifs.put(tmp_path / "up", root, retries=POLICY, callback=False, **routed)
        tried = [s for s in proxy.requests(method) if re.search(r"bad\.bin", s.target)]
    assert list(failed.value.report.failed) == ["bad.bin"]
    assert fault.hits == len(tried) and 1 <= len(tried) <= POLICY.attempts, (
        f"{len(tried)} attempts at bad.bin, the policy allows {POLICY.attempts}"
    )


# -- keys a store refuses (issue 25, item 9) ----------------------------------------------------

REFUSED = {
    "azure": ["nl/x\ny.bin", "tab/x\ty.bin"],
    "oci": ["k" * 1100, "nl/x\ny.bin"],
    "s3": ["k" * 1100, "nl/x\ny.bin"],
}


@pytest.mark.parametrize("backend", sorted(REFUSED))
def test_keys_the_store_refuses_are_listed_before_any_byte(request, tmp_path, backend):
    """put from local disk: every refused key named at once, and nothing written."""
    server, root = _root(request, backend)
    up = tmp_path / "up"
    up.mkdir()
    (up / "fine.bin").write_bytes(b"fine")
    for key in REFUSED[backend]:
        if len(key) > 255:  # no local name that long: the key is a path of short segments
            key = "/".join(key[i : i + 200] for i in range(0, len(key), 200))
        path = up / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"data")
    with FaultProxy(server.endpoint) as proxy:
        routed = route_through(dict(server.storage_options), server.endpoint, proxy.endpoint)
        with pytest.raises(unifs.errors.RefusedKeyError) as refused:
            unifs.put(up, root, retries=POLICY, callback=False, **routed)
        writes = [s for s in proxy.requests() if s.method in ("PUT", "POST")]
    message = str(refused.value)
    assert "fine.bin" not in message
    assert f"{len(REFUSED[backend])} key(s)" in message, message
    assert repr("x\ny.bin")[1:-1] in message, message
    assert writes == [], "a refused key's transfer sent writes"


def test_dot_segments_are_refused_before_a_copy_to_azure(request):
    """``dot/./x`` used to end in "Server failed to authenticate the request"."""
    s3, src = _root(request, "s3")
    server, dst = _root(request, "azure")
    fs, path = unifs.url_to_fs(src, **s3.storage_options)
    for key in ("fine.bin", "dot/./x.bin", "dot/../y.bin"):
        fs.pipe_file(path + key, b"data")
    fs.invalidate_cache()
    with FaultProxy(server.endpoint) as proxy:
        routed = route_through(dict(server.storage_options), server.endpoint, proxy.endpoint)
        with pytest.raises(unifs.errors.RefusedKeyError) as refused:
            unifs.copy(src, dst, dst_options=routed, callback=False, **s3.storage_options)
        writes = [s for s in proxy.requests() if s.method in ("PUT", "POST")]
    message = str(refused.value)
    assert "dot/./x.bin" in message and "dot/../y.bin" in message and "fine" not in message
    assert writes == []
