"""Model loader written against boto3 directly (the runbook's starting point)."""

import os

import boto3 as b  # expect: import boto3
from botocore.exceptions import ClientError  # expect: import botocore.exceptions.ClientError

S3 = b.client("s3", region_name=os.environ.get("AWS_REGION"))  # expect: boto3.client


def download_artifact(bucket: str, key: str, dest: str) -> str:
    try:
        S3.download_file(bucket, key, dest)  # expect: boto3.client().download_file
    except ClientError:
        raise FileNotFoundError(key) from None
    return dest


def share(bucket: str, key: str) -> str:
    client = b.client("s3")  # expect: boto3.client
    signer = client  # the client passed around in one scope
    return signer.generate_presigned_url(  # expect: boto3.client().generate_presigned_url
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600
    )


def one_liner(path: str) -> None:
    b.client("s3").upload_file(path, "models", "x.bin")  # expect: boto3.client().upload_file


def stream(fileobj) -> None:
    s3 = b.resource("s3")  # expect: boto3.resource
    s3.Bucket("models").Object("k").upload_fileobj(fileobj)  # expect: boto3.resource().Bucket().Object().upload_fileobj


class Registry:
    def __init__(self) -> None:
        self.client = b.client("s3")  # expect: boto3.client

    def names(self) -> list:
        pages = self.client.get_paginator("list_objects_v2")  # expect: boto3.client().get_paginator
        return [p for p in pages.paginate(Bucket="models")]  # expect: boto3.client().get_paginator().paginate


def silenced() -> None:
    S3.delete_object(Bucket="models", Key="old")  # unifs: ignore


def other_aws_services(table: str) -> dict:
    sts = b.client("sts")  # not object storage: not reported
    creds = sts.assume_role(RoleArn="arn", RoleSessionName="x")["Credentials"]
    b.resource("dynamodb").Table(table).put_item(Item={})
    return creds


def service_named_at_run_time(service: str) -> None:
    b.client(service).download_file("b", "k", "f")  # expect: boto3.client().download_file


def response_data() -> str:
    response = S3.get_object(Bucket="b", Key="k")  # expect: boto3.client().get_object
    return response.get("ContentType")  # plain data from here on
