"""Long life (issue 25, item 7): copies in one process leave no connections or threads behind.

A model agent or a notebook copies all day in one process. Each ``unifs.copy`` opens the
filesystems and HTTP sessions it needs; when it is done, the process must be back where it
was: the same open file descriptors (sockets are fds) and the same threads.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
import time
import uuid
from typing import Any

import pytest

import unifs

pytestmark = pytest.mark.timeout(300)

BUCKET = "unifs-long-life"
OBJECTS = 20
COPIES = 20
# A few fds and threads may come and go for reasons of their own (an asyncio loop's
# self-pipe, a keep-alive socket the server has not yet closed, a pool thread exiting): the
# tolerance is that, far below what one leaking copy adds (tens of sockets per copy).
SLACK = 4


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _settle() -> tuple[int, int]:
    """Open fds and live threads once short-lived ones have had a moment to end."""
    best = (1 << 30, 1 << 30)
    for _ in range(20):
        gc.collect()
        now = (_fds(), threading.active_count())
        best = (min(best[0], now[0]), min(best[1], now[1]))
        time.sleep(0.05)
    return best


def _root(server: Any, backend: str, prefix: str) -> str:
    with contextlib.suppress(FileExistsError):
        server.make_bucket(BUCKET)
    if backend == "oci":
        return f"oci://n/{server.namespace}/b/{BUCKET}/o/{prefix}/"
    return f"s3://{BUCKET}/{prefix}/"


def test_twenty_copies_in_one_process_return_fds_and_threads_to_baseline(s3_server, oci_server):
    servers = {"s3": s3_server, "oci": oci_server}
    run = uuid.uuid4().hex[:8]
    sources = {}
    for backend, server in servers.items():
        root = _root(server, backend, f"{run}/src")
        fs, path = unifs.url_to_fs(root, **server.storage_options)
        for n in range(OBJECTS):
            fs.pipe_file(f"{path.rstrip('/')}/f{n:02d}.bin", os.urandom(1000 + n))
        sources[backend] = root

    made = iter(range(1 << 20))

    def one_copy(n: int) -> None:
        src_b, dst_b = ("s3", "oci") if n % 2 == 0 else ("oci", "s3")
        dst = _root(servers[dst_b], dst_b, f"{run}/dst-{next(made)}")  # a fresh prefix each
        report = unifs.copy(
            sources[src_b], dst, callback=False,
            dst_options=dict(servers[dst_b].storage_options),
            **servers[src_b].storage_options,
        )  # fmt: skip
        assert len(report.transferred) == OBJECTS, report.failed

    one_copy(0)  # warm-up: imports, the SDKs' one-time threads, cached credentials
    one_copy(1)
    before = _settle()
    for n in range(COPIES):
        one_copy(n)
    after = _settle()
    print(f"fds {before[0]} -> {after[0]}, threads {before[1]} -> {after[1]}")
    assert after[0] <= before[0] + SLACK, f"open fds went from {before[0]} to {after[0]}"
    assert after[1] <= before[1] + SLACK, f"threads went from {before[1]} to {after[1]}"
