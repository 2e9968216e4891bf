"""The embedded store: SQLite as the single commit point, plus caches derived from it and validated by generation."""
