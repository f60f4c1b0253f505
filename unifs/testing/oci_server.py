"""Run a local OCI Object Storage server that the real ``oci`` SDK and ``ocifs`` can talk to.

No OCI emulator exists elsewhere, so this module speaks the documented Object Storage REST
API (namespace, buckets, objects with ranges, multipart uploads, copy/rename, pre-authenticated
requests) on 127.0.0.1 and checks every request's OCI HTTP signature against trusted test keys.
It is a stand-in for tests, notebooks and benchmarks, not a production store: data lives in
memory.

Typical use::

    from unifs.testing.oci_server import OCIServer, OCITestIdentity

    ident = OCITestIdentity.generate()
    with OCIServer(namespace="unifs", identities=[ident]) as server:
        server.create_bucket("data")
        client = oci.object_storage.ObjectStorageClient(
            ident.config(), service_endpoint=server.endpoint,
            retry_strategy=oci.retry.NoneRetryStrategy())

``python -m unifs.testing.oci_server --port 0`` runs it in the foreground and writes a config
file for a fresh test identity.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import configparser
import contextlib
import email.utils
import hashlib
import http.server
import json
import logging
import os
import pathlib
import re
import secrets
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = ["OCIServer", "OCITestIdentity"]

logger = logging.getLogger(__name__)

DEFAULT_REGION = "us-ashburn-1"
_STREAM_CHUNK = 1 << 20  # large bodies go to the socket in 1 MiB slices
_SMALL_BODY = 64 << 10  # below this, headers and body leave in one send()
_MAX_LIST_LIMIT = 1000
_MAX_OBJECT_NAME_BYTES = 1024
_MAX_PART_NUM = 10000
_BUCKET_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,256}$")
_OCID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_LIST_FIELDS = frozenset(
    {"name", "size", "etag", "md5", "timeCreated", "timeModified", "storageTier", "archivalState"}
)
_READ_ACCESS = frozenset({"ObjectRead", "ObjectReadWrite", "AnyObjectRead", "AnyObjectReadWrite"})
_WRITE_ACCESS = frozenset(
    {"ObjectWrite", "ObjectReadWrite", "AnyObjectWrite", "AnyObjectReadWrite"}
)
_OBJECT_ACCESS = frozenset({"ObjectRead", "ObjectWrite", "ObjectReadWrite"})
_ANY_OBJECT_ACCESS = frozenset({"AnyObjectRead", "AnyObjectWrite", "AnyObjectReadWrite"})
# Object headers OCI stores with the object and returns on GET/HEAD.
_STORED_HEADERS = ("Content-Language", "Content-Encoding", "Content-Disposition", "Cache-Control")
# GET query parameters that override response headers (OCI's httpResponse* family).
_RESPONSE_OVERRIDES = {
    "httpResponseContentDisposition": "Content-Disposition",
    "httpResponseCacheControl": "Cache-Control",
    "httpResponseContentType": "Content-Type",
    "httpResponseContentLanguage": "Content-Language",
    "httpResponseContentEncoding": "Content-Encoding",
    "httpResponseExpires": "Expires",
}


# --------------------------------------------------------------------------------------------
# Test identities
# --------------------------------------------------------------------------------------------


def _fake_ocid(kind: str) -> str:
    """Return a random OCID of the documented shape ``ocid1.<kind>.oc1..aaaaaaaa<52 chars>``."""
    tail = "".join(secrets.choice(_OCID_ALPHABET) for _ in range(52))
    return f"ocid1.{kind}.oc1..aaaaaaaa{tail}"


def _key_fingerprint(public_key: rsa.RSAPublicKey) -> str:
    """Return OCI's API-key fingerprint: colon-separated MD5 of the DER public key."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.md5(der).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


