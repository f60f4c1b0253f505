"""Ask for ``s3_server``, ``gcs_server``, ``azure_server`` or ``oci_server`` in a test to use one.

Enabling
--------
The plugin is opt-in, so installing unifs adds no fixtures to anyone's test runs. Name it
in the top-level ``conftest.py``::

    pytest_plugins = ["unifs.testing.pytest_plugin"]

or pass ``-p unifs.testing.pytest_plugin``. Nothing starts until a test asks for a fixture.

Needs ``pip install 'unifs[testing]'`` (moto, fake-gcs-server), ``unifs[oci]`` for OCI, and
Azurite for Azure: ``npm install azurite@3.35.0`` (in a unifs checkout, ``npm install``).

Fixtures
--------
``s3_server``, ``gcs_server``, ``azure_server``, ``oci_server``
    Session-scoped; each yields a :class:`unifs.testing.servers.LocalServer` and stops it
    when the session ends. Buckets persist for the session: use unique names.
    ``gcs_server.xml_endpoint`` is where polars, obstore and deltalake write to GCS (an
    XML-API adapter in front of fake-gcs-server, :mod:`unifs.testing.gcs_xml`).
``storage_server``
    The session server named by ``request.param``; parametrize it indirectly to run one
    test against several providers.
``local_server``
    A function ``local_server("gcs") -> LocalServer`` returning the same session servers.

::

    import fsspec
    import pytest
    from unifs.testing.servers import PROVIDERS

    def test_s3_roundtrip(s3_server):
        s3_server.make_bucket("roundtrip")
        fs = fsspec.filesystem(s3_server.protocol, **s3_server.storage_options)
        fs.pipe("roundtrip/a.txt", b"hi")
        assert fs.cat("roundtrip/a.txt") == b"hi"

    @pytest.mark.parametrize("storage_server", PROVIDERS, indirect=True)
    def test_everywhere(storage_server):
        fs = storage_server.filesystem()
        ...

``UNIFS_TEST_S3_ENDPOINT``, ``UNIFS_TEST_GCS_ENDPOINT`` and ``UNIFS_TEST_AZURE_ENDPOINT``
reuse servers you already run; ``UNIFS_AZURITE_BIN`` names the Azurite binary.

Network safety
--------------
This plugin changes no environment and installs no socket guard; your ``conftest.py``
should, before any cloud SDK is imported, since SDKs probe metadata services on their own::

    NO_GCE_CHECK=True  GCE_METADATA_HOST=127.0.0.1:9  GCE_METADATA_IP=127.0.0.1:9
    AWS_EC2_METADATA_DISABLED=true
    GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false   # else gcsfs probes gRPC/TLS, ~60 s per call

and refuse non-loopback connections: ``unifs.testing.network.guard()`` at the top of
``conftest.py`` does both, or use pytest-socket with
``--allow-hosts=127.0.0.1,::1,localhost``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from unifs.testing.servers import LocalServer

# Cloud SDKs and the servers are imported inside the fixtures: this module is loaded in
# every pytest run of a project that has unifs installed, and must cost nothing there.


def _serve(provider: str) -> Iterator[LocalServer]:
    from unifs.testing.servers import start

    server = start(provider)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[LocalServer]:
    """Yield a moto S3 server for the whole session (or ``UNIFS_TEST_S3_ENDPOINT``)."""
    yield from _serve("s3")


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[LocalServer]:
    """Yield a fake-gcs-server for the whole session (or ``UNIFS_TEST_GCS_ENDPOINT``)."""
    yield from _serve("gcs")


@pytest.fixture(scope="session")
def azure_server() -> Iterator[LocalServer]:
    """Yield an Azurite blob server for the whole session (or ``UNIFS_TEST_AZURE_ENDPOINT``)."""
    yield from _serve("azure")


@pytest.fixture(scope="session")
def oci_server() -> Iterator[LocalServer]:
    """Yield unifs's OCI Object Storage server for the whole session."""
    yield from _serve("oci")


_FIXTURES = {"s3": "s3_server", "gcs": "gcs_server", "azure": "azure_server", "oci": "oci_server"}


@pytest.fixture
def local_server(request: pytest.FixtureRequest) -> Callable[[str], LocalServer]:
    """Return ``get(provider)``, which gives that provider's session server, starting it once."""

    def get(provider: str) -> LocalServer:
        try:
            name = _FIXTURES[provider]
        except KeyError:
            raise ValueError(
                f"no local server for {provider!r}; choose one of {', '.join(_FIXTURES)}"
            ) from None
        server: LocalServer = request.getfixturevalue(name)
        return server

    return get


@pytest.fixture
def storage_server(
    request: pytest.FixtureRequest, local_server: Callable[[str], LocalServer]
) -> LocalServer:
    """Give the session server named by ``request.param`` (parametrize with ``indirect=True``)."""
    provider = getattr(request, "param", None)
    if provider is None:
        pytest.fail(
            "storage_server needs a provider: "
            '@pytest.mark.parametrize("storage_server", ["s3", "gcs"], indirect=True)',
            pytrace=False,
        )
    return local_server(str(provider))
