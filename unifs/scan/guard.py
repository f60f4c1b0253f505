"""Scan each file under a guard, so one hostile file is one "skipped" line, not a dead run.

What a file can do to a scanner, and what stops it:

- **not be a file**: a ``.py`` that is a FIFO (opening it waits for a writer) or a symlink
  to ``/dev/zero`` (reading never ends). Files are opened non-blocking and read only when
  ``fstat`` says they are regular.
- **be huge**: more than :attr:`Limits.max_bytes` is not read at all.
- **nest deeply**: 50 000 nested expressions exhaust the parser's or the visitor's
  recursion (``RecursionError``) or memory (``MemoryError``); both are caught per file.
- **take too long or too much memory**: with ``isolate`` (the default on POSIX) files are
  scanned one at a time in a worker process whose address space is capped
  (``RLIMIT_AS`` = :attr:`Limits.memory`) and whose answer is awaited
  :attr:`Limits.seconds` per file; a worker that runs over, or dies, is replaced, and the
  file is reported as skipped with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import stat
import subprocess
import sys
import time
import tokenize
from dataclasses import dataclass
from io import BytesIO

from unifs.errors import NotRead
from unifs.scan.visitor import Finding, scan_source

__all__ = ["Limits", "Scanner", "scan_file"]


@dataclass(frozen=True)
class Limits:
    """Per-file limits: bytes read, seconds, address space (bytes) and recursion depth."""

    max_bytes: int = 16 * 2**20
    seconds: float = 60.0
    memory: int = 2 * 2**30
    recursion: int = 1000


_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a directory"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _mib(size: int) -> str:
    return f"{size / 2**20:.0f} MiB" if size >= 2**20 else f"{size} bytes"


def describe(exc: BaseException) -> str:
    """A one-line reason for a file that could not be scanned."""
    if isinstance(exc, NotRead):
        return str(exc)
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} (line {exc.lineno})"
    if isinstance(exc, RecursionError):
        return "nested too deeply to parse (RecursionError)"
    if isinstance(exc, MemoryError):
        return "too large or nested too deeply to parse in the memory allowed (MemoryError)"
    return f"{type(exc).__name__}: {exc}"


def _read_source(path: str, max_bytes: int) -> str:
    """The text of a regular file of at most ``max_bytes``; :class:`NotRead` says why not."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)  # non-blocking: a FIFO opens at once instead of waiting
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRead(f"{_kind(st.st_mode)}, not a regular file: not read")
        if st.st_size > max_bytes:
            raise NotRead(
                f"{_mib(st.st_size)}, over the {_mib(max_bytes)} limit per file "
                "(--max-file-size): not read"
            )
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:  # it grew while we looked
        raise NotRead(f"over the {_mib(max_bytes)} limit per file (--max-file-size): not read")
    encoding, _ = tokenize.detect_encoding(BytesIO(data).readline)  # PEP 263
    return data.decode(encoding)


def scan_file(path: str, max_bytes: int = Limits.max_bytes) -> tuple[list[Finding], str | None]:
    """Findings in one file, or why it was skipped; never raises for what the file holds."""
    try:
        return scan_source(_read_source(path, max_bytes), path), None
    except (SyntaxError, UnicodeError, ValueError, OSError, RecursionError, MemoryError) as exc:
        return [], describe(exc)


# -- the worker process -----------------------------------------------------------------------

_CHILD = "from unifs.scan.guard import serve; serve()"


def serve() -> None:
    """The worker's loop: one JSON request per line on stdin, one JSON answer per line."""
    limits = Limits(**json.loads(sys.stdin.readline()))
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limits.memory, limits.memory))
    except (ImportError, ValueError, OSError):  # pragma: no cover - not settable here
        pass
    sys.setrecursionlimit(limits.recursion)
    out = sys.stdout
    for line in sys.stdin:
        path = json.loads(line)
        findings, reason = scan_file(path, limits.max_bytes)
        answer = {"findings": [f.as_dict() for f in findings], "skipped": reason}
        out.write(json.dumps(answer) + "\n")
        out.flush()


class Scanner:
    """Scan files one by one, in a guarded worker process (``isolate``) or in this one."""

    def __init__(self, limits: Limits | None = None, *, isolate: bool | None = None) -> None:
        self.limits = limits or Limits()
        self.isolate = os.name == "posix" if isolate is None else isolate
        self._proc: subprocess.Popen[bytes] | None = None
        self._buffer = b""

    def __enter__(self) -> Scanner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Let the worker finish and reap it."""
        self._reap(kill=False)

    def _kill(self) -> None:
        self._reap(kill=True)

    def _reap(self, *, kill: bool) -> int | None:
        proc, self._proc, self._buffer = self._proc, None, b""
        if proc is None:
            return None
        if kill:
            proc.kill()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        try:
            return proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            import unifs

            # the worker imports this very unifs, wherever this process found it
            here = os.path.dirname(os.path.dirname(os.path.abspath(unifs.__file__)))
            path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD],
                env={**os.environ, "PYTHONPATH": path},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                bufsize=0,
            )
            self._buffer = b""
            assert self._proc.stdin is not None
            self._proc.stdin.write((json.dumps(self.limits.__dict__) + "\n").encode())
        return self._proc

    def scan(self, path: str) -> tuple[list[Finding], str | None]:
        """Findings in ``path``, or the reason it was skipped."""
        if not self.isolate:
            return scan_file(path, self.limits.max_bytes)
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write((json.dumps(path) + "\n").encode())
        except BrokenPipeError:
            return [], self._died()
        deadline = time.monotonic() + self.limits.seconds
        fd = proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            ready = select.select([fd], [], [], max(left, 0))[0] if left > 0 else []
            if not ready:
                self._kill()
                return [], (
                    f"still scanning after {self.limits.seconds:g}s, the time limit per file "
                    "(--timeout): stopped"
                )
            chunk = os.read(fd, 65536)
            if not chunk:
                return [], self._died()
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        answer = json.loads(line)
        return [Finding(**f) for f in answer["findings"]], answer["skipped"]

    def _died(self) -> str:
        code = self._reap(kill=False)
        how = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        return (
            f"the scanning process died on it ({how}), most likely over the "
            f"{_mib(self.limits.memory)} memory limit per file (--memory)"
        )
