"""AWS S3 (and S3-compatible stores): URIs, fsspec backend s3fs."""

from __future__ import annotations

import functools
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
    merge_options,
    object_store_endpoint,
    precondition_failed,
    reject_query,
    split_https,
    split_scheme_uri,
)
from unifs.types import (
    AuthMode,
    Capabilities,
    GiB,
    MiB,
    Param,
    PartLimits,
    PresignedURL,
    TiB,
    seconds_until,
)
from unifs.uri import StorageURI

__all__ = ["REGION", "S3Provider"]

# {bucket}.s3.{region}.amazonaws.com, {bucket}.s3-{region}..., s3.{region}..., s3.amazonaws.com,
# dualstack hosts, and the .com.cn partition. Website endpoints do not serve the object API.
# the S3 console: s3.console.aws.amazon.com, {region}.console.aws.amazon.com, console.aws...
_CONSOLE_HOST = re.compile(r"^(?:(?:s3|[a-z]{2}(?:-[a-z]+)+-\d+)\.)?console\.aws\.amazon\.com$")
_CONSOLE_PAGES = ("/s3/buckets/", "/s3/object/")
_HOST = re.compile(
    r"^(?:(?P<bucket>.+)\.)?s3(?:\.dualstack)?(?:[.-](?P<region>(?!website)[a-z0-9-]+))?"
    r"\.amazonaws\.com(?:\.cn)?$"
)
# Host words in the region's place: the legacy global endpoint of us-east-1, and Transfer
# Acceleration, which serves every region
_REGION_ALIASES: dict[str, str | None] = {"external-1": "us-east-1", "accelerate": None}
#: an AWS region identifier: us-east-1, eu-central-2, us-gov-west-1, cn-north-1, ...
REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")
# a bucket that can be a DNS label of a virtual-hosted URL as it is (hosts are lower case)
_VIRTUAL_BUCKET = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,61})[a-z0-9]$")

#: what S3 answers for a key, secret or session token it does not take
_AUTH_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "ExpiredToken"}
)


_ROLE_ARN = Param("role_arn", "the IAM role to assume", env="AWS_ROLE_ARN")
_SESSION_NAME = Param("role_session_name", "the session name (default unifs)")
_STS_ENDPOINT = Param("sts_endpoint_url", "an STS endpoint URL to use instead of AWS's")
_DURATION = Param("duration", "seconds the temporary credentials last (default 3600)")


#: S3's additional checksums as ``head_object`` names them, and unifs's kind for each
_ADDITIONAL_CHECKSUMS = (
    ("ChecksumCRC64NVME", "crc64nvme"),
    ("ChecksumCRC32C", "crc32c"),
    ("ChecksumCRC32", "crc32"),
)


#: what create_multipart_upload is told so that S3 keeps a CRC64NVME of the whole object
_FULL_OBJECT_CRC = {"ChecksumAlgorithm": "CRC64NVME", "ChecksumType": "FULL_OBJECT"}


@functools.cache
def _crc64nvme() -> Any:
    """awscrt's checksums module where it computes and combines CRC64NVME, else None.

    Without it (awscrt is part of the s3 extra) unifs's uploads send no additional checksum
    and botocore adds its default CRC32, as before.
    """
    try:
        from awscrt import checksums
    except ImportError:
        return None
    needed = ("crc64nvme", "combine_crc64nvme")
    return checksums if all(hasattr(checksums, name) for name in needed) else None


def _b64_crc(crc: int) -> str:
    import base64

    return base64.b64encode(crc.to_bytes(8, "big")).decode()


