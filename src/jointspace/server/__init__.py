"""The HTTP API and web page over one collection: ``create_app(DIR)``, or ``jointspace serve DIR``."""

from jointspace.server.app import create_app
from jointspace.server.run import serve
from jointspace.server.settings import ServerSettings, load_token

__all__ = ["ServerSettings", "create_app", "load_token", "serve"]
