"""The transfer verbs: one async implementation each, a derived blocking twin, dst= not dest=."""

from __future__ import annotations

import asyncio
import inspect
import warnings
from pathlib import Path
from typing import Any

import pytest

import unifs
import unifs.transfer
from unifs.engine import hooks
from unifs.engine.hooks import hook, register_hook


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"alpha")
    (src / "sub" / "b.bin").write_bytes(b"\x00" * 4096)
    return src


@pytest.mark.parametrize(
    ("blocking", "asynchronous"),
    [("get", "aget"), ("put", "aput"), ("copy", "acopy"), ("sync", "async_sync")],
)
def test_each_blocking_verb_is_derived_from_its_async_one(blocking, asynchronous):
    twin, verb = getattr(unifs.transfer, blocking), getattr(unifs.transfer, asynchronous)
    assert inspect.iscoroutinefunction(verb) and not inspect.iscoroutinefunction(twin)
    theirs = dict(inspect.signature(verb).parameters)
    mine = dict(inspect.signature(twin).parameters)
    if blocking in ("copy", "sync"):  # only the blocking form can run on a cluster
        assert mine.pop("client").default is None
    assert mine == theirs
    assert twin.__name__ == blocking and f":func:`{asynchronous}`" in (twin.__doc__ or "")


def test_get_takes_dst_and_dest_still_works_with_a_warning(source, tmp_path):
    first = unifs.get(f"{source}/", dst=tmp_path / "one", callback=False)
    assert _tree(tmp_path / "one") == _tree(source) and first.files == 2
    with pytest.warns(DeprecationWarning, match=r"get\(\.\.\., dest=\.\.\.\) is deprecated"):
        unifs.get(f"{source}/", dest=tmp_path / "two", callback=False)
    assert _tree(tmp_path / "two") == _tree(source)
    with pytest.raises(TypeError, match="both dst= and its old name dest="):
        unifs.get(f"{source}/", dst=tmp_path / "x", dest=tmp_path / "y", callback=False)


def test_aget_takes_dest_with_a_warning_pointing_at_the_caller(source, tmp_path):
    async def main() -> Any:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            report = await unifs.aget(f"{source}/", dest=tmp_path / "three", callback=False)
        return report, caught

    report, caught = asyncio.run(main())
    assert report.files == 2 and _tree(tmp_path / "three") == _tree(source)
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert len(deprecations) == 1 and deprecations[0].filename == __file__


def test_copy_with_a_client_goes_to_the_hook_registered_for_copy(source, tmp_path):
    seen: dict[str, Any] = {}

    def runner(src: Any, dst: Any, *, client: Any, **kwargs: Any) -> str:
        seen.update(src=src, dst=dst, client=client, **kwargs)
        return "ran elsewhere"

    try:
        before = hook("copy")
    except LookupError:
        before = None
    register_hook("copy", runner)
    try:
        result = unifs.copy(source, tmp_path / "never", client="a cluster", concurrency=3)
    finally:
        if before is not None:
            register_hook("copy", before)
        else:
            hooks._hooks.pop("copy", None)
    assert result == "ran elsewhere"
    assert seen["client"] == "a cluster" and seen["concurrency"] == 3
    # no bar was drawn here, so none is asked of the runner either
    assert seen["callback"] in (False, None) or hasattr(seen["callback"], "relative_update")
    assert not (tmp_path / "never").exists()
