"""Kept for old imports: the cache and the registry fetchers live in ``jointspace.cache``."""

from jointspace.cache import cache_dir, deb_files, pypi_file, sha256

__all__ = ["cache_dir", "deb_files", "pypi_file", "sha256"]
