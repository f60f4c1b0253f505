"""CLI output masks PAR tokens by default: listings get pasted into tickets (issue #25, item 10).

Against unifs's own OCI server: a prefix PAR and an object PAR, listed, sized, stat'ed,
hashed and fetched through with every verb that prints URIs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import unifs
from unifs.cli import main

BUCKET = "unifs-cli-masking"


@pytest.fixture(scope="module")
def pars(oci_server: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    """(prefix PAR URL, object PAR URL, the prefix PAR's token)."""
    tmp = tmp_path_factory.mktemp("par")
    config = oci_server.identity.write_config_file(tmp / "oci")
    auth = {"auth": "user_principal", "config_path": str(config), "endpoint": oci_server.endpoint}
    oci_server.make_bucket(BUCKET)
    root = f"oci://n/{oci_server.namespace}/b/{BUCKET}/o/m/"
    src = tmp / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"alpha")
    (src / "sub" / "b.bin").write_bytes(b"b" * 3000)
    unifs.put(src, root, auth=auth)
    prefix = unifs.presign(root, auth=auth).url
    one = unifs.presign(root + "a.txt", auth=auth).url
    token = re.search(r"/p/([^/]+)/", prefix)
    assert token is not None
    return prefix, one, token.group(1)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    captured = capsys.readouterr()
    return captured.out + captured.err


@pytest.mark.parametrize(
    "argv",
    [
        ["ls", "-r"],
        ["ls"],
        ["ls", "-r", "-l"],
        ["ls", "-r", "--json"],
        ["du"],
        ["du", "--json"],
        ["hash", "-r"],
        ["hash", "-r", "--json"],
    ],
    ids=" ".join,
)
def test_listing_verbs_mask_the_token(
    pars: tuple[str, str, str], capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    prefix, _, token = pars
    out = run(capsys, *argv, prefix)
    assert token not in out
    assert "/p/***/n/" in out
    assert "a.txt" in out or argv[0] == "du"  # the rest of each URI is still there
    whole = run(capsys, *argv, "--show-secrets", prefix)
    assert token in whole


@pytest.mark.parametrize("argv", [["stat"], ["stat", "--json"], ["hash"], ["hash", "--json"]])
def test_one_object_verbs_mask_the_token(
    pars: tuple[str, str, str], capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    _, one, _ = pars
    token = re.search(r"/p/([^/]+)/", one)
    assert token is not None
    out = run(capsys, *argv, one)
    assert token.group(1) not in out and "/p/***/" in out
    assert token.group(1) in run(capsys, *argv, "--show-secrets", one)


@pytest.mark.parametrize("verb", [["get"], ["cp", "-r"]])
def test_transfer_reports_carry_no_token(
    pars: tuple[str, str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path, verb: list[str]
) -> None:
    prefix, _, token = pars
    for extra in ([], ["--json"]):
        dest = tmp_path / f"d{len(extra)}"
        out = run(capsys, *verb, *extra, prefix, str(dest))
        assert token not in out
        assert (dest / "a.txt").read_bytes() == b"alpha"
        if extra:
            assert json.loads(out)["source"].startswith("oci://")
