"""A transfer verb is written once, async; its blocking twin is derived from it.

:func:`asynchronous` decorates the one implementation of a verb (``aget``, ``acopy``, ...):
awaited from any event loop, it runs on fsspec's IO loop (where async filesystems keep
their sessions), and ``callback=None`` shows a progress bar where someone is watching
(:func:`~unifs.engine.progress.auto_progress`). :func:`blocking` derives the blocking form
(``get``, ``copy``, ...) from it the way fsspec's ``mirror_sync_methods`` derives a
filesystem's blocking methods from its coroutines: the same coroutine, run on the same loop
and waited for (Ctrl-C cancels it and lets it put its files in order). Nothing is written
twice: the signature, the defaults and the docstring are the async function's.

A blocking verb given ``client=`` runs on the cluster behind it instead: the runner
registered for that verb (:mod:`unifs.engine.hooks`) gets every argument.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import warnings
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from unifs.engine.config import COMMON, config_keywords, patterns, pop_config
from unifs.engine.hooks import hook
from unifs.engine.progress import auto_progress
from unifs.engine.report import TransferError, TransferReport
from unifs.engine.scheduling import run_async, run_sync

__all__ = ["asynchronous", "blocking"]

_R = TypeVar("_R")
_Verb = Callable[..., Coroutine[Any, Any, _R]]


def _renamed(name: str, kwargs: dict[str, Any], renamed: Mapping[str, str]) -> None:
    """Move keywords given by an old name to their new one, with a DeprecationWarning."""
    for old, new in renamed.items():
        if old not in kwargs:
            continue
        if new in kwargs:
            raise TypeError(f"{name}() got both {new}= and its old name {old}=; pass {new}= only")
        warnings.warn(
            f"{name}(..., {old}=...) is deprecated: the argument is called {new} now",
            DeprecationWarning,
            stacklevel=3,
        )
        kwargs[new] = kwargs.pop(old)


@contextlib.contextmanager
def _unmatched_told(include: Any) -> Iterator[Callable[[_R], _R]]:
    """Tell the transfer's report which ``include`` patterns kept no file: the report it
    returns (through the function this yields) or the one a TransferError carries."""
    wanted = patterns(include)

    def told(result: _R) -> _R:
        if isinstance(result, TransferReport):
            result.check_includes(wanted)
        return result

    try:
        yield told
    except TransferError as exc:
        told(exc.report)
        raise


def asynchronous(
    description: str,
    *,
    config: Sequence[str] = COMMON,
    renamed: Mapping[str, str] | None = None,
) -> Callable[[_Verb[_R]], _Verb[_R]]:
    """Decorate the one async implementation of a transfer verb.

    The implementation takes a ``transfer_config`` (:class:`~unifs.engine.config.TransferConfig`);
    its callers give the keywords ``config`` names instead (:data:`COMMON` by default),
    which become its signature. ``description`` labels its progress bar; ``renamed`` maps
    old keyword names to the current ones (accepted with a DeprecationWarning).
    """
    renames = dict(renamed or {})
    names = tuple(config)

    def wrap(fn: _Verb[_R]) -> _Verb[_R]:
        @functools.wraps(fn)
        async def verb(*args: Any, **kwargs: Any) -> _R:
            _renamed(fn.__name__, kwargs, renames)
            with auto_progress(kwargs.get("callback"), description) as bar:
                kwargs["callback"] = bar
                made = pop_config(kwargs, names)
                with _unmatched_told(made.include) as told:
                    return told(await run_async(fn(*args, transfer_config=made, **kwargs)))

        verb.__signature__ = config_keywords(fn, names)  # type: ignore[attr-defined]
        verb._unifs_verb = (fn, description, renames, names)  # type: ignore[attr-defined]
        return verb

    return wrap


def blocking(verb: _Verb[_R], name: str, *, distributed: bool = False) -> Callable[..., _R]:
    """The blocking twin of ``verb`` (made by :func:`asynchronous`), called ``name``.

    With ``distributed`` the twin also takes ``client=`` (a cluster client): the hook
    registered as ``name`` then runs the verb there, with every other argument as given.
    """
    fn, description, renames, names = verb._unifs_verb  # type: ignore[attr-defined]

    @functools.wraps(fn)
    def twin(*args: Any, **kwargs: Any) -> _R:
        _renamed(name, kwargs, renames)
        client = kwargs.pop("client", None) if distributed else None
        with auto_progress(kwargs.get("callback"), description) as bar:
            if client is not None:
                # the bar is drawn here already: None now means no bar
                kwargs["callback"] = False if bar is None else bar
                with _unmatched_told(kwargs.get("include")) as told:
                    result: _R = hook(name)(*args, client=client, **kwargs)
                    return told(result)
            kwargs["callback"] = bar
            made = pop_config(kwargs, names)
            with _unmatched_told(made.include) as told:
                return told(run_sync(fn(*args, transfer_config=made, **kwargs)))

    twin.__name__ = twin.__qualname__ = name
    twin.__doc__ = (
        f"{inspect.getdoc(fn) or ''}\n\nThis is the blocking form of :func:`{fn.__name__}`: "
        "the same coroutine, run on fsspec's IO loop and waited for."
    )
    signature = config_keywords(fn, names)
    if distributed:
        params = list(signature.parameters.values())
        at = next(
            (i for i, p in enumerate(params) if p.kind is inspect.Parameter.VAR_KEYWORD),
            len(params),
        )
        takes = inspect.Parameter("client", inspect.Parameter.KEYWORD_ONLY, default=None)
        signature = signature.replace(parameters=[*params[:at], takes, *params[at:]])
    twin.__signature__ = signature  # type: ignore[attr-defined]
    return twin
