# ruff: noqa: F811  (the keys fixture comes from test_signing)
"""Symlinks and special files in a local model: refused by sign/verify unless followed.

fsspec's local listing leaves symlinks out, so before this a link added to a signed model
verified OK while a loader read its unchecked target (issue #25, item 2).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import model_signing
import pytest
from test_signing import keys  # noqa: F401  (a fixture)

import unifs
from unifs.cli import main
from unifs.model_files import UnsafeModelFileError
from unifs.signing import ModelVerificationError

MODEL = {
    "config.json": b'{"hidden": 64}',
    "weights/model-00001.safetensors": os.urandom(64 * 1024),
}


def write_model(root: Path) -> Path:
    for name, data in MODEL.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    root = tmp_path / "outside"
    (root / "dir").mkdir(parents=True)
    (root / "secret").write_bytes(b"never signed")
    (root / "dir" / "inner.bin").write_bytes(b"also never signed")
    return root


@pytest.mark.parametrize("link", ["file", "dir"])
def test_a_symlink_added_to_a_signed_model_is_refused(
    keys: tuple[Path, Path], tmp_path: Path, outside: Path, link: str
) -> None:
    private, public = keys
    model = write_model(tmp_path / "m")
    unifs.sign_model(model, private_key=private)
    name, target = (
        ("link.txt", outside / "secret") if link == "file" else ("extra", outside / "dir")
    )
    (model / name).symlink_to(target)
    with pytest.raises(UnsafeModelFileError, match=rf"{name} is a symlink") as info:
        unifs.verify_model(model, public_key=public)
    assert "follow_symlinks=True" in str(info.value)
    assert isinstance(info.value, ModelVerificationError)
    # followed, the link's target is hashed under its name: extra, so the model fails
    report = unifs.verify_model(model, public_key=public, follow_symlinks=True)
    assert not report.ok
    assert report.extra == (["link.txt"] if link == "file" else ["extra/inner.bin"])


def test_sign_refuses_a_symlink_unless_followed_and_model_signing_agrees(
    keys: tuple[Path, Path], tmp_path: Path, outside: Path
) -> None:
    private, public = keys
    model = write_model(tmp_path / "m")
    (model / "weights" / "shared.bin").symlink_to(outside / "secret")
    with pytest.raises(UnsafeModelFileError, match=r"weights/shared\.bin is a symlink"):
        unifs.sign_model(model, private_key=private)
    assert not (model / "model.sig").exists()
    where = Path(unifs.sign_model(model, private_key=private, follow_symlinks=True))
    report = unifs.verify_model(model, public_key=public, follow_symlinks=True)
    assert report.ok and "weights/shared.bin" in report.verified
    # model-signing verifies the same signature when allowed to follow symlinks
    config = model_signing.verifying.Config().use_elliptic_key_verifier(public_key=public)
    config.set_hashing_config(
        model_signing.hashing.Config()
        .set_ignored_paths(paths=["model.sig"])
        .set_allow_symlinks(True)
    ).verify(model, where)
    # the target changes: the followed link now differs
    (outside / "secret").write_bytes(b"changed behind the link")
    report = unifs.verify_model(model, public_key=public, follow_symlinks=True)
    assert report.differing == ["weights/shared.bin"]


def test_a_loop_and_a_broken_link_are_refused_even_when_followed(
    keys: tuple[Path, Path], tmp_path: Path
) -> None:
    private, _ = keys
    model = write_model(tmp_path / "m")
    (model / "weights" / "loop").symlink_to(model)
    with pytest.raises(UnsafeModelFileError, match="loop"):
        unifs.sign_model(model, private_key=private, follow_symlinks=True)
    (model / "weights" / "loop").unlink()
    (model / "gone").symlink_to(tmp_path / "nothing-here")
    with pytest.raises(UnsafeModelFileError, match="gone is a broken symlink"):
        unifs.sign_model(model, private_key=private, follow_symlinks=True)


def test_special_files_are_refused(keys: tuple[Path, Path], tmp_path: Path) -> None:
    private, public = keys
    model = write_model(tmp_path / "m")
    unifs.sign_model(model, private_key=private)
    os.mkfifo(model / "pipe.bin")
    with pytest.raises(UnsafeModelFileError, match=r"pipe\.bin is a FIFO"):
        unifs.verify_model(model, public_key=public, follow_symlinks=True)
    (model / "pipe.bin").unlink()
    (model / "zero.bin").symlink_to("/dev/zero")
    with pytest.raises(UnsafeModelFileError, match=r"zero\.bin is a character device"):
        unifs.verify_model(model, public_key=public, follow_symlinks=True)


def test_cli_refuses_and_follows(
    keys: tuple[Path, Path], tmp_path: Path, outside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    private, public = keys
    model = write_model(tmp_path / "m")
    (model / "link.txt").symlink_to(outside / "secret")
    assert main(["sign-model", str(model), "--private-key", str(private)]) != 0
    assert "link.txt is a symlink" in capsys.readouterr().err
    sign = ["sign-model", str(model), "--private-key", str(private), "--follow-symlinks"]
    assert main(sign) == 0
    capsys.readouterr()
    verify = ["verify-model", str(model), "--public-key", str(public)]
    assert main(verify) == 1
    assert "--follow-symlinks" in capsys.readouterr().err
    assert main([*verify, "--follow-symlinks"]) == 0


def test_get_verify_signature_refuses_a_symlink_already_in_the_destination(
    s3_server: Any, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    """A file a get skips as valid is checked where it is: a symlink there is refused."""
    private, public = keys
    options = s3_server.storage_options
    bucket = "unifs-signing-links"
    s3_server.make_bucket(bucket)
    prefix = f"s3://{bucket}/m-{uuid.uuid4().hex[:8]}/"
    unifs.put(write_model(tmp_path / "src"), prefix, **options)
    unifs.sign_model(prefix, private_key=private, **options)
    dest = tmp_path / "dest"
    (dest / "weights").mkdir(parents=True)
    # a link inside the destination (the realpath check lets it by) to a file no one signed
    elsewhere = dest / "local-notes.json"
    elsewhere.write_bytes(MODEL["config.json"])  # the right bytes today, any bytes tomorrow
    (dest / "config.json").symlink_to(elsewhere)
    with pytest.raises(UnsafeModelFileError, match=r"config\.json is a symlink"):
        unifs.get(prefix, dest, verify_signature=True, public_key=public, **options)
    assert not (dest / "weights" / "model-00001.safetensors").exists()  # nothing published
