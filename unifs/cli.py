"""The ``unifs`` command: the library's verbs from a shell, one module per verb.

Each verb lives in :mod:`unifs.commands` (``unifs/commands/<verb>.py``) with its own help
and examples; this module builds the parser, and :func:`main` is the one place where an
exception becomes a one-line message on stderr and an exit status
(:func:`unifs.commands.errors.explain`): 0 ok, 1 some files failed, 2 bad usage, auth or
not found, 130 interrupted. ``--debug`` shows the traceback instead. Messages have any
signature, token or SAS masked (:func:`unifs.redact.mask_secrets`); ``presign`` prints its
URL because it was asked for.

One option vocabulary for every verb: storage options are ``-o/--option name=value``
(values are read as JSON when they parse, e.g. ``-o anon=true``), auth parameters
``-a/--auth name=value``; verbs with two ends take the destination's as
``-O/--dst-option`` and ``-A/--dst-auth``; files a verb writes are named with
``--output``; ``-h`` is help everywhere (``-H`` is human-readable sizes).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from unifs.commands.shared import with_options
from unifs.redact import mask_secrets

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse, with secrets masked in its usage errors, no abbreviated flags (``sync
    --delet`` is not ``--delete``) and "did you mean" for a mistyped verb."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        from unifs.commands.suggest import suggest_choice

        super().error(mask_secrets(suggest_choice(message)))


def _parser() -> argparse.ArgumentParser:
    from unifs import __version__
    from unifs.commands import register_all

    parser = _Parser(
        prog="unifs",
        description="One storage layer over OCI Object Storage, AWS S3, GCS and Azure Blob.",
        epilog="exit status: 0 ok, 1 some files failed, 2 bad usage, auth or not found. "
        "Run 'unifs COMMAND --help' for a verb's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"unifs {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    register_all(sub, with_options)
    return parser


def _quiet_sdk_logs(debug: bool) -> None:
    """SDKs log errors they then raise (ocifs does): the one-line message says it once.

    Without a handler Python prints WARNING and above to stderr; a NullHandler on the root
    logger stops that. ``--debug`` logs everything instead, with secrets masked.
    """
    import logging

    from unifs.redact import RedactingFilter

    root = logging.getLogger()
    if debug:
        handler = logging.StreamHandler()
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
    elif not any(isinstance(h, logging.NullHandler) for h in root.handlers):
        root.addHandler(logging.NullHandler())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``unifs`` command; return its exit status."""
    from unifs.commands.errors import INTERRUPTED, explain

    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # --debug is honoured anywhere on the line, not only before the verb
    debug = "--debug" in argv
    argv = [arg for arg in argv if arg != "--debug"]
    args, extra = parser.parse_known_args(argv)
    args.debug = debug
    if extra:
        # the verb's own usage, not the top level's
        verbs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        from unifs.commands.suggest import suggest_flags

        verb = verbs.choices[args.command]
        verb.error(f"unrecognized arguments: {' '.join(extra)}" + suggest_flags(verb, extra))
    _quiet_sdk_logs(args.debug)
    try:
        from unifs.commands.shared import check_regions

        check_regions(args)
        status: int = args.run(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (`unifs ls ... | head`): not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"unifs {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except Exception as exc:
        if args.debug:
            raise
        message, status = explain(exc, args)
        print(f"unifs {args.command}: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
