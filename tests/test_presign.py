"""Presigned URLs on all four stores, proven with plain urllib (no SDK in the request path).

Azurite and the OCI server check what they are given, so refusals are shown there. moto and
fake-gcs-server check no signatures (EMULATORS.md): for S3 and GCS each signature is also
recomputed here, independently of botocore and google-cloud-storage, and compared.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from datetime import timedelta
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import unifs
from unifs.cli import main
from unifs.presign import PresignError, list_presigned


def _http(
    url: str, method: str = "GET", data: bytes | None = None, headers=None
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# -- S3 -------------------------------------------------------------------------------------


def _canonical(url: str, method: str, headers: dict, signature: str) -> tuple[dict, str]:
    """The query parameters and the canonical request of a query-signed URL, built by the
    steps AWS SigV4 and GCS V4 share (all but the signature parameter, sorted, encoded)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)

    def enc(text: str) -> str:
        return quote(text, safe="-_.~")

    params = dict(query)
    canonical_query = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(query) if k != signature)
    signed = params[signature.replace("Signature", "SignedHeaders")].split(";")
    values = {"host": parts.netloc, **{k.lower(): v for k, v in headers.items()}}
    canonical_headers = "".join(f"{name}:{values[name].strip()}\n" for name in signed)
    request = "\n".join(
        [
            method,
            parts.path,
            canonical_query,
            canonical_headers,
            ";".join(signed),
            "UNSIGNED-PAYLOAD",
        ]
    )
    return params, request


def _verify_sigv4(url: str, secret: str, method: str, headers: dict[str, str]) -> dict[str, str]:
    """Recompute an S3 query-string SigV4 signature from the AWS documentation's steps."""
    params, canonical_request = _canonical(url, method, headers, "X-Amz-Signature")
    _, date, region, service, terminator = params["X-Amz-Credential"].split("/")
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            params["X-Amz-Date"],
            f"{date}/{region}/{service}/{terminator}",
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, terminator):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    assert hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest() == params["X-Amz-Signature"]
    return params


def test_s3_get_and_put(s3_server):
    opts = s3_server.storage_options
    s3_server.make_bucket("presign-s3")
    fs, path = unifs.url_to_fs("s3://presign-s3/dir/a b.bin", **opts)
    fs.pipe_file(path, b"s3 payload")

    get = unifs.presign("s3://presign-s3/dir/a b.bin", expires=timedelta(minutes=15), **opts)
    assert (get.method, get.kind, get.provider) == ("GET", "presigned-url", "s3")
    assert _http(get.url) == (200, b"s3 payload")
    params = _verify_sigv4(get.url, opts["secret"], "GET", {})
    assert params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert int(params["X-Amz-Expires"]) in (899, 900)

    put = unifs.presign("s3://presign-s3/dir/up.bin", method="PUT", **opts)
    assert put.headers == {"Content-Type": "application/octet-stream"}
    _verify_sigv4(put.url, opts["secret"], "PUT", put.headers)
    status, _ = _http(put.url, "PUT", b"uploaded", put.headers)
    assert status == 200
    fs.invalidate_cache()
    assert fs.cat_file("presign-s3/dir/up.bin") == b"uploaded"

    # a signature made with another secret does not match
    with pytest.raises(AssertionError):
        _verify_sigv4(get.url, "not-the-secret", "GET", {})


def test_s3_lifetime_and_credentials_are_checked_first(s3_server):
    opts = s3_server.storage_options
    with pytest.raises(PresignError, match="at most 7 days"):
        unifs.presign("s3://presign-s3/x", expires=timedelta(days=8), **opts)
    with pytest.raises(PresignError, match="anonymous: nothing to sign with"):
        unifs.presign("s3://presign-s3/x", auth={"auth": "anonymous"})
    with pytest.raises(PresignError, match="GET or PUT"):
        unifs.presign("s3://presign-s3/x", method="DELETE", **opts)
    with pytest.raises(PresignError, match="in the future"):
        unifs.presign("s3://presign-s3/x", expires=0, **opts)


