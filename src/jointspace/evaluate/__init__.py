"""Evaluation: metrics and loaders for the real data sets listed in shared/RESOURCES.md."""
