"""Serve OCI Object Storage's REST API from memory: :class:`OCIServer`."""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

from cryptography.hazmat.primitives.asymmetric import rsa

from unifs.providers.oci_identity import fake_ocid
from unifs.testing.oci_server.http import (
    _R_ACTION,
    _R_BUCKET,
    _R_BUCKETS,
    _R_NS,
    _R_NS_META,
    _R_OBJECT,
    _R_OBJECTS,
    _R_PAR,
    _R_PAR_ITEM,
    _R_PAR_UPLOAD,
    _R_PARS,
    _R_UPLOAD,
    _R_UPLOADS,
    _R_WORK_REQUEST,
    _R_WORK_REQUEST_ERRORS,
    _R_WORK_REQUEST_LOGS,
    _R_WORK_REQUESTS,
    _HTTPServer,
    _OCIError,
    _Request,
    _Response,
)
from unifs.testing.oci_server.identity import OCITestIdentity, _SignatureCheck
from unifs.testing.oci_server.multipart import _MultipartRoutes
from unifs.testing.oci_server.pars import _PARRoutes
from unifs.testing.oci_server.store import STORAGE_TIERS, _b64md5, _Bucket, _Object, _utcnow
from unifs.testing.oci_server.tiers import _TierRoutes
from unifs.testing.oci_server.work_requests import _WorkRequestRoutes

# one logger for the whole server, under the name it had as a single module
logger = logging.getLogger("unifs.testing.oci_server")


