"""HTTP plumbing for unifs's OCI filesystem: auth, request signing, errors and retries.

Requests are signed with the oci SDK's own signers (``requests.auth.AuthBase`` objects that
add ``date``/``host``/``Authorization`` and, for bodies, ``x-content-sha256``): every auth
mode the SDK knows -- API keys, security tokens, instance, resource and OKE workload
principals with their token refresh -- signs an aiohttp request exactly as it signs one of
its own. Nothing here logs a header, a key or a PAR token.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from fsspec.asyn import sync

from unifs.errors import AuthError, NotRestoredError, ObjectChangedError
from unifs.redact import install_log_filters
from unifs.types import RetryPolicy

__all__ = [
    "RETRYABLE_STATUS",
    "AnonymousSigner",
    "NotRestoredError",
    "OCIAuth",
    "Reply",
    "RetrySettings",
    "Transport",
    "build_auth",
    "chunks",
    "error_for",
    "instance_principal_signer",
    "part",
    "poll",
    "retry_after_seconds",
    "retry_settings",
    "sign",
]

#: answers worth another try: throttling and the server-side 5xx family
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})

_IAM_TYPES = ("api_key", "instance_principal", "resource_principal", "oke_principal")


# ocifs (still installed beside unifs in many environments) logs its whole config dict at
# DEBUG, private key content and passphrase included: mask those values in its records.
install_log_filters(("ocifs",), later=False)
logger = logging.getLogger(__name__)
_T = TypeVar("_T")


class AnonymousSigner:
    """Leaves OCI requests unsigned: public buckets and what a PAR opens.

    A plain module-level class, so a filesystem built with it pickles (spawned workers,
    Dask). The oci SDK's config check accepts it as a self-sufficient signer.
    """

    #: read by OCIProvider.capabilities: nothing here can create a PAR
    unsigned = True

    def __call__(self, request: Any, enforce_content_headers: bool = True) -> Any:
        return request

    def do_request_sign(self, request: Any, enforce_content_headers: bool = True) -> Any:
        return request

    def refresh_security_token(self) -> None:
        pass

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AnonymousSigner)

    def __hash__(self) -> int:
        return hash(AnonymousSigner)

    def __repr__(self) -> str:
        return "AnonymousSigner()"


@dataclass
class OCIAuth:
    """What the filesystem needs to reach Object Storage: a signer, a region, an endpoint."""

    signer: Any
    region: str | None
    endpoint: str
    tenancy: str | None = None

    @property
    def unsigned(self) -> bool:
        return bool(getattr(self.signer, "unsigned", False))


#: where the OCI CLI (and unifs) look for a config file, in order, before ~/.oci/config
CONFIG_FILE_ENV = (
    "OCI_CLI_CONFIG_FILE",
    "OCI_CONFIG_FILE",
    "OCI_CONFIG_PATH",
    "OCIFS_CONFIG_LOCATION",
)
#: where they look for the profile in it, before DEFAULT
PROFILE_ENV = ("OCI_CLI_PROFILE", "OCI_PROFILE", "OCIFS_CONFIG_PROFILE")
DEFAULT_CONFIG_FILE = "~/.oci/config"

NEEDS_CREDENTIALS = (
    "OCI needs credentials: pass -a auth=user_principal (reads ~/.oci/config; "
    "-a config_path=FILE -a profile=NAME for another), -a auth=instance_principal on an OCI "
    "instance, or set OCI_CONFIG_FILE (in Python: auth={'auth': 'user_principal', ...})"
)


def config_file() -> str:
    """The OCI config file the OCI CLI would read: the first of :data:`CONFIG_FILE_ENV` that
    is set, else ``~/.oci/config`` (expanded; it may not exist)."""
    for name in CONFIG_FILE_ENV:
        if os.environ.get(name):
            return os.path.expanduser(os.environ[name])
    return os.path.expanduser(DEFAULT_CONFIG_FILE)


def config_profile() -> str:
    """The profile the OCI CLI would use: the first of :data:`PROFILE_ENV` set, else DEFAULT."""
    return next((os.environ[n] for n in PROFILE_ENV if os.environ.get(n)), "DEFAULT")


def _load_config(config: Any, profile: str | None) -> dict[str, Any]:
    from oci.config import from_file

    if isinstance(config, Mapping):
        return dict(config)
    location = config or config_file()
    profile = profile or config_profile()
    return dict(from_file(file_location=os.path.expanduser(location), profile_name=profile))


def _config_signer(config: dict[str, Any]) -> Any:
    """The signer an OCI config profile describes: a session token's, else the API key's."""
    import oci

    token_file = config.get("security_token_file")
    if token_file:
        with open(os.path.expanduser(token_file)) as handle:
            token = handle.read().strip()
        if config.get("key_content"):
            key = oci.signer.load_private_key(config["key_content"], config.get("pass_phrase"))
        else:
            key = oci.signer.load_private_key_from_file(
                config["key_file"], config.get("pass_phrase")
            )
        return oci.auth.signers.SecurityTokenSigner(token, key)
    oci.config.validate_config(config)
    return oci.signer.Signer(
        config["tenancy"],
        config["user"],
        config["fingerprint"],
        private_key_file_location=config.get("key_file"),
        pass_phrase=config.get("pass_phrase"),
        private_key_content=config.get("key_content"),
    )


def instance_principal_signer(federation_endpoint: str | None = None) -> Any:
    """The SDK's instance-principal signer; a metadata service that answers with an HTTP
    error (a proxy answering 169.254.169.254 off the cloud, say) is one unifs line naming
    the mode and the service, not the SDK's raw error dict."""
    import oci

    from unifs.auth import AuthError

    kwargs = {"federation_endpoint": federation_endpoint} if federation_endpoint else {}
    try:
        return oci.auth.signers.InstancePrincipalsSecurityTokenSigner(**kwargs)
    except oci.exceptions.ServiceError as exc:
        base = os.environ.get("OCI_METADATA_BASE_URL") or "http://169.254.169.254/opc/v2"
        raise AuthError(
            f"auth 'instance_principal' needs the OCI instance metadata service at {base}, "
            f"which answered HTTP {exc.status}: this machine does not look like an OCI "
            "compute instance (off the cloud, a proxy may be answering that address: "
            "exempt it with NO_PROXY=169.254.169.254). Run on an instance, or choose "
            "another auth mode (see docs/auth.md)"
        ) from None


