"""download_artifact's node-local cache against a real S3 server (moto) behind a counting proxy.

The proxy (unifs.testing.faults) logs every request the store sees, so "downloaded once"
is counted at the server, not inferred from the client.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

import unifs
from unifs import artifacts
from unifs.cli import main
from unifs.testing.faults import FaultProxy, Link, route_through

BUCKET = "unifs-artifacts"
FILES = {
    "config.json": b'{"layers": 2}',
    "weights/a.bin": os.urandom(96 * 1024),
    "weights/b.bin": os.urandom(64 * 1024),
}


@pytest.fixture(scope="module")
def bucket(s3_server: Any) -> str:
    s3_server.make_bucket(BUCKET)
    return BUCKET


@pytest.fixture
def model(s3_server: Any, bucket: str) -> str:
    """A fresh prefix holding FILES; returns its URI (ending in '/')."""
    prefix = f"s3://{bucket}/m-{uuid.uuid4().hex[:10]}/"
    fs = s3_server.filesystem()
    for name, data in FILES.items():
        fs.pipe(f"{prefix[5:]}{name}", data)
    return prefix


@pytest.fixture
def proxy(s3_server: Any) -> Iterator[FaultProxy]:
    with FaultProxy(s3_server.endpoint) as p:
        yield p


def routed(s3_server: Any, proxy: FaultProxy) -> dict[str, Any]:
    options: dict[str, Any] = route_through(
        s3_server.storage_options, s3_server.endpoint, proxy.endpoint
    )
    return options


def object_gets(proxy: FaultProxy, uri: str) -> dict[str, int]:
    """GETs of object data (not listings) per relative name, as the server saw them."""
    prefix = "/" + uri[len("s3://") :]
    counts: dict[str, int] = {}
    for seen in proxy.requests("GET"):
        if "?" in seen.target or not seen.target.startswith(prefix):
            continue
        name = seen.target[len(prefix) :]
        counts[name] = counts.get(name, 0) + 1
    return counts


def listings(proxy: FaultProxy) -> int:
    return sum(1 for s in proxy.requests("GET") if "list-type=2" in s.target)


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


# -- a child process that calls download_artifact -------------------------------------------

CHILD = """
import json, sys
from unifs.testing.network import guard
guard()
import unifs
uri, cache, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
print(unifs.download_artifact(uri, cache_dir=cache, **options), flush=True)
"""


def spawn(uri: str, cache: Path, options: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, uri, str(cache), json.dumps(options)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "UNIFS_OFFLINE": ""},
        start_new_session=True,
    )


# -- tests ----------------------------------------------------------------------------------


def test_prefix_is_downloaded_once_and_served_from_the_cache(
    s3_server: Any, model: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    options = routed(s3_server, proxy)
    first = unifs.download_artifact(model, cache_dir=tmp_path, **options)
    assert first.is_dir() and read_tree(first) == FILES
    assert object_gets(proxy, model) == dict.fromkeys(FILES, 1)
    again = unifs.download_artifact(model, cache_dir=tmp_path, **options)
    assert again == first
    assert object_gets(proxy, model) == dict.fromkeys(FILES, 1)  # only a listing, no data
    (entry,) = artifacts.entries(tmp_path)
    assert entry.uri == unifs.normalize(model) and entry.files == 3
    assert entry.size == sum(map(len, FILES.values()))


def test_single_object_gives_a_file_path(s3_server: Any, model: str, tmp_path: Path) -> None:
    path = unifs.download_artifact(
        model + "weights/a.bin", cache_dir=tmp_path, **s3_server.storage_options
    )
    assert path.is_file() and path.name == "a.bin" and path.read_bytes() == FILES["weights/a.bin"]


def test_include_exclude_are_part_of_the_key(s3_server: Any, model: str, tmp_path: Path) -> None:
    options = s3_server.storage_options
    only_json = unifs.download_artifact(model, cache_dir=tmp_path, include=["*.json"], **options)
    everything = unifs.download_artifact(model, cache_dir=tmp_path, **options)
    assert set(read_tree(only_json)) == {"config.json"}
    assert read_tree(everything) == FILES and only_json != everything


def test_changed_object_gives_a_new_entry(s3_server: Any, model: str, tmp_path: Path) -> None:
    options = s3_server.storage_options
    old = unifs.download_artifact(model, cache_dir=tmp_path, **options)
    s3_server.filesystem().pipe(f"{model[5:]}config.json", b'{"layers": 3}')
    new = unifs.download_artifact(model, cache_dir=tmp_path, **options)
    assert new != old
    assert (new / "config.json").read_bytes() == b'{"layers": 3}'
    assert (old / "config.json").read_bytes() == b'{"layers": 2}'  # the old entry is intact
    assert len(artifacts.entries(tmp_path)) == 2


def test_two_processes_racing_download_each_object_once(
    s3_server: Any, model: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    options = routed(s3_server, proxy)
    key_dir = tmp_path / artifacts._key(unifs.normalize(model), None, None)
    key_dir.mkdir(parents=True)
    # Hold the entry's lock until both children have listed the model: both then find no
    # entry and contend for the lock, which is the race the lock exists for.
    gate = FileLock(key_dir / ".lock")
    gate.acquire()
    try:
        children = [spawn(model, tmp_path, options) for _ in range(2)]
        wait_for(lambda: listings(proxy) >= 2, "both children to list the model")
        assert object_gets(proxy, model) == {}
    finally:
        gate.release()
    outputs = [child.communicate(timeout=120) for child in children]
    for child, (_, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
    paths = {out.strip() for out, _ in outputs}
    assert len(paths) == 1
    assert read_tree(Path(paths.pop())) == FILES
    assert object_gets(proxy, model) == dict.fromkeys(FILES, 1)


def test_threads_racing_get_one_download(
    s3_server: Any, model: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    options = routed(s3_server, proxy)
    results: list[Path] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            results.append(unifs.download_artifact(model, cache_dir=tmp_path, **options))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1
    assert object_gets(proxy, model) == dict.fromkeys(FILES, 1)


def spans_written(root: Path) -> bool:
    """True once the engine has recorded landed bytes of model.bin (its resume state).

    Work files live in the transfer's work directory under hashed names; config.json is one
    small request with no state, so any state there is model.bin's.
    """
    from unifs.transfer.workdir import WORK_DIR

    for state in root.rglob(f"{WORK_DIR}/*.state"):
        try:
            if len(state.read_text().splitlines()) > 1:
                return True
        except OSError:
            continue
    return False


def test_kill_during_download_leaves_nothing_complete_and_a_retry_finishes(
    s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    prefix = f"s3://{bucket}/big-{uuid.uuid4().hex[:10]}/"
    big = os.urandom(4 * 2**20)
    fs = s3_server.filesystem()
    fs.pipe(f"{prefix[5:]}model.bin", big)
    fs.pipe(f"{prefix[5:]}config.json", b"{}")
    # a slow link, so the child is surely mid-transfer when it is killed
    with FaultProxy(s3_server.endpoint, link=Link(per_connection=256 * 1024)) as slow:
        child = spawn(prefix, tmp_path, routed(s3_server, slow))
        wait_for(lambda: spans_written(tmp_path), "the child to write part of model.bin")
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert artifacts.entries(tmp_path) == []  # nothing looks complete
    key_dir = tmp_path / artifacts._key(unifs.normalize(prefix), None, None)
    assert [p.name for p in key_dir.iterdir() if not p.name.startswith(".")] == []
    with pytest.raises(unifs.ArtifactNotCachedError):
        unifs.download_artifact(prefix, cache_dir=tmp_path, offline=True)
    with FaultProxy(s3_server.endpoint) as watch:
        options = routed(s3_server, watch)
        path = unifs.download_artifact(prefix, cache_dir=tmp_path, **options)
        ranges = [s.range for s in watch.requests("GET") if s.target.endswith("/model.bin")]
    assert read_tree(path) == {"model.bin": big, "config.json": b"{}"}
    assert not list(key_dir.glob(".staging-*"))
    # the retry resumed: it did not ask for model.bin from its first byte again
    assert ranges and all(r and not r.startswith("bytes=0-") for r in ranges), ranges


def test_offline_serves_the_cache_without_a_request(
    s3_server: Any, model: str, proxy: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = routed(s3_server, proxy)
    with pytest.raises(unifs.ArtifactNotCachedError, match="not in the artifact cache") as info:
        unifs.download_artifact(model, cache_dir=tmp_path, offline=True, **options)
    assert isinstance(info.value, FileNotFoundError)
    assert proxy.requests() == []
    online = unifs.download_artifact(model, cache_dir=tmp_path, **options)
    proxy.clear()
    monkeypatch.setenv("UNIFS_OFFLINE", "1")
    assert unifs.download_artifact(model, cache_dir=tmp_path, **options) == online
    single = model + "config.json"
    with pytest.raises(unifs.ArtifactNotCachedError):
        unifs.download_artifact(single, cache_dir=tmp_path, **options)
    assert proxy.requests() == []


def test_cache_dir_from_environment(
    s3_server: Any, model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNIFS_CACHE_DIR", str(tmp_path / "env-cache"))
    path = unifs.download_artifact(model, **s3_server.storage_options)
    assert path.is_relative_to(tmp_path / "env-cache")
    assert artifacts.cache_root() == tmp_path / "env-cache"


def test_prune_removes_least_recently_used_first(
    s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    options = s3_server.storage_options
    fs = s3_server.filesystem()
    uris = []
    for i in range(3):
        uri = f"s3://{bucket}/p-{uuid.uuid4().hex[:8]}/blob{i}.bin"
        fs.pipe(uri[5:], bytes([i]) * 1000)
        uris.append(uri)
    paths = [unifs.download_artifact(u, cache_dir=tmp_path, **options) for u in uris]
    # last use: entry 0 oldest, then 1, then 2; then entry 0 is used again (a cache hit)
    for age, entry in zip((300, 200, 100), artifacts.entries(tmp_path), strict=True):
        meta = entry.root.with_name(entry.root.name + ".json")
        os.utime(meta, (time.time() - age, time.time() - age))
    by_uri = {e.uri: e for e in artifacts.entries(tmp_path)}
    order = sorted(uris, key=lambda u: by_uri[unifs.normalize(u)].last_used)
    assert unifs.download_artifact(order[0], cache_dir=tmp_path, **options).exists()
    removed = artifacts.prune(2000, cache_dir=tmp_path)
    assert [e.uri for e in removed] == [unifs.normalize(order[1])]
    left = {e.uri for e in artifacts.entries(tmp_path)}
    assert left == {unifs.normalize(order[0]), unifs.normalize(order[2])}
    assert sum(p.exists() for p in paths) == 2


def test_cache_commands(
    s3_server: Any, model: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unifs.download_artifact(model, cache_dir=tmp_path, **s3_server.storage_options)
    assert main(["cache", "--cache-dir", str(tmp_path), "ls", "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["uri"] == unifs.normalize(model)
    assert main(["cache", "--cache-dir", str(tmp_path), "du"]) == 0
    assert "in 1 entries" in capsys.readouterr().out
    assert (
        main(["cache", "--cache-dir", str(tmp_path), "prune", "--max-size", "0", "--dry-run"]) == 0
    )
    assert "would remove 1 entries" in capsys.readouterr().out
    assert len(artifacts.entries(tmp_path)) == 1
    assert main(["cache", "--cache-dir", str(tmp_path), "prune", "--max-size", "1K"]) == 0
    assert artifacts.entries(tmp_path) == []
    assert main(["cache", "--cache-dir", str(tmp_path), "prune", "--max-size", "lots"]) == 2
    assert "--max-size takes a size" in capsys.readouterr().err
