""" "Did you mean": the nearest known spelling of a mistyped verb, flag or region (difflib)."""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Iterable, Sequence

__all__ = ["did_you_mean", "suggest_choice", "suggest_flags"]

_CHOICE = re.compile(r"invalid choice: '([^']*)' \(choose from (.*)\)")


def did_you_mean(word: str, known: Iterable[str]) -> str | None:
    """The one known spelling nearest to ``word``, or None when nothing is near."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return close[0] if close else None


def suggest_choice(message: str) -> str:
    """argparse's "invalid choice" message with "did you mean 'cp'?" added when one is near."""
    match = _CHOICE.search(message)
    if not match:
        return message
    known = re.findall(r"'([^']*)'", match.group(2))
    near = did_you_mean(match.group(1), known)
    return f"{message}; did you mean '{near}'?" if near else message


def suggest_flags(parser: argparse.ArgumentParser, extra: Sequence[str]) -> str:
    """ "; did you mean --delete?" for the unknown flags in ``extra`` that are near one."""
    known = [flag for action in parser._actions for flag in action.option_strings]
    hints = []
    for arg in extra:
        if arg.startswith("--"):
            near = did_you_mean(arg.split("=", 1)[0], known)
            if near:
                hints.append(f"{arg.split('=', 1)[0]} -> {near}")
    if len(hints) == 1:
        return f"; did you mean {hints[0].split(' -> ')[1]}?"
    return f"; did you mean {', '.join(hints)}?" if hints else ""
