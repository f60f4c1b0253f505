"""Mask secrets in text: signatures and tokens in URLs, credentials in headers and configs.

One mechanism, used everywhere unifs shows text: error messages (every :class:`UnifsError`
and ``URIError.uri``), ``repr`` of resolved options, CLI output, and the log records of the
SDKs unifs drives.

- :func:`mask_secrets` returns ``text`` with every secret it recognizes replaced by ``***``:
  presigned-URL signatures and credentials (``X-Amz-Signature``, ``X-Amz-Security-Token``,
  ``X-Amz-Credential``, ``X-Goog-Signature``, ``X-Goog-Credential``, SigV2 ``Signature``),
  a whole Azure SAS query (every value of a query that carries ``sig``), OCI PAR tokens
  (``/p/{token}/``), ``Authorization`` and ``X-Amz-Security-Token`` header values, bearer
  tokens, OCI session tokens in a signature's ``keyId``, secrets in configs, dict reprs,
  JSON and STS XML (``secret``, ``token``, ``key_content``, ``SessionToken``, ...), PEM
  private keys, and passwords in URLs.
- :class:`RedactingFilter` is a :class:`logging.Filter` that applies it to a record's message
  and traceback; attach it to a handler to mask everything that handler writes.
- :func:`install_log_filters` attaches one to the loggers of the SDKs behind unifs
  (botocore, aiobotocore, s3fs, urllib3, requests, azure, adlfs, google-auth, gcsfs, oci,
  ocifs, aiohttp, fsspec, unifs) and their children, and wraps the log-record factory so
  that their loggers made later are masked too; their DEBUG logs carry no secret. unifs
  calls it whenever it resolves a URI's options or creates a filesystem (importing unifs
  changes no logging); it is idempotent and costs a walk over the logger table.

Masking is by shape, so it errs on the side of hiding: an object key that happens to look
like ``/p/{x}/n/...`` is shown masked too.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = [
    "MASK",
    "SDK_LOGGERS",
    "RedactingFilter",
    "install_log_filters",
    "is_secret",
    "mask",
    "mask_secrets",
]

MASK = "***"

#: Root loggers of the libraries unifs drives; their children are covered too.
SDK_LOGGERS: tuple[str, ...] = (
    "adlfs",
    "aiobotocore",
    "aiohttp",
    "azure",
    "boto3",
    "botocore",
    "fsspec",
    "gcsfs",
    "google",
    "oci",
    "ocifs",
    "requests",
    "s3fs",
    "s3transfer",
    "unifs",
    "urllib3",
)

# -- what a secret looks like --------------------------------------------------------------

# name=value pairs (URL queries, connection strings, the AWS Authorization header's fields)
_PARAM = re.compile(
    r"(?i)(?<![\w.-])("
    r"x-amz-signature|x-amz-security-token|x-amz-credential|x-goog-signature|x-goog-credential"
    r"|signature|sig|awsaccesskeyid|security-token|x-oss-signature|access_token|id_token"
    r"|refresh_token|client_secret|accountkey|sharedaccesssignature|password|passwd|token"
    r"|credential|assertion"
    r")=([^&\s'\"#<>;,\\]+)"
)
# a URL query that carries an Azure SAS: every value goes, not only sig
_QUERY = re.compile(r"\?([^\s'\"#<>\\]+)")
_SAS = re.compile(r"(?i)(?:^|&)sig=")
_QUERY_VALUE = re.compile(r"=([^&]*)")
# OCI pre-authenticated requests: the token right after the host, or before /n/{ns}/
_PAR_AFTER_HOST = re.compile(r"(?i)(https?://[^/\s'\"]+/p/)([^/\s'\"?#\\]+)")
_PAR_BEFORE_NS = re.compile(r"(/p/)([^/\s'\"?#\\]+)(?=/n/)")
# header values: quoted (dict reprs) or to the end of the line (raw header dumps)
_HEADER = re.compile(
    r"(?im)(?P<pre>['\"]?\b(?:authorization|proxy-authorization|x-amz-security-token"
    r"|x-goog-iam-authorization-token|opc-obo-token|x-ms-encryption-key"
    r"|x-amz-server-side-encryption-customer-key|cookie)['\"]?\s*:\s*)"
    r"(?:(?P<b>b?)(?P<q>['\"])(?P<quoted>.*?)(?P=q)|(?P<bare>[^\r\n]+))"
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)([A-Za-z0-9._~+/=-]+)")
_SHARED_KEY = re.compile(r"(?i)\b(sharedkey(?:lite)?\s+[^:\s]+:)([A-Za-z0-9+/=]+)")
# botocore.auth's DEBUG line "Signature:\n<hex>"
_SIGNATURE_LINE = re.compile(r"(?i)(\bsignature:\s*)([0-9a-f]{16,}|[A-Za-z0-9+/=]{20,})")
# OCI signatures: signature="..." and a session token in keyId="ST$<token>"
_OCI_SIGNATURE = re.compile(r"(?i)(\bsignature=\")([^\"]*)")
_SESSION_KEY_ID = re.compile(r"(ST\$)([^\"'\s,]+)")
# secrets by field name in dict reprs, JSON and YAML-ish text: 'secret': 'value'
_FIELD = re.compile(
    r"(?i)(['\"](?:secret|token|key_content|pass_phrase|passphrase|security_token|private_key"
    r"|secret_access_key|aws_secret_access_key|session_token|aws_session_token|access_token"
    r"|refresh_token|id_token|client_secret|account_key|sas_token|connection_string|password"
    r"|credential|key_json|SecretAccessKey|SessionToken|assertion)['\"]\s*:\s*b?)"
    r"(['\"])(.*?)(?<!\\)\2"
)
_XML = re.compile(
    r"(?i)(<(SecretAccessKey|SessionToken|Token|AccessToken|SignatureValue)>)([^<]*)(</\2>)"
)
_PEM = re.compile(
    r"(-----BEGIN [A-Z ]*PRIVATE KEY-----)(.*?)(-----END [A-Z ]*PRIVATE KEY-----)", re.DOTALL
)
_USERINFO = re.compile(r"(?i)(https?://)([^/@\s'\"]+:[^/@\s'\"]+)@")


def _mask_query(match: re.Match[str]) -> str:
    query = match.group(1)
    if _SAS.search(query):
        return "?" + _QUERY_VALUE.sub("=" + MASK, query)
    return match.group(0)


def _mask_header(match: re.Match[str]) -> str:
    if match.group("q"):
        return f"{match.group('pre')}{match.group('b')}{match.group('q')}{MASK}{match.group('q')}"
    return match.group("pre") + MASK


def mask_secrets(text: str) -> str:
    """``text`` with every secret unifs recognizes in it replaced by ``***``.

    Safe on any text (URLs, messages, header dumps, reprs); returns ``text`` unchanged when
    it holds nothing to mask.
    """
    if not isinstance(text, str) or not text:
        return text
    text = _PEM.sub(rf"\1{MASK}\3", text)
    text = _USERINFO.sub(rf"\1{MASK}@", text)
    text = _QUERY.sub(_mask_query, text)
    text = _HEADER.sub(_mask_header, text)
    text = _PARAM.sub(rf"\1={MASK}", text)
    text = _PAR_AFTER_HOST.sub(rf"\1{MASK}", text)
    text = _PAR_BEFORE_NS.sub(rf"\1{MASK}", text)
    text = _BEARER.sub(rf"\1{MASK}", text)
    text = _SHARED_KEY.sub(rf"\1{MASK}", text)
    text = _OCI_SIGNATURE.sub(rf"\1{MASK}", text)
    text = _SIGNATURE_LINE.sub(rf"\1{MASK}", text)
    text = _SESSION_KEY_ID.sub(rf"\1{MASK}", text)
    text = _FIELD.sub(rf"\1\2{MASK}\2", text)
    return _XML.sub(rf"\1{MASK}\4", text)


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets (see :func:`mask_secrets`) in every record.

    It never drops a record. Attached to a logger it sees what that logger itself logs;
    attached to a handler, everything the handler writes.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error handling
            return True
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when set: format the traceback once, masked
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = mask_secrets(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_secrets(record.stack_info)
        return True


_FILTER = RedactingFilter()
_roots: set[str] = set()
_prefixes: tuple[str, ...] = ()
_covered: set[str] = set()


def _is_covered(name: str) -> bool:
    return name in _roots or name.startswith(_prefixes)


def _masking_factory(
    previous: Callable[..., logging.LogRecord],
) -> Callable[..., logging.LogRecord]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _is_covered(record.name):
            _FILTER.filter(record)
        return record

    factory.unifs_redacting = True  # type: ignore[attr-defined]
    return factory


def install_log_filters(roots: Iterable[str] = SDK_LOGGERS, *, later: bool = True) -> None:
    """Mask secrets in every record the loggers ``roots`` and their children log.

    Attaches :class:`RedactingFilter` to each of those loggers that exists now and, with
    ``later``, wraps the log-record factory so that loggers made later are masked too: the
    OCI SDK makes one per client, and SDK modules imported later make theirs (a logger's
    filters only see what that logger itself logs, never its children's). Idempotent and
    cheap: a walk over the logger table; no level, handler or propagation is changed.
    """
    global _prefixes
    wanted = tuple(roots)
    new = set(wanted) - _roots
    if later and new:
        _roots.update(new)
        _prefixes = tuple(f"{root}." for root in sorted(_roots))
    current = logging.getLogRecordFactory()
    if later and not getattr(current, "unifs_redacting", False):
        logging.setLogRecordFactory(_masking_factory(current))
    prefixes = tuple(f"{root}." for root in wanted)
    for name in [*wanted, *logging.Logger.manager.loggerDict]:
        if name in _covered or not (name in wanted or name.startswith(prefixes)):
            continue
        logger = logging.Logger.manager.loggerDict.get(name)
        if logger is None and name in wanted:
            logger = logging.getLogger(name)
        if not isinstance(logger, logging.Logger):
            continue  # a placeholder: a logger later, masked by the record factory
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(_FILTER)
        _covered.add(name)


# -- secrets by name (auth parameters, storage options) --------------------------------------

# Names that hold secrets whatever the provider; providers add theirs through Param.secret.
_SECRET_NAME = re.compile(
    r"(secret|password|passphrase|pass_phrase|token$|_token$|sas|connection_string|"
    r"account_key|key_content|key_json|private_key|credential)",
    re.IGNORECASE,
)
_NOT_SECRET = re.compile(r"(_id|_file|_path|_arn|_name|_url|_endpoint)$", re.IGNORECASE)


def is_secret(name: str) -> bool:
    """True if a parameter of this name holds a secret and must be masked."""
    return bool(_SECRET_NAME.search(name)) and not _NOT_SECRET.search(name)


def mask(name: str, value: Any) -> Any:
    """``value`` as it may be shown: secrets become ``'***'``; nested mappings are masked."""
    if isinstance(value, Mapping):
        return {k: mask(str(k), v) for k, v in value.items()}
    if is_secret(name) and value is not None:
        return MASK
    return value
