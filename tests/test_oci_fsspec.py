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
    "ocifs-imported-after-oci-resolved": ("", "fsspec.get_filesystem_class('oci'); import ocifs"),
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


@pytest.mark.parametrize("hook", ["on", "off"])
def test_resolving_oci_imports_ocifs_only_without_the_hook(hook, oci_server, oci_bucket):
    """With the start-up hook standing, unifs's module leaves ocifs unimported (spawned
    workers do not pay for it) and a later `import ocifs` still works and still loses."""
    script = (
        "import sys, fsspec\n"
        "fsspec.get_filesystem_class('oci')\n"
        "early = 'ocifs' in sys.modules\n"
        "import ocifs\n"
        "print(early, fsspec.get_filesystem_class('oci').__module__)"
    )
    env = {"UNIFS_NO_OCI_HOOK": "1"} if hook == "off" else {}
    result = _run(script, oci_server, oci_bucket, env)
    assert result.returncode == 0, result.stderr[-2000:]
    early, module = result.stdout.split()
    assert early == ("False" if hook == "on" else "True")
    assert module == "unifs.providers.oci_filesystem"


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


def test_ocios_scheme_is_an_alias_everywhere(oci_server, oci_bucket):
    assert unifs.parse("ocios://n/ns/b/bkt/o/a/b.txt").url == "oci://bkt@ns/a/b.txt"
    options = oci_server.storage_options
    uri = f"ocios://n/{oci_server.namespace}/b/{oci_bucket}/o/alias/x.txt"
    with unifs.open(uri, "wb", **options) as f:
        f.write(b"via ocios")
    assert fsspec.filesystem("ocios", **options).cat_file(uri) == b"via ocios"
    assert UPath(uri, **options).read_bytes() == b"via ocios"


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


# -- unifs's own async OCI filesystem: object-store semantics on the real OCI server ----------


@pytest.fixture
def fresh(oci_server):
    """A new bucket and a filesystem with no instance or listing state from other tests."""
    import uuid

    bucket = f"fs-{uuid.uuid4().hex[:10]}"
    oci_server.make_bucket(bucket)
    fs = OCIFileSystem(**oci_server.storage_options, skip_instance_cache=True)
    return fs, f"{bucket}@{oci_server.namespace}"


def test_bucket_root_info_exists_isdir_and_missing_bucket(fresh, oci_server):
    fs, root = fresh
    assert fs.info(root) == {"name": root, "type": "directory", "size": 0}
    assert fs.exists(root) and fs.isdir(root) and fs.ls(root) == []
    assert not fs.exists(f"no-such-bucket@{oci_server.namespace}")
    with pytest.raises(FileNotFoundError):
        fs.info(f"no-such-bucket@{oci_server.namespace}")


def test_ls_of_a_missing_prefix_raises_and_listings_see_writes(fresh):
    fs, root = fresh
    with pytest.raises(FileNotFoundError):
        fs.ls(f"{root}/nothing-here")
    fs.pipe(f"{root}/a/b/c.txt", b"1")
    assert fs.ls(f"{root}/a/b", detail=False) == [f"{root}/a/b/c.txt"]
    assert fs.ls(root, detail=False) == [f"{root}/a"]
    # a write deep below must show in every cached ancestor listing
    fs.pipe(f"{root}/a/b/d/e.txt", b"2")
    fs.pipe(f"{root}/top.txt", b"3")
    assert fs.ls(f"{root}/a/b", detail=False) == [f"{root}/a/b/c.txt", f"{root}/a/b/d"]
    assert fs.ls(root, detail=False) == [f"{root}/a", f"{root}/top.txt"]
    fs.rm(f"{root}/top.txt")
    assert fs.ls(root, detail=False) == [f"{root}/a"]


def test_listing_pages_are_all_read(fresh, oci_server):
    fs, root = fresh
    bucket = root.split("@")[0]
    for i in range(2503):  # three pages of 1000
        oci_server.oci_server.put_object(bucket, f"many/{i:05d}", b"x")
    assert len(fs.ls(f"{root}/many")) == 2503
    assert len(fs.find(root)) == 2503


def test_odd_keys_are_listed_and_fetched_like_s3(fresh, oci_server):
    fs, root = fresh
    bucket = root.split("@")[0]
    keys = {"d//double": b"1", "d/./dot": b"2", "d/trailing ": b"3", "d/sp ace/x": b"4"}
    for key, data in keys.items():
        oci_server.oci_server.put_object(bucket, key, data)
    found = fs.find(root)
    assert found == sorted(f"{root}/{k}" for k in keys)
    for key, data in keys.items():
        assert fs.cat_file(f"{root}/{key}") == data
        assert fs.info(f"{root}/{key}")["size"] == len(data)


def test_ranges_including_suffix_and_past_the_end(fresh):
    fs, root = fresh
    path = f"{root}/r.bin"
    fs.pipe(path, b"0123456789")
    assert fs.cat_file(path, start=2, end=5) == b"234"
    assert fs.cat_file(path, start=-3) == b"789"
    assert fs.cat_file(path, start=7) == b"789"
    assert fs.cat_file(path, start=3, end=-5) == b"34"
    assert fs.cat_file(path, start=20, end=30) == b""
    assert fs.cat_file(path, start=5, end=5) == b""


