"""URI normalization: every dialect in DESIGN.md's table, round trips, and refusals."""

from __future__ import annotations

import os
import pathlib

import pytest

import unifs
from unifs import StorageURI

OCI, S3, GCS, AZ = "oci", "s3", "gcs", "azure"

# (input, provider, bucket, key, namespace, account, region, canonical url)
CASES = [
    # --- OCI -----------------------------------------------------------------------------
    (
        "oci://n/acme/b/models/o/llama/",
        OCI,
        "models",
        "llama/",
        "acme",
        None,
        None,
        "oci://models@acme/llama/",
    ),
    (
        "oci://n/acme/b/models/o/llama/7b/config.json",
        OCI,
        "models",
        "llama/7b/config.json",
        "acme",
        None,
        None,
        "oci://models@acme/llama/7b/config.json",
    ),
    ("oci://n/acme/b/models/o/", OCI, "models", "", "acme", None, None, "oci://models@acme/"),
    ("oci://n/acme/b/models", OCI, "models", "", "acme", None, None, "oci://models@acme/"),
    (
        "oci://n/acme/b/models/o/a%20b",
        OCI,
        "models",
        "a%20b",
        "acme",
        None,
        None,
        "oci://models@acme/a%20b",
    ),
    (
        "oci://models@acme/llama/",
        OCI,
        "models",
        "llama/",
        "acme",
        None,
        None,
        "oci://models@acme/llama/",
    ),
    ("oci://models@acme", OCI, "models", "", "acme", None, None, "oci://models@acme/"),
    ("oci://models/llama", OCI, "models", "llama", None, None, None, "oci://models/llama"),
    (
        "oci://acme@us-ashburn-1/models/llama/",
        OCI,
        "models",
        "llama/",
        "acme",
        None,
        "us-ashburn-1",
        "oci://models@acme/llama/",
    ),
    (
        "oci://acme@eu-frankfurt-1/models/x",
        OCI,
        "models",
        "x",
        "acme",
        None,
        "eu-frankfurt-1",
        "oci://models@acme/x",
    ),
    (
        "https://objectstorage.us-ashburn-1.oraclecloud.com/n/acme/b/models/o/llama%2F7b%2Fw.bin",
        OCI,
        "models",
        "llama/7b/w.bin",
        "acme",
        None,
        "us-ashburn-1",
        "oci://models@acme/llama/7b/w.bin",
    ),
    (
        "https://objectstorage.eu-frankfurt-1.oraclecloud.com/n/acme/b/models/o/a%20b/c.txt",
        OCI,
        "models",
        "a b/c.txt",
        "acme",
        None,
        "eu-frankfurt-1",
        "oci://models@acme/a b/c.txt",
    ),
    (
        "https://objectstorage.us-ashburn-1.oraclecloud.com/p/AbC-tok_en/n/acme/b/models/o/w.bin",
        OCI,
        "models",
        "w.bin",
        "acme",
        None,
        "us-ashburn-1",
        "oci://models@acme/w.bin",
    ),
    (
        "https://objectstorage.us-ashburn-1.oraclecloud.com/p/tok/n/acme/b/models/o/",
        OCI,
        "models",
        "",
        "acme",
        None,
        "us-ashburn-1",
        "oci://models@acme/",
    ),
    (
        "https://acme.objectstorage.us-phoenix-1.oci.customer-oci.com/n/acme/b/models/o/x",
        OCI,
        "models",
        "x",
        "acme",
        None,
        "us-phoenix-1",
        "oci://models@acme/x",
    ),
    (
        "https://acme.compat.objectstorage.us-ashburn-1.oraclecloud.com/models/llama/w.bin",
        OCI,
        "models",
        "llama/w.bin",
        "acme",
        None,
        "us-ashburn-1",
        "oci://models@acme/llama/w.bin",
    ),
    # --- AWS -----------------------------------------------------------------------------
    ("s3://my-models/llama/", S3, "my-models", "llama/", None, None, None, "s3://my-models/llama/"),
    ("s3a://my-models/a/b", S3, "my-models", "a/b", None, None, None, "s3://my-models/a/b"),
    ("s3n://my-models/a", S3, "my-models", "a", None, None, None, "s3://my-models/a"),
    ("S3://my-models/a", S3, "my-models", "a", None, None, None, "s3://my-models/a"),
    ("s3://my-models", S3, "my-models", "", None, None, None, "s3://my-models/"),
    ("s3://my-models/a%20b", S3, "my-models", "a%20b", None, None, None, "s3://my-models/a%20b"),
    (
        "s3://my-models@us-west-2/llama",
        S3,
        "my-models",
        "llama",
        None,
        None,
        "us-west-2",
        "s3://my-models/llama",
    ),
    (
        "https://my-models.s3.us-west-2.amazonaws.com/llama/a%20b.bin",
        S3,
        "my-models",
        "llama/a b.bin",
        None,
        None,
        "us-west-2",
        "s3://my-models/llama/a b.bin",
    ),
    (
        "https://my-models.s3.amazonaws.com/llama",
        S3,
        "my-models",
        "llama",
        None,
        None,
        None,
        "s3://my-models/llama",
    ),
    (
        "https://s3.us-west-2.amazonaws.com/my-models/llama/x",
        S3,
        "my-models",
        "llama/x",
        None,
        None,
        "us-west-2",
        "s3://my-models/llama/x",
    ),
    (
        "https://s3.amazonaws.com/my-models/x",
        S3,
        "my-models",
        "x",
        None,
        None,
        None,
        "s3://my-models/x",
    ),
    (
        "https://s3-eu-west-1.amazonaws.com/my-models/x",
        S3,
        "my-models",
        "x",
        None,
        None,
        "eu-west-1",
        "s3://my-models/x",
    ),
    (
        "https://my-models.s3-eu-west-1.amazonaws.com/x",
        S3,
        "my-models",
        "x",
        None,
        None,
        "eu-west-1",
        "s3://my-models/x",
    ),
    (
        "https://s3-external-1.amazonaws.com/my-models/x",
        S3,
        "my-models",
        "x",
        None,
        None,
        "us-east-1",
        "s3://my-models/x",
    ),
    (
        "https://my.dotted.bucket.s3.us-east-2.amazonaws.com/x",
        S3,
        "my.dotted.bucket",
        "x",
        None,
        None,
        "us-east-2",
        "s3://my.dotted.bucket/x",
    ),
    (
        "https://my-models.s3.dualstack.us-west-2.amazonaws.com/x",
        S3,
        "my-models",
        "x",
        None,
        None,
        "us-west-2",
        "s3://my-models/x",
    ),
    # --- GCS -----------------------------------------------------------------------------
    (
        "gs://my-models/llama/",
        GCS,
        "my-models",
        "llama/",
        None,
        None,
        None,
        "gs://my-models/llama/",
    ),
    ("gcs://my-models/a", GCS, "my-models", "a", None, None, None, "gs://my-models/a"),
    (
        "https://storage.googleapis.com/my-models/llama/a%20b.bin",
        GCS,
        "my-models",
        "llama/a b.bin",
        None,
        None,
        None,
        "gs://my-models/llama/a b.bin",
    ),
    (
        "https://storage.cloud.google.com/my-models/x",
        GCS,
        "my-models",
        "x",
        None,
        None,
        None,
        "gs://my-models/x",
    ),
    (
        "https://my-models.storage.googleapis.com/x/y",
        GCS,
        "my-models",
        "x/y",
        None,
        None,
        None,
        "gs://my-models/x/y",
    ),
    (
        "https://console.cloud.google.com/storage/browser/my-models/llama/7b",
        GCS,
        "my-models",
        "llama/7b/",
        None,
        None,
        None,
        "gs://my-models/llama/7b/",
    ),
    (
        "https://console.cloud.google.com/storage/browser/my-models;tab=objects?project=p",
        GCS,
        "my-models",
        "",
        None,
        None,
        None,
        "gs://my-models/",
    ),
    (
        "https://console.cloud.google.com/storage/browser/_details/my-models/llama/w.bin",
        GCS,
        "my-models",
        "llama/w.bin",
        None,
        None,
        None,
        "gs://my-models/llama/w.bin",
    ),
    # --- Azure ---------------------------------------------------------------------------
    ("az://models/llama/", AZ, "models", "llama/", None, None, None, "az://models/llama/"),
    (
        "abfs://models@acct1.dfs.core.windows.net/llama/w.bin",
        AZ,
        "models",
        "llama/w.bin",
        None,
        "acct1",
        None,
        "abfs://models@acct1.dfs.core.windows.net/llama/w.bin",
    ),
    (
        "abfss://models@acct1.dfs.core.windows.net/x",
        AZ,
        "models",
        "x",
        None,
        "acct1",
        None,
        "abfs://models@acct1.dfs.core.windows.net/x",
    ),
    (
        "wasb://models@acct1.blob.core.windows.net/x",
        AZ,
        "models",
        "x",
        None,
        "acct1",
        None,
        "abfs://models@acct1.dfs.core.windows.net/x",
    ),
    (
        "wasbs://models@acct1.blob.core.windows.net/x",
        AZ,
        "models",
        "x",
        None,
        "acct1",
        None,
        "abfs://models@acct1.dfs.core.windows.net/x",
    ),
    ("abfs://models/x", AZ, "models", "x", None, None, None, "az://models/x"),
    (
        "https://acct1.blob.core.windows.net/models/llama/a%20b.bin",
        AZ,
        "models",
        "llama/a b.bin",
        None,
        "acct1",
        None,
        "abfs://models@acct1.dfs.core.windows.net/llama/a b.bin",
    ),
    (
        "https://acct1.dfs.core.windows.net/models/x",
        AZ,
        "models",
        "x",
        None,
        "acct1",
        None,
        "abfs://models@acct1.dfs.core.windows.net/x",
    ),
    ("https://$root.blob.core.windows.net/x", None, None, None, None, None, None, None),
]
CASES = [c for c in CASES if c[1] is not None]


