"""Listing and HEAD failures are retried, then raised -- never a short listing -- on OCI as on S3.

Requests pass through :class:`unifs.testing.faults.FaultProxy`, which answers chosen ones
with a 500 or 503 instead of the server. Each test runs on OCI (unifs's server) and on S3
(s3fs on moto), with the same assertions: S3 shows the bar, OCI has to meet it.

Objects are seeded through each server's own interface, never through the filesystem under
test. The listed tree has more than 1000 objects in one directory, so every listing is
paginated and "any page" includes continuation pages.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import pytest

import unifs
from unifs.testing.faults import Fault, FaultProxy, route_through
from unifs.transfer import RetryPolicy

pytestmark = pytest.mark.timeout(60)

BACKENDS = ["s3", "oci"]

# the listed tree: one directory needs two listing pages, a few nest below the prefix
MANY = 1001
TREE = {f"tree/many/{i:04d}": b"%d" % i for i in range(MANY)}
TREE |= {
    "tree/a/one.txt": b"one",
    "tree/a/b/two.txt": b"two",
    "tree/a/b/c/three.txt": b"three",
    "tree/z.txt": b"zed",
}
# keys S3 lists and fetches verbatim; where unifs.get puts each of them on local disk
ODD_KEYS = {
    "keys/a//double.txt": (b"double slash", "a/double.txt"),
    "keys//leading.txt": (b"double slash after the prefix", "leading.txt"),
    "keys/./dot.txt": (b"dot segment", "dot.txt"),
    "keys/trailing.txt ": (b"trailing space", "trailing.txt "),
    "keys/dir /inner.txt": (b"directory with a trailing space", "dir /inner.txt"),
    "keys/plain.txt": (b"plain", "plain.txt"),
}

# what names a listing request and a HEAD of an object, per backend (request target regex)
LISTING = {"oci": r"^/n/[^/]+/b/[^/]+/o(\?|$)", "s3": r"^/[^/?]+/?\?(.*&)?list-type=2"}
CONTINUATION = {"oci": r"[?&]start=", "s3": r"[?&]continuation-token="}
HEAD_OBJECT = {"oci": r"^/n/[^/]+/b/[^/]+/o/.", "s3": r"^/[^/?]+/[^?]"}
# how a status shows up in an error message, whichever layer words it
REASON = re.compile(
    r"50[03]|Service ?Unavailable|Internal ?Server ?Error|injected by unifs\.testing\.faults"
)
# tries per request where a fault persists (each filesystem's own retry option)
ATTEMPTS = 3
# unifs.get's own retries, short: what is tested here is the filesystem's
QUICK = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.05)


@dataclass
class Seeded:
    """A bucket on one backend holding TREE and ODD_KEYS, reachable directly or via a proxy."""

    name: str
    server: Any
    bucket: str

    @property
    def root(self) -> str:
        """The bucket as the filesystem spells paths."""
        return f"{self.bucket}@{self.server.namespace}" if self.name == "oci" else self.bucket

    def uri(self, key: str) -> str:
        if self.name == "oci":
            return f"oci://{self.bucket}@{self.server.namespace}/{key}"
        return f"s3://{self.bucket}/{key}"

    def options(
        self, proxy: FaultProxy | None = None, *, attempts: int | None = None
    ) -> dict[str, Any]:
        """Storage options a user would write; with ``proxy``, routed through it.

        ``attempts`` caps the tries per request through each filesystem's documented
        option (s3fs: botocore's retry config; OCI: ``max_attempts``), so that a request that
        keeps failing costs a second or two; without it, each uses its defaults.
        """
        if self.name == "oci":
            # no SDK retry-strategy object: the filesystem's own retry policy is under test
            options: dict[str, Any] = {
                "config": copy.deepcopy(self.server.storage_options["config"]),
                "config_kwargs": {"service_endpoint": self.server.endpoint},
            }
            if attempts is not None:
                options["max_attempts"] = attempts
        else:
            options = dict(self.server.storage_options)
            if attempts is not None:
                retries = {"total_max_attempts": attempts, "mode": "standard"}
                options["config_kwargs"] = {"retries": retries}
        if proxy is not None:
            options = route_through(options, self.server.endpoint, proxy.endpoint)
        return options

    def fs(
        self, proxy: FaultProxy | None = None, *, attempts: int | None = None
    ) -> fsspec.AbstractFileSystem:
        protocol = "oci" if self.name == "oci" else "s3"
        options = self.options(proxy, attempts=attempts)
        return fsspec.filesystem(protocol, skip_instance_cache=True, **options)


def _seed(name: str, server: Any, bucket: str, files: dict[str, bytes]) -> None:
    if name == "oci":
        for key, data in files.items():
            server.oci_server.put_object(bucket, key, data)
        return
    import boto3

    so = server.storage_options
    client = boto3.client(
        "s3",
        endpoint_url=so["endpoint_url"],
        aws_access_key_id=so["key"],
        aws_secret_access_key=so["secret"],
        region_name="us-east-1",
    )
    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda kv: client.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]),
                          files.items()))  # fmt: skip
    finally:
        client.close()


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(request: pytest.FixtureRequest) -> Seeded:
    name = request.param
    server = request.getfixturevalue(f"{name}_server")
    bucket = f"faults-{uuid.uuid4().hex[:10]}"
    server.make_bucket(bucket)
    _seed(name, server, bucket, TREE | {k: v[0] for k, v in ODD_KEYS.items()})
    return Seeded(name, server, bucket)


@pytest.fixture
def proxy(seeded: Seeded) -> Iterator[FaultProxy]:
    with FaultProxy(seeded.server.endpoint) as p:
        yield p


def _expected_tree(seeded: Seeded) -> list[str]:
    return sorted(f"{seeded.root}/{key}" for key in TREE)


def _listing_requests(seeded: Seeded, proxy: FaultProxy) -> list[str]:
    """Targets of the listing requests one clean ``find`` of the tree makes."""
    proxy.clear()
    assert seeded.fs(proxy).find(f"{seeded.root}/tree") == _expected_tree(seeded)
    pages = [s.target for s in proxy.requests("GET") if re.search(LISTING[seeded.name], s.target)]
    proxy.clear()
    assert any(re.search(CONTINUATION[seeded.name], t) for t in pages), (
        f"listing {MANY} objects should take more than one page: {pages}"
    )
    return pages


def _local_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _assert_reason(err: BaseException, status: int) -> None:
    assert not isinstance(err, (FileNotFoundError, PermissionError)), (
        f"a {status} is a server failure, not {type(err).__name__}: {err!r}"
    )
    assert REASON.search(str(err)), f"the error should say what failed: {err!r}"


# -- listings -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503])
def test_a_failed_listing_page_is_retried(seeded: Seeded, proxy: FaultProxy, status: int) -> None:
    """Whichever page fails once, ``find`` retries it and returns every object."""
    pages = _listing_requests(seeded, proxy)
    for n in range(len(pages)):
        fault = Fault(status=status, method="GET", path=LISTING[seeded.name], skip=n, times=1)
        proxy.faults[:] = [fault]
        found = seeded.fs(proxy).find(f"{seeded.root}/tree")
        assert fault.hits == 1, f"listing page {n} was never requested"
        assert found == _expected_tree(seeded), f"a {status} on listing page {n} lost objects"


def test_a_listing_page_that_keeps_failing_raises(seeded: Seeded, proxy: FaultProxy) -> None:
    """A page that fails every time makes ``find`` raise the error -- never a short listing."""
    pages = _listing_requests(seeded, proxy)
    for n in range(len(pages)):
        fault = Fault(status=503, method="GET", path=LISTING[seeded.name], skip=n, times=None)
        proxy.faults[:] = [fault]
        with pytest.raises(OSError) as failed:
            found = seeded.fs(proxy, attempts=ATTEMPTS).find(f"{seeded.root}/tree")
            pytest.fail(f"page {n} failed every time, yet find returned {len(found)} objects")
        _assert_reason(failed.value, 503)
        assert fault.hits >= 2, f"listing page {n} was not retried before raising"


def test_ls_of_a_directory_whose_listing_fails_raises(seeded: Seeded, proxy: FaultProxy) -> None:
    fault = Fault(status=500, method="GET", path=LISTING[seeded.name], times=None)
    proxy.faults[:] = [fault]
    with pytest.raises(OSError) as failed:
        seeded.fs(proxy, attempts=ATTEMPTS).ls(f"{seeded.root}/tree/a")
    _assert_reason(failed.value, 500)
    assert fault.hits >= 2


# -- HEAD ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503])
def test_a_failed_head_is_retried(seeded: Seeded, proxy: FaultProxy, status: int) -> None:
    fault = Fault(status=status, method="HEAD", path=HEAD_OBJECT[seeded.name], times=1)
    proxy.faults[:] = [fault]
    info = seeded.fs(proxy).info(f"{seeded.root}/tree/z.txt")
    assert fault.hits == 1, "info of an object should HEAD it"
    assert (info["type"], info["size"]) == ("file", 3)


@pytest.mark.parametrize("call", ["info", "exists"])
def test_a_head_that_keeps_failing_raises(seeded: Seeded, proxy: FaultProxy, call: str) -> None:
    """``exists``/``isfile`` must not turn a server failure into "no such object" (s3fs raises)."""
    status = 500 if call == "info" else 503
    fault = Fault(status=status, method="HEAD", path=HEAD_OBJECT[seeded.name], times=None)
    proxy.faults[:] = [fault]
    with pytest.raises(OSError) as failed:
        answer = getattr(seeded.fs(proxy, attempts=ATTEMPTS), call)(f"{seeded.root}/tree/z.txt")
        pytest.fail(f"{call} answered {answer!r} while every HEAD failed with {status}")
    _assert_reason(failed.value, status)
    assert fault.hits >= 2, "the HEAD was not retried before raising"


# -- unifs.get of a prefix ----------------------------------------------------------------------


def test_get_of_a_prefix_fails_with_the_reason_when_a_listing_page_fails(
    seeded: Seeded, proxy: FaultProxy, tmp_path: Path
) -> None:
    """No "ok" with a short tree: a page that keeps failing fails the download, saying why."""
    pages = _listing_requests(seeded, proxy)
    wanted = {k: v for k, v in TREE.items() if not k.startswith("tree/many/")}
    for n in range(len(pages)):
        fault = Fault(status=500, method="GET", path=LISTING[seeded.name], skip=n, times=None)
        proxy.faults[:] = [fault]
        dest = tmp_path / f"page-{n}"
        with pytest.raises(OSError) as failed:
            report = unifs.get(
                seeded.uri("tree/"),
                dest,
                exclude=["many/*"],
                retries=QUICK,
                **seeded.options(proxy, attempts=ATTEMPTS),
            )
            pytest.fail(f"listing page {n} always failed, yet get reported {report.summary()}")
        _assert_reason(failed.value, 500)
        for path in dest.rglob("*") if dest.exists() else []:
            if path.is_file():  # whatever did land must be whole and right
                assert path.read_bytes() == wanted[f"tree/{path.relative_to(dest).as_posix()}"]


def test_get_of_a_prefix_survives_a_listing_page_failing_once(
    seeded: Seeded, proxy: FaultProxy, tmp_path: Path
) -> None:
    pages = _listing_requests(seeded, proxy)
    wanted = {k[len("tree/") :]: v for k, v in TREE.items() if not k.startswith("tree/many/")}
    for n in range(len(pages)):
        proxy.faults[:] = [Fault(status=503, method="GET", path=LISTING[seeded.name], skip=n)]
        dest = tmp_path / f"page-{n}"
        report = unifs.get(seeded.uri("tree/"), dest, exclude=["many/*"], **seeded.options(proxy))
        got = _local_tree(dest)
        assert got == wanted and report.files == len(wanted)


# -- keys with //, ./ and trailing spaces -------------------------------------------------------


def test_odd_keys_are_listed_verbatim(seeded: Seeded) -> None:
    fs = seeded.fs()
    expected = sorted(f"{seeded.root}/{key}" for key in ODD_KEYS)
    assert fs.find(f"{seeded.root}/keys") == expected
    assert fs.find(f"{seeded.root}/keys/") == expected


@pytest.mark.parametrize("key", list(ODD_KEYS))
def test_odd_keys_are_fetched_verbatim(seeded: Seeded, key: str) -> None:
    fs = seeded.fs()
    path = f"{seeded.root}/{key}"
    data = ODD_KEYS[key][0]
    assert fs.cat_file(path) == data
    info = fs.info(path)
    assert (info["name"], info["size"], info["type"]) == (path, len(data), "file")
    with fs.open(path, "rb") as f:
        assert f.read() == data


def test_get_of_a_prefix_with_odd_keys_fetches_every_one(seeded: Seeded, tmp_path: Path) -> None:
    report = unifs.get(seeded.uri("keys/"), tmp_path, **seeded.options())
    got = _local_tree(tmp_path)
    assert got == {local: data for data, local in ODD_KEYS.values()}
    assert report.files == len(ODD_KEYS)
