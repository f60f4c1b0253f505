"""Put a bad network between a client and a local server: injected faults, a cloud-like link.

:class:`FaultProxy` is a small HTTP/1.1 proxy on 127.0.0.1 that forwards to one local
storage server and can

- fail chosen requests, or a fraction of them: a status (503 with ``Retry-After``, 500,
  429, 403, ...), a connection reset in the middle of the body, or a body truncated with a
  clean close (:class:`Fault`);
- behave like a link to a cloud region (:class:`Link`): added round-trip time per request
  and per new connection, a throughput cap per connection and an optional one for all
  connections together -- what object stores do, and what the kernel here (no netem)
  cannot emulate.

Every request it sees is logged (:attr:`FaultProxy.log`), so a test can tell which ranges
a resumed download asked for -- however the exchange ended: a client that closes or
resets the connection mid-body, an upstream that drops it, or :meth:`FaultProxy.stop`
cancelling it are logged too, with the bytes actually relayed (:attr:`Seen.body_bytes` to
the client, :attr:`Seen.upstream_bytes` read from the server) and :attr:`Seen.ended`.
Point a client at it with :func:`route_through`::

    from unifs.testing.faults import Fault, FaultProxy, route_through

    with FaultProxy(server.endpoint, faults=[Fault("reset", method="GET", times=2)]) as proxy:
        options = route_through(server.storage_options, server.endpoint, proxy.endpoint)
        unifs.get(uri, dest, **options)

``python -m unifs.testing.faults --upstream http://127.0.0.1:PORT --rtt-ms 20
--conn-mibps 16 --total-mibps 256`` runs one in the foreground (the benchmark does) and
prints its endpoint on the first line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import dataclasses
import random
import re
import socket
import struct
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

__all__ = ["Fault", "FaultProxy", "Link", "Seen", "route_through"]

_HOST = "127.0.0.1"
_PIECE = 64 * 1024  # bytes relayed per step when a link is paced
_BULK = 1024 * 1024  # bytes relayed per step otherwise
_FAULT_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code>'
    b"<Message>injected by unifs.testing.faults</Message></Error>"
)
_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class Fault:
    """Fail requests that match: ``kind`` is "status", "reset" or "truncate".

    A request matches when its method matches ``method`` (a regular expression such as
    ``"GET"`` or ``"PUT|POST"``), ``path`` (a regular expression) is found in its target,
    and -- with ``ranged`` -- it asks for a byte range (``Range``, or Azure's ``x-ms-range``).
    Of the matching requests, the first ``skip`` pass untouched, then each is hit with
    probability ``rate`` until ``times`` have been hit (None: no limit).

    "status" answers ``status`` (with ``Retry-After: retry_after`` when given) without
    asking the server. "reset" and "truncate" forward the request, then pass on the response
    headers and ``cut`` (a fraction) of the body before a TCP reset or a clean close.
    "call" runs ``action()`` in a worker thread, then forwards the request untouched: a
    test can change the server between two requests of one transfer (replace an object).
    "corrupt" forwards the request and passes on the whole response with the byte at ``cut``
    (a fraction of the body) flipped: bad data that no transport check notices.
    """

    kind: str = "status"
    status: int = 503
    retry_after: float | None = None
    method: str | None = None
    path: str | None = None
    ranged: bool = False
    skip: int = 0
    times: int | None = 1
    rate: float = 1.0
    cut: float = 0.5
    action: Callable[[], object] | None = None
    hits: int = 0
    seen: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("status", "reset", "truncate", "call", "corrupt"):
            raise ValueError(
                f"Fault kind must be status, reset, truncate, call or corrupt, not {self.kind!r}"
            )
        if (self.kind == "call") != (self.action is not None):
            raise ValueError('a Fault takes an action exactly when its kind is "call"')

    def _matches(self, method: str, target: str, headers: Mapping[str, str]) -> bool:
        if self.method is not None and not re.fullmatch(self.method, method, re.IGNORECASE):
            return False
        if self.path is not None and not re.search(self.path, target):
            return False
        return not (self.ranged and _range(headers) is None)

    def _fires(self, rng: random.Random) -> bool:
        self.seen += 1
        if self.seen <= self.skip or (self.times is not None and self.hits >= self.times):
            return False
        if self.rate < 1.0 and rng.random() >= self.rate:
            return False
        self.hits += 1
        return True


@dataclass(frozen=True)
class Link:
    """A link to a cloud region: ``rtt`` seconds per request (and per new connection),
    ``per_connection`` and ``total`` throughput caps in bytes per second (None: uncapped)."""

    rtt: float = 0.0
    per_connection: float | None = None
    total: float | None = None


@dataclass(frozen=True)
class Seen:
    """One request as the proxy saw it, and what it did to it.

    ``status`` is 0 when the exchange ended before a response head came back.
    ``body_bytes`` is the response body passed on to the client; ``upstream_bytes`` what
    was read from the server for this exchange (response head and body). ``ended`` says how
    the exchange ended: "complete", "fault" (a reset or truncate fault cut it), "client
    closed", "client reset", "upstream closed", "upstream reset", "cancelled" (the proxy
    stopped), or "error: <exception type>".
    """

    method: str
    target: str
    range: str | None
    status: int
    fault: str | None
    body_bytes: int
    ended: str = "complete"
    upstream_bytes: int = 0


@dataclass
class _Tally:
    """What one exchange has moved so far, for the log however the exchange ends."""

    method: str
    target: str
    range: str | None
    fault: str | None = None
    status: int = 0
    client_bytes: int = 0  # written to the client: interim lines, head and body
    body_from: int | None = None  # client_bytes once the response head was written
    upstream_bytes: int = 0
    side: str | None = None  # which side raised: "client" or "upstream"
    recorded: bool = False

    @property
    def body_bytes(self) -> int:
        return 0 if self.body_from is None else self.client_bytes - self.body_from


_TALLY: contextvars.ContextVar[_Tally | None] = contextvars.ContextVar("_TALLY", default=None)


def _tally() -> _Tally | None:
    return _TALLY.get()


class _Counted:
    """One side's stream (reader or writer), counting for the exchange under way."""

    side = ""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _failed(self) -> None:
        tally = _tally()
        if tally is not None and tally.side is None:
            tally.side = self.side


