"""The fault-injecting proxy: pass-through, each fault kind, matching rules, a paced link."""

from __future__ import annotations

import http.client
import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from unifs.testing.faults import Fault, FaultProxy, Link, route_through

BODY = bytes(range(256)) * 400  # 100 KiB


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/chunked"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (b"hello ", b"chunked ", b"world"):
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()

    def do_PUT(self) -> None:
        data = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(201)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _connect(proxy: FaultProxy) -> http.client.HTTPConnection:
    host, port = proxy.endpoint.removeprefix("http://").split(":")
    return http.client.HTTPConnection(host, int(port), timeout=10)


def _get(proxy: FaultProxy, path: str = "/obj", **headers: str) -> tuple[int, bytes, Any]:
    conn = _connect(proxy)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read(), response.headers
    finally:
        conn.close()


def test_requests_pass_through_and_are_logged(upstream):
    with FaultProxy(upstream) as proxy:
        conn = _connect(proxy)
        for _ in range(3):  # one kept-alive connection, three requests
            conn.request("GET", "/obj", headers={"Range": "bytes=0-9"})
            response = conn.getresponse()
            assert response.status == 200 and response.read() == BODY
        conn.close()
        assert [s.range for s in proxy.requests("GET")] == ["bytes=0-9"] * 3
        assert proxy.requests()[0].body_bytes == len(BODY) and proxy.requests()[0].fault is None


def test_status_fault_answers_with_retry_after_then_lets_requests_through(upstream):
    fault = Fault("status", status=503, retry_after=2, times=1)
    with FaultProxy(upstream, faults=[fault]) as proxy:
        status, _, headers = _get(proxy)
        assert status == 503 and headers["Retry-After"] == "2"
        status, body, _ = _get(proxy)
        assert status == 200 and body == BODY
        assert [s.fault for s in proxy.requests()] == ["status", None]


def test_reset_cuts_the_body_with_a_tcp_reset(upstream):
    with FaultProxy(upstream, faults=[Fault("reset", cut=0.25)]) as proxy:
        conn = _connect(proxy)
        conn.request("GET", "/obj")
        response = conn.getresponse()
        with pytest.raises((http.client.IncompleteRead, ConnectionResetError)):
            response.read()
        conn.close()
        assert proxy.requests()[0].fault == "reset"
        assert proxy.requests()[0].body_bytes == len(BODY) // 4


def test_truncate_closes_cleanly_before_the_end(upstream):
    with FaultProxy(upstream, faults=[Fault("truncate")]) as proxy:
        conn = _connect(proxy)
        conn.request("GET", "/obj")
        with pytest.raises(http.client.IncompleteRead) as cut:
            conn.getresponse().read()
        assert len(cut.value.partial) == len(BODY) // 2
        conn.close()


def test_matching_by_method_path_range_skip_and_rate(upstream):
    only_ranged = Fault("status", status=500, method="GET", path="^/b", ranged=True, skip=1)
    with FaultProxy(upstream, faults=[only_ranged]) as proxy:
        assert _get(proxy, "/a", Range="bytes=0-1")[0] == 200  # other path
        assert _get(proxy, "/b")[0] == 200  # no range
        assert _get(proxy, "/b", Range="bytes=0-1")[0] == 200  # skipped
        assert _get(proxy, "/b", Range="bytes=0-1")[0] == 500  # hit
        assert _get(proxy, "/b", Range="bytes=0-1")[0] == 200  # times=1 used up
        assert only_ranged.hits == 1
    never = Fault("status", rate=0.0, times=None)
    with FaultProxy(upstream, faults=[never]) as proxy:
        assert all(_get(proxy)[0] == 200 for _ in range(5))
        assert never.hits == 0


def test_azure_range_header_counts_as_ranged(upstream):
    with FaultProxy(upstream, faults=[Fault("status", ranged=True)]) as proxy:
        assert _get(proxy, **{"x-ms-range": "bytes=0-1"})[0] == 503


def test_chunked_responses_and_request_bodies_are_relayed(upstream):
    with FaultProxy(upstream, link=Link(rtt=0.002, per_connection=2**20, total=2**21)) as proxy:
        status, body, _ = _get(proxy, "/chunked")
        assert status == 200 and body == b"hello chunked world"
        conn = _connect(proxy)
        conn.request(
            "PUT", "/obj", body=BODY, headers={"Expect": "100-continue", "Content-Type": "x/y"}
        )
        response = conn.getresponse()
        assert response.status == 201 and response.read() == BODY
        conn.request("HEAD", "/obj")
        response = conn.getresponse()
        assert response.status == 200 and response.read() == b""
        conn.close()
        assert [s.method for s in proxy.requests()] == ["GET", "PUT", "HEAD"]


def test_faults_can_change_while_it_runs(upstream):
    with FaultProxy(upstream) as proxy:
        assert _get(proxy)[0] == 200
        proxy.faults.append(Fault("status", status=429))
        assert _get(proxy)[0] == 429
        proxy.clear()
        assert _get(proxy)[0] == 200 and len(proxy.requests()) == 1


def test_route_through_rewrites_every_mention_of_the_endpoint():
    options = {
        "endpoint_url": "http://127.0.0.1:9000",
        "connection_string": "AccountName=a;BlobEndpoint=http://127.0.0.1:9000/devstoreaccount1;",
        "config_kwargs": {"service_endpoint": "http://127.0.0.1:9000", "n": 1},
        "hosts": ["http://127.0.0.1:9000/x"],
    }
    routed = route_through(options, "http://127.0.0.1:9000/devstoreaccount1", "http://127.0.0.1:1")
    assert routed == {
        "endpoint_url": "http://127.0.0.1:1",
        "connection_string": "AccountName=a;BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;",
        "config_kwargs": {"service_endpoint": "http://127.0.0.1:1", "n": 1},
        "hosts": ["http://127.0.0.1:1/x"],
    }


def test_bad_fault_kind_and_upstream_are_refused():
    with pytest.raises(ValueError, match="status, reset, truncate, call or corrupt"):
        Fault("explode")
    with pytest.raises(ValueError, match="action"):
        Fault("call")  # a call without an action to run
    with pytest.raises(ValueError, match="upstream"):
        FaultProxy("not a url")
