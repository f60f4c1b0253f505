"""The one place where an exception becomes a one-line message and an exit status.

``explain(exc, args)`` walks the exception and its causes, recognizes what the SDKs raise
for the mistakes people make (no credentials, a missing OCI config, a refused key or SAS,
an unreachable endpoint, a bucket or object that does not exist, a destination that cannot
be written) and says what was wrong and how to fix it. Everything it returns is masked
(:func:`unifs.redact.mask_secrets`) and on one line.

Exit status: 0 ok, 1 some files failed (or an unexpected error), 2 bad usage, auth or not
found, 130 interrupted.
"""

from __future__ import annotations

import argparse
import traceback

from unifs.errors import causes
from unifs.redact import mask_secrets

OK, FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130

_NAME_HINTS = {
    "NoCredentialsError": (
        "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or "
        "AWS_PROFILE, or pass -o key=... -o secret=... (-o anon=true for a public bucket)"
    ),
    "PartialCredentialsError": (
        "incomplete AWS credentials: give both the access key id and the secret "
        "(-o key=... -o secret=...)"
    ),
    "ConfigFileNotFound": (
        "no OCI config file{where}: run 'oci setup config', point -a config_file=... at one, "
        "or choose another mode with -a auth=instance_principal|resource_principal|..."
    ),
    "InvalidPrivateKey": (
        "the OCI API key could not be read: check key_file and its pass phrase "
        "(-a pass_phrase=... or OCI_CLI_PASSPHRASE)"
    ),
    "MissingPrivateKeyPassphrase": (
        "the OCI API key is encrypted: give its pass phrase with -a pass_phrase=..."
    ),
    "DefaultCredentialsError": (
        "no usable Google credentials: set GOOGLE_APPLICATION_CREDENTIALS to a key file, "
        "pass -o token=PATH, or -o token=anon for a public bucket ({detail})"
    ),
    "RefreshError": (
        "Google refused the credentials ({detail}): make a new service-account key, or check "
        "the token file"
    ),
    "MalformedError": "the Google credentials file is not a valid key ({detail})",
    "ClientAuthenticationError": (
        "Azure refused the credentials ({detail}): check the account key, or the SAS token "
        "(tampered, expired, or missing a permission)"
    ),
    "EndpointConnectionError": (
        "could not connect to {detail}: check -o endpoint_url and that the server is up"
    ),
    "ConnectTimeoutError": "timed out connecting to {detail}: check the endpoint",
    "MetadataServiceUnreachable": "{detail}",
}

_S3_AUTH_CODES = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "ExpiredToken")


def _first_line(text: str) -> str:
    return " ".join(text.split())


def _where(args: argparse.Namespace, exc: BaseException) -> str:
    """The URI a not-found is about: what the verb was given (its source, for two ends)."""
    return str(getattr(args, "uri", None) or getattr(args, "src", None) or exc)


def _status(exc: BaseException) -> int | None:
    for attr in ("status", "status_code", "code"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and 100 <= value < 600:
            return value
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        value = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(value, int):
            return value
    return None


def _from_google(exc: BaseException) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    return any("/google/" in frame.filename for frame in frames[-3:])


def _explain(exc: BaseException, args: argparse.Namespace) -> tuple[str, int]:
    from unifs.errors import UnifsError
    from unifs.transfer.report import TransferError

    if isinstance(exc, UnifsError) and not isinstance(exc, TransferError):
        return _first_line(str(exc)), USAGE  # unifs's own messages say what to do
    for cause in causes(exc, hidden=False):
        name = type(cause).__name__
        if name in _NAME_HINTS:
            detail = _first_line(str(cause))[:200]
            where = ""
            if name == "ConfigFileNotFound":
                path = detail.split("at ")[-1] if " at " in detail else ""
                where = f" at {path}" if path else ""
            return _NAME_HINTS[name].format(detail=detail, where=where), USAGE
        if name == "ClientError":  # botocore: the service said no
            code = getattr(cause, "response", {}).get("Error", {}).get("Code", "")
            if code in _S3_AUTH_CODES:
                return (
                    f"S3 refused the credentials ({code}): check the key and secret, "
                    "and -o endpoint_url for a non-AWS store"
                ), USAGE
            if code in ("NoSuchBucket", "NoSuchKey", "404"):
                return f"{_where(args, exc)}: not found ({code})", USAGE
        if name == "HttpResponseError" and _status(cause) == 403:
            return _NAME_HINTS["ClientAuthenticationError"].format(
                detail=getattr(cause, "error_code", None) or "403"
            ), USAGE
        if isinstance(cause, KeyError) and _from_google(cause):
            return (
                f"the Google credentials file lacks the field {cause} a key needs: make a "
                "new service-account key (JSON), or pass -o token=anon"
            ), USAGE
        if isinstance(cause, TypeError) and "unexpected keyword argument" in str(cause):
            option = str(cause).split("unexpected keyword argument")[-1].strip(" '\"")
            return (
                f"the backend does not take the storage option {option!r}: check the "
                "-o names (docs/auth.md lists each provider's)"
            ), USAGE
        if isinstance(cause, (NotADirectoryError, FileExistsError)):
            path = str(getattr(cause, "filename", None) or _where(args, exc))
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
            missing = getattr(cause, "filename", None)
            if missing and str(missing).startswith(("/", ".")) and "://" not in str(missing):
                return f"{missing}: no such file or directory", USAGE
            return (
                f"{_where(args, exc)}: not found (no such bucket, object or prefix); "
                "check the name with 'unifs ls'"
            ), USAGE
        if isinstance(cause, ConnectionRefusedError):
            return f"could not connect: {_first_line(str(cause))}; check the endpoint", USAGE
    if isinstance(exc, UnifsError | ValueError):
        from unifs.transfer import TransferError

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
