"""AWS S3 (and S3-compatible stores): URIs, fsspec backend s3fs."""

from __future__ import annotations

import re
from typing import Any

from unifs.errors import URIError
from unifs.providers.base import (
    Provider,
    decode_key,
    encode_key,
    reject_query,
    split_https,
    split_scheme_uri,
)
from unifs.uri import StorageURI

__all__ = ["S3Provider"]

# {bucket}.s3.{region}.amazonaws.com, {bucket}.s3-{region}..., s3.{region}..., s3.amazonaws.com,
# dualstack hosts, and the .com.cn partition. Website endpoints do not serve the object API.
_HOST = re.compile(
    r"^(?:(?P<bucket>.+)\.)?s3(?:\.dualstack)?(?:[.-](?P<region>(?!website)[a-z0-9-]+))?"
    r"\.amazonaws\.com(?:\.cn)?$"
)
# The legacy global endpoint of us-east-1
_REGION_ALIASES = {"external-1": "us-east-1"}


class S3Provider(Provider):
    """AWS S3 URIs: ``s3://``, ``s3a://``, ``s3n://``, ``s3://bucket@region/key`` and https."""

    name = "s3"
    schemes = ("s3", "s3a", "s3n")
    fsspec_protocol = "s3"
    styles = ("fsspec", "https")
    extra = "s3"
    requires = ("s3fs",)
    # Legacy us-east-1 buckets may hold upper case and '_'; new ones may not.
    bucket_pattern = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{1,254}$")
    bucket_rule = "3 to 63 characters: lower-case letters, digits, '.' and '-'"

    def owns_https(self, url: str) -> bool:
        host = split_https(url).hostname or ""
        return _HOST.match(host) is not None

    def parse(self, text: str, *, account: str | None = None) -> StorageURI:
        if not text.lower().startswith(self.schemes):
            return self._parse_https(text)
        _, netloc, key = split_scheme_uri(text)
        bucket, _, region = netloc.partition("@")
        if "@" in netloc and not region:
            raise URIError(
                f"{text!r} has '@' but no region after it: write s3://bucket@us-west-2/key "
                "or s3://bucket/key",
                uri=text,
            )
        return StorageURI(
            provider=self.name,
            bucket=self.check_bucket(bucket, text),
            key=key,
            region=region or None,
        )

    def _parse_https(self, text: str) -> StorageURI:
        parts = split_https(text)
        reject_query(parts, text)
        match = _HOST.match(parts.hostname or "")
        if match is None:  # pragma: no cover - owns_https guards this
            raise URIError(f"{text!r} is not an AWS S3 URL", uri=text)
        region = match.group("region")
        region = _REGION_ALIASES.get(region, region) if region else None
        path = parts.path.lstrip("/")
        bucket = match.group("bucket")
        if bucket is None:  # path-style: the bucket is the first path segment
            bucket, _, path = path.partition("/")
        return StorageURI(
            provider=self.name,
            bucket=self.check_bucket(bucket, text),
            key=decode_key(path),
            region=region,
        )

    def _format_fsspec(self, uri: StorageURI) -> str:
        return f"s3://{uri.bucket}/{uri.key}"

    def _format_https(self, uri: StorageURI) -> str:
        if uri.endpoint:
            return f"{uri.endpoint.rstrip('/')}/{uri.bucket}/{encode_key(uri.key)}"
        host = f"s3.{uri.region}.amazonaws.com" if uri.region else "s3.amazonaws.com"
        if uri.bucket and "." in uri.bucket:
            # dotted bucket names break TLS on virtual-hosted URLs: use path style
            return f"https://{host}/{uri.bucket}/{encode_key(uri.key)}"
        return f"https://{uri.bucket}.{host}/{encode_key(uri.key)}"

    def checksum(self, info: dict[str, Any]) -> tuple[str, str] | None:
        # A single-part upload's ETag is its MD5; a multipart one's ("...-N") is not.
        etag = str(info.get("ETag") or info.get("etag") or "").strip('"')
        if re.fullmatch(r"[0-9a-f]{32}", etag):
            return ("md5", etag)
        return None

    def uri_storage_options(self, uri: StorageURI) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if uri.region:
            options["client_kwargs"] = {"region_name": uri.region}
        if uri.endpoint:
            options["endpoint_url"] = uri.endpoint
        return options
