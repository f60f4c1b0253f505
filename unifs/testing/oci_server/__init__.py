"""Run a local OCI Object Storage server that the real ``oci`` SDK and ``ocifs`` can talk to.

No OCI emulator exists elsewhere, so this module speaks the documented Object Storage REST
API (namespace, buckets, objects with ranges, multipart uploads, copy/rename, pre-authenticated
requests) on 127.0.0.1 and checks every request's OCI HTTP signature against trusted test keys.
It is a stand-in for tests, notebooks and benchmarks, not a production store: data lives in
memory.

Typical use::

    from unifs.testing.oci_server import OCIServer, OCITestIdentity

    ident = OCITestIdentity.generate()
    with OCIServer(namespace="unifs", identities=[ident]) as server:
        server.create_bucket("data")
        client = oci.object_storage.ObjectStorageClient(
            ident.config(), service_endpoint=server.endpoint,
            retry_strategy=oci.retry.NoneRetryStrategy())

``python -m unifs.testing.oci_server --port 0`` runs it in the foreground and writes a config
file for a fresh test identity.

One module per part: ``identity`` (test identities, signature checks, refusals), ``store`` (the data
in memory), ``http`` (requests, responses, errors, the HTTP server), the routes in
``buckets``, ``objects``, ``multipart`` and ``pars``, ``server`` (``OCIServer``, which
composes them) and ``cli``.
"""

from __future__ import annotations

from unifs.testing.oci_server.cli import main as main
from unifs.testing.oci_server.identity import DEFAULT_REGION as DEFAULT_REGION
from unifs.testing.oci_server.identity import OCITestIdentity
from unifs.testing.oci_server.server import OCIServer

__all__ = ["OCIServer", "OCITestIdentity"]
