"""OCI Object Storage: URIs in every dialect, fsspec backend ``unifs.providers.oci_filesystem``.

Dialects read:

- OME (the model agent's): ``oci://n/{namespace}/b/{bucket}/o/{key}``
- ocifs: ``oci://{bucket}@{namespace}/{key}``, and ``oci://{bucket}/{key}`` (namespace
  looked up from the tenancy)
- region-qualified: ``oci://{namespace}@{region}/{bucket}/{key}`` -- told apart from the
  ocifs form because what follows ``@`` is a region identifier (``us-ashburn-1``), which
  a namespace never is
- https: ``https://objectstorage.{region}.{realm}/n/{ns}/b/{bucket}/o/{key}`` (``{realm}``
  is ``oraclecloud.com``, ``oraclegovcloud.com``, ``oraclecloud.eu``, ...: the oci SDK's
  realm table says which region is in which),
  the per-tenancy ``{ns}.objectstorage.{region}.oci.customer-oci.com`` host, PAR URLs
  ``.../p/{token}/n/{ns}/b/{bucket}/o/{key}``, and the Amazon S3 compatibility host
  ``https://{ns}.compat.objectstorage.{region}.{realm}/{bucket}/{key}``
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from unifs.errors import AmbiguousURIError, AuthError, UnsupportedError, URIError
from unifs.providers import oci_pars
from unifs.providers.base import (
    Provider,
    b64_to_hex,
    decode_key,
    encode_key,
    error_detail,
    https_path,
    merge_options,
    reject_query,
    split_https,
    split_scheme_uri,
)
from unifs.providers.oci_console import CONSOLE_HOST, parse_console
from unifs.types import (
    AuthMode,
    Capabilities,
    GiB,
    MiB,
    Param,
    PartLimits,
    PresignedURL,
    Resolved,
    TiB,
)
from unifs.uri import StorageURI

if TYPE_CHECKING:
    from datetime import datetime

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
_ANY_HOST_PAR = re.compile(r"^/p/[^/]+/n/[^/]+/b/[^/]+/o(/|$)")
# "Could not find config file at PATH, please follow ...": the path
_MISSING_CONFIG = re.compile(r" at (?P<path>.+?)(?:, |$)")


_CONFIG_PATH = Param(
    "config_path", "the OCI config file (default ~/.oci/config)", env="OCI_CONFIG_PATH"
)
_PROFILE = Param("profile", "the profile in the config file (default DEFAULT)", env="OCI_PROFILE")
_ACCESS_KEY = Param("access_key_id", "a Customer Secret Key's access key", env="OCI_ACCESS_KEY_ID")
_SECRET_KEY = Param(
    "secret_access_key", "a Customer Secret Key's secret", env="OCI_SECRET_ACCESS_KEY", secret=True
)


def service_endpoint(region: str) -> str:
    """Object Storage's endpoint in ``region``, in the region's realm (``oraclecloud.com``,
    ``oraclegovcloud.com``, ``oraclecloud.eu``, ...), from the oci SDK's realm table and its
    region sources (``~/.oci/regions-config.json``, ``OCI_REGION_METADATA``). Without the
    SDK, or for a region it does not know, the commercial realm (as the SDK falls back)."""
    try:
        from oci.regions import endpoint_for
    except ImportError:
        return f"https://objectstorage.{region}.oraclecloud.com"
    return str(
        endpoint_for(
            "object_storage",
            region=region,
            service_endpoint_template="https://objectstorage.{region}.{secondLevelDomain}",
        )
    ).rstrip("/")


def _realm_domain(region: str) -> str:
    """The realm's domain of ``region``: what follows ``objectstorage.{region}.``."""
    return service_endpoint(region).split(f"objectstorage.{region}.", 1)[-1]


def _anonymous_signer() -> Any:
    """A signer that leaves OCI requests unsigned: public buckets and what a PAR opens."""
    from unifs.providers.oci_http import AnonymousSigner

    return AnonymousSigner()


