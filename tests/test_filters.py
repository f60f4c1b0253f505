"""Include/exclude with rclone's rules (unifs.engine.filters), through the library and the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from unifs.engine.filters import FilterPatternError, literal, matches, unmatched

PATHS = ["config.json", "a/b/c.json", "H100/e.plan", "engines/H100/e.plan", "engines/A100/e.plan"]


@pytest.mark.parametrize(
    ("pattern", "kept"),
    [
        ("*.json", {"config.json", "a/b/c.json"}),
        ("/*.json", {"config.json"}),
        ("H100/**", {"H100/e.plan", "engines/H100/e.plan"}),
        ("/H100/**", {"H100/e.plan"}),
        ("engines/*/e.plan", {"engines/H100/e.plan", "engines/A100/e.plan"}),
        ("*/e.plan", {"H100/e.plan", "engines/H100/e.plan", "engines/A100/e.plan"}),
        ("/*/e.plan", {"H100/e.plan"}),
        ("H100/", {"H100/e.plan", "engines/H100/e.plan"}),
        ("{A,H}100/**", {"H100/e.plan", "engines/H100/e.plan", "engines/A100/e.plan"}),
        ("c.json", {"a/b/c.json"}),
        ("b/c.json", {"a/b/c.json"}),
        ("/b/c.json", set()),
    ],
)
def test_rclone_rules(pattern, kept):
    assert {p for p in PATHS if matches(p, [pattern], None)} == kept


def test_star_stays_within_a_segment_and_names_are_whole_segments():
    assert not matches("a/b.json", ["/*.json"], None)
    assert not matches("ab.txt", ["b.txt"], None)
    assert matches("x/y/z", None, None)
    assert not matches("a/b/c.json", None, ["*.json"])


def test_literal_matches_exactly_one_path():
    name = "weird[1]/*.bin"
    assert matches(name, [literal(name)], None)
    assert not matches("deeper/" + name, [literal(name)], None)
    assert not matches("weird1/x.bin", [literal(name)], None)


def test_unmatched_names_patterns_that_kept_nothing():
    assert unmatched(["*.json", "nope/**"], PATHS) == ["nope/**"]


@pytest.mark.parametrize("bad", ["[abc", "{a,b", "x\\", ""])
def test_malformed_pattern_is_refused(bad):
    with pytest.raises(FilterPatternError):
        matches("a", [bad], None)


def _tree(root: Path) -> Path:
    for p in PATHS:
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        (root / p).write_bytes(p.encode())
    return root


def _unifs(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "unifs", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("store", ["s3", "local"], indirect=True)
def test_cli_include_keeps_h100_at_any_depth(store, tmp_path):
    from test_cli import _opts

    src = _tree(tmp_path / "src")
    assert _unifs("put", str(src), store.uri("m/"), *_opts(store)).returncode == 0
    dest = tmp_path / "dest"
    done = _unifs("get", store.uri("m/"), str(dest), "--include", "H100/**", *_opts(store))
    assert done.returncode == 0, done.stderr
    got = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert got == ["H100/e.plan", "engines/H100/e.plan"]


def test_cli_include_that_matches_nothing_exits_3_unless_allowed(tmp_path):
    src = _tree(tmp_path / "src")
    done = _unifs("get", str(src), str(tmp_path / "d1"), "--include", "*.safetensors")
    assert done.returncode == 3
    assert "'*.safetensors' matched no file" in done.stderr and "--allow-empty" in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    done = _unifs(
        "get", str(src), str(tmp_path / "d2"), "--include", "*.safetensors", "--allow-empty"
    )
    assert done.returncode == 0 and "warning" in done.stderr
    # one include that matches is not enough when another matched nothing
    done = _unifs(
        "get", str(src), str(tmp_path / "d3"), "--include", "*.json", "--include", "typo/**"
    )
    assert done.returncode == 3 and "'typo/**'" in done.stderr
    assert (tmp_path / "d3" / "config.json").exists()


def test_cli_malformed_pattern_exits_2_before_listing(tmp_path):
    src = _tree(tmp_path / "src")
    done = _unifs("get", str(src), str(tmp_path / "d"), "--include", "[abc")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert not (tmp_path / "d").exists()
