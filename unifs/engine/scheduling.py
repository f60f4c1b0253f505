"""Requests in flight, bytes in memory, and running transfers on fsspec's loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from unifs.engine.limits import START_CONCURRENCY, MiB
from unifs.engine.retries import classify

if TYPE_CHECKING:
    from fsspec.callbacks import Callback

    from unifs.engine.backend import Backend
    from unifs.engine.config import TransferConfig
    from unifs.engine.report import TransferReport

_T = TypeVar("_T")
logger = logging.getLogger(__name__)


class Budget:
    """Bytes that requests in flight may hold in memory at once; waiters queue in order."""

    def __init__(self, limit: int) -> None:
        self.limit = max(limit, 1)
        self.used = 0
        self.peak = 0
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def hold(self, nbytes: int) -> AsyncIterator[None]:
        # a request larger than the whole budget runs alone rather than never
        nbytes = min(max(nbytes, 1), self.limit)
        async with self._changed:
            await self._changed.wait_for(lambda: self.used + nbytes <= self.limit)
            self.used += nbytes
            self.peak = max(self.peak, self.used)
        try:
            yield
        finally:
            async with self._changed:
                self.used -= nbytes
                self._changed.notify_all()


class Gate:
    """How many requests may be in flight now: ramped up towards ``ceiling`` while it pays.

    More parallel requests only help while something per request is the limit (latency,
    a per-connection throughput cap); past that they cost CPU -- on a fast link or on
    loopback a few streams beat many, as every extra stream means smaller, costlier
    socket reads in Python. ``tune`` starts low, doubles the limit while throughput grows
    by at least ``_GAIN`` (quadruples it when it nearly doubles), steps back when it did
    not, and probes again later.
    """

    _GAIN = 1.1  # near a link's cap the last doubling gains little, and it is still worth it
    _LEAP = 1.6  # a probe that gained this much scaled almost linearly: take a bigger step
    _WINDOW = 0.08  # seconds per measurement, at least
    _HOLD = 6  # windows to wait after a probe that did not pay; doubled after each such probe
    _MAX_HOLD = 96

    def __init__(self, start: int, ceiling: int, *, adaptive: bool = True) -> None:
        self.ceiling = max(1, ceiling)
        self.limit = min(max(1, start), self.ceiling) if adaptive else self.ceiling
        self.adaptive = adaptive
        self.active = 0
        self.waiting = 0
        self.peak = self.limit
        self.rate = 0.0  # the last throughput measured, bytes per second
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._changed:
            self.waiting += 1
            try:
                await self._changed.wait_for(lambda: self.active < self.limit)
            finally:
                self.waiting -= 1
            self.active += 1
        try:
            yield
        finally:
            async with self._changed:
                self.active -= 1
                self._changed.notify_all()

    async def _set(self, limit: int) -> None:
        async with self._changed:
            self.limit = max(1, min(limit, self.ceiling))
            self.peak = max(self.peak, self.limit)
            self._changed.notify_all()

    async def _rate(self, progress: Callable[[], int], seconds: float) -> float:
        before, started = progress(), time.monotonic()
        await asyncio.sleep(seconds)
        self.rate = (progress() - before) / max(time.monotonic() - started, 1e-6)
        return self.rate

    async def tune(
        self, progress: Callable[[], int], latency: Callable[[], float], *, streamed: bool
    ) -> None:
        """Adjust ``limit`` from the throughput ``progress()`` (bytes so far) shows.

        ``latency()`` is the time new streamed requests take to their first byte: a probe
        judged sooner would see its requests' cost and none of their bytes. (Where reads are
        not streamed it stays 0: a whole range arrives at once, and the windows stay short
        so that the ramp is not slowed by the time a range takes.)
        """
        if not self.adaptive:
            return

        def settle() -> float:
            # requests sent now deliver after their first-byte latency
            return latency() + self._WINDOW

        def window() -> float:
            return max(self._WINDOW, latency())

        if streamed:
            while not latency():  # nothing has arrived yet: there is nothing to measure
                await asyncio.sleep(self._WINDOW / 4)
        await asyncio.sleep(settle())  # requests sent with the first have delivered too
        base_rate = await self._rate(progress, window())
        step = 2
        hold = self._HOLD
        while True:
            if self.limit >= self.ceiling or self.waiting == 0:
                # nothing to gain now: either at the ceiling or not enough work queued
                await asyncio.sleep(window())
                base_rate = await self._rate(progress, window())
                continue
            base = self.limit
            await self._set(base * step)
            await asyncio.sleep(settle())  # let the new requests get going
            probe_rate = await self._rate(progress, window())
            logger.debug(
                "gate %d -> %d: %.1f -> %.1f MiB/s",
                base,
                self.limit,
                base_rate / MiB,
                probe_rate / MiB,
            )
            if probe_rate >= base_rate * self._GAIN:
                step = 4 if probe_rate >= base_rate * self._LEAP else 2
                hold = self._HOLD
                base_rate = probe_rate
                continue
            # A probe is not free (new requests, and ranges split to feed them): the longer
            # probing keeps failing, the less often it is tried.
            step = 2
            await self._set(base)
            await asyncio.sleep(settle() * hold)
            hold = min(2 * hold, self._MAX_HOLD)
            base_rate = await self._rate(progress, window())


class Engine:
    """Shared by every file of one transfer: the limits, the pools, the retry loop, the report."""

    def __init__(
        self,
        backend: Backend,
        report: TransferReport,
        config: TransferConfig,
        *,
        callback: Callback | None = None,
        adaptive: bool = True,
    ) -> None:
        concurrency = config.concurrency
        self.backend = backend
        self.report = report
        self.config = config
        self.concurrency = concurrency
        self.budget = Budget(config.max_buffer)
        #: requests in flight; downloads take one per worker, a multipart upload several
        self.slots = Budget(concurrency)
        #: how many of those ``concurrency`` requests may fly now (ramped up as it pays)
        self.gate = Gate(START_CONCURRENCY, concurrency, adaptive=adaptive)
        self.policy = config.retries
        #: byte progress (the fsspec ``Callback`` part of ``config.callback``), or None
        self.callback = callback
        # Disk writes and hashing leave the event loop free to receive; hashing gets its own
        # threads so a long MD5 never delays a write that a download is waiting on.
        self.disk = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="unifs-disk")
        self.hashing = concurrent.futures.ThreadPoolExecutor(
            max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="unifs-hash"
        )
        self.tasks: set[asyncio.Task[None]] = set()
        self._made: set[str] = set()
        self.bulk_bytes = 0  # bytes written by ranged (gated) requests: what the gate tunes on
        self.latency = 0.0  # recent time from a ranged request to its first byte (EWMA)

    def first_byte(self, seconds: float) -> None:
        """Note how long a ranged request took to deliver its first byte."""
        self.latency = seconds if not self.latency else 0.7 * self.latency + 0.3 * seconds

    def makedirs(self, directory: str) -> None:
        """``os.makedirs`` once per directory (thousands of files share a few)."""
        if directory not in self._made:
            os.makedirs(directory, exist_ok=True)
            self._made.add(directory)

    def close(self) -> None:
        self.disk.shutdown(wait=True)
        self.hashing.shutdown(wait=True)
        self.backend.close()

    async def on_disk(self, fn: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self.disk, lambda: fn(*args))

    async def on_hash(self, fn: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self.hashing, lambda: fn(*args))

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drain(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def retrying(self, what: Callable[[int], Coroutine[Any, Any, _T]]) -> _T:
        """Run ``what(attempt)`` until it succeeds, a permanent error, or the attempts run out."""
        attempt = 0
        while True:
            try:
                return await what(attempt)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                transient, retry_after = classify(exc)
                if not transient or attempt + 1 >= self.policy.attempts:
                    raise
                self.report.retries += 1
                await asyncio.sleep(self.policy.delay(attempt, retry_after))
                attempt += 1


def _loop_for(storage_loop: asyncio.AbstractEventLoop | None = None) -> asyncio.AbstractEventLoop:
    from fsspec.asyn import get_loop

    return storage_loop or get_loop()


def run_sync(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` on fsspec's IO loop (where async backends keep their sessions) and wait.

    Ctrl-C cancels the transfer and waits for it to put its files in order before raising.
    """
    loop = _loop_for()
    with contextlib.suppress(RuntimeError):
        if asyncio.get_running_loop() is loop:
            raise RuntimeError(
                "unifs.get/put called from fsspec's own event loop; use `await unifs.aget(...)`"
            )
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        while True:
            try:
                return future.result(timeout=1.0)
            except concurrent.futures.TimeoutError:
                continue
    except BaseException:
        if not future.done():
            future.cancel()
            with contextlib.suppress(BaseException):
                future.result(timeout=60)
        raise


async def run_async(coro: Coroutine[Any, Any, _T]) -> _T:
    """Await ``coro`` on fsspec's IO loop from any other running loop."""
    loop = _loop_for()
    if asyncio.get_running_loop() is loop:
        return await coro
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        return await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        future.cancel()
        raise
