"""The embedded store: one directory, SQLite as the single commit point, caches derived from it."""
