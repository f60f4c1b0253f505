"""Stand in for Azure's managed-identity token endpoint: :class:`AzureManagedIdentityServer`.

Both flavours: the App Service endpoint and the VM instance metadata service (IMDS).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Literal

from unifs.testing.metadata.base import MetadataServer, _json, _Reply


class AzureManagedIdentityServer(MetadataServer):
    """Stand in for Azure's managed-identity token endpoint to test ManagedIdentityCredential.

    ``flavour="app_service"`` (default) is the endpoint App Service, Functions and Container
    Apps expose through ``IDENTITY_ENDPOINT`` + ``IDENTITY_HEADER``: ``GET /msi/token?
    api-version=2019-08-01&resource=...[&client_id=...]`` with the header
    ``X-IDENTITY-HEADER``. ``flavour="imds"`` is the VM endpoint
    ``GET /metadata/identity/oauth2/token`` (header ``Metadata: true``), reached through
    ``AZURE_POD_IDENTITY_AUTHORITY_HOST``. Both paths are always served; the flavour picks
    the environment :meth:`env` returns.

    The system-assigned identity gets ``access_token``; a user-assigned one is accepted only
    if its client ID is a key of ``user_assigned`` and gets that value as its token.
    """

    logged_headers = ("x-identity-header", "metadata", "user-agent")

    APP_SERVICE_PATH = "/msi/token"
    IMDS_PATH = "/metadata/identity/oauth2/token"
    #: client ID reported for the system-assigned identity
    SYSTEM_CLIENT_ID = "00000000-0000-0000-0000-00000000a55d"

    def __init__(
        self,
        *,
        access_token: str = "unifs-test-azure-managed-identity-token",
        user_assigned: Mapping[str, str] | None = None,
        expires_in: int = 3600,
        flavour: Literal["app_service", "imds"] = "app_service",
        identity_header: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        if flavour not in ("app_service", "imds"):
            raise ValueError(f"flavour must be 'app_service' or 'imds', not {flavour!r}")
        self.access_token = access_token
        self.user_assigned = dict(user_assigned or {})
        self.expires_in = expires_in
        self.flavour = flavour
        self.identity_header = identity_header or secrets.token_hex(16)

    def env(self) -> dict[str, str]:
        """``IDENTITY_ENDPOINT``/``IDENTITY_HEADER``, or ``AZURE_POD_IDENTITY_AUTHORITY_HOST``."""
        if self.flavour == "app_service":
            return {
                "IDENTITY_ENDPOINT": f"{self.endpoint}{self.APP_SERVICE_PATH}",
                "IDENTITY_HEADER": self.identity_header,
            }
        return {"AZURE_POD_IDENTITY_AUTHORITY_HOST": self.endpoint}

    def unset_env(self) -> tuple[str, ...]:
        """Variables that would select another flavour or another credential first."""
        # IDENTITY_SERVER_THUMBPRINT turns App Service into Service Fabric; MSI_* is Azure ML
        # or Cloud Shell; the workload-identity trio, and in DefaultAzureCredential the
        # EnvironmentCredential variables, are tried before managed identity.
        names = [
            "IDENTITY_SERVER_THUMBPRINT",
            "IMDS_ENDPOINT",
            "MSI_ENDPOINT",
            "MSI_SECRET",
            "AZURE_FEDERATED_TOKEN_FILE",
            "AZURE_TENANT_ID",
            "AZURE_CLIENT_ID",
            "AZURE_CLIENT_SECRET",
            "AZURE_CLIENT_CERTIFICATE_PATH",
            "AZURE_USERNAME",
            "AZURE_PASSWORD",
        ]
        if self.flavour == "app_service":
            names.append("AZURE_POD_IDENTITY_AUTHORITY_HOST")
        else:
            names += ["IDENTITY_ENDPOINT", "IDENTITY_HEADER"]
        return tuple(names)

    def _respond(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> _Reply:
        if path == self.APP_SERVICE_PATH:
            if headers.get("x-identity-header") != self.identity_header:
                return _json({"statusCode": 401, "message": "Unauthorized"}, 401)
            if query.get("api-version") != "2019-08-01":
                return _json({"statusCode": 400, "message": "Unsupported api-version"}, 400)
            return self._token(method, query, expires_in_field=False)
        if path == self.IMDS_PATH:
            if headers.get("metadata", "").lower() != "true":
                error = {
                    "error": "invalid_request",
                    "error_description": "Required metadata header not specified",
                }
                return _json(error, 400)
            if not query.get("api-version"):
                return _json({"error": "invalid_request", "error_description": "api-version"}, 400)
            return self._token(method, query, expires_in_field=True)
        return _json({"error": "not_found"}, 404)

    def _token(self, method: str, query: dict[str, str], *, expires_in_field: bool) -> _Reply:
        if method != "GET":
            return _json({"error": "invalid_request"}, 405)
        resource = query.get("resource")
        if not resource:
            return _json({"error": "invalid_request", "error_description": "resource"}, 400)
        if any(k in query for k in ("object_id", "mi_res_id", "msi_res_id", "principal_id")):
            # only client IDs are modelled; say so rather than answer as someone else
            return _json({"error": "invalid_request", "error_description": "unsupported id"}, 400)
        client_id = query.get("client_id")
        if client_id is None:
            token, client_id = self.access_token, self.SYSTEM_CLIENT_ID
        elif client_id in self.user_assigned:
            token = self.user_assigned[client_id]
        else:
            message = f"No managed identity with client_id {client_id!r} is assigned"
            return _json({"statusCode": 400, "message": message, "error": "invalid_request"}, 400)
        now = int(time.time())
        payload = {
            "access_token": token,
            "expires_on": str(now + self.expires_in),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": client_id,
        }
        if expires_in_field:
            payload |= {
                "expires_in": str(self.expires_in),
                "ext_expires_in": str(self.expires_in),
                "not_before": str(now),
                "refresh_token": "",
            }
        return _json(payload)
