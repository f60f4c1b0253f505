"""OCI is a first-class fsspec protocol: plain fsspec, pandas and UPath read both dialects.

The scripts run in fresh interpreters that never import unifs themselves, with ocifs
imported before, after, or not at all. Storage options reach fsspec the way a user's
deployment would set them: the ``FSSPEC_OCI`` environment variable (fsspec's config).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import fsspec
import pytest
from upath import UPath

import unifs
from unifs.providers.oci_filesystem import OCIFileSystem

SCRIPT = textwrap.dedent(
    """
    import json, socket, sys
    # the subprocess stays on loopback too, guarded without importing unifs
    _connect = socket.socket.connect
    def _loopback_only(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in (
            "127.0.0.1", "::1", "localhost"
        ):
            raise ConnectionRefusedError(f"blocked connection to {{address}}")
        return _connect(self, address)
    socket.socket.connect = _loopback_only
    {before}
    import fsspec, pandas as pd
    from upath import UPath
    {after}
    ns, bucket = sys.argv[1], sys.argv[2]
    ome = f"oci://n/{{ns}}/b/{{bucket}}/o/dir/data.csv"
    with fsspec.open(ome, "w") as f:
        f.write("a,b\\n1,2\\n3,4\\n")
    with fsspec.open(f"oci://{{bucket}}@{{ns}}/dir/data.csv", "r") as f:
        text = f.read()
    fs, path = fsspec.url_to_fs(ome)
    df = pd.read_csv(ome)
    p = UPath(f"oci://n/{{ns}}/b/{{bucket}}/o/dir") / "data.csv"
    print(json.dumps({{
        "cls": type(fs).__module__ + "." + type(fs).__name__,
        "path": path,
        "text": text,
        "sum": int(df.values.sum()),
        "name": p.name,
        "parent": str(p.parent),
        "exists": p.exists(),
        "bytes": p.read_bytes().decode(),
        "listing": sorted(x.name for x in p.parent.iterdir()),
    }}))
    """
)

ORDERS = {
    "ocifs-never-imported": ("", ""),
    "ocifs-imported-first": ("import ocifs", ""),
    "ocifs-imported-after-fsspec": ("", "import ocifs"),
}


def _run(script: str, oci_server, bucket: str, extra_env: dict[str, str] | None = None):
    env = dict(os.environ)
    env["FSSPEC_OCI"] = json.dumps(
        {
            "config": oci_server.identity.config(),
            "config_kwargs": {"service_endpoint": oci_server.endpoint},
        }
    )
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-c", script, oci_server.namespace, bucket],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def oci_bucket(oci_server):
    oci_server.make_bucket("fsspec-registration")
    return "fsspec-registration"


@pytest.mark.parametrize("order", list(ORDERS))
def test_plain_fsspec_pandas_and_upath_read_both_dialects(order, oci_server, oci_bucket):
    before, after = ORDERS[order]
    script = SCRIPT.format(before=before, after=after)
    assert "import unifs" not in script and "from unifs" not in script
    result = _run(script, oci_server, oci_bucket)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["cls"] == "unifs.providers.oci_filesystem.OCIFileSystem"
    assert out["path"] == f"{oci_bucket}@{oci_server.namespace}/dir/data.csv"
    assert out["text"] == "a,b\n1,2\n3,4\n"
    assert out["sum"] == 10
    assert out["name"] == "data.csv"
    assert out["parent"] == f"oci://{oci_bucket}@{oci_server.namespace}/dir"
    assert out["exists"] is True
    assert out["bytes"] == out["text"]
    assert out["listing"] == ["data.csv"]


def test_without_the_startup_hook_an_early_ocifs_import_wins(oci_server, oci_bucket):
    """Shows what the hook is for: turned off, `import ocifs` first takes oci:// back."""
    script = "import ocifs, fsspec\nprint(fsspec.get_filesystem_class('oci').__module__)"
    off = _run(script, oci_server, oci_bucket, {"UNIFS_NO_OCI_HOOK": "1"})
    on = _run(script, oci_server, oci_bucket)
    assert off.stdout.strip() == "ocifs.core"
    assert on.stdout.strip() == "unifs.providers.oci_filesystem"


def test_class_is_unifs_async_filesystem_and_strips_every_dialect():
    import ocifs
    from fsspec.asyn import AsyncFileSystem

    assert issubclass(OCIFileSystem, AsyncFileSystem)
    assert not issubclass(OCIFileSystem, ocifs.OCIFileSystem)
    assert fsspec.get_filesystem_class("oci") is OCIFileSystem
    assert fsspec.get_filesystem_class("ocios") is OCIFileSystem
    strip = OCIFileSystem._strip_protocol
    assert strip("oci://n/ns/b/bkt/o/a/b.txt") == "bkt@ns/a/b.txt"
    assert strip("oci://bkt@ns/a/b.txt") == "bkt@ns/a/b.txt"
    assert strip("oci://ns@us-ashburn-1/bkt/a") == "bkt@ns/a"
    assert strip("oci://n/ns/b/bkt/o/dir/") == "bkt@ns/dir"
    assert strip("bkt@ns/a") == "bkt@ns/a"
    assert strip("ocios://n/ns/b/bkt/o/a/b.txt") == "bkt@ns/a/b.txt"
    assert OCIFileSystem._get_kwargs_from_urls("oci://ns@us-phoenix-1/bkt/a") == {
        "region": "us-phoenix-1"
    }


def test_unifs_open_and_url_to_fs_on_oci(oci_server, oci_bucket):
    options = oci_server.storage_options
    uri = f"oci://n/{oci_server.namespace}/b/{oci_bucket}/o/unifs/hello.txt"
    with unifs.open(uri, "wb", **options) as f:
        f.write(b"hello oci")
    fs, path = unifs.url_to_fs(uri, **options)
    assert isinstance(fs, OCIFileSystem)
    assert path == f"{oci_bucket}@{oci_server.namespace}/unifs/hello.txt"
    assert fs.cat_file(path) == b"hello oci"
    with unifs.open(f"oci://{oci_bucket}@{oci_server.namespace}/unifs/hello.txt", **options) as f:
        assert f.read() == b"hello oci"


def test_upath_on_oci_behaves_like_s3(oci_server, oci_bucket):
    options = oci_server.storage_options
    root = UPath(f"oci://n/{oci_server.namespace}/b/{oci_bucket}/o/upath", **options)
    (root / "a" / "x.bin").write_bytes(b"x" * 10)
    (root / "a" / "y.bin").write_bytes(b"y")
    child = root / "a" / "x.bin"
    assert child.name == "x.bin" and child.suffix == ".bin"
    assert child.parent.name == "a"
    assert child.exists() and not (root / "a" / "z.bin").exists()
    assert child.read_bytes() == b"x" * 10
    assert sorted(p.name for p in (root / "a").iterdir()) == ["x.bin", "y.bin"]
    assert (root / "a").is_dir() and child.is_file()
    assert child.stat().st_size == 10
