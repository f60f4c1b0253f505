"""The one place where an exception becomes a one-line message and an exit status.

``explain(exc, args)`` walks the exception and its causes and says what was wrong and how
to fix it. What an SDK raises (no credentials, a missing OCI config, a refused key or SAS,
an unreachable endpoint, a bucket or object that does not exist) each provider explains
itself (:meth:`unifs.providers.base.Provider.explain_error`), asked about every cause;
this module knows only unifs's own errors and the built-in ones (a destination that cannot
be written, a file in the way, an unknown storage option). Everything it returns is
masked (:func:`unifs.redact.mask_secrets`) and on one line.

Exit status: 0 ok, 1 some files failed (or an unexpected error), 2 bad usage, auth or not
found, 130 interrupted.
"""

from __future__ import annotations

import argparse

from unifs.errors import TransferError, UnifsError, causes
from unifs.redact import mask_secrets
from unifs.registry import providers

OK, FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130


def _first_line(text: str) -> str:
    return " ".join(text.split())


def _where(args: argparse.Namespace, exc: BaseException) -> str:
    """The URI a not-found is about: what the verb was given (its source, for two ends)."""
    return str(getattr(args, "uri", None) or getattr(args, "src", None) or exc)


def _not_found(cause: FileNotFoundError, where: str) -> str:
    """What does not exist, and the ``unifs ls`` that shows what does."""
    from unifs.registry import get_provider
    from unifs.uri import parse

    missing = getattr(cause, "filename", None)
    if missing and str(missing).startswith(("/", ".")) and "://" not in str(missing):
        return f"no such file or directory: {missing}"
    try:
        uri = parse(where)
    except Exception:  # not a URI unifs reads: say what is known
        return f"{where}: not found"
    provider = get_provider(uri.provider)
    if uri.bucket is None:
        return f"no such file or directory: {uri.key if provider.local_disk else where}"
    typed = where.partition("://")[0].lower()
    scheme = typed if typed in provider.schemes else provider.schemes[0]
    buckets = f"unifs ls {scheme}://"
    word = provider.bucket_word
    if not uri.key.strip("/"):
        return (
            f"{where}: not found: no {word} '{uri.bucket}' (or it cannot be listed); "
            f"list {word}s with `{buckets}`"
        )
    parent = where.rstrip("/").rpartition("/")[0] + "/"
    return (
        f"{where}: not found (no such object or prefix); list what is there with "
        f"`unifs ls {parent}` ({word}s with `{buckets}`)"
    )


def _explain(exc: BaseException, args: argparse.Namespace) -> tuple[str, int]:
    if isinstance(exc, UnifsError) and not isinstance(exc, TransferError):
        return _first_line(str(exc)), USAGE  # unifs's own messages say what to do
    where = _where(args, exc)
    known = providers()
    for cause in causes(exc, hidden=False):
        for provider in known:
            advice = provider.explain_error(cause, uri=where)
            if advice is not None:
                return advice, USAGE
        if isinstance(cause, TypeError) and "unexpected keyword argument" in str(cause):
            option = str(cause).split("unexpected keyword argument")[-1].strip(" '\"")
            return (
                f"the backend does not take the storage option {option!r}: check the "
                "-o names (docs/auth.md lists each provider's)"
            ), USAGE
        if isinstance(cause, (NotADirectoryError, FileExistsError)):
            path = str(getattr(cause, "filename", None) or where)
            return (
                f"{path}: a file is in the way (the destination runs through an "
                "existing file): choose another destination"
            ), USAGE
        if isinstance(cause, PermissionError):
            denied = getattr(cause, "filename", None)
            if denied:
                return (
                    f"cannot write {denied}: permission denied; "
                    "choose a destination you can write to"
                ), USAGE
            return f"access denied: {_first_line(str(cause))}", USAGE
        if isinstance(cause, FileNotFoundError):
            return _not_found(cause, where), USAGE
        if type(cause) is OSError and cause.strerror:
            # what an fsspec backend raises for a request the store refused (s3fs's
            # translated ClientError, e.g. a bucket name taken or a region it rejects)
            hint = (
                "; check the region (-a region=...)"
                if "location" in cause.strerror.lower() or "region" in cause.strerror.lower()
                else ""
            )
            return f"{where}: refused: {_first_line(cause.strerror)}{hint}", USAGE
        if isinstance(cause, ConnectionRefusedError):
            return f"could not connect: {_first_line(str(cause))}; check the endpoint", USAGE
    if isinstance(exc, UnifsError | ValueError):
        return _first_line(str(exc)), FAILED if isinstance(exc, TransferError) else USAGE
    text = _first_line(str(exc)) or type(exc).__name__
    return f"{type(exc).__name__}: {text} (run with --debug for the traceback)", FAILED


def explain(exc: BaseException, args: argparse.Namespace) -> tuple[str, int]:
    """``(one masked line, exit status)`` for an exception a verb raised."""
    message, status = _explain(exc, args)
    line = mask_secrets(_first_line(message))
    if len(line) > 600:
        line = line[:597] + "..."
    return line, status