def test_info_is_one_head_with_etag_and_md5_and_pinned_reads(fresh):
    import base64
    import hashlib

    from unifs.errors import ObjectChangedError

    fs, root = fresh
    path = f"{root}/pin.bin"
    fs.pipe(path, b"first version")
    info = fs.info(path)
    assert info["md5"] == base64.b64encode(hashlib.md5(b"first version").digest()).decode()
    assert info["type"] == "file" and info["size"] == 13 and info["etag"]
    assert fs.cat_file(path, start=0, end=5, if_match=info["etag"]) == b"first"
    before = fs.ukey(path)
    fs.pipe(path, b"second version")
    assert fs.ukey(path) != before and fs.checksum(path) == int(fs.ukey(path), 16)
    with pytest.raises(ObjectChangedError) as err:
        fs.cat_file(path, start=0, end=5, if_match=info["etag"])
    assert err.value.request_id


def test_multipart_write_has_ocis_multipart_md5(fresh):
    import base64
    import hashlib
    import os

    from unifs.providers.oci import OCIProvider

    fs, root = fresh
    path = f"{root}/big.bin"
    part = 5 * 2**20
    data = os.urandom(2 * part + 123)
    with fs.open(path, "wb", block_size=part) as f:
        for offset in range(0, len(data), part):
            f.write(data[offset : offset + part])
    assert fs.cat_file(path) == data
    info = fs.info(path)
    digests = b"".join(hashlib.md5(data[o : o + part]).digest() for o in range(0, len(data), part))
    expected = base64.b64encode(hashlib.md5(digests).digest()).decode()
    assert info["md5"] == f"{expected}-3"
    assert OCIProvider().multipart_checksum(info) == (hashlib.md5(digests).hexdigest(), 3)


def test_exclusive_open_and_pipe(fresh):
    fs, root = fresh
    path = f"{root}/x.txt"
    with fs.open(path, "xb") as f:
        f.write(b"mine")
    with pytest.raises(FileExistsError):
        fs.open(path, "xb")
    with pytest.raises(FileExistsError):
        fs.pipe_file(path, b"theirs", mode="create")
    assert fs.cat_file(path) == b"mine"


def test_copy_move_and_rm_with_fsspec_multi_path_semantics(fresh):
    fs, root = fresh
    for name in ("src/a.txt", "src/b.txt", "src/sub/c.txt"):
        fs.pipe(f"{root}/{name}", name.encode())
    fs.copy(f"{root}/src", f"{root}/dst", recursive=True)
    assert fs.find(f"{root}/dst") == [
        f"{root}/dst/a.txt",
        f"{root}/dst/b.txt",
        f"{root}/dst/sub/c.txt",
    ]
    fs.copy(f"{root}/src/*.txt", f"{root}/globbed/")
    assert fs.find(f"{root}/globbed") == [f"{root}/globbed/a.txt", f"{root}/globbed/b.txt"]
    fs.mv(f"{root}/dst/a.txt", f"{root}/moved.txt")
    assert fs.cat_file(f"{root}/moved.txt") == b"src/a.txt"
    assert not fs.exists(f"{root}/dst/a.txt")
    fs.rm([f"{root}/moved.txt", f"{root}/globbed/a.txt"])
    assert not fs.exists(f"{root}/moved.txt") and fs.exists(f"{root}/globbed/b.txt")
    fs.rm(f"{root}/dst", recursive=True)
    assert not fs.exists(f"{root}/dst")


def test_mkdir_makes_buckets_and_ignores_pathlib_mode(oci_server):
    import uuid

    compartment = "ocid1.compartment.oc1..unifstests"
    fs = OCIFileSystem(
        **oci_server.storage_options, compartment_id=compartment, skip_instance_cache=True
    )
    root = f"mk-{uuid.uuid4().hex[:8]}@{oci_server.namespace}"
    fs.mkdir(root, mode=0o755)
    assert fs.isdir(root)
    assert root in fs.ls("", detail=False)  # listed in the compartment it was made in
    with pytest.raises(FileExistsError):
        fs.mkdir(root)
    fs.makedirs(root, exist_ok=True)
    fs.makedirs(f"{root}/deeper/still", exist_ok=True)  # no directories to make: no error
    fs.rmdir(root)
    assert not fs.exists(root)


def test_errors_are_builtins_with_the_request_id(fresh):
    fs, root = fresh
    with pytest.raises(FileNotFoundError) as err:
        fs.cat_file(f"{root}/missing")
    assert err.value.request_id and err.value.request_id in str(err.value)
    assert err.value.status == 404


