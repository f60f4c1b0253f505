"""The fault proxy's ``rewrite_links``: a server's own address in JSON bodies becomes the proxy's.

fake-gcs-server names itself in each object's ``mediaLink``; clients that download from
there (rclone) would otherwise go around an emulated link.
"""

from __future__ import annotations

import http.client
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from unifs.testing.faults import FaultProxy


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        host, port = self.server.server_address[:2]
        items = [{"mediaLink": f"http://{host}:{port}/download/o{i}"} for i in range(200)]
        body = json.dumps(
            {"items": items, "accept_encoding": self.headers.get("Accept-Encoding")}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if self.path == "/chunked":  # as Go sends a body of more than 4 KiB
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(body), 1000):
                piece = body[start : start + 1000]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def upstream() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("path", ["/plain", "/chunked"])
def test_json_bodies_name_the_proxy_instead_of_the_server(upstream: str, path: str) -> None:
    with FaultProxy(upstream, rewrite_links=True) as proxy:
        host, port = proxy.endpoint.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("GET", path, headers={"Accept-Encoding": "gzip"})
        response = connection.getresponse()
        body = response.read()
        # the connection stays usable: the rewritten body is framed by its new length
        connection.request("GET", path)
        again = connection.getresponse().read()
        connection.close()
    assert response.status == 200
    assert int(response.headers["Content-Length"]) == len(body)
    assert response.headers["Transfer-Encoding"] is None
    data = json.loads(body)
    assert {item["mediaLink"].rsplit("/download/", 1)[0] for item in data["items"]} == {
        proxy.endpoint
    }
    assert data["accept_encoding"] is None  # asked uncompressed, so it can be rewritten
    assert json.loads(again)["items"] == data["items"]


def test_without_rewrite_links_bodies_pass_unchanged(upstream: str) -> None:
    with FaultProxy(upstream) as proxy:
        host, port = proxy.endpoint.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("GET", "/plain")
        data = json.loads(connection.getresponse().read())
        connection.close()
    assert data["items"][0]["mediaLink"].startswith(upstream + "/download/")
