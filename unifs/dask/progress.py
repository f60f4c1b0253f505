"""Progress of a transfer spread over a Dask cluster: every task's bytes into one callback.

Each task owns a :class:`Publisher` (an fsspec ``Callback`` the engine updates) that sends
``(shard, bytes done, bytes to do)`` to a :class:`distributed.Queue` a few times a second
from a thread of its own; the client's :class:`Watch` drains the queue while it waits for
the tasks and draws the sum of every shard's latest message. Messages carry totals, not
increments, so a shard that runs again after its worker was lost replaces what it had
reported instead of adding to it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fsspec.callbacks import Callback

if TYPE_CHECKING:
    from distributed import Client, Future

#: seconds between two progress messages of one task, and between two polls of the client
_PUBLISH_EVERY = 0.25


class Publisher(Callback):
    """A shard's byte progress, sent to the client's queue a few times a second."""

    def __init__(self, queue: str, shard: int) -> None:
        super().__init__()
        from distributed import Queue, get_client

        self.shard = shard
        self.extra_done = 0  # bytes of part uploads (the engine owns value and size)
        self.extra_size = 0
        self._queue = Queue(queue, client=get_client())
        self._sent: tuple[int, int | None] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="unifs-progress", daemon=True)
        self._thread.start()

    def set_size(self, size: int) -> None:
        self.size = size

    def relative_update(self, inc: int = 1) -> None:
        self.value += inc

    def absolute_update(self, value: int) -> None:
        self.value = value

    def call(self, *args: Any, **kwargs: Any) -> None:
        return None

    def _loop(self) -> None:
        while not self._stop.wait(_PUBLISH_EVERY):
            self._send()

    def _send(self) -> None:
        size = None if self.size is None and not self.extra_size else (self.size or 0)
        state = (
            int(self.value) + self.extra_done,
            None if size is None else size + self.extra_size,
        )
        if state != self._sent:
            # progress is a courtesy: a slow scheduler never fails the transfer
            with contextlib.suppress(Exception):
                self._queue.put((self.shard, *state), timeout=5)
            self._sent = state

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._send()


class Watch:
    """Feed one progress callback from every task's queue messages until the tasks end."""

    def __init__(self, client: Client, name: str, callback: Any, planned: dict[int, int]) -> None:
        from distributed import Queue

        self.queue = Queue(name, client=client)
        self.callback = callback if isinstance(callback, Callback) else None
        self.planned = planned
        self.latest: dict[int, tuple[int, int | None]] = {}

    def wait(self, futures: Sequence[Future]) -> None:
        from distributed import wait

        if self.callback is not None:
            self.callback.set_size(sum(self.planned.values()))
        while True:
            try:
                wait(futures, timeout=_PUBLISH_EVERY)
            except TimeoutError:
                self._drain()
                continue
            self._drain()
            return

    def _drain(self) -> None:
        messages = self.queue.get(batch=True)
        for shard, done, size in messages:
            self.latest[shard] = (done, size)
        if self.callback is None or not messages:
            return
        total = sum(
            size if (size := self.latest.get(shard, (0, None))[1]) is not None else planned
            for shard, planned in self.planned.items()
        )
        if total != self.callback.size:
            self.callback.set_size(total)
        self.callback.absolute_update(sum(done for done, _ in self.latest.values()))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.queue.close()