@dataclass(frozen=True, repr=False)
class OCITestIdentity:
    """Hold a throwaway OCI API-key identity: dummy user/tenancy OCIDs and a real RSA key pair.

    The private key never appears in ``repr``; pass :meth:`config` to the SDK or ocifs.
    """

    tenancy: str
    user: str
    fingerprint: str
    private_key_pem: bytes
    public_key_pem: bytes
    region: str = DEFAULT_REGION

    @classmethod
    def generate(cls, region: str = DEFAULT_REGION, key_size: int = 2048) -> OCITestIdentity:
        """Create an identity with a fresh RSA key and random, validly-shaped OCIDs."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
        private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(
            tenancy=_fake_ocid("tenancy"),
            user=_fake_ocid("user"),
            fingerprint=_key_fingerprint(key.public_key()),
            private_key_pem=private_pem,
            public_key_pem=public_pem,
            region=region,
        )

    @property
    def key_id(self) -> str:
        """Return the ``keyId`` the SDK puts in its Authorization header."""
        return f"{self.tenancy}/{self.user}/{self.fingerprint}"

    def public_key(self) -> rsa.RSAPublicKey:
        """Load the public half of the key (what the server verifies signatures with)."""
        key = serialization.load_pem_public_key(self.public_key_pem)
        if not isinstance(key, rsa.RSAPublicKey):
            raise TypeError("OCI API keys are RSA keys")
        return key

    def config(self, key_file: str | os.PathLike[str] | None = None) -> dict[str, str]:
        """Return an oci SDK config dict; embeds the key unless ``key_file`` is given."""
        cfg = {
            "user": self.user,
            "tenancy": self.tenancy,
            "fingerprint": self.fingerprint,
            "region": self.region,
        }
        if key_file is not None:
            cfg["key_file"] = os.fspath(key_file)
        else:
            cfg["key_content"] = self.private_key_pem.decode("ascii")
        return cfg

    def write_config_file(
        self, directory: str | os.PathLike[str], profile: str = "DEFAULT"
    ) -> pathlib.Path:
        """Write an ``~/.oci/config``-style file plus key file into ``directory``; return its path.

        An existing config file there keeps its other profiles.
        """
        folder = pathlib.Path(directory).expanduser().resolve()
        folder.mkdir(parents=True, exist_ok=True)
        key_path = folder / f"oci_api_key_{re.sub(r'[^A-Za-z0-9_.-]', '_', profile)}.pem"
        # Create the key file owner-only from the start, like `oci setup keys` does.
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(self.private_key_pem)
        config_path = folder / "config"
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep key case
        if config_path.exists():
            parser.read(config_path)
        values = self.config(key_file=key_path)
        if profile == "DEFAULT":
            parser["DEFAULT"] = values
        else:
            parser[profile] = values
        with open(config_path, "w", encoding="utf-8") as fh:
            parser.write(fh)
        return config_path

    def __repr__(self) -> str:
        return (
            f"OCITestIdentity(tenancy={self.tenancy!r}, user={self.user!r}, "
            f"fingerprint={self.fingerprint!r}, region={self.region!r})"
        )


# --------------------------------------------------------------------------------------------
# In-memory state
# --------------------------------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _rfc3339(ts: datetime) -> str:
    """Format like OCI does in JSON bodies: ``2024-05-01T12:00:00.123Z``."""
    return (
        ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{ts.microsecond // 1000:03d}Z"
    )


def _http_date(ts: datetime) -> str:
    return email.utils.format_datetime(ts.astimezone(timezone.utc), usegmt=True)


def _parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp on Python 3.10 too (``Z`` suffix, any fraction digits)."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    # fromisoformat before 3.11 wants exactly 3 or 6 fraction digits
    value = re.sub(r"\.(\d+)", lambda m: "." + (m.group(1) + "000000")[:6], value, count=1)
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def _b64md5(data: bytes | bytearray | memoryview) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


@dataclass
class _Object:
    name: str
    data: bytes | bytearray  # never mutated once stored, so readers slice it without a lock
    etag: str
    md5: str  # base64 MD5, or OCI's "<base64 md5 of part md5s>-<count>" for multipart
    multipart: bool
    content_type: str
    headers: dict[str, str]
    metadata: dict[str, str]
    storage_tier: str
    time_created: datetime
    time_modified: datetime
    version_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class _Part:
    data: bytes | bytearray
    etag: str
    md5: str


@dataclass
class _Upload:
    upload_id: str
    object_name: str
    time_created: datetime
    storage_tier: str
    content_type: str | None
    headers: dict[str, str]
    metadata: dict[str, str]
    parts: dict[int, _Part] = field(default_factory=dict)


@dataclass
class _PAR:
    id: str
    token: str
    name: str
    bucket: str
    object_name: str | None
    access_type: str
    bucket_listing_action: str
    time_expires: datetime
    time_created: datetime


@dataclass
class _Bucket:
    name: str
    compartment_id: str
    created_by: str
    time_created: datetime
    etag: str
    id: str
    metadata: dict[str, str]
    storage_tier: str
    public_access_type: str
    objects: dict[str, _Object] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)  # sorted keys, for ranged listing
    uploads: dict[str, _Upload] = field(default_factory=dict)
    pars: dict[str, _PAR] = field(default_factory=dict)

    def put(self, obj: _Object) -> None:
        if obj.name not in self.objects:
            bisect.insort(self.names, obj.name)
        self.objects[obj.name] = obj

    def remove(self, name: str) -> None:
        del self.objects[name]
        idx = bisect.bisect_left(self.names, name)
        del self.names[idx]


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


def _not_authenticated(detail: str) -> _OCIError:
    # The detail goes to the server log only; OCI's answer does not say what was wrong.
    logger.info("OCI server refused a request: %s", detail)
    return _OCIError(
        401,
        "NotAuthenticated",
        "The required information to complete authentication was not provided or was incorrect.",
    )


def _par_denied() -> _OCIError:
    # OCI answers every refused pre-authenticated request the same way, so a PAR holder
    # cannot tell an expired, revoked or out-of-scope URL from a missing object.
    return _OCIError(
        404,
        "NotAuthorizedOrNotFound",
        "Either the pre-authenticated request does not exist, has expired, or does not "
        "allow this operation.",
    )


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


def _parse_limit(query: dict[str, str], default: int = _MAX_LIST_LIMIT) -> int:
    raw = query.get("limit")
    if raw is None or raw == "":
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise _OCIError(400, "InvalidParameter", f"limit '{raw}' is not an integer.") from None
    if not 1 <= limit <= _MAX_LIST_LIMIT:
        raise _OCIError(400, "InvalidParameter", f"limit must be between 1 and {_MAX_LIST_LIMIT}.")
    return limit


def _page(keys: list[str], page: str | None, limit: int) -> tuple[list[str], str | None]:
    """Slice sorted ``keys`` from token ``page`` (inclusive); return the slice and next token."""
    start = bisect.bisect_left(keys, page) if page else 0
    chunk = keys[start : start + limit]
    nxt = keys[start + limit] if start + limit < len(keys) else None
    return chunk, nxt


def _parse_range(value: str, size: int) -> tuple[int, int] | None:
    """Return the inclusive (first, last) byte of a single ``bytes=`` range, None to ignore it.

    Raises 416 when the range is well-formed but selects nothing in an object of ``size``.
    """
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", value)
    if not match or (not match.group(1) and not match.group(2)):
        return None  # RFC 9110: a server may ignore a Range it does not understand
    first_s, last_s = match.groups()
    if not first_s:
        suffix = int(last_s)
        if suffix == 0 or size == 0:
            raise _OCIError(416, "InvalidRange", "The requested range is not satisfiable.")
        return max(0, size - suffix), size - 1
    first = int(first_s)
    last = int(last_s) if last_s else size - 1
    if last_s and last < first:
        return None  # syntactically invalid: ignored, as RFC 9110 says
    if first >= size:
        raise _OCIError(416, "InvalidRange", "The requested range is not satisfiable.")
    return first, min(last, size - 1)


def _prefix_upper_bound(prefix: str) -> str:
    """Return the smallest string greater than every string that starts with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


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
# The server
# --------------------------------------------------------------------------------------------

_R_PAR = re.compile(r"^/p/(?P<token>[^/]+)/n/(?P<ns>[^/]+)/b/(?P<bucket>[^/]+)/o(?:/(?P<key>.*))?$")
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


