"""One unifs.copy parses each URI once and validates each auth block once (issue #20).

The real functions run: ``unifs.uri.parse``, ``StorageURI.__init__`` and
``AuthConfig.validate`` are wrapped to count their calls, not replaced. A copy between two
local servers, with an auth block for each end, may read each end's URI once (at most two
parses of text, two StorageURIs made) and validate each block once; the per-file work joins
paths below the endpoints and parses nothing.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

import unifs
import unifs.uri
from unifs.auth import AuthConfig
from unifs.endpoint import endpoint
from unifs.uri import StorageURI

BUCKET = "unifs-resolve-once"
FILES = {
    "config.json": b'{"layers": 2}',
    "weights/shard-0.bin": os.urandom(2 * 2**20 + 11),
    "weights/shard-1.bin": os.urandom(300_000),
    "tokenizer/vocab.txt": b"a\nb\n" * 500,
}
_made: set[str] = set()


class Counts:
    def __init__(self, parse: mock.Mock, made: mock.Mock, validate: mock.Mock) -> None:
        self._parse, self._made, self._validate = parse, made, validate

    @property
    def parses(self) -> list[Any]:
        """The URIs read from text (a StorageURI given to parse is passed through)."""
        return [
            c.args[0] for c in self._parse.call_args_list if not isinstance(c.args[0], StorageURI)
        ]

    @property
    def made(self) -> int:
        return self._made.call_count

    @property
    def validated(self) -> int:
        return self._validate.call_count


@contextlib.contextmanager
def counting() -> Iterator[Counts]:
    """Count parses, StorageURIs made and auth validations while the real code runs."""
    # imported first: a module imported while parse is wrapped would keep the wrapper
    for name in ("unifs.transfer", "unifs.engine.ends", "unifs.endpoint", "unifs.filesystem"):
        importlib.import_module(name)
    real_parse = unifs.uri.parse
    parse = mock.Mock(wraps=real_parse)
    holders = [
        module
        for name, module in list(sys.modules.items())
        if name.startswith("unifs") and getattr(module, "parse", None) is real_parse
    ]
    with contextlib.ExitStack() as stack:
        for module in holders:  # every module that imported the function by name
            stack.enter_context(mock.patch.object(module, "parse", parse))
        made = stack.enter_context(
            mock.patch.object(
                StorageURI, "__init__", autospec=True, side_effect=StorageURI.__init__
            )
        )
        validate = stack.enter_context(
            mock.patch.object(
                AuthConfig, "validate", autospec=True, side_effect=AuthConfig.validate
            )
        )
        yield Counts(parse, made, validate)


def _auth(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> tuple[str, dict]:
    """A fresh prefix on ``backend`` and an auth block (not raw options) that reaches it."""
    server = request.getfixturevalue(f"{backend}_server")
    if backend not in _made:
        with contextlib.suppress(FileExistsError):
            server.make_bucket(BUCKET)
        _made.add(backend)
    prefix = f"r-{uuid.uuid4().hex[:10]}"
    if backend == "s3":
        auth = {
            "auth": "access_key",
            "access_key_id": server.storage_options["key"],
            "secret_access_key": server.storage_options["secret"],
            "endpoint": server.endpoint,
        }
        return f"s3://{BUCKET}/{prefix}/", auth
    if backend == "azure":
        auth = {
            "auth": "account_key",
            "account_name": server.account_name,
            "account_key": server.account_key,
            "endpoint": server.endpoint,
        }
        return f"az://{BUCKET}/{prefix}/", auth
    assert backend == "oci"
    config = server.identity.write_config_file(tmp_path / f"oci-{prefix}", profile="UNIFS")
    auth = {
        "auth": "user_principal",
        "config_path": str(config),
        "profile": "UNIFS",
        "endpoint": server.endpoint,
    }
    return f"oci://n/{server.namespace}/b/{BUCKET}/o/{prefix}/", auth


def _write(uri: str, auth: dict, files: dict[str, bytes]) -> None:
    fs, path = unifs.url_to_fs(uri, auth=auth)
    for name, data in files.items():
        fs.pipe_file(path.rstrip("/") + "/" + name, data)
    fs.invalidate_cache()


def _read(uri: str, auth: dict) -> dict[str, bytes]:
    fs, path = unifs.url_to_fs(uri, auth=auth)
    fs.invalidate_cache()
    base = path.rstrip("/")
    return {name[len(base) :].lstrip("/"): fs.cat_file(name) for name in fs.find(base)}


PAIRS = [("s3", "oci"), ("azure", "s3")]


@pytest.mark.parametrize(("a", "b"), PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
def test_one_copy_parses_each_uri_once_and_validates_each_auth_once(request, tmp_path, a, b):
    src, src_auth = _auth(request, a, tmp_path)
    dst, dst_auth = _auth(request, b, tmp_path)
    _write(src, src_auth, FILES)
    with counting() as counts:
        report = unifs.copy(
            src, dst, auth=src_auth, dst_auth=dst_auth, callback=False, part_size=2**20
        )
    assert sorted(report.transferred) == sorted(FILES)
    assert _read(dst, dst_auth) == FILES
    # one per end, however many files
    assert counts.parses == [src, dst], counts.parses
    assert counts.made <= 2, counts.made
    assert counts.validated == 2, counts.validated

    # run again: everything is skipped as matching, still one reading of each end
    with counting() as again:
        second = unifs.copy(src, dst, auth=src_auth, dst_auth=dst_auth, callback=False)
    assert sorted(second.skipped) == sorted(FILES) and not second.transferred
    assert len(again.parses) <= 2 and again.made <= 2 and again.validated <= 2


def test_a_get_and_a_put_read_the_remote_end_once(request, tmp_path):
    remote, auth = _auth(request, "s3", tmp_path)
    _write(remote, auth, FILES)
    local = tmp_path / "model"
    with counting() as counts:
        unifs.get(remote, local, auth=auth, callback=False)
    assert {p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()} == set(FILES)
    assert len(counts.parses) == 1 and counts.made <= 1 and counts.validated == 1

    back, _ = _auth(request, "s3", tmp_path)
    with counting() as counts:
        report = unifs.put(local, back, auth=auth, callback=False)
    assert sorted(report.transferred) == sorted(FILES)
    assert len(counts.parses) == 1 and counts.made <= 1 and counts.validated == 1


def test_an_endpoint_given_as_an_end_is_not_read_again(request, tmp_path):
    src, src_auth = _auth(request, "s3", tmp_path)
    dst, dst_auth = _auth(request, "oci", tmp_path)
    _write(src, src_auth, FILES)
    ends = endpoint(src, auth=src_auth), endpoint(dst, auth=dst_auth)
    with counting() as counts:
        report = unifs.copy(*ends, callback=False)
    assert sorted(report.transferred) == sorted(FILES)
    assert counts.parses == [] and counts.made == 0 and counts.validated == 0
