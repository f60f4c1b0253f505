"""The unifs command: normalize, ls, cat, get, put, and clear errors with exit status 2."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from unifs.cli import main


def _opts(store) -> list[str]:
    args = []
    for name, value in store.options.items():
        if name == "config_kwargs":
            value = {k: v for k, v in value.items() if k != "retry_strategy"}
        args += ["-o", f"{name}={json.dumps(value)}"]
    return args


def test_normalize(capsys):
    assert main(["normalize", "oci://n/acme/b/models/o/llama/", "s3a://b12/k"]) == 0
    assert capsys.readouterr().out.splitlines() == ["oci://models@acme/llama/", "s3://b12/k"]
    assert main(["normalize", "--style", "ome", "oci://models@acme/x"]) == 0
    assert capsys.readouterr().out.strip() == "oci://n/acme/b/models/o/x"


def test_bad_uri_exits_2_with_the_reason(capsys):
    assert main(["normalize", "oci://n/acme/data.csv"]) == 2
    err = capsys.readouterr().err
    assert "unifs normalize:" in err and "oci://n@my-namespace/acme/data.csv" in err


@pytest.mark.parametrize("store", ["s3", "oci", "local"], indirect=True)
def test_put_ls_cat_get(store, tmp_path, capsys):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "b.txt").write_text("beta")
    assert main(["put", str(src), store.uri("m/"), *_opts(store)]) == 0
    assert "put: 2 files" in capsys.readouterr().out
    assert main(["ls", store.uri("m/"), *_opts(store)]) == 0
    listing = capsys.readouterr().out
    assert "a.txt" in listing and "sub" in listing
    assert main(["cat", store.uri("m", "a.txt"), *_opts(store)]) == 0
    assert capsys.readouterr().out == "alpha"
    dest = tmp_path / "dest"
    assert main(["get", store.uri("m/"), str(dest), "--exclude", "sub/*", *_opts(store)]) == 0
    assert "get: 1 files" in capsys.readouterr().out
    assert (dest / "a.txt").read_text() == "alpha" and not (dest / "sub").exists()


def test_bad_option_syntax(capsys):
    assert main(["ls", "memory://x/", "-o", "novalue"]) == 2
    assert "-o takes name=value" in capsys.readouterr().err


def test_demo_runs_end_to_end(tmp_path):
    """The README's main job, as a user runs it."""
    result = subprocess.run(
        [sys.executable, "-m", "unifs", "demo", str(tmp_path / "model")],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "11 checksum-verified" in result.stdout
    assert "11 skipped as valid" in result.stdout
    assert (tmp_path / "model" / "config.json").is_file()


def test_demo_without_dest_writes_nothing_in_the_working_directory(tmp_path):
    work = tmp_path / "cwd"
    work.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "unifs", "demo"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=work,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert list(work.iterdir()) == []
    match = re.search(r"the model is in (\S+)/ .*remove it with: rm -r (\S+)$", result.stdout, re.M)
    assert match, result.stdout
    written = Path(match.group(1))
    try:
        assert match.group(2) == str(written)
        assert written.is_absolute() and not written.is_relative_to(work)
        assert (written / "config.json").is_file()
        assert (written / "engines" / "H100" / "rank0.engine").stat().st_size == 2**20
    finally:
        shutil.rmtree(written, ignore_errors=True)
