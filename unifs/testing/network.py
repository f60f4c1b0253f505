"""Keep tests, notebooks and benchmarks on 127.0.0.1: no cloud SDK may reach the network.

Cloud SDKs probe metadata services and token endpoints on their own (google-auth asks
169.254.169.254, Azure managed identity, AWS IMDS and OCI instance principals likewise).
Call :func:`guard` before importing any of them::

    from unifs.testing.network import guard
    guard()

It does two things:

1. sets the environment variables that stop the probes (``SAFE_ENV``), keeping any value
   the caller set already;
2. patches ``socket`` so that connecting to, or looking up the name of, any host outside
   127.0.0.0/8 and ::1 raises :class:`NetworkBlocked`. SDKs often swallow connection errors
   while probing, so every blocked attempt is also recorded in :data:`blocked` for a test
   to fail on afterwards.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any

__all__ = ["SAFE_ENV", "NetworkBlocked", "blocked", "guard", "is_loopback", "unguard"]

#: Environment that keeps cloud SDKs from probing metadata services (EMULATORS.md).
SAFE_ENV = {
    # google-auth skips its GCE probe only for exactly "true" (compute_engine/_metadata.py)
    "NO_GCE_CHECK": "true",
    "GCE_METADATA_HOST": "127.0.0.1:9",
    "GCE_METADATA_IP": "127.0.0.1:9",
    "AWS_EC2_METADATA_DISABLED": "true",
    # else gcsfs probes gRPC/TLS for hierarchical namespaces, ~60 s per call
    "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
}

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}

#: "host:port" of every connection or lookup the guard refused, oldest first.
blocked: list[str] = []

_originals: dict[str, Any] = {}


class NetworkBlocked(ConnectionRefusedError):
    """A connection or name lookup outside the loopback range was attempted."""


def is_loopback(host: object) -> bool:
    """True for 127.0.0.0/8, ::1 and the usual names of localhost."""
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return name.lower() in _LOOPBACK_NAMES


def _refuse(host: object, port: object) -> NetworkBlocked:
    where = f"{host}:{port}"
    blocked.append(where)
    return NetworkBlocked(
        f"unifs network guard: connection to {where} refused; only 127.0.0.1 and ::1 are "
        "allowed here (a cloud SDK probing a metadata service or the internet?)"
    )


def _check_address(sock: socket.socket, address: Any) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return  # unix sockets never leave the machine
    host, port = address[0], address[1]
    if not is_loopback(host):
        raise _refuse(host, port)


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check_address(self, address)
    _originals["connect"](self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check_address(self, address)
    result: int = _originals["connect_ex"](self, address)
    return result


def _guarded_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    if host is not None and not is_loopback(host if isinstance(host, str) else host.decode()):
        raise _refuse(host, port)
    return _originals["getaddrinfo"](host, port, *args, **kwargs)


def guard(*, set_env: bool = True) -> None:
    """Allow only loopback connections from this process from now on (idempotent)."""
    if set_env:
        for name, value in SAFE_ENV.items():
            os.environ.setdefault(name, value)
    if _originals:
        return
    _originals["connect"] = socket.socket.connect
    _originals["connect_ex"] = socket.socket.connect_ex
    _originals["getaddrinfo"] = socket.getaddrinfo
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = _guarded_getaddrinfo


def unguard() -> None:
    """Undo :func:`guard` (environment variables stay)."""
    if not _originals:
        return
    socket.socket.connect = _originals.pop("connect")  # type: ignore[method-assign]
    socket.socket.connect_ex = _originals.pop("connect_ex")  # type: ignore[method-assign]
    socket.getaddrinfo = _originals.pop("getaddrinfo")
