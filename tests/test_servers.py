"""Each local server starts on a free loopback port, serves fsspec I/O, and really stops."""

from __future__ import annotations

import os

# Before any cloud SDK is imported (fsspec and unifs.testing.servers load them lazily):
# keep the SDKs from probing metadata services (EMULATORS.md, Network safety).
os.environ.update(
    {
        name: os.environ.get(name, value)
        for name, value in {
            "NO_GCE_CHECK": "True",
            "GCE_METADATA_HOST": "127.0.0.1:9",
            "GCE_METADATA_IP": "127.0.0.1:9",
            "AWS_EC2_METADATA_DISABLED": "true",
            "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
        }.items()
    }
)

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest

from unifs.testing import servers
from unifs.testing.servers import (
    PROVIDERS,
    AzuriteNotFoundError,
    LocalServer,
    ServerStartError,
    start,
)


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _listening(endpoint: str) -> bool:
    parts = urlsplit(endpoint)
    try:
        with socket.create_connection((parts.hostname, parts.port or 80), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def no_endpoint_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make start_*() launch their own server even if the caller set UNIFS_TEST_*_ENDPOINT."""
    for name in ("S3", "GCS", "AZURE"):
        monkeypatch.delenv(f"UNIFS_TEST_{name}_ENDPOINT", raising=False)


@pytest.fixture
def fresh_server(
    request: pytest.FixtureRequest, no_endpoint_overrides: None
) -> Iterator[LocalServer]:
    server = start(request.param)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("fresh_server", PROVIDERS, indirect=True)
def test_round_trip_through_fsspec(fresh_server: LocalServer) -> None:
    server = fresh_server
    assert server.endpoint.startswith("http://127.0.0.1:")
    assert server.owned
    bucket = _unique("rt")
    server.make_bucket(bucket)
    with pytest.raises(FileExistsError):
        server.make_bucket(bucket)

    import fsspec

    fs = fsspec.filesystem(server.protocol, skip_instance_cache=True, **server.storage_options)
    uri = server.uri(bucket, "dir/hello.bin")
    data = b"unifs\x00" * 1000 + uuid.uuid4().bytes
    fs.pipe(uri, data)
    assert fs.cat(uri) == data
    assert fs.cat_file(uri, start=6, end=11) == b"unifs"
    listing = fs.ls(server.uri(bucket, "dir"), detail=True)
    assert [(entry["name"].rsplit("/", 1)[-1], entry["size"]) for entry in listing] == [
        ("hello.bin", len(data))
    ]

    server.stop()
    assert not _listening(server.endpoint), "the server still accepts connections after stop()"
    server.stop()  # a second stop is harmless


def test_oci_server_exposes_identity_and_backend(no_endpoint_overrides: None) -> None:
    from unifs.testing.oci_server import OCIServer

    with servers.start_oci(namespace="unifs-ns") as server:
        assert isinstance(server.oci_server, OCIServer)
        assert server.identity is not None
        assert server.storage_options["config"]["fingerprint"] == server.identity.fingerprint
        assert server.storage_options["config_kwargs"]["service_endpoint"] == server.endpoint
        assert server.uri("b", "k") == "oci://b@unifs-ns/k"
        # a bucket made on the OCIServer directly shows through the LocalServer's options
        server.oci_server.create_bucket("direct")
        assert server.filesystem().ls("direct@unifs-ns") == []


def test_missing_azurite_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object, no_endpoint_overrides: None
) -> None:
    missing = f"{tmp_path}/nowhere/azurite-blob"
    monkeypatch.setenv("UNIFS_AZURITE_BIN", missing)
    with pytest.raises(AzuriteNotFoundError) as info:
        servers.start_azure()
    assert "npm install azurite@3.35.0" in str(info.value)
    assert missing in str(info.value)
    assert isinstance(info.value, ServerStartError)


def test_failed_start_quotes_server_output(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object, no_endpoint_overrides: None
) -> None:
    fake = f"{tmp_path}/azurite-blob"
    with open(fake, "w") as fh:
        fh.write("#!/bin/sh\necho 'simulated: cannot bind' >&2\nexit 7\n")
    os.chmod(fake, 0o755)
    monkeypatch.setenv("UNIFS_AZURITE_BIN", fake)
    started = time.monotonic()
    with pytest.raises(ServerStartError, match="exited with code 7") as info:
        servers.start_azure(timeout=30)
    assert "simulated: cannot bind" in str(info.value)
    assert time.monotonic() - started < 10, "an exited server must fail fast, not time out"


def test_gcs_retries_when_its_port_is_taken(
    monkeypatch: pytest.MonkeyPatch, no_endpoint_overrides: None
) -> None:
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))  # bound, not listening: the port is taken but refuses
    taken = squatter.getsockname()[1]
    real_free_port = servers._free_port
    handed_out: list[int] = []

    def racy_free_port() -> int:
        port = taken if not handed_out else real_free_port()
        handed_out.append(port)
        return port

    monkeypatch.setattr(servers, "_free_port", racy_free_port)
    try:
        with servers.start_gcs() as server:
            assert handed_out[0] == taken
            assert len(handed_out) == 2
            assert server.endpoint == f"http://127.0.0.1:{handed_out[1]}"
            assert _listening(server.endpoint)
    finally:
        squatter.close()


def test_gcs_xml_endpoint_starts_on_first_use_and_stops_with_the_server(
    no_endpoint_overrides: None,
) -> None:
    with servers.start_gcs() as server:
        assert server._xml is None  # nothing runs until a test asks for it
        endpoint = server.xml_endpoint
        assert endpoint.startswith("http://127.0.0.1:") and endpoint != server.endpoint
        assert server.xml_endpoint == endpoint  # one adapter per server
        bucket = _unique("xml")
        server.make_bucket(bucket)
        # the adapter takes object_store's XML-API PUT, which fake-gcs-server refuses
        put = urllib.request.Request(f"{server.endpoint}/{bucket}/k", data=b"x", method="PUT")
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.build_opener(urllib.request.ProxyHandler({})).open(put, timeout=5)
        put = urllib.request.Request(f"{endpoint}/{bucket}/k", data=b"x", method="PUT")
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(put) as answer:
            assert answer.headers["ETag"]
        assert server.filesystem().cat_file(f"{bucket}/k") == b"x"
        spool = server._xml._spool_root if server._xml and server._xml._spool_root else ""
        assert os.path.isdir(spool)
    assert not _listening(endpoint), "the XML adapter still accepts connections after stop()"
    assert not os.path.exists(spool), "the adapter's temporary parts outlived it"


@pytest.mark.parametrize("provider", ["s3", "gcs", "azure"])
def test_endpoint_variable_reuses_a_running_server(
    provider: str,
    local_server: Callable[[str], LocalServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    owner = local_server(provider)
    monkeypatch.setenv(f"UNIFS_TEST_{provider.upper()}_ENDPOINT", owner.endpoint)
    reused = start(provider)
    assert not reused.owned
    assert reused.endpoint == owner.endpoint
    assert reused.storage_options == owner.storage_options

    bucket = _unique("reuse")
    reused.make_bucket(bucket)
    owner.filesystem().pipe(owner.uri(bucket, "k"), b"v")
    assert reused.filesystem().cat(reused.uri(bucket, "k")) == b"v"
    reused.stop()
    assert _listening(owner.endpoint), "stop() of a reused server must not stop the owner"


def test_endpoint_variable_that_does_not_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("UNIFS_TEST_GCS_ENDPOINT", f"http://127.0.0.1:{closed}")
    with pytest.raises(ServerStartError, match="UNIFS_TEST_GCS_ENDPOINT"):
        servers.start_gcs(timeout=0.5)


@pytest.mark.parametrize("storage_server", PROVIDERS, indirect=True)
def test_storage_server_fixture_gives_the_session_server(
    storage_server: LocalServer,
    local_server: Callable[[str], LocalServer],
    request: pytest.FixtureRequest,
) -> None:
    provider = request.node.callspec.params["storage_server"]
    assert storage_server.provider == provider
    assert storage_server is request.getfixturevalue(f"{provider}_server")
    assert storage_server is local_server(provider)
    bucket = _unique("fixture")
    storage_server.make_bucket(bucket)
    assert storage_server.filesystem().ls(storage_server.uri(bucket)) == []


def test_start_names_the_providers_it_knows() -> None:
    with pytest.raises(ValueError, match="s3, gcs, azure, oci"):
        start("dropbox")


def test_start_accepts_fsspec_protocol_names(no_endpoint_overrides: None) -> None:
    with start("gs") as server:
        assert server.provider == "gcs"
        assert server.protocol == "gs"


_SDK_ROOTS = {"moto", "boto3", "botocore", "s3fs", "gcsfs", "google", "adlfs", "azure", "oci"}


def test_importing_the_plugin_starts_and_loads_nothing() -> None:
    code = (
        "import json, sys, threading, unifs.testing.pytest_plugin, unifs.testing.servers\n"
        f"sdks = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(_SDK_ROOTS)!r})\n"
        "print(json.dumps([sdks, threading.active_count()]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    sdks, threads = json.loads(out.stdout.strip().splitlines()[-1])
    assert sdks == []
    assert threads == 1


def test_servers_left_running_die_with_the_interpreter(tmp_path: object) -> None:
    code = (
        "from unifs.testing.servers import start_gcs\n"
        "server = start_gcs()\n"
        "print(server._process.popen.pid, flush=True)\n"
        # exits without stop(): the atexit hook must end fake-gcs-server
    )
    env = {k: v for k, v in os.environ.items() if k != "UNIFS_TEST_GCS_ENDPOINT"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    pid = int(out.stdout.strip())
    deadline = time.monotonic() + 10
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _pid_alive(pid), f"fake-gcs-server (pid {pid}) outlived its interpreter"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it has exited, so it counts as gone
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return True


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_servers_die_with_an_interpreter_killed_by_a_signal(signum: int) -> None:
    # atexit never runs here: the keeper each server runs under has to notice on its own.
    code = (
        "import json, time\n"
        "from unifs.testing.servers import start_azure, start_gcs\n"
        "servers = [start_gcs(), start_azure()]\n"
        "print(json.dumps([s.endpoint for s in servers]), flush=True)\n"
        "time.sleep(600)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIFS_TEST_")}
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    ) as child:
        try:
            assert child.stdout is not None and child.stderr is not None
            line = child.stdout.readline()
            assert line, child.stderr.read()
            endpoints = json.loads(line)
            assert all(_listening(e) for e in endpoints)
            child.send_signal(signum)
            child.wait(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
    deadline = time.monotonic() + 15
    while any(_listening(e) for e in endpoints) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = [e for e in endpoints if _listening(e)]
    assert not alive, f"servers outlived an interpreter killed by {signum}: {alive}"
