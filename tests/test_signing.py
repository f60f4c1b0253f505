"""Model signatures: unifs and model_signing verify each other's, on a directory and on
every local server; a changed byte, a missing file and an extra file each fail by name."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import model_signing
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import unifs
from unifs import artifacts
from unifs.cli import main
from unifs.signing import ModelVerificationError, digest_files, verify_files
from unifs.testing.servers import PROVIDERS

MODEL = {
    "config.json": b'{"hidden": 64}',
    "tokenizer.json": b'{"vocab": ["a", "b"]}',
    "weights/model-00001.safetensors": os.urandom(300 * 1024),
    "weights/model-00002.safetensors": os.urandom(200 * 1024),
}
BUCKET = "unifs-signing"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An elliptic-curve key pair (P-256), as PEM files."""
    root = tmp_path_factory.mktemp("keys")
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = root / "signer.pem", root / "signer.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


@pytest.fixture
def other_public_key(tmp_path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "other.pub"
    path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


def write_model(root: Path) -> Path:
    for name, data in MODEL.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def model_signing_verify(model: Path, signature: Path, public: Path) -> None:
    model_signing.verifying.Config().use_elliptic_key_verifier(public_key=public).verify(
        model, signature
    )


def model_signing_sign(model: Path, signature: Path, private: Path) -> None:
    hashing = model_signing.hashing.Config().set_ignored_paths(paths=["model.sig"])
    config = model_signing.signing.Config().use_elliptic_key_signer(private_key=private)
    config.set_hashing_config(hashing).sign(model, signature)


_made: set[str] = set()


def cloud_prefix(server: Any) -> str:
    if server.provider not in _made:
        server.make_bucket(BUCKET)
        _made.add(server.provider)
    key = f"model-{uuid.uuid4().hex[:10]}/"
    if server.provider == "oci":
        return f"oci://n/{server.namespace}/b/{BUCKET}/o/{key}"
    return server.uri(BUCKET, key)


# -- a local directory ------------------------------------------------------------------------


def test_directory_round_trip_both_ways(keys: tuple[Path, Path], tmp_path: Path) -> None:
    private, public = keys
    model = write_model(tmp_path / "llama")
    where = unifs.sign_model(model, private_key=private)
    assert where == f"{model}/model.sig" and Path(where).is_file()
    model_signing_verify(model, Path(where), public)  # unifs's signature, their verifier

    theirs = tmp_path / "theirs.sig"
    model_signing_sign(model, theirs, private)
    report = unifs.verify_model(model, public_key=public, signature=theirs)
    assert report.ok and report.signed and report.kind == "model-signing"
    assert report.verified == sorted(MODEL)


def test_directory_failures_name_the_file(keys: tuple[Path, Path], tmp_path: Path) -> None:
    private, public = keys
    model = write_model(tmp_path / "llama")
    unifs.sign_model(model, private_key=private)
    (model / "weights/model-00002.safetensors").write_bytes(
        b"\x00" + MODEL["weights/model-00002.safetensors"][1:]
    )
    (model / "tokenizer.json").unlink()
    (model / "notes.txt").write_text("added later")
    report = unifs.verify_model(model, public_key=public)
    assert not report.ok
    assert report.differing == ["weights/model-00002.safetensors"]
    assert report.missing == ["tokenizer.json"]
    assert report.extra == ["notes.txt"]
    with pytest.raises(ModelVerificationError, match=r"differs: weights/model-00002"):
        report.raise_for_failure()


def test_wrong_key_and_tampered_signature_are_refused(
    keys: tuple[Path, Path], other_public_key: Path, tmp_path: Path
) -> None:
    private, public = keys
    model = write_model(tmp_path / "llama")
    sig = Path(unifs.sign_model(model, private_key=private))
    with pytest.raises(ModelVerificationError, match="does not verify with the public key"):
        unifs.verify_model(model, public_key=other_public_key)
    bundle = json.loads(sig.read_bytes())
    payload = bundle["dsseEnvelope"]["payload"]
    bundle["dsseEnvelope"]["payload"] = payload[:-8] + (
        "A" * 8 if payload[-8:] != "A" * 8 else "B" * 8
    )
    sig.write_text(json.dumps(bundle))
    with pytest.raises(ModelVerificationError):
        unifs.verify_model(model, public_key=public)


def test_missing_public_key_is_a_clear_error(keys: tuple[Path, Path], tmp_path: Path) -> None:
    model = write_model(tmp_path / "m")
    unifs.sign_model(model, private_key=keys[0])
    with pytest.raises(ModelVerificationError, match="pass the public key"):
        unifs.verify_model(model)


# -- each local server ------------------------------------------------------------------------


@pytest.mark.parametrize("storage_server", PROVIDERS, indirect=True)
def test_bucket_round_trip_both_ways(
    storage_server: Any, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    private, public = keys
    options = storage_server.storage_options
    prefix = cloud_prefix(storage_server)
    unifs.put(write_model(tmp_path / "src"), prefix, **options)

    # unifs signs in the bucket (no local copy); model_signing verifies a downloaded copy
    where = unifs.sign_model(prefix, private_key=private, **options)
    assert where == prefix + "model.sig"
    local = tmp_path / "copy"
    unifs.get(prefix, local, **options)
    model_signing_verify(local, local / "model.sig", public)
    assert unifs.verify_model(prefix, public_key=public, **options).ok

    # model_signing signs a directory; unifs verifies the uploaded model where it lives
    theirs = tmp_path / "theirs.sig"
    model_signing_sign(local, theirs, private)
    unifs.put(str(theirs), prefix + "theirs.sig", **options)
    report = unifs.verify_model(
        prefix, public_key=public, signature=prefix + "theirs.sig", **options
    )
    # theirs.sig itself is a file model_signing never saw: named as extra, nothing else
    assert report.extra == ["theirs.sig"] and not report.differing and not report.missing


@pytest.mark.parametrize("storage_server", PROVIDERS, indirect=True)
def test_bucket_failures_name_the_file(
    storage_server: Any, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    private, public = keys
    options = storage_server.storage_options
    prefix = cloud_prefix(storage_server)
    unifs.put(write_model(tmp_path / "src"), prefix, **options)
    unifs.sign_model(prefix, private_key=private, **options)
    fs, _ = unifs.url_to_fs(prefix, **options)
    changed = bytearray(MODEL["weights/model-00001.safetensors"])
    changed[12345] ^= 0xFF  # one byte
    with unifs.open(prefix + "weights/model-00001.safetensors", "wb", **options) as handle:
        handle.write(bytes(changed))
    _, missing_path = unifs.url_to_fs(prefix + "config.json", **options)
    fs.rm(missing_path)
    with unifs.open(prefix + "extra/readme.md", "wb", **options) as handle:
        handle.write(b"not signed")
    report = unifs.verify_model(prefix, public_key=public, **options)
    assert report.differing == ["weights/model-00001.safetensors"]
    assert report.missing == ["config.json"]
    assert report.extra == ["extra/readme.md"]


def test_streamed_digests_match_local_sha256(s3_server: Any, tmp_path: Path) -> None:
    prefix = cloud_prefix(s3_server)
    unifs.put(write_model(tmp_path / "src"), prefix, **s3_server.storage_options)
    digests = digest_files(prefix, **s3_server.storage_options)
    assert digests == {k: hashlib.sha256(v).hexdigest() for k, v in MODEL.items()}


# -- the runbook's model_signature.json -------------------------------------------------------


def test_runbook_checksum_file(s3_server: Any, tmp_path: Path) -> None:
    options = s3_server.storage_options
    prefix = cloud_prefix(s3_server)
    uri = prefix + "model.onnx"
    data = os.urandom(50_000)
    with unifs.open(uri, "wb", **options) as handle:
        handle.write(data)
    good = tmp_path / "model_signature.json"
    good.write_text(json.dumps({"artifact_uri": uri, "sha256": hashlib.sha256(data).hexdigest()}))
    report = unifs.verify_model(signature=good, **options)
    assert report.ok and not report.signed and report.kind == "sha256-json"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"artifact_uri": uri, "sha256": "0" * 64}))
    assert not unifs.verify_model(signature=bad, **options).ok
    assert main(["verify-model", "--signature", str(bad), *_cli_options(options)]) == 1


