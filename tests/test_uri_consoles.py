"""Console URLs of the four clouds read as the bucket, folder or object the page shows, or
are refused with the URL to copy instead (GCS's console forms are in test_uri.py)."""

from __future__ import annotations

import pytest

import unifs

_RID = (
    "%2Fsubscriptions%2F00000000-1111-2222-3333-444444444444%2FresourceGroups%2Frg-ml"
    "%2Fproviders%2FMicrosoft.Storage%2FstorageAccounts%2Fmlmodels01"
)

# (console URL, provider, bucket, key, namespace, account, region, canonical url)
CONSOLES = [
    (
        "https://cloud.oracle.com/object-storage/buckets/acme/models/objects?region=us-ashburn-1",
        "oci", "models", "", "acme", None, "us-ashburn-1", "oci://models@acme/",
    ),
    (
        "https://cloud.oracle.com/object-storage/buckets/acme/models/objects/llama%2Fconfig.json"
        "?region=eu-frankfurt-1",
        "oci", "models", "llama/config.json", "acme", None, "eu-frankfurt-1",
        "oci://models@acme/llama/config.json",
    ),
    (
        "https://cloud.oracle.com/object-storage/buckets/acme/models/details?region=us-phoenix-1",
        "oci", "models", "", "acme", None, "us-phoenix-1", "oci://models@acme/",
    ),
    (
        "https://cloud.oracle.com/object-storage/buckets/acme/models/objects"
        "?region=us-ashburn-1&prefix=llama/7b",
        "oci", "models", "llama/7b/", "acme", None, "us-ashburn-1", "oci://models@acme/llama/7b/",
    ),
    (
        "https://s3.console.aws.amazon.com/s3/buckets/my-models?region=us-west-2"
        "&prefix=llama/7b/&showversions=false",
        "s3", "my-models", "llama/7b/", None, None, "us-west-2", "s3://my-models/llama/7b/",
    ),
    (
        "https://s3.console.aws.amazon.com/s3/buckets/my-models?region=us-west-2&tab=objects",
        "s3", "my-models", "", None, None, "us-west-2", "s3://my-models/",
    ),
    (
        "https://s3.console.aws.amazon.com/s3/object/my-models?region=eu-west-1"
        "&prefix=llama/config.json",
        "s3", "my-models", "llama/config.json", None, None, "eu-west-1",
        "s3://my-models/llama/config.json",
    ),
    (
        "https://us-east-2.console.aws.amazon.com/s3/buckets/my-models?prefix=llama",
        "s3", "my-models", "llama/", None, None, "us-east-2", "s3://my-models/llama/",
    ),
    (
        "https://console.aws.amazon.com/s3/object/my-models?prefix=a%20b.txt",
        "s3", "my-models", "a b.txt", None, None, None, "s3://my-models/a b.txt",
    ),
    (
        "https://portal.azure.com/#view/Microsoft_Azure_Storage/ContainerMenuBlade/~/overview/"
        f"storageAccountId/{_RID}/path/weights/etag/%220x8DB%22/defaultEncryptionScope/"
        "%24account-encryption-key/denyEncryptionScopeOverride~/false",
        "azure", "weights", "", None, "mlmodels01", None,
        "abfs://weights@mlmodels01.dfs.core.windows.net/",
    ),
    (
        "https://portal.azure.com/#view/Microsoft_Azure_Storage/BlobPropertiesBladeV2/"
        f"storageAccountId/{_RID}/path/weights%2Fllama%2Fconfig.json/isDeleted~/false/"
        "tabToload~/0",
        "azure", "weights", "llama/config.json", None, "mlmodels01", None,
        "abfs://weights@mlmodels01.dfs.core.windows.net/llama/config.json",
    ),
    (
        "https://portal.azure.cn/#view/Microsoft_Azure_Storage/BlobPropertiesBladeV2/"
        f"storageAccountId/{_RID}/path/weights%2Fw.bin/isDeleted~/false",
        "azure", "weights", "w.bin", None, "mlmodels01", None,
        "abfs://weights@mlmodels01.dfs.core.chinacloudapi.cn/w.bin",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("uri", "provider", "bucket", "key", "namespace", "account", "region", "url"),
    CONSOLES,
    ids=[c[0][:90] for c in CONSOLES],
)
def test_console_url(uri, provider, bucket, key, namespace, account, region, url):
    u = unifs.parse(uri)
    assert (u.provider, u.bucket, u.key) == (provider, bucket, key)
    assert (u.namespace, u.account, u.region) == (namespace, account, region)
    assert u.url == url
    again = unifs.parse(u.url)
    assert (again.bucket, again.key) == (bucket, key)


REFUSED = [
    ("https://cloud.oracle.com/compute/instances?region=us-ashburn-1", "View Object Details"),
    ("https://cloud.oracle.com/object-storage/buckets", "not a bucket or object page"),
    ("https://console.aws.amazon.com/ec2/home?region=us-east-1", "'S3 URI' (s3://...)"),
    ("https://s3.console.aws.amazon.com/s3/home?region=us-east-1", "/s3/buckets/BUCKET"),
    ("https://portal.azure.com/#home", "https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH"),
    (
        "https://portal.azure.com/#view/Microsoft_Azure_Storage/StorageAccountBlade",
        "copy the blob's URL from its Properties",
    ),
]


@pytest.mark.parametrize(("uri", "message"), REFUSED, ids=[r[0] for r in REFUSED])
def test_other_console_pages_name_the_url_to_copy(uri, message):
    with pytest.raises(unifs.URIError) as info:
        unifs.parse(uri)
    assert message in str(info.value)
