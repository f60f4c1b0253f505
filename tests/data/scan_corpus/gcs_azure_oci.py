import google.cloud.storage  # expect: import google.cloud.storage
from azure.identity import DefaultAzureCredential  # expect: import azure.identity.DefaultAzureCredential
from azure.storage.blob import BlobServiceClient, generate_blob_sas  # expect: import azure.storage.blob.BlobServiceClient, import azure.storage.blob.generate_blob_sas
from google.cloud import storage as gcs  # expect: import google.cloud.storage

import oci


def gcs_download(bucket_name: str, key: str, dest: str) -> None:
    client = gcs.Client()  # expect: google.cloud.storage.Client
    bucket = client.bucket(bucket_name)  # expect: google.cloud.storage.Client().bucket
    blob = bucket.blob(key)  # expect: google.cloud.storage.Client().bucket().blob
    blob.download_to_filename(dest)  # expect: google.cloud.storage.Client().bucket().blob().download_to_filename


def gcs_full_path() -> list:
    return list(google.cloud.storage.Client().list_blobs("models"))  # expect: google.cloud.storage.Client().list_blobs


def azure_upload(account_url: str, data: bytes) -> None:
    credential = DefaultAzureCredential()  # expect: azure.identity.DefaultAzureCredential
    service = BlobServiceClient(account_url, credential=credential)  # expect: azure.storage.blob.BlobServiceClient
    container = service.get_container_client("models")  # expect: azure.storage.blob.BlobServiceClient().get_container_client
    container.upload_blob("model.bin", data)  # expect: azure.storage.blob.BlobServiceClient().get_container_client().upload_blob


def azure_sas(name: str, key: str) -> str:
    return generate_blob_sas(name, "models", "model.bin", account_key=key)  # expect: azure.storage.blob.generate_blob_sas


def oci_get(config: dict, namespace: str) -> bytes:
    client = oci.object_storage.ObjectStorageClient(config)  # expect: oci.object_storage.ObjectStorageClient
    response = client.get_object(namespace, "models", "model.bin")  # expect: oci.object_storage.ObjectStorageClient().get_object
    return response.data.content


def oci_par(config: dict, details) -> str:
    client = oci.object_storage.ObjectStorageClient(config)  # expect: oci.object_storage.ObjectStorageClient
    return client.create_preauthenticated_request("ns", "models", details)  # expect: oci.object_storage.ObjectStorageClient().create_preauthenticated_request


def oci_other_service(config: dict):
    return oci.core.ComputeClient(config)  # not object storage
