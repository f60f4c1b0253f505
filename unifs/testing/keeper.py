"""Keep a server subprocess from outliving the process that started it.

``python keeper.py PARENT_PID -- ARGV...`` runs ``ARGV`` as its own child and ends it when
the process ``PARENT_PID`` is gone, however that process ended: ``atexit`` covers a normal
exit, but a process killed with SIGTERM or SIGKILL runs no Python at all, and a Node or Go
server it started (Azurite, fake-gcs-server) would otherwise keep its port and memory until
the machine restarts. The keeper itself ends the server on SIGTERM, SIGINT or SIGHUP, and
exits with the server's own exit status, so callers can treat it as the server.

It is started as a script (``python -I keeper.py``): standard library only, no import of
unifs, so it costs a few milliseconds, not an import of the package.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from types import FrameType

#: How often the keeper looks whether its parent is still there.
POLL_SECONDS = 0.2
#: How long the server gets to exit after SIGTERM before it is killed.
GRACE_SECONDS = 5.0


def _parent_alive(parent: int) -> bool:
    # Re-parented (to init or a subreaper) means the parent died, even if its pid was reused.
    if os.getppid() != parent:
        return False
    try:
        os.kill(parent, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - alive, owned by someone else
        return True
    return True


def _stop(child: subprocess.Popen[bytes]) -> int:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
    return child.wait()


def main(argv: list[str]) -> int:
    """Run ``argv[2:]`` (after ``PARENT_PID --``) until it exits or the parent dies."""
    if len(argv) < 3 or argv[1] != "--":
        print("usage: keeper.py PARENT_PID -- COMMAND [ARG...]", file=sys.stderr)
        return 2
    parent = int(argv[0])
    try:
        child = subprocess.Popen(argv[2:])  # inherits stdin/stdout/stderr: its output is ours
    except OSError as err:
        print(f"keeper: could not run {argv[2]}: {err}", file=sys.stderr)
        return 127

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del frame
        _stop(child)
        sys.exit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_signal)

    while True:
        try:
            return child.wait(timeout=POLL_SECONDS)
        except subprocess.TimeoutExpired:
            pass
        if not _parent_alive(parent):
            _stop(child)
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
