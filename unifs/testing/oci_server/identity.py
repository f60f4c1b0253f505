"""Make throwaway OCI API-key identities, and check the requests they sign as OCI does.

:class:`OCITestIdentity` is the client side: a real RSA key pair with dummy OCIDs, written
out as an SDK config. :class:`_SignatureCheck` is the server side: :class:`OCIServer`
verifies every request outside ``/p/`` against the identities it trusts. The refusals are
here too: a bad signature, and a pre-authenticated request used beyond what it allows.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import logging
import re
import threading
from datetime import timedelta, timezone

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from unifs.providers.oci_identity import DEFAULT_REGION, APIKeyIdentity
from unifs.testing.oci_server.http import _R_OBJECT, _R_UPLOAD, _OCIError, _Request
from unifs.testing.oci_server.store import _utcnow

# one logger for the whole server, under the name it had as a single module
logger = logging.getLogger("unifs.testing.oci_server")

__all__ = ["DEFAULT_REGION", "OCITestIdentity"]


class OCITestIdentity(APIKeyIdentity):
    """A throwaway OCI API-key identity the test server can trust (see :class:`APIKeyIdentity`).

    The private key never appears in ``repr``; pass :meth:`config` to the SDK or ocifs.
    """


def _not_authenticated(detail: str) -> _OCIError:
    # The detail goes to the server log only; OCI's answer does not say what was wrong.
    logger.info("OCI server refused a request: %s", detail)
    return _OCIError(
        401,
        "NotAuthenticated",
        "The required information to complete authentication was not provided or was incorrect.",
    )


def _par_denied() -> _OCIError:
    # OCI answers every refused pre-authenticated request the same way, so a PAR holder
    # cannot tell an expired, revoked or out-of-scope URL from a missing object.
    return _OCIError(
        404,
        "NotAuthorizedOrNotFound",
        "Either the pre-authenticated request does not exist, has expired, or does not "
        "allow this operation.",
    )


class _SignatureCheck:
    """Verify OCI HTTP signatures against the trusted keys (a base of :class:`OCIServer`)."""

    _lock: threading.RLock
    _trusted: dict[str, tuple[OCITestIdentity, rsa.RSAPublicKey]]
    _max_clock_skew: timedelta

    def _authenticate(self, req: _Request) -> OCITestIdentity:
        """Verify the draft-cavage signature the way OCI does; return the signer's identity."""
        auth = req.header("Authorization")
        if not auth:
            raise _not_authenticated("no Authorization header")
        scheme, _, rest = auth.strip().partition(" ")
        if scheme != "Signature":
            raise _not_authenticated(f"authorization scheme {scheme!r}")
        params = dict(re.findall(r'([A-Za-z]+)="([^"]*)"', rest))
        if params.get("version") != "1":
            raise _not_authenticated("signature version is not 1")
        if params.get("algorithm") != "rsa-sha256":
            raise _not_authenticated(f"algorithm {params.get('algorithm')!r}")
        key_id = params.get("keyId", "")
        signature_b64 = params.get("signature", "")
        signed = params.get("headers", "").lower().split()
        date_header = "date" if "date" in signed else "x-date"
        required = {"(request-target)", "host", date_header}
        # PutObject and UploadPart are the two operations whose bodies the SDK streams
        # unsigned (enforce_content_headers=False); every other PUT/POST signs its body.
        body_exempt = req.method == "PUT" and (
            _R_OBJECT.match(req.path) is not None or _R_UPLOAD.match(req.path) is not None
        )
        if req.method in ("PUT", "POST", "PATCH") and not body_exempt:
            required |= {"content-length", "content-type", "x-content-sha256"}
        missing = required - set(signed)
        if missing:
            raise _not_authenticated(f"signed headers lack {sorted(missing)}")
        with self._lock:
            trusted = self._trusted.get(key_id)
        if trusted is None:
            raise _not_authenticated("unknown keyId")
        ident, public_key = trusted
        lines = []
        for name in signed:
            if name == "(request-target)":
                lines.append(f"(request-target): {req.method.lower()} {req.target}")
                continue
            value = req.header(name)
            if value is None:
                raise _not_authenticated(f"signed header {name!r} is absent")
            lines.append(f"{name}: {value}")
        try:
            signing_string = "\n".join(lines).encode("ascii")
            signature = base64.b64decode(signature_b64, validate=True)
            public_key.verify(signature, signing_string, padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError, UnicodeEncodeError):
            raise _not_authenticated("signature does not verify") from None
        # The signature is good; now the signed claims must hold.
        try:
            sent = email.utils.parsedate_to_datetime(req.header(date_header) or "")
        except (TypeError, ValueError):
            raise _not_authenticated(f"unparseable {date_header}") from None
        if sent.tzinfo is None:
            sent = sent.replace(tzinfo=timezone.utc)
        if abs(_utcnow() - sent) > self._max_clock_skew:
            raise _not_authenticated(f"{date_header} is outside the allowed clock skew")
        if "x-content-sha256" in signed:
            digest = base64.b64encode(hashlib.sha256(req.body).digest()).decode("ascii")
            if req.header("x-content-sha256") != digest:
                raise _not_authenticated("x-content-sha256 does not match the body")
        if "content-length" in signed and req.header("content-length") != str(len(req.body)):
            raise _not_authenticated("content-length does not match the body")
        return ident
