"""OCI is held to s3fs's bar: other projects' conformance suites, run on OCI and on S3 alike.

- every ``Abstract*Tests`` class of ``fsspec.tests.abstract`` (shipped in the fsspec wheel)
  against a fresh bucket root on unifs's OCI server and on moto, in the same run;
- universal_pathlib's ``BaseTests`` (``upath/tests/cases.py``) against ``OCIPath`` and
  ``S3Path``, at a bucket root and under a key prefix, in both of unifs's OCI dialects.

``BaseTests`` is not in universal_pathlib's wheel. It is taken at test time from the sdist
of the installed version (``pip download``), cached outside the repository, and never
copied into it: see :func:`_upath_cases`.

The bar is "OCI fails no case that S3 passes". Where s3fs or S3Path fails a case on moto
itself, that S3 case is an xfail (strict, so it is noticed when it starts passing) listed
in ``S3_KNOWN_FAILURES`` with the reason; OCI cases are never marked.
"""

from __future__ import annotations

import copy
import fcntl
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import fsspec
import pytest
from fsspec.tests.abstract import (
    AbstractCopyTests,
    AbstractFixtures,
    AbstractGetTests,
    AbstractOpenTests,
    AbstractPipeTests,
    AbstractPutTests,
)
from upath import UPath

BACKENDS = ["s3", "oci"]

#: Cases s3fs/S3Path fail on moto by themselves, by test name, with the reason; S3 only.
#: Strict xfails, so a fix upstream shows up as a failure to remove the entry.
S3_KNOWN_FAILURES: dict[str, str] = {
    "test_open_exclusive": (
        "s3fs checks 'x' only when the object is written (If-None-Match: * on the PUT at "
        "close), never at open(), where fsspec's suite expects FileExistsError"
    ),
}


@dataclass(frozen=True)
class Backend:
    """One store of the comparison: how to reach it and how to seed it without the fs under test."""

    name: str
    server: Any
    s3_client: Any = None  # boto3, for S3: one client per module (each new one costs ~40 ms)

    @property
    def storage_options(self) -> dict[str, Any]:
        """The fixture's storage options, as they are (plain data: they pickle equal)."""
        return copy.deepcopy(self.server.storage_options)

    def new_bucket(self) -> str:
        bucket = f"conf-{uuid.uuid4().hex[:12]}"
        if self.s3_client is not None:
            self.s3_client.create_bucket(Bucket=bucket)
        else:
            self.server.make_bucket(bucket)
        return bucket

    def bucket_path(self, bucket: str) -> str:
        """The bucket root as the filesystem spells paths (no protocol)."""
        return f"{bucket}@{self.server.namespace}" if self.name == "oci" else bucket

    def seed(self, bucket: str, files: dict[str, bytes]) -> None:
        """Store objects through the server's own interface, not through the fs under test."""
        if self.name == "oci":
            for key, data in files.items():
                self.server.oci_server.put_object(bucket, key, data)
            return
        for key, data in files.items():
            self.s3_client.put_object(Bucket=bucket, Key=key, Body=data)

    def filesystem(self) -> fsspec.AbstractFileSystem:
        protocol = "oci" if self.name == "oci" else "s3"
        return fsspec.filesystem(protocol, skip_instance_cache=True, **self.storage_options)


@pytest.fixture(scope="module")
def s3_client(s3_server: Any) -> Iterator[Any]:
    """A boto3 client of the moto server, to create and fill buckets beside the fs under test."""
    import boto3

    so = s3_server.storage_options
    client = boto3.client(
        "s3",
        endpoint_url=so["endpoint_url"],
        aws_access_key_id=so["key"],
        aws_secret_access_key=so["secret"],
        region_name="us-east-1",  # the region where a create needs no LocationConstraint
    )
    yield client
    client.close()


def _backend(request: pytest.FixtureRequest, name: str) -> Backend:
    """S3 (moto) or OCI (unifs's server); S3's own known failures become strict xfails."""
    if name == "oci":
        return Backend(name, request.getfixturevalue("oci_server"))
    reason = S3_KNOWN_FAILURES.get(request.function.__name__)
    if reason is not None:
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))
    return Backend(name, request.getfixturevalue("s3_server"), request.getfixturevalue("s3_client"))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    """S3 (moto) and OCI (unifs's server) in turn."""
    return _backend(request, request.param)


# -- fsspec.tests.abstract ----------------------------------------------------------------------


class _FsspecFixtures(AbstractFixtures):
    """The fixtures fsspec's abstract suites ask a backend for: a fresh bucket root each test."""

    @pytest.fixture
    def fs(self, backend: Backend) -> fsspec.AbstractFileSystem:
        return backend.filesystem()

    @pytest.fixture
    def fs_path(self, backend: Backend) -> str:
        return backend.bucket_path(backend.new_bucket())

    @pytest.fixture
    def fs_join(self) -> Callable[..., str]:
        return lambda *parts: "/".join(parts)

    @pytest.fixture
    def supports_empty_directories(self) -> bool:
        return False


