"""The socket guard that keeps the suite on 127.0.0.1 really refuses other hosts."""

from __future__ import annotations

import socket

import pytest

from unifs.testing import network


@pytest.fixture
def forget_blocked():
    # these tests provoke refusals on purpose; keep them out of the autouse check
    before = len(network.blocked)
    yield
    del network.blocked[before:]


@pytest.mark.parametrize("host", ["169.254.169.254", "8.8.8.8", "10.0.0.1", "2001:db8::1"])
def test_connect_outside_loopback_is_refused(host, forget_blocked):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock, pytest.raises(network.NetworkBlocked):
        sock.connect((host, 80))
    assert network.blocked[-1] == f"{host}:80"


def test_name_lookup_of_remote_host_is_refused(forget_blocked):
    with pytest.raises(network.NetworkBlocked):
        socket.getaddrinfo("metadata.google.internal", 80)
    with pytest.raises(network.NetworkBlocked):
        socket.create_connection(("storage.googleapis.com", 443), timeout=1)


def test_loopback_still_works():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("localhost", port), timeout=5) as client:
            conn, _ = server.accept()
            client.sendall(b"ping")
            assert conn.recv(4) == b"ping"
            conn.close()


def test_environment_stops_metadata_probes():
    import os

    for name, value in network.SAFE_ENV.items():
        assert os.environ.get(name) == value, name


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("169.254.169.254", False),
        ("example.com", False),
        ("0.0.0.0", False),
        (None, False),
    ],
)
def test_is_loopback(host, expected):
    assert network.is_loopback(host) is expected
