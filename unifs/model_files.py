"""Which local files a model signature may cover: regular files, and symlinks only on request.

A store's listing holds objects, but a local directory can hold symlinks (to a file or a
directory anywhere on the machine) and special files (FIFOs, sockets, devices). fsspec's
local listing leaves symlinks out, so a ``link.txt -> /outside/secret`` added to a signed
model would verify OK while a loader reads the unchecked target. As model-signing does,
:func:`unifs.sign_model` and :func:`unifs.verify_model` therefore refuse a local model that
holds a symlink, unless ``follow_symlinks=True`` (``--follow-symlinks``), which signs and
verifies the bytes each link points to under the link's name; special files are refused
either way (reading a FIFO waits forever, ``/dev/zero`` never ends). Paths the signature
ignores are not looked at.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Mapping

from unifs.errors import UnsafeModelFileError

__all__ = ["UnsafeModelFileError", "check_local_files", "linked_files"]


_HOW = (
    "a signature covers regular files only, so a loader would read bytes it never checked. "
    "Remove it, or pass follow_symlinks=True (--follow-symlinks on sign-model, verify-model) "
    "to sign and verify what it points to"
)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _special(where: str, relative: str, mode: int) -> UnsafeModelFileError:
    return UnsafeModelFileError(
        f"{where}: {relative} is {_kind(mode)}; a model can hold only regular files "
        "(and directories): remove it"
    )


def _symlink(where: str, relative: str, path: str) -> UnsafeModelFileError:
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    return UnsafeModelFileError(f"{where}: {relative} is a symlink (-> {target}); {_HOW}")


def linked_files(
    root: str,
    *,
    ignored: Callable[[str], bool],
    follow_symlinks: bool,
    where: str,
) -> dict[str, str]:
    """Walk a local model; refuse what a signature cannot cover; return what links reach.

    Returns ``{relative: path}`` for the regular files reached through a symlink (only when
    ``follow_symlinks``), which fsspec's local listing leaves out. Raises
    :class:`UnsafeModelFileError` for a symlink (unless followed), a broken link, a link
    loop, or any special file.
    """
    reached: dict[str, str] = {}

    def walk(
        directory: str, relative: str, through_link: bool, ancestors: frozenset[tuple[int, int]]
    ) -> None:
        with os.scandir(directory) as it:
            found = sorted(it, key=lambda e: e.name)
        for entry in found:
            rel = f"{relative}/{entry.name}" if relative else entry.name
            if ignored(rel):
                continue
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                if not follow_symlinks:
                    raise _symlink(where, rel, entry.path)
                try:
                    st = os.stat(entry.path)
                except OSError:
                    raise UnsafeModelFileError(
                        f"{where}: {rel} is a broken symlink (-> {os.readlink(entry.path)}): "
                        "remove it or restore its target"
                    ) from None
                through = True
            else:
                through = through_link
            if stat.S_ISDIR(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if key in ancestors:
                    raise UnsafeModelFileError(
                        f"{where}: {rel} links back to a directory that holds it (a loop): "
                        "remove the link"
                    )
                walk(entry.path, rel, through, ancestors | {key})
            elif stat.S_ISREG(st.st_mode):
                if through:
                    reached[rel] = entry.path
            else:
                raise _special(where, rel, st.st_mode)

    top = os.stat(root)
    walk(root, "", False, frozenset({(top.st_dev, top.st_ino)}))
    return reached


def check_local_files(
    files: Mapping[str, str | os.PathLike[str]],
    *,
    follow_symlinks: bool,
    where: str,
    skip: Iterable[str] = (),
) -> None:
    """Refuse downloaded (or staged) files that are symlinks or special files, by name."""
    skipped = set(skip)
    for relative, local in files.items():
        if relative in skipped:
            continue
        try:
            st = os.lstat(local)
        except FileNotFoundError:
            continue  # missing: the comparison names it
        if stat.S_ISLNK(st.st_mode):
            if not follow_symlinks:
                raise _symlink(where, relative, os.fspath(local))
            st = os.stat(local)
        if not stat.S_ISREG(st.st_mode):
            raise _special(where, relative, st.st_mode)
