"""Google Cloud Storage: URIs, fsspec backend gcsfs."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from unifs.errors import AuthError, ObjectChangedError, URIError
from unifs.providers.base import (
    Provider,
    b64_to_hex,
    decode_key,
    encode_key,
    error_detail,
    https_path,
    iter_body,
    object_store_endpoint,
    reject_query,
    split_https,
    split_scheme_uri,
)
from unifs.types import (
    AuthMode,
    Capabilities,
    KiB,
    Param,
    PartLimits,
    PresignedURL,
    TiB,
    seconds_until,
)
from unifs.uri import StorageURI

__all__ = ["GCSProvider"]

_API_HOSTS = ("storage.googleapis.com", "storage.cloud.google.com")
_VIRTUAL_HOST = re.compile(r"^(?P<bucket>.+)\.storage\.googleapis\.com$")
_CONSOLE_HOST = "console.cloud.google.com"
_CONSOLE_PREFIXES = ("/storage/browser/_details/", "/storage/browser/")


def _raised_by_google(exc: BaseException) -> bool:
    """True if ``exc`` came out of Google's libraries (a key file's missing field)."""
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(str(tb.tb_frame.f_globals.get("__name__", "")))
        tb = tb.tb_next
    return any(name.startswith("google.") for name in frames[-3:])


class GCSProvider(Provider):
    """GCS URIs: ``gs://``, ``gcs://``, storage.googleapis.com and console URLs."""

    name = "gcs"
    max_key_bytes = 1024
    plain_keys_only = True
    #: GCS resumable uploads: chunks are multiples of 256 KiB
    part_limits = PartLimits(min_part=256 * KiB, multiple=256 * KiB)
    schemes = ("gs", "gcs")
    fsspec_protocol = "gs"
    styles = ("fsspec", "https")
    extra = "gcs"
    requires = ("gcsfs",)
    bucket_pattern = re.compile(r"^[a-z0-9][a-z0-9._\-]{1,220}[a-z0-9]$")
    bucket_rule = (
        "3 to 63 characters (222 with dots): lower-case letters, digits, '-', '_' and '.', "
        "starting and ending with a letter or digit"
    )

    auth_params = {
        "project": Param("project", "the project that owns the bucket", env="GOOGLE_CLOUD_PROJECT"),
        "endpoint": Param("endpoint", "a JSON API endpoint URL to use instead of Google's"),
    }
    auth_modes = {
        m.name: m
        for m in (
            AuthMode(
                "service_account",
                "a service-account key, as a file or as its JSON",
                required=("key_file|key_json",),
                verified="fake-gcs-server, with the key's token endpoint on a local stand-in",
                extra_params=(
                    Param(
                        "key_file",
                        "path to the key's JSON file",
                        env="GOOGLE_APPLICATION_CREDENTIALS",
                    ),
                    Param("key_json", "the key itself, as JSON text or a mapping", secret=True),
                ),
            ),
            AuthMode(
                "workload_identity",
                "GKE workload identity or workload identity federation (via ADC)",
                verified="a local GCE metadata stand-in (GCE_METADATA_HOST)",
            ),
            AuthMode(
                "application_default",
                "application default credentials (gcloud auth application-default login)",
                aliases=("default",),
                verified="a local GCE metadata stand-in (GCE_METADATA_HOST)",
            ),
            AuthMode("anonymous", "no credentials: public buckets", verified="fake-gcs-server"),
        )
    }

    def metadata_service(self, mode: AuthMode) -> tuple[str, str] | None:
        if mode.name != "workload_identity":
            return None
        host = os.environ.get("GCE_METADATA_HOST") or "169.254.169.254"
        return "the GCE metadata server", f"http://{host}/"

    def auth_options(
        self, uri: StorageURI, mode: AuthMode | None, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        options: dict[str, Any] = {}
        project = self.value("project", params)
        if project:
            options["project"] = project
        if params.get("endpoint"):
            options["endpoint_url"] = params["endpoint"]
        name = mode.name if mode else None
        if name == "service_account":
            key_json = params.get("key_json")
            if key_json is not None:
                try:
                    options["token"] = (
                        json.loads(key_json) if isinstance(key_json, str) else dict(key_json)
                    )
                except ValueError:
                    raise AuthError(
                        "key_json is not valid JSON (its content is not shown)"
                    ) from None
            else:
                options["token"] = os.path.expanduser(self.value("key_file", params, mode))
        elif name in ("workload_identity", "application_default"):
            options["token"] = "google_default"
        elif name == "anonymous":
            options["token"] = "anon"
        return options

    # gcsfs's aiohttp session, and a task loading an mTLS context on the parent's loop
    per_process_attributes = ("_session", "_ssl_context_task")

    def explain_error(self, exc: BaseException, *, uri: str) -> str | None:
        sdk = sys.modules.get("google.auth.exceptions")
        if sdk is None:  # google-auth was never imported: it raised nothing
            return None
        detail = error_detail(exc)
        # MalformedError is a DefaultCredentialsError: the more precise first
        if isinstance(exc, sdk.MalformedError):
            return f"the Google credentials file is not a valid key ({detail})"
        if isinstance(exc, sdk.RefreshError):
            return (
                f"Google refused the credentials ({detail}): make a new service-account key, "
                "or check the token file"
            )
        if isinstance(exc, sdk.DefaultCredentialsError):
            return (
                "no usable Google credentials: set GOOGLE_APPLICATION_CREDENTIALS to a key "
                f"file, pass -o token=PATH, or -o token=anon for a public bucket ({detail})"
            )
        if isinstance(exc, KeyError) and _raised_by_google(exc):
            return (
                f"the Google credentials file lacks the field {exc} a key needs: make a "
                "new service-account key (JSON), or pass -o token=anon"
            )
        return None

    def forget_clients(self, fs: Any) -> list[Any]:
        import threading

        dropped = super().forget_clients(fs)
        credentials = getattr(fs, "credentials", None)
        if credentials is not None and hasattr(credentials, "lock"):
            # a refresh in another thread of the parent may have held it at fork time
            credentials.lock = threading.Lock()
        return dropped

    def after_fork(self) -> None:
        import threading

        core: Any = sys.modules.get("gcsfs.core")
        if core is not None and hasattr(core, "_deferred_close_queue"):
            # the thread that closed files in the background stayed in the parent
            core._deferred_close_queue = None
            core._deferred_close_lock = threading.Lock()

    def object_store_options(
        self,
        options: Mapping[str, Any],
        *,
        mode: AuthMode | None,
        params: Mapping[str, Any],
        source: Provider,
    ) -> dict[str, str]:
        endpoint = options.get("endpoint_url")
        token = options.get("token")
        key: dict[str, Any] | None = None
        if token == "anon":
            # object_store's unsigned form: a key that turns OAuth off (skip_signature alone
            # still asks the metadata server for a token)
            key = {"client_email": "", "private_key": "", "private_key_id": ""}
            key["disable_oauth"] = True
        elif isinstance(token, Mapping):
            key = dict(token)
        elif isinstance(token, str) and token not in ("google_default", "cloud", "cache"):
            if not endpoint:
                return {"google_service_account": token}
            with open(token) as handle:
                key = json.load(handle)
        out: dict[str, str] = {}
        if key is not None:
            if endpoint:
                # object_store takes a JSON API endpoint from the key only
                key["gcs_base_url"] = endpoint.rstrip("/")
            elif key.get("disable_oauth"):
                key["gcs_base_url"] = "https://storage.googleapis.com"
            out["google_service_account_key"] = json.dumps(key)
        out.update(object_store_endpoint(endpoint))
        return out

    def capabilities(self, fs: Any) -> Capabilities:
        reasons = {
            "presign_revocable": "a signed URL works until it expires (or its key is deleted)",
            "versioning": "open the filesystem with version_aware=True",
        }
        credentials = getattr(getattr(fs, "credentials", None), "credentials", None)
        # A service-account key signs locally; credentials that only know their service
        # account's email (GCE, workload identity) sign through IAM signBlob.
        signs = credentials is not None and (
            hasattr(credentials, "sign_bytes")
            or bool(getattr(credentials, "service_account_email", None))
        )
        if not signs:
            why = (
                "anonymous: nothing to sign with"
                if credentials is None
                else "these credentials can neither sign nor name a service account"
            )
            reasons["presign_get"] = reasons["presign_put"] = why
        return self._capabilities(
            fs,
            presign_get=signs,
            presign_put=signs,
            presign_kind="signed-url" if signs else None,
            presign_max_lifetime=timedelta(days=7) if signs else None,
            server_side_copy=True,
            multipart_upload=True,
            checksum="md5 and crc32c (composite objects: crc32c only)",
            max_object_size=5 * TiB,
            reasons=reasons,
        )

    def presign(
        self,
        fs: Any,
        path: str,
        uri: StorageURI,
        *,
        method: str,
        expires_at: datetime,
        content_type: str | None,
        access: str | None,
    ) -> PresignedURL:
        seconds = seconds_until(expires_at)
        options: dict[str, Any] = {"method": method, "version": "v4"}
        headers: dict[str, str] = {}
        if method == "PUT":
            headers["Content-Type"] = options["content_type"] = (
                content_type or "application/octet-stream"
            )
        elif content_type:
            options["response_type"] = content_type
        credentials = fs.credentials.credentials
        if not hasattr(credentials, "sign_bytes"):
            # no key to sign with: IAM signBlob signs as the service account, with its token
            import google.auth.transport.requests

            if not credentials.valid:
                credentials.refresh(google.auth.transport.requests.Request())
            options["service_account_email"] = credentials.service_account_email
            options["access_token"] = credentials.token
        url = fs.sign(path, expiration=seconds, **options)
        return PresignedURL(
            url=url,
            method=method,
            expires_at=expires_at,
            headers=headers,
            provider=self.name,
            kind="signed-url",
            uri=f"gs://{path}",
        )

    def matrix_filesystems(self) -> list[tuple[str, Any]]:
        import fsspec
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        info = {
            "type": "service_account",
            "client_email": "matrix@example.iam.gserviceaccount.com",
            "private_key": key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode(),
            "token_uri": "http://127.0.0.1:9/token",
        }
        return [
            ("service account", fsspec.filesystem("gs", token=info, skip_instance_cache=True)),
            ("anonymous", fsspec.filesystem("gs", token="anon", skip_instance_cache=True)),
        ]

    def owns_https(self, url: str) -> bool:
        host = split_https(url).hostname or ""
        return host in _API_HOSTS or host == _CONSOLE_HOST or bool(_VIRTUAL_HOST.match(host))

    def parse(self, text: str, *, account: str | None = None) -> StorageURI:
        if not text.lower().startswith(self.schemes):
            return self._parse_https(text)
        _, bucket, key = split_scheme_uri(text)
        return StorageURI(provider=self.name, bucket=self.check_bucket(bucket, text), key=key)

    def _parse_https(self, text: str) -> StorageURI:
        parts = split_https(text)
        host = parts.hostname or ""
        if host == _CONSOLE_HOST:
            return self._parse_console(text, parts.path)
        reject_query(parts, text)
        path = https_path(parts)
        match = _VIRTUAL_HOST.match(host)
        if match is not None:
            bucket = match.group("bucket")
        else:
            bucket, _, path = path.partition("/")
        return StorageURI(
            provider=self.name, bucket=self.check_bucket(bucket, text), key=decode_key(path)
        )

    def _parse_console(self, text: str, path: str) -> StorageURI:
        # The console adds ?project=... and ;tab=objects; neither is part of the address.
        for prefix in _CONSOLE_PREFIXES:
            if path.startswith(prefix):
                rest = decode_key(path[len(prefix) :])
                bucket, _, key = rest.partition("/")
                bucket = bucket.split(";", 1)[0]
                # a browser page shows a folder: its key is a prefix
                if prefix.endswith("browser/") and key and not key.endswith("/"):
                    key += "/"
                return StorageURI(
                    provider=self.name, bucket=self.check_bucket(bucket, text), key=key
                )
        raise URIError(
            f"{text!r} is a Cloud Console page but not a bucket or object page; copy the "
            "gs:// URI from the console, or use "
            "https://console.cloud.google.com/storage/browser/my-bucket/path/",
            uri=text,
        )

    def _format_fsspec(self, uri: StorageURI) -> str:
        return f"gs://{uri.bucket}/{uri.key}"

    def _format_https(self, uri: StorageURI) -> str:
        base = (uri.endpoint or "https://storage.googleapis.com").rstrip("/")
        return f"{base}/{uri.bucket}/{encode_key(uri.key)}"

    def checksum(self, info: dict[str, Any]) -> tuple[str, str] | None:
        # Composite objects carry only crc32c; everything else also has an MD5.
        if info.get("md5Hash"):
            return ("md5", b64_to_hex(info["md5Hash"]))
        if info.get("crc32c"):
            return ("crc32c", b64_to_hex(info["crc32c"]))
        return None

    def checksums(self, info: dict[str, Any]) -> list[tuple[str, str]]:
        # every object has a CRC32C; non-composite ones also an MD5
        found = [("crc32c", b64_to_hex(info["crc32c"]))] if info.get("crc32c") else []
        if info.get("md5Hash"):
            found.append(("md5", b64_to_hex(info["md5Hash"])))
        return found

    def version_pin(self, info: dict[str, Any]) -> str | None:
        generation = info.get("generation")
        return str(generation) if generation else None

    def stream_range(
        self, fs: Any, path: str, start: int, end: int, *, pin: str | None = None
    ) -> Any:
        # gcsfs's cat_file holds a whole range in memory; its session can stream the body
        if not hasattr(fs, "_get_headers"):
            return None
        return self._stream_range(fs, path, start, end, pin)

    async def _stream_range(self, fs: Any, path: str, start: int, end: int, pin: str | None) -> Any:
        from gcsfs.retry import validate_response

        await fs._set_session()
        # ``generation`` reads exactly that version: once it is replaced, the read fails
        params = {"generation": pin} if pin else {}
        async with fs.session.get(
            url=fs.url(path),
            params=fs._get_params(params),
            headers=fs._get_headers({"Range": f"bytes={start}-{end - 1}"}),
            timeout=fs.requests_timeout,
        ) as response:
            if pin and response.status in (404, 412):
                raise ObjectChangedError(path, f"generation {pin}")
            if response.status in (401, 403):
                # gcsfs reports these as a bare OSError; say it is about permission
                detail = (await response.read())[:300].decode(errors="replace")
                raise PermissionError(f"{response.status} reading gs://{path}: {detail}")
            if response.status >= 400:
                validate_response(response.status, await response.read(), path)
            async for chunk in iter_body(response.content):
                yield chunk
