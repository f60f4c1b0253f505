"""Look-alikes that are not cloud-SDK use: nothing here may be reported."""

import json
import pathlib

import unifs
from myproject import storage  # a project module that happens to be called storage
from unifs.providers import s3

# boto3.client("s3").download_file(...) in a comment is not code
DOC = "use boto3.client('s3').download_file or google.cloud.storage.Client()"


def local_variable_named_storage(path: str) -> list:
    storage = pathlib.Path(path)  # a local variable called storage
    client = storage.open()  # not a google client
    return [client, storage.Client if hasattr(storage, "Client") else None]


def parameter_named_boto3(boto3) -> None:
    boto3.client("s3").download_file("b", "k", "f")  # a parameter shadows nothing imported


def shadowed_import() -> None:
    client = storage.Client()  # myproject.storage, not google.cloud.storage
    client.download_file("x")


def uses_unifs(uri: str, dest: str) -> None:
    unifs.get(uri, dest)
    unifs.presign(uri)
    with unifs.open(uri, "wb") as handle:
        handle.write(json.dumps({"boto3": "azure.storage.blob"}).encode())
    fs, path = unifs.url_to_fs(uri)
    fs.download_file = None
    s3.S3Provider  # unifs's own provider module


def azure_identity_for_keyvault():
    from azure.keyvault.secrets import SecretClient

    return SecretClient
