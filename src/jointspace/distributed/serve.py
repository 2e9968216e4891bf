"""Shards served by Ray actors: one actor per shard holds its index in memory; a query fans out to all.

The shard directories must be readable where the actors run (a shared filesystem on a real cluster).
Queries are embedded once, in the caller's process; actors only search vectors, so they never load a model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from jointspace.collection import Collection
from jointspace.errors import JointspaceError
from jointspace.results import Hit
from jointspace.stores.sharded import ShardedStore, merge_top_k


class ShardServer:
    """A Ray actor holding one shard (an embedded store) open; it searches vectors, never loads a model."""

    def __init__(self, path: str) -> None:
        from jointspace.stores.embedded.store import EmbeddedStore

        self.store = EmbeddedStore.open(Path(path))

    def count(self) -> int:
        return len(self.store)

    def search(self, vectors: np.ndarray, k: int, where: Any) -> list[list[tuple[str, float, dict[str, Any]]]]:
        hits = self.store.search(vectors, k, where)
        return [[(h.id, h.score, h.fields) for h in row] for row in hits]


class RaySharded:
    """Search a sharded collection whose shards live in Ray actors (same results as the sharded store)."""

    def __init__(self, path: str | Path, address: str | None = None) -> None:
        from jointspace.distributed.job import connect_ray

        local = Collection.open(path)
        if not isinstance(local.store, ShardedStore):
            local.close()
            raise JointspaceError(f"{path}: not a sharded collection (index it with --shards N)")
        self.path, self.fields, self.encoder = Path(path), local.fields, local.encoder
        self._local = local
        ray = connect_ray(address, None)
        actor = ray.remote(num_cpus=0)(ShardServer)
        self._ray = ray
        self.actors = [actor.remote(str(s.path.resolve())) for s in local.store.shards]
        counts = ray.get([a.count.remote() for a in self.actors])
        if counts != [len(s) for s in local.store.shards]:
            raise JointspaceError(f"{path}: the actors see other shard contents than this process ({counts})")

    def __len__(self) -> int:
        return sum(self._ray.get([a.count.remote() for a in self.actors]))

    def search(self, query: str | np.ndarray, k: int = 10, where: Any = None) -> list[Hit]:
        return self.search_batch([query], k=k, where=where)[0]

    def search_batch(self, queries: list[str | np.ndarray], k: int = 10, where: Any = None) -> list[list[Hit]]:
        if k < 1:
            raise JointspaceError(f"k must be at least 1, got {k}")
        if not queries:
            return []
        vectors = self._local.embed_queries(queries)
        per_shard = self._ray.get([a.search.remote(vectors, k, where) for a in self.actors])
        return [merge_top_k(([Hit(*h) for h in rows[q]] for rows in per_shard), k) for q in range(len(queries))]

    def close(self) -> None:
        for actor in self.actors:
            self._ray.kill(actor)
        self._local.close()


def serve_shards(path: str | Path, address: str | None = None) -> RaySharded:
    """One Ray actor per shard of the sharded collection at ``path``; returns a searchable handle."""
    return RaySharded(path, address)
