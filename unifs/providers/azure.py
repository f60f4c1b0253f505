"""Azure Blob Storage: URIs, fsspec backend adlfs."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from unifs.errors import (
    AmbiguousURIError,
    AuthError,
    ObjectChangedError,
    UnsupportedError,
    URIError,
    http_status,
)
from unifs.providers.base import (
    Provider,
    decode_key,
    encode_key,
    error_detail,
    https_path,
    iter_body,
    object_store_endpoint,
    precondition_failed,
    reject_query,
    split_https,
    split_scheme_uri,
)
from unifs.types import AuthMode, Capabilities, MiB, Param, PartLimits, PresignedURL
from unifs.uri import StorageURI

__all__ = ["AzureProvider"]

_DEFAULT_SUFFIX = "core.windows.net"
# {account}.{blob|dfs}.{suffix}; sovereign clouds use other suffixes
_HOST = re.compile(
    r"^(?P<account>[a-z0-9]{3,24})\.(?P<service>blob|dfs)\."
    r"(?P<suffix>core\.windows\.net|core\.chinacloudapi\.cn|core\.usgovcloudapi\.net)$"
)
_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")
# the Azure portal; its pages carry the storage account's resource id and the blob's path
# in the fragment: #view/Microsoft_Azure_Storage/...Blade/storageAccountId/%2Fsubscriptions
# %2F...%2FstorageAccounts%2F{account}/path/{container}%2F{blob}/...
_PORTAL_HOST = re.compile(r"^portal\.azure\.(?:com|cn|us)$")
_PORTAL_ACCOUNT = re.compile(r"/providers/Microsoft\.Storage/storageAccounts/([^/]+)", re.I)
_PORTAL_PATH = re.compile(r"/path/([^/]+)")
_PORTAL_SUFFIX = {
    "com": _DEFAULT_SUFFIX,
    "cn": "core.chinacloudapi.cn",
    "us": "core.usgovcloudapi.net",
}


_TENANT = Param("tenant_id", "the Entra ID tenant", env="AZURE_TENANT_ID")
_CLIENT = Param("client_id", "the application (client) id", env="AZURE_CLIENT_ID")


def _conn_value(connection: str, name: str) -> str | None:
    """One ``Name=value`` entry of an Azure connection string."""
    for part in connection.split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip().lower() == name.lower():
            return value
    return None


class AzureProvider(Provider):
    """Azure URIs: ``az://``, ``abfs(s)://``, ``wasb(s)://`` and blob/dfs https URLs."""

    name = "azure"
    max_key_bytes = 1024  # characters, in fact; 1024 bytes is the safe side
    plain_keys_only = True
    #: Azure: a block is at most 4000 MiB, a blob at most 50,000 blocks
    part_limits = PartLimits(max_part=4000 * MiB, max_parts=50_000)
    schemes = ("az", "abfs", "abfss", "wasb", "wasbs")
    fsspec_protocol = "az"
    styles = ("fsspec", "https")
    extra = "azure"
    requires = ("adlfs",)
    bucket_word = "container"
    bucket_pattern = re.compile(r"^(\$root|\$web|\$logs|[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62})$")
    bucket_rule = (
        "3 to 63 characters: lower-case letters, digits and single hyphens, "
        "starting with a letter or digit"
    )

    auth_params = {
        "account_name": Param(
            "account_name", "the storage account", env="AZURE_STORAGE_ACCOUNT_NAME"
        ),
        "endpoint": Param("endpoint", "the blob endpoint URL, e.g. for Azurite or a private link"),
    }
    auth_modes = {
        m.name: m
        for m in (
            AuthMode(
                "account_key",
                "the storage account's shared key",
                required=("account_name", "account_key"),
                verified="Azurite, which checks shared-key signatures",
                extra_params=(
                    Param("account_key", "the account key", env="AZURE_STORAGE_KEY", secret=True),
                ),
            ),
            AuthMode(
                "sas_token",
                "a shared access signature",
                required=("account_name", "sas_token"),
                verified="Azurite, which checks SAS signatures and permissions",
                extra_params=(
                    Param("sas_token", "the SAS query string", env="AZURE_STORAGE_SAS_TOKEN"),
                ),
            ),
            AuthMode(
                "connection_string",
                "a storage connection string",
                required=("connection_string",),
                verified="Azurite",
                extra_params=(
                    Param(
                        "connection_string",
                        "the connection string",
                        env="AZURE_STORAGE_CONNECTION_STRING",
                        secret=True,
                    ),
                ),
            ),
            AuthMode(
                "service_principal",
                "an Entra ID application's client secret",
                required=("tenant_id", "client_id", "client_secret"),
                aliases=("client_secret",),
                extra_params=(
                    _TENANT,
                    _CLIENT,
                    Param(
                        "client_secret", "the client secret", env="AZURE_CLIENT_SECRET", secret=True
                    ),
                ),
            ),
            AuthMode(
                "client_certificate",
                "an Entra ID application's certificate",
                required=("tenant_id", "client_id", "certificate_path"),
                optional=("certificate_password",),
                extra_params=(
                    _TENANT,
                    _CLIENT,
                    Param(
                        "certificate_path",
                        "PEM or PKCS12 certificate with its key",
                        env="AZURE_CLIENT_CERTIFICATE_PATH",
                    ),
                    Param("certificate_password", "the certificate's password", secret=True),
                ),
            ),
            AuthMode(
                "managed_identity",
                "the resource's managed identity; client_id or resource_id picks a "
                "user-assigned one",
                optional=("client_id", "resource_id"),
                verified="a local managed-identity endpoint stand-in (IDENTITY_ENDPOINT)",
                extra_params=(
                    Param("client_id", "a user-assigned identity's client id"),
                    Param("resource_id", "a user-assigned identity's resource id"),
                ),
            ),
            AuthMode(
                "workload_identity",
                "AKS workload identity (federated token file)",
                required=("tenant_id", "client_id", "token_file"),
                extra_params=(
                    _TENANT,
                    _CLIENT,
                    Param("token_file", "the federated token", env="AZURE_FEDERATED_TOKEN_FILE"),
                ),
            ),
            AuthMode("default", "azure-identity's DefaultAzureCredential chain"),
            AuthMode("anonymous", "no credentials: public containers", verified="Azurite"),
        )
    }

    def owns_https(self, url: str) -> bool:
        host = split_https(url).hostname or ""
        return _HOST.match(host) is not None or _PORTAL_HOST.match(host) is not None

    def parse(self, text: str, *, account: str | None = None) -> StorageURI:
        if not text.lower().startswith(self.schemes):
            return self._parse_https(text)
        scheme, netloc, key = split_scheme_uri(text)
        if "@" in netloc:
            container, _, host = netloc.partition("@")
            match = _HOST.match(host.lower())
            if match is None:
                raise URIError(
                    f"{text!r}: after '@' comes the account host, as in "
                    f"{scheme}://container@myaccount.{'dfs' if 'abfs' in scheme else 'blob'}"
                    f".{_DEFAULT_SUFFIX}/path",
                    uri=text,
                )
            return self._make(text, container, key, match.group("account"), match)
        if account is not None and netloc == account:
            container, _, key = key.partition("/")
            if not container:
                raise URIError(
                    f"{text!r} names account {account!r} but no container: write "
                    f"az://{account}/container/path",
                    uri=text,
                )
            if self.bucket_pattern.match(account) and account == container:
                raise AmbiguousURIError(
                    f"{text!r} is ambiguous: {account!r} is both the account and a container "
                    f"name. Write abfs://{container}@{account}.dfs.{_DEFAULT_SUFFIX}/{key}",
                    uri=text,
                )
        else:
            container = netloc
        return self._make(text, container, key, account, None)

    def _make(
        self, text: str, container: str, key: str, account: str | None, host: re.Match[str] | None
    ) -> StorageURI:
        if account is not None and not _ACCOUNT.match(account):
            raise URIError(
                f"{account!r} is not a valid Azure storage account name (3 to 24 lower-case "
                "letters and digits)",
                uri=text,
            )
        endpoint = None
        if host is not None and host.group("suffix") != _DEFAULT_SUFFIX:
            endpoint = f"https://{account}.blob.{host.group('suffix')}"
        return StorageURI(
            provider=self.name,
            bucket=self.check_bucket(container, text),
            key=key,
            account=account,
            endpoint=endpoint,
        )

    def _parse_portal(self, text: str, host: str, fragment: str) -> StorageURI:
        """A portal container or blob page: the account from ``storageAccountId``, the
        container and blob from ``path`` (each percent-encoded once more in the fragment)."""
        account = _PORTAL_ACCOUNT.search(decode_key(fragment))
        path = _PORTAL_PATH.search(fragment)
        if account is None or path is None:
            raise URIError(
                f"{text!r} is an Azure portal page that names no storage account and "
                "container; copy the blob's URL from its Properties instead "
                "(https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH)",
                uri=text,
            )
        container, _, key = decode_key(path.group(1)).partition("/")
        name = account.group(1).lower()
        # the China and US Gov portals show their own clouds' accounts
        suffix = _PORTAL_SUFFIX[host.rsplit(".", 1)[-1]]
        return self._make(text, container, key, name, _HOST.match(f"{name}.blob.{suffix}"))

    def _parse_https(self, text: str) -> StorageURI:
        parts = split_https(text)
        if _PORTAL_HOST.match(parts.hostname or ""):
            return self._parse_portal(text, parts.hostname or "", parts.fragment)
        reject_query(parts, text)
        match = _HOST.match(parts.hostname or "")
        if match is None:  # pragma: no cover - owns_https guards this
            raise URIError(f"{text!r} is not an Azure Blob URL", uri=text)
        container, _, key = https_path(parts).partition("/")
        return self._make(text, container, decode_key(key), match.group("account"), match)

    def _format_fsspec(self, uri: StorageURI) -> str:
        if uri.account:
            return f"abfs://{uri.bucket}@{uri.account}.dfs.{self._suffix(uri)}/{uri.key}"
        return f"az://{uri.bucket}/{uri.key}"

    def _suffix(self, uri: StorageURI) -> str:
        """The cloud's host suffix: a China or US Gov account is another account than the
        global cloud's of the same name, so its canonical URL keeps the suffix."""
        host = (uri.endpoint or "").partition("://")[2].rstrip("/")
        match = _HOST.match(host)
        if match is not None and match.group("account") == uri.account:
            return match.group("suffix")
        return _DEFAULT_SUFFIX

    def _format_https(self, uri: StorageURI) -> str:
        if uri.endpoint:
            return f"{uri.endpoint.rstrip('/')}/{uri.bucket}/{encode_key(uri.key)}"
        if not uri.account:
            raise UnsupportedError(
                f"{uri.url} has no account, so it has no https URL: give it, as in "
                "unifs.parse('az://container/key', account='myaccount')"
            )
        return f"https://{uri.account}.blob.{_DEFAULT_SUFFIX}/{uri.bucket}/{encode_key(uri.key)}"

    def fs_path(self, uri: StorageURI) -> str:
        return f"{uri.bucket}/{uri.key}"

    def metadata_service(self, mode: AuthMode) -> tuple[str, str] | None:
        if mode.name != "managed_identity":
            return None
        url = (
            os.environ.get("IDENTITY_ENDPOINT")
            or os.environ.get("MSI_ENDPOINT")
            or os.environ.get("AZURE_POD_IDENTITY_AUTHORITY_HOST")
            or "http://169.254.169.254/metadata/identity/oauth2/token"
        )
        return "the Azure instance metadata service (managed identity)", url

    def auth_options(
        self, uri: StorageURI, mode: AuthMode | None, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        options: dict[str, Any] = {}
        account = self.value("account_name", params) or uri.account
        if account:
            options["account_name"] = account
        endpoint = params.get("endpoint") or uri.endpoint
        name = mode.name if mode else None
        if name == "account_key":
            key = self.value("account_key", params, mode)
            if endpoint:
                # adlfs forces https for account_name + key; a connection string keeps the
                # endpoint as given (Azurite, private endpoints)
                options["connection_string"] = (
                    f"DefaultEndpointsProtocol={endpoint.split(':', 1)[0]};AccountName={account};"
                    f"AccountKey={key};BlobEndpoint={endpoint};"
                )
            else:
                options["account_key"] = key
        elif name == "sas_token":
            sas = str(self.value("sas_token", params, mode)).lstrip("?")
            if endpoint:
                options["connection_string"] = (
                    f"BlobEndpoint={endpoint};SharedAccessSignature={sas};"
                )
            else:
                options["sas_token"] = sas
        elif name == "connection_string":
            options["connection_string"] = self.value("connection_string", params, mode)
        elif name == "service_principal":
            for field in ("tenant_id", "client_id", "client_secret"):
                options[field] = self.value(field, params, mode)
        elif name in ("client_certificate", "managed_identity", "workload_identity"):
            options["credential"] = self._credential(name, params, mode)
        elif name == "default":
            options["anon"] = False
        elif name == "anonymous":
            options["anon"] = True
        if endpoint and "connection_string" not in options:
            options["account_host"] = endpoint.split("://", 1)[-1].rstrip("/")
        return options

    def object_store_options(
        self,
        options: Mapping[str, Any],
        *,
        mode: AuthMode | None,
        params: Mapping[str, Any],
        source: Provider,
    ) -> dict[str, str]:
        out: dict[str, str] = {}
        connection = options.get("connection_string")
        endpoint = f"https://{options['account_host']}" if options.get("account_host") else None
        account, key, sas = (
            options.get("account_name"),
            options.get("account_key"),
            options.get("sas_token"),
        )
        if connection:
            if (_conn_value(connection, "UseDevelopmentStorage") or "").lower() == "true":
                out["azure_storage_use_emulator"] = "true"
            account = _conn_value(connection, "AccountName") or account
            key = _conn_value(connection, "AccountKey") or key
            sas = _conn_value(connection, "SharedAccessSignature") or sas
            endpoint = _conn_value(connection, "BlobEndpoint") or endpoint
            if not account and endpoint:
                # a SAS connection string names the account only in its endpoint
                host = split_https(endpoint).hostname or ""
                account = host.split(".", 1)[0] if _HOST.match(host) else None
        name = mode.name if mode else None
        if name == "client_certificate":
            raise UnsupportedError(
                "object_store (polars, obstore, deltalake) has no certificate credential: use "
                "auth 'service_principal' or 'workload_identity' for them"
            )
        for option, value in (
            ("azure_storage_account_name", account),
            ("azure_storage_account_key", key),
            ("azure_storage_sas_key", str(sas).lstrip("?") if sas else None),
            ("azure_storage_endpoint", endpoint),
            ("azure_storage_tenant_id", options.get("tenant_id")),
            ("azure_storage_client_id", options.get("client_id")),
            ("azure_storage_client_secret", options.get("client_secret")),
        ):
            if value:
                out[option] = str(value)
        if name in ("managed_identity", "workload_identity"):
            for param, option in (
                ("client_id", "azure_storage_client_id"),
                ("tenant_id", "azure_storage_tenant_id"),
                ("resource_id", "azure_msi_resource_id"),
                ("token_file", "azure_federated_token_file"),
            ):
                value = self.value(param, params, mode)
                if value:
                    out[option] = str(value)
        if options.get("anon") and not (key or sas):
            out["azure_skip_signature"] = "true"
        out.update(object_store_endpoint(endpoint))
        return out

    def _credential(self, name: str, params: Mapping[str, Any], mode: AuthMode | None) -> Any:
        """An azure-identity credential; building one does no I/O until a token is asked for."""
        try:
            import azure.identity as identity
        except ImportError as exc:  # pragma: no cover - azure-identity comes with adlfs
            raise AuthError(
                f"auth {name!r} needs azure-identity: pip install azure-identity"
            ) from exc
        if name == "client_certificate":
            return identity.CertificateCredential(
                self.value("tenant_id", params, mode),
                self.value("client_id", params, mode),
                certificate_path=self.value("certificate_path", params, mode),
                password=params.get("certificate_password"),
            )
        if name == "workload_identity":
            return identity.WorkloadIdentityCredential(
                tenant_id=self.value("tenant_id", params, mode),
                client_id=self.value("client_id", params, mode),
                token_file_path=self.value("token_file", params, mode),
            )
        if params.get("resource_id"):
            return identity.ManagedIdentityCredential(
                identity_config={"resource_id": params["resource_id"]}
            )
        return identity.ManagedIdentityCredential(client_id=params.get("client_id"))

    def explain_error(self, exc: BaseException, *, uri: str) -> str | None:
        sdk = sys.modules.get("azure.core.exceptions")
        if sdk is None:  # azure-core was never imported: it raised nothing
            return None
        identity = sys.modules.get("azure.identity")
        if identity is not None and isinstance(exc, identity.CredentialUnavailableError):
            return None  # no credential was found, none refused: not what the advice is for
        if isinstance(exc, sdk.ClientAuthenticationError):
            detail = error_detail(exc)
        elif isinstance(exc, sdk.HttpResponseError) and http_status(exc) == 403:
            # Azurite and Azure answer a bad key or SAS with a plain 403 HttpResponseError
            detail = getattr(exc, "error_code", None) or "403"
        else:
            return None
        return (
            f"Azure refused the credentials ({detail}): check the account key, or the SAS "
            "token (tampered, expired, or missing a permission)"
        )

    def refused_key_reason(self, key: str) -> str | None:
        if any(segment in (".", "..") for segment in key.split("/")):
            return "a '.' or '..' segment: Azure resolves it away and the request is refused"
        return super().refused_key_reason(key)

    def one_try_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        # azure-storage-blob retries a 500 ten times with a 15 s-based back-off (its
        # StorageRetryPolicy default); adlfs passes no retry setting on, see filesystem()
        return {**options, "retry_total": 0}

    def filesystem(self, **storage_options: Any) -> Any:
        fs = super().filesystem(**storage_options)
        _bound_retries(fs)
        return fs

    def forget_clients(self, fs: Any) -> list[Any]:
        dropped = [v for v in (getattr(fs, "service_client", None),) if v is not None]
        if getattr(fs, "sync_credential", None) is not None:
            # adlfs built these credentials (service principal or default chain); their
            # async half keeps an HTTP session of its own: build both again
            dropped += [fs.credential, fs.sync_credential]
            if fs.client_id and fs.client_secret and fs.tenant_id:
                fs.credential, fs.sync_credential = fs._get_credential_from_service_principal()
            else:
                fs.credential, fs.sync_credential = fs._get_default_azure_credential(**fs.kwargs)
        if hasattr(fs, "do_connect"):
            fs.do_connect()  # a new BlobServiceClient; it connects on first use
            _bound_retries(fs)
        return dropped

    def forget_file_clients(self, f: Any) -> list[Any]:
        # adlfs files keep the loop and a container client of their own
        dropped = [v for v in (getattr(f, "container_client", None),) if v is not None]
        if hasattr(f, "container_client") and hasattr(f, "container_name"):
            f.loop = f.fs.loop
            f.container_client = f.fs.service_client.get_container_client(f.container_name)
        return dropped

    def capabilities(self, fs: Any) -> Capabilities:

        reasons = {
            "presign_revocable": "a SAS works until it expires, unless it is tied to a stored "
            "access policy or its key is rotated",
            "versioning": "open the filesystem with version_aware=True",
            "suffix_ranges": "adlfs sends a malformed Range header for 'last N bytes' reads",
        }
        connection = getattr(fs, "connection_string", None) or ""
        has_key = bool(getattr(fs, "account_key", None)) or "AccountKey=" in connection
        has_identity = bool(getattr(fs, "credential", None)) or bool(
            getattr(fs, "client_secret", None)
        )
        lifetime: timedelta | None = None
        if getattr(fs, "anon", False) and not (has_key or has_identity):
            signs = False
            reasons["presign_get"] = reasons["presign_put"] = "anonymous: nothing to sign with"
        elif has_key:
            signs = True  # an account-key SAS has no lifetime limit
        elif has_identity:
            signs, lifetime = True, timedelta(days=7)  # user delegation SAS
            reasons["presign_max_lifetime"] = "a user delegation key lives at most 7 days"
        else:
            signs = False
            reasons["presign_get"] = reasons["presign_put"] = (
                "a SAS cannot mint another SAS: give the account key or an Entra ID identity"
            )
        return self._capabilities(
            fs,
            presign_get=signs,
            presign_put=signs,
            presign_kind="sas" if signs else None,
            presign_max_lifetime=lifetime,
            suffix_ranges=False,
            server_side_copy=True,
            multipart_upload=True,
            checksum="md5 (Content-MD5: single-request uploads, and unifs on block commits)",
            max_object_size=50_000 * 4000 * 2**20,  # 50,000 blocks of 4000 MiB
            reasons=reasons,
        )

    def start_parts(self, fs: Any, path: str, *, part_size: int | None = None) -> Any:
        # blocks are staged against the blob name and committed by id: no request to begin,
        # and uncommitted blocks are dropped by the service (after a week)
        if not hasattr(fs, "service_client"):
            return None
        import uuid

        return uuid.uuid4().hex

    @staticmethod
    def _block_id(upload: str, number: int) -> str:
        import base64

        return base64.b64encode(f"{upload}-{number:06d}".encode()).decode()

    async def put_part(self, fs: Any, path: str, upload: str, number: int, data: bytes) -> str:
        container, blob, _ = fs.split_path(path)
        block = self._block_id(upload, number)
        async with fs.service_client.get_blob_client(container, blob) as client:
            await client.stage_block(block_id=block, data=data, length=len(data))
        return block

    async def finish_parts(
        self, fs: Any, path: str, upload: str, parts: list[str], *, md5: bytes | None = None
    ) -> None:
        from azure.storage.blob import BlobBlock, ContentSettings

        container, blob, _ = fs.split_path(path)
        # a blob committed from blocks has a Content-MD5 only if the commit sets it
        extra = {"content_settings": ContentSettings(content_md5=bytearray(md5))} if md5 else {}
        async with fs.service_client.get_blob_client(container, blob) as client:
            await client.commit_block_list([BlobBlock(block_id=b) for b in parts], **extra)

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
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas
        from fsspec.asyn import sync

        container, blob = path.split("/", 1)
        connection = getattr(fs, "connection_string", None) or ""
        account = str(fs.account_name or _conn_value(connection, "AccountName"))
        key = getattr(fs, "account_key", None) or _conn_value(connection, "AccountKey")
        # a few minutes of slack for clocks that run behind the service's
        start = datetime.now(timezone.utc) - timedelta(minutes=5)
        permission = (
            BlobSasPermissions(read=True)
            if method == "GET"
            else BlobSasPermissions(create=True, write=True)
        )
        signing: dict[str, Any]
        if key:
            signing = {"account_key": key}
        else:  # an Entra ID identity: a user delegation key signs instead
            delegation = sync(fs.loop, fs.service_client.get_user_delegation_key, start, expires_at)
            signing = {"user_delegation_key": delegation}
        sas = generate_blob_sas(
            account_name=account,
            container_name=container,
            blob_name=blob,
            permission=permission,
            expiry=expires_at,
            start=start,
            content_type=content_type if method == "GET" else None,
            **signing,
        )
        headers = {}
        if method == "PUT":
            headers = {
                "x-ms-blob-type": "BlockBlob",
                "Content-Type": content_type or "application/octet-stream",
            }
        base = fs.service_client.url.rstrip("/")
        return PresignedURL(
            url=f"{base}/{container}/{encode_key(blob)}?{sas}",
            method=method,
            expires_at=expires_at,
            headers=headers,
            provider=self.name,
            kind="sas",
            uri=uri.url,
        )

    def matrix_filesystems(self) -> list[tuple[str, Any]]:
        import base64

        import fsspec

        key = base64.b64encode(b"0" * 64).decode()

        def make(**options: Any) -> Any:
            return fsspec.filesystem(
                "az", account_name="example", skip_instance_cache=True, **options
            )

        return [
            ("account key", make(account_key=key)),
            ("SAS only", make(sas_token="sv=2024-01-01&sig=x")),
            ("anonymous", make(anon=True)),
        ]

    def uri_storage_options(self, uri: StorageURI) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if uri.account:
            options["account_name"] = uri.account
        if uri.endpoint:
            options["account_host"] = uri.endpoint.split("://", 1)[-1]
        return options

    def checksum(self, info: dict[str, Any]) -> tuple[str, str] | None:
        # Azure stores Content-MD5 for blobs uploaded in one request, or when the writer set it.
        # adlfs hands back azure's ContentSettings, a mapping that is not a dict
        settings = info.get("content_settings")
        md5 = settings.get("content_md5") if settings is not None else None
        return ("md5", bytes(md5).hex()) if md5 else None

    def version_pin(self, info: dict[str, Any]) -> str | None:
        etag = info.get("etag")
        return str(etag) if etag else None

    def read_range(
        self, fs: Any, path: str, start: int, end: int, *, pin: str | None = None
    ) -> Any:
        # adlfs's cat_file passes no conditions; the blob client takes an ETag to match
        if not pin or not hasattr(fs, "service_client"):
            return None
        return self._read_range(fs, path, start, end, pin)

    async def _read_range(self, fs: Any, path: str, start: int, end: int, pin: str) -> bytes:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceNotFoundError

        container, blob, version_id = fs.split_path(path)
        async with fs.service_client.get_blob_client(container=container, blob=blob) as client:
            try:
                stream = await client.download_blob(
                    offset=start,
                    length=end - start,
                    version_id=version_id,
                    etag=pin,
                    match_condition=MatchConditions.IfNotModified,
                    max_concurrency=fs.max_concurrency or 1,  # as adlfs's cat_file
                )
                data: bytes = await stream.readall()
            except ResourceNotFoundError as exc:
                raise FileNotFoundError(f"no such blob: {path}") from exc
            except Exception as exc:
                if precondition_failed(exc):
                    raise ObjectChangedError(path, pin) from exc
                raise
        return data

    def stream_range(
        self, fs: Any, path: str, start: int, end: int, *, pin: str | None = None
    ) -> Any:
        # adlfs and the SDK's downloader hold a whole range (its first 32 MiB at least) in
        # memory; the client's generated operation returns the body as a stream
        if not hasattr(fs, "service_client"):
            return None
        return self._stream_range(fs, path, start, end, pin)

    async def _stream_range(self, fs: Any, path: str, start: int, end: int, pin: str | None) -> Any:
        from azure.core.exceptions import ResourceNotFoundError
        from azure.storage.blob._generated.models import ModifiedAccessConditions

        container, blob, version_id = fs.split_path(path)
        async with fs.service_client.get_blob_client(container=container, blob=blob) as client:
            try:
                stream = await client._client.blob.download(
                    range=f"bytes={start}-{end - 1}",
                    version_id=version_id,
                    modified_access_conditions=ModifiedAccessConditions(if_match=pin)
                    if pin
                    else None,
                )
            except ResourceNotFoundError as exc:
                raise FileNotFoundError(f"no such blob: {path}") from exc
            except Exception as exc:
                if pin and precondition_failed(exc):
                    raise ObjectChangedError(path, pin) from exc
                raise
            response = stream.response.internal_response  # aiohttp's
            try:
                async for chunk in iter_body(response.content):
                    yield chunk
            finally:
                response.close()  # a body left unread must not go back to the pool

    #: a blob committed from blocks keeps Content-MD5 only if the writer sets it on commit
    md5_before_put = True

    def put_file_options(
        self, fs: Any, *, part_size: int, md5: bytes | None = None
    ) -> dict[str, Any]:
        if md5 is None:
            return {}
        from azure.storage.blob import ContentSettings

        return {"content_settings": ContentSettings(content_md5=bytearray(md5))}


def _bound_retries(fs: Any) -> None:
    """Give ``fs``'s blob client the ``retry_total`` its storage options name, if any.

    adlfs keeps options it does not know in ``fs.kwargs`` and builds its
    BlobServiceClient without them; the client's retry policy (shared by every blob
    client made from it) is the one place the count can be set.
    """
    total = getattr(fs, "kwargs", {}).get("retry_total")
    config = getattr(getattr(fs, "service_client", None), "_config", None)
    policy = getattr(config, "retry_policy", None)
    if total is not None and policy is not None and hasattr(policy, "total_retries"):
        policy.total_retries = int(total)
