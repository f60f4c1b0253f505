"""`unifs scan` survives hostile files: each is one "skipped: reason" line (issue #25, item 8).

The command runs in a child process with a generous timeout, so a regression (a FIFO that
blocks, /dev/zero read forever) fails the test instead of hanging the suite.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from unifs.scan import Limits, SkippedFile, scan_paths

FINDING = "import boto3\nboto3.client('s3').download_file('b', 'k', 'f')\n"


def unifs_scan(
    *args: str | Path, address_space: int | None = None
) -> subprocess.CompletedProcess[str]:
    def cap() -> None:
        if address_space is not None:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    return subprocess.run(
        [sys.executable, "-m", "unifs", "scan", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,  # a safety net against a hang, not a measurement
        preexec_fn=cap,
    )


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    root.mkdir()
    (root / "deep_binop.py").write_text("x = " + "1+" * 50_000 + "1\n")
    (root / "deep_attr.py").write_text("x = " + "a." * 50_000 + "b\n")
    (root / "deep_unary.py").write_text("x = " + "-" * 50_000 + "1\n")
    os.mkfifo(root / "x.py")
    (root / "zero.py").symlink_to("/dev/zero")
    (root / "huge.py").write_bytes(b"x = 1\n" * 5_000_000)  # 30 MB
    return root


def test_hostile_files_are_skipped_and_the_rest_is_scanned(hostile: Path) -> None:
    (hostile / "loader.py").write_text(FINDING)
    done = unifs_scan(hostile, address_space=3 * 2**30)
    assert done.returncode == 1, done.stderr  # findings, whatever was skipped
    lines = done.stdout.splitlines()
    assert f"{hostile / 'loader.py'}:2:1: [boto3]" in done.stdout
    skipped = {
        line.split(": skipped: ")[0]: line.split(": skipped: ")[1]
        for line in lines
        if ": skipped: " in line
    }
    assert set(skipped) == {
        str(hostile / n)
        for n in ("deep_binop.py", "deep_attr.py", "deep_unary.py", "x.py", "zero.py", "huge.py")
    }
    assert "nested too deeply" in skipped[str(hostile / "deep_binop.py")]
    assert "a FIFO, not a regular file" in skipped[str(hostile / "x.py")]
    assert "a character device, not a regular file" in skipped[str(hostile / "zero.py")]
    assert "over the 16 MiB limit" in skipped[str(hostile / "huge.py")]
    assert "2 direct cloud-SDK uses in 1 files" in done.stdout


def test_only_skips_exit_2_and_a_clean_tree_exits_0(hostile: Path, tmp_path: Path) -> None:
    done = unifs_scan(hostile)
    assert done.returncode == 2, done.stderr
    assert done.stdout.count(": skipped: ") == 6
    assert "no direct cloud-SDK use found" in done.stdout
    clean = tmp_path / "clean.py"
    clean.write_text("import unifs\n")
    assert unifs_scan(clean).returncode == 0
    # json output stays a list; the skips go to stderr
    done = unifs_scan(hostile, "--format", "json")
    assert done.returncode == 2 and done.stdout.strip() == "[]"
    assert done.stderr.count("skipped") == 6


def test_a_fifo_given_by_name_is_skipped(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.py"
    os.mkfifo(fifo)
    skipped: list[SkippedFile] = []
    assert scan_paths([fifo], skipped=skipped) == []
    assert skipped == [(str(fifo), "a FIFO, not a regular file: not read")]


def test_memory_and_time_limits_per_file(tmp_path: Path) -> None:
    big = tmp_path / "big.py"
    big.write_bytes(b"x = 1\n" * 3_000_000)  # 18 MB: parses into far more than 300 MiB
    small = tmp_path / "small.py"
    small.write_text(FINDING)
    skipped: list[SkippedFile] = []
    limits = Limits(max_bytes=64 * 2**20, memory=300 * 2**20)
    found = scan_paths([big, small], skipped=skipped, limits=limits)
    assert [f.path for f in found] == [str(small)] * 2  # the worker was replaced, or survived
    assert [s.path for s in skipped] == [str(big)]
    assert "memory" in skipped[0].reason
    # a limit no file can meet: each is stopped, reported, and the scan still ends
    skipped = []
    assert scan_paths([small, small], skipped=skipped, limits=Limits(seconds=1e-9)) == []
    assert [s.reason for s in skipped] == [
        "still scanning after 1e-09s, the time limit per file (--timeout): stopped"
    ] * 2


def test_in_process_scanning_catches_recursion_too(hostile: Path) -> None:
    skipped: list[SkippedFile] = []
    paths = [hostile / "deep_binop.py", hostile / "deep_attr.py", hostile / "x.py"]
    assert scan_paths(paths, skipped=skipped, isolate=False) == []
    assert len(skipped) == 3 and "nested too deeply" in skipped[0].reason


def test_help_documents_the_exit_codes_and_limits() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "unifs", "scan", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "1 findings (whatever was skipped); 2 files were skipped and nothing was found" in text
    for flag in ("--max-file-size", "--timeout", "--memory"):
        assert flag in text
