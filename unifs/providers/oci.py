"""OCI Object Storage: URIs in every dialect, fsspec backend ``unifs.providers.oci_filesystem``.

Dialects read:

- OME (the model agent's): ``oci://n/{namespace}/b/{bucket}/o/{key}``
- ocifs: ``oci://{bucket}@{namespace}/{key}``, and ``oci://{bucket}/{key}`` (namespace
  looked up from the tenancy)
- region-qualified: ``oci://{namespace}@{region}/{bucket}/{key}`` -- told apart from the
  ocifs form because what follows ``@`` is a region identifier (``us-ashburn-1``), which
  a namespace never is
- https: ``https://objectstorage.{region}.oraclecloud.com/n/{ns}/b/{bucket}/o/{key}``,
  the per-tenancy ``{ns}.objectstorage.{region}.oci.customer-oci.com`` host, PAR URLs
  ``.../p/{token}/n/{ns}/b/{bucket}/o/{key}``, and the Amazon S3 compatibility host
  ``https://{ns}.compat.objectstorage.{region}.oraclecloud.com/{bucket}/{key}``
"""

from __future__ import annotations

import re
from typing import Any

from unifs.errors import AmbiguousURIError, UnsupportedError, URIError
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

__all__ = ["REGION", "OCIProvider"]

#: an OCI region identifier, e.g. us-ashburn-1, eu-frankfurt-1, us-gov-ashburn-1
REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")
_NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
_REALM = r"(?:oraclecloud\d*\.com|oraclecloud\.eu|oraclegovcloud\.(?:com|uk))"
_SERVICE_HOST = re.compile(rf"^objectstorage\.(?P<region>[a-z0-9-]+)\.{_REALM}$")
_TENANCY_HOST = re.compile(
    r"^(?P<ns>[a-z0-9_-]+)\.objectstorage\.(?P<region>[a-z0-9-]+)\.oci\.customer-oci\.com$"
)
_COMPAT_HOST = re.compile(
    rf"^(?P<ns>[a-z0-9_-]+)\.compat\.objectstorage\.(?P<region>[a-z0-9-]+)\.{_REALM}$"
)
# /n/{ns}/b/{bucket}[/o[/{key}]] -- the REST path, shared by OME URIs and https URLs
_REST_PATH = re.compile(r"^n/(?P<ns>[^/]+)/b/(?P<bucket>[^/]+)(?:/o(?:/(?P<key>.*))?)?/?$")
_PAR_PATH = re.compile(r"^p/(?P<token>[^/]+)/(?P<rest>n/.*)$")