class OCIProvider(Provider):
    """OCI Object Storage URIs in the OME, ocifs and https dialects."""

    name = "oci"
    max_key_bytes = 1024
    plain_keys_only = True
    #: OCI multipart: parts of 5 MiB or more (but the last), at most 10,000
    part_limits = PartLimits(min_part=5 * MiB, max_part=50 * GiB, max_parts=10_000)
    #: ``ocios://`` is OME's name for Object Storage once ``oci://`` means registry artifacts
    schemes = ("oci", "ocios")
    fsspec_protocol = "oci"
    styles = ("fsspec", "ome", "https")
    extra = "oci"
    requires = ("oci", "aiohttp")
    bucket_pattern = re.compile(r"^[A-Za-z0-9._\-]{1,256}$")
    bucket_rule = "1 to 256 characters: letters, digits, '.', '-' and '_'"

    auth_params = {
        "region": Param("region", "the region, e.g. us-ashburn-1", env="OCI_REGION"),
        "namespace": Param("namespace", "the Object Storage namespace, if the URI has none"),
        "compartment_id": Param("compartment_id", "compartment OCID for bucket listings"),
        "endpoint": Param("endpoint", "a service endpoint URL to use instead of the region's"),
    }
    auth_modes = {
        m.name: m
        for m in (
            AuthMode(
                "user_principal",
                "an API signing key from an OCI config file profile",
                optional=("config_path", "profile"),
                aliases=("api_key",),
                verified="unifs OCI server, which checks request signatures",
                extra_params=(_CONFIG_PATH, _PROFILE),
            ),
            AuthMode(
                "instance_principal",
                "the compute instance's identity (metadata service)",
                optional=("federation_endpoint",),
                verified="a local instance-metadata and federation stand-in "
                "(OCI_METADATA_BASE_URL and federation_endpoint)",
                extra_params=(
                    Param(
                        "federation_endpoint",
                        "the token federation endpoint (default https://auth.{region}.oraclecloud.com/v1/x509)",
                    ),
                ),
            ),
            AuthMode("resource_principal", "a function's or job's resource principal (env)"),
            AuthMode(
                "oke_workload_identity",
                "an OKE pod's workload identity",
                aliases=("workload_identity",),
            ),
            AuthMode(
                "security_token",
                "a session token profile made by `oci session authenticate`",
                optional=("config_path", "profile"),
                verified="unifs OCI server, which checks request signatures",
                extra_params=(_CONFIG_PATH, _PROFILE),
            ),
            AuthMode(
                "customer_secret_key",
                "an access/secret key pair through the Amazon S3 compatibility API (s3fs)",
                required=("access_key_id", "secret_access_key"),
                verified="moto standing in for the S3 compatibility endpoint",
                extra_params=(_ACCESS_KEY, _SECRET_KEY),
            ),
            AuthMode(
                "anonymous",
                "no credentials: public buckets",
                verified="unifs OCI server refuses unsigned requests to private buckets",
            ),
        )
    }

    @property
    def example(self) -> str:
        return "oci://n/my-namespace/b/my-bucket/o/path/to/key or oci://my-bucket@my-namespace/key"

    def owns_https(self, url: str) -> bool:
        parts = split_https(url)
        host = parts.hostname or ""
        if any(p.match(host) for p in (_SERVICE_HOST, _TENANCY_HOST, _COMPAT_HOST, CONSOLE_HOST)):
            return True
        # a PAR path is unmistakable whatever the host: private endpoints, local servers
        return _ANY_HOST_PAR.match(parts.path) is not None

    # -- parsing ----------------------------------------------------------------------------

    def parse(self, text: str, *, account: str | None = None) -> StorageURI:
        if not text.lower().startswith(("oci://", "ocios://")):
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
        host = parts.hostname or ""
        if CONSOLE_HOST.match(host):
            page = parse_console(text, parts)
            return self._make(
                text, page.bucket, page.key, namespace=page.namespace, region=page.region
            )
        reject_query(parts, text)
        path = https_path(parts)
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
        # the regional host follows from the region (in its realm); any other host does not
        regional = (
            service is not None
            and service.re is _SERVICE_HOST
            and parts.scheme == "https"
            and parts.port is None
            and service_endpoint(service.group("region")) == f"https://{host}"
        )
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
            region=service.group("region") if service else None,
            endpoint=None if regional else f"{parts.scheme}://{parts.netloc}",
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
        if namespace is not None and REGION.match(namespace):
            # oci://{bucket}@{namespace}/ would read it as a region: another object
            raise AmbiguousURIError(
                f"{text!r} puts {namespace!r} where the namespace goes, but it is an OCI region "
                f"identifier, and no namespace is shaped like one (oci://{bucket}@{namespace}/... "
                "would name another object). If it is your region, write "
                f"oci://n/my-namespace/b/{bucket}/o/{key} with region={namespace}, or "
                f"oci://my-namespace@{namespace}/{bucket}/{key}; find your namespace with "
                "`oci os ns get`",
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
            base = service_endpoint(uri.region)
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

    def _resolve_par(self, uri: StorageURI, options: Mapping[str, Any]) -> Resolved:
        """A PAR URL is its own credential: ocifs, unsigned, with every request path under
        ``/p/{token}`` -- the SDK appends ``/n/{ns}/b/{bucket}/o/...`` to the endpoint."""
        if uri.endpoint:
            endpoint = uri.endpoint
        elif uri.region:
            endpoint = service_endpoint(uri.region)
        else:
            raise AuthError(
                f"the PAR URL for {uri.url} names no region or host to send it to: paste the "
                "whole PAR URL (https://objectstorage.{region}.../p/...)"
            )
        par_options: dict[str, Any] = {
            "signer": _anonymous_signer(),
            "config": {"region": uri.region} if uri.region else {},
            "config_kwargs": {"service_endpoint": f"{endpoint.rstrip('/')}/p/{uri.par}"},
        }
        return Resolved("oci", merge_options(par_options, options), self.fs_path(uri))

    # -- presigning -------------------------------------------------------------------------

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
        return oci_pars.presign(
            fs, path, uri, method=method, expires_at=expires_at,
            content_type=content_type, access=access,
        )  # fmt: skip

    def revoke(self, fs: Any, signed: PresignedURL) -> bool:
        bucket, namespace, _ = fs.split_path(self.fs_path(self.parse(signed.uri)))
        fs.delete_par(f"{bucket}@{namespace}", signed.par_id)
        return True

    def list_presigned(self, fs: Any, path: str) -> list[dict[str, Any]]:
        return oci_pars.list_pars(fs, path)

    # -- capabilities -----------------------------------------------------------------------

    def capabilities(self, fs: Any) -> Capabilities:
        reasons = {
            "versioning": "unifs's OCI filesystem reads the current version of each object",
            "presign_max_lifetime": "a PAR may expire at any future time the caller sets",
            "server_side_copy": "CopyObject, an asynchronous work request that needs an IAM "
            "policy for the Object Storage service (Allow service objectstorage-<region> to "
            "manage object-family ...); refused, unifs.copy streams the bytes instead",
        }
        signer = getattr(fs, "_signer", None)
        signs = not getattr(signer, "unsigned", False)
        if signs:
            reasons["presign_get"] = (
                "creating a PAR needs the PAR_MANAGE permission on the bucket; the service "
                "checks it when one is created"
            )
        else:
            reasons["presign_get"] = reasons["presign_put"] = "anonymous: cannot create a PAR"
        return self._capabilities(
            fs,
            presign_get=signs,
            presign_put=signs,
            presign_kind="par" if signs else None,
            presign_revocable=signs,
            server_side_copy=True,
            multipart_upload=True,
            checksum=(
                "crc32c where the writer asked for it (opc-content-crc32c; unifs always "
                "does), else md5 (multipart: MD5 of the part MD5s)"
            ),
            max_object_size=10 * TiB,
            reasons=reasons,
        )

    def matrix_filesystems(self) -> list[tuple[str, Any]]:
        import fsspec

        from unifs.providers.oci_identity import APIKeyIdentity

        config = APIKeyIdentity.generate().config()
        return [
            ("API key", fsspec.filesystem("oci", config=config, skip_instance_cache=True)),
            (
                "anonymous",
                fsspec.filesystem(
                    "oci",
                    signer=_anonymous_signer(),
                    config={"region": "us-ashburn-1"},
                    skip_instance_cache=True,
                ),
            ),
        ]

    # -- auth -------------------------------------------------------------------------------

    def implied_mode(self, params: Mapping[str, Any]) -> AuthMode | None:
        # -a config_path=... or -a profile=... alone mean the config file's API key
        if "config_path" in params or "profile" in params:
            return self.auth_modes["user_principal"]
        return None

    def metadata_service(self, mode: AuthMode) -> tuple[str, str] | None:
        if mode.name != "instance_principal":
            return None
        url = os.environ.get("OCI_METADATA_BASE_URL") or "http://169.254.169.254/opc/v2"
        return "the OCI instance metadata service", url

    def explain_error(self, exc: BaseException, *, uri: str) -> str | None:
        sdk = sys.modules.get("oci.exceptions")
        if sdk is None:  # the OCI SDK was never imported: it raised nothing
            return None
        if isinstance(exc, sdk.ConfigFileNotFound):
            found = _MISSING_CONFIG.search(error_detail(exc, limit=1000))
            where = f" at {found['path']}" if found else ""
            return (
                f"no OCI config file{where}: run 'oci setup config', point -a config_path=... "
                "at one, or choose another mode with -a auth=instance_principal|"
                "resource_principal|..."
            )
        # MissingPrivateKeyPassphrase is an InvalidPrivateKey: the more precise first
        if isinstance(exc, sdk.MissingPrivateKeyPassphrase):
            return (
                "the OCI API key is encrypted: give its pass phrase as pass_phrase=... in the "
                "OCI config profile"
            )
        if isinstance(exc, sdk.InvalidPrivateKey):
            return (
                "the OCI API key could not be read: check key_file and its pass phrase "
                "(pass_phrase=... in the OCI config profile)"
            )
        return None

    def auth_options(
        self, uri: StorageURI, mode: AuthMode | None, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        options: dict[str, Any] = {}
        region = self.value("region", params)
        if region:
            options["region"] = region
        if params.get("namespace"):
            options["namespace"] = params["namespace"]
        if params.get("compartment_id"):
            options["compartment_id"] = params["compartment_id"]
        if params.get("endpoint"):
            options["config_kwargs"] = {"service_endpoint": params["endpoint"]}
        name = mode.name if mode else None
        if name == "user_principal":
            options["config"] = self._config_path(params, mode)
            options["profile"] = self._profile(params, mode)
        elif name == "security_token":
            options.update(self._session_token(params, mode, region))
        elif name == "instance_principal" and params.get("federation_endpoint"):
            # ocifs builds its signer with no arguments; with an endpoint, build it here
            from unifs.providers.oci_http import instance_principal_signer

            options["signer"] = instance_principal_signer(params["federation_endpoint"])
            options["config"] = {"region": options.get("region") or options["signer"].region}
        elif name in ("instance_principal", "resource_principal"):
            options["iam_type"] = name
        elif name == "oke_workload_identity":
            options["iam_type"] = "oke_principal"
        elif name == "anonymous":
            if not region and not uri.region:
                raise AuthError("auth 'anonymous' needs 'region' (or a URI that carries one)")
            options["signer"] = _anonymous_signer()
            options["config"] = {"region": region or uri.region}
        return options

    def _config_path(self, params: Mapping[str, Any], mode: AuthMode | None) -> str:
        from unifs.providers.oci_http import config_file

        return os.path.expanduser(self.value("config_path", params, mode) or config_file())

    def _default_mode(self) -> AuthMode | None:
        """As the OCI CLI: with no credentials named, its config file when there is one
        (and no resource principal or ``OCIFS_IAM_TYPE`` in the environment). Resolved here,
        not in the filesystem, so that the path and profile are part of the options (and of
        fsspec's instance cache key)."""
        from unifs.providers.oci_http import config_file

        if os.environ.get("OCIFS_IAM_TYPE") or os.environ.get("OCI_RESOURCE_PRINCIPAL_VERSION"):
            return None
        return self.auth_modes["user_principal"] if os.path.isfile(config_file()) else None

    def _profile(self, params: Mapping[str, Any], mode: AuthMode | None) -> str:
        from unifs.providers.oci_http import config_profile

        return str(self.value("profile", params, mode) or config_profile())

    def _session_token(
        self, params: Mapping[str, Any], mode: AuthMode | None, region: str | None
    ) -> dict[str, Any]:
        import oci

        profile = self._profile(params, mode)
        config = oci.config.from_file(self._config_path(params, mode), profile)
        token_file = config.get("security_token_file")
        if not token_file:
            raise AuthError(
                f"profile {profile!r} has no security_token_file; create one with "
                "`oci session authenticate`, or use auth 'user_principal'"
            )
        with open(os.path.expanduser(token_file)) as handle:
            token = handle.read().strip()
        key = oci.signer.load_private_key_from_file(config["key_file"], config.get("pass_phrase"))
        signer = oci.auth.signers.SecurityTokenSigner(token, key)
        return {"signer": signer, "config": {"region": region or config.get("region")}}

    def resolve(
        self,
        uri: StorageURI,
        mode: AuthMode | None,
        params: Mapping[str, Any],
        options: Mapping[str, Any],
    ) -> Resolved:
        if uri.par is not None:
            return self._resolve_par(uri, options)
        if mode is None and not {"config", "signer", "iam_type"} & set(options):
            mode = self._default_mode()
        if mode is None or mode.name != "customer_secret_key":
            return super().resolve(uri, mode, params, options)
        # Customer Secret Keys only work through the Amazon S3 compatibility API: the same
        # object, served by s3fs at {namespace}.compat.objectstorage.{region}...
        namespace = params.get("namespace") or uri.namespace
        region = self.value("region", params) or uri.region
        if not namespace or not region:
            raise AuthError(
                "auth 'customer_secret_key' reaches the S3 compatibility endpoint "
                "https://{namespace}.compat.objectstorage.{region}.{realm domain} and needs "
                "both: give 'namespace' and 'region' (or a URI that carries them)"
            )
        endpoint = params.get("endpoint") or (
            f"https://{namespace}.compat.objectstorage.{region}.{_realm_domain(region)}"
        )
        s3_options: dict[str, Any] = {
            "key": self.value("access_key_id", params, mode),
            "secret": self.value("secret_access_key", params, mode),
            "endpoint_url": endpoint,
            "client_kwargs": {"region_name": region},
            "config_kwargs": {"s3": {"addressing_style": "path"}, "signature_version": "s3v4"},
        }
        return Resolved("s3", merge_options(s3_options, options), f"{uri.bucket}/{uri.key}")

    def object_store_options(
        self,
        options: Mapping[str, Any],
        *,
        mode: AuthMode | None,
        params: Mapping[str, Any],
        source: Provider,
    ) -> dict[str, str]:
        # reached only when the auth block resolved to OCI's own API, not its S3 route
        raise UnsupportedError(
            "polars, obstore and deltalake reach OCI Object Storage only through its Amazon S3 "
            "compatibility API: give auth 'customer_secret_key' with access_key_id and "
            "secret_access_key (a Customer Secret Key), and the namespace and region (or a URI "
            "that carries them), then read unifs.filesystem.resolve(uri, auth=auth).url"
        )

    def known_regions(self) -> tuple[str, ...]:
        """The OCI SDK's regions (``us-ashburn-1``) and their short names (``iad``)."""
        try:
            from oci import regions
        except ImportError:
            return ()
        return tuple(sorted({*regions.REGIONS, *regions.REGIONS_SHORT_NAMES}))

    def checksum(self, info: dict[str, Any]) -> tuple[str, str] | None:
        # Listings report a base64 MD5; for multipart objects it is "<md5 of md5s>-<parts>".
        md5 = info.get("md5") or info.get("content-md5")
        if md5 and "-" not in md5:
            return ("md5", b64_to_hex(md5))
        return None

    def checksums(self, info: dict[str, Any]) -> list[tuple[str, str]]:
        # HEAD/GET answer OCI's additional CRC32C (opc-content-crc32c, base64) of the whole
        # object, multipart included, where the writer asked for it; listings do not.
        found = [("crc32c", b64_to_hex(info["crc32c"]))] if info.get("crc32c") else []
        return found + super().checksums(info)

    def stored_checksums(self, fs: Any, path: str) -> Any:
        # a listing has no CRC32C: one HEAD answers it (opc-content-crc32c)
        if not hasattr(fs, "_info_object"):
            return None
        return self._stored_checksums(fs, path)

    async def _stored_checksums(self, fs: Any, path: str) -> dict[str, Any]:
        info = await fs._info_object(path)
        return {"crc32c": info["crc32c"]} if info.get("crc32c") else {}

    def multipart_checksum(self, info: dict[str, Any]) -> tuple[str, int] | None:
        # OCI reports a multipart object's MD5 as "<base64 MD5 of the part MD5s>-<parts>".
        md5 = info.get("md5") or info.get("content-md5") or info.get("opc-multipart-md5")
        if md5 and "-" in md5:
            digest, _, parts = md5.rpartition("-")
            return (b64_to_hex(digest), int(parts))
        return None

    def start_parts(self, fs: Any, path: str, *, part_size: int | None = None) -> Any:

        if not hasattr(fs, "_call"):
            return None
        return self._start_parts(fs, path, part_size)

    async def _start_parts(self, fs: Any, path: str, part_size: int | None) -> str:
        from unifs.providers.oci_io import Multipart

        return (await Multipart.start(fs, path, part_size=part_size)).upload_id

    async def put_part(self, fs: Any, path: str, upload: str, number: int, data: bytes) -> str:
        from unifs.providers.oci_io import Multipart

        multipart = await Multipart.attach(fs, path, upload)
        await multipart.part(number, data)
        return multipart.parts[number]

    async def finish_parts(
        self, fs: Any, path: str, upload: str, parts: list[str], *, md5: bytes | None = None
    ) -> None:
        from unifs.providers.oci_io import Multipart

        multipart = await Multipart.attach(fs, path, upload)
        multipart.parts = dict(enumerate(parts, 1))
        await multipart.commit()

    async def cancel_parts(self, fs: Any, path: str, upload: str) -> None:
        from unifs.providers.oci_io import Multipart

        await (await Multipart.attach(fs, path, upload)).abort()

    def one_try_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        return {**options, "max_attempts": 1}  # unifs's OCI filesystem's own retry loop

    def upload_store(self, fs: Any) -> str | None:
        from unifs.providers.base import plain_url
        from unifs.providers.oci_io import par_token

        if not hasattr(fs, "_call") or par_token(fs) is not None:
            return None  # a PAR's endpoint is its token: such uploads go unrecorded
        return f"oci {plain_url(str(fs.endpoint))}"

    def list_uploads(self, fs: Any, prefix: str) -> Any:
        from unifs.providers.oci_io import Multipart, par_token

        if not hasattr(fs, "_call") or par_token(fs) is not None:
            return None  # a PAR cannot list uploads
        return Multipart.list_unfinished(fs, prefix)

    def abort_uploads(self, fs: Any, path: str, *, before: datetime) -> Any:
        from unifs.providers.oci_io import Multipart

        if not hasattr(fs, "_call"):
            return None
        return Multipart.abort_abandoned(fs, path, before=before)

    def part_sizes(self, fs: Any, path: str, info: dict[str, Any]) -> Any:
        # OCI keeps no part sizes, but unifs records its own with the object (user metadata)
        found = self.multipart_checksum(info)
        if found is None or not hasattr(fs, "_info_object"):
            return None
        return self._recorded_part_sizes(fs, path, int(info.get("size") or 0), found[1])

    async def _recorded_part_sizes(
        self, fs: Any, path: str, size: int, parts: int
    ) -> list[int] | None:
        from unifs.providers.oci_io import PART_SIZE_METADATA

        head = await fs._info_object(path)
        recorded = str((head.get("metadata") or {}).get(PART_SIZE_METADATA, ""))
        if not recorded.isdigit() or int(recorded) <= 0:
            return None  # another tool's upload: the layout is inferred
        part = int(recorded)
        last = size - (parts - 1) * part
        if not 0 < last <= part:
            return None  # the record does not fit this object: do not trust it
        return [part] * (parts - 1) + [last]

    def version_pin(self, info: dict[str, Any]) -> str | None:
        etag = info.get("etag") or info.get("ETag")
        return str(etag) if etag else None

    def stream_range(
        self, fs: Any, path: str, start: int, end: int, *, pin: str | None = None
    ) -> Any:
        """An async iterator over bytes ``[start, end)`` on unifs's OCI filesystem.

        ``pin`` (the ETag from :meth:`version_pin`) is sent as ``If-Match``: a replaced
        object raises :class:`unifs.errors.ObjectChangedError` instead of mixing two
        versions' bytes.
        """
        stream = getattr(fs, "_stream", None)
        if stream is None:
            return None
        # the engine writes pieces as they come: joining them into 1 MiB is a copy of every byte
        return stream(path, start, end, if_match=pin, chunk_size=0)
