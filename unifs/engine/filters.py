"""The one path filter: ``include`` / ``exclude`` patterns with rclone's rules.

Every verb that filters the files below a prefix (``get``, ``put``, ``copy``, ``sync``, their
Dask forms, artifacts, the torch datasets, ``unifs du``) filters through :func:`matches`, on
the path relative to the source prefix (``/``-separated, no leading ``/``):

- ``*`` matches any run of characters within one path segment (never ``/``), ``?`` one
  character other than ``/``, ``**`` any run of characters, ``/`` included;
- ``[abc]``, ``[a-z]``, ``[!a-z]`` (or ``[^a-z]``) a character class, ``{a,b}`` either
  alternative, ``\\`` makes the next character literal;
- a pattern with a leading ``/`` is anchored at the source prefix (``/config.json`` is only
  the top-level one); without it the pattern matches the end of the path at any depth, whole
  segments only (``*.json`` keeps ``a/b/c.json``, ``H100/**`` keeps ``H100/x`` and
  ``a/H100/x``, ``b.txt`` does not keep ``ab.txt``);
- a pattern ending in ``/`` names a directory: it keeps (or drops) everything below it, as
  ``dir/**`` does (rclone treats ``--exclude dir/`` so; unifs does the same for include,
  where rclone's rule would keep no file at all).

A path is kept when it matches any include (or no include was given) and no exclude.
:func:`literal` makes the pattern that matches exactly one relative path.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence

from unifs.errors import UnifsError

__all__ = ["FilterPatternError", "check", "compile_pattern", "literal", "matches", "unmatched"]

_SPECIAL = frozenset("*?[]{}\\")


class FilterPatternError(UnifsError, ValueError):
    """An include/exclude pattern is malformed (an unclosed ``[`` or ``{``, a trailing ``\\``)."""


def literal(relative: str) -> str:
    """The pattern that matches ``relative`` (a path below the prefix) and nothing else."""
    return "/" + "".join("\\" + c if c in _SPECIAL else c for c in relative.lstrip("/"))


@functools.lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """``pattern`` as a regular expression over a relative path (see the module's rules)."""
    if not pattern or pattern == "/":
        raise FilterPatternError(
            f"empty filter pattern {pattern!r}: use '**' for everything, or leave the filter out"
        )
    body = pattern
    anchored = body.startswith("/")
    if anchored:
        body = body[1:]
    if body.endswith("/") and not body.endswith("\\/"):
        body += "**"
    regex = _translate(body, pattern)
    return re.compile(("^" if anchored else "(?:^|/)") + regex + "$", re.DOTALL)


def _translate(body: str, pattern: str) -> str:
    out: list[str] = []
    depth = 0  # open '{' groups
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c == "\\":
            if i + 1 >= n:
                raise FilterPatternError(
                    f"filter pattern {pattern!r} ends in '\\': escape a character after it, "
                    "or remove it"
                )
            out.append(re.escape(body[i + 1]))
            i += 2
            continue
        if c == "*":
            if body.startswith("**", i):
                out.append(".*")
                i += 2
            else:
                out.append("[^/]*")
                i += 1
            continue
        if c == "?":
            out.append("[^/]")
        elif c == "[":
            end, cls = _char_class(body, i, pattern)
            out.append(cls)
            i = end
            continue
        elif c == "{":
            depth += 1
            out.append("(?:")
        elif c == "," and depth:
            out.append("|")
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
        else:
            out.append(re.escape(c))
        i += 1
    if depth:
        raise FilterPatternError(
            f"filter pattern {pattern!r} opens '{{' without closing it: write {{a,b}}, or "
            "'\\{' for the character"
        )
    return "".join(out)


def _char_class(body: str, start: int, pattern: str) -> tuple[int, str]:
    """The class opened at ``body[start] == '['``: (index after its ``]``, its regex)."""
    i = start + 1
    negate = i < len(body) and body[i] in "!^"
    if negate:
        i += 1
    items: list[str] = []
    first = True
    while i < len(body):
        c = body[i]
        if c == "]" and not first:
            inner = "".join(items)
            return i + 1, f"[^/{inner}]" if negate else f"(?!/)[{inner}]"
        if c == "\\" and i + 1 < len(body):
            items.append(re.escape(body[i + 1]))
            i += 2
        elif c == "-" and items and i + 1 < len(body) and body[i + 1] != "]":
            items.append("-")
            i += 1
        else:
            items.append(re.escape(c))
            i += 1
        first = False
    raise FilterPatternError(
        f"filter pattern {pattern!r} opens '[' without closing it: write [abc], or '\\[' for "
        "the character"
    )


def _any(relative: str, patterns: Iterable[str]) -> bool:
    return any(compile_pattern(p).search(relative) for p in patterns)


def matches(relative: str, include: Sequence[str] | None, exclude: Sequence[str] | None) -> bool:
    """Whether ``relative`` passes ``include`` (any of, when given) and ``exclude`` (none of)."""
    if include and not _any(relative, include):
        return False
    return not (exclude and _any(relative, exclude))


def check(patterns: Sequence[str] | None) -> None:
    """Raise :class:`FilterPatternError` for the first malformed pattern of ``patterns``."""
    for p in patterns or ():
        compile_pattern(p)


def unmatched(include: Sequence[str], relatives: Iterable[str]) -> list[str]:
    """The patterns of ``include`` that match none of ``relatives``."""
    left = list(dict.fromkeys(include))
    for relative in relatives:
        left = [p for p in left if not compile_pattern(p).search(relative)]
        if not left:
            break
    return left
