"""Google Cloud Storage: URIs, fsspec backend gcsfs."""

from __future__ import annotations

import re
from typing import Any

from unifs.errors import URIError
from unifs.providers.base import (
    Provider,
    b64_to_hex,
    decode_key,
    encode_key,
    reject_query,
    split_https,
    split_scheme_uri,
)
from unifs.uri import StorageURI

__all__ = ["GCSProvider"]

_API_HOSTS = ("storage.googleapis.com", "storage.cloud.google.com")
_VIRTUAL_HOST = re.compile(r"^(?P<bucket>.+)\.storage\.googleapis\.com$")
_CONSOLE_HOST = "console.cloud.google.com"
_CONSOLE_PREFIXES = ("/storage/browser/_details/", "/storage/browser/")


class GCSProvider(Provider):
    """GCS URIs: ``gs://``, ``gcs://``, storage.googleapis.com and console URLs."""

    name = "gcs"
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
        path = parts.path.lstrip("/")
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
