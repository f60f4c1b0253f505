"""Throwaway OCI API-key identities: a real RSA key pair with dummy OCIDs, as an SDK config.

Used where a filesystem needs an API-key identity and nothing is contacted (the documented
capability matrix); unifs's local OCI server (:mod:`unifs.testing.oci_server`) builds its
test identities on :class:`APIKeyIdentity`. Imports ``cryptography`` (a dependency of the
``oci`` extra), so load it only where an identity is made.
"""

from __future__ import annotations

import configparser
import hashlib
import os
import pathlib
import re
import secrets
from dataclasses import dataclass
from typing import TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["DEFAULT_REGION", "APIKeyIdentity", "fake_ocid", "key_fingerprint"]

_Identity = TypeVar("_Identity", bound="APIKeyIdentity")

DEFAULT_REGION = "us-ashburn-1"
_OCID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


def fake_ocid(kind: str) -> str:
    """Return a random OCID of the documented shape ``ocid1.<kind>.oc1..aaaaaaaa<52 chars>``."""
    tail = "".join(secrets.choice(_OCID_ALPHABET) for _ in range(52))
    return f"ocid1.{kind}.oc1..aaaaaaaa{tail}"


def key_fingerprint(public_key: rsa.RSAPublicKey) -> str:
    """Return OCI's API-key fingerprint: colon-separated MD5 of the DER public key."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.md5(der).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


@dataclass(frozen=True, repr=False)
class APIKeyIdentity:
    """A throwaway OCI API-key identity: dummy user/tenancy OCIDs and a real RSA key pair.

    The private key never appears in ``repr``; pass :meth:`config` to the SDK or ocifs.
    The documented capability matrix builds a filesystem with one (nothing is contacted);
    unifs's local OCI server (:mod:`unifs.testing.oci_server`) trusts them.
    """

    tenancy: str
    user: str
    fingerprint: str
    private_key_pem: bytes
    public_key_pem: bytes
    region: str = DEFAULT_REGION

    @classmethod
    def generate(
        cls: type[_Identity], region: str = DEFAULT_REGION, key_size: int = 2048
    ) -> _Identity:
        """Create an identity with a fresh RSA key and random, validly-shaped OCIDs."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
        private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(
            tenancy=fake_ocid("tenancy"),
            user=fake_ocid("user"),
            fingerprint=key_fingerprint(key.public_key()),
            private_key_pem=private_pem,
            public_key_pem=public_pem,
            region=region,
        )

    @property
    def key_id(self) -> str:
        """Return the ``keyId`` the SDK puts in its Authorization header."""
        return f"{self.tenancy}/{self.user}/{self.fingerprint}"

    def public_key(self) -> rsa.RSAPublicKey:
        """Load the public half of the key (what the server verifies signatures with)."""
        key = serialization.load_pem_public_key(self.public_key_pem)
        if not isinstance(key, rsa.RSAPublicKey):
            raise TypeError("OCI API keys are RSA keys")
        return key

    def config(self, key_file: str | os.PathLike[str] | None = None) -> dict[str, str]:
        """Return an oci SDK config dict; embeds the key unless ``key_file`` is given."""
        cfg = {
            "user": self.user,
            "tenancy": self.tenancy,
            "fingerprint": self.fingerprint,
            "region": self.region,
        }
        if key_file is not None:
            cfg["key_file"] = os.fspath(key_file)
        else:
            cfg["key_content"] = self.private_key_pem.decode("ascii")
        return cfg

    def write_config_file(
        self, directory: str | os.PathLike[str], profile: str = "DEFAULT"
    ) -> pathlib.Path:
        """Write an ``~/.oci/config``-style file plus key file into ``directory``; return its path.

        An existing config file there keeps its other profiles.
        """
        folder = pathlib.Path(directory).expanduser().resolve()
        folder.mkdir(parents=True, exist_ok=True)
        key_path = folder / f"oci_api_key_{re.sub(r'[^A-Za-z0-9_.-]', '_', profile)}.pem"
        # Create the key file owner-only from the start, like `oci setup keys` does.
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(self.private_key_pem)
        config_path = folder / "config"
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep key case
        if config_path.exists():
            parser.read(config_path)
        values = self.config(key_file=key_path)
        if profile == "DEFAULT":
            parser["DEFAULT"] = values
        else:
            parser[profile] = values
        with open(config_path, "w", encoding="utf-8") as fh:
            parser.write(fh)
        return config_path

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(tenancy={self.tenancy!r}, user={self.user!r}, "
            f"fingerprint={self.fingerprint!r}, region={self.region!r})"
        )
