"""``unifs serve``: servers started from the shell, reached with exactly the flags it prints."""

from __future__ import annotations

import re
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(180)

_LS_LINE = re.compile(r"^  unifs ls (?P<uri>\S+) (?P<flags>.+)$")


def _unifs(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "unifs.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def _port_open(endpoint: str) -> bool:
    host, port = endpoint.rsplit("//", 1)[1].split("/")[0].split(":")
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, int(port))) == 0


def _start(*argv: str) -> tuple[subprocess.Popen[str], dict[str, tuple[str, list[str]]]]:
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    assert process.stdout is not None
    found: dict[str, tuple[str, list[str]]] = {}
    provider = ""
    for line in process.stdout:
        if line.startswith("serving "):
            break
        if not line.startswith(" "):
            provider = line.split(":", 1)[0]
        match = _LS_LINE.match(line.rstrip("\n"))
        if match:
            found[provider] = (match["uri"], shlex.split(match["flags"]))
    else:
        _, err = process.communicate(timeout=30)
        raise AssertionError(f"serve ended early: {err}")
    return process, found


def _endpoints(flags: list[str]) -> list[str]:
    return [
        value.split("=", 1)[1]
        for value in flags
        if value.startswith(("endpoint_url=", "endpoint="))
    ]


def test_serve_prints_flags_that_work_and_sigterm_closes_every_port(tmp_path: Path) -> None:
    process, found = _start(sys.executable, "-m", "unifs.cli", "serve", "s3", "oci")
    try:
        assert set(found) == {"s3", "oci"}
        source = tmp_path / "hello.txt"
        source.write_bytes(b"hello from serve\n")
        for provider, (uri, flags) in found.items():
            put = _unifs("put", str(source), uri + "hello.txt", *flags)
            assert put.returncode == 0, (provider, put.stderr)
            listing = _unifs("ls", uri, *flags)
            assert listing.returncode == 0, (provider, listing.stderr)
            assert "hello.txt" in listing.stdout
            cat = _unifs("cat", uri + "hello.txt", *flags)
            assert cat.returncode == 0, (provider, cat.stderr)
            assert cat.stdout == "hello from serve\n"
        endpoints = [e for _, flags in found.values() for e in _endpoints(flags)]
        assert len(endpoints) == 2 and all(_port_open(e) for e in endpoints)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
        status = process.returncode
    assert status == 0
    assert not any(_port_open(e) for e in endpoints)


def test_python_m_unifs_testing_serves_and_ctrl_c_exits_130() -> None:
    process, found = _start(sys.executable, "-m", "unifs.testing", "gcs")
    try:
        uri, flags = found["gcs"]
        assert uri == "gs://unifs/"
        listing = _unifs("ls", uri, *flags)
        assert listing.returncode == 0, listing.stderr
        endpoint = _endpoints(flags)[0]
        assert _port_open(endpoint)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
        status = process.returncode
    assert status == 130
    # fake-gcs-server runs under a keeper: it is gone with serve, its port closed
    assert not _port_open(endpoint)


def test_serve_refuses_an_unknown_provider() -> None:
    result = _unifs("serve", "dropbox")
    assert result.returncode == 2
    assert "invalid choice: 'dropbox'" in result.stderr


_ENV_LINE = re.compile(r"^  environment: (?P<exports>.+)$")


def test_serve_azure_drives_the_cli_with_its_flags_and_its_environment(tmp_path: Path) -> None:
    """Azurite through ``unifs serve azure``: the printed ``-o`` flags and, separately, the
    printed ``export`` line each reach it from the CLI; SIGTERM closes its port."""
    import os

    process = subprocess.Popen(
        [sys.executable, "-m", "unifs.cli", "serve", "azure"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    for line in process.stdout:
        if line.startswith("serving "):
            break
        lines.append(line.rstrip("\n"))
    else:
        _, err = process.communicate(timeout=30)
        raise AssertionError(f"serve ended early: {err}")
    try:
        (uri, flags), = [
            (m["uri"], shlex.split(m["flags"])) for m in map(_LS_LINE.match, lines) if m
        ]  # fmt: skip
        (exports,) = [m["exports"] for m in map(_ENV_LINE.match, lines) if m]
        words = shlex.split(exports)
        assert words[0] == "export"
        env = {**os.environ, **dict(w.split("=", 1) for w in words[1:])}
        blob = re.search(r"BlobEndpoint=(http://127\.0\.0\.1:\d+)", flags[1])
        assert uri == "az://unifs/" and blob is not None
        endpoint = blob[1]
        source = tmp_path / "weights.bin"
        source.write_bytes(os.urandom(3 << 20))
        put = _unifs("put", str(source), uri + "m/weights.bin", *flags)
        assert put.returncode == 0, put.stderr
        # the environment alone (no -o) reaches the same server
        listing = _unifs("ls", "-l", uri + "m/", env=env)
        assert listing.returncode == 0, listing.stderr
        assert "weights.bin" in listing.stdout and str(3 << 20) in listing.stdout
        back = tmp_path / "back.bin"
        get = _unifs("get", uri + "m/weights.bin", str(back), env=env)
        assert get.returncode == 0, get.stderr
        assert back.read_bytes() == source.read_bytes()
        assert _port_open(endpoint)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    assert process.returncode == 0
    assert not _port_open(endpoint)
