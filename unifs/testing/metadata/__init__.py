"""Point a cloud SDK's metadata/token lookup at a local stand-in, to test auth modes offline.

Auth modes such as an AWS IAM role (instance profile), GCE default credentials, Azure
managed identity and OCI instance principals fetch their credentials from a service that
only exists inside the cloud (169.254.169.254 and friends). This module runs a small stand-in
for each on 127.0.0.1 and reports the environment variables that make the real SDK ask it
instead, through the SDK's own documented override (no monkeypatching of SDK internals):

* :class:`AWSMetadataServer` (EC2 IMDSv2, for botocore, boto3, aiobotocore/s3fs):
  ``AWS_EC2_METADATA_SERVICE_ENDPOINT``, with ``AWS_EC2_METADATA_DISABLED=false``;
* :class:`GCEMetadataServer` (GCE metadata server, for google-auth/gcsfs):
  ``GCE_METADATA_HOST`` and ``GCE_METADATA_IP``;
* :class:`AzureManagedIdentityServer` (managed identity, for azure-identity/adlfs):
  ``IDENTITY_ENDPOINT`` + ``IDENTITY_HEADER``, or ``AZURE_POD_IDENTITY_AUTHORITY_HOST``;
* :class:`OCIMetadataServer` (instance metadata and auth-service federation, for oci
  instance principals): ``OCI_METADATA_BASE_URL`` and the signer's ``federation_endpoint=``.

Each server has ``start()``/``stop()`` (or ``with``), ``.endpoint``, a request log
(``.requests``: :class:`RecordedRequest` tuples of method, path, headers) and three views
of the environment it needs:

``env()``
    variables to set: the override, plus whatever keeps a developer's own files (``~/.aws``,
    gcloud's ADC file) from winning over the stand-in;
``unset_env()``
    variables to remove, because the SDK's credential chain would prefer them;
``environ(base)``
    ``base`` (default ``os.environ``) with both applied, for a subprocess.

In pytest, with the network guard of :mod:`unifs.testing.network` in place::

    def test_iam_role(monkeypatch):
        with AWSMetadataServer(access_key_id="AKIDTEST") as imds:
            for name, value in imds.env().items():
                monkeypatch.setenv(name, value)
            for name in imds.unset_env():
                monkeypatch.delenv(name, raising=False)
            creds = botocore.session.Session().get_credentials()
            assert creds.access_key == "AKIDTEST"
            assert ("PUT", "/latest/api/token") in [r[:2] for r in imds.requests]

Things to know per SDK:

* **google-auth** reads ``GCE_METADATA_HOST`` and ``NO_GCE_CHECK`` once, when
  ``google.auth.compute_engine._metadata`` is first imported (``GCE_METADATA_IP`` is read per
  call). Set the environment before that import (a fresh process), or call
  :func:`reload_google_auth_metadata` after changing it and again after restoring it.
  ``NO_GCE_CHECK`` only disables detection when it is exactly ``"true"`` (lower case).
* **azure-identity** picks the flavour from which variables exist: ``IDENTITY_ENDPOINT`` +
  ``IDENTITY_HEADER`` is App Service (unless ``IDENTITY_SERVER_THUMBPRINT`` makes it Service
  Fabric); with none of them, ``AZURE_POD_IDENTITY_AUTHORITY_HOST`` replaces the VM IMDS
  address. Azure Arc needs a key file under ``/var/opt/azcmagent`` and is not covered.
* **oci** documents ``OCI_METADATA_BASE_URL`` for the instance metadata, but the federation
  (token) endpoint has no environment override: pass ``federation_endpoint=`` (see
  :meth:`OCIMetadataServer.signer_kwargs`). Code that builds
  ``InstancePrincipalsSecurityTokenSigner()`` without it (ocifs ``iam_type="instance_principal"``)
  would ask ``https://auth.{region}.oraclecloud.com``; test such paths at the mapping layer.

The stand-ins check what the real services check (IMDSv2 session tokens, the
``Metadata-Flavor`` header, the identity header, OCI's request signature with the leaf
certificate) and refuse otherwise, so a test passes only if the SDK spoke the protocol.

One module per cloud (``aws``, ``gce``, ``azure``, ``oci``), each on the shared ``base``.
"""

from __future__ import annotations

from unifs.testing.metadata.aws import AWSMetadataServer
from unifs.testing.metadata.azure import AzureManagedIdentityServer
from unifs.testing.metadata.base import MetadataServer, RecordedRequest
from unifs.testing.metadata.gce import GCEMetadataServer, reload_google_auth_metadata
from unifs.testing.metadata.oci import OCIMetadataServer

__all__ = [
    "AWSMetadataServer",
    "AzureManagedIdentityServer",
    "GCEMetadataServer",
    "MetadataServer",
    "OCIMetadataServer",
    "RecordedRequest",
    "reload_google_auth_metadata",
]
