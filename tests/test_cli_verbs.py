"""Every verb of the unifs command on the four local servers, as a user types them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from test_cli import _opts

from unifs.cli import main

CLOUDS = ["s3", "gcs", "azure", "oci"]
TREE = {"a.txt": b"alpha", "sub/b.bin": b"b" * 3000, "sub/deep/c.txt": b"gamma"}


def _write_tree(root: Path) -> Path:
    for name, data in TREE.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("store", CLOUDS, indirect=True)
def test_every_verb(store, tmp_path, capsys):
    o = _opts(store)
    src = _write_tree(tmp_path / "src")
    top = store.uri("m/")

    assert main(["cp", "-r", str(src), top, *o]) == 0
    assert "cp: 3 files" in capsys.readouterr().out

    # ls: one level, URIs that paste back in the dialect typed
    assert main(["ls", top, *o]) == 0
    assert sorted(_lines(capsys)) == [top + "a.txt", top + "sub/"]
    assert main(["ls", "-r", "-l", "-H", top, *o]) == 0
    listing = _lines(capsys)
    assert [line.split()[-1] for line in listing] == [
        top + "a.txt",
        top + "sub/b.bin",
        top + "sub/deep/c.txt",
    ]
    assert "2.9 KiB" in listing[1]
    assert main(["ls", "-r", "--json", top, *o]) == 0
    rows = [json.loads(line) for line in _lines(capsys)]
    assert {r["uri"]: r["size"] for r in rows} == {top + k: len(v) for k, v in TREE.items()}
    pasted = rows[0]["uri"]
    assert main(["cat", pasted, *o]) == 0
    assert capsys.readouterr().out == "alpha"

    # stat, du, hash
    assert main(["stat", "--json", top + "sub/b.bin", *o]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["size"] == 3000
    assert main(["du", "-s", top, *o]) == 0
    assert _lines(capsys)[-1].split()[:2] == [str(sum(map(len, TREE.values()))), "3"]
    assert main(["du", "-H", top, *o]) == 0
    out = _lines(capsys)
    assert out[0].endswith(top + "sub/") and "2.9 KiB" in out[0]
    for algorithm, expected in (
        ("md5", hashlib.md5(b"b" * 3000).hexdigest()),
        ("sha256", hashlib.sha256(b"b" * 3000).hexdigest()),
    ):
        assert main(["hash", "--algorithm", algorithm, top + "sub/b.bin", *o]) == 0
        assert capsys.readouterr().out.split() == [expected, top + "sub/b.bin"]
    import google_crc32c

    assert main(["hash", "--algorithm", "crc32c", "--json", top + "a.txt", *o]) == 0
    assert (
        json.loads(capsys.readouterr().out)["digest"]
        == google_crc32c.Checksum(b"alpha").digest().hex()
    )
    status = main(["hash", top + "a.txt", *o])  # the store's own checksum, no download
    out, err = capsys.readouterr()
    if status == 0:
        crc = google_crc32c.Checksum(b"alpha").digest().hex()
        assert hashlib.md5(b"alpha").hexdigest() in out or crc in out
    else:
        assert status == 2 and "reports no checksum" in err

    # cp within the store, and back to local disk
    assert main(["cp", "-r", top, store.uri("copy/"), *o]) == 0
    capsys.readouterr()
    down = tmp_path / "down"
    assert main(["cp", "-r", store.uri("copy/"), str(down) + "/", *o]) == 0
    capsys.readouterr()
    assert {
        p.relative_to(down).as_posix(): p.read_bytes()
        for p in down.rglob("*")
        if p.is_file() and ".unifs" not in str(p)
    } == TREE

    # sync: a second run moves nothing; --delete removes exactly what the source lacks
    (src / "new.txt").write_bytes(b"new")
    assert main(["sync", str(src), top, *o]) == 0
    assert "sync: 1 files" in capsys.readouterr().out
    assert main(["sync", str(src), top, *o]) == 0
    assert "sync: 0 files" in capsys.readouterr().out
    (src / "a.txt").unlink()
    assert main(["sync", "--delete", "--dry-run", str(src), top, *o]) == 0
    assert "would delete a.txt" in capsys.readouterr().out
    assert main(["sync", "--delete", str(src), top, *o]) == 0
    assert "1 deleted" in capsys.readouterr().out
    assert main(["ls", top, *o]) == 0
    assert top + "a.txt" not in _lines(capsys)

    # mv: copy, then the source is gone
    assert main(["mv", top + "new.txt", store.uri("moved.txt"), *o]) == 0
    capsys.readouterr()
    assert main(["cat", store.uri("moved.txt"), *o]) == 0
    assert capsys.readouterr().out == "new"
    assert main(["stat", top + "new.txt", *o]) == 2
    err = capsys.readouterr().err
    assert "not found" in err or "no such file or directory" in err

    # rm: a prefix needs -r; --dry-run changes nothing; a whole bucket needs --force
    assert main(["rm", store.uri("copy/"), *o]) == 2
    assert "add -r" in capsys.readouterr().err
    assert main(["rm", "-r", "--dry-run", store.uri("copy/"), *o]) == 0
    assert len(_lines(capsys)) == 3
    assert main(["rm", "-r", store.uri("copy/"), *o]) == 0
    assert len(_lines(capsys)) == 3
    assert main(["ls", store.uri("copy/"), *o]) == 2
    capsys.readouterr()
    bucket_root = store.root.split(store.root.rstrip("/").split("/")[-1])[0]
    assert main(["rm", "-r", bucket_root, *o]) == 2
    assert "--force" in capsys.readouterr().err


@pytest.mark.parametrize("store", CLOUDS, indirect=True)
def test_get_put_caps_presign(store, tmp_path, capsys):
    o = _opts(store)
    (tmp_path / "w.bin").write_bytes(b"w" * 5000)
    assert main(["put", "--json", str(tmp_path / "w.bin"), store.uri("w.bin"), *o]) == 0
    assert json.loads(capsys.readouterr().out)["transferred"] == ["w.bin"]
    assert main(["get", store.uri("w.bin"), str(tmp_path / "back.bin"), *o]) == 0
    assert "get: 1 files" in capsys.readouterr().out
    assert (tmp_path / "back.bin").read_bytes() == b"w" * 5000
    assert main(["caps", "--json", store.uri("w.bin"), *o]) == 0
    assert json.loads(capsys.readouterr().out)["provider"] == store.backend
    status = main(["presign", "--json", "--expires", "5m", store.uri("w.bin"), *o])
    out, err = capsys.readouterr()
    if status == 0:
        assert json.loads(out)["method"] == "GET"
    else:  # the fixture's credentials cannot sign (fake-gcs-server runs anonymous)
        assert status == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("store", CLOUDS, indirect=True)
def test_mkdir_makes_a_bucket(store, capsys):
    o = _opts(store)
    bucket_uri = store.uri("").replace("unifs-suite", "unifs-made")
    bucket_uri = bucket_uri.split("unifs-made")[0] + "unifs-made/"
    assert main(["mkdir", bucket_uri, *o]) == 0
    capsys.readouterr()
    assert main(["ls", bucket_uri, *o]) == 0


def test_cp_between_two_clouds(request, tmp_path, capsys):
    from test_copy import End

    src, dst = End(request, "gcs", tmp_path), End(request, "azure", tmp_path)
    src.write(TREE)
    o = [f"-o{k}={json.dumps(v)}" for k, v in src.options.items()]
    dst_o = [f"-O{k}={json.dumps(v)}" for k, v in dst.options.items()]
    assert main(["cp", src.root, dst.root, *o, *dst_o]) == 2
    assert "use cp -r" in capsys.readouterr().err
    assert main(["cp", "-r", "--json", src.root, dst.root, *o, *dst_o]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(report["transferred"]) == sorted(TREE)
    assert dst.read() == TREE


def test_version_and_unknown_flag(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("unifs ")
    with pytest.raises(SystemExit) as exit_:
        main(["ls", "memory://x/", "--bogus"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert err.startswith("usage: unifs ls") and "unrecognized arguments: --bogus" in err


def test_sync_filters_from_the_command_line(tmp_path, capsys):
    src = _write_tree(tmp_path / "src")
    (src / "skip.tmp").write_bytes(b"tmp")
    dst = "memory://cli-sync-filters/"
    assert main(["sync", "--exclude", "*.tmp", "--exclude", "sub/deep/*", str(src), dst]) == 0
    assert "sync: 2 files" in capsys.readouterr().out
    assert main(["ls", "-r", dst]) == 0
    assert _lines(capsys) == [dst + "a.txt", dst + "sub/b.bin"]
    assert main(["sync", "--include", "*.tmp", "--delete", "--json", str(src), dst]) == 0
    report = json.loads(capsys.readouterr().out)
    # only what the filter selects is compared, copied or deleted
    assert report["transferred"] == ["skip.tmp"] and report["deleted"] == []
