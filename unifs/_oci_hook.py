"""The start-up entry of the OCI registration hook: ``unifs_oci_hook.pth`` runs
``import unifs._oci_hook; unifs._oci_hook.install()``. The hook itself is the OCI
provider's, :mod:`unifs.providers.oci_hook`; this name stays for installed ``.pth`` files.
"""

from unifs.providers.oci_hook import install as install
from unifs.providers.oci_hook import watching as watching

__all__ = ["install", "watching"]