class TestFsspecCopy(_FsspecFixtures, AbstractCopyTests):
    pass


class TestFsspecGet(_FsspecFixtures, AbstractGetTests):
    pass


class TestFsspecPut(_FsspecFixtures, AbstractPutTests):
    pass


class TestFsspecOpen(_FsspecFixtures, AbstractOpenTests):
    pass


class TestFsspecPipe(_FsspecFixtures, AbstractPipeTests):
    pass


# -- universal_pathlib's BaseTests, from its sdist ------------------------------------------------

_UPATH_DIST = "universal-pathlib"


def _cache_root() -> Path:
    override = os.environ.get("UNIFS_TEST_CACHE")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "unifs-tests"


class UpathSuiteUnavailable(RuntimeError):
    """universal_pathlib's test suite could not be fetched from its sdist."""


def _fetch_upath_tests(version: str) -> Path:
    """Return ``upath/tests`` of universal-pathlib ``version``'s sdist, downloading it once.

    The extracted tree is cached under ``$UNIFS_TEST_CACHE`` (default
    ``~/.cache/unifs-tests``); a lock file keeps parallel runs from fetching it twice.
    """
    root = _cache_root() / f"universal-pathlib-{version}"
    tests_dir = root / "upath" / "tests"
    if (tests_dir / "cases.py").is_file():
        return tests_dir
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (tests_dir / "cases.py").is_file():
            return tests_dir
        with tempfile.TemporaryDirectory(dir=root.parent) as scratch:
            command = [
                sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
                "--disable-pip-version-check", "--dest", scratch, f"{_UPATH_DIST}=={version}",
            ]  # fmt: skip
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=300)
            except (OSError, subprocess.TimeoutExpired) as err:
                raise UpathSuiteUnavailable(f"`{' '.join(command)}` did not run: {err}") from err
            sdists = sorted(Path(scratch).glob("*.tar.gz"))
            if done.returncode != 0 or not sdists:
                raise UpathSuiteUnavailable(
                    f"`{' '.join(command)}` failed (exit {done.returncode}):\n"
                    f"{(done.stderr or done.stdout)[-2000:]}"
                )
            unpacked = Path(scratch) / "unpacked"
            with tarfile.open(sdists[0]) as archive:
                members = [m for m in archive.getmembers() if "/upath/tests/" in f"/{m.name}"]
                # the "data" filter (no links out, no absolute paths) where Python has it
                safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                archive.extractall(unpacked, members=members, **safe)
            found = sorted(unpacked.glob("*/upath/tests/cases.py"))
            if not found:
                raise UpathSuiteUnavailable(f"{sdists[0].name} has no upath/tests/cases.py")
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir()
            shutil.move(str(found[0].parent), str(root / "upath" / "tests"))
    return tests_dir


def _upath_cases() -> ModuleType:
    """Import ``upath.tests.cases`` of the installed version from its sdist's copy.

    The sdist's ``upath/tests`` directory is mounted as the ``upath.tests`` package (the
    wheel has none); its ``conftest.py`` is never imported: the few fixtures ``BaseTests``
    uses are defined below.
    """
    version = importlib.metadata.version(_UPATH_DIST)
    pytest.register_assert_rewrite("upath.tests")  # readable failures from its asserts
    tests_dir = _fetch_upath_tests(version)
    if "upath.tests" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "upath.tests",
            tests_dir / "__init__.py",
            submodule_search_locations=[str(tests_dir)],
        )
        assert spec is not None and spec.loader is not None
        package = importlib.util.module_from_spec(spec)
        sys.modules["upath.tests"] = package
        spec.loader.exec_module(package)
    return importlib.import_module("upath.tests.cases")


try:
    _cases: ModuleType | None = _upath_cases()
    _UPATH_ERROR = ""
except UpathSuiteUnavailable as err:
    _cases = None
    _UPATH_ERROR = str(err)


# The files BaseTests expects below its path (upath's conftest: local_testdir).
UPATH_FILES = {
    "folder1/file1.txt": b"file1.txt",
    "folder1/file2.txt": b"file2.txt",
    "file1.txt": b"hello world",
    "file2.txt": b"hello world",
}


@pytest.fixture
def local_testdir(tmp_path: Path) -> str:
    """The same tree on local disk, which BaseTests compares listings and globs against."""
    for name, data in UPATH_FILES.items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return str(tmp_path)


@pytest.fixture
def pathlib_base(local_testdir: str) -> Path:
    return Path(local_testdir)


