"""The progress bar's text, from real transfers drawn by tqdm into a StringIO: no stray
separator, files counted as they finish, a rate that falls when nothing arrives."""

from __future__ import annotations

import io
import re
import uuid

import pytest

import unifs
from unifs.engine.progress import RATE_WINDOW, ProgressCallback
from unifs.transfer import progress_bar

FILES = {"a.bin": b"a" * 300_000, "b.bin": b"b" * 200_000, "sub/c.bin": b"c" * 100_000}


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "src"
    for name, data in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


@pytest.fixture
def s3_uri(s3_server):
    bucket = f"progress-{uuid.uuid4().hex[:10]}"
    s3_server.make_bucket(bucket)
    return f"s3://{bucket}/model/", dict(s3_server.storage_options, skip_instance_cache=True)


def _lines(out: io.StringIO) -> list[str]:
    return [line for line in re.split(r"[\r\n]", out.getvalue()) if line.strip()]


def test_put_text_has_no_stray_separator_and_counts_every_file(tree, s3_uri):
    uri, options = s3_uri
    out = io.StringIO()
    bar = progress_bar("put", terminal=True, file=out, disable=False, mininterval=0)
    unifs.put(str(tree), uri, callback=bar, **options)
    # before close: a redraw shows every file finished (the last one is recorded after its
    # last byte, so a bar drawn only on bytes would still say 2/3)
    bar.tick()
    last = _lines(out)[-1]
    assert "3/3 files" in last, last
    bar.close()
    lines = _lines(out)
    assert lines, "the bar drew nothing"
    for line in lines:
        assert "| ," not in line and "|," not in line, line
        assert re.search(r"\| \d", line), line  # the text starts with the byte count
    assert any("585.9 KiB/585.9 KiB" in line for line in lines)


def test_get_counts_files_as_they_finish(tree, s3_uri, tmp_path):
    uri, options = s3_uri
    unifs.put(str(tree), uri, callback=False, **options)
    out = io.StringIO()
    bar = progress_bar("get", terminal=True, file=out, disable=False, mininterval=0)
    unifs.get(uri, tmp_path / "dest", callback=bar, concurrency=1, **options)
    bar.tick()
    counts = [int(m) for m in re.findall(r"(\d)/3 files", out.getvalue())]
    assert counts[-1] == 3
    assert sorted(set(counts)) == counts_seen(counts)
    bar.close()


def counts_seen(counts: list[int]) -> list[int]:
    """The distinct counts in the order first drawn: they only grow."""
    seen: list[int] = []
    for c in counts:
        if c not in seen:
            seen.append(c)
    assert seen == sorted(seen), seen
    return seen


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_decays_to_zero_when_nothing_arrives():
    clock = _Clock()
    out = io.StringIO()
    bar = ProgressCallback(
        "cp", file=out, disable=False, mininterval=0, refresh_every=None, clock=clock,
        tqdm_cls=__import__("tqdm").tqdm,
    )  # fmt: skip
    bar.set_size(100 * 2**20)
    for _ in range(10):  # 10 MiB a second for 8.5 seconds: 85 MiB
        clock.now += 0.85
        bar.relative_update(int(8.5 * 2**20))
    assert "10.0 MiB/s" in _lines(out)[-1]
    clock.now += RATE_WINDOW / 2
    bar.tick()
    halfway = float(re.findall(r"([\d.]+) MiB/s", _lines(out)[-1])[-1])
    assert 0 < halfway < 10.0
    clock.now += RATE_WINDOW
    bar.tick()
    assert "0.0 MiB/s" in _lines(out)[-1]
    assert " 85%" in _lines(out)[-1]
    bar.close()


def test_a_bar_nobody_closes_stops_its_redraw_thread():
    import gc
    import threading
    import weakref

    bar = progress_bar("x", file=io.StringIO(), disable=False, refresh_every=0.01)
    bar.set_size(10)
    ref = weakref.ref(bar)
    del bar
    gc.collect()
    assert ref() is None
    for thread in threading.enumerate():
        if thread.name == "unifs-progress":
            thread.join(timeout=5)
            assert not thread.is_alive()
