"""Progress callbacks: a tqdm bar, or a plain per-file callable."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fsspec.callbacks import Callback


def progress_bar(description: str = "", *, terminal: bool = False, **tqdm_kwargs: Any) -> Callback:
    """A tqdm progress bar in bytes to pass as ``callback=``: a widget in notebooks.

    ``terminal=True`` uses the plain text bar (hidden when stderr is not a terminal), as the
    ``unifs`` command does; ``tqdm_kwargs`` go to tqdm.
    """
    from fsspec.callbacks import TqdmCallback

    if terminal:
        from tqdm import tqdm as bar_class
    else:
        from tqdm.auto import tqdm as bar_class
    options: dict[str, Any] = {
        "desc": description,
        "unit": "B",
        "unit_scale": True,
        "unit_divisor": 1024,
        "leave": False,
        "disable": None if terminal else False,
    }
    options.update(tqdm_kwargs)
    return TqdmCallback(tqdm_kwargs=options, tqdm_cls=bar_class)


def _split_callback(callback: Any) -> tuple[Callback | None, Callable[[str, int], None] | None]:
    """An fsspec Callback gets byte progress; a plain ``callback(name, nbytes)`` one per file."""
    if callback is None:
        return None, None
    from fsspec.callbacks import Callback

    if isinstance(callback, Callback):
        return callback, None
    return None, callback