class OCIServer(_SignatureCheck, _WorkRequestRoutes, _TierRoutes, _PARRoutes, _MultipartRoutes):
    """Serve OCI Object Storage's REST API from memory on a loopback port, checking signatures.

    Every request outside ``/p/`` (pre-authenticated requests) must carry a valid OCI HTTP
    signature from one of the trusted :class:`OCITestIdentity` keys, with a ``Date`` within
    ``max_clock_skew`` of now; anything else gets 401 ``NotAuthenticated``.

    CopyObject answers 202 and copies ``copy_delay`` seconds later, as a work request
    (see :mod:`unifs.testing.oci_server.work_requests`). Objects in the Archive tier
    answer GET with 409 ``NotRestored`` until restored; a restore takes ``restore_delay``
    seconds (see :mod:`unifs.testing.oci_server.tiers`).
    """

    def __init__(
        self,
        namespace: str = "unifs",
        identities: Iterable[OCITestIdentity] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        compartment_id: str | None = None,
        max_clock_skew: timedelta = timedelta(minutes=5),
        public_region: str | None = None,
        copy_delay: float = 0.05,
        restore_delay: float = 0.5,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"OCIServer binds loopback only, not {host!r}")
        self._namespace = namespace
        self._host = "127.0.0.1" if host == "localhost" else host
        self._requested_port = port
        self._max_clock_skew = max_clock_skew
        self._lock = threading.RLock()
        self._trusted: dict[str, tuple[OCITestIdentity, rsa.RSAPublicKey]] = {}
        identities = list(identities)
        for ident in identities:
            self.add_identity(ident)
        # Buckets live in a compartment; the tenancy root is the natural default, as in OCI.
        self.compartment_id = compartment_id or (
            identities[0].tenancy if identities else fake_ocid("tenancy")
        )
        self._buckets: dict[str, _Bucket] = {}
        self._par_tokens: dict[str, tuple[str, str]] = {}  # token -> (bucket, par id)
        self._work_requests: dict[str, dict[str, Any]] = {}
        #: the region whose public host a PAR's ``fullPath`` names, as OCI answers (the realm
        #: from the oci SDK's table); None: this server's own endpoint, so PARs work locally
        self.public_region = public_region
        self.copy_delay = copy_delay
        self.restore_delay = restore_delay
        self.work_request_reads: dict[str, int] = {}
        self._copy_denied: set[str] = set()
        self._work_errors: dict[str, list[dict[str, Any]]] = {}
        self._timers: dict[str, threading.Timer] = {}
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> OCIServer:
        """Bind the port and serve in a daemon thread; return self."""
        if self._httpd is not None:
            return self
        self._httpd = _HTTPServer((self._host, self._requested_port), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"oci-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        logger.info("OCI server listening on %s (namespace %s)", self.endpoint, self._namespace)
        return self

    def stop(self) -> None:
        """Stop serving, close the port and cut open keep-alive connections."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> OCIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """Return the bound port (the chosen one when constructed with port 0)."""
        if self._httpd is None:
            raise RuntimeError("OCIServer is not started")
        return int(self._httpd.server_address[1])

    @property
    def endpoint(self) -> str:
        """Return the base URL to pass as the SDK's ``service_endpoint``."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    @property
    def namespace(self) -> str:
        """Return the Object Storage namespace this server answers for."""
        return self._namespace

    def __repr__(self) -> str:
        where = self.endpoint if self._httpd is not None else "stopped"
        return f"OCIServer(namespace={self._namespace!r}, {where})"

    # ---- direct administration (no HTTP) --------------------------------------------------

    def add_identity(self, ident: OCITestIdentity) -> None:
        """Trust signatures made with ``ident``'s key from now on."""
        with self._lock:
            self._trusted[ident.key_id] = (ident, ident.public_key())

    def remove_identity(self, ident: OCITestIdentity) -> None:
        """Stop trusting ``ident`` (its requests then get 401)."""
        with self._lock:
            self._trusted.pop(ident.key_id, None)

    def create_bucket(self, name: str, compartment_id: str | None = None) -> None:
        """Create an empty bucket directly; raise ValueError if the name is taken or invalid."""
        try:
            self._create_bucket(name, compartment_id or self.compartment_id, "unifs-testing")
        except _OCIError as err:
            raise ValueError(err.message) from None

    def put_object(
        self,
        bucket: str,
        name: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
        storage_tier: str = "Standard",
    ) -> None:
        """Store an object directly, e.g. to seed a benchmark; ValueError if no such bucket.

        ``storage_tier`` is Standard, InfrequentAccess or Archive (an Archive object must
        be restored before it can be read)."""
        if storage_tier not in STORAGE_TIERS:
            raise ValueError(f"storage_tier must be one of {', '.join(STORAGE_TIERS)}")
        now = _utcnow()
        obj = _Object(
            name=name,
            data=bytes(data),
            etag=str(uuid.uuid4()),
            md5=_b64md5(data),
            multipart=False,
            content_type=content_type,
            headers={},
            metadata=dict(metadata or {}),
            storage_tier=storage_tier,
            time_created=now,
            time_modified=now,
        )
        with self._lock:
            target = self._buckets.get(bucket)
            if target is None:
                raise ValueError(f"no bucket named {bucket!r}")
            target.put(obj)

    def rot(self, bucket: str, name: str, offset: int) -> None:
        """Flip one bit of a stored object's byte at ``offset`` and keep its checksums: bit
        rot at rest, which only a reader that verifies notices; KeyError if no such object."""
        with self._lock:
            obj = self._buckets[bucket].objects[name]
            rotten = bytearray(obj.data)
            rotten[offset] ^= 0x01
            obj.data = bytes(rotten)

    def reset(self) -> None:
        """Drop all buckets, objects, uploads, PARs and work requests; keep trusted keys."""
        with self._lock:
            self._buckets.clear()
            self._par_tokens.clear()
            self._work_requests.clear()
            self._work_errors.clear()
            self._copy_denied.clear()
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()

    # ---- request handling -----------------------------------------------------------------

    def _handle(self, req: _Request) -> _Response:
        """Route one request; raise _OCIError for answers that are errors."""
        match = _R_PAR_UPLOAD.match(req.path)
        if match:
            return self._serve_par_upload(req, match)
        match = _R_PAR.match(req.path)
        if match:
            return self._serve_par(req, match)
        req.principal = self._authenticate(req)
        method = req.method
        routes: list[tuple[re.Pattern[str], dict[str, Any]]] = [
            (_R_NS, {"GET": self._get_namespace}),
            (_R_NS_META, {"GET": self._get_namespace_metadata}),
            (_R_BUCKETS, {"GET": self._list_buckets, "POST": self._create_bucket_api}),
            (
                _R_BUCKET,
                {"GET": self._get_bucket, "HEAD": self._get_bucket, "DELETE": self._delete_bucket},
            ),
            (_R_OBJECTS, {"GET": self._list_objects_api}),
            (
                _R_OBJECT,
                {
                    "GET": self._get_object,
                    "HEAD": self._get_object,
                    "PUT": self._put_object,
                    "DELETE": self._delete_object,
                },
            ),
            (_R_UPLOADS, {"GET": self._list_uploads, "POST": self._create_upload}),
            (
                _R_UPLOAD,
                {
                    "GET": self._list_parts,
                    "PUT": self._upload_part,
                    "POST": self._commit_upload,
                    "DELETE": self._abort_upload,
                },
            ),
            (_R_PARS, {"GET": self._list_pars, "POST": self._create_par}),
            (_R_PAR_ITEM, {"GET": self._get_par, "DELETE": self._delete_par}),
            (_R_ACTION, {"POST": self._action}),
            (_R_WORK_REQUESTS, {"GET": self._list_work_requests}),
            (
                _R_WORK_REQUEST,
                {"GET": self._get_work_request, "DELETE": self._cancel_work_request},
            ),
            (_R_WORK_REQUEST_ERRORS, {"GET": self._list_work_request_errors}),
            (_R_WORK_REQUEST_LOGS, {"GET": self._list_work_request_logs}),
        ]
        for pattern, handlers in routes:
            m = pattern.match(req.path)
            if m is None:
                continue
            handler = handlers.get(method)
            if handler is None:
                raise _OCIError(405, "MethodNotAllowed", f"{method} is not allowed here.")
            params = {k: unquote(v) for k, v in m.groupdict().items() if v is not None}
            if "ns" in params and params["ns"] != self._namespace:
                raise _OCIError(
                    404,
                    "NamespaceNotFound",
                    f"You do not have authorization to perform this "
                    f"request, or the requested resource could not be found: {params['ns']}",
                )
            response: _Response = handler(req, **params)
            return response
        raise _OCIError(404, "NotFound", "There is no operation at this path and method.")
