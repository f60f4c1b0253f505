"""Carry HTTP requests to the OCI server and its answers back: errors, requests, responses.

Also the REST API's paths (``_R_*``), which the router and the signature check both read.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.server
import json
import logging
import re
import socket
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from unifs.testing.oci_server.identity import OCITestIdentity
    from unifs.testing.oci_server.server import OCIServer

# one logger for the whole server, under the name it had as a single module
logger = logging.getLogger("unifs.testing.oci_server")

_STREAM_CHUNK = 1 << 20  # large bodies go to the socket in 1 MiB slices
_SMALL_BODY = 64 << 10  # below this, headers and body leave in one send()


# --------------------------------------------------------------------------------------------
# Requests, responses, errors
# --------------------------------------------------------------------------------------------


class _OCIError(Exception):
    """An error answered as OCI does: JSON ``{"code", "message"}`` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class _Request:
    method: str
    target: str  # raw request-target, exactly what the client signed
    path: str
    query: dict[str, str]
    headers: Any  # email.message.Message: case-insensitive .get()
    body: bytearray
    principal: OCITestIdentity | None = None

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return None if value is None else str(value)

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(bytes(self.body).decode("utf-8") or "{}")
        except (UnicodeDecodeError, ValueError) as exc:
            raise _OCIError(
                400, "CannotParseRequest", "The request body is not valid JSON."
            ) from exc
        if not isinstance(data, dict):
            raise _OCIError(400, "CannotParseRequest", "The request body must be a JSON object.")
        return data


@dataclass
class _Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | memoryview = b""
    # For HEAD: the Content-Length a GET would carry, with no body sent.
    head_length: int | None = None


def _json_response(status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()) -> _Response:
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    return _Response(status, [("Content-Type", "application/json"), *headers], body)


