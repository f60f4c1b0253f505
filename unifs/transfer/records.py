"""The names of :mod:`unifs.engine.records`, re-exported where they used to live."""

from __future__ import annotations

from unifs.engine.records import load_record, make_record, save_record

__all__ = ["load_record", "make_record", "save_record"]
