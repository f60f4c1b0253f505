"""OCI from the shell: the config file the OCI CLI would read is used when no auth is given,
``-a config_path=``/``-a profile=`` alone mean ``user_principal``, and a missing credential is
one message in unifs's words naming the flags to pass. Against the local OCI server, with
HOME and the OCI_* variables pointed at a throwaway config under tmp_path."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from unifs.cli import main

_ENV = (
    "OCI_CLI_CONFIG_FILE",
    "OCI_CONFIG_FILE",
    "OCI_CONFIG_PATH",
    "OCIFS_CONFIG_LOCATION",
    "OCI_CLI_PROFILE",
    "OCI_PROFILE",
    "OCIFS_CONFIG_PROFILE",
    "OCIFS_IAM_TYPE",
    "OCI_RESOURCE_PRINCIPAL_VERSION",
)


@pytest.fixture
def oci_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty HOME and no OCI_* variables: nothing but what a test writes is found."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def bucket(oci_server) -> str:
    name = f"shell-auth-{uuid.uuid4().hex[:12]}"
    oci_server.make_bucket(name)
    oci_server.filesystem().pipe(f"{name}@{oci_server.namespace}/hello.txt", b"hi there")
    return f"oci://n/{oci_server.namespace}/b/{name}/o/"


def _endpoint(oci_server) -> list[str]:
    return ["-a", f"endpoint={oci_server.endpoint}"]


def test_home_oci_config_is_used_without_auth(oci_server, oci_home, bucket, capsys):
    oci_server.identity.write_config_file(oci_home / ".oci")
    assert main(["cat", bucket + "hello.txt", *_endpoint(oci_server)]) == 0
    assert capsys.readouterr().out == "hi there"


@pytest.mark.parametrize("variable", ["OCI_CONFIG_FILE", "OCI_CLI_CONFIG_FILE"])
def test_config_file_variable_is_used_without_auth(
    oci_server, oci_home, bucket, tmp_path, monkeypatch, capsys, variable
):
    config = oci_server.identity.write_config_file(tmp_path / "elsewhere")
    monkeypatch.setenv(variable, str(config))
    assert main(["cat", bucket + "hello.txt", *_endpoint(oci_server)]) == 0
    assert capsys.readouterr().out == "hi there"


def test_oci_cli_profile_picks_the_profile(
    oci_server, oci_home, bucket, tmp_path, monkeypatch, capsys
):
    from unifs.testing.oci_server import OCITestIdentity

    # DEFAULT holds a key the server does not know; only profile 'work' signs right
    OCITestIdentity.generate().write_config_file(oci_home / ".oci")
    oci_server.identity.write_config_file(oci_home / ".oci", profile="work")
    assert main(["cat", bucket + "hello.txt", *_endpoint(oci_server)]) == 2
    capsys.readouterr()
    monkeypatch.setenv("OCI_CLI_PROFILE", "work")
    assert main(["cat", bucket + "hello.txt", *_endpoint(oci_server)]) == 0
    assert capsys.readouterr().out == "hi there"


@pytest.mark.parametrize("flag", ["config_path", "profile"])
def test_config_path_or_profile_alone_mean_user_principal(
    oci_server, oci_home, bucket, tmp_path, capsys, flag
):
    config = oci_server.identity.write_config_file(tmp_path / "cfg", profile="p1")
    args = ["-a", f"config_path={config}", "-a", "profile=p1"]
    if flag == "profile":  # the config file where the CLI looks; the profile named alone
        oci_server.identity.write_config_file(oci_home / ".oci", profile="p1")
        args = ["-a", "profile=p1"]
    assert main(["cat", bucket + "hello.txt", *args, *_endpoint(oci_server)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "hi there", captured.err


def test_no_credentials_names_the_flags(oci_server, oci_home, bucket, capsys):
    assert main(["ls", bucket, *_endpoint(oci_server)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "OCI needs credentials: pass -a auth=user_principal" in err
    assert "-a auth=instance_principal" in err and "OCI_CONFIG_FILE" in err
    assert str(oci_home / ".oci" / "config") in err
    assert "no signer, config or iam_type" not in err


def test_python_without_auth_reads_the_config_file_too(oci_server, oci_home, bucket):
    import unifs

    oci_server.identity.write_config_file(oci_home / ".oci")
    fs, path = unifs.url_to_fs(
        bucket + "hello.txt",
        config_kwargs={"service_endpoint": oci_server.endpoint},
        skip_instance_cache=True,
    )
    assert fs.cat_file(path) == b"hi there"
