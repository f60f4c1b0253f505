"""One module per store: everything specific to S3, GCS, Azure Blob, OCI and local paths.

See :mod:`unifs.registry` for how providers are found and how to add one.
"""
