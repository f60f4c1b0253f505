"""Stand in for the Compute Engine metadata server: :class:`GCEMetadataServer`.

google-auth reads where that server is at import: :func:`reload_google_auth_metadata`.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable

from unifs.testing.metadata.base import MetadataServer, _json, _Reply, _text


def reload_google_auth_metadata() -> None:
    """Make google-auth re-read ``GCE_METADATA_HOST`` and ``NO_GCE_CHECK`` from the environment.

    google-auth copies both into module constants when
    ``google.auth.compute_engine._metadata`` is first imported, so changing the environment
    later has no effect until the module is re-imported. Call this after pointing the
    environment at a :class:`GCEMetadataServer`, and again after restoring it, so later code
    does not keep talking to a stopped stand-in. Does nothing if google-auth is not loaded
    yet (its first import will read the environment anyway).
    """
    module = sys.modules.get("google.auth.compute_engine._metadata")
    if module is not None:
        importlib.reload(module)


class GCEMetadataServer(MetadataServer):
    """Stand in for the GCE metadata server to test default (workload identity) credentials.

    Answers the detection ping (``GET /`` with the ``Metadata-Flavor: Google`` response
    header), ``/computeMetadata/v1/project/project-id``, the service account's
    ``email``/``scopes``/``token`` and its ``?recursive=true`` summary, for ``default`` and for
    the account's e-mail. Paths under ``/computeMetadata/v1`` need the request header
    ``Metadata-Flavor: Google`` (403 otherwise), as on GCE.

    See :func:`reload_google_auth_metadata`: google-auth reads ``GCE_METADATA_HOST`` at import.
    """

    logged_headers = ("metadata-flavor", "x-goog-api-client", "x-forwarded-for")

    _ROOT = "/computeMetadata/v1"

    def __init__(
        self,
        *,
        access_token: str = "ya29.unifs-test-gce-access-token",
        email: str = "unifs-test@unifs-test.iam.gserviceaccount.com",
        project_id: str = "unifs-test",
        numeric_project_id: str = "123456789012",
        scopes: Iterable[str] = ("https://www.googleapis.com/auth/cloud-platform",),
        expires_in: int = 3599,
        universe_domain: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.access_token = access_token
        self.email = email
        self.project_id = project_id
        self.numeric_project_id = numeric_project_id
        self.scopes = list(scopes)
        self.expires_in = expires_in
        #: None: 404, after which google-auth assumes googleapis.com, as on most of GCE
        self.universe_domain = universe_domain

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, the form ``GCE_METADATA_HOST`` and ``GCE_METADATA_IP`` take."""
        return f"{self._address[0]}:{self.port}"

    def env(self) -> dict[str, str]:
        """``GCE_METADATA_HOST``/``GCE_METADATA_IP`` plus what lets detection run and find it."""
        return {
            "GCE_METADATA_HOST": self.host,  # metadata reads (google-auth reads it at import)
            "GCE_METADATA_IP": self.host,  # the detection ping (read per call)
            # google-auth skips detection only for exactly "true"; say so explicitly
            "NO_GCE_CHECK": "false",
            "GCE_METADATA_MTLS_MODE": "none",  # the stand-in speaks plain HTTP
            # ADC is looked up as $CLOUDSDK_CONFIG/application_default_credentials.json, and a
            # developer's gcloud login would win over the metadata server
            "CLOUDSDK_CONFIG": os.devnull,
        }

    def unset_env(self) -> tuple[str, ...]:
        """Sources google.auth.default() prefers, and the project overrides."""
        return (
            "GOOGLE_APPLICATION_CREDENTIALS",
            "GOOGLE_CLOUD_PROJECT",
            "GCLOUD_PROJECT",
            "GCE_METADATA_ROOT",
            "APPENGINE_RUNTIME",
            # would make google-auth request certificate-bound tokens (POST with a chain)
            "GOOGLE_API_CERTIFICATE_CONFIG",
        )

    def _account(self, name: str) -> bool:
        return name in ("default", self.email)

    def _respond(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> _Reply:
        flavor = (("Metadata-Flavor", "Google"), ("Server", "Metadata Server for VM"))
        if "x-forwarded-for" in headers:
            # GCE refuses proxied requests, so a proxy cannot launder them
            return _text("Forbidden", 403, flavor)
        if path == "/":
            return _text("computeMetadata/\n", headers=flavor)
        if not path.startswith(self._ROOT):
            return _text("Not Found", 404, flavor)
        if headers.get("metadata-flavor") != "Google":
            return _text("Missing required header: Metadata-Flavor: Google", 403, flavor)
        if method != "GET":
            return _text("Method Not Allowed", 405, flavor)
        rel = path[len(self._ROOT) :].strip("/")
        recursive = query.get("recursive", "").lower() == "true"
        if rel == "":
            return _text("instance/\nproject/\nuniverse/\n", headers=flavor)
        if rel == "project/project-id":
            return _text(self.project_id, headers=flavor)
        if rel == "project/numeric-project-id":
            return _text(self.numeric_project_id, headers=flavor)
        if rel == "universe/universe-domain":
            if self.universe_domain is None:
                return _text("Not Found", 404, flavor)
            return _text(self.universe_domain, headers=flavor)
        if rel == "instance/service-accounts":
            return _text(f"default/\n{self.email}/\n", headers=flavor)
        prefix = "instance/service-accounts/"
        if not rel.startswith(prefix):
            return _text("Not Found", 404, flavor)
        account, _, leaf = rel[len(prefix) :].partition("/")
        if not self._account(account):
            return _text("Not Found", 404, flavor)
        if leaf == "":
            if recursive:
                summary = {"aliases": ["default"], "email": self.email, "scopes": self.scopes}
                return _json(summary, headers=flavor)
            return _text("aliases\nemail\nidentity\nscopes\ntoken\n", headers=flavor)
        if leaf == "email":
            return _text(self.email, headers=flavor)
        if leaf == "aliases":
            return _text("default", headers=flavor)
        if leaf == "scopes":
            return _text("\n".join(self.scopes) + "\n", headers=flavor)
        if leaf == "token":
            token = {
                "access_token": self.access_token,
                "expires_in": self.expires_in,
                "token_type": "Bearer",
            }
            return _json(token, headers=flavor)
        return _text("Not Found", 404, flavor)
