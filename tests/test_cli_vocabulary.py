"""One voice for the command line (issue 22): the same flags mean the same on every verb,
every verb's --help has examples, no abbreviations, and "did you mean" for near misses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from unifs.commands import VERBS


def _unifs(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "unifs", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
        **kwargs,
    )


ALL = [verb.replace("_", "-") for verb in VERBS]
# verbs that reach a store take -o/-a; these read local files, only parse text or start servers
LOCAL_ONLY = {"normalize", "scan", "cache", "demo", "serve"}  # serve starts servers


@pytest.mark.parametrize("verb", ALL)
def test_every_verb_help_has_examples_and_one_vocabulary(verb):
    result = _unifs(verb, "--help")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "examples:" in text
    assert f"unifs {verb}" in text.split("examples:", 1)[1]
    assert "-h, --help" in text  # -h is help everywhere
    if verb not in LOCAL_ONLY:
        assert "-o NAME=VALUE, --option NAME=VALUE" in text
        assert "-a NAME=VALUE, --auth NAME=VALUE" in text
        assert "storage option" in text.split("--option NAME=VALUE", 1)[1].split("\n  -", 1)[0]
    if "--human-readable" in text:
        assert "-H, --human-readable" in text


def test_sign_model_output_is_output_and_o_is_a_storage_option():
    text = _unifs("sign-model", "--help").stdout
    assert "--output SIGNATURE" in text
    assert "-o SIGNATURE" not in text


def test_abbreviated_flag_is_refused_with_a_suggestion(tmp_path):
    (tmp_path / "a").mkdir()
    result = _unifs("sync", "--delet", str(tmp_path / "a"), str(tmp_path / "b"))
    assert result.returncode == 2
    assert "unrecognized arguments: --delet" in result.stderr
    assert "did you mean --delete?" in result.stderr
    assert not (tmp_path / "b").exists()


def test_unknown_verb_did_you_mean():
    result = _unifs("cpy", "a", "b")
    assert result.returncode == 2
    assert "did you mean 'cp'?" in result.stderr


def test_ls_h_is_help_not_human_readable():
    result = _unifs("ls", "-h")
    assert result.returncode == 0
    assert "-H, --human-readable" in result.stdout


@pytest.mark.parametrize(
    "uri, flag, typed, meant",
    [
        ("oci://n/acme/b/models/o/llama/", "-a", "us-ashburn1", "us-ashburn-1"),
        ("s3://models/llama/", "-a", "eu-west1", "eu-west-1"),
        ("s3://models/llama/", "-A", "eu-centrl-1", "eu-central-1"),
    ],
)
def test_region_did_you_mean(uri, flag, typed, meant, tmp_path):
    verb = ["cp", "-r", str(tmp_path), uri] if flag == "-A" else ["ls", uri]
    result = _unifs(*verb, flag, f"region={typed}")
    assert result.returncode == 2
    assert f"did you mean {flag} region={meant}?" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_region_the_sdk_knows_is_not_questioned():
    from argparse import Namespace

    from unifs.commands.shared import check_regions

    check_regions(Namespace(uri="oci://n/acme/b/m/o/", auth=["region=us-ashburn-1"]))
    check_regions(Namespace(uri="oci://n/acme/b/m/o/", auth=["region=iad"]))
    # far from every known region: passed on, the store decides (tables lag new regions)
    check_regions(Namespace(uri="s3://models/", auth=["region=far-from-anything-9"]))


def test_docs_index_lists_every_verb():
    index = (Path(__file__).resolve().parent.parent / "docs" / "index.md").read_text()
    missing = [verb for verb in ALL if f"`{verb}`" not in index]
    assert not missing, f"docs/index.md does not list: {missing}"
