"""``python -m jointspace.cli``: the same as the ``jointspace`` command."""

from jointspace.cli import app

app()
