"""URI round trips as properties (hypothesis), and each shape that once broke them.

For every provider and every dialect it reads, URIs are built from generated parts
(buckets, keys with any Unicode, namespaces, regions, accounts), then:

- a URI that parses names exactly the parts it was built from (never another object);
- ``parse(parse(u).url) == parse(u)`` and ``parse(u.format(style)) == u`` for every style;
- what does not parse fails with a :class:`unifs.UnifsError`, and only for a reason the
  docs give (control characters, a key ending in whitespace, a region-shaped namespace);
- arbitrary text, with and without a known scheme or host in front, raises nothing but
  :class:`unifs.UnifsError`.

Each test is bounded by ``max_examples``; the module runs in a few seconds.
"""

from __future__ import annotations

import string
import unicodedata
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import unifs
from unifs.registry import schemes

BOUNDED = settings(
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# -- the parts ------------------------------------------------------------------------------

LOWER = string.ascii_lowercase + string.digits
REGIONS = ["us-ashburn-1", "eu-frankfurt-1", "us-gov-ashburn-1", "us-west-2", "cn-north-1"]

# Any character a key may hold, control characters and whitespace included: the test
# decides what the outcome must be, so nothing is filtered out here.
key_chars = st.characters(codec="utf-8", exclude_categories=("Cs",))
segment = st.text(key_chars, max_size=8) | st.sampled_from(
    ["", ".", "..", "a b", "x ", "%20", "a?b", "#", "@", "n", "o", "p", "~", ":"]
)
keys = st.lists(segment, max_size=4).map("/".join)


def label(alphabet: str, min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet, min_size=min_size, max_size=max_size)


s3_buckets = (
    label(LOWER + "-", 3, 20).filter(lambda b: b[0] != "-" and b[-1] != "-")
    | label(LOWER + ".-", 3, 20).filter(lambda b: b[0] in LOWER)
    | label(string.ascii_letters + string.digits + "_.-", 3, 20).filter(lambda b: b[0].isalnum())
)
gcs_buckets = label(LOWER + "-_", 3, 20).filter(lambda b: b[0] in LOWER and b[-1] in LOWER)
containers = label(LOWER, 3, 20)
accounts = label(LOWER, 3, 24)
oci_buckets = label(string.ascii_letters + string.digits + "._-", 1, 20)
namespaces = label(LOWER + "-_", 1, 16).filter(lambda n: n[0] in LOWER) | st.sampled_from(REGIONS)
regions = st.sampled_from(REGIONS)


def enc(key: str) -> str:
    return quote(key, safe="/")


# -- the outcome a set of parts must have ---------------------------------------------------


def key_refusal(key: str) -> bool:
    """True if unifs must refuse ``key`` (docs/uris.md, 'What parse refuses')."""
    return any(unicodedata.category(c) == "Cc" for c in key) or key[-1:].isspace()


def check_round_trips(u: unifs.StorageURI) -> None:
    assert unifs.parse(u.url) == u, u.url
    assert unifs.parse(u.url).url == u.url
    for style in u.styles:
        try:
            text = u.format(style)
        except unifs.UnsupportedError:
            continue  # no region or account to spell an https URL with: refused, not guessed
        back = unifs.parse(text)
        assert back == u, (style, text)
        assert back.url == u.url


def check(text: str, expected: dict[str, object], *, refused: bool, **kwargs: object) -> None:
    """``text`` parses to exactly ``expected`` and round-trips, or is refused cleanly."""
    try:
        u = unifs.parse(text, **kwargs)  # type: ignore[arg-type]
    except unifs.UnifsError as error:
        assert refused, f"{text!r} was refused: {error}"
        assert isinstance(error, unifs.URIError) and isinstance(error, ValueError)
        return
    assert not refused, f"{text!r} should have been refused, read as {u!r}"
    got = {name: getattr(u, name) for name in expected}
    assert got == expected, text
    check_round_trips(u)


# -- every provider, every dialect ----------------------------------------------------------


@BOUNDED
@given(bucket=s3_buckets, key=keys, region=st.none() | regions, form=st.integers(0, 5))
@example(bucket="Bucket", key="k", region=None, form=4)
@example(bucket="b12", key="k ", region=None, form=3)
@example(bucket="b12", key="a\tb", region="us-west-2", form=3)
def test_s3(bucket, key, region, form):
    at = region or "us-east-1"
    forms = [
        f"s3://{bucket}/{key}",
        f"s3a://{bucket}/{key}",
        f"s3://{bucket}@{at}/{key}",
        f"https://s3.{at}.amazonaws.com/{bucket}/{enc(key)}",
        f"https://s3.amazonaws.com/{bucket}/{enc(key)}",
        f"https://{bucket}.s3.{at}.amazonaws.com/{enc(key)}",
    ]
    if form == 5:  # a host name is lower case and dots in it break TLS: path style only
        assume(bucket == bucket.lower() and "." not in bucket and "_" not in bucket)
    if form < 3:
        key = key.rstrip()  # the paste rule: whitespace around the text is dropped
    expected = {"provider": "s3", "bucket": bucket, "key": key}
    check(forms[form], expected, refused=key_refusal(key))


@BOUNDED
@given(bucket=gcs_buckets, key=keys, form=st.integers(0, 4))
def test_gcs(bucket, key, form):
    text = [
        f"gs://{bucket}/{key}",
        f"gcs://{bucket}/{key}",
        f"https://storage.googleapis.com/{bucket}/{enc(key)}",
        f"https://storage.cloud.google.com/{bucket}/{enc(key)}",
        f"https://{bucket}.storage.googleapis.com/{enc(key)}",
    ][form]
    if form < 2:
        key = key.rstrip()
    check(text, {"provider": "gcs", "bucket": bucket, "key": key}, refused=key_refusal(key))


@BOUNDED
@given(container=containers, account=accounts, key=keys, form=st.integers(0, 7))
def test_azure(container, account, key, form):
    forms = [
        (f"az://{container}/{key}", None, {}),
        (f"abfs://{container}@{account}.dfs.core.windows.net/{key}", account, {}),
        (f"abfss://{container}@{account}.dfs.core.windows.net/{key}", account, {}),
        (f"wasbs://{container}@{account}.blob.core.windows.net/{key}", account, {}),
        (f"https://{account}.blob.core.windows.net/{container}/{enc(key)}", account, {}),
        (f"https://{account}.dfs.core.windows.net/{container}/{enc(key)}", account, {}),
        (f"https://{account}.blob.core.chinacloudapi.cn/{container}/{enc(key)}", account, {}),
        (f"az://{account}/{container}/{key}", account, {"account": account}),
    ]
    text, want_account, kwargs = forms[form]
    assume(not (form == 7 and account == container))  # ambiguous: tested in test_uri.py
    if form in (0, 1, 2, 3, 7):
        key = key.rstrip()
    expected = {"provider": "azure", "bucket": container, "key": key, "account": want_account}
    check(text, expected, refused=key_refusal(key), **kwargs)


@BOUNDED
@given(
    bucket=oci_buckets,
    namespace=namespaces,
    region=regions,
    key=keys,
    token=label(string.ascii_letters + string.digits + "-_:", 1, 24).map("PAR".__add__),
    form=st.integers(0, 6),
)
@example(bucket="bkt", namespace="us-ashburn-1", region="us-ashburn-1", key="k", token="t", form=0)
@example(bucket="bkt", namespace="ns", region="us-ashburn-1", key="a\nb", token="t", form=0)
def test_oci(bucket, namespace, region, key, token, form):
    host = f"https://objectstorage.{region}.oraclecloud.com"
    forms = [
        f"oci://n/{namespace}/b/{bucket}/o/{key}",
        f"oci://{bucket}@{namespace}/{key}",
        f"oci://{namespace}@{region}/{bucket}/{key}",
        f"{host}/n/{namespace}/b/{bucket}/o/{enc(key)}",
        f"{host}/p/{token}/n/{namespace}/b/{bucket}/o/{enc(key)}",
        f"https://{namespace}.objectstorage.{region}.oci.customer-oci.com/n/{namespace}/b/"
        f"{bucket}/o/{enc(key)}",
        f"https://{namespace}.compat.objectstorage.{region}.oraclecloud.com/{bucket}/{enc(key)}",
    ]
    text = forms[form]
    if form == 1:
        assume(namespace not in REGIONS)  # oci://{ns}@{region}/: the region-qualified form
    if form in (0, 1, 2):
        key = key.rstrip()
    if form in (5, 6):
        assume("_" not in namespace or form == 5)
    refused = key_refusal(key) or namespace in REGIONS
    expected = {"provider": "oci", "bucket": bucket, "key": key, "namespace": namespace}
    check(text, expected, refused=refused)
    if not refused and form == 4:
        assert unifs.parse(text).par == token
        assert token not in repr(unifs.parse(text))


@BOUNDED
@given(parts=st.lists(segment.filter(lambda s: "/" not in s), min_size=1, max_size=4))
def test_local_and_memory(parts):
    path = "/" + "/".join(parts)
    for text in (path, "file://" + path, "memory://" + path.lstrip("/")):
        try:
            u = unifs.parse(text)
        except unifs.URIError as error:
            # paths are normalized first ('/ /.' is '/ '), so the reason is what is checked
            assert "whitespace" in str(error) or "control character" in str(error), text
            continue
        check_round_trips(u)


# -- arbitrary text -------------------------------------------------------------------------

HOSTS = [
    "https://objectstorage.us-ashburn-1.oraclecloud.com/",
    "https://acme.compat.objectstorage.us-ashburn-1.oraclecloud.com/",
    "https://b12.s3.amazonaws.com/",
    "https://s3.us-west-2.amazonaws.com/",
    "https://storage.googleapis.com/",
    "https://b12.storage.googleapis.com/",
    "https://console.cloud.google.com/storage/browser/",
    "https://acct1.blob.core.windows.net/",
    "http://127.0.0.1:1/p/",
    "http://",
    "https://",
]
printable = st.text(st.characters(codec="utf-8"), max_size=40)
url_ish = st.text(st.sampled_from(list("abn/o/p@:%2F%0A .?#[]-_~AZ09\t\n")), max_size=40)


@settings(BOUNDED, max_examples=1500)
@given(
    prefix=st.sampled_from(["", *[f"{s}://" for s in schemes()], *HOSTS, "oci://n/", "/"]),
    rest=printable | url_ish,
)
@example(prefix="http://", rest="]")
@example(prefix="https://", rest="[::1")
@example(prefix="https://b12.s3.amazonaws.com/", rest="%ff")
def test_only_unifs_errors_leave_parse(prefix, rest):
    try:
        u = unifs.parse(prefix + rest)
    except unifs.UnifsError:
        return
    check_round_trips(u)


# -- each shape that once broke a round trip ------------------------------------------------


def test_region_shaped_ome_namespace_is_refused_not_read_as_another_object():
    with pytest.raises(unifs.AmbiguousURIError) as info:
        unifs.parse("oci://n/us-ashburn-1/b/bkt/o/k")
    message = str(info.value)
    assert "oci://n/my-namespace/b/bkt/o/k with region=us-ashburn-1" in message
    # what the old canonical URL would have been reads as the region-qualified form
    other = unifs.parse("oci://bkt@us-ashburn-1/k")
    assert (other.namespace, other.bucket, other.region) == ("bkt", "k", "us-ashburn-1")
    for text in (
        "https://objectstorage.us-ashburn-1.oraclecloud.com/n/us-phoenix-1/b/bkt/o/k",
        "oci://us-phoenix-1@us-ashburn-1/bkt/k",
    ):
        with pytest.raises(unifs.AmbiguousURIError):
            unifs.parse(text)


def test_upper_case_s3_bucket_keeps_its_case_through_the_https_style():
    u = unifs.parse("s3://Legacy_Bucket/k")
    assert u.format("https") == "https://s3.amazonaws.com/Legacy_Bucket/k"
    assert unifs.parse(u.format("https")) == u
    assert unifs.parse("s3://my.dotted.bucket@us-east-2/k").format("https") == (
        "https://s3.us-east-2.amazonaws.com/my.dotted.bucket/k"
    )
    assert unifs.parse("s3://plain@us-east-2/k").format("https") == (
        "https://plain.s3.us-east-2.amazonaws.com/k"
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://b12.s3.amazonaws.com/k%20",
        "https://storage.googleapis.com/b12/k%C2%A0",
        "https://acct1.blob.core.windows.net/c12/k%09",
        "https://b12.s3.amazonaws.com/a%0Ab",
        "https://objectstorage.us-ashburn-1.oraclecloud.com/n/acme/b/m/o/k%0D",
    ],
)
def test_https_keys_ending_in_whitespace_or_holding_control_characters_are_refused(url):
    with pytest.raises(unifs.URIError, match=r"whitespace|control character"):
        unifs.parse(url)


