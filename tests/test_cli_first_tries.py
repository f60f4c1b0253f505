"""What a person tries first works (issue 22): ``unifs ls s3://`` lists buckets, a missing
local path says so, ``cp`` of a prefix needs -r with or without the slash, ``mkdir``
errors are one line with exit 2."""

from __future__ import annotations

import json
import uuid

import pytest

from unifs.cli import main


def _opts(options: dict) -> list[str]:
    args = []
    for name, value in options.items():
        if name == "config_kwargs":
            value = {k: v for k, v in value.items() if k != "retry_strategy"}
        args += ["-o", f"{name}={json.dumps(value, default=str)}"]
    return args


SCHEMES = {"s3": "s3://", "gcs": "gs://", "azure": "az://", "oci": "oci://"}


@pytest.mark.parametrize("backend", list(SCHEMES))
def test_ls_scheme_lists_buckets(backend, request, capsys):
    server = request.getfixturevalue(f"{backend}_server")
    bucket = f"ls-roots-{uuid.uuid4().hex[:8]}"
    server.make_bucket(bucket)
    assert main(["ls", SCHEMES[backend], *_opts(dict(server.storage_options))]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split("://", 1)[1].split("@")[0].rstrip("/") for line in lines]
    assert bucket in names
    assert all(line.startswith(SCHEMES[backend]) for line in lines)


def test_missing_local_path_says_no_such_file(tmp_path, capsys):
    missing = tmp_path / "nope.txt"
    assert main(["cp", str(missing), str(tmp_path / "out.txt")]) == 2
    err = capsys.readouterr().err
    assert f"no such file or directory: {missing}" in err
    assert "bucket" not in err
    assert main(["stat", str(missing)]) == 2
    assert f"no such file or directory: {missing}" in capsys.readouterr().err


def test_not_found_names_the_ls_to_run(s3_server, capsys):
    opts = _opts(dict(s3_server.storage_options))
    assert main(["ls", "s3://no-such-bucket-here/", *opts]) == 2
    err = capsys.readouterr().err
    assert "`unifs ls s3://`" in err and "no-such-bucket-here" in err
    s3_server.make_bucket("first-tries")
    assert main(["stat", "s3://first-tries/missing/key.bin", *opts]) == 2
    assert "`unifs ls s3://first-tries/missing/`" in capsys.readouterr().err


@pytest.mark.parametrize("store", ["s3", "oci", "local"], indirect=True)
@pytest.mark.parametrize("verb", ["cp", "mv"])
def test_prefix_without_r_is_refused_with_or_without_slash(store, verb, tmp_path, capsys):
    src = tmp_path / "src"
    (src / "llama").mkdir(parents=True)
    (src / "llama" / "a.bin").write_bytes(b"a")
    opts = _opts(store.options)
    assert main(["put", str(src), store.uri(), *opts]) == 0
    capsys.readouterr()
    dest = tmp_path / "dest"
    for typed in (store.uri("llama"), store.uri("llama/")):
        assert main([verb, typed, str(dest) + "/", *opts]) == 2
        err = capsys.readouterr().err
        assert f"use {verb} -r" in err
        assert not dest.exists()
    # the source is still there (mv moved nothing), and -r copies it
    assert main(["cp", "-r", store.uri("llama"), str(dest) + "/", *opts]) == 0
    copied = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert copied in (["a.bin"], ["llama/a.bin"])


def test_mkdir_in_us_east_1_sends_no_location_constraint(s3_server, capsys):
    """us-east-1 is the region S3 creates buckets in without a LocationConstraint (and a
    request naming it is refused): ``mkdir -a region=us-east-1`` creates the bucket there."""
    import boto3

    opts = _opts(dict(s3_server.storage_options))
    bucket = f"mkdir-east-{uuid.uuid4().hex[:8]}"
    assert main(["mkdir", f"s3://{bucket}", "-a", "region=us-east-1", *opts]) == 0
    assert capsys.readouterr().out.strip() == f"created s3://{bucket}"
    client = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url=s3_server.endpoint,
        aws_access_key_id=s3_server.storage_options["key"],
        aws_secret_access_key=s3_server.storage_options["secret"],
    )
    assert client.get_bucket_location(Bucket=bucket).get("LocationConstraint") is None
    # again: the bucket is there, which mkdir does not count as an error
    assert main(["mkdir", f"s3://{bucket}", "-a", "region=us-east-1", *opts]) == 0
    # another region is sent as its LocationConstraint
    other = f"mkdir-west-{uuid.uuid4().hex[:8]}"
    assert main(["mkdir", f"s3://{other}", "-a", "region=eu-west-1", *opts]) == 0
    assert client.get_bucket_location(Bucket=other)["LocationConstraint"] == "eu-west-1"


def test_mkdir_refusal_is_one_line_exit_2(s3_server, capsys):
    from unifs.testing.faults import Fault, FaultProxy, route_through

    refused = f"s3://mkdir-denied-{uuid.uuid4().hex[:8]}"
    with FaultProxy(
        s3_server.endpoint, faults=[Fault(status=403, method="PUT", times=None)]
    ) as proxy:
        options = route_through(s3_server.storage_options, s3_server.endpoint, proxy.endpoint)
        status = main(["mkdir", refused, *_opts(dict(options))])
    err = capsys.readouterr().err
    assert status == 2, err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(f"unifs mkdir: {refused}: "), err
    assert "Traceback" not in err and "OSError" not in err


MTIME = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"


@pytest.mark.parametrize("store", ["s3", "gcs", "azure", "oci", "local"], indirect=True)
def test_ls_and_stat_json_one_schema(store, tmp_path, capsys):
    import re

    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "b.txt").write_bytes(b"bravo")
    (src / "a.txt").write_bytes(b"alpha!")
    (src / "d" / "c.txt").write_bytes(b"c")
    opts = _opts(store.options)
    assert main(["put", str(src), store.uri(), *opts]) == 0
    capsys.readouterr()
    assert main(["ls", "--json", store.uri(), *opts]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    keys = {"uri", "type", "size", "mtime", "etag", "checksums", "version"}
    assert all(set(row) == keys for row in rows)
    assert [row["uri"] for row in rows] == [store.uri("a.txt"), store.uri("b.txt"), store.uri("d/")]
    files = [row for row in rows if row["type"] == "file"]
    assert [row["size"] for row in files] == [6, 5]
    for row in files:
        assert re.match(MTIME, row["mtime"]), row
        assert all(re.fullmatch(r"[0-9a-f]+", v) for v in row["checksums"].values()), row
    assert main(["stat", "--json", store.uri("a.txt"), *opts]) == 0
    record = json.loads(capsys.readouterr().out)
    assert keys <= set(record) and record["size"] == 6 and re.match(MTIME, record["mtime"])
    assert main(["ls", "-l", store.uri(), *opts]) == 0
    lines = capsys.readouterr().out.splitlines()
    # the URIs start in one column: sizes and times have fixed widths
    assert len({line.index(store.uri()) for line in lines}) == 1
