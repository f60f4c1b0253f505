"""The fault proxy logs every exchange, however it ends, held against an independent count.

A tiny counting TCP relay sits between the proxy and the server: it counts the bytes the
server sent and the request heads that reached it, without parsing anything the proxy
parses (issue #25, item 11: an exchange the client closed early was never logged).
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from unifs.testing.faults import Fault, FaultProxy, Link, route_through

BIG = 24 * 2**20
BODY = bytes(range(256)) * (BIG // 256)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        size = BIG if self.path.startswith("/big") else 1000
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if self.path.startswith("/half"):  # promises 1000 bytes, sends 500, hangs up
            self.wfile.write(BODY[:500])
            self.wfile.flush()
            self.close_connection = True
            return
        try:
            self.wfile.write(BODY[:size])
        except OSError:
            self.close_connection = True


class CountingRelay:
    """Forward 127.0.0.1:port to the server, counting bytes each way and request heads."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.down = 0  # bytes the server sent towards the proxy
        self.heads = 0  # request heads (GETs carry no body: each ends in a blank line)
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._open = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._open += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client, socket.create_connection(self.upstream) as server:
            up = threading.Thread(target=self._pump, args=(client, server, True), daemon=True)
            up.start()
            self._pump(server, client, False)
            up.join()
        with self._lock:
            self._open -= 1

    def _pump(self, src: socket.socket, dst: socket.socket, requests: bool) -> None:
        tail = b""
        try:
            while data := src.recv(65536):
                with self._lock:
                    if requests:
                        self.heads += (tail + data).count(b"\r\n\r\n")
                    else:
                        self.down += len(data)
                tail = data[-3:]
                dst.sendall(data)
        except OSError:
            pass
        finally:  # one side is done: end the other, as a TCP proxy would
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def idle(self) -> bool:
        with self._lock:
            return self._open == 0

    def close(self) -> None:
        self._listener.close()


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int]]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield ("127.0.0.1", httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def relay(server: tuple[str, int]) -> Iterator[CountingRelay]:
    r = CountingRelay(server)
    yield r
    r.close()


def wait_until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def raw_get(proxy: FaultProxy, path: str, *, read: int | None = None, reset: bool = False) -> int:
    """GET over a raw socket; read ``read`` bytes (None: to the end) and hang up."""
    host, port = proxy.endpoint.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    got = 0
    while read is None or got < read:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:  # a reset fault
            break
        if not data:
            break
        got += len(data)
    if reset:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()
    return got


def test_complete_exchanges_match_the_relay_byte_for_byte(relay: CountingRelay) -> None:
    with FaultProxy(relay.endpoint) as proxy:
        for path in ("/small", "/big", "/small"):
            raw_get(proxy, path)
        log = proxy.requests()
    wait_until(relay.idle, "the relay's connections to close")
    assert [s.ended for s in log] == ["complete"] * 3
    assert [s.body_bytes for s in log] == [1000, BIG, 1000]
    assert len(log) == relay.heads == 3
    assert sum(s.upstream_bytes for s in log) == relay.down


@pytest.mark.parametrize("reset", [False, True], ids=["close", "reset"])
def test_a_client_that_hangs_up_mid_body_is_logged(relay: CountingRelay, reset: bool) -> None:
    with FaultProxy(relay.endpoint) as proxy:
        got = raw_get(proxy, "/big", read=64 * 1024, reset=reset)
        raw_get(proxy, "/small")
        log = proxy.requests()
        wait_until(lambda: len(proxy.log) == 2, "both exchanges to be logged")
        log = proxy.requests()
    wait_until(relay.idle, "the relay's connections to close")
    assert len(log) == relay.heads == 2  # nothing the server saw is missing from the log
    early = next(s for s in log if s.target == "/big")
    assert early.ended in ("client closed", "client reset"), early
    assert early.status == 200
    assert got <= early.body_bytes + 1024 < BIG  # what it relayed: at least what was read
    assert early.body_bytes <= early.upstream_bytes
    assert sum(s.upstream_bytes for s in log) <= relay.down
    print(
        f"client read {got} B; proxy relayed {early.body_bytes} B, read "
        f"{early.upstream_bytes} B from upstream; relay saw {relay.down} B go by"
    )


def test_an_upstream_that_hangs_up_and_a_fault_are_logged(relay: CountingRelay) -> None:
    faults = [Fault("reset", path="/small", cut=0.25)]
    with FaultProxy(relay.endpoint, faults=faults) as proxy:
        raw_get(proxy, "/half")
        raw_get(proxy, "/small")
        wait_until(lambda: len(proxy.log) == 2, "both exchanges to be logged")
        half, cut = proxy.requests()
    assert (half.ended, half.status, half.body_bytes) == ("upstream closed", 200, 500)
    assert (cut.ended, cut.fault, cut.body_bytes) == ("fault", "reset", 250)


def test_an_exchange_cancelled_by_stop_is_logged(relay: CountingRelay) -> None:
    proxy = FaultProxy(relay.endpoint, link=Link(per_connection=2 * 2**20)).start()
    host, port = proxy.endpoint.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    try:
        sock.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        got = 0
        while got < 256 * 1024:  # the body is flowing, slowly
            got += len(sock.recv(65536))
        proxy.stop()
    finally:
        sock.close()
    (seen,) = proxy.log
    assert seen.ended == "cancelled" and seen.status == 200
    assert 0 < seen.body_bytes < BIG


def test_load_safetensors_of_an_oci_shard_is_logged_whole(oci_server: Any) -> None:
    """The issue's case: every exchange of one load, held against the relay's count."""
    import safetensors.torch
    import torch

    import unifs
    from unifs.torch import load_safetensors

    oci_server.make_bucket("unifs-fault-log")
    uri = f"oci://n/{oci_server.namespace}/b/unifs-fault-log/o/shard.safetensors"
    tensors = {"w": torch.arange(6 * 2**20, dtype=torch.float32)}  # 24 MiB
    fs, path = unifs.url_to_fs(uri, **oci_server.storage_options)
    fs.pipe_file(path, safetensors.torch.save(tensors))
    host, port = oci_server.endpoint.removeprefix("http://").split(":")
    relay = CountingRelay((host, int(port)))
    try:
        with FaultProxy(relay.endpoint) as proxy:
            options = route_through(oci_server.storage_options, oci_server.endpoint, proxy.endpoint)
            loaded = load_safetensors(uri, **options)
            assert torch.equal(loaded["w"], tensors["w"])
            del loaded
            log = proxy.requests()
        wait_until(relay.idle, "the relay's connections to close")
    finally:
        relay.close()
    logged = sum(s.upstream_bytes for s in log)
    print(
        f"\nload_safetensors of a 24 MiB OCI shard: {len(log)} exchanges logged "
        f"{[(s.method, s.range, s.ended, s.body_bytes) for s in log]}; "
        f"{logged} B read from upstream as logged; the relay saw {relay.heads} requests "
        f"and {relay.down} B"
    )
    assert len(log) == relay.heads  # every request the server saw is in the log
    assert logged <= relay.down
