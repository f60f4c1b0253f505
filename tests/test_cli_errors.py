"""Every error case of issue 11: one line on stderr, no traceback, the documented exit code.

The cases run ``main()`` in-process (the same code path as the ``unifs`` script) except
the broken pipe, which needs a real pipe.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from typing import Any

import pytest

from unifs.cli import main


@pytest.fixture(autouse=True)
def _quiet_servers() -> Any:
    """The local servers run in this process and log each request to stderr."""
    import logging

    logger = logging.getLogger("werkzeug")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


def _one_line(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _o(options: dict[str, Any]) -> list[str]:
    return [arg for k, v in options.items() for arg in ("-o", f"{k}={json.dumps(v)}")]


def test_no_s3_credentials(s3_server, no_aws_credentials, capsys):
    endpoint = s3_server.storage_options["endpoint_url"]
    args = ["ls", "s3://data/model/", "-o", f"endpoint_url={endpoint}"]
    assert main([*args, "-o", "skip_instance_cache=true"]) == 2
    _one_line(capsys, "unifs ls:", "no AWS credentials", "-o key=")


def test_no_oci_config(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("OCI_CONFIG_FILE", raising=False)
    assert main(["ls", "oci://n/acme/b/models/o/llama/", "-a", "auth=user_principal"]) == 2
    _one_line(capsys, "no OCI config file", "oci setup config")


def test_destination_under_an_existing_file(s3_server, tmp_path, capsys):
    s3_server.make_bucket("errs-file")
    opts = _o(s3_server.storage_options)
    (tmp_path / "model.txt").write_text("I am a file")
    assert main(["put", str(tmp_path / "model.txt"), "s3://errs-file/m/a.txt", *opts]) == 0
    capsys.readouterr()
    dest = tmp_path / "model.txt" / "sub" / "a.txt"
    assert main(["get", "s3://errs-file/m/a.txt", str(dest), *opts]) == 2
    _one_line(capsys, "unifs get:", "a file is in the way")
    assert (tmp_path / "model.txt").read_text() == "I am a file"


def test_unknown_storage_option(s3_server, capsys):
    opts = _o(s3_server.storage_options)
    assert main(["ls", "s3://data/", *opts, "-o", "nonsense_option=1"]) == 2
    _one_line(capsys, "storage option 'nonsense_option'")


def test_broken_pipe_is_quiet(tmp_path):
    """``unifs ls -r --json ... | head -n 1``: the reader leaves early; no message, status 0."""
    listed = tmp_path / "listed"
    listed.mkdir()
    for i in range(3000):
        (listed / f"file-{i:05d}.txt").write_bytes(b"x")
    err = tmp_path / "stderr.txt"
    script = (
        f"set -o pipefail; {sys.executable} -m unifs ls -r --json {listed}/ 2>{err} | head -n 1"
    )
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    assert json.loads(result.stdout)["uri"].startswith(str(listed))
    assert result.returncode == 0 and err.read_text() == ""


def _azure_options(azure_server: Any, replace: str, by: str) -> dict[str, Any]:
    connection = azure_server.storage_options["connection_string"]
    assert replace in connection
    return {"connection_string": connection.replace(replace, by)}


def test_azure_wrong_key(azure_server, capsys):
    azure_server.make_bucket("errs")
    connection = azure_server.storage_options["connection_string"]
    key = connection.split("AccountKey=")[1].split(";")[0]
    wrong = _azure_options(azure_server, key, "A" * len(key[:-2]) + "==")
    assert main(["ls", "az://errs/", *_o(wrong), "-o", "skip_instance_cache=true"]) == 2
    line = _one_line(capsys, "Azure refused the credentials", "account key")
    assert "AAAA" not in line


def test_azure_tampered_sas(azure_server, capsys):
    from datetime import datetime, timedelta, timezone

    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    azure_server.make_bucket("errs-sas")
    connection = azure_server.storage_options["connection_string"]
    fields = dict(part.split("=", 1) for part in connection.split(";") if "=" in part)
    sas = generate_container_sas(
        fields["AccountName"],
        "errs-sas",
        account_key=fields["AccountKey"],
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    sig = sas.split("sig=")[1].split("&")[0]
    tampered = sas.replace(sig, ("B" if sig[0] != "B" else "C") + sig[1:])
    endpoint = fields["BlobEndpoint"]
    options = {"connection_string": f"BlobEndpoint={endpoint};SharedAccessSignature={tampered}"}
    assert main(["ls", "az://errs-sas/", *_o(options), "-o", "skip_instance_cache=true"]) == 2
    line = _one_line(capsys, "Azure refused the credentials", "SAS")
    assert sig[5:] not in line


def test_wrong_oci_pass_phrase(oci_server, oci_options_wrong_pass_phrase, capsys):
    options = {**oci_options_wrong_pass_phrase, "skip_instance_cache": True}
    uri = f"oci://n/{oci_server.namespace}/b/errs/o/"
    assert main(["ls", uri, *_o(options)]) == 2
    line = _one_line(capsys, "pass phrase")
    assert "the-wrong-one" not in line


def test_bad_s3_endpoint(capsys):
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    args = ["ls", "s3://data/", "-o", f"endpoint_url={endpoint}", "-o", "key=k", "-o", "secret=s"]
    started = time.monotonic()
    assert main([*args, "-o", 'config_kwargs={"retries": {"max_attempts": 1}}']) == 2
    _one_line(capsys, "could not connect", endpoint, "endpoint_url")
    assert time.monotonic() - started < 60


def test_bad_gcs_service_account_key(gcs_server, tmp_path, capsys):
    key = tmp_path / "key.json"
    key.write_text(json.dumps({"client_id": "x", "client_secret": "y"}))
    options = {k: v for k, v in gcs_server.storage_options.items() if k != "token"}
    args = ["ls", "gs://errs/", *_o(options), "-o", f"token={key}"]
    assert main(args) == 2
    _one_line(capsys, "Google credentials")


def test_no_such_bucket(gcs_server, capsys):
    assert main(["ls", "gs://nobucket/", *_o(gcs_server.storage_options)]) == 2
    _one_line(capsys, "gs://nobucket/: not found")


def test_no_such_key(s3_server, capsys):
    s3_server.make_bucket("data")
    assert main(["cat", "s3://data/nokey.txt", *_o(s3_server.storage_options)]) == 2
    _one_line(capsys, "unifs cat: s3://data/nokey.txt: not found")


def test_unwritable_destination(s3_server, tmp_path, capsys):
    s3_server.make_bucket("errs-write")
    opts = _o(s3_server.storage_options)
    for i in range(8):
        (tmp_path / f"f{i}.txt").write_text(str(i))
    assert main(["put", str(tmp_path), "s3://errs-write/m/", *opts]) == 0
    capsys.readouterr()
    # /sys refuses new directories even to root
    assert main(["get", "s3://errs-write/m/", "/sys/unifs-test/model/", *opts]) == 2
    _one_line(capsys, "cannot write", "/sys/unifs-test", "permission denied")


@pytest.mark.parametrize(
    ("uri", "auth", "env", "service"),
    [
        (
            "oci://n/acme/b/models/o/x",
            "instance_principal",
            "OCI_METADATA_BASE_URL",
            "OCI instance",
        ),
        (
            "s3://my-bucket/x",
            "iam_role",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            "EC2 instance metadata",
        ),
        ("az://my-container/x", "managed_identity", "IDENTITY_ENDPOINT", "Azure instance metadata"),
        ("gs://my-bucket/x", "workload_identity", "GCE_METADATA_HOST", "GCE metadata"),
    ],
)
def test_metadata_auth_fails_fast_off_cloud(monkeypatch, capsys, uri, auth, env, service):
    port = _closed_port()
    value = f"127.0.0.1:{port}" if env == "GCE_METADATA_HOST" else f"http://127.0.0.1:{port}/"
    monkeypatch.setenv(env, value)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "false")
    extra = ["-a", "account_name=acct"] if uri.startswith("az") else []
    started = time.monotonic()
    assert main(["ls", uri, "-a", f"auth={auth}", *extra]) == 2
    _one_line(capsys, f"auth {auth!r}", service, f"127.0.0.1:{port}")
    assert time.monotonic() - started < 30


def test_some_files_failed_exits_1(s3_server, gcs_server, tmp_path, capsys):
    """Uploads refused half-way: exit 1, the failures on stderr; run again: exit 0."""
    from unifs.testing.faults import Fault, FaultProxy, route_through

    s3_server.make_bucket("errs-half")
    src = tmp_path / "src"
    src.mkdir()
    for i in range(6):
        (src / f"f{i}.bin").write_bytes(bytes([i]) * 1000)
    with FaultProxy(s3_server.endpoint) as proxy:
        routed = route_through(s3_server.storage_options, s3_server.endpoint, proxy.endpoint)
        opts = [*_o(routed), "-o", "skip_instance_cache=true"]
        proxy.faults.append(Fault(status=403, method="PUT", skip=3, times=None))
        args = ["cp", "-r", "--concurrency", "1", str(src), "s3://errs-half/m/", *opts]
        assert main(args) == 1
        err = capsys.readouterr().err
        assert "unifs cp: 3 files failed:" in err and "Traceback" not in err
        proxy.faults.clear()
        assert main(args) == 0
        assert "cp: 3 files" in capsys.readouterr().out
