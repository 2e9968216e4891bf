"""Model directories written whole or not at all, and read only when their format version is known."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jointspace.errors import FormatError, JointspaceError


@contextmanager
def atomic_dir(target: str | Path, manifest: str) -> Iterator[Path]:
    """Yield a scratch folder; on success it replaces ``target`` by rename, on failure it is removed.

    An existing ``target`` is replaced only when it holds ``manifest`` (a model of the same kind) or
    is empty, so a typo cannot wipe an unrelated folder.
    """
    target = Path(target)
    if target.exists():
        if not target.is_dir():
            raise JointspaceError(f"{target}: exists and is not a directory")
        if any(target.iterdir()) and not (target / manifest).exists():
            raise JointspaceError(f"{target}: exists and is not a model directory ({manifest} missing); "
                                  "choose another --out")
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.parent / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    try:
        yield scratch
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    if target.exists():
        target.rename(old)
    scratch.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    tmp.replace(path)


def read_manifest(path: str | Path, manifest: str, kind: str, version: int) -> dict[str, Any]:
    """The manifest of a model directory; a clear FormatError for another kind or format version."""
    file = Path(path) / manifest
    if not Path(path).is_dir():
        raise JointspaceError(f"{path}: no such model directory")
    if not file.exists():
        raise FormatError(f"{path}: not a jointspace {kind} ({manifest} missing)")
    try:
        data = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise FormatError(f"{file}: damaged ({exc.msg})") from exc
    if data.get("kind") != kind:
        raise FormatError(f"{path}: holds a {data.get('kind')!r}, not a {kind}")
    if data.get("format") != version:
        raise FormatError(f"{path}: {kind} format {data.get('format')!r} written by jointspace "
                          f"{data.get('jointspace', '?')}; this version reads format {version} only: retrain it")
    return data
