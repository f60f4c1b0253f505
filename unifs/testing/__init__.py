"""Local storage servers for testing code that uses unifs, offline.

``unifs.testing.oci_server`` is a local OCI Object Storage server (none exists elsewhere);
``unifs.testing.servers`` starts moto (S3), fake-gcs-server (GCS), Azurite (Azure) and the
OCI server on free ports of 127.0.0.1; ``unifs.testing.pytest_plugin`` exposes them as
session fixtures. ``unifs.testing.metadata`` stands in for the clouds' metadata and token
services, ``unifs.testing.faults`` injects faults and emulates a cloud link in front of any
server, ``unifs.testing.gcs_xml`` takes the GCS XML-API uploads of polars and obstore in
front of fake-gcs-server, and ``unifs.testing.network.guard()`` keeps everything on
127.0.0.1.
"""