class OCIServer:
    """Serve OCI Object Storage's REST API from memory on a loopback port, checking signatures.

    Every request outside ``/p/`` (pre-authenticated requests) must carry a valid OCI HTTP
    signature from one of the trusted :class:`OCITestIdentity` keys, with a ``Date`` within
    ``max_clock_skew`` of now; anything else gets 401 ``NotAuthenticated``.
    """

    def __init__(
        self,
        namespace: str = "unifs",
        identities: Iterable[OCITestIdentity] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        compartment_id: str | None = None,
        max_clock_skew: timedelta = timedelta(minutes=5),
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"OCIServer binds loopback only, not {host!r}")
        self._namespace = namespace
        self._host = "127.0.0.1" if host == "localhost" else host
        self._requested_port = port
        self._max_clock_skew = max_clock_skew
        self._lock = threading.RLock()
        self._trusted: dict[str, tuple[OCITestIdentity, rsa.RSAPublicKey]] = {}
        identities = list(identities)
        for ident in identities:
            self.add_identity(ident)
        # Buckets live in a compartment; the tenancy root is the natural default, as in OCI.
        self.compartment_id = compartment_id or (
            identities[0].tenancy if identities else _fake_ocid("tenancy")
        )
        self._buckets: dict[str, _Bucket] = {}
        self._par_tokens: dict[str, tuple[str, str]] = {}  # token -> (bucket, par id)
        self._work_requests: dict[str, dict[str, Any]] = {}
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> OCIServer:
        """Bind the port and serve in a daemon thread; return self."""
        if self._httpd is not None:
            return self
        self._httpd = _HTTPServer((self._host, self._requested_port), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"oci-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        logger.info("OCI server listening on %s (namespace %s)", self.endpoint, self._namespace)
        return self

    def stop(self) -> None:
        """Stop serving, close the port and cut open keep-alive connections."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> OCIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """Return the bound port (the chosen one when constructed with port 0)."""
        if self._httpd is None:
            raise RuntimeError("OCIServer is not started")
        return int(self._httpd.server_address[1])

    @property
    def endpoint(self) -> str:
        """Return the base URL to pass as the SDK's ``service_endpoint``."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    @property
    def namespace(self) -> str:
        """Return the Object Storage namespace this server answers for."""
        return self._namespace

    def __repr__(self) -> str:
        where = self.endpoint if self._httpd is not None else "stopped"
        return f"OCIServer(namespace={self._namespace!r}, {where})"

    # ---- direct administration (no HTTP) --------------------------------------------------

    def add_identity(self, ident: OCITestIdentity) -> None:
        """Trust signatures made with ``ident``'s key from now on."""
        with self._lock:
            self._trusted[ident.key_id] = (ident, ident.public_key())

    def remove_identity(self, ident: OCITestIdentity) -> None:
        """Stop trusting ``ident`` (its requests then get 401)."""
        with self._lock:
            self._trusted.pop(ident.key_id, None)

    def create_bucket(self, name: str, compartment_id: str | None = None) -> None:
        """Create an empty bucket directly; raise ValueError if the name is taken or invalid."""
        try:
            self._create_bucket(name, compartment_id or self.compartment_id, "unifs-testing")
        except _OCIError as err:
            raise ValueError(err.message) from None

    def put_object(
        self,
        bucket: str,
        name: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
    ) -> None:
        """Store an object directly, e.g. to seed a benchmark; ValueError if no such bucket."""
        now = _utcnow()
        obj = _Object(
            name=name,
            data=bytes(data),
            etag=str(uuid.uuid4()),
            md5=_b64md5(data),
            multipart=False,
            content_type=content_type,
            headers={},
            metadata=dict(metadata or {}),
            storage_tier="Standard",
            time_created=now,
            time_modified=now,
        )
        with self._lock:
            target = self._buckets.get(bucket)
            if target is None:
                raise ValueError(f"no bucket named {bucket!r}")
            target.put(obj)

    def reset(self) -> None:
        """Drop all buckets, objects, uploads, PARs and work requests; keep trusted keys."""
        with self._lock:
            self._buckets.clear()
            self._par_tokens.clear()
            self._work_requests.clear()

    # ---- request handling -----------------------------------------------------------------

    def _handle(self, req: _Request) -> _Response:
        """Route one request; raise _OCIError for answers that are errors."""
        match = _R_PAR.match(req.path)
        if match:
            return self._serve_par(req, match)
        req.principal = self._authenticate(req)
        method = req.method
        routes: list[tuple[re.Pattern[str], dict[str, Any]]] = [
            (_R_NS, {"GET": self._get_namespace}),
            (_R_NS_META, {"GET": self._get_namespace_metadata}),
            (_R_BUCKETS, {"GET": self._list_buckets, "POST": self._create_bucket_api}),
            (
                _R_BUCKET,
                {"GET": self._get_bucket, "HEAD": self._get_bucket, "DELETE": self._delete_bucket},
            ),
            (_R_OBJECTS, {"GET": self._list_objects_api}),
            (
                _R_OBJECT,
                {
                    "GET": self._get_object,
                    "HEAD": self._get_object,
                    "PUT": self._put_object,
                    "DELETE": self._delete_object,
                },
            ),
            (_R_UPLOADS, {"GET": self._list_uploads, "POST": self._create_upload}),
            (
                _R_UPLOAD,
                {
                    "GET": self._list_parts,
                    "PUT": self._upload_part,
                    "POST": self._commit_upload,
                    "DELETE": self._abort_upload,
                },
            ),
            (_R_PARS, {"GET": self._list_pars, "POST": self._create_par}),
            (_R_PAR_ITEM, {"GET": self._get_par, "DELETE": self._delete_par}),
            (_R_ACTION, {"POST": self._action}),
            (_R_WORK_REQUEST, {"GET": self._get_work_request}),
        ]
        for pattern, handlers in routes:
            m = pattern.match(req.path)
            if m is None:
                continue
            handler = handlers.get(method)
            if handler is None:
                raise _OCIError(405, "MethodNotAllowed", f"{method} is not allowed here.")
            params = {k: unquote(v) for k, v in m.groupdict().items() if v is not None}
            if "ns" in params and params["ns"] != self._namespace:
                raise _OCIError(
                    404,
                    "NamespaceNotFound",
                    f"You do not have authorization to perform this "
                    f"request, or the requested resource could not be found: {params['ns']}",
                )
            response: _Response = handler(req, **params)
            return response
        raise _OCIError(404, "NotFound", "There is no operation at this path and method.")

    # ---- signatures -----------------------------------------------------------------------

    def _authenticate(self, req: _Request) -> OCITestIdentity:
        """Verify the draft-cavage signature the way OCI does; return the signer's identity."""
        auth = req.header("Authorization")
        if not auth:
            raise _not_authenticated("no Authorization header")
        scheme, _, rest = auth.strip().partition(" ")
        if scheme != "Signature":
            raise _not_authenticated(f"authorization scheme {scheme!r}")
        params = dict(re.findall(r'([A-Za-z]+)="([^"]*)"', rest))
        if params.get("version") != "1":
            raise _not_authenticated("signature version is not 1")
        if params.get("algorithm") != "rsa-sha256":
            raise _not_authenticated(f"algorithm {params.get('algorithm')!r}")
        key_id = params.get("keyId", "")
        signature_b64 = params.get("signature", "")
        signed = params.get("headers", "").lower().split()
        date_header = "date" if "date" in signed else "x-date"
        required = {"(request-target)", "host", date_header}
        # PutObject and UploadPart are the two operations whose bodies the SDK streams
        # unsigned (enforce_content_headers=False); every other PUT/POST signs its body.
        body_exempt = req.method == "PUT" and (
            _R_OBJECT.match(req.path) is not None or _R_UPLOAD.match(req.path) is not None
        )
        if req.method in ("PUT", "POST", "PATCH") and not body_exempt:
            required |= {"content-length", "content-type", "x-content-sha256"}
        missing = required - set(signed)
        if missing:
            raise _not_authenticated(f"signed headers lack {sorted(missing)}")
        with self._lock:
            trusted = self._trusted.get(key_id)
        if trusted is None:
            raise _not_authenticated("unknown keyId")
        ident, public_key = trusted
        lines = []
        for name in signed:
            if name == "(request-target)":
                lines.append(f"(request-target): {req.method.lower()} {req.target}")
                continue
            value = req.header(name)
            if value is None:
                raise _not_authenticated(f"signed header {name!r} is absent")
            lines.append(f"{name}: {value}")
        try:
            signing_string = "\n".join(lines).encode("ascii")
            signature = base64.b64decode(signature_b64, validate=True)
            public_key.verify(signature, signing_string, padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError, UnicodeEncodeError):
            raise _not_authenticated("signature does not verify") from None
        # The signature is good; now the signed claims must hold.
        try:
            sent = email.utils.parsedate_to_datetime(req.header(date_header) or "")
        except (TypeError, ValueError):
            raise _not_authenticated(f"unparseable {date_header}") from None
        if sent.tzinfo is None:
            sent = sent.replace(tzinfo=timezone.utc)
        if abs(_utcnow() - sent) > self._max_clock_skew:
            raise _not_authenticated(f"{date_header} is outside the allowed clock skew")
        if "x-content-sha256" in signed:
            digest = base64.b64encode(hashlib.sha256(req.body).digest()).decode("ascii")
            if req.header("x-content-sha256") != digest:
                raise _not_authenticated("x-content-sha256 does not match the body")
        if "content-length" in signed and req.header("content-length") != str(len(req.body)):
            raise _not_authenticated("content-length does not match the body")
        return ident

    # ---- namespace ------------------------------------------------------------------------

    def _get_namespace(self, req: _Request) -> _Response:
        return _json_response(200, self._namespace)

    def _get_namespace_metadata(self, req: _Request, ns: str) -> _Response:
        return _json_response(
            200,
            {
                "namespace": self._namespace,
                "defaultS3CompartmentId": self.compartment_id,
                "defaultSwiftCompartmentId": self.compartment_id,
            },
        )

    # ---- buckets --------------------------------------------------------------------------

    def _bucket(self, name: str) -> _Bucket:
        bucket = self._buckets.get(name)
        if bucket is None:
            raise _OCIError(
                404,
                "BucketNotFound",
                f"Either the bucket named '{name}' does not exist in the "
                f"namespace '{self._namespace}' or you are not authorized to access it",
            )
        return bucket

    def _create_bucket(
        self,
        name: str,
        compartment_id: str,
        created_by: str,
        metadata: dict[str, str] | None = None,
        storage_tier: str = "Standard",
        public_access_type: str = "NoPublicAccess",
    ) -> _Bucket:
        if not isinstance(name, str) or not _BUCKET_NAME_RE.match(name):
            raise _OCIError(400, "InvalidBucketName", f"Invalid bucket name: {name!r}")
        with self._lock:
            if name in self._buckets:
                raise _OCIError(
                    409,
                    "BucketAlreadyExists",
                    f"Either the bucket '{name}' in namespace "
                    f"'{self._namespace}' already exists or you are not authorized to create it",
                )
            bucket = _Bucket(
                name=name,
                compartment_id=compartment_id,
                created_by=created_by,
                time_created=_utcnow(),
                etag=str(uuid.uuid4()),
                id=_fake_ocid("bucket"),
                metadata=dict(metadata or {}),
                storage_tier=storage_tier,
                public_access_type=public_access_type,
            )
            self._buckets[name] = bucket
            return bucket

    def _bucket_json(self, bucket: _Bucket, fields: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "namespace": self._namespace,
            "name": bucket.name,
            "compartmentId": bucket.compartment_id,
            "metadata": bucket.metadata,
            "createdBy": bucket.created_by,
            "timeCreated": _rfc3339(bucket.time_created),
            "etag": bucket.etag,
            "publicAccessType": bucket.public_access_type,
            "storageTier": bucket.storage_tier,
            "objectEventsEnabled": False,
            "freeformTags": {},
            "definedTags": {},
            "replicationEnabled": False,
            "isReadOnly": False,
            "id": bucket.id,
            "versioning": "Disabled",
            "autoTiering": "Disabled",
        }
        if "approximateCount" in fields:
            out["approximateCount"] = len(bucket.objects)
        if "approximateSize" in fields:
            out["approximateSize"] = sum(len(o.data) for o in bucket.objects.values())
        return out

    def _create_bucket_api(self, req: _Request, ns: str) -> _Response:
        details = req.json()
        compartment = details.get("compartmentId")
        if not compartment:
            raise _OCIError(400, "MissingParameter", "compartmentId is required.")
        assert req.principal is not None
        bucket = self._create_bucket(
            details.get("name", ""),
            compartment,
            req.principal.user,
            metadata=details.get("metadata"),
            storage_tier=details.get("storageTier") or "Standard",
            public_access_type=details.get("publicAccessType") or "NoPublicAccess",
        )
        return _json_response(
            200,
            self._bucket_json(bucket, set()),
            [("ETag", bucket.etag), ("Location", f"{self.endpoint}/n/{ns}/b/{bucket.name}")],
        )

    def _list_buckets(self, req: _Request, ns: str) -> _Response:
        compartment = req.query.get("compartmentId")
        if not compartment:
            raise _OCIError(400, "MissingParameter", "compartmentId is required.")
        limit = _parse_limit(req.query)
        with self._lock:
            buckets = {n: b for n, b in self._buckets.items() if b.compartment_id == compartment}
        names, nxt = _page(sorted(buckets), req.query.get("page"), limit)
        summaries = [
            {
                "namespace": self._namespace,
                "name": name,
                "compartmentId": buckets[name].compartment_id,
                "createdBy": buckets[name].created_by,
                "timeCreated": _rfc3339(buckets[name].time_created),
                "etag": buckets[name].etag,
                "freeformTags": {},
                "definedTags": {},
            }
            for name in names
        ]
        return _json_response(200, summaries, [("opc-next-page", nxt)] if nxt else [])

    def _get_bucket(self, req: _Request, ns: str, bucket: str) -> _Response:
        with self._lock:
            b = self._bucket(bucket)
            fields = set(filter(None, req.query.get("fields", "").split(",")))
            payload = self._bucket_json(b, fields)
        etag = b.etag
        if req.header("if-match") not in (None, etag):
            raise _OCIError(412, "IfMatchFailed", "The If-Match header does not match the ETag.")
        if req.header("if-none-match") in ("*", etag):
            return _Response(304, [("ETag", etag)])
        return _json_response(200, payload, [("ETag", etag)])

    def _delete_bucket(self, req: _Request, ns: str, bucket: str) -> _Response:
        with self._lock:
            b = self._bucket(bucket)
            if b.objects or b.uploads:
                raise _OCIError(
                    409,
                    "BucketNotEmpty",
                    f"Bucket named '{bucket}' is not empty. Delete all "
                    "objects and uncommitted multipart uploads first.",
                )
            for par in b.pars.values():
                self._par_tokens.pop(par.token, None)
            del self._buckets[bucket]
        return _Response(204)

    # ---- listing --------------------------------------------------------------------------

    def _list_objects(
        self, bucket: _Bucket, query: dict[str, str], forced_prefix: str = ""
    ) -> dict[str, Any]:
        """Answer ListObjects for ``bucket``; ``forced_prefix`` confines a prefix PAR."""
        prefix = query.get("prefix", "")
        if forced_prefix:
            if prefix.startswith(forced_prefix):
                pass
            elif forced_prefix.startswith(prefix):
                prefix = forced_prefix
            else:
                raise _par_denied()
        delimiter = query.get("delimiter") or None
        if delimiter not in (None, "/"):
            raise _OCIError(400, "InvalidParameter", "Only '/' is supported as a delimiter.")
        start = query.get("start") or ""
        start_after = query.get("startAfter")
        end = query.get("end") or None
        limit = _parse_limit(query)
        fields = set(filter(None, query.get("fields", "name").split(","))) | {"name"}
        unknown = fields - _LIST_FIELDS
        if unknown:
            raise _OCIError(400, "InvalidParameter", f"Unknown fields: {sorted(unknown)}")

        with self._lock:
            names = bucket.names
            i = bisect.bisect_left(names, max(prefix, start))
            if start_after is not None:
                i = max(i, bisect.bisect_right(names, start_after))
            objects: list[dict[str, Any]] = []
            prefixes: list[str] = []
            next_start: str | None = None
            while i < len(names):
                name = names[i]
                if not name.startswith(prefix) or (end is not None and name >= end):
                    break
                if len(objects) + len(prefixes) >= limit:
                    next_start = name
                    break
                cut = name.find("/", len(prefix)) if delimiter else -1
                if cut >= 0:
                    common = name[: cut + 1]
                    prefixes.append(common)
                    # Everything under this common prefix is covered by it; skip past it all.
                    i = bisect.bisect_left(names, _prefix_upper_bound(common), i)
                    continue
                objects.append(self._summary(bucket.objects[name], fields))
                i += 1
        result: dict[str, Any] = {"objects": objects, "prefixes": prefixes}
        if next_start is not None:
            result["nextStartWith"] = next_start
        return result

    @staticmethod
    def _summary(obj: _Object, fields: set[str]) -> dict[str, Any]:
        full = {
            "name": obj.name,
            "size": len(obj.data),
            "etag": obj.etag,
            "md5": obj.md5,
            "timeCreated": _rfc3339(obj.time_created),
            "timeModified": _rfc3339(obj.time_modified),
            "storageTier": obj.storage_tier,
        }
        return {k: v for k, v in full.items() if k in fields}

    def _list_objects_api(self, req: _Request, ns: str, bucket: str) -> _Response:
        with self._lock:
            b = self._bucket(bucket)
        return _json_response(200, self._list_objects(b, req.query))

    # ---- objects --------------------------------------------------------------------------

    @staticmethod
    def _check_name(name: str) -> None:
        if not name or len(name.encode("utf-8")) > _MAX_OBJECT_NAME_BYTES:
            raise _OCIError(400, "InvalidParameter", "Object names must be 1 to 1024 bytes.")

    def _object(self, bucket: _Bucket, name: str) -> _Object:
        obj = bucket.objects.get(name)
        if obj is None:
            raise _OCIError(
                404,
                "ObjectNotFound",
                f"The object '{name}' was not found in the bucket '{bucket.name}'",
            )
        return obj

    def _object_headers(self, obj: _Object) -> list[tuple[str, str]]:
        headers = [
            ("Content-Type", obj.content_type),
            ("ETag", obj.etag),
            ("last-modified", _http_date(obj.time_modified)),
            ("accept-ranges", "bytes"),
            ("version-id", obj.version_id),
            ("storage-tier", obj.storage_tier),
            ("time-created", _http_date(obj.time_created)),
        ]
        headers += [(k, v) for k, v in obj.headers.items()]
        headers += [(f"opc-meta-{k}", v) for k, v in obj.metadata.items()]
        return headers

    def _get_object(self, req: _Request, ns: str, bucket: str, key: str) -> _Response:
        with self._lock:
            obj = self._object(self._bucket(bucket), key)
        return self._serve_object(req, obj)

    def _serve_object(self, req: _Request, obj: _Object) -> _Response:
        """Answer GET/HEAD for ``obj`` with conditionals and a single byte range."""
        if_match = req.header("if-match")
        if if_match is not None and if_match not in ("*", obj.etag):
            raise _OCIError(412, "IfMatchFailed", "The If-Match header does not match the ETag.")
        if req.header("if-none-match") in ("*", obj.etag):
            return _Response(304, [("ETag", obj.etag)])
        headers = self._object_headers(obj)
        for param, header in _RESPONSE_OVERRIDES.items():
            if param in req.query:
                headers = [(k, v) for k, v in headers if k.lower() != header.lower()]
                headers.append((header, req.query[param]))
        size = len(obj.data)
        view = memoryview(obj.data)  # slices share the stored buffer: no per-request copy
        range_header = req.header("Range")
        span = _parse_range(range_header, size) if range_header else None
        if span is None:
            # Full-object checksums only make sense when the whole object is sent.
            headers.append(
                ("opc-multipart-md5", obj.md5) if obj.multipart else ("Content-MD5", obj.md5)
            )
            body: memoryview = view
            status = 200
        else:
            first, last = span
            headers.append(("Content-Range", f"bytes {first}-{last}/{size}"))
            body = view[first : last + 1]
            status = 206
        if req.method == "HEAD":
            return _Response(status, headers, b"", head_length=len(body))
        return _Response(status, headers, body)

    @staticmethod
    def _check_md5(req: _Request, data: bytearray) -> str:
        actual = _b64md5(data)
        expected = req.header("Content-MD5")
        if expected is not None and expected.strip() != actual:
            raise _OCIError(
                400,
                "UnmatchedContentMD5",
                f"The computed MD5 of the request body ({actual}) "
                f"does not match the Content-MD5 header ({expected})",
            )
        return actual

    @staticmethod
    def _check_put_conditions(req: _Request, existing: _Object | None) -> None:
        if_match = req.header("if-match")
        if if_match is not None and (existing is None or if_match not in ("*", existing.etag)):
            raise _OCIError(412, "IfMatchFailed", "The If-Match header does not match the ETag.")
        if_none_match = req.header("if-none-match")
        if if_none_match is not None:
            if if_none_match != "*":
                raise _OCIError(400, "InvalidParameter", "If-None-Match only supports '*'.")
            if existing is not None:
                raise _OCIError(
                    409, "IfNoneMatchFailed", "The object already exists and If-None-Match is '*'."
                )

    def _store_put(self, req: _Request, bucket: _Bucket, key: str) -> _Response:
        """Store a PutObject body under ``key`` (shared by signed and PAR uploads)."""
        self._check_name(key)
        md5 = self._check_md5(req, req.body)
        metadata = {
            name[len("opc-meta-") :]: str(value)
            for name, value in req.headers.items()
            if name.lower().startswith("opc-meta-")
        }
        stored = {h: str(req.headers[h]) for h in _STORED_HEADERS if req.headers.get(h)}
        now = _utcnow()
        with self._lock:
            existing = bucket.objects.get(key)
            self._check_put_conditions(req, existing)
            obj = _Object(
                name=key,
                data=req.body,
                etag=str(uuid.uuid4()),
                md5=md5,
                multipart=False,
                content_type=req.header("Content-Type") or "application/octet-stream",
                headers=stored,
                metadata=metadata,
                storage_tier=req.header("storage-tier") or "Standard",
                time_created=now,
                time_modified=now,
            )
            bucket.put(obj)
        return _Response(
            200,
            [
                ("ETag", obj.etag),
                ("opc-content-md5", md5),
                ("last-modified", _http_date(now)),
                ("version-id", obj.version_id),
            ],
        )

    def _put_object(self, req: _Request, ns: str, bucket: str, key: str) -> _Response:
        with self._lock:
            b = self._bucket(bucket)
        return self._store_put(req, b, key)

    def _delete_object(self, req: _Request, ns: str, bucket: str, key: str) -> _Response:
        with self._lock:
            b = self._bucket(bucket)
            obj = self._object(b, key)
            if_match = req.header("if-match")
            if if_match is not None and if_match not in ("*", obj.etag):
                raise _OCIError(412, "IfMatchFailed", "The If-Match header does not match.")
            b.remove(key)
        return _Response(204, [("last-modified", _http_date(_utcnow()))])

    # ---- multipart ------------------------------------------------------------------------

    def _upload(self, bucket: _Bucket, upload_id: str | None, key: str) -> _Upload:
        upload = bucket.uploads.get(upload_id or "")
        if upload is None or upload.object_name != key:
            raise _OCIError(
                404, "NoSuchUpload", f"The upload '{upload_id}' for object '{key}' does not exist."
            )
        return upload

    @staticmethod
    def _upload_json(ns: str, bucket: str, upload: _Upload) -> dict[str, Any]:
        return {
            "namespace": ns,
            "bucket": bucket,
            "object": upload.object_name,
            "uploadId": upload.upload_id,
            "timeCreated": _rfc3339(upload.time_created),
            "storageTier": upload.storage_tier,
        }

    def _create_upload(self, req: _Request, ns: str, bucket: str) -> _Response:
        details = req.json()
        name = details.get("object")
        if not isinstance(name, str):
            raise _OCIError(400, "MissingParameter", "object is required.")
        self._check_name(name)
        headers = {
            header: details[key]
            for key, header in (
                ("contentLanguage", "Content-Language"),
                ("contentEncoding", "Content-Encoding"),
                ("contentDisposition", "Content-Disposition"),
                ("cacheControl", "Cache-Control"),
            )
            if details.get(key)
        }
        metadata = {
            (k[len("opc-meta-") :] if k.lower().startswith("opc-meta-") else k): str(v)
            for k, v in (details.get("metadata") or {}).items()
        }
        with self._lock:
            b = self._bucket(bucket)
            self._check_put_conditions(req, b.objects.get(name))
            upload = _Upload(
                upload_id=str(uuid.uuid4()),
                object_name=name,
                time_created=_utcnow(),
                storage_tier=details.get("storageTier") or "Standard",
                content_type=details.get("contentType"),
                headers=headers,
                metadata=metadata,
            )
            b.uploads[upload.upload_id] = upload
        location = f"{self.endpoint}/n/{ns}/b/{bucket}/u/{quote(name)}?uploadId={upload.upload_id}"
        return _json_response(200, self._upload_json(ns, bucket, upload), [("Location", location)])

    def _upload_part(self, req: _Request, ns: str, bucket: str, key: str) -> _Response:
        try:
            part_num = int(req.query.get("uploadPartNum", ""))
        except ValueError:
            raise _OCIError(400, "InvalidParameter", "uploadPartNum must be an integer.") from None
        if not 1 <= part_num <= _MAX_PART_NUM:
            raise _OCIError(400, "InvalidParameter", "uploadPartNum must be 1 to 10000.")
        md5 = self._check_md5(req, req.body)
        part = _Part(data=req.body, etag=str(uuid.uuid4()), md5=md5)
        with self._lock:
            upload = self._upload(self._bucket(bucket), req.query.get("uploadId"), key)
            upload.parts[part_num] = part
        return _Response(200, [("ETag", part.etag), ("opc-content-md5", md5)])

    def _list_parts(self, req: _Request, ns: str, bucket: str, key: str) -> _Response:
        limit = _parse_limit(req.query)
        with self._lock:
            upload = self._upload(self._bucket(bucket), req.query.get("uploadId"), key)
            parts = sorted(upload.parts.items())
        page = req.query.get("page")
        start = int(page) if page and page.isdigit() else 0
        chosen = [(n, p) for n, p in parts if n >= start][: limit + 1]
        nxt = str(chosen[limit][0]) if len(chosen) > limit else None
        payload = [
            {"partNumber": n, "etag": p.etag, "md5": p.md5, "size": len(p.data)}
            for n, p in chosen[:limit]
        ]
        return _json_response(200, payload, [("opc-next-page", nxt)] if nxt else [])

    def _commit_upload(self, req: _Request, ns: str, bucket: str, key: str) -> _Response:
        details = req.json()
        to_commit = details.get("partsToCommit") or []
        if not to_commit:
            raise _OCIError(400, "InvalidParameter", "partsToCommit must not be empty.")
        with self._lock:
            b = self._bucket(bucket)
            upload = self._upload(b, req.query.get("uploadId"), key)
            chosen: dict[int, _Part] = {}
            for entry in to_commit:
                num = entry.get("partNum")
                part = upload.parts.get(num) if isinstance(num, int) else None
                if part is None:
                    raise _OCIError(400, "InvalidParameter", f"Part {num} was never uploaded.")
                if entry.get("etag") != part.etag:
                    raise _OCIError(
                        400, "InvalidParameter", f"The ETag given for part {num} does not match."
                    )
                chosen[num] = part
            self._check_put_conditions(req, b.objects.get(key))
            ordered = [chosen[n] for n in sorted(chosen)]
            # OCI's multipart checksum: MD5 over the concatenated binary part MD5s, then -count.
            digest = hashlib.md5(b"".join(base64.b64decode(p.md5) for p in ordered)).digest()
            multipart_md5 = f"{base64.b64encode(digest).decode('ascii')}-{len(ordered)}"
            now = _utcnow()
            obj = _Object(
                name=key,
                data=b"".join(p.data for p in ordered),
                etag=str(uuid.uuid4()),
                md5=multipart_md5,
                multipart=True,
                content_type=upload.content_type or "application/octet-stream",
                headers=upload.headers,
                metadata=upload.metadata,
                storage_tier=upload.storage_tier,
                time_created=now,
                time_modified=now,
            )
            b.put(obj)
            del b.uploads[upload.upload_id]
        return _Response(
            200,
            [
                ("ETag", obj.etag),
                ("opc-multipart-md5", multipart_md5),
                ("last-modified", _http_date(now)),
                ("version-id", obj.version_id),
            ],
        )

    def _abort_upload(self, req: _Request, ns: str, bucket: str, key: str) -> _Response:
        with self._lock:
            b = self._bucket(bucket)
            upload = self._upload(b, req.query.get("uploadId"), key)
            del b.uploads[upload.upload_id]
        return _Response(204)

    def _list_uploads(self, req: _Request, ns: str, bucket: str) -> _Response:
        limit = _parse_limit(req.query)
        with self._lock:
            uploads = {
                f"{u.object_name}\0{u.upload_id}": u for u in self._bucket(bucket).uploads.values()
            }
        keys, nxt = _page(sorted(uploads), req.query.get("page"), limit)
        payload = [self._upload_json(ns, bucket, uploads[k]) for k in keys]
        return _json_response(200, payload, [("opc-next-page", nxt)] if nxt else [])

    # ---- copy / rename / work requests ----------------------------------------------------

    def _action(self, req: _Request, ns: str, bucket: str, action: str) -> _Response:
        if action == "copyObject":
            return self._copy_object(req, ns, bucket)
        if action == "renameObject":
            return self._rename_object(req, bucket)
        raise _OCIError(404, "NotFound", f"Unsupported action {action!r}.")

    def _copy_object(self, req: _Request, ns: str, bucket: str) -> _Response:
        details = req.json()
        source_name = details.get("sourceObjectName")
        dest_name = details.get("destinationObjectName")
        dest_bucket = details.get("destinationBucket")
        dest_ns = details.get("destinationNamespace")
        if not (source_name and dest_name and dest_bucket and dest_ns):
            raise _OCIError(
                400,
                "MissingParameter",
                "sourceObjectName, destinationRegion, "
                "destinationNamespace, destinationBucket and destinationObjectName are required.",
            )
        if not details.get("destinationRegion"):
            raise _OCIError(400, "MissingParameter", "destinationRegion is required.")
        if dest_ns != self._namespace:
            raise _OCIError(404, "NamespaceNotFound", f"Unknown namespace '{dest_ns}'.")
        self._check_name(dest_name)
        meta_in = details.get("destinationObjectMetadata")
        now = _utcnow()
        with self._lock:
            src_bucket = self._bucket(bucket)
            source = self._object(src_bucket, source_name)
            if details.get("sourceObjectIfMatchETag") not in (None, source.etag):
                raise _OCIError(412, "IfMatchFailed", "sourceObjectIfMatchETag does not match.")
            target_bucket = self._bucket(dest_bucket)
            existing = target_bucket.objects.get(dest_name)
            if details.get("destinationObjectIfMatchETag") not in (
                None,
                existing.etag if existing else object(),
            ):
                raise _OCIError(412, "IfMatchFailed", "destinationObjectIfMatchETag mismatch.")
            if details.get("destinationObjectIfNoneMatchETag") == "*" and existing is not None:
                raise _OCIError(409, "IfNoneMatchFailed", "The destination object exists.")
            metadata = dict(source.metadata)
            content_type = source.content_type
            if isinstance(meta_in, dict):
                metadata = {
                    k[len("opc-meta-") :]: str(v)
                    for k, v in meta_in.items()
                    if k.lower().startswith("opc-meta-")
                }
                content_type = meta_in.get("Content-Type", content_type)
            copy = _Object(
                name=dest_name,
                data=source.data,  # immutable buffer: sharing it is a free copy
                etag=str(uuid.uuid4()),
                md5=source.md5,
                multipart=source.multipart,
                content_type=content_type,
                headers=dict(source.headers),
                metadata=metadata,
                storage_tier=details.get("destinationObjectStorageTier") or source.storage_tier,
                time_created=now,
                time_modified=now,
            )
            target_bucket.put(copy)
            work_id = _fake_ocid("objectstorageworkrequest")
            self._work_requests[work_id] = {
                "operationType": "COPY_OBJECT",
                "status": "COMPLETED",
                "id": work_id,
                "compartmentId": src_bucket.compartment_id,
                "resources": [
                    {
                        "actionType": "WRITTEN",
                        "entityType": "object",
                        "identifier": dest_name,
                        "entityUri": f"/n/{dest_ns}/b/{dest_bucket}/o/{quote(dest_name)}",
                        "metadata": {},
                    }
                ],
                "percentComplete": 100.0,
                "timeAccepted": _rfc3339(now),
                "timeStarted": _rfc3339(now),
                "timeFinished": _rfc3339(now),
            }
        # OCI copies asynchronously and answers 202 with a work request; this one is done.
        return _Response(202, [("opc-work-request-id", work_id)])

    def _get_work_request(self, req: _Request, work_id: str) -> _Response:
        with self._lock:
            work = self._work_requests.get(work_id)
        if work is None:
            raise _OCIError(404, "NotAuthorizedOrNotFound", f"Work request {work_id} not found.")
        return _json_response(200, work)

    def _rename_object(self, req: _Request, bucket: str) -> _Response:
        details = req.json()
        source_name = details.get("sourceName")
        new_name = details.get("newName")
        if not source_name or not new_name:
            raise _OCIError(400, "MissingParameter", "sourceName and newName are required.")
        self._check_name(new_name)
        with self._lock:
            b = self._bucket(bucket)
            source = self._object(b, source_name)
            if details.get("srcObjIfMatchETag") not in (None, source.etag):
                raise _OCIError(412, "IfMatchFailed", "srcObjIfMatchETag does not match.")
            existing = b.objects.get(new_name)
            if details.get("newObjIfMatchETag") not in (
                None,
                existing.etag if existing else object(),
            ):
                raise _OCIError(412, "IfMatchFailed", "newObjIfMatchETag does not match.")
            if details.get("newObjIfNoneMatchETag") == "*" and existing is not None:
                raise _OCIError(409, "IfNoneMatchFailed", "An object named newName exists.")
            now = _utcnow()
            renamed = _Object(
                name=new_name,
                data=source.data,
                etag=source.etag,
                md5=source.md5,
                multipart=source.multipart,
                content_type=source.content_type,
                headers=source.headers,
                metadata=source.metadata,
                storage_tier=source.storage_tier,
                time_created=source.time_created,
                time_modified=now,
            )
            if new_name != source_name:
                b.remove(source_name)
            b.put(renamed)
        return _Response(
            200,
            [
                ("ETag", renamed.etag),
                ("last-modified", _http_date(now)),
                ("version-id", renamed.version_id),
            ],
        )

    # ---- pre-authenticated requests -------------------------------------------------------

    def _par_summary(self, par: _PAR) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": par.id,
            "name": par.name,
            "accessType": par.access_type,
            "bucketListingAction": par.bucket_listing_action,
            "timeExpires": _rfc3339(par.time_expires),
            "timeCreated": _rfc3339(par.time_created),
        }
        if par.object_name is not None:
            out["objectName"] = par.object_name
        return out

    def _create_par(self, req: _Request, ns: str, bucket: str) -> _Response:
        details = req.json()
        name = details.get("name")
        access_type = details.get("accessType")
        object_name = details.get("objectName") or None
        listing = details.get("bucketListingAction") or "Deny"
        if not name:
            raise _OCIError(400, "MissingParameter", "name is required.")
        if access_type not in _OBJECT_ACCESS | _ANY_OBJECT_ACCESS:
            raise _OCIError(400, "InvalidParameter", f"Invalid accessType {access_type!r}.")
        if access_type in _OBJECT_ACCESS and object_name is None:
            raise _OCIError(400, "InvalidParameter", f"{access_type} requires an objectName.")
        if listing not in ("Deny", "ListObjects"):
            raise _OCIError(400, "InvalidParameter", f"Invalid bucketListingAction {listing!r}.")
        if listing == "ListObjects" and access_type not in ("AnyObjectRead", "AnyObjectReadWrite"):
            raise _OCIError(
                400,
                "InvalidParameter",
                "bucketListingAction ListObjects needs AnyObjectRead or AnyObjectReadWrite.",
            )
        try:
            expires = _parse_rfc3339(str(details.get("timeExpires") or ""))
        except ValueError:
            raise _OCIError(400, "InvalidParameter", "timeExpires must be RFC 3339.") from None
        now = _utcnow()
        if expires <= now:
            raise _OCIError(400, "InvalidParameter", "timeExpires must be in the future.")
        par = _PAR(
            id=secrets.token_urlsafe(48),
            token=secrets.token_urlsafe(48),
            name=name,
            bucket=bucket,
            object_name=object_name,
            access_type=access_type,
            bucket_listing_action=listing,
            time_expires=expires,
            time_created=now,
        )
        with self._lock:
            b = self._bucket(bucket)
            b.pars[par.id] = par
            self._par_tokens[par.token] = (bucket, par.id)
        access_uri = f"/p/{par.token}/n/{quote(ns, safe='')}/b/{quote(bucket, safe='')}/o/"
        if access_type in _OBJECT_ACCESS:
            access_uri += quote(object_name or "", safe="/")
        payload = self._par_summary(par) | {
            "accessUri": access_uri,
            "fullPath": f"{self.endpoint}{access_uri}",
        }
        return _json_response(200, payload)

    def _list_pars(self, req: _Request, ns: str, bucket: str) -> _Response:
        limit = _parse_limit(req.query)
        prefix = req.query.get("objectNamePrefix", "")
        with self._lock:
            pars = {
                f"{p.time_created.isoformat()}\0{p.id}": p
                for p in self._bucket(bucket).pars.values()
                if (p.object_name or "").startswith(prefix)
            }
        keys, nxt = _page(sorted(pars), req.query.get("page"), limit)
        payload = [self._par_summary(pars[k]) for k in keys]
        return _json_response(200, payload, [("opc-next-page", nxt)] if nxt else [])

    def _par(self, bucket: str, par_id: str) -> _PAR:
        par = self._bucket(bucket).pars.get(par_id)
        if par is None:
            raise _OCIError(404, "NotFound", f"Pre-authenticated request {par_id} not found.")
        return par

    def _get_par(self, req: _Request, ns: str, bucket: str, par: str) -> _Response:
        with self._lock:
            found = self._par(bucket, par)
        return _json_response(200, self._par_summary(found))

    def _delete_par(self, req: _Request, ns: str, bucket: str, par: str) -> _Response:
        with self._lock:
            found = self._par(bucket, par)
            del self._buckets[bucket].pars[found.id]
            self._par_tokens.pop(found.token, None)
        return _Response(204)

    def _serve_par(self, req: _Request, match: re.Match[str]) -> _Response:
        """Serve ``/p/{token}/n/{ns}/b/{bucket}/o/...`` without a signature, within the PAR."""
        token = match.group("token")
        ns = unquote(match.group("ns"))
        bucket_name = unquote(match.group("bucket"))
        raw_key = match.group("key")
        key = unquote(raw_key) if raw_key else ""
        with self._lock:
            ref = self._par_tokens.get(token)
            bucket = self._buckets.get(ref[0]) if ref else None
            par = bucket.pars.get(ref[1]) if (bucket and ref) else None
        if par is None or bucket is None or ns != self._namespace or bucket_name != par.bucket:
            raise _par_denied()
        if par.time_expires <= _utcnow():
            raise _par_denied()
        if not key:
            # Listing: only bucket/prefix PARs created with bucketListingAction=ListObjects.
            if req.method != "GET" or par.bucket_listing_action != "ListObjects":
                raise _par_denied()
            return _json_response(
                200, self._list_objects(bucket, req.query, forced_prefix=par.object_name or "")
            )
        if par.access_type in _OBJECT_ACCESS:
            in_scope = key == par.object_name
        else:
            in_scope = key.startswith(par.object_name or "")
        if not in_scope:
            raise _par_denied()
        if req.method in ("GET", "HEAD"):
            if par.access_type not in _READ_ACCESS:
                raise _par_denied()
            with self._lock:
                obj = self._object(bucket, key)
            return self._serve_object(req, obj)
        if req.method == "PUT":
            if par.access_type not in _WRITE_ACCESS:
                raise _par_denied()
            return self._store_put(req, bucket, key)
        raise _OCIError(405, "MethodNotAllowed", f"{req.method} is not allowed on a PAR.")


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _iter_buckets(values: Iterable[str]) -> Iterator[str]:
    for value in values:
        yield from (v for v in value.split(",") if v)