def build_auth(
    *,
    config: Any,
    signer: Any,
    profile: str | None,
    iam_type: str | None,
    region: str | None,
    config_kwargs: Mapping[str, Any],
    federation_endpoint: str | None = None,
) -> OCIAuth:
    """Resolve ocifs's storage options to a signer, region and endpoint (ocifs's rules).

    A ``signer`` wins; then ``iam_type``; then a ``config`` (dict or file path); then the
    ``OCIFS_IAM_TYPE`` environment variable; then a resource principal.
    """
    import oci

    signer = signer or config_kwargs.get("signer")
    loaded: dict[str, Any] = {}
    if signer is None:
        if iam_type is None:
            if config:
                iam_type = "api_key"
            elif os.environ.get("OCIFS_IAM_TYPE"):
                iam_type = os.environ["OCIFS_IAM_TYPE"]
            elif os.environ.get("OCI_RESOURCE_PRINCIPAL_VERSION"):
                iam_type = "resource_principal"
            elif os.path.isfile(config_file()):
                # as the OCI CLI does: no credentials named, a config file there is used
                iam_type, config = "api_key", config_file()
                profile = profile or config_profile()
            else:
                raise AuthError(
                    f"{NEEDS_CREDENTIALS}; there is no config file at {config_file()} and no "
                    "resource principal in the environment"
                )
        if iam_type not in _IAM_TYPES:
            raise ValueError(
                f"iam_type {iam_type!r} is not one of {', '.join(_IAM_TYPES)}; or pass a signer"
            )
        if iam_type == "api_key":
            loaded = _load_config(config, profile)
            signer = _config_signer(loaded)
        elif iam_type == "instance_principal":
            signer = instance_principal_signer(federation_endpoint)
        elif iam_type == "resource_principal":
            try:
                signer = oci.auth.signers.get_resource_principals_signer()
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise AuthError(
                    "auth 'resource_principal' found no resource principal in the environment "
                    f"({type(exc).__name__}; OCI_RESOURCE_PRINCIPAL_VERSION and the files it "
                    "names are set inside OCI Functions and Data Science jobs). "
                    + NEEDS_CREDENTIALS
                ) from None
            region = region or os.environ.get("OCI_RESOURCE_PRINCIPAL_REGION")
        else:  # oke_principal
            signer = oci.auth.signers.get_oke_workload_identity_resource_principal_signer()
            region = region or os.environ.get("OCI_REGION")
    else:
        if config:
            loaded = _load_config(config, profile)
        refresh = getattr(signer, "refresh_security_token", None)
        if refresh is not None and not getattr(signer, "unsigned", False):
            refresh()  # as ocifs does on connect: fail now on a dead token, not mid-transfer
    region = region or loaded.get("region") or getattr(signer, "region", None)
    endpoint = config_kwargs.get("service_endpoint")
    if not endpoint:
        if not region:
            raise ValueError(
                "no OCI region: pass region='us-ashburn-1' (or a config with a region, or "
                "config_kwargs={'service_endpoint': ...})"
            )
        endpoint = oci.regions.endpoint_for(
            "object_storage",
            region=region,
            service_endpoint_template="https://objectstorage.{region}.{secondLevelDomain}",
        )
    return OCIAuth(
        signer=signer,
        region=region,
        endpoint=str(endpoint).rstrip("/"),
        tenancy=loaded.get("tenancy") or getattr(signer, "tenancy_id", None),
    )


