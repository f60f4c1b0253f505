"""Progress: one bar in bytes with files done/total and MiB/s, or a plain per-file callable.

``progress_bar`` makes the bar (``tqdm.auto``: a widget in notebooks, text in a terminal).
The library shows one by default where someone is watching: :func:`auto_progress` gives a
bar when ``callback`` is None and the code runs in a Jupyter kernel or stderr is a
terminal, unless ``UNIFS_PROGRESS=0``; ``callback=False`` turns it off for one call.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import inspect
import os
import sys
import threading
import time
import weakref
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


#: the rate shown is over the last this many seconds, so it falls to 0 when nothing arrives
RATE_WINDOW = 5.0
#: how often the bar is redrawn when no bytes arrive (files finishing, the rate decaying)
REFRESH_SECONDS = 1.0


class _Text:
    """The bar's text as tqdm's ``postfix``: not a ``str``, so tqdm prints it as it is
    instead of prefixing ``", "`` (``| , 24.0 MiB/...``)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text

    def __format__(self, spec: str) -> str:
        return format(self.text, spec)


class ProgressCallback(Callback):
    """An fsspec ``Callback`` drawing one tqdm bar: bytes, files done/total, MiB/s.

    The rate is over the last :data:`RATE_WINDOW` seconds (it decays to 0 while nothing
    arrives), and the bar is redrawn every ``refresh_every`` seconds from a daemon thread
    even when no bytes arrive, so files are counted as they finish (None: redraw only on
    updates and :meth:`tick`). ``clock`` is the time source (``time.monotonic``).
    """

    def __init__(
        self,
        description: str = "",
        *,
        tqdm_cls: Any = None,
        refresh_every: float | None = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        **tqdm_kwargs: Any,
    ):
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
        self._clock = clock
        self._refresh_every = refresh_every
        self._closed = threading.Event()
        self._samples: collections.deque[tuple[float, float]] = collections.deque()
        self._restart()

    def _restart(self) -> None:
        self._samples.clear()
        self._samples.append((self._clock(), self.value))

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
                "postfix": self._postfix(),  # the first draw has the text too
            }
            options.update(self._kwargs)
            self._bar = self._tqdm_cls(**options)
            self._restart()
            if self._refresh_every and not getattr(self._bar, "disable", False):
                # the thread holds the bar weakly: one nobody closes still goes away
                threading.Thread(
                    target=_redraw_until_closed,
                    args=(weakref.ref(self), self._closed, self._refresh_every),
                    name="unifs-progress",
                    daemon=True,
                ).start()
        return self._bar

    def rate(self) -> float:
        """Bytes per second over the last :data:`RATE_WINDOW` seconds (0 when none came)."""
        now = self._clock()
        cutoff = now - RATE_WINDOW
        samples = self._samples
        while len(samples) > 1 and samples[1][0] <= cutoff:
            samples.popleft()
        start, base = samples[0]
        return max(self.value - base, 0) / max(now - start, 1e-6)

    def _sample(self) -> None:
        now = self._clock()
        if len(self._samples) > 1 and now - self._samples[-1][0] < 0.1:
            self._samples[-1] = (self._samples[-1][0], self.value)  # bounded: ~10 a second
        else:
            self._samples.append((now, self.value))

    def _postfix(self) -> _Text:
        text = f"{_size(self.value)}/{_size(self.size or 0)}, {self.rate() / _MiB:.1f} MiB/s"
        if self._report is not None:
            done = len(self._report.transferred) + len(self._report.failed)
            text += f", {done}/{self._files} files"
        return _Text(text)

    def set_size(self, size: int) -> None:
        self.size = size
        self._ensure().reset(total=size)
        self._restart()

    def absolute_update(self, value: int) -> None:
        self.relative_update(value - self.value)

    def relative_update(self, inc: int = 1) -> None:
        self.value += inc
        bar = self._ensure()
        self._sample()
        bar.postfix = self._postfix()
        bar.update(inc)

    def call(self, *args: Any, **kwargs: Any) -> None:
        if self._bar is not None:
            self._bar.n = self.value
            self._bar.postfix = self._postfix()

    def tick(self) -> None:
        """Redraw now: the rate as of this moment and the files finished so far."""
        if self._bar is not None and not self._closed.is_set():
            self._bar.n = self.value
            self._bar.postfix = self._postfix()
            self._bar.refresh()

    def close(self) -> None:
        """Draw the final state and close the bar."""
        self._closed.set()
        if self._bar is not None:
            self._bar.n = self.value
            self._bar.postfix = self._postfix()
            self._bar.refresh()
            self._bar.close()

    def __del__(self) -> None:
        closed = getattr(self, "_closed", None)
        if closed is not None:
            closed.set()
        bar = getattr(self, "_bar", None)
        if bar is not None:
            with contextlib.suppress(Exception):
                bar.close()


def _redraw_until_closed(
    ref: weakref.ref[ProgressCallback], closed: threading.Event, every: float
) -> None:
    while not closed.wait(every):
        callback = ref()
        if callback is None:
            return
        with contextlib.suppress(Exception):  # a bar torn down under us: stop quietly
            callback.tick()
        del callback


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
