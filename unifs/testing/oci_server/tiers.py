"""Answer the storage-tier calls of the OCI server: RestoreObjects, UpdateObjectStorageTier.

An object in the Archive tier answers GET with 409 ``NotRestored`` (HEAD still works and
says ``archival-state: Archived``) until a RestoreObjects has run: the state is then
``Restoring`` for ``restore_delay`` seconds (about an hour in OCI), ``Restored`` for the
``hours`` asked (24 by default), and back to ``Archived`` after that. Infrequent Access
objects read as Standard ones do (OCI bills the retrieval).
"""

from __future__ import annotations

from datetime import timedelta

from unifs.testing.oci_server.http import _OCIError, _Request, _Response
from unifs.testing.oci_server.objects import _ObjectRoutes
from unifs.testing.oci_server.store import STORAGE_TIERS, _utcnow, archival_state

_DEFAULT_RESTORE_HOURS = 24
_MAX_RESTORE_HOURS = 240


class _TierRoutes(_ObjectRoutes):
    """RestoreObjects and UpdateObjectStorageTier."""

    #: seconds an archived object spends Restoring (the ``OCIServer`` argument)
    restore_delay: float

    def _action(self, req: _Request, ns: str, bucket: str, action: str) -> _Response:
        if action == "restoreObjects":
            return self._restore_objects(req, bucket)
        if action == "updateObjectStorageTier":
            return self._update_tier(req, bucket)
        response: _Response = super()._action(req, ns, bucket, action)
        return response

    def _restore_objects(self, req: _Request, bucket: str) -> _Response:
        details = req.json()
        name = details.get("objectName")
        if not isinstance(name, str) or not name:
            raise _OCIError(400, "MissingParameter", "objectName is required.")
        hours = details.get("hours", _DEFAULT_RESTORE_HOURS)
        if not isinstance(hours, int) or not 1 <= hours <= _MAX_RESTORE_HOURS:
            raise _OCIError(400, "InvalidParameter", f"hours must be 1 to {_MAX_RESTORE_HOURS}.")
        now = _utcnow()
        with self._lock:
            obj = self._object(self._bucket(bucket), name)
            state = archival_state(obj, now)
            if state is None:
                raise _OCIError(
                    400, "InvalidParameter", f"The object '{name}' is not in the Archive tier."
                )
            if state == "Archived":
                obj.restore_ready_at = now + timedelta(seconds=self.restore_delay)
            # a restore of a restored (or restoring) object extends how long it stays readable
            ready = obj.restore_ready_at or now
            obj.restored_until = ready + timedelta(hours=hours)
        return _Response(202)

    def _update_tier(self, req: _Request, bucket: str) -> _Response:
        details = req.json()
        name, tier = details.get("objectName"), details.get("storageTier")
        if not isinstance(name, str) or not name:
            raise _OCIError(400, "MissingParameter", "objectName is required.")
        if tier not in STORAGE_TIERS:
            raise _OCIError(
                400, "InvalidParameter", f"storageTier must be one of {', '.join(STORAGE_TIERS)}."
            )
        with self._lock:
            obj = self._object(self._bucket(bucket), name)
            if archival_state(obj) in ("Archived", "Restoring") and tier != "Archive":
                raise _OCIError(
                    409, "NotRestored", f"Restore '{name}' before moving it out of Archive."
                )
            obj.storage_tier = tier
            obj.restore_ready_at = obj.restored_until = None
        return _Response(200)
