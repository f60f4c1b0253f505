"""Azure Blob Storage: URIs, fsspec backend adlfs."""

from __future__ import annotations

import re
from typing import Any

from unifs.errors import AmbiguousURIError, UnsupportedError, URIError
from unifs.providers.base import (
    Provider,
    decode_key,
    encode_key,
    reject_query,
    split_https,
    split_scheme_uri,
)
from unifs.uri import StorageURI

__all__ = ["AzureProvider"]

_DEFAULT_SUFFIX = "core.windows.net"
# {account}.{blob|dfs}.{suffix}; sovereign clouds use other suffixes
_HOST = re.compile(
    r"^(?P<account>[a-z0-9]{3,24})\.(?P<service>blob|dfs)\."
    r"(?P<suffix>core\.windows\.net|core\.chinacloudapi\.cn|core\.usgovcloudapi\.net)$"
)
_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")


class AzureProvider(Provider):
    """Azure URIs: ``az://``, ``abfs(s)://``, ``wasb(s)://`` and blob/dfs https URLs."""

    name = "azure"
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

    def owns_https(self, url: str) -> bool:
        return _HOST.match(split_https(url).hostname or "") is not None

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

    def _parse_https(self, text: str) -> StorageURI:
        parts = split_https(text)
        reject_query(parts, text)
        match = _HOST.match(parts.hostname or "")
        if match is None:  # pragma: no cover - owns_https guards this
            raise URIError(f"{text!r} is not an Azure Blob URL", uri=text)
        container, _, key = parts.path.lstrip("/").partition("/")
        return self._make(text, container, decode_key(key), match.group("account"), match)

    def _format_fsspec(self, uri: StorageURI) -> str:
        if uri.account:
            return f"abfs://{uri.bucket}@{uri.account}.dfs.{_DEFAULT_SUFFIX}/{uri.key}"
        return f"az://{uri.bucket}/{uri.key}"

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
