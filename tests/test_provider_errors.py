"""Each provider explains its own SDK's errors (``Provider.explain_error``), and only those.

The errors are provoked through unifs (or the SDK itself) against the local servers, so
each is what the SDK really raises; every other provider must answer None for all of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import unifs
from unifs.errors import causes
from unifs.registry import get_provider, providers

URI = "scheme://bucket/key"


def _raised(action: Callable[[], Any]) -> BaseException:
    with pytest.raises(Exception) as info:
        action()
    return info.value


def _explained_only_by(owner: str, exc: BaseException) -> str:
    """What ``owner`` says about ``exc``'s chain; every other provider says nothing."""
    chain = list(causes(exc))
    for provider in providers():
        if provider.name != owner:
            said = [provider.explain_error(c, uri=URI) for c in chain]
            assert said == [None] * len(chain), (provider.name, said)
    advice = [get_provider(owner).explain_error(c, uri=URI) for c in chain]
    found = [a for a in advice if a is not None]
    assert found, f"{owner} did not recognize {chain!r}"
    return found[0]


def test_s3_explains_missing_credentials(s3_server, no_aws_credentials):
    endpoint = s3_server.storage_options["endpoint_url"]
    fs, path = unifs.url_to_fs("s3://data/", endpoint_url=endpoint, skip_instance_cache=True)
    advice = _explained_only_by("s3", _raised(lambda: fs.ls(path)))
    assert advice.startswith("no AWS credentials found") and "-o key=" in advice


def test_s3_explains_a_missing_key_by_the_uri(s3_server):
    import botocore.session

    s3_server.make_bucket("errs-explain")
    options = s3_server.storage_options
    client = botocore.session.get_session().create_client(
        "s3",
        endpoint_url=options["endpoint_url"],
        aws_access_key_id=options["key"],
        aws_secret_access_key=options["secret"],
        region_name="us-east-1",
    )
    exc = _raised(lambda: client.get_object(Bucket="errs-explain", Key="nokey"))
    assert _explained_only_by("s3", exc) == f"{URI}: not found (NoSuchKey)"


def test_gcs_explains_a_key_file_that_is_no_key(gcs_server, tmp_path):
    key = tmp_path / "key.json"
    key.write_text(json.dumps({"client_id": "x", "client_secret": "y"}))
    options = {k: v for k, v in gcs_server.storage_options.items() if k != "token"}
    exc = _raised(lambda: unifs.url_to_fs("gs://errs/", token=str(key), **options)[0].ls("errs"))
    advice = _explained_only_by("gcs", exc)
    assert "Google credentials file" in advice


def test_gcs_explains_a_key_error_only_from_google():
    from google.oauth2 import service_account

    # a key without the fields a service account needs, past the SDK's own check
    exc = _raised(lambda: service_account.Credentials._from_signer_and_info(None, {}))
    assert isinstance(exc, KeyError)
    assert "lacks the field 'client_email'" in _explained_only_by("gcs", exc)
    ours = _raised(lambda: {}["client_email"])
    assert get_provider("gcs").explain_error(ours, uri=URI) is None


def test_azure_explains_a_wrong_account_key(azure_server):
    azure_server.make_bucket("errs-explain")
    connection = azure_server.storage_options["connection_string"]
    key = connection.split("AccountKey=")[1].split(";")[0]
    wrong = connection.replace(key, "A" * len(key[:-2]) + "==")
    fs, path = unifs.url_to_fs(
        "az://errs-explain/", connection_string=wrong, skip_instance_cache=True
    )
    advice = _explained_only_by("azure", _raised(lambda: fs.ls(path)))
    assert advice.startswith("Azure refused the credentials (") and "account key" in advice


def test_oci_explains_a_missing_config_file(tmp_path):
    missing = tmp_path / "no-such-config"
    auth = {"auth": "user_principal", "config_path": str(missing)}
    exc = _raised(lambda: unifs.url_to_fs("oci://n/acme/b/models/o/x", auth=auth)[0].ls("x"))
    advice = _explained_only_by("oci", exc)
    assert advice.startswith(f"no OCI config file at {missing}: run 'oci setup config'")
    assert "-a config_path=" in advice


def test_oci_explains_a_wrong_pass_phrase(oci_server, oci_options_wrong_pass_phrase):
    options = oci_options_wrong_pass_phrase
    uri = f"oci://n/{oci_server.namespace}/b/errs/o/"

    def list_it() -> Any:
        fs, path = unifs.url_to_fs(uri, skip_instance_cache=True, **options)
        return fs.ls(path)

    advice = _explained_only_by("oci", _raised(list_it))
    assert advice.startswith("the OCI API key could not be read")


def test_explaining_imports_no_sdk(tmp_path: Path):
    """Asking every provider about an error loads no SDK that was not loaded already."""
    script = (
        "import sys\n"
        "from unifs.registry import providers\n"
        "said = [p.explain_error(KeyError('x'), uri='u') for p in providers()]\n"
        "sdks = ('botocore', 'google.auth', 'azure.core', 'oci')\n"
        "print(said, sorted(m for m in sys.modules if m.split('.')[0] in sdks "
        "or m.startswith(sdks)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == f"{[None] * len(providers())} []"