@pytest.fixture
def clear_fsspec_memory_cache() -> Iterator[None]:
    fs_cls = fsspec.get_filesystem_class("memory")
    pseudo_dirs, store = fs_cls.pseudo_dirs.copy(), fs_cls.store.copy()
    try:
        yield
    finally:
        fs_cls.pseudo_dirs, fs_cls.store = pseudo_dirs, store


# (backend, dialect, where): the UPath variants BaseTests runs against
UPATH_VARIANTS = [
    ("s3", "s3", "root"),
    ("s3", "s3", "prefix"),
    ("oci", "bucket@ns", "root"),
    ("oci", "bucket@ns", "prefix"),
    ("oci", "ome", "root"),
    ("oci", "ome", "prefix"),
]
_PREFIX = "some/prefix"


def _upath_url(backend: Backend, bucket: str, dialect: str, where: str) -> str:
    key = _PREFIX if where == "prefix" else ""
    if dialect == "ome":
        return f"oci://n/{backend.server.namespace}/b/{bucket}/o/{key}"
    if dialect == "bucket@ns":
        return f"oci://{bucket}@{backend.server.namespace}/{key}"
    return f"s3://{bucket}/{key}"


if _cases is not None:
    # upath warns "<Class>.mkdir(): parent_mode is currently ignored" for every path type
    # whose store has no directory modes (S3Path and OCIPath alike): true, and no fault of the
    # path under test. Its own test_mkdir_parent_mode means to ignore that warning, but its
    # filter matches the message from its start, which since 0.3.11 begins with the class
    # name. Ignored here, for upath's suite only (pyproject's filterwarnings = error would
    # otherwise turn upath's own advice into a failure).
    @pytest.mark.filterwarnings("ignore:.*parent_mode is currently ignored:UserWarning")
    class TestUPath(_cases.BaseTests):  # type: ignore[name-defined,misc]
        """universal_pathlib's own suite, unchanged, on S3Path and OCIPath."""

        SUPPORTS_EMPTY_DIRS = False

        @pytest.fixture(
            autouse=True,
            params=UPATH_VARIANTS,
            ids=["-".join(v[1:]) if v[0] == "oci" else f"s3-{v[2]}" for v in UPATH_VARIANTS],
        )
        def path(self, request: pytest.FixtureRequest, local_testdir: str) -> None:
            name, dialect, where = request.param
            backend = _backend(request, name)
            bucket = backend.new_bucket()
            prefix = f"{_PREFIX}/" if where == "prefix" else ""
            backend.seed(bucket, {prefix + k: v for k, v in UPATH_FILES.items()})
            self.backend = backend
            url = _upath_url(backend, bucket, dialect, where)
            self.path = UPath(url, **backend.storage_options)

        def test_is_correct_class(self) -> None:
            from upath.implementations.cloud import S3Path

            from unifs.providers.oci_filesystem import OCIPath

            expected = OCIPath if self.backend.name == "oci" else S3Path
            assert type(self.path) is expected

else:

    def test_upath_suite_is_available() -> None:
        pytest.fail(
            "universal_pathlib's BaseTests could not be taken from its sdist, so OCIPath and "
            f"S3Path were not tested.\n{_UPATH_ERROR}\nThis needs PyPI (or a pip index with "
            "sdists) reachable from `pip download`; set UNIFS_TEST_CACHE to a directory that "
            "already holds universal-pathlib-<version>/upath/tests to run offline.",
            pytrace=False,
        )


# -- OCIPath's shape, next to S3Path's -------------------------------------------------------------

PATH_SHAPES = {
    "s3": ("s3://models/llama/config.json", "s3://models/"),
    "oci-bucket@ns": ("oci://models@acme/llama/config.json", "oci://models@acme/"),
    "oci-ome": ("oci://n/acme/b/models/o/llama/config.json", "oci://n/acme/b/models/o/"),
}


@pytest.mark.parametrize("dialect", list(PATH_SHAPES))
def test_path_parts_anchor_name_and_parents_have_s3paths_shape(dialect: str) -> None:
    """The bucket (with its namespace) is the anchor, as S3Path's bucket is; keys are parts."""
    url, root_url = PATH_SHAPES[dialect]
    p, root = UPath(url), UPath(root_url)
    anchor = p.anchor
    assert anchor.endswith("/") and "models" in anchor
    if dialect != "s3":
        assert "acme" in anchor, "the namespace belongs to the anchor, with the bucket"
    assert p.parts == (anchor, "llama", "config.json")
    assert (p.name, p.parent.name, p.suffix, p.stem) == ("config.json", "llama", ".json", "config")
    assert list(p.parents) == [p.parent, root]
    assert root.parts == (anchor,) and root.anchor == anchor
    assert root.name == "" and root.parent == root
    assert UPath(str(p)) == p and UPath(str(root)) == root
    assert p.relative_to(root).as_posix() == "llama/config.json"
    assert root / "llama" / "config.json" == p
