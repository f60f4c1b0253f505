"""The names of :mod:`unifs.engine.workdir`, re-exported where they used to live."""

from __future__ import annotations

from unifs.engine.workdir import WORK_DIR, TransferBusyError, WorkDir

__all__ = ["WORK_DIR", "TransferBusyError", "WorkDir"]
