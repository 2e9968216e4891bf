"""The checks every media reader makes on a file before opening it, and the walk over a folder of files."""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from jointspace.errors import ItemError, JointspaceError
from jointspace.readers.records import Skipped


def checked_file(path: str | Path, label: str | None = None, max_bytes: int | None = None) -> Path:
    """``path`` when it is an existing, non-empty file within ``max_bytes``; ItemError naming it otherwise."""
    path = Path(path)
    label = str(path) if label is None else label
    try:
        info = path.stat()
    except OSError as exc:
        if path.is_symlink():
            reason = "symbolic link loop" if exc.errno == errno.ELOOP else "broken symbolic link"
            raise ItemError(label, f"{reason} (to {os.readlink(path)})") from None
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise ItemError(label, "no such file") from None
        raise ItemError(label, f"cannot read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ItemError(label, "a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise ItemError(label, f"{_not_regular(info.st_mode)}, not a regular file")
    if not os.access(path, os.R_OK):
        raise ItemError(label, "cannot read (permission denied)")
    size = info.st_size
    if size == 0:
        raise ItemError(label, "empty file (0 bytes)")
    if max_bytes is not None and size > max_bytes:
        raise ItemError(label, f"file of {size / 2**20:.0f} MiB is over the {max_bytes / 2**20:.0f} MiB limit")
    return path


@dataclass
class FolderWalk:
    """The files found under a folder (``(relative posix path, path)``, sorted) and what was left out, and why."""

    files: list[tuple[str, Path]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


_KINDS = ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"))


def _not_regular(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def walk_folder(folder: str | Path) -> FolderWalk:
    """Every regular file under ``folder``, following symbolic links, each folder walked once.

    Left out, each with its reason: hidden entries (a name starting with "."; their contents are not
    walked), broken symbolic links, symbolic-link loops and links to a folder already walked, folders that
    cannot be listed, files that cannot be read, and anything that is not a regular file (a named pipe
    would block the reader for ever). Nothing is left out silently.
    """
    root = Path(folder)
    walk = FolderWalk()
    try:
        top = root.stat()
    except OSError as exc:
        raise JointspaceError(f"{root}: cannot open the folder ({exc.strerror or exc})") from None
    if not stat.S_ISDIR(top.st_mode):
        raise JointspaceError(f"{root}: not a folder")
    seen: dict[tuple[int, int], str] = {(top.st_dev, top.st_ino): "."}
    stack = [(root, "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            walk.skipped.append(Skipped(prefix.rstrip("/") or ".", f"cannot list the folder ({exc.strerror or exc})"))
            continue
        for entry in entries:
            rel = prefix + entry.name
            if entry.name.startswith("."):
                walk.skipped.append(Skipped(rel, "hidden (name starts with '.'), not indexed"))
                continue
            link = entry.is_symlink()
            try:
                info = os.stat(entry.path)  # follows links
            except OSError as exc:
                if link and exc.errno == errno.ELOOP:
                    reason = "symbolic link loop"
                elif link:
                    reason = f"broken symbolic link (to {os.readlink(entry.path)}, which does not exist)"
                else:
                    reason = f"cannot read ({exc.strerror or exc})"
                walk.skipped.append(Skipped(rel, reason))
                continue
            if stat.S_ISDIR(info.st_mode):
                key = (info.st_dev, info.st_ino)
                if key in seen:
                    earlier = seen[key]
                    loop = earlier == "." or prefix.startswith(earlier + "/")
                    reason = (f"symbolic link loop (back to {earlier})" if loop
                              else f"a link to a folder already walked ({earlier})")
                    walk.skipped.append(Skipped(rel, reason))
                    continue
                seen[key] = rel
                stack.append((Path(entry.path), rel + "/"))
            elif not stat.S_ISREG(info.st_mode):
                walk.skipped.append(Skipped(rel, f"{_not_regular(info.st_mode)}, not a regular file"))
            elif not os.access(entry.path, os.R_OK):
                walk.skipped.append(Skipped(rel, "cannot read (permission denied)"))
            else:
                walk.files.append((rel, Path(entry.path)))
    walk.files.sort(key=lambda pair: pair[0])
    return walk