def test_control_characters_are_refused_where_urlsplit_would_drop_them():
    # urlsplit removes tabs and newlines: this would have read as key 'ab'
    with pytest.raises(unifs.URIError, match=r"U\+000A at position 30"):
        unifs.parse("https://b12.s3.amazonaws.com/a\nb")
    with pytest.raises(unifs.URIError, match=r"control character U\+000A"):
        unifs.parse("oci://n/acme/b/models/o/a\nb")
    with pytest.raises(unifs.URIError, match=r"control character U\+0000"):
        unifs.parse("s3://b12/a\x00b")


def test_s3_region_after_at_is_checked():
    with pytest.raises(unifs.URIError, match=r"'notaregion!' .* is not an AWS region"):
        unifs.parse("s3://bkt@notaregion!/k")
    with pytest.raises(unifs.URIError, match="not an AWS region"):
        unifs.parse("https://b12.s3.example-1.amazonaws.com/k")
    assert unifs.parse("https://b12.s3-accelerate.amazonaws.com/k").region is None
    assert unifs.parse("s3://bkt@us-gov-west-1/k").region == "us-gov-west-1"


def test_malformed_urls_raise_uri_errors_not_urllib_errors():
    for text in ("http://]", "https://[::1", "https://b12.s3.amazonaws.com:port/k"):
        with pytest.raises(unifs.URIError, match="not a URL unifs can read"):
            unifs.parse(text)


