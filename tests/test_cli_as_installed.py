"""Issue 22's first tries, through the installed ``unifs`` command (a subprocess), against the
local servers: what a person types in a shell, not ``main([...])`` in this process.

Each test names the bullet it holds; the in-process tests beside it (test_cli_first_tries,
test_oci_shell_auth, test_uri_consoles, test_progress) check the details.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(300)

UNIFS = str(Path(sys.executable).with_name("unifs"))
SCHEMES = {"s3": "s3://", "gcs": "gs://", "azure": "az://", "oci": "oci://"}
MTIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _unifs(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [UNIFS, *args], capture_output=True, text=True, timeout=180, env=env or {**os.environ}
    )


def _flags(options: dict[str, Any]) -> list[str]:
    flags = []
    for name, value in options.items():
        if name == "config_kwargs":
            value = {k: v for k, v in value.items() if k != "retry_strategy"}
        flags += ["-o", f"{name}={json.dumps(value, default=str)}"]
    return flags


def test_the_installed_command_is_the_entry_point() -> None:
    assert Path(UNIFS).is_file(), f"{UNIFS}: the package's console script is not installed"
    shown = _unifs("--help")
    assert shown.returncode == 0 and shown.stdout.startswith("usage: unifs")


@pytest.mark.parametrize("backend", list(SCHEMES))
def test_ls_provider_root_lists_buckets(backend: str, request: pytest.FixtureRequest) -> None:
    server = request.getfixturevalue(f"{backend}_server")
    bucket = f"shell-roots-{uuid.uuid4().hex[:8]}"
    server.make_bucket(bucket)
    listed = _unifs("ls", SCHEMES[backend], *_flags(dict(server.storage_options)))
    assert listed.returncode == 0, listed.stderr
    assert any(bucket in line for line in listed.stdout.splitlines()), listed.stdout


@pytest.mark.parametrize("store", ["s3", "gcs", "azure", "oci", "local"], indirect=True)
def test_json_is_one_schema_on_every_provider(store: Any, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.bin").write_bytes(b"alpha" * 100)
    flags = _flags(store.options)
    assert _unifs("put", str(src), store.uri(), *flags).returncode == 0
    listed = _unifs("ls", "--json", store.uri(), *flags)
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    (row,) = [r for r in rows if r["uri"].endswith("a.bin")]
    assert {"uri", "type", "size", "mtime", "etag", "checksums", "version"} <= set(row)
    assert row["size"] == 500 and row["type"] == "file"
    assert MTIME.match(row["mtime"]), row["mtime"]
    assert all(re.fullmatch(r"[0-9a-f]+", v) for v in row["checksums"].values()), row
    stat = _unifs("stat", "--json", store.uri("a.bin"), *flags)
    assert stat.returncode == 0, stat.stderr
    assert set(json.loads(stat.stdout)) >= set(row) - {"version"}


def test_a_missing_local_path_says_no_such_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    copied = _unifs("cp", str(missing), str(tmp_path / "out.txt"))
    assert copied.returncode == 2
    assert f"no such file or directory: {missing}" in copied.stderr
    assert "Traceback" not in copied.stderr and "bucket" not in copied.stderr


@pytest.mark.parametrize("typed", ["llama", "llama/"])
def test_cp_of_a_prefix_needs_r(s3_server: Any, tmp_path: Path, typed: str) -> None:
    bucket = f"shell-prefix-{uuid.uuid4().hex[:8]}"
    s3_server.make_bucket(bucket)
    s3_server.filesystem().pipe(f"{bucket}/llama/a.bin", b"a")
    flags = _flags(dict(s3_server.storage_options))
    refused = _unifs("cp", f"s3://{bucket}/{typed}", str(tmp_path / "d") + "/", *flags)
    assert refused.returncode == 2 and "use cp -r" in refused.stderr
    assert not (tmp_path / "d").exists()
    copied = _unifs("cp", "-r", f"s3://{bucket}/{typed}", str(tmp_path / "d") + "/", *flags)
    assert copied.returncode == 0, copied.stderr
    assert [p.name for p in (tmp_path / "d").rglob("*.bin")] == ["a.bin"]


@pytest.mark.parametrize(
    ("url", "uri"),
    [
        (
            "https://cloud.oracle.com/object-storage/buckets/acme/models/objects"
            "?region=us-ashburn-1&prefix=llama/7b",
            "oci://models@acme/llama/7b/",
        ),
        (
            "https://s3.console.aws.amazon.com/s3/buckets/my-models?region=us-west-2"
            "&prefix=llama/7b/&showversions=false",
            "s3://my-models/llama/7b/",
        ),
        (
            "https://us-east-2.console.aws.amazon.com/s3/object/my-models?prefix=a.txt",
            "s3://my-models/a.txt",
        ),
    ],
)
def test_console_urls_read_into_uris(url: str, uri: str) -> None:
    shown = _unifs("normalize", url)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split()[-1] == uri


def test_a_console_page_that_names_no_object_says_what_to_copy() -> None:
    shown = _unifs("normalize", "https://s3.console.aws.amazon.com/s3/home?region=us-east-1")
    assert shown.returncode == 2
    assert len(shown.stderr.strip().splitlines()) == 1 and "Traceback" not in shown.stderr


def test_oci_without_credentials_names_the_flags(oci_server: Any, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCI_", "OCIFS_"))}
    env["HOME"] = str(home)
    bucket = f"shell-noauth-{uuid.uuid4().hex[:8]}"
    oci_server.make_bucket(bucket)
    listed = _unifs(
        "ls", f"oci://n/{oci_server.namespace}/b/{bucket}/o/", "-a",
        f"endpoint={oci_server.endpoint}", env=env,
    )  # fmt: skip
    assert listed.returncode == 2
    assert "pass -a auth=user_principal" in listed.stderr
    assert str(home / ".oci" / "config") in listed.stderr
    assert len(listed.stderr.strip().splitlines()) == 1


def test_mkdir_in_us_east_1(s3_server: Any) -> None:
    bucket = f"shell-east-{uuid.uuid4().hex[:8]}"
    made = _unifs(
        "mkdir",
        f"s3://{bucket}",
        "-a",
        "region=us-east-1",
        *_flags(dict(s3_server.storage_options)),
    )
    assert made.returncode == 0, made.stderr
    assert s3_server.filesystem().exists(bucket)


def test_progress_on_a_terminal_has_no_stray_separator(s3_server: Any, tmp_path: Path) -> None:
    """The bar as a terminal shows it (stderr is a pseudo-terminal): no ``| , `` before the
    sizes, the file counted when it lands, a last line that says the transfer ended."""
    bucket = f"shell-bar-{uuid.uuid4().hex[:8]}"
    s3_server.make_bucket(bucket)
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(12 << 20))
    main, side = pty.openpty()
    # a terminal 120 columns wide (a new pty has none, and tqdm then draws an empty line)
    fcntl.ioctl(side, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    chunks: list[bytes] = []

    def drain() -> None:  # read while it runs: a full pty would block the command
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the other end is closed: everything was read
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        done = subprocess.run(
            [UNIFS, "put", str(src), f"s3://{bucket}/big.bin",
             *_flags(dict(s3_server.storage_options))],
            stdout=subprocess.PIPE, stderr=side, timeout=180,
        )  # fmt: skip
    finally:
        os.close(side)
        reader.join(timeout=30)
        os.close(main)
    shown = b"".join(chunks)
    assert done.returncode == 0
    text = shown.decode(errors="replace")
    assert "put" in text and "MiB" in text, text
    assert "| , " not in text and "|, " not in text, text
    assert "1/1" in text, text