class OCIProvider(Provider):
    """OCI Object Storage URIs in the OME, ocifs and https dialects."""

    name = "oci"
    schemes = ("oci",)
    fsspec_protocol = "oci"
    styles = ("fsspec", "ome", "https")
    extra = "oci"
    requires = ("ocifs", "oci")
    bucket_pattern = re.compile(r"^[A-Za-z0-9._\-]{1,256}$")
    bucket_rule = "1 to 256 characters: letters, digits, '.', '-' and '_'"

    @property
    def example(self) -> str:
        return "oci://n/my-namespace/b/my-bucket/o/path/to/key or oci://my-bucket@my-namespace/key"

    def owns_https(self, url: str) -> bool:
        host = split_https(url).hostname or ""
        return any(p.match(host) for p in (_SERVICE_HOST, _TENANCY_HOST, _COMPAT_HOST))

    # -- parsing ----------------------------------------------------------------------------

    def parse(self, text: str, *, account: str | None = None) -> StorageURI:
        if not text.lower().startswith("oci://"):
            return self._parse_https(text)
        _, netloc, rest = split_scheme_uri(text)
        if netloc == "n":
            return self._parse_ome(text, rest)
        if "@" in netloc:
            left, _, right = netloc.partition("@")
            if REGION.match(right):
                bucket, _, key = rest.partition("/")
                return self._make(text, bucket, key, namespace=left, region=right)
            return self._make(text, left, rest, namespace=right)
        return self._make(text, netloc, rest, namespace=None)

    def _parse_ome(self, text: str, rest: str) -> StorageURI:
        match = _REST_PATH.match("n/" + rest)
        if match is None:
            raise AmbiguousURIError(
                f"{text!r} starts like the OME form oci://n/{{namespace}}/b/{{bucket}}/o/{{key}} "
                "but does not follow it. Write oci://n/my-namespace/b/my-bucket/o/path/to/key; "
                "for a bucket that is really named 'n', write oci://n@my-namespace/" + rest,
                uri=text,
            )
        return self._make(
            text, match.group("bucket"), match.group("key") or "", namespace=match.group("ns")
        )

    def _parse_https(self, text: str) -> StorageURI:
        parts = split_https(text)
        reject_query(parts, text)
        host = parts.hostname or ""
        path = parts.path.lstrip("/")
        compat = _COMPAT_HOST.match(host)
        if compat is not None:
            bucket, _, key = path.partition("/")
            return self._make(
                text,
                bucket,
                decode_key(key),
                namespace=compat.group("ns"),
                region=compat.group("region"),
            )
        service = _SERVICE_HOST.match(host) or _TENANCY_HOST.match(host)
        assert service is not None  # owns_https guards this
        par = None
        par_match = _PAR_PATH.match(path)
        if par_match is not None:
            par, path = par_match.group("token"), par_match.group("rest")
        match = _REST_PATH.match(path)
        if match is None:
            raise URIError(
                f"{text!r} is an OCI Object Storage host but the path is not "
                "/n/{namespace}/b/{bucket}/o/{key}; copy the object's URL from the console "
                "('Object Details' > URL Path (URI))",
                uri=text,
            )
        return self._make(
            text,
            match.group("bucket"),
            decode_key(match.group("key") or ""),
            namespace=match.group("ns"),
            region=service.group("region"),
            # the regional host follows from the region; a per-tenancy host does not
            endpoint=None if service.re is _SERVICE_HOST else f"{parts.scheme}://{parts.netloc}",
            par=par,
        )

    def _make(
        self,
        text: str,
        bucket: str,
        key: str,
        *,
        namespace: str | None,
        region: str | None = None,
        endpoint: str | None = None,
        par: str | None = None,
    ) -> StorageURI:
        if namespace is not None and not _NAMESPACE.match(namespace):
            raise URIError(
                f"{namespace!r} in {text!r} is not a valid OCI namespace (letters, digits, "
                "'-' and '_'); find yours with `oci os ns get`",
                uri=text,
            )
        if region is not None and not REGION.match(region):
            raise URIError(
                f"{region!r} in {text!r} is not an OCI region identifier such as us-ashburn-1",
                uri=text,
            )
        return StorageURI(
            provider=self.name,
            bucket=self.check_bucket(bucket, text),
            key=key,
            namespace=namespace,
            region=region,
            endpoint=endpoint,
            par=par,
        )

    # -- formatting -------------------------------------------------------------------------

    def _need_namespace(self, uri: StorageURI, style: str) -> str:
        if not uri.namespace:
            raise UnsupportedError(
                f"{uri.url} has no namespace, which the {style} form needs: write "
                f"oci://{uri.bucket}@my-namespace/{uri.key}"
            )
        return uri.namespace

    def _format_fsspec(self, uri: StorageURI) -> str:
        if uri.namespace:
            return f"oci://{uri.bucket}@{uri.namespace}/{uri.key}"
        return f"oci://{uri.bucket}/{uri.key}"

    def _format_ome(self, uri: StorageURI) -> str:
        namespace = self._need_namespace(uri, "OME")
        return f"oci://n/{namespace}/b/{uri.bucket}/o/{uri.key}"

    def _format_https(self, uri: StorageURI) -> str:
        namespace = self._need_namespace(uri, "https")
        if uri.endpoint:
            base = uri.endpoint.rstrip("/")
        elif uri.region:
            base = f"https://objectstorage.{uri.region}.oraclecloud.com"
        else:
            raise UnsupportedError(
                f"{uri.url} has no region, which its https URL needs: write "
                f"oci://{namespace}@us-ashburn-1/{uri.bucket}/{uri.key} (with your region)"
            )
        par = f"/p/{uri.par}" if uri.par else ""
        return f"{base}{par}/n/{namespace}/b/{uri.bucket}/o/{encode_key(uri.key)}"

    # -- filesystem -------------------------------------------------------------------------

    def fs_path(self, uri: StorageURI) -> str:
        if uri.namespace:
            return f"{uri.bucket}@{uri.namespace}/{uri.key}"
        return f"{uri.bucket}/{uri.key}"

    def uri_storage_options(self, uri: StorageURI) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if uri.region:
            options["region"] = uri.region
        if uri.endpoint:
            options["config_kwargs"] = {"service_endpoint": uri.endpoint}
        return options

    def checksum(self, info: dict[str, Any]) -> tuple[str, str] | None:
        # Listings report a base64 MD5; for multipart objects it is "<md5 of md5s>-<parts>".
        md5 = info.get("md5") or info.get("content-md5")
        if md5 and "-" not in md5:
            return ("md5", b64_to_hex(md5))
        return None