def test_a_url_with_credentials_before_the_host_is_refused_and_masked():
    with pytest.raises(unifs.URIError) as info:
        unifs.parse("https://user:hunter2@b12.s3.amazonaws.com/k")
    assert "hunter2" not in str(info.value) and "hunter2" not in info.value.uri
    assert "user name or password before the host" in str(info.value)


def test_sovereign_clouds_stay_in_their_cloud():
    # an account (or a bucket host) of another cloud is not the global cloud's namesake
    for text in (
        "https://acct1.blob.core.chinacloudapi.cn/models/x",
        "abfs://models@acct1.dfs.core.usgovcloudapi.net/x",
    ):
        u = unifs.parse(text)
        assert u.endpoint and u.endpoint.split(".", 2)[2] in u.url
        assert unifs.parse(u.url).endpoint == u.endpoint
        check_round_trips(u)
    u = unifs.parse("https://b12.s3.cn-north-1.amazonaws.com.cn/k")
    assert u.format("https") == "https://b12.s3.cn-north-1.amazonaws.com.cn/k"
    assert unifs.parse(u.format("https")).region == "cn-north-1"


def test_a_key_starting_with_a_slash_survives_every_form():
    u = unifs.parse("https://b12.s3.amazonaws.com//k")
    assert u.key == "/k" and u.url == "s3://b12//k"
    check_round_trips(u)
    assert unifs.parse("https://b12.storage.googleapis.com//k").key == "/k"


def test_percent_escapes_that_are_not_utf8_are_refused():
    with pytest.raises(unifs.URIError, match="does not percent-decode to UTF-8"):
        unifs.parse("https://storage.googleapis.com/b12/%ff")


def test_a_local_path_is_not_stripped_and_may_hold_a_colon_slash():
    import pathlib

    with pytest.raises(unifs.URIError, match="ends in whitespace"):
        unifs.parse(pathlib.Path("/tmp/x "))
    u = unifs.parse("file:///tmp/a://b")
    assert u.key == "/tmp/a:/b"  # normalized as the OS reads it
    check_round_trips(u)
    assert unifs.parse("/x/://0").key == "/x/:/0"
    assert unifs.parse("rel/a://b").key.endswith("/rel/a:/b")
    with pytest.raises(unifs.URIError, match="scheme is followed by '://'"):
        unifs.parse("s3:/bucket/key")
