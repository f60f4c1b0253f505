"""Point a cloud SDK's metadata/token lookup at a local stand-in, to test auth modes offline.

Auth modes such as an AWS IAM role (instance profile), GCE default credentials, Azure
managed identity and OCI instance principals fetch their credentials from a service that
only exists inside the cloud (169.254.169.254 and friends). This module runs a small stand-in
for each on 127.0.0.1 and reports the environment variables that make the real SDK ask it
instead, through the SDK's own documented override (no monkeypatching of SDK internals):

* :class:`AWSMetadataServer` (EC2 IMDSv2, for botocore, boto3, aiobotocore/s3fs):
  ``AWS_EC2_METADATA_SERVICE_ENDPOINT``, with ``AWS_EC2_METADATA_DISABLED=false``;
* :class:`GCEMetadataServer` (GCE metadata server, for google-auth/gcsfs):
  ``GCE_METADATA_HOST`` and ``GCE_METADATA_IP``;
* :class:`AzureManagedIdentityServer` (managed identity, for azure-identity/adlfs):
  ``IDENTITY_ENDPOINT`` + ``IDENTITY_HEADER``, or ``AZURE_POD_IDENTITY_AUTHORITY_HOST``;
* :class:`OCIMetadataServer` (instance metadata and auth-service federation, for oci
  instance principals): ``OCI_METADATA_BASE_URL`` and the signer's ``federation_endpoint=``.

Each server has ``start()``/``stop()`` (or ``with``), ``.endpoint``, a request log
(``.requests``: :class:`RecordedRequest` tuples of method, path, headers) and three views
of the environment it needs:

``env()``
    variables to set: the override, plus whatever keeps a developer's own files (``~/.aws``,
    gcloud's ADC file) from winning over the stand-in;
``unset_env()``
    variables to remove, because the SDK's credential chain would prefer them;
``environ(base)``
    ``base`` (default ``os.environ``) with both applied, for a subprocess.

In pytest, with the network guard of :mod:`unifs.testing.network` in place::

    def test_iam_role(monkeypatch):
        with AWSMetadataServer(access_key_id="AKIDTEST") as imds:
            for name, value in imds.env().items():
                monkeypatch.setenv(name, value)
            for name in imds.unset_env():
                monkeypatch.delenv(name, raising=False)
            creds = botocore.session.Session().get_credentials()
            assert creds.access_key == "AKIDTEST"
            assert ("PUT", "/latest/api/token") in [r[:2] for r in imds.requests]

Things to know per SDK:

* **google-auth** reads ``GCE_METADATA_HOST`` and ``NO_GCE_CHECK`` once, when
  ``google.auth.compute_engine._metadata`` is first imported (``GCE_METADATA_IP`` is read per
  call). Set the environment before that import (a fresh process), or call
  :func:`reload_google_auth_metadata` after changing it and again after restoring it.
  ``NO_GCE_CHECK`` only disables detection when it is exactly ``"true"`` (lower case).
* **azure-identity** picks the flavour from which variables exist: ``IDENTITY_ENDPOINT`` +
  ``IDENTITY_HEADER`` is App Service (unless ``IDENTITY_SERVER_THUMBPRINT`` makes it Service
  Fabric); with none of them, ``AZURE_POD_IDENTITY_AUTHORITY_HOST`` replaces the VM IMDS
  address. Azure Arc needs a key file under ``/var/opt/azcmagent`` and is not covered.
* **oci** documents ``OCI_METADATA_BASE_URL`` for the instance metadata, but the federation
  (token) endpoint has no environment override: pass ``federation_endpoint=`` (see
  :meth:`OCIMetadataServer.signer_kwargs`). Code that builds
  ``InstancePrincipalsSecurityTokenSigner()`` without it (ocifs ``iam_type="instance_principal"``)
  would ask ``https://auth.{region}.oraclecloud.com``; test such paths at the mapping layer.

The stand-ins check what the real services check (IMDSv2 session tokens, the
``Metadata-Flavor`` header, the identity header, OCI's request signature with the leaf
certificate) and refuse otherwise, so a test passes only if the SDK spoke the protocol.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import http.server
import importlib
import json
import os
import re
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple, TypeVar
from urllib.parse import parse_qsl, urlsplit

from unifs.testing.network import is_loopback

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = [
    "AWSMetadataServer",
    "AzureManagedIdentityServer",
    "GCEMetadataServer",
    "MetadataServer",
    "OCIMetadataServer",
    "RecordedRequest",
    "reload_google_auth_metadata",
]

_S = TypeVar("_S", bound="MetadataServer")


def reload_google_auth_metadata() -> None:
    """Make google-auth re-read ``GCE_METADATA_HOST`` and ``NO_GCE_CHECK`` from the environment.

    google-auth copies both into module constants when
    ``google.auth.compute_engine._metadata`` is first imported, so changing the environment
    later has no effect until the module is re-imported. Call this after pointing the
    environment at a :class:`GCEMetadataServer`, and again after restoring it, so later code
    does not keep talking to a stopped stand-in. Does nothing if google-auth is not loaded
    yet (its first import will read the environment anyway).
    """
    module = sys.modules.get("google.auth.compute_engine._metadata")
    if module is not None:
        importlib.reload(module)


# -- common machinery ----------------------------------------------------------------------


class RecordedRequest(NamedTuple):
    """One request a stand-in received, for a test to assert that the SDK really asked."""

    method: str
    #: the request target as sent, query string included
    path: str
    #: lower-cased names; only the headers the protocol is about (see ``logged_headers``)
    headers: dict[str, str]

    @property
    def route(self) -> str:
        """The path without its query string."""
        return urlsplit(self.path).path

    @property
    def query(self) -> dict[str, str]:
        """The query parameters (last value wins)."""
        return dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes = b""
    content_type: str = "text/plain"
    headers: tuple[tuple[str, str], ...] = ()


def _text(text: str, status: int = 200, headers: tuple[tuple[str, str], ...] = ()) -> _Reply:
    return _Reply(status, text.encode(), "text/plain; charset=utf-8", headers)


def _json(payload: Any, status: int = 200, headers: tuple[tuple[str, str], ...] = ()) -> _Reply:
    return _Reply(status, json.dumps(payload).encode(), "application/json", headers)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _HTTPServer
    # HTTP/1.0: one request per connection, so stop() leaves no idle keep-alive threads.
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log replaces stderr noise

    def do_GET(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.server.standin._dispatch(self.command, self.path, headers, body)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], standin: MetadataServer) -> None:
        self.standin = standin
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-reply (an SDK timing out) is not the stand-in's fault.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class MetadataServer:
    """Base class: a threaded HTTP server on 127.0.0.1 that logs every request it answers.

    Subclasses implement :meth:`_respond`, :meth:`env` and, if needed, :meth:`unset_env`.
    """

    #: request headers (lower case) copied into the request log
    logged_headers: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        if not is_loopback(host):
            # a metadata stand-in must never be reachable from, or mistaken for, the network
            raise ValueError(f"stand-ins bind to loopback only, not {host!r}")
        self._address = (host, port)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self: _S) -> _S:
        """Listen on the loopback port (a free one for ``port=0``) and serve in a thread."""
        if self._httpd is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        self._httpd = _HTTPServer(self._address, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- what tests look at ---------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on."""
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not running; call start()")
        return int(self._httpd.server_address[1])

    @property
    def endpoint(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://{self._address[0]}:{self.port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the requests logged so far."""
        with self._lock:
            self._requests.clear()

    def env(self) -> dict[str, str]:
        """Environment variables that point the SDK at this stand-in."""
        raise NotImplementedError

    def unset_env(self) -> tuple[str, ...]:
        """Environment variables that must be absent, or the SDK would not ask the stand-in."""
        return ()

    def environ(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Copy ``base`` (default ``os.environ``) with :meth:`unset_env` and :meth:`env` applied."""
        result = dict(os.environ if base is None else base)
        for name in self.unset_env():
            result.pop(name, None)
        result.update(self.env())
        return result

    # ---- request handling -----------------------------------------------------------------

    def _dispatch(self, method: str, target: str, headers: dict[str, str], body: bytes) -> _Reply:
        logged = {k: headers[k] for k in self.logged_headers if k in headers}
        with self._lock:
            self._requests.append(RecordedRequest(method, target, logged))
        split = urlsplit(target)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        return self._respond(method, split.path, query, headers, body)

    def _respond(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> _Reply:
        raise NotImplementedError

    def __repr__(self) -> str:
        where = self.endpoint if self._httpd is not None else "stopped"
        return f"<{type(self).__name__} {where}>"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


# -- AWS: EC2 instance metadata service (IMDSv2) ---------------------------------------------


class AWSMetadataServer(MetadataServer):
    """Stand in for EC2's instance metadata service (IMDSv2) to test IAM-role credentials.

    Serves ``PUT /latest/api/token`` (requires ``X-aws-ec2-metadata-token-ttl-seconds``),
    the role listing and role credentials under ``/latest/meta-data/iam/security-credentials/``,
    the placement (``availability-zone``, ``region``) and
    ``/latest/dynamic/instance-identity/document``. Every GET needs a session token from
    the PUT (401 otherwise) unless ``imds_v1=True``.

    botocore reads ``AWS_EC2_METADATA_SERVICE_ENDPOINT`` and ``AWS_EC2_METADATA_DISABLED`` when
    a session builds its credential chain (utils.IMDSFetcher, credentials.InstanceMetadataProvider).
    """

    logged_headers = (
        "x-aws-ec2-metadata-token",
        "x-aws-ec2-metadata-token-ttl-seconds",
        "user-agent",
    )

    _MAX_TTL = 21600

    def __init__(
        self,
        *,
        access_key_id: str = "ASIAUNIFSTESTIMDS001",
        secret_access_key: str = "unifs-test-imds-secret-access-key",
        token: str = "unifs-test-imds-session-token",
        role: str = "unifs-test-role",
        region: str = "us-east-1",
        expiration: datetime | None = None,
        imds_v1: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.token = token
        self.role = role
        self.region = region
        #: None: six hours after each request, so a long-lived stand-in never serves stale keys
        self.expiration = expiration
        self.imds_v1 = imds_v1
        self._session_tokens: dict[str, float] = {}

    def env(self) -> dict[str, str]:
        """``AWS_EC2_METADATA_SERVICE_ENDPOINT`` plus empty shared config files."""
        return {
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": f"{self.endpoint}/",
            # "true" (what the network guard sets) makes IMDSFetcher refuse before any request
            "AWS_EC2_METADATA_DISABLED": "false",
            # an empty file for each file the chain reads before IMDS, so ~/.aws cannot win
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_CONFIG_FILE": os.devnull,
            "BOTO_CONFIG": os.devnull,
        }

    def unset_env(self) -> tuple[str, ...]:
        """Credential sources botocore tries before the instance metadata service."""
        return (
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN",
            "AWS_CREDENTIAL_EXPIRATION",
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_CREDENTIAL_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_ROLE_ARN",
            "AWS_ROLE_SESSION_NAME",
        )

    def credentials_document(self) -> dict[str, str]:
        """The JSON body served for the role, as EC2 shapes it."""
        now = _utcnow()
        expires = self.expiration or now + timedelta(hours=6)
        return {
            "Code": "Success",
            "LastUpdated": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Type": "AWS-HMAC",
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "Token": self.token,
            "Expiration": expires.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def _identity_document(self) -> dict[str, str]:
        return {
            "accountId": "123456789012",
            "architecture": "x86_64",
            "availabilityZone": f"{self.region}a",
            "imageId": "ami-0123456789abcdef0",
            "instanceId": "i-0123456789abcdef0",
            "instanceType": "t3.micro",
            "pendingTime": "2024-01-01T00:00:00Z",
            "privateIp": "10.0.0.10",
            "region": self.region,
            "version": "2017-09-30",
        }

    def _respond(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> _Reply:
        if path == "/latest/api/token":
            if method != "PUT":
                return _text("Method Not Allowed", 405)
            return self._issue_session_token(headers)
        if method != "GET":
            return _text("Method Not Allowed", 405)
        denied = self._check_session(headers)
        if denied is not None:
            return denied
        route = path.rstrip("/")
        creds_dir = "/latest/meta-data/iam/security-credentials"
        if route == creds_dir:
            return _text(self.role)
        if route.startswith(creds_dir + "/"):
            if route[len(creds_dir) + 1 :] != self.role:
                return _text("Not Found", 404)
            # EC2 serves this JSON as text/plain
            return _text(json.dumps(self.credentials_document(), indent=2))
        if route == "/latest/meta-data/placement/availability-zone":
            return _text(f"{self.region}a")
        if route == "/latest/meta-data/placement/region":
            return _text(self.region)
        if route == "/latest/dynamic/instance-identity/document":
            return _text(json.dumps(self._identity_document(), indent=2))
        return _text("Not Found", 404)

    def _issue_session_token(self, headers: dict[str, str]) -> _Reply:
        ttl_text = headers.get("x-aws-ec2-metadata-token-ttl-seconds", "")
        if not ttl_text.isdigit() or not 1 <= int(ttl_text) <= self._MAX_TTL:
            return _text("Bad Request", 400)
        session_token = base64.urlsafe_b64encode(secrets.token_bytes(30)).decode()
        with self._lock:
            self._session_tokens[session_token] = time.monotonic() + int(ttl_text)
        return _text(session_token, headers=(("X-aws-ec2-metadata-token-ttl-seconds", ttl_text),))

    def _check_session(self, headers: dict[str, str]) -> _Reply | None:
        session_token = headers.get("x-aws-ec2-metadata-token")
        if session_token is None:
            return None if self.imds_v1 else _text("Unauthorized", 401)
        with self._lock:
            expires = self._session_tokens.get(session_token)
        if expires is None or expires < time.monotonic():
            return _text("Unauthorized", 401)
        return None


# -- GCP: Compute Engine metadata server ---------------------------------------------------


class GCEMetadataServer(MetadataServer):
    """Stand in for the GCE metadata server to test default (workload identity) credentials.

    Answers the detection ping (``GET /`` with the ``Metadata-Flavor: Google`` response
    header), ``/computeMetadata/v1/project/project-id``, the service account's
    ``email``/``scopes``/``token`` and its ``?recursive=true`` summary, for ``default`` and for
    the account's e-mail. Paths under ``/computeMetadata/v1`` need the request header
    ``Metadata-Flavor: Google`` (403 otherwise), as on GCE.

    See :func:`reload_google_auth_metadata`: google-auth reads ``GCE_METADATA_HOST`` at import.
    """

    logged_headers = ("metadata-flavor", "x-goog-api-client", "x-forwarded-for")

    _ROOT = "/computeMetadata/v1"

    def __init__(
        self,
        *,
        access_token: str = "ya29.unifs-test-gce-access-token",
        email: str = "unifs-test@unifs-test.iam.gserviceaccount.com",
        project_id: str = "unifs-test",
        numeric_project_id: str = "123456789012",
        scopes: Iterable[str] = ("https://www.googleapis.com/auth/cloud-platform",),
        expires_in: int = 3599,
        universe_domain: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.access_token = access_token
        self.email = email
        self.project_id = project_id
        self.numeric_project_id = numeric_project_id
        self.scopes = list(scopes)
        self.expires_in = expires_in
        #: None: 404, after which google-auth assumes googleapis.com, as on most of GCE
        self.universe_domain = universe_domain

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, the form ``GCE_METADATA_HOST`` and ``GCE_METADATA_IP`` take."""
        return f"{self._address[0]}:{self.port}"

    def env(self) -> dict[str, str]:
        """``GCE_METADATA_HOST``/``GCE_METADATA_IP`` plus what lets detection run and find it."""
        return {
            "GCE_METADATA_HOST": self.host,  # metadata reads (google-auth reads it at import)
            "GCE_METADATA_IP": self.host,  # the detection ping (read per call)
            # google-auth skips detection only for exactly "true"; say so explicitly
            "NO_GCE_CHECK": "false",
            "GCE_METADATA_MTLS_MODE": "none",  # the stand-in speaks plain HTTP
            # ADC is looked up as $CLOUDSDK_CONFIG/application_default_credentials.json, and a
            # developer's gcloud login would win over the metadata server
            "CLOUDSDK_CONFIG": os.devnull,
        }

    def unset_env(self) -> tuple[str, ...]:
        """Sources google.auth.default() prefers, and the project overrides."""
        return (
            "GOOGLE_APPLICATION_CREDENTIALS",
            "GOOGLE_CLOUD_PROJECT",
            "GCLOUD_PROJECT",
            "GCE_METADATA_ROOT",
            "APPENGINE_RUNTIME",
            # would make google-auth request certificate-bound tokens (POST with a chain)
            "GOOGLE_API_CERTIFICATE_CONFIG",
        )

    def _account(self, name: str) -> bool:
        return name in ("default", self.email)

    def _respond(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> _Reply:
        flavor = (("Metadata-Flavor", "Google"), ("Server", "Metadata Server for VM"))
        if "x-forwarded-for" in headers:
            # GCE refuses proxied requests, so a proxy cannot launder them
            return _text("Forbidden", 403, flavor)
        if path == "/":
            return _text("computeMetadata/\n", headers=flavor)
        if not path.startswith(self._ROOT):
            return _text("Not Found", 404, flavor)
        if headers.get("metadata-flavor") != "Google":
            return _text("Missing required header: Metadata-Flavor: Google", 403, flavor)
        if method != "GET":
            return _text("Method Not Allowed", 405, flavor)
        rel = path[len(self._ROOT) :].strip("/")
        recursive = query.get("recursive", "").lower() == "true"
        if rel == "":
            return _text("instance/\nproject/\nuniverse/\n", headers=flavor)
        if rel == "project/project-id":
            return _text(self.project_id, headers=flavor)
        if rel == "project/numeric-project-id":
            return _text(self.numeric_project_id, headers=flavor)
        if rel == "universe/universe-domain":
            if self.universe_domain is None:
                return _text("Not Found", 404, flavor)
            return _text(self.universe_domain, headers=flavor)
        if rel == "instance/service-accounts":
            return _text(f"default/\n{self.email}/\n", headers=flavor)
        prefix = "instance/service-accounts/"
        if not rel.startswith(prefix):
            return _text("Not Found", 404, flavor)
        account, _, leaf = rel[len(prefix) :].partition("/")
        if not self._account(account):
            return _text("Not Found", 404, flavor)
        if leaf == "":
            if recursive:
                summary = {"aliases": ["default"], "email": self.email, "scopes": self.scopes}
                return _json(summary, headers=flavor)
            return _text("aliases\nemail\nidentity\nscopes\ntoken\n", headers=flavor)
        if leaf == "email":
            return _text(self.email, headers=flavor)
        if leaf == "aliases":
            return _text("default", headers=flavor)
        if leaf == "scopes":
            return _text("\n".join(self.scopes) + "\n", headers=flavor)
        if leaf == "token":
            token = {
                "access_token": self.access_token,
                "expires_in": self.expires_in,
                "token_type": "Bearer",
            }
            return _json(token, headers=flavor)
        return _text("Not Found", 404, flavor)


# -- Azure: managed identity (App Service endpoint, or the VM IMDS endpoint) -----------------


class AzureManagedIdentityServer(MetadataServer):
    """Stand in for Azure's managed-identity token endpoint to test ManagedIdentityCredential.

    ``flavour="app_service"`` (default) is the endpoint App Service, Functions and Container
    Apps expose through ``IDENTITY_ENDPOINT`` + ``IDENTITY_HEADER``: ``GET /msi/token?
    api-version=2019-08-01&resource=...[&client_id=...]`` with the header
    ``X-IDENTITY-HEADER``. ``flavour="imds"`` is the VM endpoint
    ``GET /metadata/identity/oauth2/token`` (header ``Metadata: true``), reached through
    ``AZURE_POD_IDENTITY_AUTHORITY_HOST``. Both paths are always served; the flavour picks
    the environment :meth:`env` returns.

    The system-assigned identity gets ``access_token``; a user-assigned one is accepted only
    if its client ID is a key of ``user_assigned`` and gets that value as its token.
    """

    logged_headers = ("x-identity-header", "metadata", "user-agent")

    APP_SERVICE_PATH = "/msi/token"
    IMDS_PATH = "/metadata/identity/oauth2/token"
    #: client ID reported for the system-assigned identity
    SYSTEM_CLIENT_ID = "00000000-0000-0000-0000-00000000a55d"

    def __init__(
        self,
        *,
        access_token: str = "unifs-test-azure-managed-identity-token",
        user_assigned: Mapping[str, str] | None = None,
        expires_in: int = 3600,
        flavour: Literal["app_service", "imds"] = "app_service",
        identity_header: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        if flavour not in ("app_service", "imds"):
            raise ValueError(f"flavour must be 'app_service' or 'imds', not {flavour!r}")
        self.access_token = access_token
        self.user_assigned = dict(user_assigned or {})
        self.expires_in = expires_in
        self.flavour = flavour
        self.identity_header = identity_header or secrets.token_hex(16)

    def env(self) -> dict[str, str]:
        """``IDENTITY_ENDPOINT``/``IDENTITY_HEADER``, or ``AZURE_POD_IDENTITY_AUTHORITY_HOST``."""
        if self.flavour == "app_service":
            return {
                "IDENTITY_ENDPOINT": f"{self.endpoint}{self.APP_SERVICE_PATH}",
                "IDENTITY_HEADER": self.identity_header,
            }
        return {"AZURE_POD_IDENTITY_AUTHORITY_HOST": self.endpoint}

    def unset_env(self) -> tuple[str, ...]:
        """Variables that would select another flavour or another credential first."""
        # IDENTITY_SERVER_THUMBPRINT turns App Service into Service Fabric; MSI_* is Azure ML
        # or Cloud Shell; the workload-identity trio, and in DefaultAzureCredential the
        # EnvironmentCredential variables, are tried before managed identity.
        names = [
            "IDENTITY_SERVER_THUMBPRINT",
            "IMDS_ENDPOINT",
            "MSI_ENDPOINT",
            "MSI_SECRET",
            "AZURE_FEDERATED_TOKEN_FILE",
            "AZURE_TENANT_ID",
            "AZURE_CLIENT_ID",
            "AZURE_CLIENT_SECRET",
            "AZURE_CLIENT_CERTIFICATE_PATH",
            "AZURE_USERNAME",
            "AZURE_PASSWORD",
        ]
        if self.flavour == "app_service":
            names.append("AZURE_POD_IDENTITY_AUTHORITY_HOST")
        else:
            names += ["IDENTITY_ENDPOINT", "IDENTITY_HEADER"]
        return tuple(names)

    def _respond(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> _Reply:
        if path == self.APP_SERVICE_PATH:
            if headers.get("x-identity-header") != self.identity_header:
                return _json({"statusCode": 401, "message": "Unauthorized"}, 401)
            if query.get("api-version") != "2019-08-01":
                return _json({"statusCode": 400, "message": "Unsupported api-version"}, 400)
            return self._token(method, query, expires_in_field=False)
        if path == self.IMDS_PATH:
            if headers.get("metadata", "").lower() != "true":
                error = {
                    "error": "invalid_request",
                    "error_description": "Required metadata header not specified",
                }
                return _json(error, 400)
            if not query.get("api-version"):
                return _json({"error": "invalid_request", "error_description": "api-version"}, 400)
            return self._token(method, query, expires_in_field=True)
        return _json({"error": "not_found"}, 404)

    def _token(self, method: str, query: dict[str, str], *, expires_in_field: bool) -> _Reply:
        if method != "GET":
            return _json({"error": "invalid_request"}, 405)
        resource = query.get("resource")
        if not resource:
            return _json({"error": "invalid_request", "error_description": "resource"}, 400)
        if any(k in query for k in ("object_id", "mi_res_id", "msi_res_id", "principal_id")):
            # only client IDs are modelled; say so rather than answer as someone else
            return _json({"error": "invalid_request", "error_description": "unsupported id"}, 400)
        client_id = query.get("client_id")
        if client_id is None:
            token, client_id = self.access_token, self.SYSTEM_CLIENT_ID
        elif client_id in self.user_assigned:
            token = self.user_assigned[client_id]
        else:
            message = f"No managed identity with client_id {client_id!r} is assigned"
            return _json({"statusCode": 400, "message": message, "error": "invalid_request"}, 400)
        now = int(time.time())
        payload = {
            "access_token": token,
            "expires_on": str(now + self.expires_in),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": client_id,
        }
        if expires_in_field:
            payload |= {
                "expires_in": str(self.expires_in),
                "ext_expires_in": str(self.expires_in),
                "not_before": str(now),
                "refresh_token": "",
            }
        return _json(payload)


# -- OCI: instance metadata (v2) and the auth service's X.509 federation -----------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _pem_body_der(text: str) -> bytes:
    """DER bytes of a PEM body with or without its BEGIN/END lines (the SDK strips them)."""
    lines = [ln for ln in text.strip().splitlines() if not ln.startswith("-----")]
    return base64.b64decode("".join(lines), validate=True)


class _FederationRefused(Exception):
    pass


class OCIMetadataServer(MetadataServer):
    """Stand in for OCI instance metadata and the auth service to test instance principals.

    Instance metadata, all under ``/opc/v2`` and requiring ``Authorization: Bearer Oracle``:
    ``instance/region``, ``instance/canonicalRegionName``, ``instance/id``, ``instance/``,
    ``identity/cert.pem`` (a leaf certificate whose subject carries ``opc-tenant:<tenancy>``),
    ``identity/key.pem`` and ``identity/intermediate.pem`` (the CA that issued the leaf).

    Federation, ``POST /v1/x509``: checks the request the way the auth service does (the
    ``keyId`` names the tenancy and the leaf's SHA-1 fingerprint, the draft-cavage signature
    verifies with the leaf's key, the body's digest, the certificate and intermediates are the
    ones served here) and returns ``{"token": <RS256 JWT>}`` whose ``jwk`` claim is the session
    public key the SDK sent. Issued tokens are in :attr:`tokens`; verify them with
    :attr:`token_public_key_pem`.

    The metadata URL comes from ``OCI_METADATA_BASE_URL`` (:meth:`env`); the federation URL
    has no environment override, so pass :meth:`signer_kwargs` to
    ``InstancePrincipalsSecurityTokenSigner``. Needs ``cryptography``.
    """

    logged_headers = ("authorization", "content-type", "x-content-sha256", "date")

    METADATA_PREFIX = "/opc/v2"
    FEDERATION_PATH = "/v1/x509"
    _MAX_CLOCK_SKEW = timedelta(minutes=5)

    def __init__(
        self,
        *,
        region: str = "us-ashburn-1",
        tenancy_id: str | None = None,
        compartment_id: str | None = None,
        instance_id: str | None = None,
        token_lifetime: timedelta = timedelta(hours=1),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)

        def ocid(kind: str, region: str = "") -> str:
            return f"ocid1.{kind}.oc1.{region}.unifstest{uuid.uuid4().hex[:16]}"

        self.region = region
        self.tenancy_id = tenancy_id or ocid("tenancy")
        self.compartment_id = compartment_id or ocid("compartment")
        self.instance_id = instance_id or ocid("instance", region)
        self.token_lifetime = token_lifetime
        self._tokens: list[str] = []
        self._make_identity()

    # ---- identity material ----------------------------------------------------------------

    def _make_identity(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        now = _utcnow()
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ca_name = x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, "unifs test instance identity intermediate")]
        )
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ou = NameOID.ORGANIZATIONAL_UNIT_NAME
        leaf_name = x509.Name(
            [
                # OCI puts the instance OCID here; X.509 caps a CN at 64 characters
                x509.NameAttribute(NameOID.COMMON_NAME, self.instance_id[-64:]),
                x509.NameAttribute(ou, "opc-certtype:instance"),
                x509.NameAttribute(ou, f"opc-compartment:{self.compartment_id}"),
                x509.NameAttribute(ou, f"opc-instance:{self.instance_id}"),
                x509.NameAttribute(ou, f"opc-tenant:{self.tenancy_id}"),
            ]
        )
        leaf_cert = (
            x509.CertificateBuilder()
            .subject_name(leaf_name)
            .issuer_name(ca_name)
            .public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .sign(ca_key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        self._leaf_cert: x509.Certificate = leaf_cert
        self._leaf_der = leaf_cert.public_bytes(serialization.Encoding.DER)
        self._ca_der = ca_cert.public_bytes(serialization.Encoding.DER)
        #: the leaf certificate served at identity/cert.pem
        self.leaf_certificate_pem = leaf_cert.public_bytes(pem).decode("ascii")
        #: the issuing CA served at identity/intermediate.pem
        self.intermediate_certificate_pem = ca_cert.public_bytes(pem).decode("ascii")
        self._leaf_key_pem = leaf_key.private_bytes(
            pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ).decode("ascii")
        fingerprint = leaf_cert.fingerprint(hashes.SHA1())
        #: the keyId the SDK must sign federation requests with
        self.federation_key_id = "{}/fed-x509/{}".format(
            self.tenancy_id, ":".join(f"{b:02X}" for b in fingerprint)
        )
        # tokens are signed with their own key, so a test can tell ours from any other
        self._token_key: rsa.RSAPrivateKey = rsa.generate_private_key(
            public_exponent=65537, key_size=2048
        )
        #: PEM public key that verifies the RS256 signature of every issued token
        self.token_public_key_pem = (
            self._token_key.public_key()
            .public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode("ascii")
        )

    # ---- what tests use -------------------------------------------------------------------

    @property
    def metadata_base_url(self) -> str:
        """``http://127.0.0.1:PORT/opc/v2``, the value of ``OCI_METADATA_BASE_URL``."""
        return f"{self.endpoint}{self.METADATA_PREFIX}"

    @property
    def federation_endpoint(self) -> str:
        """``http://127.0.0.1:PORT/v1/x509``, for the signer's ``federation_endpoint`` kwarg."""
        return f"{self.endpoint}{self.FEDERATION_PATH}"

    @property
    def tokens(self) -> list[str]:
        """Security tokens (JWTs) issued so far, oldest first."""
        with self._lock:
            return list(self._tokens)

    def env(self) -> dict[str, str]:
        """``OCI_METADATA_BASE_URL`` (the signer reads it in its constructor)."""
        return {"OCI_METADATA_BASE_URL": self.metadata_base_url}

    def signer_kwargs(self) -> dict[str, str]:
        """Keyword arguments for ``InstancePrincipalsSecurityTokenSigner``: the federation URL."""
        return {"federation_endpoint": self.federation_endpoint}

    # ---- request handling -----------------------------------------------------------------

    def _respond(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> _Reply:
        if path == self.FEDERATION_PATH:
            if method != "POST":
                return _json({"code": "MethodNotAllowed", "message": method}, 405)
            try:
                return _json({"token": self._federate(path, headers, body)})
            except _FederationRefused as refused:
                return _json({"code": "NotAuthenticated", "message": str(refused)}, 401)
        if not path.startswith(self.METADATA_PREFIX + "/"):
            return _json({"code": "NotFound", "message": path}, 404)
        if headers.get("authorization") != "Bearer Oracle":
            # IMDS v2 refuses requests without it (v1 did not ask)
            return _json({"code": "NotAuthorized", "message": "Authorization required"}, 401)
        if method != "GET":
            return _json({"code": "MethodNotAllowed", "message": method}, 405)
        rel = path[len(self.METADATA_PREFIX) + 1 :].rstrip("/")
        instance = {
            "id": self.instance_id,
            "compartmentId": self.compartment_id,
            "region": self.region,
            "canonicalRegionName": self.region,
            "displayName": "unifs-test-instance",
        }
        served = {
            "instance/region": self.region,
            "instance/canonicalRegionName": self.region,
            "instance/id": self.instance_id,
            "instance/compartmentId": self.compartment_id,
            "identity/cert.pem": self.leaf_certificate_pem,
            "identity/key.pem": self._leaf_key_pem,
            "identity/intermediate.pem": self.intermediate_certificate_pem,
        }
        if rel == "instance":
            return _json(instance)
        if rel in served:
            return _text(served[rel])
        return _json({"code": "NotFound", "message": path}, 404)

    def _federate(self, path: str, headers: dict[str, str], body: bytes) -> str:
        """Check a token request as the auth service would; return a new security token."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        scheme, _, rest = headers.get("authorization", "").partition(" ")
        if scheme != "Signature":
            raise _FederationRefused("expected an Authorization: Signature header")
        params = dict(re.findall(r'([A-Za-z]+)="([^"]*)"', rest))
        if params.get("algorithm") != "rsa-sha256" or params.get("version") != "1":
            raise _FederationRefused("signature must be version 1, rsa-sha256")
        if params.get("keyId") != self.federation_key_id:
            raise _FederationRefused(f"unknown keyId {params.get('keyId')!r}")
        signed = params.get("headers", "").lower().split()
        required = {
            "date",
            "(request-target)",
            "content-length",
            "content-type",
            "x-content-sha256",
        }
        if not required <= set(signed):
            raise _FederationRefused(f"signed headers lack {sorted(required - set(signed))}")
        lines = []
        for name in signed:
            if name == "(request-target)":
                lines.append(f"(request-target): post {path}")
            elif name in headers:
                lines.append(f"{name}: {headers[name]}")
            else:
                raise _FederationRefused(f"signed header {name!r} is absent")
        leaf_public = self._leaf_cert.public_key()
        assert isinstance(leaf_public, rsa.RSAPublicKey)
        try:
            leaf_public.verify(
                base64.b64decode(params.get("signature", ""), validate=True),
                "\n".join(lines).encode("ascii"),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (InvalidSignature, ValueError, UnicodeEncodeError):
            raise _FederationRefused("signature does not verify with the leaf key") from None
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
        if headers.get("x-content-sha256") != digest:
            raise _FederationRefused("x-content-sha256 does not match the body")
        try:
            sent = email.utils.parsedate_to_datetime(headers.get("date", ""))
        except (TypeError, ValueError):
            raise _FederationRefused("unparseable date") from None
        if abs(_utcnow() - sent) > self._MAX_CLOCK_SKEW:
            raise _FederationRefused("date is outside the allowed clock skew")
        try:
            payload = json.loads(body)
            certificate = _pem_body_der(payload["certificate"])
            intermediates = [_pem_body_der(c) for c in payload.get("intermediateCertificates", [])]
            session_key = serialization.load_der_public_key(_pem_body_der(payload["publicKey"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise _FederationRefused(f"malformed request body: {exc}") from None
        if certificate != self._leaf_der:
            raise _FederationRefused("certificate is not this instance's leaf certificate")
        if self._ca_der not in intermediates:
            raise _FederationRefused("intermediateCertificates lack the issuing CA")
        if not isinstance(session_key, rsa.RSAPublicKey):
            raise _FederationRefused("publicKey is not an RSA key")
        return self._issue_token(session_key, payload.get("purpose"))

    def _issue_token(self, session_key: rsa.RSAPublicKey, purpose: str | None) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        numbers = session_key.public_numbers()
        jwk = {
            "kid": "asw",
            "n": _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": _b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
        }
        now = int(time.time())
        claims = {
            "sub": self.instance_id,
            "iss": "authService.oracle.com",
            "aud": "oci",
            "ptype": "instance",
            "opc-certtype": "instance",
            "opc-instance": self.instance_id,
            "opc-compartment": self.compartment_id,
            "opc-tenant": self.tenancy_id,
            "tenant": self.tenancy_id,
            "iat": now,
            "exp": now + int(self.token_lifetime.total_seconds()),
            "jti": str(uuid.uuid4()),
            "jwk": json.dumps(jwk),
        }
        if purpose is not None:
            claims["purpose"] = purpose
        header = {"alg": "RS256", "typ": "JWT", "kid": "unifs-test"}
        signing_input = (
            _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        )
        signature = self._token_key.sign(
            signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
        )
        token = f"{signing_input}.{_b64url(signature)}"
        with self._lock:
            self._tokens.append(token)
        return token