def test_a_failing_listing_page_is_retried_then_raised_never_short(oci_server):
    import uuid

    from unifs.testing.faults import Fault, FaultProxy, route_through

    bucket = f"flt-{uuid.uuid4().hex[:8]}"
    oci_server.make_bucket(bucket)
    for i in range(1500):
        oci_server.oci_server.put_object(bucket, f"p/{i:05d}", b"x")
    root = f"{bucket}@{oci_server.namespace}"
    second_page = Fault("status", status=500, method="GET", path=r"/o\?.*start=", times=None)
    with FaultProxy(oci_server.endpoint, faults=[second_page]) as proxy:
        options = route_through(oci_server.storage_options, oci_server.endpoint, proxy.endpoint)
        fs = OCIFileSystem(**{**options, "max_attempts": 3}, skip_instance_cache=True)
        with pytest.raises(OSError) as err:
            fs.find(root)
        assert err.value.status == 500
        assert len(proxy.requests("GET")) == 1 + 3  # first page, then 3 tries of the second
        proxy.faults[:] = [Fault("status", status=503, method="GET", path="start=", times=2)]
        assert len(fs.find(root)) == 1500  # two 503s, then the page: retried, complete


def test_fork_and_pickle_give_each_process_its_own_session(fresh):
    import multiprocessing
    import pickle

    fs, root = fresh
    paths = [f"{root}/shard-{i}" for i in range(6)]
    for i, path in enumerate(paths):
        fs.pipe(path, bytes([i]) * (1000 + i))
    assert fs.cat_file(paths[0]) == b"\0" * 1000  # the parent's session is open now
    clone = pickle.loads(pickle.dumps(fs))
    assert clone.cat_file(paths[1]) == b"\1" * 1001
    global _FORK_FS
    _FORK_FS = fs
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map(_read_in_child, paths)
    assert results == [bytes([i]) * (1000 + i) for i in range(6)]


_FORK_FS = None


def _read_in_child(path):
    return _FORK_FS.cat_file(path)  # inherited by fork, never pickled


def test_par_filesystem_reads_and_never_shows_its_token(fresh, oci_server, caplog):
    import logging
    from datetime import timedelta

    fs, root = fresh
    fs.pipe(f"{root}/par/obj.bin", b"through the PAR")
    uri = f"oci://{root}/par/"
    signed = unifs.presign(uri, expires=timedelta(minutes=5), **oci_server.storage_options)
    token = signed.url.split("/p/", 1)[1].split("/", 1)[0]
    with caplog.at_level(logging.DEBUG):
        par_fs, path = unifs.url_to_fs(signed.url + "obj.bin")
        assert par_fs.cat_file(path) == b"through the PAR"
        with pytest.raises(FileNotFoundError) as err:
            par_fs.cat_file(path + ".missing")
    assert token not in repr(par_fs) and token not in str(err.value)
    assert token not in caplog.text
    assert unifs.revoke(signed, **oci_server.storage_options)
    with pytest.raises(FileNotFoundError) as gone:  # a revoked PAR opens nothing
        par_fs.cat_file(path)
    assert gone.value.code == "NotAuthorizedOrNotFound"  # OCI's answer, not telling which


def test_sign_returns_a_read_par_url(fresh):
    import urllib.request

    fs, root = fresh
    fs.pipe(f"{root}/signed.txt", b"signed bytes")
    url = fs.sign(f"{root}/signed.txt", expiration=300)
    assert "/p/" in url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"signed bytes"
    pars = fs.list_pars(root, "signed.txt")
    assert [p["accessType"] for p in pars] == ["ObjectRead"]
    fs.delete_par(root, pars[0]["id"])
    assert fs.list_pars(root, "signed.txt") == []


def test_a_body_cut_short_is_retried_then_a_connection_error(fresh, oci_server):
    import os

    from unifs.testing.faults import Fault, FaultProxy, route_through

    fs, root = fresh
    data = os.urandom(2**20)
    fs.pipe(f"{root}/cut.bin", data)
    with FaultProxy(oci_server.endpoint, faults=[Fault("reset", method="GET", cut=0.5)]) as proxy:
        options = route_through(oci_server.storage_options, oci_server.endpoint, proxy.endpoint)
        options.pop("max_attempts")  # the fixture's; retries= is its alias
        flaky = OCIFileSystem(**options, retries=3, skip_instance_cache=True)
        assert flaky.cat_file(f"{root}/cut.bin") == data  # one reset, then the whole body
        proxy.faults[:] = [Fault("reset", method="GET", cut=0.5, times=None)]
        with pytest.raises(ConnectionError, match=r"cut\.bin.*3 attempts"):
            flaky.cat_file(f"{root}/cut.bin")


def test_max_attempts_does_not_clash_with_unifs_get_retries(fresh, oci_server, tmp_path):
    fs, root = fresh
    fs.pipe(f"{root}/g/one.txt", b"1")
    options = {**oci_server.storage_options, "max_attempts": 2}
    report = unifs.get(f"oci://{root}/g/", tmp_path, retries=1, **options)
    assert report.transferred == ["one.txt"] and (tmp_path / "one.txt").read_bytes() == b"1"
    assert OCIFileSystem(**options).retry.attempts == 2
