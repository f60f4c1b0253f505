"""Progress: one bar in bytes with files done/total and MiB/s, or a plain per-file callable.

``progress_bar`` makes the bar (``tqdm.auto``: a widget in notebooks, text in a terminal).
The library shows one by default where someone is watching: :func:`auto_progress` gives a
bar when ``callback`` is None and the code runs in a Jupyter kernel or stderr is a
terminal, unless ``UNIFS_PROGRESS=0``; ``callback=False`` turns it off for one call.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar, cast

from fsspec.callbacks import Callback

if TYPE_CHECKING:
    from unifs.engine.report import TransferReport

_MiB = 2**20


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


class ProgressCallback(Callback):
    """An fsspec ``Callback`` drawing one tqdm bar: bytes, files done/total, MiB/s."""

    def __init__(self, description: str = "", *, tqdm_cls: Any = None, **tqdm_kwargs: Any):
        super().__init__()
        if tqdm_cls is None:
            from tqdm.auto import tqdm as auto_tqdm

            tqdm_cls = auto_tqdm
        self.description = description
        self._tqdm_cls = tqdm_cls
        self._kwargs = tqdm_kwargs
        self._bar: Any = None
        self._report: TransferReport | None = None
        self._files = 0
        self._started = time.monotonic()

    def attach(self, report: TransferReport, files: int) -> None:
        """Count files done in ``report`` out of ``files`` (the transfer calls this)."""
        self._report, self._files = report, files

    def _ensure(self) -> Any:
        if self._bar is None:
            options: dict[str, Any] = {
                "desc": self.description,
                "total": self.size,
                "leave": False,
                "bar_format": "{desc}: {percentage:3.0f}%|{bar}| {postfix}",
            }
            options.update(self._kwargs)
            self._bar = self._tqdm_cls(**options)
            self._started = time.monotonic()
        return self._bar

    def _postfix(self) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-6)
        text = (
            f"{_size(self.value)}/{_size(self.size or 0)}, {self.value / elapsed / _MiB:.1f} MiB/s"
        )
        if self._report is not None:
            done = len(self._report.transferred) + len(self._report.failed)
            text += f", {done}/{self._files} files"
        return text

    def set_size(self, size: int) -> None:
        self.size = size
        self._ensure().reset(total=size)
        self._started = time.monotonic()

    def absolute_update(self, value: int) -> None:
        self.relative_update(value - self.value)

    def relative_update(self, inc: int = 1) -> None:
        self.value += inc
        bar = self._ensure()
        bar.set_postfix_str(self._postfix(), refresh=False)
        bar.update(inc)

    def call(self, *args: Any, **kwargs: Any) -> None:
        if self._bar is not None:
            self._bar.n = self.value
            self._bar.set_postfix_str(self._postfix(), refresh=False)

    def close(self) -> None:
        """Draw the final state and close the bar."""
        if self._bar is not None:
            self._bar.set_postfix_str(self._postfix(), refresh=True)
            self._bar.close()

    def __del__(self) -> None:
        bar = getattr(self, "_bar", None)
        if bar is not None:
            with contextlib.suppress(Exception):
                bar.close()


def progress_bar(
    description: str = "", *, terminal: bool = False, **tqdm_kwargs: Any
) -> ProgressCallback:
    """A progress bar in bytes, files done/total and MiB/s to pass as ``callback=``.

    ``tqdm.auto`` draws a widget in notebooks and text elsewhere; ``terminal=True`` uses the
    plain text bar, hidden when stderr is not a terminal, as the ``unifs`` command does.
    ``tqdm_kwargs`` go to tqdm (``file=``, ``leave=``, ``disable=``, ...).
    """
    if terminal:
        from tqdm import tqdm as bar_class

        tqdm_kwargs.setdefault("disable", None)
    else:
        from tqdm.auto import tqdm as bar_class
    return ProgressCallback(description, tqdm_cls=bar_class, **tqdm_kwargs)


def _watched() -> bool:
    """Whether someone is likely watching: a Jupyter kernel, or stderr on a terminal."""
    if os.environ.get("UNIFS_PROGRESS", "").lower() in ("0", "false", "no"):
        return False
    if "ipykernel" in sys.modules:
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def auto_progress(callback: Any, description: str) -> Iterator[Any]:
    """``callback`` as given; for None a bar where someone is watching (closed at the end)."""
    if callback is False:
        yield None
        return
    if callback is not None or not _watched():
        yield callback
        return
    bar = progress_bar(description)
    try:
        yield bar
    finally:
        bar.close()


def attach_report(callback: Any, report: TransferReport, files: int) -> None:
    """Tell a unifs progress bar how many files there are and where to count the done ones."""
    attach = getattr(callback, "attach", None)
    if attach is not None:
        attach(report, files)


_F = TypeVar("_F", bound=Callable[..., Any])


def shows_progress(description: str) -> Callable[[_F], _F]:
    """Decorate a transfer verb so that ``callback=None`` means :func:`auto_progress`.

    The verb's ``callback`` is keyword-only; the bar is closed when the verb returns.
    """

    def wrap(fn: _F) -> _F:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with auto_progress(kwargs.get("callback"), description) as bar:
                    kwargs["callback"] = bar
                    return await fn(*args, **kwargs)

            return cast(_F, run_async)

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            with auto_progress(kwargs.get("callback"), description) as bar:
                kwargs["callback"] = bar
                return fn(*args, **kwargs)

        return cast(_F, run)

    return wrap


def split_callback(callback: Any) -> tuple[Callback | None, Callable[[str, int], None] | None]:
    """An fsspec Callback gets byte progress; a plain ``callback(name, nbytes)`` one per file."""
    if callback is None or callback is False:
        return None, None
    if isinstance(callback, Callback):
        return callback, None
    return None, callback
