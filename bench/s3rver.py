"""A second local S3 server for the benchmarks: s3rver (npm), whose ranged GETs are independent.

moto answers every ranged GET by copying the whole object in Python, so on moto a file
split into N ranges costs the server N whole copies and splitting looks worse than it is.
s3rver keeps objects as files and streams each range from its file, as a real store serves
ranges: the benchmark judges the engine's range splitting there.

Why s3rver: it is small (Node, a file per object), takes path-style requests, SigV4, ranged
GETs and multipart uploads, and installs from the npm registry next to Azurite
(``npm ci``: package.json pins it). What it does not do as S3 does, measured: a multipart
object's ETag is the MD5 of the whole object (S3: the MD5 of the parts' MD5s and ``-N``),
If-Match is ignored, and no additional checksums are kept. So the benchmark only reads from
it (seeded with single PUTs), and no test relies on it.

    python bench/bench_transfer.py --providers s3rver --dataset large

``UNIFS_S3RVER_BIN`` names the ``s3rver`` executable; else ``node_modules/.bin/s3rver`` of
this checkout is used.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unifs.testing.servers import S3LocalServer

__all__ = ["S3rverServer", "find_s3rver", "start_s3rver"]

_HOST = "127.0.0.1"
_CREDENTIALS = ("S3RVER", "S3RVER")  # the key pair s3rver accepts by default


def find_s3rver() -> str:
    """The ``s3rver`` executable, or FileNotFoundError saying how to install it."""
    override = os.environ.get("UNIFS_S3RVER_BIN")
    candidate = (
        Path(override)
        if override
        else Path(__file__).resolve().parent.parent / ("node_modules/.bin/s3rver")
    )
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    raise FileNotFoundError(
        f"no s3rver at {candidate}: run `npm ci` in the checkout (package.json pins it), or "
        "point UNIFS_S3RVER_BIN at an s3rver executable"
    )


@dataclass
class S3rverServer(S3LocalServer):
    """s3rver in a Node subprocess, its objects under a temporary directory."""

    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _directory: str | None = field(default=None, repr=False)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        directory, self._directory = self._directory, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((_HOST, 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as response:
            response.read()
    except urllib.error.HTTPError as err:
        err.close()
    except OSError:
        return False
    return True


def start_s3rver(*, timeout: float = 30.0) -> S3rverServer:
    """Start s3rver on a free port of 127.0.0.1 and return it (``stop()`` ends it)."""
    binary = find_s3rver()
    directory = tempfile.mkdtemp(prefix="unifs-s3rver-")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--directory", directory, "--address", _HOST, "--port", str(port), "--silent"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    endpoint = f"http://{_HOST}:{port}"
    deadline = time.monotonic() + timeout
    while not _answers(endpoint + "/"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            err = process.communicate()[1].decode(errors="replace")[-500:]
            shutil.rmtree(directory, ignore_errors=True)
            raise RuntimeError(f"s3rver did not start on {endpoint}: {err}")
        time.sleep(0.05)
    key, secret = _CREDENTIALS
    options: dict[str, Any] = {"endpoint_url": endpoint, "key": key, "secret": secret}
    return S3rverServer(
        provider="s3",
        protocol="s3",
        endpoint=endpoint,
        storage_options=options,
        _process=process,
        _directory=directory,
    )
