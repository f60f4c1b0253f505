"""Run a metadata stand-in on 127.0.0.1 and log what it is asked: :class:`MetadataServer`.

The machinery every stand-in shares; each cloud's protocol is its own module.
"""

from __future__ import annotations

import http.server
import json
import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar, NamedTuple, TypeVar
from urllib.parse import parse_qsl, urlsplit

from unifs.testing.network import is_loopback

_S = TypeVar("_S", bound="MetadataServer")


class RecordedRequest(NamedTuple):
    """One request a stand-in received, for a test to assert that the SDK really asked."""

    method: str
    #: the request target as sent, query string included
    path: str
    #: lower-cased names; only the headers the protocol is about (see ``logged_headers``)
    headers: dict[str, str]

    @property
    def route(self) -> str:
        """The path without its query string."""
        return urlsplit(self.path).path

    @property
    def query(self) -> dict[str, str]:
        """The query parameters (last value wins)."""
        return dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes = b""
    content_type: str = "text/plain"
    headers: tuple[tuple[str, str], ...] = ()


def _text(text: str, status: int = 200, headers: tuple[tuple[str, str], ...] = ()) -> _Reply:
    return _Reply(status, text.encode(), "text/plain; charset=utf-8", headers)


def _json(payload: Any, status: int = 200, headers: tuple[tuple[str, str], ...] = ()) -> _Reply:
    return _Reply(status, json.dumps(payload).encode(), "application/json", headers)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _HTTPServer
    # HTTP/1.0: one request per connection, so stop() leaves no idle keep-alive threads.
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log replaces stderr noise

    def do_GET(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.server.standin._dispatch(self.command, self.path, headers, body)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], standin: MetadataServer) -> None:
        self.standin = standin
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-reply (an SDK timing out) is not the stand-in's fault.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class MetadataServer:
    """Base class: a threaded HTTP server on 127.0.0.1 that logs every request it answers.

    Subclasses implement :meth:`_respond`, :meth:`env` and, if needed, :meth:`unset_env`.
    """

    #: request headers (lower case) copied into the request log
    logged_headers: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        if not is_loopback(host):
            # a metadata stand-in must never be reachable from, or mistaken for, the network
            raise ValueError(f"stand-ins bind to loopback only, not {host!r}")
        self._address = (host, port)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self: _S) -> _S:
        """Listen on the loopback port (a free one for ``port=0``) and serve in a thread."""
        if self._httpd is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        self._httpd = _HTTPServer(self._address, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- what tests look at ---------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on."""
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not running; call start()")
        return int(self._httpd.server_address[1])

    @property
    def endpoint(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://{self._address[0]}:{self.port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the requests logged so far."""
        with self._lock:
            self._requests.clear()

    def env(self) -> dict[str, str]:
        """Environment variables that point the SDK at this stand-in."""
        raise NotImplementedError

    def unset_env(self) -> tuple[str, ...]:
        """Environment variables that must be absent, or the SDK would not ask the stand-in."""
        return ()

    def environ(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Copy ``base`` (default ``os.environ``) with :meth:`unset_env` and :meth:`env` applied."""
        result = dict(os.environ if base is None else base)
        for name in self.unset_env():
            result.pop(name, None)
        result.update(self.env())
        return result

    # ---- request handling -----------------------------------------------------------------

    def _dispatch(self, method: str, target: str, headers: dict[str, str], body: bytes) -> _Reply:
        logged = {k: headers[k] for k in self.logged_headers if k in headers}
        with self._lock:
            self._requests.append(RecordedRequest(method, target, logged))
        split = urlsplit(target)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        return self._respond(method, split.path, query, headers, body)

    def _respond(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> _Reply:
        raise NotImplementedError

    def __repr__(self) -> str:
        where = self.endpoint if self._httpd is not None else "stopped"
        return f"<{type(self).__name__} {where}>"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)
