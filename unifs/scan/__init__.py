"""Find direct cloud-SDK use to migrate to unifs: ``unifs.scan.scan_paths(paths)``.

```python
>>> from unifs.scan import scan_source
>>> code = "import boto3 as b\\nb.client('s3').download_file('b', 'k', 'f')\\n"
>>> [f.symbol for f in scan_source(code)]
['import boto3', 'boto3.client().download_file']

```

The scanner parses Python with :mod:`ast` (never regular expressions) and follows names
through imports, aliases, assignments and attribute chains in each scope
(:mod:`unifs.scan.visitor`); what counts as SDK use, and what replaces it, is data
(:mod:`unifs.scan.rules`); output formats live apart (:mod:`unifs.scan.formatters`).
A line ending in ``# unifs: ignore`` is not reported. The same scan runs as
``unifs scan PATH...``.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from unifs.scan.formatters import FORMATTERS, SkippedFile
from unifs.scan.guard import Limits, Scanner
from unifs.scan.visitor import Finding, scan_source

__all__ = [
    "DEFAULT_EXCLUDE",
    "FORMATTERS",
    "Finding",
    "Limits",
    "SkippedFile",
    "scan_paths",
    "scan_source",
]

log = logging.getLogger(__name__)

#: directories never worth scanning: tools', environments' and VCS's own
DEFAULT_EXCLUDE = (
    ".git",
    ".hg",
    ".venv",
    "venv",
    ".tox",
    ".nox",
    "node_modules",
    "__pycache__",
    "site-packages",
    ".mypy_cache",
    ".ruff_cache",
)


def scan_paths(
    paths: Iterable[str | os.PathLike[str]],
    *,
    exclude: Sequence[str] = (),
    skipped: list[SkippedFile] | None = None,
    limits: Limits | None = None,
    isolate: bool | None = None,
) -> list[Finding]:
    """Scan Python files and directories (recursively) for direct cloud-SDK use.

    ``exclude`` holds fnmatch globs matched against each path relative to the argument it
    came from and against its bare name (``--exclude 'tests/*' --exclude '*_pb2.py'``).
    A file that cannot be read or parsed is logged, appended to ``skipped`` when a list is
    given, and passed over. A path that does not exist raises FileNotFoundError.

    Each file is scanned under a guard (:mod:`unifs.scan.guard`): only regular files of at
    most ``limits.max_bytes`` are read; recursion, memory and time are limited per file
    (``isolate``, the default on POSIX, scans in a worker process whose memory and time
    can be capped). A file that trips a limit is skipped with the reason.
    """
    findings: list[Finding] = []
    with Scanner(limits, isolate=isolate) as scanner:
        for path in _python_files(paths, exclude):
            found, reason = scanner.scan(str(path))
            findings.extend(found)
            if reason is None:
                continue
            # the caller who collects skipped files reports them; otherwise the log does
            log.log(
                logging.DEBUG if skipped is not None else logging.WARNING,
                "unifs scan: skipped %s: %s",
                path,
                reason,
            )
            if skipped is not None:
                skipped.append(SkippedFile((str(path), reason)))
    return sorted(findings)


def _excluded(relative: str, patterns: Sequence[str]) -> bool:
    name = relative.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(relative, p) or fnmatch.fnmatch(name, p) for p in patterns)


def _python_files(
    paths: Iterable[str | os.PathLike[str]], exclude: Sequence[str]
) -> Iterator[Path]:
    for given in paths:
        root = Path(given)
        if not root.exists():
            raise FileNotFoundError(f"no such file or directory: {os.fspath(given)!r}")
        if not root.is_dir():  # a file, or a FIFO or device given by name: the guard says
            if not _excluded(root.as_posix(), exclude):
                yield root
            continue
        for current, dirs, files in os.walk(root):
            base = Path(current)
            rel_dir = base.relative_to(root).as_posix()
            dirs[:] = sorted(
                d
                for d in dirs
                if d not in DEFAULT_EXCLUDE
                and not _excluded(d if rel_dir == "." else f"{rel_dir}/{d}", exclude)
            )
            for name in sorted(files):
                relative = name if rel_dir == "." else f"{rel_dir}/{name}"
                if name.endswith((".py", ".pyi")) and not _excluded(relative, exclude):
                    yield base / name