class _Signable:
    """The part of a ``requests.PreparedRequest`` the oci signers read and write."""

    def __init__(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> None:
        from oci._vendor.requests.structures import CaseInsensitiveDict

        self.method = method
        self.url = url
        self.headers = CaseInsensitiveDict(headers)
        self.body = body
        split = urlsplit(url)
        self.path_url = split.path + (f"?{split.query}" if split.query else "")


def sign(
    signer: Any,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    sign_body: bool = True,
) -> dict[str, str]:
    """Return ``headers`` plus what ``signer`` adds (date, host, Authorization, body hash).

    ``sign_body=False`` is the SDK's ``enforce_content_headers=False``: PutObject and
    UploadPart bodies are not hashed into the signature (they may be large).
    """
    if getattr(signer, "unsigned", False):
        return dict(headers)
    request = _Signable(method, url, headers, body)
    if method in ("PUT", "POST", "PATCH"):
        request.headers.setdefault("content-length", str(len(body)))
    signer(request, enforce_content_headers=sign_body)
    out = dict(request.headers)
    # aiohttp sets Host itself from the URL; the signed value is the same netloc
    return out


def _message(payload: Any, status: int) -> tuple[str, str]:
    try:
        phrase = HTTPStatus(status).phrase.replace(" ", "")
    except ValueError:
        phrase = "Error"
    if isinstance(payload, Mapping):
        return str(payload.get("code") or phrase), str(payload.get("message") or "")
    return phrase, ""


def error_for(
    status: int,
    path: str,
    *,
    payload: Any = None,
    request_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    pinned: str | None = None,
) -> OSError:
    """The built-in exception for an OCI error answer, carrying ``status``, ``code`` and
    ``request_id`` (OCI's ``opc-request-id``, what Oracle support asks for)."""
    code, message = _message(payload, status)
    rid = f" (opc-request-id {request_id})" if request_id else ""
    text = f"{path}: {status} {code}" + (f": {message}" if message else "") + rid
    exc: OSError
    if status == 412 and pinned is not None:
        exc = ObjectChangedError(path, pinned, request_id=request_id)
    elif status == 404:
        exc = FileNotFoundError(errno.ENOENT, text)
    elif status in (401, 403):
        exc = PermissionError(errno.EACCES, text)
    elif status == 409 and code == "NotRestored":
        exc = NotRestoredError(
            errno.EACCES,
            f"{path} is in OCI's Archive tier and not restored: restore it first "
            "(fs.restore(path, wait=True), or `oci os object restore`), then read it "
            f"(a restore takes up to an hour){rid}",
        )
    elif status == 409 and code == "BucketNotEmpty":
        exc = OSError(errno.ENOTEMPTY, text)
    elif status in (409, 412) and code in (
        "IfNoneMatchFailed",
        "BucketAlreadyExists",
        "ETagMismatch",
        "NoOverwrite",
    ):
        exc = FileExistsError(errno.EEXIST, text)
    elif status == 400:
        exc = OSError(errno.EINVAL, text)
    else:
        exc = OSError(errno.EIO, text)
    exc.status = status  # type: ignore[attr-defined]
    exc.code = code  # type: ignore[attr-defined]
    exc.request_id = request_id  # type: ignore[attr-defined]
    exc.headers = dict(headers or {})  # type: ignore[attr-defined]
    return exc


#: the policy type the OCI filesystem retries under (the transfer engine's too)
RetrySettings = RetryPolicy


def retry_settings(attempts: int | None, config_kwargs: Mapping[str, Any]) -> RetryPolicy:
    """unifs's RetryPolicy for ``attempts`` tries; the SDK's NoneRetryStrategy means one."""
    if attempts is None:
        strategy = config_kwargs.get("retry_strategy")
        if strategy is not None and type(strategy).__name__ == "NoneRetryStrategy":
            attempts = 1
    return RetryPolicy(attempts=max(1, attempts)) if attempts is not None else RetryPolicy()


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait: delta-seconds or an HTTP date
    (RFC 9110); None when absent or unreadable (the policy's own back-off then)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


async def poll(
    probe: Callable[[], Awaitable[_T | None]], *, max_wait: float, first: float, longest: float
) -> _T | None:
    """Await ``probe()`` until it returns something other than None, pausing ``first``
    seconds, then twice that, ... at most ``longest``; None once ``max_wait`` is up."""
    deadline = time.monotonic() + max_wait
    delay = first
    while True:
        found = await probe()
        if found is not None:
            return found
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        await asyncio.sleep(min(delay, left))
        delay = min(delay * 2, longest)


@dataclass
class Reply:
    """A whole answer: status, headers and body."""

    status: int
    headers: Mapping[str, str]
    data: bytes

    def json(self) -> Any:
        return json.loads(self.data) if self.data else None


#: sessions a forked child inherited: never used, never closed (their sockets are the
#: parent's), kept referenced so that no finalizer runs on them in the child
_INHERITED: list[Any] = []


def part(text: str) -> str:
    """Percent-encode one REST path segment or query value (``/`` included)."""
    return quote(text, safe="")


def _close_session(loop: Any, session: Any, pid: int) -> None:
    """Close ``session`` at garbage collection or exit, from whichever thread that is."""
    if os.getpid() != pid or session.closed:
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    with contextlib.suppress(Exception):
        if running is not None and running is loop:
            running.create_task(session.close())
            return
        if loop is not None and loop.is_running() and not loop.is_closed():
            sync(loop, session.close, timeout=2)
            return
    connector = session.connector
    if connector is not None:
        connector._close()


async def chunks(content: Any, size: int) -> Any:
    """Yield ``content`` (an aiohttp stream) in pieces of about ``size`` bytes (one copy)."""
    pieces: list[bytes] = []
    held = 0
    while piece := await content.read(size - held):
        if not pieces and len(piece) >= size:
            yield piece
            continue
        pieces.append(piece)
        held += len(piece)
        if held >= size:
            yield b"".join(pieces)
            pieces, held = [], 0
    if pieces:
        yield b"".join(pieces)


def _network_error(what: str, exc: BaseException, attempts: int) -> OSError:
    """A built-in error for a request the network failed (after ``attempts`` tries).

    aiohttp's messages name at most the host and port, never the path (a PAR token).
    """
    tries = f" ({attempts} attempts)" if attempts > 1 else ""
    if isinstance(exc, asyncio.TimeoutError):
        return TimeoutError(f"{what}: no answer in time{tries}")
    return ConnectionError(f"{what}: {type(exc).__name__}: {exc}{tries}")


class Transport:
    """One OCI endpoint's HTTP client: an aiohttp session per process and event loop, the
    signer, and the retry policy. A forked child never touches its parent's session."""

    def __init__(
        self,
        auth: OCIAuth,
        retry: Any,
        *,
        connect_timeout: float,
        read_timeout: float,
        max_connections: int,
    ) -> None:
        self.auth = auth
        self.retry = retry
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_connections = max_connections
        self._session: Any = None
        self._session_loop: Any = None
        self._session_pid = 0

    async def session(self) -> Any:
        """The aiohttp session of this process and loop (opened on first use)."""
        import aiohttp

        running = asyncio.get_running_loop()
        pid = os.getpid()
        current = self._session
        if (
            current is not None
            and self._session_pid == pid
            and self._session_loop is running
            and not current.closed
        ):
            return current
        if current is not None:
            if self._session_pid != pid:
                _INHERITED.append(current)  # the parent's sockets: do not touch
            else:
                _close_session(self._session_loop, current, pid)
        connector = aiohttp.TCPConnector(limit=self.max_connections, ttl_dns_cache=300)
        session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            # aiohttp pauses the socket once 2 x read_bufsize wait unread (64 KiB default):
            # a bulk download needs a deeper buffer to keep the connection streaming
            read_bufsize=1 << 20,
            timeout=aiohttp.ClientTimeout(
                total=None, connect=self.connect_timeout, sock_read=self.read_timeout
            ),
        )
        self._session, self._session_loop, self._session_pid = session, running, pid
        weakref.finalize(self, _close_session, running, session, pid)
        return session

    async def send(
        self,
        method: str,
        rest: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        sign_body: bool = True,
        what: str,
        pinned: str | None = None,
        allow: tuple[int, ...] = (),
    ) -> Any:
        """Send one signed request, retried under the policy; return the live response.

        An error answer is raised as a built-in exception after its retries; the caller
        reads and releases a successful response.
        """
        import aiohttp
        from yarl import URL

        url = self.auth.endpoint + rest
        if params:
            url += "?" + "&".join(
                f"{part(str(k))}={part(str(v))}" for k, v in params.items() if v is not None
            )
        session = await self.session()
        attempt = 0
        while True:
            # masked by unifs.redact's filter: PAR paths carry their token
            logger.debug("%s %s (attempt %d)", method, url, attempt + 1)
            send_headers = sign(
                self.auth.signer, method, url, headers or {}, body, sign_body=sign_body
            )
            try:
                response = await session.request(
                    method,
                    URL(url, encoded=True),
                    headers=send_headers,
                    data=body if method in ("PUT", "POST") else None,
                    allow_redirects=False,
                )
            except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as exc:
                if attempt + 1 >= self.retry.attempts:
                    raise _network_error(what, exc, attempt + 1) from exc
                await asyncio.sleep(self.retry.delay(attempt, None))
                attempt += 1
                continue
            if response.status < 400 or response.status in allow:
                return response
            try:
                raw = await response.read()
            except (aiohttp.ClientError, asyncio.TimeoutError):
                raw = b""
            finally:
                response.release()
            if response.status in RETRYABLE_STATUS and attempt + 1 < self.retry.attempts:
                wait = retry_after_seconds(response.headers.get("retry-after"))
                await asyncio.sleep(self.retry.delay(attempt, wait))
                attempt += 1
                continue
            try:
                payload = json.loads(raw) if raw else None
            except ValueError:
                payload = None
            raise error_for(
                response.status,
                what,
                payload=payload,
                request_id=response.headers.get("opc-request-id"),
                headers=response.headers,
                pinned=pinned,
            )

    async def call(self, method: str, rest: str, **kwargs: Any) -> Reply:
        """:meth:`send` plus reading the whole answer; a body cut short is retried too."""
        import aiohttp

        attempt = 0
        while True:
            response = await self.send(method, rest, **kwargs)
            try:
                data = await response.read()
            except (
                aiohttp.ClientPayloadError,
                aiohttp.ClientConnectionError,
                asyncio.TimeoutError,
            ) as exc:
                response.close()
                if attempt + 1 >= self.retry.attempts:
                    raise _network_error(str(kwargs.get("what")), exc, attempt + 1) from exc
                await asyncio.sleep(self.retry.delay(attempt, None))
                attempt += 1
                continue
            finally:
                response.release()
            return Reply(response.status, response.headers, data)