class S3Provider(Provider):
    """AWS S3 URIs: ``s3://``, ``s3a://``, ``s3n://``, ``s3://bucket@region/key`` and https."""

    name = "s3"
    max_key_bytes = 1024
    plain_keys_only = True
    #: S3 multipart: parts of 5 MiB to 5 GiB (but the last), at most 10,000
    part_limits = PartLimits(min_part=5 * MiB, max_part=5 * GiB, max_parts=10_000)
    schemes = ("s3", "s3a", "s3n")
    fsspec_protocol = "s3"
    styles = ("fsspec", "https")
    extra = "s3"
    requires = ("s3fs",)
    # Legacy us-east-1 buckets may hold upper case and '_'; new ones may not.
    bucket_pattern = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{1,254}$")
    bucket_rule = "3 to 63 characters: lower-case letters, digits, '.' and '-'"

    auth_params = {
        "region": Param("region", "the bucket's region, e.g. us-west-2", env="AWS_DEFAULT_REGION"),
        "endpoint": Param("endpoint", "an S3-compatible endpoint URL (MinIO, Ceph, OCI compat)"),
        "force_path_style": Param("force_path_style", "address buckets in the path, not the host"),
    }
    auth_modes = {
        m.name: m
        for m in (
            AuthMode(
                "access_key",
                "an access key pair, optionally with a session token",
                required=("access_key_id", "secret_access_key"),
                optional=("session_token",),
                verified="moto with IAM authentication enforced",
                extra_params=(
                    Param("access_key_id", "the access key id", env="AWS_ACCESS_KEY_ID"),
                    Param(
                        "secret_access_key",
                        "the secret access key",
                        env="AWS_SECRET_ACCESS_KEY",
                        secret=True,
                    ),
                    Param("session_token", "an STS session token", env="AWS_SESSION_TOKEN"),
                ),
            ),
            AuthMode(
                "iam_role",
                "the instance profile or task role, from the metadata service",
                aliases=("instance_profile",),
                verified="a local IMDSv2 stand-in (AWS_EC2_METADATA_SERVICE_ENDPOINT)",
            ),
            AuthMode(
                "assume_role",
                "temporary credentials from STS AssumeRole, starting from the default chain "
                "or a given key pair",
                required=("role_arn",),
                optional=(
                    "role_session_name",
                    "external_id",
                    "duration",
                    "sts_endpoint_url",
                    "access_key_id",
                    "secret_access_key",
                ),
                verified="moto's STS",
                extra_params=(
                    _ROLE_ARN,
                    _SESSION_NAME,
                    _STS_ENDPOINT,
                    _DURATION,
                    Param("external_id", "the external id the role's trust policy requires"),
                    Param("access_key_id", "source credentials' access key id"),
                    Param("secret_access_key", "source credentials' secret", secret=True),
                ),
            ),
            AuthMode(
                "web_identity",
                "temporary credentials from STS AssumeRoleWithWebIdentity (EKS IRSA)",
                required=("role_arn", "token_file"),
                optional=("role_session_name", "duration", "sts_endpoint_url"),
                verified="moto's STS",
                extra_params=(
                    _ROLE_ARN,
                    _SESSION_NAME,
                    _STS_ENDPOINT,
                    _DURATION,
                    Param("token_file", "the OIDC token file", env="AWS_WEB_IDENTITY_TOKEN_FILE"),
                ),
            ),
            AuthMode(
                "profile",
                "a named profile from ~/.aws/config and ~/.aws/credentials",
                required=("profile",),
                verified="moto, with a temporary AWS config file",
                extra_params=(Param("profile", "the profile name", env="AWS_PROFILE"),),
            ),
            AuthMode("default", "botocore's standard credential chain"),
            AuthMode("anonymous", "unsigned requests: public buckets", verified="moto"),
        )
    }

    def owns_https(self, url: str) -> bool:
        host = split_https(url).hostname or ""
        return _HOST.match(host) is not None or _CONSOLE_HOST.match(host) is not None

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
        return self._make(text, bucket, key, region or None)

    def _make(self, text: str, bucket: str, key: str, region: str | None) -> StorageURI:
        if region is not None and not REGION.match(region):
            raise URIError(
                f"{region!r} in {text!r} is not an AWS region identifier such as us-west-2",
                uri=text,
            )
        return StorageURI(
            provider=self.name, bucket=self.check_bucket(bucket, text), key=key, region=region
        )

    def _parse_console(self, text: str, parts: Any) -> StorageURI:
        """``/s3/buckets/{bucket}?region=..&prefix=..`` (a folder) and ``/s3/object/{bucket}?
        prefix={key}`` (an object); ``region`` and ``prefix`` are the only query keys read."""
        from urllib.parse import parse_qs

        page = next((p for p in _CONSOLE_PAGES if parts.path.startswith(p)), None)
        if page is None:
            raise URIError(
                f"{text!r} is an AWS console page but not an S3 bucket or object page; open "
                "the bucket (https://s3.console.aws.amazon.com/s3/buckets/BUCKET?prefix=...) or "
                "copy the object's 'S3 URI' (s3://...) from its Properties",
                uri=text,
            )
        query = parse_qs(parts.query)
        bucket, _, path = decode_key(parts.path[len(page) :]).partition("/")
        key = query.get("prefix", [""])[0] or path
        if page == "/s3/buckets/" and key and not key.endswith("/"):
            key += "/"  # a bucket page shows a folder: its key is a prefix
        region = query.get("region", [None])[0]
        if region is None:
            found = _CONSOLE_HOST.match(parts.hostname or "")
            host_region = (parts.hostname or "").split(".", 1)[0]
            region = host_region if found and REGION.match(host_region) else None
        return self._make(text, bucket, key, region)

    def _parse_https(self, text: str) -> StorageURI:
        parts = split_https(text)
        if _CONSOLE_HOST.match(parts.hostname or ""):
            return self._parse_console(text, parts)
        reject_query(parts, text)
        match = _HOST.match(parts.hostname or "")
        if match is None:  # pragma: no cover - owns_https guards this
            raise URIError(f"{text!r} is not an AWS S3 URL", uri=text)
        region = match.group("region")
        region = _REGION_ALIASES.get(region, region) if region else None
        path = https_path(parts)
        bucket = match.group("bucket")
        if bucket is None:  # path-style: the bucket is the first path segment
            bucket, _, path = path.partition("/")
        return self._make(text, bucket, decode_key(path), region)

    def _format_fsspec(self, uri: StorageURI) -> str:
        return f"s3://{uri.bucket}/{uri.key}"

    def _format_https(self, uri: StorageURI) -> str:
        if uri.endpoint:
            return f"{uri.endpoint.rstrip('/')}/{uri.bucket}/{encode_key(uri.key)}"
        host = f"s3.{uri.region}.amazonaws.com" if uri.region else "s3.amazonaws.com"
        if uri.region and uri.region.startswith("cn-"):
            host += ".cn"  # the China partition's own domain
        if not _VIRTUAL_BUCKET.match(uri.bucket or ""):
            # a host is lower case and dotted names break TLS: legacy buckets (upper case,
            # '_') and dotted ones are addressed in the path
            return f"https://{host}/{uri.bucket}/{encode_key(uri.key)}"
        return f"https://{uri.bucket}.{host}/{encode_key(uri.key)}"

    def known_regions(self) -> tuple[str, ...]:
        """Every partition's S3 regions, from botocore's endpoints data."""
        try:
            import botocore.session
        except ImportError:
            return ()
        session = botocore.session.get_session()
        return tuple(
            sorted(
                {
                    region
                    for partition in session.get_available_partitions()
                    for region in session.get_available_regions("s3", partition)
                }
            )
        )

    def checksum(self, info: dict[str, Any]) -> tuple[str, str] | None:
        # A single-part upload's ETag is its MD5; a multipart one's ("...-N") is not.
        etag = str(info.get("ETag") or info.get("etag") or "").strip('"')
        if re.fullmatch(r"[0-9a-f]{32}", etag):
            return ("md5", etag)
        return None

    def checksums(self, info: dict[str, Any]) -> list[tuple[str, str]]:
        # S3's additional checksums (from stored_checksums): full-object values only; a
        # COMPOSITE one ("...-N", a CRC of part CRCs) is left to the ETag
        found = []
        if info.get("ChecksumType") != "COMPOSITE":
            for key, kind in _ADDITIONAL_CHECKSUMS:
                value = str(info.get(key) or "")
                if value and "-" not in value:
                    found.append((kind, b64_to_hex(value)))
        return found + super().checksums(info)

    def stored_checksums(self, fs: Any, path: str) -> Any:
        if not hasattr(fs, "_call_s3"):
            return None
        return self._stored_checksums(fs, path)

    async def _stored_checksums(self, fs: Any, path: str) -> dict[str, Any]:
        bucket, key, version = fs.split_path(path)
        extra = {"VersionId": version} if version else {}
        head = await fs._call_s3(
            "head_object", Bucket=bucket, Key=key, ChecksumMode="ENABLED", **extra
        )
        wanted = ("ChecksumType", *(name for name, _ in _ADDITIONAL_CHECKSUMS))
        return {name: head[name] for name in wanted if head.get(name)}

    def multipart_checksum(self, info: dict[str, Any]) -> tuple[str, int] | None:
        # A multipart ETag is the MD5 of the concatenated binary part MD5s, then "-{parts}".
        etag = str(info.get("ETag") or info.get("etag") or "").strip('"')
        match = re.fullmatch(r"([0-9a-f]{32})-(\d+)", etag)
        return (match.group(1), int(match.group(2))) if match else None

    def version_pin(self, info: dict[str, Any]) -> str | None:
        etag = info.get("ETag") or info.get("etag")
        return str(etag) if etag else None

    def part_sizes(self, fs: Any, path: str, info: dict[str, Any]) -> Any:
        # HEAD ?partNumber=N answers with that part's length and the part count
        found = self.multipart_checksum(info)
        if found is None or not hasattr(fs, "_call_s3"):
            return None
        return self._part_sizes(fs, path, int(info.get("size") or 0), found[1])

    async def _part_sizes(self, fs: Any, path: str, size: int, parts: int) -> list[int] | None:
        bucket, key, version = fs.split_path(path)
        extra = {"VersionId": version} if version else {}

        async def length(number: int) -> int:
            head = await fs._call_s3(
                "head_object", Bucket=bucket, Key=key, PartNumber=number, **extra
            )
            return int(head["ContentLength"])

        first = await length(1)
        if parts == 1:
            return [first]
        last = await length(parts)
        if size - first - last == (parts - 2) * first:  # the usual layout: equal parts, a tail
            return [first] * (parts - 1) + [last]
        return [first, *[await length(n) for n in range(2, parts)], last]

    def make_bucket(self, fs: Any, path: str) -> None:
        # s3fs sends LocationConstraint=<region> whatever the region, and S3 refuses
        # LocationConstraint=us-east-1 (that region is the one without a constraint)
        region = (getattr(fs, "client_kwargs", None) or {}).get("region_name")
        bucket, key, _ = fs.split_path(path)
        if key or not hasattr(fs, "call_s3") or region not in (None, "us-east-1"):
            super().make_bucket(fs, path)
            return
        if fs.exists(bucket):
            raise FileExistsError(bucket)
        fs.call_s3("create_bucket", Bucket=bucket)  # s3fs turns a refusal into an OSError
        fs.invalidate_cache(bucket)

    def one_try_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        # botocore's retry config (its legacy default tries a 500 five times)
        config = dict(options.get("config_kwargs") or {})
        config["retries"] = {"total_max_attempts": 1, "mode": "standard"}
        return {**options, "config_kwargs": config}

    def start_parts(self, fs: Any, path: str, *, part_size: int | None = None) -> Any:
        if not hasattr(fs, "_call_s3"):
            return None
        return self._start_parts(fs, path)

    async def _start_parts(self, fs: Any, path: str) -> str:
        bucket, key, _ = fs.split_path(path)
        # a full-object CRC64NVME, which a later read verifies at CRC cost (the ETag of a
        # multipart object is an MD5 of part MD5s: a pass of MD5 per read)
        extra = _FULL_OBJECT_CRC if _crc64nvme() is not None else {}
        started = await fs._call_s3("create_multipart_upload", Bucket=bucket, Key=key, **extra)
        return str(started["UploadId"])

    async def put_part(self, fs: Any, path: str, upload: str, number: int, data: bytes) -> str:
        bucket, key, _ = fs.split_path(path)
        crt = _crc64nvme()
        extra: dict[str, Any] = {}
        if crt is not None:
            crc = crt.crc64nvme(data)  # native, ~20 GB/s: no thread hop for one part
            extra = {"ChecksumAlgorithm": "CRC64NVME", "ChecksumCRC64NVME": _b64_crc(crc)}
        sent = await fs._call_s3(
            "upload_part", Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=data,
            **extra,
        )  # fmt: skip
        # the token carries the part's CRC and length, which finish_parts combines into the
        # whole object's CRC (parts may come from other processes: the token is all it gets)
        return f"{sent['ETag']} {crc:016x} {len(data)}" if crt is not None else str(sent["ETag"])

    async def finish_parts(
        self, fs: Any, path: str, upload: str, parts: list[str], *, md5: bytes | None = None
    ) -> None:
        bucket, key, _ = fs.split_path(path)
        listed: list[dict[str, Any]] = []
        crcs: list[tuple[int, int]] = []  # (crc, length) of each part
        for number, token in enumerate(parts, 1):
            etag, *carried = token.split(" ")
            listed.append({"PartNumber": number, "ETag": etag})
            if len(carried) == 2:
                crcs.append((int(carried[0], 16), int(carried[1])))
                listed[-1]["ChecksumCRC64NVME"] = _b64_crc(crcs[-1][0])
        extra: dict[str, Any] = {}
        crt = _crc64nvme()
        if crt is not None and crcs and len(crcs) == len(parts):
            whole, _ = crcs[0]
            for part_crc, length in crcs[1:]:
                whole = crt.combine_crc64nvme(whole, part_crc, length)
            extra = {"ChecksumType": "FULL_OBJECT", "ChecksumCRC64NVME": _b64_crc(whole)}
        else:  # parts sent without their CRCs: S3 takes the part list alone
            for entry in listed:
                entry.pop("ChecksumCRC64NVME", None)
        await fs._call_s3(
            "complete_multipart_upload", Bucket=bucket, Key=key, UploadId=upload,
            MultipartUpload={"Parts": listed}, **extra,
        )  # fmt: skip

    def pipe_file_options(self, fs: Any, data: bytes) -> dict[str, Any]:
        crt = _crc64nvme()
        if crt is None or not hasattr(fs, "_call_s3"):
            return {}
        return {
            "ChecksumAlgorithm": "CRC64NVME",
            "ChecksumCRC64NVME": _b64_crc(crt.crc64nvme(data)),
        }

    async def cancel_parts(self, fs: Any, path: str, upload: str) -> None:
        bucket, key, _ = fs.split_path(path)
        await fs._call_s3("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload)

    def upload_store(self, fs: Any) -> str | None:
        if not hasattr(fs, "_call_s3"):
            return None
        from unifs.providers.base import plain_url

        client = getattr(fs, "client_kwargs", None) or {}
        url = getattr(fs, "endpoint_url", None) or client.get("endpoint_url") or "aws"
        return f"s3 {plain_url(str(url))}"

    def list_uploads(self, fs: Any, prefix: str) -> Any:
        if not hasattr(fs, "_call_s3"):
            return None
        return self._list_uploads(fs, prefix)

    async def _list_uploads(self, fs: Any, prefix: str) -> list[tuple[str, str]]:
        bucket, key, _ = fs.split_path(prefix)
        found: list[tuple[str, str]] = []
        options: dict[str, Any] = {}
        while True:
            page = await fs._call_s3("list_multipart_uploads", Bucket=bucket, Prefix=key, **options)
            found += [(f"{bucket}/{u['Key']}", u["UploadId"]) for u in page.get("Uploads", [])]
            if not page.get("IsTruncated"):
                return found
            options = {
                "KeyMarker": page.get("NextKeyMarker"),
                "UploadIdMarker": page.get("NextUploadIdMarker"),
            }

    def abort_uploads(self, fs: Any, path: str, *, before: datetime) -> Any:
        if not hasattr(fs, "_call_s3"):
            return None
        return self._abort_uploads(fs, path, before)

    async def _abort_uploads(self, fs: Any, path: str, before: datetime) -> int:
        bucket, key, _ = fs.split_path(path)
        aborted = 0
        options: dict[str, Any] = {}
        while True:
            page = await fs._call_s3("list_multipart_uploads", Bucket=bucket, Prefix=key, **options)
            for upload in page.get("Uploads", []):
                if upload.get("Key") == key and upload["Initiated"] < before:
                    await fs._call_s3(
                        "abort_multipart_upload", Bucket=bucket, Key=key,
                        UploadId=upload["UploadId"],
                    )  # fmt: skip
                    aborted += 1
            if not page.get("IsTruncated"):
                return aborted
            options = {
                "KeyMarker": page.get("NextKeyMarker"),
                "UploadIdMarker": page.get("NextUploadIdMarker"),
            }

    def stream_range(
        self, fs: Any, path: str, start: int, end: int, *, pin: str | None = None
    ) -> Any:
        # s3fs's cat_file holds a whole range in memory; its client can stream the body
        if not hasattr(fs, "_call_s3"):
            return None
        return self._stream_range(fs, path, start, end, pin)

    async def _stream_range(self, fs: Any, path: str, start: int, end: int, pin: str | None) -> Any:
        bucket, key, version = fs.split_path(path)
        extra: dict[str, Any] = {"VersionId": version} if version else {}
        if pin:
            extra["IfMatch"] = pin
        try:
            response = await fs._call_s3(
                "get_object", Bucket=bucket, Key=key, Range=f"bytes={start}-{end - 1}",
                **fs.req_kw, **extra,
            )  # fmt: skip
        except Exception as exc:
            if pin and precondition_failed(exc):
                raise ObjectChangedError(path, pin) from exc
            raise
        body = response["Body"]
        content = getattr(getattr(body, "raw_stream", None), "content", None)
        try:
            if content is not None:  # aiohttp underneath: its pieces as they come, no join
                async for chunk in iter_body(content):
                    yield chunk
            else:
                while chunk := await body.read(1 << 20):
                    yield chunk
        finally:
            body.close()

    def metadata_service(self, mode: AuthMode) -> tuple[str, str] | None:
        if mode.name != "iam_role":
            return None
        if os.environ.get("AWS_EC2_METADATA_DISABLED", "").lower() == "true":
            return None  # botocore will not ask it: no credentials is said at once
        url = os.environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT") or "http://169.254.169.254/"
        return "the EC2 instance metadata service (IMDS)", url

    # s3fs's aiobotocore client and its creator hold the connection pool
    per_process_attributes = ("_s3", "_s3creator")

    def explain_error(self, exc: BaseException, *, uri: str) -> str | None:
        sdk = sys.modules.get("botocore.exceptions")
        if sdk is None:  # botocore was never imported: it raised nothing
            return None
        if isinstance(exc, sdk.NoCredentialsError):
            return (
                "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or "
                "AWS_PROFILE, or pass -o key=... -o secret=... (-o anon=true for a public bucket)"
            )
        if isinstance(exc, sdk.PartialCredentialsError):
            return (
                "incomplete AWS credentials: give both the access key id and the secret "
                "(-o key=... -o secret=...)"
            )
        if isinstance(exc, sdk.EndpointConnectionError):
            return (
                f"could not connect to {error_detail(exc)}: check -o endpoint_url and that the "
                "server is up"
            )
        if isinstance(exc, sdk.ConnectTimeoutError):
            return f"timed out connecting to {error_detail(exc)}: check the endpoint"
        if isinstance(exc, sdk.ClientError):  # the service answered no
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _AUTH_CODES:
                return (
                    f"S3 refused the credentials ({code}): check the key and secret, "
                    "and -o endpoint_url for a non-AWS store"
                )
            if code in ("NoSuchBucket", "NoSuchKey", "404"):
                return f"{uri}: not found ({code})"
        return None

    def forget_clients(self, fs: Any) -> list[Any]:
        import asyncio

        dropped = super().forget_clients(fs)
        if getattr(fs, "_session_is_owned", False) and fs.session is not None:
            # s3fs made this AioSession (a caller's own session holds no connections)
            dropped.append(fs.session)
            fs.session = None
        if hasattr(fs, "_set_session_lock"):
            # an asyncio.Lock binds to the loop that first waited on it: the parent's
            fs._set_session_lock = asyncio.Lock()
        return dropped

    def auth_options(
        self, uri: StorageURI, mode: AuthMode | None, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if params.get("region"):
            options["client_kwargs"] = {"region_name": params["region"]}
        if params.get("endpoint"):
            options["endpoint_url"] = params["endpoint"]
        if params.get("force_path_style"):
            options["config_kwargs"] = {"s3": {"addressing_style": "path"}}
        name = mode.name if mode else None
        if name == "access_key":
            options["key"] = self.value("access_key_id", params, mode)
            options["secret"] = self.value("secret_access_key", params, mode)
            token = self.value("session_token", params, mode)
            if token:
                options["token"] = token
        elif name in ("assume_role", "web_identity"):
            options.update(self._sts_credentials(name, params, mode))
        elif name == "profile":
            options["profile"] = self.value("profile", params, mode)
        elif name == "anonymous":
            options["anon"] = True
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
        key, secret, token = options.get("key"), options.get("secret"), options.get("token")
        region = (options.get("client_kwargs") or {}).get("region_name")
        if options.get("profile"):
            # object_store reads no AWS profiles: resolve this one's credentials here
            import botocore.session

            session = botocore.session.Session(profile=options["profile"])
            credentials = session.get_credentials()
            if credentials is None:
                raise AuthError(f"AWS profile {options['profile']!r} holds no credentials")
            frozen = credentials.get_frozen_credentials()
            key, secret, token = frozen.access_key, frozen.secret_key, frozen.token
            region = region or session.get_config_variable("region")
        for name, value in (
            ("aws_access_key_id", key),
            ("aws_secret_access_key", secret),
            ("aws_session_token", token),
            ("aws_region", region),
            ("aws_endpoint", options.get("endpoint_url")),
        ):
            if value:
                out[name] = str(value)
        if options.get("anon"):
            out["aws_skip_signature"] = "true"
        style = ((options.get("config_kwargs") or {}).get("s3") or {}).get("addressing_style")
        if style in ("path", "virtual"):
            out["aws_virtual_hosted_style_request"] = "true" if style == "virtual" else "false"
        out.update(object_store_endpoint(options.get("endpoint_url")))
        return out

    def _sts_credentials(
        self, name: str, params: Mapping[str, Any], mode: AuthMode | None
    ) -> dict[str, Any]:
        """Temporary credentials from STS, fetched now (build the options again to renew)."""
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        role_arn = self.value("role_arn", params, mode)
        request: dict[str, Any] = {
            "RoleArn": role_arn,
            "RoleSessionName": params.get("role_session_name", "unifs"),
            "DurationSeconds": int(params.get("duration", 3600)),
        }
        client_args: dict[str, Any] = {
            "region_name": params.get("region")
            or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1"
        }
        if params.get("sts_endpoint_url"):
            client_args["endpoint_url"] = params["sts_endpoint_url"]
        if name == "web_identity":
            token_file = self.value("token_file", params, mode)
            with open(os.path.expanduser(token_file)) as handle:
                request["WebIdentityToken"] = handle.read().strip()
            # AssumeRoleWithWebIdentity is unsigned: the token is the credential
            sts = boto3.client("sts", config=Config(signature_version=UNSIGNED), **client_args)
            response = sts.assume_role_with_web_identity(**request)
        else:
            if params.get("external_id"):
                request["ExternalId"] = params["external_id"]
            if params.get("access_key_id"):
                client_args["aws_access_key_id"] = params["access_key_id"]
                client_args["aws_secret_access_key"] = params.get("secret_access_key")
            sts = boto3.client("sts", **client_args)
            response = sts.assume_role(**request)
        creds = response.get("Credentials")
        if not creds:  # pragma: no cover - STS always answers with credentials or an error
            raise AuthError(f"STS returned no credentials for role {role_arn!r}")
        return {
            "key": creds["AccessKeyId"],
            "secret": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
        }

    def capabilities(self, fs: Any) -> Capabilities:
        reasons = {
            "presign_revocable": "a presigned URL works until it expires (or its key is revoked)",
            "versioning": "open the filesystem with version_aware=True",
        }
        signs = not getattr(fs, "anon", False)
        if not signs:
            reasons["presign_get"] = reasons["presign_put"] = "anonymous: nothing to sign with"
        if getattr(fs, "token", None):
            reasons["presign_max_lifetime"] = "temporary credentials: URLs die with them"
        return self._capabilities(
            fs,
            presign_get=signs,
            presign_put=signs,
            presign_kind="presigned-url" if signs else None,
            presign_max_lifetime=timedelta(days=7) if signs else None,
            server_side_copy=True,
            multipart_upload=True,
            checksum=(
                "crc64nvme, crc32c or crc32 (additional checksums, full-object), else md5 "
                "(the ETag; multipart: MD5 of the part MD5s)"
            ),
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
        if fs.config_kwargs.get("signature_version") != "s3v4":
            # botocore presigns SigV2 unless told otherwise; v2 is deprecated and
            # refused by newer regions and by OCI's compatibility API
            options = merge_options(
                fs.storage_options, {"config_kwargs": {"signature_version": "s3v4"}}
            )
            fs = type(fs)(**options, skip_instance_cache=True)
        params: dict[str, Any] = {}
        headers: dict[str, str] = {}
        if method == "PUT":
            # the signature covers Content-Type: the uploader must send exactly this one
            headers["Content-Type"] = params["ContentType"] = (
                content_type or "application/octet-stream"
            )
        elif content_type:
            params["ResponseContentType"] = content_type
        seconds = seconds_until(expires_at)
        url = fs.url(
            path,
            expires=seconds,
            client_method="get_object" if method == "GET" else "put_object",
            **params,
        )
        return PresignedURL(
            url=url,
            method=method,
            expires_at=expires_at,
            headers=headers,
            provider=self.name,
            kind="presigned-url",
            uri=f"s3://{path}",
        )

    def matrix_filesystems(self) -> list[tuple[str, Any]]:
        import fsspec

        return [
            (
                "access key",
                fsspec.filesystem("s3", key="AKIAEXAMPLE", secret="x", skip_instance_cache=True),
            ),
            ("anonymous", fsspec.filesystem("s3", anon=True, skip_instance_cache=True)),
        ]

    def uri_storage_options(self, uri: StorageURI) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if uri.region:
            options["client_kwargs"] = {"region_name": uri.region}
        if uri.endpoint:
            options["endpoint_url"] = uri.endpoint
        return options
