"""Test-wide set-up: loopback-only networking before any cloud SDK is imported.

Local servers come from unifs's own pytest plugin (``unifs.testing.pytest_plugin``).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

import unifs
from unifs.testing import network

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

# Before any test module imports a cloud SDK: set the no-probe environment and install the
# socket guard, which refuses every connection and name lookup outside 127.0.0.1/::1
# (EMULATORS.md, Network safety).
network.guard()


@pytest.fixture(autouse=True)
def _no_outbound_connections() -> Iterator[None]:
    """Fail a test that tried to leave the machine, even if an SDK swallowed the error."""
    before = len(network.blocked)
    yield
    attempts = network.blocked[before:]
    assert not attempts, f"test tried to connect outside 127.0.0.1: {attempts}"


@pytest.fixture(autouse=True)
def _state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Any:
    """unifs's upload ledger (``UNIFS_STATE_DIR``) in a directory of the test's own."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("UNIFS_STATE_DIR", str(state))
    return state


_BEGIN_AND_DIE = """
import json, os, signal, sys
from unifs.testing.network import guard
guard()
import unifs
from unifs.engine import ledger
from unifs.engine.backend import open_backend
from unifs.engine.scheduling import run_sync

async def begin():
    end = unifs.endpoint(sys.argv[1], **json.loads(sys.argv[2]))
    backend = await open_backend(end, 2)
    upload = await ledger.begin(backend, end.path, part_size=5 * 2**20)
    part = backend.provider.put_part(backend.fs, end.path, upload, 1, b"x" * (5 * 2**20))
    await backend.resolve(part)
    return upload

print(run_sync(begin()), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.fixture
def killed_upload() -> Any:
    """``begin(uri, options) -> upload id``: a child process begins an upload to ``uri``
    through unifs (recorded in its ledger), sends part 1 and is killed with SIGKILL."""
    import json
    import os
    import signal
    import subprocess
    import sys

    def begin(uri: str, options: dict[str, Any]) -> str:
        child = subprocess.run(
            [sys.executable, "-c", _BEGIN_AND_DIE, uri, json.dumps(options)],
            capture_output=True, text=True, timeout=120, env={**os.environ},
        )  # fmt: skip
        assert child.returncode == -signal.SIGKILL, child.stderr
        return child.stdout.strip()

    return begin


# -- one store fixture, parametrized over every backend -------------------------------------

pytest_plugins = ["unifs.testing.pytest_plugin"]

BACKENDS = ["s3", "gcs", "azure", "oci", "local", "memory"]
CLOUDS = ["s3", "gcs", "azure", "oci"]


@dataclass
class Store:
    """A fresh, empty prefix on one backend, reached through unifs URIs."""

    backend: str
    root: str  # URI of the prefix, ending in "/"
    options: dict[str, Any] = field(default_factory=dict)

    def uri(self, *parts: str) -> str:
        return self.root + "/".join(parts)

    def fs_path(self, *parts: str) -> tuple[AbstractFileSystem, str]:
        return unifs.url_to_fs(self.uri(*parts), **self.options)

    @property
    def fs(self) -> AbstractFileSystem:
        return self.fs_path()[0]


_BUCKET = "unifs-suite"


def _cloud_root(backend: str, server: Any, prefix: str) -> str:
    if backend == "oci":
        return f"oci://n/{server.namespace}/b/{_BUCKET}/o/{prefix}/"
    return f"{ {'s3': 's3', 'gcs': 'gs', 'azure': 'az'}[backend] }://{_BUCKET}/{prefix}/"


@pytest.fixture(scope="session")
def _buckets() -> set[str]:
    return set()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Any, _buckets: set[str]) -> Iterator[Store]:
    """A new prefix on each backend in turn: S3, GCS, Azure, OCI, local disk and memory."""
    backend = request.param
    prefix = f"t-{uuid.uuid4().hex[:12]}"
    if backend == "local":
        # Local paths keep pathlib's rule that a parent directory must exist (pandas and
        # UPath open them directly), so the prefix exists, as a bucket would.
        (tmp_path / prefix).mkdir()
        yield Store(backend, f"file://{tmp_path.as_posix()}/{prefix}/", {"auto_mkdir": True})
        return
    if backend == "memory":
        s = Store(backend, f"memory://{prefix}/")
        yield s
        with contextlib.suppress(FileNotFoundError):
            s.fs.rm(f"/{prefix}", recursive=True)
        return
    server = request.getfixturevalue(f"{backend}_server")
    if backend not in _buckets:
        server.make_bucket(_BUCKET)
        _buckets.add(backend)
    yield Store(backend, _cloud_root(backend, server, prefix), dict(server.storage_options))


@pytest.fixture
def no_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No AWS credentials anywhere botocore looks: env, shared files, the metadata service."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def oci_options_wrong_pass_phrase(oci_server: Any, tmp_path: Any) -> dict[str, Any]:
    """Storage options for the OCI server whose key file is encrypted with another pass phrase
    than the one they give (``the-wrong-one``)."""
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.BestAvailableEncryption(b"the-right-one"),
    )
    (tmp_path / "key.pem").write_bytes(pem)
    options: dict[str, Any] = json.loads(json.dumps(oci_server.storage_options, default=str))
    options["config"].pop("key_content", None)
    options["config"].update(key_file=str(tmp_path / "key.pem"), pass_phrase="the-wrong-one")
    options["config_kwargs"] = {"service_endpoint": oci_server.endpoint}
    return options


# -- how often a URI is parsed and an auth block validated --------------------------------


@dataclass
class ResolutionCounts:
    """Calls of every provider's ``parse`` (text read into a StorageURI) and of
    ``AuthConfig.validate``, while the ``resolution_counts`` fixture is active."""

    parse_calls: list[str] = field(default_factory=list)
    validate_calls: int = 0

    @property
    def parses(self) -> int:
        return len(self.parse_calls)


@pytest.fixture
def resolution_counts() -> Iterator[ResolutionCounts]:
    """Count parses and validations by wrapping the real methods (``wraps``: they still
    run, so this counts calls and changes no behaviour)."""
    from unittest import mock

    from unifs.auth import AuthConfig
    from unifs.registry import providers

    counts = ResolutionCounts()
    real_validate = AuthConfig.validate
    depth = [0]  # a provider's parse that calls another's (or super's) counts once

    def validate(self: AuthConfig, provider: Any) -> Any:
        counts.validate_calls += 1
        return real_validate(self, provider)

    def counted(real: Any) -> Any:
        def parse(self: Any, text: str, *args: Any, **kwargs: Any) -> Any:
            if depth[0] == 0:
                counts.parse_calls.append(text)
            depth[0] += 1
            try:
                return real(self, text, *args, **kwargs)
            finally:
                depth[0] -= 1

        return parse

    with contextlib.ExitStack() as stack:
        classes = {cls for p in providers() for cls in type(p).__mro__ if "parse" in vars(cls)}
        for cls in classes:
            stack.enter_context(mock.patch.object(cls, "parse", counted(vars(cls)["parse"])))
        stack.enter_context(mock.patch.object(AuthConfig, "validate", validate))
        yield counts