@pytest.mark.parametrize(
    ("uri", "provider", "bucket", "key", "namespace", "account", "region", "url"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_dialect(uri, provider, bucket, key, namespace, account, region, url):
    u = unifs.parse(uri)
    assert (u.provider, u.bucket, u.key) == (provider, bucket, key)
    assert (u.namespace, u.account, u.region) == (namespace, account, region)
    assert u.url == url
    assert unifs.normalize(uri) == url


@pytest.mark.parametrize("uri", [c[0] for c in CASES])
def test_round_trip_every_style(uri):
    u = unifs.parse(uri)
    spelled = 0
    for style in u.styles:
        try:
            text = u.format(style)
        except unifs.UnsupportedError:
            continue  # e.g. no region for an OCI https URL: tested below
        back = unifs.parse(text)
        assert back == u, (style, text)
        assert back.url == u.url
        spelled += 1
    assert spelled >= 1


def test_formats_of_one_oci_object():
    u = unifs.parse("https://objectstorage.us-ashburn-1.oraclecloud.com/n/acme/b/models/o/a%20b/c")
    assert u.format("fsspec") == "oci://models@acme/a b/c"
    assert u.format("ome") == "oci://n/acme/b/models/o/a b/c"
    assert u.format("https") == (
        "https://objectstorage.us-ashburn-1.oraclecloud.com/n/acme/b/models/o/a%20b/c"
    )
    assert u.styles == ("fsspec", "ome", "https")


def test_region_and_endpoint_are_not_identity():
    a = unifs.parse("oci://acme@us-ashburn-1/models/x")
    b = unifs.parse("oci://n/acme/b/models/o/x")
    assert a == b and hash(a) == hash(b)
    assert a.region == "us-ashburn-1" and b.region is None
    assert unifs.parse("s3://b12/x") != unifs.parse("gs://b12/x")
    assert unifs.parse("oci://models@acme/x") != unifs.parse("oci://models@other/x")


def test_par_token_is_kept_but_never_shown():
    url = "https://objectstorage.us-ashburn-1.oraclecloud.com/p/SECRET-TOKEN/n/acme/b/m/o/w.bin"
    u = unifs.parse(url)
    assert u.par == "SECRET-TOKEN"
    assert u.format("https") == url
    for shown in (repr(u), str(u), u.url, u.format("ome")):
        assert "SECRET-TOKEN" not in shown


def test_azure_account_first_form_when_account_is_known():
    u = unifs.parse("az://acct1/models/llama/w.bin", account="acct1")
    assert (u.account, u.bucket, u.key) == ("acct1", "models", "llama/w.bin")
    # without the account, the first segment is the container
    v = unifs.parse("az://acct1/models/llama/w.bin")
    assert (v.account, v.bucket, v.key) == (None, "acct1", "models/llama/w.bin")
    # an account given that is not the first segment only fills in the account
    w = unifs.parse("az://models/x", account="acct1")
    assert (w.account, w.bucket, w.key) == ("acct1", "models", "x")
    assert w.format("https") == "https://acct1.blob.core.windows.net/models/x"


def test_azure_account_and_container_of_the_same_name_is_ambiguous():
    with pytest.raises(unifs.AmbiguousURIError, match="abfs://acct1@acct1"):
        unifs.parse("az://acct1/acct1/x", account="acct1")


def test_azure_sovereign_cloud_keeps_its_endpoint():
    u = unifs.parse("https://acct1.blob.core.chinacloudapi.cn/models/x")
    assert u.account == "acct1" and u.endpoint == "https://acct1.blob.core.chinacloudapi.cn"
    assert u.format("https") == "https://acct1.blob.core.chinacloudapi.cn/models/x"


def test_trailing_slash_marks_a_prefix():
    assert unifs.parse("s3://b12/dir/").is_prefix
    assert not unifs.parse("s3://b12/dir/file").is_prefix
    assert unifs.parse("gs://b12").is_prefix
    assert unifs.parse("oci://n/ns/b/bkt/o/dir/").key == "dir/"


def test_join():
    u = unifs.parse("oci://n/acme/b/models/o/llama/")
    assert u.join("7b", "config.json").url == "oci://models@acme/llama/7b/config.json"
    assert unifs.parse("s3://b12/x").join("y").key == "x/y"
    assert unifs.parse("s3://b12").join("/y").key == "y"


def test_protocol_and_path():
    assert (unifs.parse("oci://n/a/b/m/o/k").protocol, unifs.parse("oci://n/a/b/m/o/k").path) == (
        "oci",
        "m@a/k",
    )
    assert unifs.parse("gcs://b12/k").protocol == "gs"
    assert unifs.parse("abfss://c12@acct1.dfs.core.windows.net/k").path == "c12/k"


# --- local and memory ----------------------------------------------------------------------


def test_local_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cwd = str(tmp_path.resolve()).replace(os.sep, "/")
    assert unifs.parse("./rel/x.txt").key == f"{cwd}/rel/x.txt"
    assert unifs.parse("rel/dir/").key == f"{cwd}/rel/dir/"
    assert unifs.parse("/abs/path").url == "file:///abs/path"
    assert unifs.parse("file:///abs/path").key == "/abs/path"
    assert unifs.parse("file://localhost/abs/path").key == "/abs/path"
    assert unifs.parse(pathlib.Path("/abs/p")).key == "/abs/p"
    assert unifs.parse("~/x").key == os.path.expanduser("~/x")
    u = unifs.parse("/abs/path")
    assert (u.provider, u.bucket) == ("local", None)
    assert unifs.parse(u.format("fsspec")) == u == unifs.parse(u.format("path"))


def test_memory_paths():
    u = unifs.parse("memory://scratch/a/b")
    assert (u.provider, u.key, u.url) == ("memory", "/scratch/a/b", "memory://scratch/a/b")
    assert unifs.parse("memory:///scratch/a/b") == u
    assert unifs.parse("memory://scratch/dir/").is_prefix


def test_parse_accepts_a_storage_uri_and_strips_whitespace():
    u = unifs.parse("  s3://b12/k\n")
    assert u.key == "k"
    assert unifs.parse(u) is u


# --- refusals: each names what is wrong and shows a correct spelling -----------------------

ERRORS = [
    ("", "empty URI"),
    ("   ", "empty URI"),
    ("ftp2://host/x", "unknown scheme 'ftp2://'"),
    ("s3:/bucket/key", "scheme is followed by '://'"),
    ("s3:///key", "names no bucket: write s3://"),
    ("s3://My Bucket/x", "not a valid s3 bucket name"),
    ("s3://bkt@/x", "no region after it"),
    ("gs://UPPER/x", "not a valid gcs bucket name"),
    ("gs://ab/x", "3 to 63 characters"),
    ("az://Bad_Container/x", "not a valid azure container name"),
    ("az:///x", "names no container"),
    ("abfs://c12@somewhere.example.com/x", "after '@' comes the account host"),
    ("oci://n/acme/data.csv", "for a bucket that is really named 'n'"),
    ("oci://n/acme/b/models/x/key", "does not follow it"),
    ("oci:///key", "names no bucket"),
    ("oci://bkt@bad%ns/x", "not a valid OCI namespace"),
    ("https://example.com/bucket/key", "not an object URL unifs recognizes"),
    ("https://b12.s3.amazonaws.com/k?X-Amz-Signature=abc", "presigned URL"),
    ("https://acct1.blob.core.windows.net/c12/k?sv=2020&sig=abc", "query string"),
    ("https://objectstorage.us-ashburn-1.oraclecloud.com/x/y", "/n/{namespace}/b/{bucket}/o/"),
    ("https://console.cloud.google.com/home/dashboard", "not a bucket or object page"),
    ("file://otherhost/x", "file:///otherhost/x"),
]


@pytest.mark.parametrize(("uri", "message"), ERRORS, ids=[e[0] or "<empty>" for e in ERRORS])
def test_refusals_say_what_and_how(uri, message):
    with pytest.raises(unifs.URIError) as info:
        unifs.parse(uri)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, unifs.UnifsError)


def test_ome_form_without_b_segment_is_ambiguous_not_guessed():
    with pytest.raises(unifs.AmbiguousURIError) as info:
        unifs.parse("oci://n/acme/data.csv")
    assert "oci://n@my-namespace/acme/data.csv" in str(info.value)


def test_format_refuses_styles_it_cannot_spell():
    with pytest.raises(unifs.UnsupportedError, match="no region"):
        unifs.parse("oci://models@acme/x").format("https")
    with pytest.raises(unifs.UnsupportedError, match="no namespace"):
        unifs.parse("oci://models/x").format("ome")
    with pytest.raises(unifs.UnsupportedError, match="no account"):
        unifs.parse("az://c12/x").format("https")
    with pytest.raises(unifs.UnsupportedError, match="'fsspec', 'https'"):
        unifs.parse("s3://b12/x").format("ome")


def test_not_a_string():
    with pytest.raises(unifs.URIError, match="not int"):
        unifs.parse(42)  # type: ignore[arg-type]


def test_storage_uri_is_frozen():
    u = unifs.parse("s3://b12/x")
    with pytest.raises(AttributeError):
        u.key = "y"  # type: ignore[misc]
    assert isinstance(u, StorageURI)
