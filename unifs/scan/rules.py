"""What the scanner looks for, as data: SDK modules, and the unifs call that replaces each use.

Detection (:mod:`unifs.scan.visitor`) resolves every name to a dotted origin such as
``boto3.client().download_file``; these tables turn an origin into an SDK name and a hint.
Adding an SDK or a method means adding a row here, not code.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DATA_METHODS",
    "SDK",
    "SDKS",
    "SERVICE_FACTORIES",
    "STORAGE_SERVICES",
    "hint_for",
    "sdk_for",
    "sdk_named",
]


@dataclass(frozen=True)
class SDK:
    """One family of direct cloud-storage code: its modules, and what replaces it."""

    name: str  # stable identifier, used as the SARIF rule id suffix
    modules: tuple[str, ...]  # dotted module prefixes that belong to it
    description: str
    hint: str  # the replacement when no more specific hint applies
    #: only reported when a file also uses one of these SDKs (a credential is storage code
    #: only when it is built for storage)
    only_with: tuple[str, ...] = ()


SDKS: tuple[SDK, ...] = (
    SDK(
        "boto3",
        ("boto3",),
        "AWS SDK (boto3) used for object storage",
        "unifs.url_to_fs('s3://bucket/key') for a filesystem; unifs.get / unifs.put / "
        "unifs.open / unifs.presign for the common calls",
    ),
    SDK(
        "botocore",
        ("botocore",),
        "botocore (AWS SDK core) used directly",
        "unifs.url_to_fs('s3://...'); catch FileNotFoundError / PermissionError "
        "(unifs.UnifsError) instead of botocore errors",
    ),
    SDK(
        "aiobotocore",
        ("aiobotocore",),
        "aiobotocore (async AWS SDK) used directly",
        "await unifs.aget / unifs.aput, or the async methods of unifs.url_to_fs('s3://...')",
    ),
    SDK(
        "google-cloud-storage",
        ("google.cloud.storage",),
        "Google Cloud Storage client library used directly",
        "unifs.url_to_fs('gs://bucket/key'); unifs.get / unifs.put / unifs.open / unifs.presign",
    ),
    SDK(
        "azure-storage-blob",
        ("azure.storage.blob",),
        "Azure Blob Storage SDK used directly",
        "unifs.url_to_fs('az://container/key', auth=...); unifs.get / unifs.put / "
        "unifs.open / unifs.presign",
    ),
    SDK(
        "azure-identity",
        ("azure.identity",),
        "Azure credential built for Blob Storage",
        "an auth block passed to unifs, e.g. auth={'auth': 'service_principal', ...} "
        "(see the Auth page)",
        only_with=("azure-storage-blob",),
    ),
    SDK(
        "oci-object-storage",
        ("oci.object_storage",),
        "OCI Object Storage SDK client used directly",
        "unifs.url_to_fs('oci://n/NAMESPACE/b/BUCKET/o/KEY', auth=...); unifs.get / "
        "unifs.put / unifs.open / unifs.presign",
    ),
    SDK(
        "s3fs",
        ("s3fs",),
        "s3fs filesystem built directly",
        "unifs.url_to_fs('s3://bucket/key', auth=...)",
    ),
    SDK(
        "gcsfs",
        ("gcsfs",),
        "gcsfs filesystem built directly",
        "unifs.url_to_fs('gs://bucket/key', auth=...)",
    ),
    SDK(
        "adlfs",
        ("adlfs",),
        "adlfs filesystem built directly",
        "unifs.url_to_fs('az://container/key', auth=...)",
    ),
    SDK(
        "ocifs",
        ("ocifs",),
        "ocifs filesystem built directly",
        "unifs.url_to_fs('oci://n/NAMESPACE/b/BUCKET/o/KEY', auth=...)",
    ),
)

_BY_NAME = {sdk.name: sdk for sdk in SDKS}

#: a method called on anything an SDK gave back -> the unifs call that does the same
METHOD_HINTS: dict[str, str] = {
    # downloads
    "download_file": "unifs.get(uri, local_path)",
    "download_fileobj": "unifs.open(uri, 'rb') and copy from it",
    "download_to_filename": "unifs.get(uri, local_path)",
    "download_to_file": "unifs.open(uri, 'rb') and copy from it",
    "download_as_bytes": "unifs.open(uri, 'rb').read()",
    "download_as_string": "unifs.open(uri, 'rb').read()",
    "download_as_text": "unifs.open(uri, 'r').read()",
    "download_blob": "unifs.open(uri, 'rb') (or unifs.get(uri, local_path))",
    "get_object": "unifs.open(uri, 'rb')",
    "get_object_tagging": "fs.info(path) on unifs.url_to_fs(uri)",
    # uploads
    "upload_file": "unifs.put(local_path, uri)",
    "upload_fileobj": "unifs.open(uri, 'wb') and copy into it",
    "upload_from_filename": "unifs.put(local_path, uri)",
    "upload_from_file": "unifs.open(uri, 'wb') and copy into it",
    "upload_from_string": "unifs.open(uri, 'wb').write(data)",
    "upload_blob": "unifs.open(uri, 'wb') (or unifs.put(local_path, uri))",
    "put_object": "unifs.open(uri, 'wb')",
    "create_multipart_upload": "unifs.put(local_path, uri) (multipart is automatic)",
    "upload_part": "unifs.put(local_path, uri) (multipart is automatic)",
    # presigning
    "generate_presigned_url": "unifs.presign(uri, method='GET' or 'PUT', expires=timedelta(...))",
    "generate_presigned_post": "unifs.presign(uri, method='PUT', expires=timedelta(...))",
    "generate_signed_url": "unifs.presign(uri, method='GET' or 'PUT', expires=timedelta(...))",
    "generate_blob_sas": "unifs.presign(uri, method='GET' or 'PUT', expires=timedelta(...))",
    "generate_container_sas": "unifs.presign(uri, ...) per object",
    "create_preauthenticated_request": "unifs.presign(uri, expires=timedelta(...)) "
    "(an OCI PAR; unifs.revoke(signed) deletes it)",
    "delete_preauthenticated_request": "unifs.revoke(signed)",
    # listing and metadata
    "list_objects": "fs.ls(path) / fs.find(path) on unifs.url_to_fs(uri)",
    "list_objects_v2": "fs.ls(path) / fs.find(path) on unifs.url_to_fs(uri)",
    "get_paginator": "fs.find(path) on unifs.url_to_fs(uri) (pagination is handled)",
    "list_blobs": "fs.ls(path) / fs.find(path) on unifs.url_to_fs(uri)",
    "walk_blobs": "fs.walk(path) on unifs.url_to_fs(uri)",
    "head_object": "fs.info(path) on unifs.url_to_fs(uri)",
    "get_blob_properties": "fs.info(path) on unifs.url_to_fs(uri)",
    "get_blob": "fs.info(path) on unifs.url_to_fs(uri)",
    "exists": "fs.exists(path) on unifs.url_to_fs(uri)",
    # changes
    "delete_object": "fs.rm(path) on unifs.url_to_fs(uri)",
    "delete_objects": "fs.rm(paths) on unifs.url_to_fs(uri)",
    "delete_blob": "fs.rm(path) on unifs.url_to_fs(uri)",
    "copy_object": "fs.copy(src, dst) on unifs.url_to_fs(uri)",
    "copy_blob": "fs.copy(src, dst) on unifs.url_to_fs(uri)",
    "start_copy_from_url": "fs.copy(src, dst) on unifs.url_to_fs(uri)",
    "rename_object": "fs.mv(src, dst) on unifs.url_to_fs(uri)",
}

#: constructors and factory functions, by origin
ORIGIN_HINTS: dict[str, str] = {
    "boto3.client": "unifs.url_to_fs('s3://bucket/key', auth=...) instead of an S3 client",
    "boto3.resource": "unifs.url_to_fs('s3://bucket/key', auth=...) instead of an S3 resource",
    "boto3.Session": "an auth block, e.g. auth={'auth': 'access_key', ...} or "
    "{'auth': 'profile', 'profile': ...}",
    "boto3.session.Session": "an auth block, e.g. auth={'auth': 'profile', 'profile': ...}",
    "google.cloud.storage.Client": "unifs.url_to_fs('gs://bucket/key', auth=...)",
    "google.cloud.storage.Client.from_service_account_json": "auth={'auth': "
    "'service_account', 'token': 'key.json'} with unifs.url_to_fs('gs://...')",
    "azure.storage.blob.BlobServiceClient": "unifs.url_to_fs('az://container/key', auth=...)",
    "azure.storage.blob.BlobServiceClient.from_connection_string": "auth={'auth': "
    "'connection_string', 'connection_string': ...} with unifs.url_to_fs('az://...')",
    "azure.storage.blob.ContainerClient": "unifs.url_to_fs('az://container/', auth=...)",
    "azure.storage.blob.BlobClient": "unifs.open('az://container/key', auth=...)",
    "oci.object_storage.ObjectStorageClient": "unifs.url_to_fs("
    "'oci://n/NAMESPACE/b/BUCKET/o/KEY', auth=...)",
    "oci.object_storage.UploadManager": "unifs.put(local_path, 'oci://n/NS/b/BUCKET/o/KEY')",
    "s3fs.S3FileSystem": "unifs.url_to_fs('s3://bucket/key', auth=...)",
    "s3fs.core.S3FileSystem": "unifs.url_to_fs('s3://bucket/key', auth=...)",
    "gcsfs.GCSFileSystem": "unifs.url_to_fs('gs://bucket/key', auth=...)",
    "gcsfs.core.GCSFileSystem": "unifs.url_to_fs('gs://bucket/key', auth=...)",
    "adlfs.AzureBlobFileSystem": "unifs.url_to_fs('az://container/key', auth=...)",
    "ocifs.OCIFileSystem": "unifs.url_to_fs('oci://n/NAMESPACE/b/BUCKET/o/KEY', auth=...)",
}


#: factories that take an AWS service name: only object storage is reported
SERVICE_FACTORIES = ("client", "resource", "create_client")
STORAGE_SERVICES = frozenset({"s3", "s3control"})

#: methods of plain data an SDK call returned (a response dict): reading it is not SDK use
DATA_METHODS = frozenset({"get", "items", "keys", "values", "pop", "setdefault", "decode"})


def sdk_for(origin: str) -> SDK | None:
    """The SDK a dotted origin (``google.cloud.storage.Client``) belongs to, if any."""
    for sdk in SDKS:
        for module in sdk.modules:
            if origin == module or origin.startswith(module + "."):
                return sdk
    return None


def sdk_named(name: str) -> SDK:
    """The SDK row called ``name``."""
    return _BY_NAME[name]


def hint_for(origin: str, sdk: SDK) -> str:
    """The replacement for one use: the called method's, else the constructor's, else the SDK's."""
    bare = origin.replace("()", "")
    if bare in ORIGIN_HINTS:
        return ORIGIN_HINTS[bare]
    method = bare.rsplit(".", 1)[-1]
    if "()" in origin and method in METHOD_HINTS:
        return METHOD_HINTS[method]
    if method in METHOD_HINTS and bare.count(".") > 1:
        return METHOD_HINTS[method]
    return sdk.hint
