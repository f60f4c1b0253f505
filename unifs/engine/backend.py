"""One filesystem as the engine sees it: async or sync, streamed reads or whole ranges."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import inspect
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from unifs.endpoint import Endpoint
    from unifs.providers.base import Provider

_T = TypeVar("_T")


class Backend:
    """One filesystem as the engine sees it: async or sync, streaming reads or whole ranges."""

    def __init__(
        self,
        fs: AbstractFileSystem,
        provider: Provider,
        threads: int,
        endpoint: Endpoint | None = None,
    ) -> None:
        self.fs = fs
        self.provider = provider
        #: the store and path this backend was opened for (see :func:`open_backend`)
        self.endpoint = endpoint
        self.is_async = bool(getattr(fs, "async_impl", False))
        # synchronous backends (ocifs, local, memory) block a thread per request
        self.pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="unifs-io")
        self.streams = False
        #: the caller's filesystem, where the engine writes through one of its own (see
        #: :func:`open_backend`): its cached listings are forgotten when the work is done
        self.callers_fs: AbstractFileSystem | None = None

    async def start(self) -> None:
        """Find out whether the provider streams ranged reads for this filesystem."""
        probe = self.provider.stream_range(self.fs, "", 0, 1)
        if probe is not None:
            self.streams = True
            close = getattr(probe, "aclose", None)
            if close is not None:
                await close()
            else:
                probe.close()

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        if self.callers_fs is not None:
            # what this backend wrote is not in the listings the caller's filesystem cached
            # (s3fs answers info() from them): a read after the transfer must see it
            with contextlib.suppress(AttributeError):
                self.callers_fs.invalidate_cache()

    def put_file_parameters(self) -> frozenset[str]:
        """Names ``put_file`` takes, to tell it part size and parallelism where it can use them."""
        method = getattr(self.fs, "_put_file" if self.is_async else "put_file")
        try:
            return frozenset(inspect.signature(method).parameters)
        except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
            return frozenset()

    async def run(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run a blocking call in this backend's thread pool."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, lambda: fn(*args))

    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call filesystem method ``name`` through its async form when the backend has one."""
        if self.is_async:
            return await getattr(self.fs, f"_{name}")(*args, **kwargs)
        method = getattr(self.fs, name)
        return await self.run(lambda: method(*args, **kwargs))

    async def resolve(self, value: Any) -> Any:
        """The result of a provider hook: awaited, run in a thread (a callable), or as is."""
        if inspect.isawaitable(value):
            return await value
        if callable(value):
            return await self.run(value)
        return value

    async def remove_all(self, paths: list[str]) -> None:
        """Remove ``paths``, 16 requests at a time (ocifs takes one path per ``rm``)."""
        for start in range(0, len(paths), 16):
            batch = paths[start : start + 16]
            await asyncio.gather(*(self.call("rm", path) for path in batch))

    async def read(
        self, path: str, start: int, end: int, pin: str | None = None
    ) -> AsyncGenerator[bytes, None]:
        """Yield bytes ``[start, end)`` of ``path`` in order, streamed where possible.

        With ``pin`` (the provider's ``version_pin``) every request names that version of
        the object, and a replaced one raises ``ObjectChangedError`` instead of other bytes.
        """
        provider = self.provider
        stream = provider.stream_range(self.fs, path, start, end, pin=pin) if self.streams else None
        if stream is None:
            whole = provider.read_range(self.fs, path, start, end, pin=pin) if pin else None
            if whole is None:
                whole = (
                    self.fs._cat_file(path, start=start, end=end)
                    if self.is_async
                    else functools.partial(self.fs.cat_file, path, start, end)
                )
            yield await (self.run(whole) if callable(whole) else whole)
            return
        if hasattr(stream, "__anext__"):
            try:
                async for chunk in stream:
                    yield chunk
            finally:
                await stream.aclose()
            return
        try:
            while (chunk := await self.run(next, stream, None)) is not None:
                yield chunk
        finally:
            await self.run(stream.close)


async def open_backend(end: Endpoint, threads: int) -> Backend:
    """The engine's view of ``end``'s filesystem, ``threads`` wide for blocking calls.

    Nothing is parsed or resolved here: the endpoint was, once. An auth mode whose metadata
    service is not there (off the cloud) fails now, not after minutes of SDK retries.
    """
    end.check_reachable()
    # the engine's RetryPolicy is the one bound on attempts: the SDK tries each call once
    # (a filesystem of its own, shared by every transfer to this store with these options)
    options = end.backend.one_try_options(end.options)
    callers = None
    if options != end.options:
        callers, end = end, end.with_options(options)
    backend = Backend(end.fs, end.provider, threads, end)
    if callers is not None:
        backend.callers_fs = callers.fs
    await backend.start()
    return backend
