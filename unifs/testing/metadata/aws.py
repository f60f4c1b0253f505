"""Stand in for EC2's instance metadata service (IMDSv2): :class:`AWSMetadataServer`."""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from datetime import datetime, timedelta, timezone

from unifs.testing.metadata.base import MetadataServer, _Reply, _text, _utcnow


class AWSMetadataServer(MetadataServer):
    """Stand in for EC2's instance metadata service (IMDSv2) to test IAM-role credentials.

    Serves ``PUT /latest/api/token`` (requires ``X-aws-ec2-metadata-token-ttl-seconds``),
    the role listing and role credentials under ``/latest/meta-data/iam/security-credentials/``,
    the placement (``availability-zone``, ``region``) and
    ``/latest/dynamic/instance-identity/document``. Every GET needs a session token from
    the PUT (401 otherwise) unless ``imds_v1=True``.

    botocore reads ``AWS_EC2_METADATA_SERVICE_ENDPOINT`` and ``AWS_EC2_METADATA_DISABLED`` when
    a session builds its credential chain (utils.IMDSFetcher, credentials.InstanceMetadataProvider).
    """

    logged_headers = (
        "x-aws-ec2-metadata-token",
        "x-aws-ec2-metadata-token-ttl-seconds",
        "user-agent",
    )

    _MAX_TTL = 21600

    def __init__(
        self,
        *,
        access_key_id: str = "ASIAUNIFSTESTIMDS001",
        secret_access_key: str = "unifs-test-imds-secret-access-key",
        token: str = "unifs-test-imds-session-token",
        role: str = "unifs-test-role",
        region: str = "us-east-1",
        expiration: datetime | None = None,
        imds_v1: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.token = token
        self.role = role
        self.region = region
        #: None: six hours after each request, so a long-lived stand-in never serves stale keys
        self.expiration = expiration
        self.imds_v1 = imds_v1
        self._session_tokens: dict[str, float] = {}

    def env(self) -> dict[str, str]:
        """``AWS_EC2_METADATA_SERVICE_ENDPOINT`` plus empty shared config files."""
        return {
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": f"{self.endpoint}/",
            # "true" (what the network guard sets) makes IMDSFetcher refuse before any request
            "AWS_EC2_METADATA_DISABLED": "false",
            # an empty file for each file the chain reads before IMDS, so ~/.aws cannot win
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_CONFIG_FILE": os.devnull,
            "BOTO_CONFIG": os.devnull,
        }

    def unset_env(self) -> tuple[str, ...]:
        """Credential sources botocore tries before the instance metadata service."""
        return (
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN",
            "AWS_CREDENTIAL_EXPIRATION",
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_CREDENTIAL_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_ROLE_ARN",
            "AWS_ROLE_SESSION_NAME",
        )

    def credentials_document(self) -> dict[str, str]:
        """The JSON body served for the role, as EC2 shapes it."""
        now = _utcnow()
        expires = self.expiration or now + timedelta(hours=6)
        return {
            "Code": "Success",
            "LastUpdated": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Type": "AWS-HMAC",
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "Token": self.token,
            "Expiration": expires.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def _identity_document(self) -> dict[str, str]:
        return {
            "accountId": "123456789012",
            "architecture": "x86_64",
            "availabilityZone": f"{self.region}a",
            "imageId": "ami-0123456789abcdef0",
            "instanceId": "i-0123456789abcdef0",
            "instanceType": "t3.micro",
            "pendingTime": "2024-01-01T00:00:00Z",
            "privateIp": "10.0.0.10",
            "region": self.region,
            "version": "2017-09-30",
        }

    def _respond(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> _Reply:
        if path == "/latest/api/token":
            if method != "PUT":
                return _text("Method Not Allowed", 405)
            return self._issue_session_token(headers)
        if method != "GET":
            return _text("Method Not Allowed", 405)
        denied = self._check_session(headers)
        if denied is not None:
            return denied
        route = path.rstrip("/")
        creds_dir = "/latest/meta-data/iam/security-credentials"
        if route == creds_dir:
            return _text(self.role)
        if route.startswith(creds_dir + "/"):
            if route[len(creds_dir) + 1 :] != self.role:
                return _text("Not Found", 404)
            # EC2 serves this JSON as text/plain
            return _text(json.dumps(self.credentials_document(), indent=2))
        if route == "/latest/meta-data/placement/availability-zone":
            return _text(f"{self.region}a")
        if route == "/latest/meta-data/placement/region":
            return _text(self.region)
        if route == "/latest/dynamic/instance-identity/document":
            return _text(json.dumps(self._identity_document(), indent=2))
        return _text("Not Found", 404)

    def _issue_session_token(self, headers: dict[str, str]) -> _Reply:
        ttl_text = headers.get("x-aws-ec2-metadata-token-ttl-seconds", "")
        if not ttl_text.isdigit() or not 1 <= int(ttl_text) <= self._MAX_TTL:
            return _text("Bad Request", 400)
        session_token = base64.urlsafe_b64encode(secrets.token_bytes(30)).decode()
        with self._lock:
            self._session_tokens[session_token] = time.monotonic() + int(ttl_text)
        return _text(session_token, headers=(("X-aws-ec2-metadata-token-ttl-seconds", ttl_text),))

    def _check_session(self, headers: dict[str, str]) -> _Reply | None:
        session_token = headers.get("x-aws-ec2-metadata-token")
        if session_token is None:
            return None if self.imds_v1 else _text("Unauthorized", 401)
        with self._lock:
            expires = self._session_tokens.get(session_token)
        if expires is None or expires < time.monotonic():
            return _text("Unauthorized", 401)
        return None
