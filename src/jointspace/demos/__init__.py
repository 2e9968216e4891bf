"""What ``jointspace demo`` runs: a reverse dictionary over WordNet, "readers who liked this", and photos and
speech found by text. Each demo prints through ``jointspace.display`` and never imports the CLI."""

from jointspace.demos.wordnet import run_demo

__all__ = ["run_demo"]