def test_oci_customer_secret_key_presigns_through_the_s3_compat_route(s3_server):
    opts = s3_server.storage_options
    s3_server.make_bucket("presign-compat")
    unifs.url_to_fs("s3://presign-compat/k", **opts)[0].pipe_file("presign-compat/k", b"compat")
    auth = {
        "auth": "customer_secret_key",
        "access_key_id": opts["key"],
        "secret_access_key": opts["secret"],
        "region": "us-ashburn-1",
        "endpoint": opts["endpoint_url"],
    }
    signed = unifs.presign("oci://n/acme/b/presign-compat/o/k", auth=auth)
    assert urlsplit(signed.url).path == "/presign-compat/k"  # path-style
    _verify_sigv4(signed.url, opts["secret"], "GET", {})
    assert _http(signed.url) == (200, b"compat")


def test_revoke_is_impossible_for_a_presigned_s3_url(s3_server):
    signed = unifs.presign("s3://presign-s3/x", **s3_server.storage_options)
    with pytest.warns(UserWarning, match="cannot be revoked before it expires"):
        assert unifs.revoke(signed) is False


def test_presigned_urls_never_show_in_repr_or_str(s3_server):
    signed = unifs.presign("s3://presign-s3/x", **s3_server.storage_options)
    signature = dict(parse_qsl(urlsplit(signed.url).query))["X-Amz-Signature"]
    assert signature not in repr(signed) and signature not in str(signed)
    assert "s3://presign-s3/x" in str(signed)


# -- GCS ------------------------------------------------------------------------------------