def _error_response(err: _OCIError) -> _Response:
    return _json_response(err.status, {"code": err.code, "message": err.message})


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    """Translate HTTP/1.1 requests to :meth:`OCIServer._handle` calls; stream the answers."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
    server_version = "unifs-oci-server/1"
    sys_version = ""
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # Small JSON answers must not wait for Nagle + delayed ACK (~40 ms on loopback).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        # PAR tokens are bearer secrets; keep them out of logs.
        text = re.sub(r"/p/[^/\s]+/", "/p/<redacted>/", format % args)
        logger.debug("%s %s", self.address_string(), text)

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _read_body(self) -> bytearray:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        raw = self.headers.get("Content-Length")
        length = int(raw) if raw else 0
        if length < 0:
            raise ValueError("negative Content-Length")
        buf = bytearray(length)
        view = memoryview(buf)
        got = 0
        while got < length:
            n = self.rfile.readinto(view[got:])
            if not n:
                raise ConnectionError("client closed the connection mid-body")
            got += n
        return buf

    def _read_chunked(self) -> bytearray:
        buf = bytearray()
        while True:
            size_line = self.rfile.readline(1024)
            if not size_line:
                raise ConnectionError("client closed the connection mid-body")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # skip trailers
                return buf
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                raise ConnectionError("client closed the connection mid-chunk")
            buf += chunk
            self.rfile.readline(1024)  # CRLF after each chunk

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except (ValueError, ConnectionError) as exc:
            # The stream position is unknown now, so the connection cannot be reused.
            self.close_connection = True
            logger.debug("unreadable request body: %s", exc)
            self._write(_error_response(_OCIError(400, "InvalidParameter", "Malformed body.")))
            return
        split = urlsplit(self.path)
        request = _Request(
            method=self.command,
            target=self.path,
            path=split.path,
            query={k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()},
            headers=self.headers,
            body=body,
        )
        try:
            response = self.server.oci._handle(request)
        except _OCIError as err:
            response = _error_response(err)
        except Exception:
            logger.exception("OCI server failed on %s", self.command)
            response = _error_response(
                _OCIError(500, "InternalServerError", "The server failed to process the request.")
            )
        client_id = request.header("opc-client-request-id")
        if client_id:
            response.headers.append(("opc-client-request-id", client_id))
        try:
            self._write(response)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _write(self, response: _Response) -> None:
        head_only = self.command == "HEAD"
        body = response.body
        reason = http.server.BaseHTTPRequestHandler.responses.get(response.status, ("",))[0]
        lines = [f"HTTP/1.1 {response.status} {reason}"]
        headers = [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("opc-request-id", uuid.uuid4().hex.upper()),
            *response.headers,
        ]
        if response.status not in (204, 304):
            length = response.head_length if response.head_length is not None else len(body)
            headers.append(("Content-Length", str(length)))
        if self.close_connection:
            headers.append(("Connection", "close"))
        for name, value in headers:
            lines.append(f"{name}: {value}")
        # latin-1 round-trips whatever bytes a client sent in opc-meta-* values
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        self.log_request(response.status, len(body))
        if head_only or response.status in (204, 304) or not body:
            self.wfile.write(head)
        elif len(body) <= _SMALL_BODY:
            self.wfile.write(head + bytes(body))
        else:
            self.wfile.write(head)
            view = memoryview(body)
            for offset in range(0, len(view), _STREAM_CHUNK):
                self.wfile.write(view[offset : offset + _STREAM_CHUNK])


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops the SYNs of a client that opens tens of
    # connections at once (each then waits a 1 s retransmit); a real endpoint takes them
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], oci: OCIServer) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.oci = oci
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._connections.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._connections.discard(conn)

    def close_connections(self) -> None:
        """Cut idle keep-alive connections so a stopped server really stops answering."""
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):  # already closed by the client
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("connection error from %s", client_address, exc_info=True)


# --------------------------------------------------------------------------------------------
# The REST API's paths
# --------------------------------------------------------------------------------------------

_R_PAR = re.compile(r"^/p/(?P<token>[^/]+)/n/(?P<ns>[^/]+)/b/(?P<bucket>[^/]+)/o(?:/(?P<key>.*))?$")
# a multipart upload begun through a PAR: /p/{token}/n/{ns}/b/{bucket}/u/{object}/id/{id}/[{part}]
_R_PAR_UPLOAD = re.compile(
    r"^/p/(?P<token>[^/]+)/n/(?P<ns>[^/]+)/b/(?P<bucket>[^/]+)/u/(?P<key>.+)"
    r"/id/(?P<upload>[^/]+)/(?P<part>\d*)$"
)
_R_NS = re.compile(r"^/n/?$")
_R_NS_META = re.compile(r"^/n/(?P<ns>[^/]+)/?$")
_R_BUCKETS = re.compile(r"^/n/(?P<ns>[^/]+)/b/?$")
_R_BUCKET = re.compile(r"^/n/(?P<ns>[^/]+)/b/(?P<bucket>[^/]+)/?$")
_R_OBJECTS = re.compile(r"^/n/(?P<ns>[^/]+)/b/(?P<bucket>[^/]+)/o/?$")
_R_OBJECT = re.compile(r"^/n/(?P<ns>[^/]+)/b/(?P<bucket>[^/]+)/o/(?P<key>.+)$")
_R_UPLOADS = re.compile(r"^/n/(?P<ns>[^/]+)/b/(?P<bucket>[^/]+)/u/?$")
_R_UPLOAD = re.compile(r"^/n/(?P<ns>[^/]+)/b/(?P<bucket>[^/]+)/u/(?P<key>.+)$")
_R_PARS = re.compile(r"^/n/(?P<ns>[^/]+)/b/(?P<bucket>[^/]+)/p/?$")
_R_PAR_ITEM = re.compile(r"^/n/(?P<ns>[^/]+)/b/(?P<bucket>[^/]+)/p/(?P<par>[^/]+)$")
_R_ACTION = re.compile(r"^/n/(?P<ns>[^/]+)/b/(?P<bucket>[^/]+)/actions/(?P<action>[A-Za-z]+)$")
_R_WORK_REQUEST = re.compile(r"^/workRequests/(?P<work_id>[^/]+)$")
_R_WORK_REQUESTS = re.compile(r"^/workRequests/?$")
_R_WORK_REQUEST_ERRORS = re.compile(r"^/workRequests/(?P<work_id>[^/]+)/errors$")
_R_WORK_REQUEST_LOGS = re.compile(r"^/workRequests/(?P<work_id>[^/]+)/logs$")