class _CountedWriter(_Counted):
    """The client's StreamWriter: what is written to it, and whether writing failed."""

    side = "client"

    def write(self, data: bytes) -> None:
        tally = _tally()
        if tally is not None:
            tally.client_bytes += len(data)
        self._inner.write(data)

    async def drain(self) -> None:
        try:
            await self._inner.drain()
        except (ConnectionError, OSError):
            self._failed()
            raise


class _CountedReader(_Counted):
    """The upstream's StreamReader: what is read from it, and whether reading failed."""

    side = "upstream"

    def _add(self, nbytes: int) -> None:
        tally = _tally()
        if tally is not None:
            tally.upstream_bytes += nbytes

    async def read(self, n: int = -1) -> bytes:
        try:
            data = await self._inner.read(n)
        except (ConnectionError, OSError):
            self._failed()
            raise
        if not data and n:
            self._failed()  # the end of the stream: an error only if more was due
        self._add(len(data))
        return data

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        return await self._counted(self._inner.readuntil(separator))

    async def readexactly(self, n: int) -> bytes:
        return await self._counted(self._inner.readexactly(n))

    async def _counted(self, reading: Awaitable[bytes]) -> bytes:
        try:
            data = await reading
        except asyncio.IncompleteReadError as exc:
            self._add(len(exc.partial))
            self._failed()
            raise
        except (ConnectionError, OSError):
            self._failed()
            raise
        self._add(len(data))
        return data


def _ending(exc: BaseException, side: str | None) -> str:
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    if isinstance(exc, (ConnectionError, OSError, asyncio.IncompleteReadError)):
        how = "reset" if isinstance(exc, ConnectionResetError) else "closed"
        return f"{side or 'client'} {how}"
    return f"error: {type(exc).__name__}"