def _cli_options(options: dict[str, Any]) -> list[str]:
    return [arg for k, v in options.items() for arg in ("--option", f"{k}={json.dumps(v)}")]


# -- publishing through the cache, and the engine's hook --------------------------------------


def test_download_artifact_refuses_a_model_that_fails(
    s3_server: Any, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    private, public = keys
    options = s3_server.storage_options
    prefix = cloud_prefix(s3_server)
    unifs.put(write_model(tmp_path / "src"), prefix, **options)
    unifs.sign_model(prefix, private_key=private, **options)
    cache = tmp_path / "cache"
    good = unifs.download_artifact(
        prefix, cache_dir=cache, verify_signature=True, public_key=public, **options
    )
    assert (good / "config.json").read_bytes() == MODEL["config.json"]

    with unifs.open(prefix + "config.json", "wb", **options) as handle:
        handle.write(b'{"hidden": 65}')
    with pytest.raises(ModelVerificationError, match=r"differs: config\.json") as info:
        unifs.download_artifact(
            prefix, cache_dir=cache, verify_signature=True, public_key=public, **options
        )
    assert str(info.value).startswith(unifs.normalize(prefix)) and ".staging" not in str(info.value)
    # only the good entry was ever published; the failed one left nothing behind
    assert [e.root for e in artifacts.entries(cache)] == [good]
    key_dir = good.parent
    assert sorted(p.name for p in key_dir.iterdir() if p.is_dir()) == [good.name]


def test_verify_files_uses_given_digests_and_names_files(
    keys: tuple[Path, Path], tmp_path: Path
) -> None:
    private, public = keys
    model = write_model(tmp_path / "m")
    unifs.sign_model(model, private_key=private)
    files = {name: model / name for name in MODEL}
    report = verify_files(files, signature=model / "model.sig", public_key=public)
    assert report.ok and report.verified == sorted(MODEL)
    wrong = {"config.json": hashlib.sha256(b"other").hexdigest()}
    with pytest.raises(ModelVerificationError, match=r"differs: config\.json") as info:
        verify_files(files, signature=model / "model.sig", public_key=public, digests=wrong)
    assert info.value.report is not None and info.value.report.differing == ["config.json"]
    partial = {k: v for k, v in files.items() if k != "tokenizer.json"}
    with pytest.raises(ModelVerificationError, match=r"missing: tokenizer\.json"):
        verify_files(partial, signature=model / "model.sig", public_key=public)


def test_cli_sign_and_verify(
    keys: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    private, public = keys
    model = write_model(tmp_path / "m")
    sig = tmp_path / "out.sig"
    assert (
        main(["sign-model", str(model), "--private-key", str(private), "--output", str(sig)]) == 0
    )
    assert str(sig) in capsys.readouterr().out
    args = ["verify-model", str(model), "--public-key", str(public), "--signature", str(sig)]
    assert main(args) == 0
    assert "OK: 4 files match" in capsys.readouterr().out
    shutil.rmtree(model / "weights")
    assert main([*args, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["missing"] == sorted(
        k for k in MODEL if k.startswith("weights/")
    )
    assert main(["verify-model", str(model), "--signature", str(sig)]) == 1
    assert "pass the public key" in capsys.readouterr().err
    # the private key never appears in output
    assert main(["sign-model", str(model), "--private-key", str(tmp_path / "nokey.pem")]) == 2
    err = capsys.readouterr().err
    assert "nokey.pem" in err and "BEGIN" not in err


def test_cache_hits_are_checked_when_a_signature_is_asked_for(
    s3_server: Any, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    private, public = keys
    options = s3_server.storage_options
    prefix = cloud_prefix(s3_server)
    unifs.put(write_model(tmp_path / "src"), prefix, **options)
    sig = tmp_path / "llama.sig"  # kept outside the model: the bucket does not change
    unifs.sign_model(prefix, private_key=private, signature=sig, **options)
    cache = tmp_path / "cache"
    path = unifs.download_artifact(prefix, cache_dir=cache, **options)  # cached unchecked
    again = unifs.download_artifact(
        prefix, cache_dir=cache, verify_signature=sig, public_key=public, **options
    )
    assert again == path
    (path / "tokenizer.json").write_bytes(b"corrupted on this node")
    for offline in (False, True):
        with pytest.raises(ModelVerificationError, match=r"differs: tokenizer\.json"):
            unifs.download_artifact(
                prefix,
                cache_dir=cache,
                offline=offline,
                verify_signature=sig,
                public_key=public,
                **options,
            )
    with pytest.raises(unifs.UnifsError, match="offline mode makes no requests"):
        unifs.download_artifact(
            prefix,
            cache_dir=cache,
            offline=True,
            verify_signature=prefix + "model.sig",
            public_key=public,
        )


@pytest.mark.parametrize("storage_server", PROVIDERS, indirect=True)
def test_get_publishes_a_signed_model_only_when_every_file_matches(
    storage_server: Any, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    """``unifs.get(..., verify_signature=...)``: nothing lands unless the whole model passes."""
    private, public = keys
    options = storage_server.storage_options
    prefix = cloud_prefix(storage_server)
    unifs.put(write_model(tmp_path / "src"), prefix, **options)
    unifs.sign_model(prefix, private_key=private, **options)

    good = tmp_path / "good"
    report = unifs.get(prefix, good, verify_signature=True, public_key=public, **options)
    assert report.ok
    for name, data in MODEL.items():
        assert (good / name).read_bytes() == data

    # one byte of one shard changes in the bucket: the get publishes nothing at all
    changed = bytearray(MODEL["weights/model-00002.safetensors"])
    changed[1000] ^= 1
    with unifs.open(prefix + "weights/model-00002.safetensors", "wb", **options) as handle:
        handle.write(bytes(changed))
    fresh = tmp_path / "fresh"
    with pytest.raises(ModelVerificationError, match=r"model-00002\.safetensors"):
        unifs.get(prefix, fresh, verify_signature=True, public_key=public, **options)
    # not a file, not even an empty directory; the work directory is cleaned up too
    assert list(fresh.iterdir()) == []
    # into the good copy: the changed shard is fetched, refused, and the good file stays
    with pytest.raises(ModelVerificationError, match=r"model-00002\.safetensors"):
        unifs.get(prefix, good, verify_signature=True, public_key=public, **options)
    assert (good / "weights/model-00002.safetensors").read_bytes() == MODEL[
        "weights/model-00002.safetensors"
    ]