def _service_account() -> tuple[dict, rsa.RSAPublicKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info = {
        "type": "service_account",
        "project_id": "unifs-testing",
        "private_key_id": "k1",
        "private_key": key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        "client_email": "signer@unifs-testing.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "http://127.0.0.1:9/token",  # signing never asks for a token
    }
    return info, key.public_key()


def _verify_goog4(url: str, public_key: rsa.RSAPublicKey, method: str, headers: dict) -> dict:
    """Recompute a GCS V4 signed URL's string-to-sign and check its RSA signature."""
    params, canonical_request = _canonical(url, method, headers, "X-Goog-Signature")
    to_sign = "\n".join(
        [
            "GOOG4-RSA-SHA256",
            params["X-Goog-Date"],
            params["X-Goog-Credential"].split("/", 1)[1],
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    signature = bytes.fromhex(params["X-Goog-Signature"])
    public_key.verify(signature, to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())
    return params


def test_gcs_v4_signed_urls(gcs_server):
    from cryptography.exceptions import InvalidSignature

    opts = gcs_server.storage_options
    gcs_server.make_bucket("presign-gcs")
    fs, _ = unifs.url_to_fs("gs://presign-gcs/x", **opts)
    fs.pipe_file("presign-gcs/dir/obj.bin", b"gcs payload")
    info, public_key = _service_account()
    auth = {"auth": "service_account", "key_json": info, "endpoint": opts["endpoint_url"]}

    get = unifs.presign("gs://presign-gcs/dir/obj.bin", auth=auth, expires=600)
    assert get.kind == "signed-url"
    params = _verify_goog4(get.url, public_key, "GET", {})
    assert params["X-Goog-Expires"] == "600"
    assert params["X-Goog-Credential"].startswith(info["client_email"])
    assert _http(get.url) == (200, b"gcs payload")

    put = unifs.presign("gs://presign-gcs/dir/up.bin", auth=auth, method="PUT")
    _verify_goog4(put.url, public_key, "PUT", put.headers)
    status, _ = _http(put.url, "PUT", b"via signed url", put.headers)
    assert status == 200
    fs.invalidate_cache()
    assert fs.cat_file("presign-gcs/dir/up.bin") == b"via signed url"

    _, other_key = _service_account()
    with pytest.raises(InvalidSignature):
        _verify_goog4(get.url, other_key, "GET", {})


def test_gcs_anonymous_cannot_presign(gcs_server):
    endpoint = gcs_server.storage_options["endpoint_url"]
    with pytest.raises(PresignError, match="anonymous"):
        unifs.presign("gs://presign-gcs/x", auth={"auth": "anonymous", "endpoint": endpoint})


# -- Azure ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def azure_auth(azure_server):
    azure_server.make_bucket("presign-az")
    return {
        "auth": "account_key",
        "account_name": azure_server.account_name,
        "account_key": azure_server.account_key,
        "endpoint": azure_server.endpoint,
    }


def test_azure_sas_get_and_put(azure_auth):
    fs, path = unifs.url_to_fs("az://presign-az/dir/a b.bin", auth=azure_auth)
    fs.pipe_file(path, b"azure payload")
    get = unifs.presign("az://presign-az/dir/a b.bin", auth=azure_auth)
    assert get.kind == "sas" and "sig=" in get.url
    assert _http(get.url) == (200, b"azure payload")
    put = unifs.presign("az://presign-az/dir/up.bin", auth=azure_auth, method="PUT")
    assert put.headers["x-ms-blob-type"] == "BlockBlob"
    assert _http(put.url, "PUT", b"via sas", put.headers)[0] == 201
    fs.invalidate_cache()
    assert fs.cat_file("presign-az/dir/up.bin") == b"via sas"


def test_azurite_refuses_tampered_wrong_blob_wrong_key_and_wrong_permission(azure_auth):
    import base64

    fs, path = unifs.url_to_fs("az://presign-az/secret.bin", auth=azure_auth)
    fs.pipe_file(path, b"secret")
    fs.pipe_file("presign-az/other.bin", b"other")
    good = unifs.presign("az://presign-az/secret.bin", auth=azure_auth)
    assert _http(good.url)[0] == 200
    base, _, query = good.url.partition("?")
    params = dict(parse_qsl(query))
    flipped = "B" if params["sig"][0] == "A" else "A"
    tampered = base + "?" + urlencode({**params, "sig": flipped + params["sig"][1:]})
    assert _http(tampered)[0] == 403
    assert _http(base.replace("secret.bin", "other.bin") + "?" + query)[0] == 403
    wrong_key = {**azure_auth, "account_key": base64.b64encode(b"w" * 64).decode()}
    assert _http(unifs.presign("az://presign-az/secret.bin", auth=wrong_key).url)[0] == 403
    assert _http(good.url, "PUT", b"overwrite", {"x-ms-blob-type": "BlockBlob"})[0] == 403
    assert fs.cat_file(path) == b"secret"


def test_azurite_refuses_an_expired_sas(azure_auth):
    fs, path = unifs.url_to_fs("az://presign-az/short.bin", auth=azure_auth)
    fs.pipe_file(path, b"short-lived")
    signed = unifs.presign("az://presign-az/short.bin", auth=azure_auth, expires=2)
    assert _http(signed.url)[0] == 200
    time.sleep(3.5)
    assert _http(signed.url)[0] == 403


def test_azure_sas_alone_cannot_mint_another(azure_server):
    auth = {
        "auth": "sas_token",
        "account_name": azure_server.account_name,
        "sas_token": "sv=2024-01-01&sig=x",
        "endpoint": azure_server.endpoint,
    }
    with pytest.raises(PresignError, match="cannot mint another SAS"):
        unifs.presign("az://presign-az/x", auth=auth)


# -- OCI ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def oci_store(oci_server):
    oci_server.make_bucket("presign-oci")
    opts = oci_server.storage_options
    fs, _ = unifs.url_to_fs(f"oci://presign-oci@{oci_server.namespace}/", **opts)
    for name, data in {
        "model/config.json": b"{}",
        "model/w/shard-1.bin": b"1" * 5000,
        "model/w/shard-2.bin": b"2" * 7000,
        "secret.txt": b"not shared",
    }.items():
        fs.pipe_file(f"presign-oci@{oci_server.namespace}/{name}", data)
    return oci_server, opts, f"oci://n/{oci_server.namespace}/b/presign-oci/o/"


def test_oci_object_par_read_write_revoke(oci_store):
    _, opts, root = oci_store
    get = unifs.presign(root + "model/config.json", **opts)
    assert get.kind == "par" and get.revocable and get.par_id
    assert "/p/" in get.url and _http(get.url) == (200, b"{}")
    assert _http(get.url, "PUT", b"nope")[0] in (401, 403, 404)  # a read PAR cannot write

    put = unifs.presign(root + "model/new.txt", method="PUT", **opts)
    assert _http(put.url, "PUT", b"written via PAR")[0] == 200
    assert _http(put.url)[0] in (401, 403, 404)  # a write PAR cannot read
    fs, path = unifs.url_to_fs(root + "model/new.txt", **opts)
    assert fs.cat_file(path) == b"written via PAR"

    both = unifs.presign(root + "model/new.txt", access="ObjectReadWrite", **opts)
    assert _http(both.url) == (200, b"written via PAR")

    listed = {p["id"] for p in list_presigned(root + "model/", **opts)}
    assert {get.par_id, put.par_id, both.par_id} <= listed
    assert unifs.revoke(get, **opts) is True
    assert _http(get.url)[0] == 404
    assert get.par_id not in {p["id"] for p in list_presigned(root, **opts)}


def test_oci_expired_par_is_refused(oci_store):
    _, opts, root = oci_store
    signed = unifs.presign(root + "model/config.json", expires=2, **opts)
    assert _http(signed.url)[0] == 200
    time.sleep(3.5)
    assert _http(signed.url)[0] == 404


def test_oci_object_par_opens_only_its_object(oci_store):
    _, opts, root = oci_store
    signed = unifs.presign(root + "model/config.json", **opts)
    assert _http(signed.url.replace("model/config.json", "secret.txt"))[0] == 404


def test_prefix_par_downloads_a_model_directory_with_no_credentials(oci_store, tmp_path):
    _, opts, root = oci_store
    signed = unifs.presign(root + "model/", **opts)
    assert signed.uri.endswith("/model/")
    # no storage options, no auth: the PAR URL is the only credential
    report = unifs.get(signed.url, tmp_path / "model")
    fs, base = unifs.url_to_fs(root + "model/", **opts)
    expected = sorted(p[len(base.rstrip("/")) + 1 :] for p in fs.find(base))
    assert {"config.json", "w/shard-1.bin", "w/shard-2.bin"} <= set(expected)
    assert sorted(report.transferred) == expected
    assert (tmp_path / "model" / "w" / "shard-2.bin").read_bytes() == b"2" * 7000
    assert signed.url.endswith("/o/model/")
    with unifs.open(signed.url + "w/shard-1.bin") as f:
        assert f.read() == b"1" * 5000
    # the prefix PAR does not reach outside its prefix
    fs, _ = unifs.url_to_fs(signed.url)
    with pytest.raises((FileNotFoundError, PermissionError)):
        fs.cat_file(fs._strip_protocol(unifs.normalize(signed.url)).split("/")[0] + "/secret.txt")


def test_oci_access_type_must_fit_the_uri(oci_store):
    _, opts, root = oci_store
    with pytest.raises(PresignError, match="trailing '/'"):
        unifs.presign(root + "model/config.json", access="AnyObjectRead", **opts)
    with pytest.raises(PresignError, match="not a PAR access type"):
        unifs.presign(root + "model/config.json", access="Everything", **opts)


def test_cli_presign_json_list_and_revoke(oci_store, capsys):
    server, opts, root = oci_store
    assert server.endpoint.startswith("http://127.0.0.1")
    args = [
        "-o",
        f"config={json.dumps(opts['config'])}",
        "-o",
        f"config_kwargs={json.dumps({'service_endpoint': server.endpoint})}",
    ]
    assert main(["presign", root + "model/config.json", "--expires", "15m", "--json", *args]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "GET" and out["kind"] == "par" and _http(out["url"])[0] == 200
    assert main(["presign", "--list", root, *args]) == 0
    assert out["par_id"] in capsys.readouterr().out
    assert main(["presign", "--revoke", out["par_id"], root, *args]) == 0
    assert _http(out["url"])[0] == 404
    assert main(["presign", root + "x", "--expires", "soon", *args]) == 2
    assert "duration such as" in capsys.readouterr().err