class _Pacer:
    """A virtual-clock token bucket: ``take(n)`` returns once ``n`` bytes fit under the rate."""

    def __init__(self, rate: float | None, burst: float = 0.01) -> None:
        self.rate = rate
        self.burst = burst  # seconds of credit a sender may run ahead
        self._next = 0.0

    async def take(self, nbytes: int) -> None:
        if not self.rate:
            return
        now = time.monotonic()
        self._next = max(self._next, now - self.burst) + nbytes / self.rate
        delay = self._next - now - self.burst
        if delay > 0:
            await asyncio.sleep(delay)


@dataclass
class _Head:
    start_line: str
    headers: list[tuple[str, str]]

    @property
    def lower(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers}

    def encode(self) -> bytes:
        lines = [self.start_line, *(f"{k}: {v}" for k, v in self.headers), "", ""]
        return "\r\n".join(lines).encode("latin-1")


def _range(headers: Mapping[str, str]) -> str | None:
    """The requested byte range; Azure spells the header ``x-ms-range``."""
    return headers.get("range") or headers.get("x-ms-range")


async def _read_head(reader: asyncio.StreamReader) -> _Head | None:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = raw.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    return _Head(lines[0], headers)


@dataclass
class _Connection:
    """What one client connection keeps between its requests."""

    pacer: _Pacer
    upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None


