"""How a transfer runs: one frozen :class:`TransferConfig` instead of a dozen keywords.

The public verbs (``get``, ``put``, ``copy``, ``sync``, ``load_safetensors``, the Dask
runners) take these settings as keywords, as users write them; each verb turns them into a
``TransferConfig`` once (:meth:`TransferConfig.of`, which applies the defaults and checks
them) and hands that one object down through the engine.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar, cast

from unifs.engine.filters import check
from unifs.engine.limits import DEFAULT_CONCURRENCY, DEFAULT_MAX_BUFFER, MiB
from unifs.engine.retries import RetryPolicy

__all__ = [
    "COMMON",
    "KEYWORDS",
    "TransferConfig",
    "config_keywords",
    "patterns",
    "pop_config",
    "takes_config",
]


@dataclass(frozen=True)
class TransferConfig:
    """What to move and how: filters, parallelism, memory, part size, checks, retries."""

    #: patterns on the path below the source prefix, rclone's rules (:mod:`unifs.engine.filters`)
    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] | None = None
    #: requests in flight at once, across all files
    concurrency: int = DEFAULT_CONCURRENCY
    #: ranged-GET / multipart part size; None: chosen per transfer
    part_size: int | None = None
    #: bytes that requests in flight may hold in memory at once
    max_buffer: int = DEFAULT_MAX_BUFFER
    #: compare checksums (not only sizes) with what the store reports
    verify: bool = True
    retries: RetryPolicy = field(default_factory=RetryPolicy)
    #: reuse the parts an earlier, interrupted get left (get only)
    resume: bool = True
    #: seconds a get waits for another one into the same destination (get only)
    lock_timeout: float = 600.0
    #: an fsspec ``Callback`` (bytes) or ``callback(relative, nbytes)`` (per file), or None
    callback: Any = field(default=None, compare=False)

    @classmethod
    def of(
        cls,
        *,
        include: Sequence[str] | str | None = None,
        exclude: Sequence[str] | str | None = None,
        concurrency: int | None = None,
        part_size: int | None = None,
        max_buffer: int | None = None,
        verify: bool = True,
        retries: int | RetryPolicy | None = None,
        resume: bool = True,
        lock_timeout: float = 600.0,
        callback: Any = None,
    ) -> TransferConfig:
        """The config for the keywords a verb was given (None: the default)."""
        if retries is None:
            policy = RetryPolicy()
        elif isinstance(retries, RetryPolicy):
            policy = retries
        else:
            policy = RetryPolicy(attempts=max(1, int(retries) + 1))
        return cls(
            include=patterns(include),
            exclude=patterns(exclude),
            concurrency=max(1, concurrency or DEFAULT_CONCURRENCY),
            part_size=part_size or None,
            max_buffer=max(MiB, max_buffer or DEFAULT_MAX_BUFFER),
            verify=bool(verify),
            retries=policy,
            resume=resume,
            lock_timeout=lock_timeout,
            callback=callback,
        )

    def but(self, **changes: Any) -> TransferConfig:
        """This config with ``changes`` (``config.but(callback=None, include=None)``)."""
        for name in ("include", "exclude"):
            if name in changes:
                changes[name] = patterns(changes[name])
        return replace(self, **changes)


def patterns(value: Sequence[str] | str | None) -> tuple[str, ...] | None:
    """``include``/``exclude`` as a config keeps them: a tuple (one string is one pattern),
    every pattern checked (:class:`~unifs.errors.FilterPatternError` for a malformed one)."""
    if value is None:
        return None
    patterns = (value,) if isinstance(value, str) else tuple(value)
    check(patterns)  # a malformed pattern is refused before anything is listed
    return patterns


#: the keywords a verb takes for its config, as users write them: (annotation, default)
KEYWORDS: dict[str, tuple[str, Any]] = {
    "include": ("Sequence[str] | None", None),
    "exclude": ("Sequence[str] | None", None),
    "concurrency": ("int | None", None),
    "part_size": ("int | None", None),
    "verify": ("bool", True),
    "callback": ("Any", None),
    "max_buffer": ("int | None", None),
    "retries": ("int | RetryPolicy | None", None),
    "resume": ("bool", True),
    "lock_timeout": ("float", 600.0),
}

#: what get, put, copy and sync (and their Dask forms) all take
COMMON = (
    "include", "exclude", "concurrency", "part_size", "verify", "callback", "max_buffer",
    "retries",
)  # fmt: skip

_F = TypeVar("_F", bound=Callable[..., Any])


def config_keywords(fn: Callable[..., Any], names: Sequence[str]) -> inspect.Signature:
    """``fn``'s signature with its ``transfer_config`` parameter given as the keywords
    ``names`` (not called ``config``: a storage option may be, as OCI's is)."""
    signature = inspect.signature(fn)
    params = [p for p in signature.parameters.values() if p.name != "transfer_config"]
    at = next(
        (i for i, p in enumerate(params) if p.kind is inspect.Parameter.VAR_KEYWORD), len(params)
    )
    keywords = [
        inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=KEYWORDS[name][1],
            annotation=KEYWORDS[name][0],
        )
        for name in names
    ]  # fmt: skip
    return signature.replace(parameters=[*params[:at], *keywords, *params[at:]])


def pop_config(kwargs: dict[str, Any], names: Sequence[str]) -> TransferConfig:
    """The config made of the keywords ``names`` in ``kwargs`` (taken out of it)."""
    return TransferConfig.of(**{name: kwargs.pop(name) for name in names if name in kwargs})


def takes_config(*names: str) -> Callable[[_F], _F]:
    """Let callers give ``fn``'s ``transfer_config`` (a :class:`TransferConfig`) as the keywords
    ``names`` (default :data:`COMMON`), written once here rather than in every signature."""
    chosen = names or COMMON

    def wrap(fn: _F) -> _F:
        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, transfer_config=pop_config(kwargs, chosen), **kwargs)

        call.__signature__ = config_keywords(fn, chosen)  # type: ignore[attr-defined]
        return cast(_F, call)

    return wrap
