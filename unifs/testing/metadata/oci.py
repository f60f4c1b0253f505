"""Stand in for OCI instance metadata (v2) and the auth service: :class:`OCIMetadataServer`.

The auth service's part is its X.509 federation, which turns the instance's certificate into
a security token.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import re
import time
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from unifs.testing.metadata.base import MetadataServer, _json, _Reply, _text, _utcnow

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _pem_body_der(text: str) -> bytes:
    """DER bytes of a PEM body with or without its BEGIN/END lines (the SDK strips them)."""
    lines = [ln for ln in text.strip().splitlines() if not ln.startswith("-----")]
    return base64.b64decode("".join(lines), validate=True)


class _FederationRefused(Exception):
    pass


class OCIMetadataServer(MetadataServer):
    """Stand in for OCI instance metadata and the auth service to test instance principals.

    Instance metadata, all under ``/opc/v2`` and requiring ``Authorization: Bearer Oracle``:
    ``instance/region``, ``instance/canonicalRegionName``, ``instance/id``, ``instance/``,
    ``identity/cert.pem`` (a leaf certificate whose subject carries ``opc-tenant:<tenancy>``),
    ``identity/key.pem`` and ``identity/intermediate.pem`` (the CA that issued the leaf).

    Federation, ``POST /v1/x509``: checks the request the way the auth service does (the
    ``keyId`` names the tenancy and the leaf's SHA-1 fingerprint, the draft-cavage signature
    verifies with the leaf's key, the body's digest, the certificate and intermediates are the
    ones served here) and returns ``{"token": <RS256 JWT>}`` whose ``jwk`` claim is the session
    public key the SDK sent. Issued tokens are in :attr:`tokens`; verify them with
    :attr:`token_public_key_pem`.

    The metadata URL comes from ``OCI_METADATA_BASE_URL`` (:meth:`env`); the federation URL
    has no environment override, so pass :meth:`signer_kwargs` to
    ``InstancePrincipalsSecurityTokenSigner``. Needs ``cryptography``.
    """

    logged_headers = ("authorization", "content-type", "x-content-sha256", "date")

    METADATA_PREFIX = "/opc/v2"
    FEDERATION_PATH = "/v1/x509"
    _MAX_CLOCK_SKEW = timedelta(minutes=5)

    def __init__(
        self,
        *,
        region: str = "us-ashburn-1",
        tenancy_id: str | None = None,
        compartment_id: str | None = None,
        instance_id: str | None = None,
        token_lifetime: timedelta = timedelta(hours=1),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)

        def ocid(kind: str, region: str = "") -> str:
            return f"ocid1.{kind}.oc1.{region}.unifstest{uuid.uuid4().hex[:16]}"

        self.region = region
        self.tenancy_id = tenancy_id or ocid("tenancy")
        self.compartment_id = compartment_id or ocid("compartment")
        self.instance_id = instance_id or ocid("instance", region)
        self.token_lifetime = token_lifetime
        self._tokens: list[str] = []
        self._make_identity()

    # ---- identity material ----------------------------------------------------------------

    def _make_identity(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        now = _utcnow()
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ca_name = x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, "unifs test instance identity intermediate")]
        )
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ou = NameOID.ORGANIZATIONAL_UNIT_NAME
        leaf_name = x509.Name(
            [
                # OCI puts the instance OCID here; X.509 caps a CN at 64 characters
                x509.NameAttribute(NameOID.COMMON_NAME, self.instance_id[-64:]),
                x509.NameAttribute(ou, "opc-certtype:instance"),
                x509.NameAttribute(ou, f"opc-compartment:{self.compartment_id}"),
                x509.NameAttribute(ou, f"opc-instance:{self.instance_id}"),
                x509.NameAttribute(ou, f"opc-tenant:{self.tenancy_id}"),
            ]
        )
        leaf_cert = (
            x509.CertificateBuilder()
            .subject_name(leaf_name)
            .issuer_name(ca_name)
            .public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .sign(ca_key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        self._leaf_cert: x509.Certificate = leaf_cert
        self._leaf_der = leaf_cert.public_bytes(serialization.Encoding.DER)
        self._ca_der = ca_cert.public_bytes(serialization.Encoding.DER)
        #: the leaf certificate served at identity/cert.pem
        self.leaf_certificate_pem = leaf_cert.public_bytes(pem).decode("ascii")
        #: the issuing CA served at identity/intermediate.pem
        self.intermediate_certificate_pem = ca_cert.public_bytes(pem).decode("ascii")
        self._leaf_key_pem = leaf_key.private_bytes(
            pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ).decode("ascii")
        fingerprint = leaf_cert.fingerprint(hashes.SHA1())
        #: the keyId the SDK must sign federation requests with
        self.federation_key_id = "{}/fed-x509/{}".format(
            self.tenancy_id, ":".join(f"{b:02X}" for b in fingerprint)
        )
        # tokens are signed with their own key, so a test can tell ours from any other
        self._token_key: rsa.RSAPrivateKey = rsa.generate_private_key(
            public_exponent=65537, key_size=2048
        )
        #: PEM public key that verifies the RS256 signature of every issued token
        self.token_public_key_pem = (
            self._token_key.public_key()
            .public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode("ascii")
        )

    # ---- what tests use -------------------------------------------------------------------

    @property
    def metadata_base_url(self) -> str:
        """``http://127.0.0.1:PORT/opc/v2``, the value of ``OCI_METADATA_BASE_URL``."""
        return f"{self.endpoint}{self.METADATA_PREFIX}"

    @property
    def federation_endpoint(self) -> str:
        """``http://127.0.0.1:PORT/v1/x509``, for the signer's ``federation_endpoint`` kwarg."""
        return f"{self.endpoint}{self.FEDERATION_PATH}"

    @property
    def tokens(self) -> list[str]:
        """Security tokens (JWTs) issued so far, oldest first."""
        with self._lock:
            return list(self._tokens)

    def env(self) -> dict[str, str]:
        """``OCI_METADATA_BASE_URL`` (the signer reads it in its constructor)."""
        return {"OCI_METADATA_BASE_URL": self.metadata_base_url}

    def signer_kwargs(self) -> dict[str, str]:
        """Keyword arguments for ``InstancePrincipalsSecurityTokenSigner``: the federation URL."""
        return {"federation_endpoint": self.federation_endpoint}

    # ---- request handling -----------------------------------------------------------------

    def _respond(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> _Reply:
        if path == self.FEDERATION_PATH:
            if method != "POST":
                return _json({"code": "MethodNotAllowed", "message": method}, 405)
            try:
                return _json({"token": self._federate(path, headers, body)})
            except _FederationRefused as refused:
                return _json({"code": "NotAuthenticated", "message": str(refused)}, 401)
        if not path.startswith(self.METADATA_PREFIX + "/"):
            return _json({"code": "NotFound", "message": path}, 404)
        if headers.get("authorization") != "Bearer Oracle":
            # IMDS v2 refuses requests without it (v1 did not ask)
            return _json({"code": "NotAuthorized", "message": "Authorization required"}, 401)
        if method != "GET":
            return _json({"code": "MethodNotAllowed", "message": method}, 405)
        rel = path[len(self.METADATA_PREFIX) + 1 :].rstrip("/")
        instance = {
            "id": self.instance_id,
            "compartmentId": self.compartment_id,
            "region": self.region,
            "canonicalRegionName": self.region,
            "displayName": "unifs-test-instance",
        }
        served = {
            "instance/region": self.region,
            "instance/canonicalRegionName": self.region,
            "instance/id": self.instance_id,
            "instance/compartmentId": self.compartment_id,
            "identity/cert.pem": self.leaf_certificate_pem,
            "identity/key.pem": self._leaf_key_pem,
            "identity/intermediate.pem": self.intermediate_certificate_pem,
        }
        if rel == "instance":
            return _json(instance)
        if rel in served:
            return _text(served[rel])
        return _json({"code": "NotFound", "message": path}, 404)

    def _federate(self, path: str, headers: dict[str, str], body: bytes) -> str:
        """Check a token request as the auth service would; return a new security token."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        scheme, _, rest = headers.get("authorization", "").partition(" ")
        if scheme != "Signature":
            raise _FederationRefused("expected an Authorization: Signature header")
        params = dict(re.findall(r'([A-Za-z]+)="([^"]*)"', rest))
        if params.get("algorithm") != "rsa-sha256" or params.get("version") != "1":
            raise _FederationRefused("signature must be version 1, rsa-sha256")
        if params.get("keyId") != self.federation_key_id:
            raise _FederationRefused(f"unknown keyId {params.get('keyId')!r}")
        signed = params.get("headers", "").lower().split()
        required = {
            "date",
            "(request-target)",
            "content-length",
            "content-type",
            "x-content-sha256",
        }
        if not required <= set(signed):
            raise _FederationRefused(f"signed headers lack {sorted(required - set(signed))}")
        lines = []
        for name in signed:
            if name == "(request-target)":
                lines.append(f"(request-target): post {path}")
            elif name in headers:
                lines.append(f"{name}: {headers[name]}")
            else:
                raise _FederationRefused(f"signed header {name!r} is absent")
        leaf_public = self._leaf_cert.public_key()
        assert isinstance(leaf_public, rsa.RSAPublicKey)
        try:
            leaf_public.verify(
                base64.b64decode(params.get("signature", ""), validate=True),
                "\n".join(lines).encode("ascii"),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (InvalidSignature, ValueError, UnicodeEncodeError):
            raise _FederationRefused("signature does not verify with the leaf key") from None
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
        if headers.get("x-content-sha256") != digest:
            raise _FederationRefused("x-content-sha256 does not match the body")
        try:
            sent = email.utils.parsedate_to_datetime(headers.get("date", ""))
        except (TypeError, ValueError):
            raise _FederationRefused("unparseable date") from None
        if abs(_utcnow() - sent) > self._MAX_CLOCK_SKEW:
            raise _FederationRefused("date is outside the allowed clock skew")
        try:
            payload = json.loads(body)
            certificate = _pem_body_der(payload["certificate"])
            intermediates = [_pem_body_der(c) for c in payload.get("intermediateCertificates", [])]
            session_key = serialization.load_der_public_key(_pem_body_der(payload["publicKey"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise _FederationRefused(f"malformed request body: {exc}") from None
        if certificate != self._leaf_der:
            raise _FederationRefused("certificate is not this instance's leaf certificate")
        if self._ca_der not in intermediates:
            raise _FederationRefused("intermediateCertificates lack the issuing CA")
        if not isinstance(session_key, rsa.RSAPublicKey):
            raise _FederationRefused("publicKey is not an RSA key")
        return self._issue_token(session_key, payload.get("purpose"))

    def _issue_token(self, session_key: rsa.RSAPublicKey, purpose: str | None) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        numbers = session_key.public_numbers()
        jwk = {
            "kid": "asw",
            "n": _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": _b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
        }
        now = int(time.time())
        claims = {
            "sub": self.instance_id,
            "iss": "authService.oracle.com",
            "aud": "oci",
            "ptype": "instance",
            "opc-certtype": "instance",
            "opc-instance": self.instance_id,
            "opc-compartment": self.compartment_id,
            "opc-tenant": self.tenancy_id,
            "tenant": self.tenancy_id,
            "iat": now,
            "exp": now + int(self.token_lifetime.total_seconds()),
            "jti": str(uuid.uuid4()),
            "jwk": json.dumps(jwk),
        }
        if purpose is not None:
            claims["purpose"] = purpose
        header = {"alg": "RS256", "typ": "JWT", "kid": "unifs-test"}
        signing_input = (
            _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        )
        signature = self._token_key.sign(
            signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
        )
        token = f"{signing_input}.{_b64url(signature)}"
        with self._lock:
            self._tokens.append(token)
        return token
