"""The transfer machinery under :mod:`unifs.transfer`'s verbs, one module per concern.

- ``listing``: the one prefix listing (files below a prefix, relative paths, filters);
- ``compare``: whether two objects hold the same bytes (what copy and sync decide from);
- ``planning``: what to transfer and where it lands, safely; ``ends``: a copy's two
  endpoints and which way the bytes go between them;
- ``config``: the frozen :class:`~unifs.engine.config.TransferConfig` passed down, and
  the one definition of the verbs' config keywords; ``verbs``: an async verb and its
  derived blocking twin; ``hooks``: what integrations above register (Dask runners, the
  signature check);
- ``backend`` (an endpoint's filesystem as the engine sees it), ``scheduling`` (request
  and byte budgets, the adaptive gate, the event loop), ``retries``, ``checksums``,
  ``limits``;
- ``download``, ``state``, ``parts``, ``records``, ``workdir`` (a get: its files, ranges,
  state and work directory), ``upload`` (a put), ``streaming`` (cloud to cloud),
  ``ranges`` (one object made from parts sent by several processes), ``ledger`` (the
  record of every part upload unifs begins: what a rerun or ``unifs cleanup`` aborts);
- ``progress`` and ``report``.

Every name another package uses is public (no leading underscore); the user-facing names
are re-exported by :mod:`unifs.transfer` and :mod:`unifs`.
"""