def main(argv: list[str] | None = None) -> int:
    """Run the server in the foreground until Ctrl-C, with a fresh test identity on disk."""
    parser = argparse.ArgumentParser(
        prog="python -m unifs.testing.oci_server",
        description="Local OCI Object Storage server for tests (loopback only).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="127.0.0.1 (default) or ::1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--namespace", default="unifs")
    parser.add_argument("--bucket", action="append", default=[], help="bucket(s) to pre-create")
    parser.add_argument(
        "--config-dir",
        default=None,
        help="where to write the OCI config and key (default: a new temporary directory)",
    )
    parser.add_argument("--profile", default="DEFAULT")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)

    ident = OCITestIdentity.generate()
    config_dir = args.config_dir or tempfile.mkdtemp(prefix="unifs-oci-")
    config_path = ident.write_config_file(config_dir, profile=args.profile)
    server = OCIServer(namespace=args.namespace, identities=[ident], host=args.host, port=args.port)
    for name in _iter_buckets(args.bucket):
        server.create_bucket(name)
    server.start()
    print(f"OCI Object Storage endpoint: {server.endpoint}")
    print(f"namespace: {server.namespace}")
    print(f"config file: {config_path} (profile {args.profile})")
    print(
        f"use: OCIFileSystem(config={str(config_path)!r}, profile={args.profile!r}, "
        f"config_kwargs={{'service_endpoint': {server.endpoint!r}}})"
    )
    sys.stdout.flush()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