class FaultProxy:
    """Forward 127.0.0.1:``port`` to ``upstream``, failing and pacing requests as told.

    Runs its own event loop in a daemon thread: ``start()`` (or ``with``), ``stop()``.
    ``rewrite_host`` sends the upstream's address as ``Host`` (fake-gcs-server routes by it;
    leave it off for signed requests, whose signature covers ``Host``). ``rewrite_links``
    replaces the upstream's address in JSON response bodies with the proxy's (fake-gcs-server
    names itself in each object's ``mediaLink``, which some clients download from).
    Faults can be changed while it runs (``faults`` is a plain list; ``clear()`` resets the
    list and the log).
    """

    def __init__(
        self,
        upstream: str,
        *,
        faults: list[Fault] | None = None,
        link: Link | None = None,
        seed: int = 0,
        port: int = 0,
        rewrite_host: bool = False,
        rewrite_links: bool = False,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"upstream must look like http://127.0.0.1:PORT, not {upstream!r}")
        self.upstream = (parts.hostname, parts.port)
        # fake-gcs-server routes by Host; signed requests (S3 SigV4, OCI) need it untouched
        self.rewrite_host = rewrite_host
        self.rewrite_links = rewrite_links
        self.faults: list[Fault] = list(faults or [])
        self.link = link or Link()
        self.log: list[Seen] = []
        self._busy = 0  # requests read but not yet logged
        # asyncio holds tasks weakly, and a connection's protocol drops its task once the
        # connection is lost: a task still awaiting then would be collected, unlogged
        self._tasks: set[asyncio.Task[Any]] = set()
        self._rng = random.Random(seed)
        self._total = _Pacer(self.link.total)
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self.endpoint = ""

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        """Start serving in a background thread; return self once it listens."""
        self._thread = threading.Thread(
            target=self._serve_forever, name="unifs-faults", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fault proxy did not start")
        return self

    def _serve_forever(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._listen())
            self._ready.set()
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._client, _HOST, self._port, limit=2**20, reuse_address=True
        )
        port = self._server.sockets[0].getsockname()[1]
        self.endpoint = f"http://{_HOST}:{port}"

    def stop(self) -> None:
        """Stop listening and drop every connection."""
        loop, self._loop = self._loop, None
        if loop is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def clear(self) -> None:
        """Forget every fault and the log (after logging requests already answered)."""
        self.requests()
        with self._lock:
            self.faults.clear()
            self.log.clear()

    def requests(self, method: str | None = None, *, timeout: float = 10.0) -> list[Seen]:
        """The log, optionally only requests with ``method``, once no request is half-done.

        A client may have read a whole response a moment before the proxy logs it: this
        waits (up to ``timeout`` seconds) until every request it has read is logged.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if self._busy == 0 or time.monotonic() > deadline:
                    return [s for s in self.log if method is None or s.method == method]
            time.sleep(0.001)

    # -- one client connection ------------------------------------------------------------

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        connection = _Connection(pacer=_Pacer(self.link.per_connection))
        try:
            if self.link.rtt:
                await asyncio.sleep(self.link.rtt)  # the TCP handshake of a new connection
            while True:
                head = await _read_head(reader)
                if head is None:
                    return
                with self._lock:
                    self._busy += 1
                try:
                    keep = await self._logged(head, reader, writer, connection)
                finally:
                    with self._lock:
                        self._busy -= 1
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            return
        except asyncio.CancelledError:
            # stop() cancels connections; ending quietly keeps asyncio from logging it
            return
        finally:
            upstream = connection.upstream
            for w in (writer, upstream[1] if upstream else None):
                if w is not None:
                    with contextlib.suppress(Exception):
                        w.close()

    async def _logged(self, head: _Head, reader: Any, writer: Any, conn: _Connection) -> bool:
        """:meth:`_exchange`, logged however it ends, with the bytes it moved."""
        method, target = [*head.start_line.split(" "), "", ""][:2]
        tally = _Tally(method, target, _range(head.lower))
        token = _TALLY.set(tally)
        try:
            counted = cast(asyncio.StreamWriter, _CountedWriter(writer))
            return await self._exchange(head, reader, counted, conn)
        except BaseException as exc:
            if not tally.recorded:
                seen = Seen(
                    method,
                    target,
                    tally.range,
                    tally.status,
                    tally.fault,
                    tally.body_bytes,
                    _ending(exc, tally.side),
                    tally.upstream_bytes,
                )
                self._record(seen)
            raise
        finally:
            _TALLY.reset(token)

    async def _exchange(
        self,
        head: _Head,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        connection: _Connection,
    ) -> bool:
        """Serve one request; True to keep the client connection for the next one."""
        method, target = [*head.start_line.split(" "), "", ""][:2]
        headers = head.lower
        fault = self._pick(method, target, headers)
        tally = _tally()
        if tally is not None and fault is not None:
            tally.fault = fault.kind
        if headers.get("expect", "").lower() == "100-continue":
            # answer for the server so the client sends its body to us first
            head.headers = [(k, v) for k, v in head.headers if k.lower() != "expect"]
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if self.link.rtt:
            await asyncio.sleep(self.link.rtt / 2)
        if fault is not None and fault.kind == "call":
            assert fault.action is not None
            await asyncio.to_thread(fault.action)
            fault = None
        if fault is not None and fault.kind == "status":
            await self._relay_body(reader, None, headers, connection.pacer)
            await self._answer(writer, method, target, headers, fault)
            return True
        if connection.upstream is None:
            up = await asyncio.open_connection(*self.upstream, limit=2**20)
            counted = cast(asyncio.StreamReader, _CountedReader(up[0]))
            connection.upstream = (counted, up[1])
        up_reader, up_writer = connection.upstream
        if self.rewrite_host:
            host = f"{self.upstream[0]}:{self.upstream[1]}"
            head.headers = [(k, host if k.lower() == "host" else v) for k, v in head.headers]
        if self.rewrite_links:  # bodies to rewrite must come uncompressed
            head.headers = [(k, v) for k, v in head.headers if k.lower() != "accept-encoding"]
        up_writer.write(head.encode())
        await self._relay_body(reader, up_writer, headers, connection.pacer)
        await up_writer.drain()
        return await self._relay_response(
            up_reader, writer, method, target, headers, fault, connection.pacer
        )

    def _pick(self, method: str, target: str, headers: Mapping[str, str]) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault._matches(method, target, headers) and fault._fires(self._rng):
                    return fault
        return None

    def _record(self, seen: Seen) -> None:
        tally = _tally()
        if tally is not None:
            tally.recorded = True
            cut = seen.fault in ("reset", "truncate") and seen.ended == "complete"
            seen = dataclasses.replace(
                seen, upstream_bytes=tally.upstream_bytes, ended="fault" if cut else seen.ended
            )
        with self._lock:
            self.log.append(seen)

    async def _answer(
        self,
        writer: asyncio.StreamWriter,
        method: str,
        target: str,
        headers: Mapping[str, str],
        fault: Fault,
    ) -> None:
        reason = _REASONS.get(fault.status, "Injected")
        lines = [
            f"HTTP/1.1 {fault.status} {reason}",
            "Content-Type: application/xml",
            f"Content-Length: {0 if method == 'HEAD' else len(_FAULT_BODY)}",
            "x-unifs-fault: status",
        ]
        if fault.retry_after is not None:
            lines.append(f"Retry-After: {fault.retry_after:g}")
        writer.write(("\r\n".join([*lines, "", ""])).encode())
        if method != "HEAD":
            writer.write(_FAULT_BODY)
        await writer.drain()
        self._record(Seen(method, target, _range(headers), fault.status, "status", 0))

    async def _relay_body(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter | None,
        headers: Mapping[str, str],
        pacer: _Pacer,
        *,
        limit: int | None = None,
    ) -> int:
        """Copy a message body framed by ``headers``; None writer drains it. Returns bytes."""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return await self._relay_chunked(reader, writer, pacer, limit)
        length = int(headers.get("content-length") or 0)
        return await self._relay_exact(reader, writer, length, pacer, limit)

    async def _relay_exact(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter | None,
        length: int,
        pacer: _Pacer,
        limit: int | None,
    ) -> int:
        sent = 0
        step = _PIECE if (self.link.per_connection or self.link.total) else _BULK
        stop = length if limit is None else min(length, limit)
        while sent < stop:
            data = await reader.read(min(step, stop - sent))
            if not data:
                raise asyncio.IncompleteReadError(b"", stop - sent)
            await pacer.take(len(data))
            await self._total.take(len(data))
            if writer is not None:
                writer.write(data)
                await writer.drain()
            sent += len(data)
        return sent

    async def _relay_chunked(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter | None,
        pacer: _Pacer,
        limit: int | None,
    ) -> int:
        sent = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if writer is not None:
                writer.write(size_line)
            if size == 0:
                trailer = await reader.readuntil(b"\r\n")
                while trailer != b"\r\n":
                    if writer is not None:
                        writer.write(trailer)
                    trailer = await reader.readuntil(b"\r\n")
                if writer is not None:
                    writer.write(b"\r\n")
                    await writer.drain()
                return sent
            room = None if limit is None else limit - sent
            sent += await self._relay_exact(reader, writer, size, pacer, room)
            if limit is not None and sent >= limit:
                return sent
            crlf = await reader.readexactly(2)
            if writer is not None:
                writer.write(crlf)

    async def _relay_response(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        method: str,
        target: str,
        request_headers: Mapping[str, str],
        fault: Fault | None,
        pacer: _Pacer,
    ) -> bool:
        """Pass one response on (cut short when ``fault`` says); True to keep the connection."""
        head = await _read_head(reader)
        while head is not None and head.start_line.split(" ")[1:2] in (["100"], ["102"]):
            head = await _read_head(reader)  # interim responses: we already said 100
        if head is None:
            raise ConnectionResetError("upstream closed the connection")
        status = int(head.start_line.split(" ")[1])
        headers = head.lower
        tally = _tally()
        if tally is not None:
            tally.status = status
            tally.body_from = tally.client_bytes + len(head.encode())
        if self.link.rtt:
            await asyncio.sleep(self.link.rtt / 2)
        no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
        framed = "content-length" in headers or "chunked" in headers.get("transfer-encoding", "")
        if (
            self.rewrite_links
            and fault is None
            and not no_body
            and "json" in headers.get("content-type", "")
            and framed
            and not headers.get("content-encoding")
        ):
            return await self._relay_rewritten(reader, writer, head, method, target)
        writer.write(head.encode())
        ranged = _range(request_headers)
        if fault is not None and fault.kind == "corrupt" and not no_body:
            body = bytearray(await reader.readexactly(int(headers.get("content-length") or 0)))
            if body:
                body[min(len(body) - 1, int(len(body) * fault.cut))] ^= 0xFF
            writer.write(bytes(body))
            await writer.drain()
            self._record(Seen(method, target, ranged, status, fault.kind, len(body)))
            return "close" not in headers.get("connection", "").lower()
        if fault is not None and not no_body:
            length = int(headers.get("content-length") or _BULK)
            cut = max(0, min(length - 1, int(length * fault.cut)))
            sent = await self._relay_body(reader, writer, headers, pacer, limit=cut)
            await writer.drain()
            self._record(Seen(method, target, ranged, status, fault.kind, sent))
            if fault.kind == "reset":
                sock = writer.get_extra_info("socket")
                if sock is not None:
                    # SO_LINGER 0: close() sends RST, as a dropped connection does
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.close()
            return False
        if no_body:
            sent = 0
        elif framed:
            sent = await self._relay_body(reader, writer, headers, pacer)
        else:  # a body delimited by the end of the connection
            sent = 0
            while data := await reader.read(_BULK):
                await pacer.take(len(data))
                await self._total.take(len(data))
                writer.write(data)
                sent += len(data)
        await writer.drain()
        self._record(Seen(method, target, ranged, status, None, sent))
        closing = "close" in (
            headers.get("connection", "").lower() + request_headers.get("connection", "").lower()
        )
        return (framed or no_body) and not closing

    async def _relay_rewritten(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        head: _Head,
        method: str,
        target: str,
    ) -> bool:
        """Pass a JSON response on with the upstream's address replaced by the proxy's."""
        headers = head.lower
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        else:  # chunked (Go sends bodies over 4 KiB so)
            pieces = []
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0] or b"0", 16):
                pieces.append(await reader.readexactly(size))
                await reader.readexactly(2)
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailers
            body = b"".join(pieces)
        host, port = self.upstream
        body = body.replace(f"http://{host}:{port}".encode(), self.endpoint.encode())
        framing = ("content-length", "transfer-encoding")
        head.headers = [(k, v) for k, v in head.headers if k.lower() not in framing]
        head.headers.append(("Content-Length", str(len(body))))
        writer.write(head.encode())
        writer.write(body)
        await writer.drain()
        status = int(head.start_line.split(" ")[1])
        self._record(Seen(method, target, None, status, None, len(body)))
        return "close" not in headers.get("connection", "").lower()


def route_through(options: Any, upstream: str, proxy: str) -> Any:
    """Copy storage options with every mention of ``upstream`` (scheme://host:port) replaced.

    Works for any provider's options: an ``endpoint_url``, an Azure connection string's
    ``BlobEndpoint``, OCI's ``config_kwargs["service_endpoint"]``.
    """
    parts = urlsplit(upstream)
    base = f"{parts.scheme}://{parts.netloc}"
    if isinstance(options, str):
        return options.replace(base, proxy.rstrip("/"))
    if isinstance(options, Mapping):
        return {k: route_through(v, upstream, proxy) for k, v in options.items()}
    if isinstance(options, list):
        return [route_through(v, upstream, proxy) for v in options]
    return options


def main(argv: list[str] | None = None) -> int:
    """Run a proxy in the foreground; print its endpoint, then serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--upstream", required=True, help="http://127.0.0.1:PORT")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rtt-ms", type=float, default=0.0, help="added round trip per request")
    parser.add_argument("--conn-mibps", type=float, help="cap per connection, MiB/s")
    parser.add_argument("--total-mibps", type=float, help="cap across connections, MiB/s")
    parser.add_argument("--rewrite-host", action="store_true", help="send the upstream's Host")
    parser.add_argument(
        "--rewrite-links", action="store_true", help="the proxy's address in JSON bodies"
    )
    parser.add_argument(
        "--exit-with-stdin", action="store_true", help="stop when standard input closes"
    )
    args = parser.parse_args(argv)
    link = Link(
        rtt=args.rtt_ms / 1000,
        per_connection=args.conn_mibps * 2**20 if args.conn_mibps else None,
        total=args.total_mibps * 2**20 if args.total_mibps else None,
    )
    proxy = FaultProxy(
        args.upstream,
        link=link,
        port=args.port,
        rewrite_host=args.rewrite_host,
        rewrite_links=args.rewrite_links,
    ).start()
    print(proxy.endpoint, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        if args.exit_with_stdin:
            sys.stdin.read()  # returns when the parent goes away, however it ended
        else:
            threading.Event().wait()
    proxy.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
