"""The Collection: THE facade over any store (embedded directory, sharded directory, PostgreSQL).

It validates records, fits a data-learning encoder on the first write, encodes (an item the encoder
rejects is reported, the batch goes on), and hands finished rows to the store, one transaction per batch.
It turns every kind of query (text, a file path, uploaded bytes, a vector, a dict of parts) into a vector
in the collection's space in ONE place, ``embed_query``, which the CLI, the HTTP API and the page all call.
Which backend holds the items is decided once, by ``jointspace.stores`` from the location.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.encoders import Encoder, l2_normalise
from jointspace.encoders import encoder as make_encoder
from jointspace.encoders.robust import encode_each
from jointspace.errors import ItemError, JointspaceError
from jointspace.results import Hit, Hits, Progress, Skipped, WriteReport, batches
from jointspace.stores import create_store, exists, is_database_url, open_store
from jointspace.stores import filters as flt
from jointspace.stores.base import CONTENT_HASHES, INTERACTIONS, LEXICAL, VECTOR_FIELDS, Row, Store, require
from jointspace.values import clean_fields, normalise_id

#: records per encode step of add/upsert (and per committed transaction): texts are length-sorted within a
#: step, so bigger steps pad less; a kill loses at most the step in flight
WRITE_BATCH = 1024
QUERY_MODALITIES = ("text", "image", "audio", "video")
SEARCH_MODES = ("dense", "lexical", "hybrid")
#: how many candidates each side of a hybrid search brings to the fusion, as a multiple of k (at least 50)
HYBRID_DEPTH = 5

__all__ = ["WRITE_BATCH", "Collection", "Hit", "Progress", "Skipped", "WriteReport"]


class Collection:
    """Items with fields and one vector each, searchable by similarity and filterable by metadata."""

    def __init__(self, store: Store, encoder: Encoder) -> None:
        self.store = store
        self.encoder = encoder
        self.manifest: dict[str, Any] = store.manifest
        self.fields: list[str] = list(self.manifest["fields"])
        self.id_field: str = self.manifest["id_field"]

    # -- create / open ------------------------------------------------------------------------------
    @classmethod
    def create(cls, location: str | Path, encoder: str | Encoder = "minilm", fields: Iterable[str] = ("text",),
               id_field: str = "id", index: str | dict[str, Any] | None = None, overwrite: bool = False,
               media: dict[str, str] | None = None, shards: int | None = None, quantize: str | None = None,
               rescore: int | None = None, durable: bool | None = None, **encoder_params: Any) -> Collection:
        """A new, empty collection at ``location`` embedding ``fields`` with ``encoder``.

        ``location``: a directory (embedded; with ``shards=N`` a directory of N shards) or a
        ``postgresql://`` URL. ``index`` is "flat" (exact; the default in a directory) or "hnsw" (the
        default in PostgreSQL, where "flat" means an exact scan). ``media`` names the fields that hold file
        paths and what they are, e.g. ``{"photo": "image"}`` (``"image"``, ``"audio"``, ``"video"``, or
        ``"file"`` to detect it by content); with the ``joint`` encoder a record's text and media fields are
        embedded together into one vector. ``durable``: see ``open``.
        ``quantize`` ("int8" or "binary", flat index in a directory) keeps
        compact codes in memory for the search and rescores the best ``rescore * k`` candidates exactly
        from the float32 vectors (the truth, in SQLite); ``rescore`` defaults to 4 for int8, 10 for binary.
        """
        enc = make_encoder(encoder, **encoder_params) if isinstance(encoder, str) else encoder
        fields = [fields] if isinstance(fields, str) else list(fields)
        if not fields:
            raise JointspaceError("a collection needs at least one field to embed")
        if index is None:
            index = "hnsw" if is_database_url(location) else "flat"
        manifest: dict[str, Any] = {
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "encoder": {"name": enc.name, "dim": enc.dim, "modality": enc.modality},
            "fields": fields,
            "id_field": id_field,
            "index": {"kind": index} if isinstance(index, str) else dict(index),
        }
        if quantize:
            if is_database_url(location) or manifest["index"]["kind"] != "flat":
                raise JointspaceError("quantize applies to the flat index of a collection directory")
            # the best rescore * k candidates by code are rescored exactly: 4x keeps int8 at recall@10 >= 0.999,
            # binary needs 10x for >= 0.95 (docs/benchmarks.md, "Search core")
            manifest["index"].update(quantize=quantize, rescore=int(rescore or (10 if quantize == "binary" else 4)))
        if media:
            manifest["media"] = dict(media)
        store = create_store(location, manifest, enc, shards=shards, overwrite=overwrite, durable=durable)
        return cls(store, enc)

    @classmethod
    def open(cls, location: str | Path, durable: bool | None = None) -> Collection:
        """An existing collection: a directory, a sharded directory, or a ``postgresql://`` URL.

        ``durable=True`` (or JOINTSPACE_DURABLE=1) makes a directory's commits survive a power loss too
        (SQLite synchronous=FULL, and the directory fsynced after each rename); PostgreSQL is durable already."""
        store = open_store(location, durable)
        try:
            encoder = store.load_encoder()
        except BaseException:
            store.close()
            raise
        return cls(store, encoder)

    @classmethod
    def open_or_create(cls, location: str | Path, encoder: str | Encoder = "minilm", **settings: Any) -> Collection:
        """The collection at ``location``, created with these settings when there is none. An ``encoder``
        other than the existing collection's is an error, never silently ignored."""
        check = settings.pop("check_encoder", True)
        if not exists(location):
            return cls.create(location, encoder=encoder, **settings)
        col = cls.open(location)
        wanted = encoder if isinstance(encoder, str) else encoder.name
        if check and wanted not in (col.encoder.name, None):
            name = col.encoder.name
            col.close()
            raise JointspaceError(f"{location}: holds encoder {name!r}, not {wanted!r}; leave --encoder out to "
                                  "add to it, or index into a new location")
        return col

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- facts --------------------------------------------------------------------------------------
    @property
    def path(self) -> Any:
        """The directory (embedded, sharded) or the redacted URL (PostgreSQL) of the collection."""
        return getattr(self.store, "path", self.store.location)

    @property
    def location(self) -> str:
        return self.store.location

    @property
    def backend(self) -> str:
        return self.store.kind

    @property
    def vector_name(self) -> str:
        """The name of the main vector among the named vector fields (the encoder's modality, e.g. "text")."""
        return str(self.manifest.get("vector_name") or self.manifest["encoder"]["modality"])

    def generation(self) -> int:
        return self.store.generation()

    def info(self) -> dict[str, Any]:
        facts = self.store.info()
        facts.update({"encoder": self.manifest["encoder"], "fields": self.fields, "id_field": self.id_field,
                      "index": self.manifest["index"]})
        if self.manifest.get("media"):
            facts["media"] = self.manifest["media"]
        if VECTOR_FIELDS in self.store.capabilities:
            facts["vector_fields"] = self.vector_fields()
        facts["query_modalities"] = self.query_modalities()
        return facts

    # -- reading ------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.store)

    def __contains__(self, item_id: object) -> bool:
        return _id_text(item_id) in self.store

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Every item's record (id and fields), in insertion order, streaming."""
        for ids, fields, _ in self.store.iterate():
            for item_id, f in zip(ids, fields, strict=True):
                yield {self.id_field: item_id, **f}

    def __getitem__(self, item_id: Any) -> dict[str, Any]:
        return self.get(item_id)

    def ids(self) -> list[str]:
        return self.store.ids()

    def to_pandas(self, columns: Sequence[str] | None = None, vectors: bool = False) -> Any:
        """The whole collection as a DataFrame: the id, the fields (or only ``columns``), and with
        ``vectors=True`` a ``vector`` column of float32 arrays."""
        import pandas as pd

        rows: list[dict[str, Any]] = []
        for ids, fields, vecs in self.store.iterate():
            for item_id, f, v in zip(ids, fields, vecs, strict=True):
                row = {self.id_field: item_id, **({k: f.get(k) for k in columns} if columns else f)}
                if vectors:
                    row["vector"] = v
                rows.append(row)
        frame = pd.DataFrame(rows)
        if rows and columns:
            frame = frame[[self.id_field, *columns, *(["vector"] if vectors else [])]]
        return frame

    def export(self, path: str | Path, vectors: bool = False) -> int:
        """Every item (id and fields, with ``vectors`` its vector as a list) to Parquet or JSONL by the file's
        suffix, streamed; returns the number of items written."""
        from jointspace.frames import write_table

        def records() -> Iterator[dict[str, Any]]:
            for ids, fields, vecs in self.store.iterate():
                for item_id, f, v in zip(ids, fields, vecs, strict=True):
                    yield {self.id_field: item_id, **f, **({"vector": v.tolist()} if vectors else {})}

        return write_table(records(), path)

    def get(self, item_id: Any) -> Any:
        """The stored record (fields with the id) of one id, or a list of them for a list of ids;
        KeyError naming the first id there is no item for."""
        many = _is_many(item_id)
        ids = [_id_text(i) for i in (item_id if many else [item_id])]
        found = self.store.get(ids)
        for i in ids:
            if i not in found:
                raise KeyError(f"no item with id {i!r} in {self.location}")
        records = [{self.id_field: i, **found[i]} for i in ids]
        return records if many else records[0]

    def vectors(self, ids: Any) -> np.ndarray:
        """The stored vectors of the given id(s), in order (one id: a (1, dim) array)."""
        ids = [_id_text(i) for i in (ids if _is_many(ids) else [ids])]
        return self.store.vectors(ids)

    def iter_items(self, batch_size: int = 2000) -> Iterator[tuple[list[str], list[dict[str, Any]], np.ndarray]]:
        """All items as ``(ids, fields, vectors)`` chunks, in insertion order."""
        return self.store.iterate(batch_size)

    def value_counts(self, field: str) -> dict[str, int]:
        """How many items hold each value of ``field`` (small summaries, e.g. items per modality)."""
        return self.store.field_values(field)

    def ids_where(self, where: dict[str, Any] | str | None) -> list[str]:
        """The ids of the items matching a ``where`` filter (every passing item, in insertion order)."""
        return self.store.ids_where(self.where(where))

    def where(self, where: Any) -> flt.Node | None:
        """A filter parsed once and checked against the fields the items hold: a field no item has (with the
        closest names) or a number field compared with a string is an error, never an empty result."""
        node = flt.parse(where)
        if node is not None:
            flt.check(node, self.store.catalog())
        return node

    def build_lexical(self, progress: Progress | None = None) -> bool:
        """Build the lexical index of a collection written before it existed; False when it was current."""
        require(self.store, LEXICAL, "build_lexical")
        return self.store.ensure_lexical(progress)

    def warm(self) -> None:
        """Load (and cache on disk) what the first search needs: the vector matrix and the metadata columns."""
        self.store.catalog()
        if len(self):
            self.store.search(np.ones((1, self.encoder.dim), np.float32), 1)

    def catalog(self) -> dict[str, dict[str, int]]:
        """Every field the items hold (nested objects as dotted names): kind -> how many items."""
        return self.store.catalog().to_json()

    # -- the one query path -------------------------------------------------------------------------
    def query_modalities(self) -> list[str]:
        """The query modalities this collection can be searched by."""
        enc = self.encoder
        native = tuple(getattr(enc, "modalities", None) or (enc.modality,))
        if enc.modality == "joint":
            from jointspace.readers.detect import MODALITIES

            return list(MODALITIES)
        out = [m for m in QUERY_MODALITIES if m in native]
        if "text" not in out and hasattr(enc, "encode_text"):
            out.insert(0, "text")
        space = getattr(enc, "space", None)
        if space is not None and hasattr(enc, "encode_query"):
            for side in (space.left, space.right):
                if side.modality not in out:
                    out.append(side.modality)
        return out

    def embed_query(self, query: Any, modality: str | None = None) -> np.ndarray:
        """One query as a (1, dim) unit vector in this collection's space.

        ``query``: text; a file path (``Path``, or a string with ``modality`` "image"/"audio"/"video"/"file");
        uploaded ``bytes`` (the modality detected by content unless given); a vector (list or 1-D array); a
        dict of parts such as ``{"image": path, "text": "..."}`` (joint collections). Text queries on
        image-text, speech, joint and ``--space`` collections go through the encoder's bridge or learned space.
        A query the collection cannot embed is an error naming its modality and what the collection takes.
        """
        if isinstance(query, np.ndarray | list | tuple) and not isinstance(query, str):
            return self._query_vector(query)
        if isinstance(query, bytes | bytearray):
            return self._embed_bytes(bytes(query), modality)
        if isinstance(query, dict):
            return self._encode_query_items([query], "joint")
        if isinstance(query, Path) or (isinstance(query, str) and modality not in (None, "text")):
            path = Path(query)
            if not path.is_file():
                raise JointspaceError(f"{path}: no such file to search by")
            if modality in (None, "file"):
                from jointspace.readers.detect import detect_modality

                modality = detect_modality(path)
            if modality == "text":
                return self.embed_query(path.read_text(encoding="utf-8", errors="replace"), "text")
            return self._encode_query_items([path], modality)
        if isinstance(query, str):
            if not query.strip():
                raise JointspaceError("empty query: type some words to search for")
            return self._encode_query_items([query], "text")
        raise JointspaceError(f"cannot search by a {type(query).__name__}; give text, a file path, bytes, a "
                              "vector or a dict of parts")

    def embed_queries(self, queries: Sequence[Any], modality: str | None = None) -> np.ndarray:
        """Query vectors, (n, dim); plain texts are encoded together in one batch. A 2-D array is a batch."""
        if isinstance(queries, np.ndarray) and queries.ndim == 2:
            return np.concatenate([self._query_vector(q) for q in queries]) if len(queries) else np.zeros(
                (0, self.encoder.dim), np.float32)
        queries = list(queries)
        out = np.zeros((len(queries), self.encoder.dim), dtype=np.float32)
        texts = [i for i, q in enumerate(queries) if isinstance(q, str) and modality in (None, "text")]
        for i in texts:
            if not queries[i].strip():
                raise JointspaceError(f"query {i}: empty; type some words to search for")
        if texts:
            out[texts] = self._encode_query_items([queries[i] for i in texts], "text")
        for i, q in enumerate(queries):
            if i not in set(texts):
                out[i] = self.embed_query(q, modality)[0]
        return out

    def _query_vector(self, query: Any) -> np.ndarray:
        vector = np.asarray(query, dtype=np.float32)
        if vector.ndim == 2 and vector.shape[0] == 1:
            vector = vector[0]
        if vector.ndim != 1:
            raise JointspaceError(f"a query vector must be one row; got shape {vector.shape} (use search_batch "
                                  "for several queries)")
        problem = _vector_problem(vector, self.encoder.dim)
        if problem:
            raise JointspaceError(f"query {problem}")
        return l2_normalise(vector[None, :])

    def _embed_bytes(self, data: bytes, modality: str | None) -> np.ndarray:
        from jointspace.readers.detect import detect_modality

        with tempfile.TemporaryDirectory(prefix="jointspace-query-") as tmp:
            path = Path(tmp) / "query"
            path.write_bytes(data)
            kind = modality if modality not in (None, "file") else detect_modality(path)
            if kind == "text":
                return self.embed_query(data.decode("utf-8", errors="replace"), "text")
            return self._encode_query_items([path], kind)

    def _encode_query_items(self, items: list[Any], modality: str) -> np.ndarray:
        """Queries of one modality through whatever reaches this collection's space."""
        enc = self.encoder
        native = tuple(getattr(enc, "modalities", None) or (enc.modality,))
        if modality == "text" and enc.modality != "text" and hasattr(enc, "encode_text"):
            method = "encode_text"
        elif enc.modality == "joint" or modality in native:
            method = "encode"
        elif hasattr(enc, "encode_query") and modality in self.query_modalities():
            return l2_normalise(np.asarray(enc.encode_query(items, modality), dtype=np.float32))
        else:
            raise JointspaceError(f"this collection's encoder ({enc.name}) embeds "
                                  f"{', '.join(self.query_modalities())}: it cannot be searched by {modality}")
        if modality == "joint" and enc.modality != "joint":
            raise JointspaceError(f"a query of several parts needs a joint collection; this one embeds "
                                  f"{enc.modality} with {enc.name}")
        if enc.modality == "joint" and modality in ("image", "audio", "video"):
            items = [{modality: str(i)} for i in items]
        result = encode_each(enc, items, method=method, allow_zero=True)
        if result.errors:
            position, reason = next(iter(result.errors.items()))
            raise ItemError("query" if len(items) == 1 else f"query {position}", reason)
        return result.vectors  # encode_each rejected any vector that is not finite

    # -- search -------------------------------------------------------------------------------------
    def search(self, query: Any, k: int = 10, where: dict[str, Any] | str | None = None,
               modality: str | None = None, mode: str = "dense", alpha: float | None = None,
               explain: bool = False) -> list[Hit]:
        """The ``k`` items most similar to ``query`` (see ``embed_query``), among those matching ``where``.

        ``mode``: "dense" (vectors), "lexical" (BM25 over the text fields, in the same commits as the
        vectors) or "hybrid" (both, fused by reciprocal rank, or by ``alpha * dense + (1 - alpha) * lexical``
        over min-max normalised scores when ``alpha`` is given). The filter applies to both sides before
        fusion. ``explain=True``: every hit says why (each side's score and rank, matched terms, fused score).
        """
        _check_k(k)
        if mode not in SEARCH_MODES:
            raise JointspaceError(f"unknown search mode {mode!r}; use one of {', '.join(SEARCH_MODES)}")
        if isinstance(query, np.ndarray) and query.ndim == 2 and query.shape[0] != 1:
            raise JointspaceError(f"a 2-D array of {query.shape[0]} rows is a batch of queries: use search_batch")
        node = self.where(where)
        if not self.encoder.is_fitted and not isinstance(query, np.ndarray | list | tuple) and not len(self):
            return Hits()  # nothing written yet, so nothing the encoder could have learned from
        if mode == "dense":
            hits = Hits(self.store.search(self.embed_query(query, modality), k, node)[0])
            if explain:
                for rank, hit in enumerate(hits, start=1):
                    hit.explain = {"dense": {"score": round(hit.score, 6), "rank": rank}}
            return hits
        if not isinstance(query, str) or modality not in (None, "text"):
            raise JointspaceError(f"{mode} search needs a text query (the lexical side matches words)")
        require(self.store, LEXICAL, f"{mode} search")
        if mode == "lexical":
            hits = Hits(self.store.lexical_search(query, k, node, with_terms=explain))
            for rank, hit in enumerate(hits, start=1):
                terms = (hit.explain or {}).get("terms", [])
                hit.explain = {"lexical": {"score": round(hit.score, 6), "rank": rank, "terms": terms}} \
                    if explain else None
            return hits
        from jointspace.fusion import fuse

        depth = max(HYBRID_DEPTH * k, 50)
        dense = self.store.search(self.embed_query(query, "text"), depth, node)[0]
        lexical = self.store.lexical_search(query, depth, node, with_terms=explain)
        by_id = {h.id: h for h in [*lexical, *dense]}
        fused = fuse([(h.id, h.score) for h in dense],
                     [(h.id, h.score, (h.explain or {}).get("terms", [])) for h in lexical],
                     method="rrf" if alpha is None else "weighted", alpha=0.5 if alpha is None else alpha, k=k)
        return Hits(Hit(f.id, f.score, by_id[f.id].fields, f.explanation.to_dict() if explain else None)
                    for f in fused)

    def search_batch(self, queries: Sequence[Any], k: int = 10, where: dict[str, Any] | str | None = None
                     ) -> list[list[Hit]]:
        _check_k(k)
        if len(queries) == 0:
            return []
        return [Hits(row) for row in self.store.search(self.embed_queries(queries), k, self.where(where))]

    def similar(self, item_id: Any, k: int = 10, where: dict[str, Any] | str | None = None) -> list[Hit]:
        """The ``k`` items closest to the stored item ``item_id`` ("more like this"), itself left out."""
        _check_k(k)
        item_id = _id_text(item_id)
        hits = self.store.search(self.vectors([item_id]), k + 1, self.where(where))[0]
        return Hits([h for h in hits if h.id != item_id][:k])

    # -- writing ------------------------------------------------------------------------------------
    def text_of(self, record: dict[str, Any]) -> str:
        """The text embedded for a record: its indexed fields joined; ItemError when one is missing."""
        parts = []
        for name in self.fields:
            value = record.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                raise ItemError(self._label(record), f"missing or empty field {name!r}")
            parts.append(str(value))
        return "\n".join(parts)

    def item_of(self, record: dict[str, Any]) -> Any:
        """What the encoder embeds for a record: its text for text encoders (``text_of``); for media
        encoders the file path of its media field; for the joint encoder a dict of its parts."""
        media: dict[str, str] = self.manifest.get("media") or {}
        if self.encoder.modality == "text":
            return self.text_of(record)
        if self.encoder.modality != "joint":
            name = next(iter(media), self.fields[0])
            value = record.get(name)
            if value is None or not str(value).strip():
                raise ItemError(self._label(record), f"missing or empty field {name!r}")
            return Path(str(value))
        parts: dict[str, Any] = {}
        texts = [str(record[f]) for f in self.fields
                 if f not in media and record.get(f) is not None and str(record[f]).strip()]
        if texts:
            parts["text"] = "\n".join(texts)
        for name, kind in media.items():
            value = record.get(name)
            if value is not None and str(value).strip():
                if kind in parts:
                    raise ItemError(self._label(record), f"two {kind} fields; a record embeds one of each")
                parts[kind] = str(value)
        if not parts:
            raise ItemError(self._label(record), f"none of the fields {self.fields} has a value")
        return parts

    def _label(self, record: dict[str, Any]) -> str:
        item_id = record.get(self.id_field)
        return f"id {item_id!r}" if item_id is not None else "record without id"

    def add(self, records: Any, batch_size: int = WRITE_BATCH, progress: Progress | None = None,
            vectors: np.ndarray | Iterable[np.ndarray] | None = None, deadline: float | None = None,
            atomic: bool = False) -> WriteReport:
        """Add new records (an id already present is skipped and reported; use ``upsert`` to replace).

        ``records``: dicts, or a pandas DataFrame. ``vectors``, when given, are the records' own precomputed
        vectors (one per record, in order): stored as they are (normalised); the indexed fields need not be
        present. Each batch of ``batch_size`` records is one transaction (a kill loses at most the batch in
        flight); ``atomic=True`` makes the whole call one transaction. ``deadline`` (a ``time.monotonic()``
        instant) makes the write atomic and rolls it back if it has not committed by then.
        """
        return self._write(records, False, batch_size, progress, vectors, deadline, atomic)

    def upsert(self, records: Any, batch_size: int = WRITE_BATCH, progress: Progress | None = None,
               vectors: np.ndarray | Iterable[np.ndarray] | None = None, deadline: float | None = None,
               atomic: bool = False) -> WriteReport:
        """Add records, replacing any item with the same id. A record stored already with the same content
        is not encoded again (counted as ``unchanged``): re-running an interrupted ``index`` resumes it."""
        return self._write(records, True, batch_size, progress, vectors, deadline, atomic)

    def _fit_if_needed(self, records: list[Any]) -> None:
        if self.encoder.is_fitted:
            return
        items = []
        for record in records:
            try:
                items.append(self.item_of(record))
            except (ItemError, AttributeError, TypeError):
                continue
        if not items:
            raise JointspaceError(f"encoder {self.encoder.name!r} learns from the data, but none of the records "
                                  f"has the field(s) {self.fields} to learn from")
        self.encoder.fit(items)
        self.store.save_encoder(self.encoder)  # one commit: no kill leaves a half-saved encoder

    def _write(self, records: Any, replace: bool, batch_size: int, progress: Progress | None,
               vectors: Any, deadline: float | None, atomic: bool) -> WriteReport:
        records = _as_records(records)
        report = WriteReport()
        if vectors is not None:
            records, vectors = list(records), list(vectors)
            if len(records) != len(vectors):
                raise JointspaceError(f"{len(records)} records but {len(vectors)} vectors")
            pairs: Iterable[tuple[Any, Any]] = zip(records, vectors, strict=True)
        else:
            if not self.encoder.is_fitted:
                records = list(records)
                self._fit_if_needed(records)
            pairs = ((r, None) for r in records)
        atomic = atomic or deadline is not None
        seen: set[str] = set()
        pending: list[Row] = []
        for batch in batches(pairs, batch_size):
            rows = self._prepare(batch, replace, seen, report)
            if atomic:
                pending.extend(rows)
            elif rows:
                report.merge(self.store.put(rows))
            if progress:
                progress(len(batch))
        if atomic and pending:
            report.merge(self.store.put(pending, deadline=deadline))
        return report

    def _prepare(self, batch: list[tuple[Any, Any]], replace: bool, seen: set[str], report: WriteReport
                 ) -> list[Row]:
        """The batch's usable records as rows; each unusable one is reported and left out."""
        good: list[tuple[str, dict[str, Any], Any, str | None]] = []
        for position, (record, vector) in enumerate(batch):
            try:
                if not isinstance(record, dict):
                    raise ItemError(f"record {position}", f"expected a mapping of field -> value, got "
                                    f"{type(record).__name__}")
                raw_id = record.get(self.id_field)
                if raw_id is None or (isinstance(raw_id, str) and not raw_id.strip()):
                    raise ItemError("record without id", f"missing id field {self.id_field!r}")
                try:
                    item_id = normalise_id(raw_id)
                except ItemError as exc:
                    raise ItemError(f"record {position} (id {exc.item})", exc.reason) from None
                fields, notes = clean_fields({k: v for k, v in record.items() if k != self.id_field})
                record = {self.id_field: item_id, **fields}
                item = vector if vector is not None else self.item_of(record)
            except ItemError as exc:
                report.skipped.append(Skipped(str(exc.item), exc.reason))
                continue
            report.notes.extend(Skipped(f"id {item_id!r}", note) for note in notes)
            good.append((item_id, fields, item, _content_hash(self.encoder.name, fields) if vector is None
                         else None))
        # an id twice in one write: the last one wins
        last = {item_id: i for i, (item_id, *_) in enumerate(good)}
        for i, (item_id, *_) in enumerate(good):
            if last[item_id] != i or item_id in seen:
                report.skipped.append(Skipped(f"id {item_id!r}", "duplicate id in the input; the last occurrence "
                                              "was kept"))
        good = [g for i, g in enumerate(good) if last[g[0]] == i]
        # what needs no encoding: ids stored already (add), or stored with the same content (upsert)
        ids = [g[0] for g in good]
        if not replace:
            stored = set(self.store.get([i for i in ids if i not in seen]))
            for item_id in stored:
                report.skipped.append(Skipped(f"id {item_id!r}", "id exists already (use upsert)"))
            good = [g for g in good if g[0] not in stored]
        elif CONTENT_HASHES in self.store.capabilities:
            hashes = self.store.content_hashes(ids)
            same = {g[0] for g in good if g[3] is not None and hashes.get(g[0]) == g[3] and g[0] not in seen}
            report.unchanged += len(same)
            good = [g for g in good if g[0] not in same]
        rows: list[Row] = []
        if batch and batch[0][1] is not None:  # precomputed vectors
            for item_id, fields, vector, _ in good:
                arr = np.asarray(vector, dtype=np.float32).reshape(-1)
                problem = _vector_problem(arr, self.encoder.dim)
                if problem:
                    report.skipped.append(Skipped(f"id {item_id!r}", problem))
                    continue
                rows.append(Row(item_id, fields, l2_normalise(arr[None, :])[0], replace=replace or item_id in seen))
        else:
            result = encode_each(self.encoder, [g[2] for g in good], details=True)
            for position, reason in result.errors.items():
                report.skipped.append(Skipped(f"id {good[position][0]!r}", reason))
            for vector, position, detail in zip(result.vectors, result.kept, result.details, strict=True):
                item_id, fields, _, content_hash = good[position]
                fields = {**fields, **{k: v for k, v in detail.items() if k not in fields}}
                rows.append(Row(item_id, fields, vector, replace=replace or item_id in seen,
                                content_hash=content_hash))
        seen.update(r.id for r in rows)
        return rows

    def upsert_vectors(self, ids: Sequence[Any], fields: Sequence[dict[str, Any]], vectors: np.ndarray,
                       progress: Progress | None = None, chunk: int = 5000) -> WriteReport:
        """Store items whose vectors are computed already (migration, distributed jobs), replacing by id.

        Vectors are L2-normalised; a row with an empty id or a non-finite or zero vector is skipped and
        reported. Each chunk is one transaction."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(ids) or len(fields) != len(ids) or (
                len(ids) and vectors.shape[1] != self.encoder.dim):
            raise JointspaceError(f"vectors of shape {vectors.shape} for {len(ids)} ids and {len(fields)} "
                                  f"field sets; this collection holds dim {self.encoder.dim}")
        report = WriteReport()
        for start in range(0, len(ids), chunk):
            rows = []
            for i in range(start, min(start + chunk, len(ids))):
                item_id = str(ids[i]) if ids[i] is not None else ""
                problem = "empty id" if not item_id.strip() else _vector_problem(vectors[i], None)
                if problem:
                    report.skipped.append(Skipped(f"id {item_id!r}", problem))
                    continue
                rows.append(Row(item_id, dict(fields[i]), l2_normalise(vectors[i][None, :])[0], replace=True))
            if rows:
                report.merge(self.store.put(rows))
            if progress:
                progress(min(chunk, len(ids) - start))
        return report

    def delete(self, ids: Any, deadline: float | None = None) -> WriteReport:
        """Remove items by id (one id, or many); at once invisible to search. Unknown ids are reported."""
        ids = [_id_text(i) for i in (ids if _is_many(ids) else [ids])]
        return self.store.delete(ids, deadline=deadline)

    # -- named vector fields ------------------------------------------------------------------------
    def vector_fields(self) -> dict[str, dict[str, Any]]:
        """Every named vector: the main one and the extra fields, name -> {dim, encoder, ...}."""
        main = {self.vector_name: {"dim": self.encoder.dim, "encoder": self.encoder.name, "main": True,
                                   "source": self.fields}}
        if VECTOR_FIELDS not in self.store.capabilities:
            return main
        return main | {name: f.to_dict() for name, f in self.store.vector_fields().items()}

    def field_vectors(self, name: str) -> dict[str, np.ndarray]:
        """id -> vector of one named field (the main one included)."""
        if name == self.vector_name:
            return {i: v for ids, _, vecs in self.store.iterate() for i, v in zip(ids, vecs, strict=True)}
        require(self.store, VECTOR_FIELDS, "field_vectors")
        if name not in self.store.vector_fields():
            raise JointspaceError(f"no vector field {name!r} in {self.location}; it has: "
                                  f"{', '.join(self.vector_fields())}")
        return self.store.field_vectors(name)

    def field_encoder(self, name: str) -> Encoder | None:
        """The encoder that made a field's vectors (None when they were given as vectors)."""
        if name == self.vector_name:
            return self.encoder
        require(self.store, VECTOR_FIELDS, "field_encoder")
        if name not in self.store.vector_fields():
            raise JointspaceError(f"no vector field {name!r} in {self.location}")
        return self.store.field_encoder(name)

    def add_vectors(self, name: str, vectors: dict[str, Any] | Iterable[tuple[str, Any]],
                    encoder: Encoder | None = None, replace: bool = False, info: dict[str, Any] | None = None,
                    interactions: list[Any] | None = None) -> WriteReport:
        """Store precomputed vectors (e.g. image vectors) as field ``name``; bad ones are reported."""
        import re

        require(self.store, VECTOR_FIELDS, "add_vectors")
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$", name):
            raise JointspaceError(f"bad vector field name {name!r}: letters, digits, '_' or '-'")
        if name == self.vector_name:
            raise JointspaceError(f"{name!r} is the collection's main vector; choose another name for an extra field")
        existing = self.store.vector_fields().get(name)
        dim = encoder.dim if encoder is not None else (existing.dim if existing and not replace else None)
        report = WriteReport()
        rows: dict[str, np.ndarray] = {}
        pairs = list(vectors.items() if isinstance(vectors, dict) else vectors)
        known = set(self.store.get([_id_text(i) for i, _ in pairs]))
        for item_id, vector in pairs:
            item_id = _id_text(item_id)
            if item_id not in known:
                report.skipped.append(Skipped(f"id {item_id!r}", "no such item in the collection"))
                continue
            arr = np.asarray(vector, dtype=np.float32).reshape(-1)
            reason = _vector_problem(arr, dim, holder=f"the field {name!r}")
            if reason:
                report.skipped.append(Skipped(f"id {item_id!r}", reason))
                continue
            dim = arr.shape[0]
            rows[item_id] = arr / np.linalg.norm(arr)
        if dim is None:
            raise JointspaceError(f"vector field {name!r}: no usable vector to store")
        meta = {"modality": encoder.modality if encoder else (existing.info.get("modality") if existing else None)}
        meta.update(info or {})
        written = self.store.put_field(name, rows, dim, encoder, meta, replace, interactions=interactions)
        return report.merge(written)

    def encode_field(self, name: str, encoder: str | Encoder, source: Sequence[str] | str,
                     progress: Progress | None = None, batch_size: int = 256, **encoder_params: Any) -> WriteReport:
        """Field ``name`` = ``encoder`` over the items' stored ``source`` fields (e.g. a theme encoder),
        fitted first on those texts when it learns from data."""
        require(self.store, VECTOR_FIELDS, "encode_field")
        enc = make_encoder(encoder, **encoder_params) if isinstance(encoder, str) else encoder
        source = [source] if isinstance(source, str) else list(source)
        skipped: list[Skipped] = []
        ids, texts = [], []
        for record in self:
            item_id = record[self.id_field]
            missing = [s for s in source if record.get(s) in (None, "")]
            if missing:
                skipped.append(Skipped(f"id {item_id!r}", f"missing or empty field {missing[0]!r}"))
                continue
            ids.append(item_id)
            texts.append("\n".join(str(record[s]) for s in source))
        if not ids:
            raise JointspaceError(f"no item has the field(s) {source} to encode")
        if not enc.is_fitted:
            enc.fit(texts)
        pairs: list[tuple[str, np.ndarray]] = []
        for start in range(0, len(ids), batch_size):
            part = texts[start:start + batch_size]
            result = encode_each(enc, part)
            skipped.extend(Skipped(f"id {ids[start + p]!r}", r) for p, r in result.errors.items())
            pairs.extend((ids[start + p], v) for p, v in zip(result.kept, result.vectors, strict=True))
            if progress:
                progress(len(part))
        report = self.add_vectors(name, pairs, encoder=enc, replace=True, info={"source": source})
        report.skipped = skipped + report.skipped
        return report

    def drop_vectors(self, name: str) -> None:
        require(self.store, VECTOR_FIELDS, "drop_vectors")
        if name not in self.store.vector_fields():
            raise JointspaceError(f"no vector field {name!r} in {self.location}")
        self.store.drop_field(name)

    # -- interactions and recommendation ------------------------------------------------------------
    def add_interactions(self, interactions: Iterable[Any], field: str = "behaviour", merge: bool = True,
                         **params: Any) -> WriteReport:
        """Index user-item interactions: (re)fit the behaviour model on them (with the stored ones when
        ``merge``) and store its item vectors as ``field``; interactions, vectors and model commit together.

        ``interactions``: Interaction objects, (user, item[, weight[, timestamp]]) tuples, or dicts with
        those keys; malformed and duplicate rows are skipped and reported. Interactions with items the
        collection does not hold still train the model but give no vector; they are reported.
        """
        from jointspace.encoders.behaviour import BehaviourEncoder
        from jointspace.interactions import as_records, clean_interactions

        require(self.store, INTERACTIONS, "add_interactions")
        clean, skipped = clean_interactions(as_records(interactions), "user", "item", "weight", "timestamp")
        merged = {(i.user, i.item): i for i in self.store.interactions()} if merge else {}
        for inter in clean:
            merged[(inter.user, inter.item)] = inter
        if not merged:
            raise JointspaceError("no interactions to index")
        model = BehaviourEncoder(**params).fit(merged.values())
        in_collection = set(self.store.ids())
        outside = sorted({i for _, i in merged} - in_collection)
        known = [i for i in model.item_ids_ or [] if i in in_collection]
        vectors = model.encode(known) if known else []
        report = self.add_vectors(field, list(zip(known, vectors, strict=True)), encoder=model, replace=True,
                                  info={"interactions": len(merged), "users": len(model.user_ids_ or [])},
                                  interactions=list(merged.values()))
        if outside:
            shown = ", ".join(repr(i) for i in outside[:10]) + (" ..." if len(outside) > 10 else "")
            report.skipped.append(Skipped(f"{len(outside)} item ids", "interactions with items not in the "
                                          f"collection (used for fitting, no vector): {shown}"))
        report.skipped = skipped + report.skipped
        return report

    def interactions(self) -> list[Any]:
        require(self.store, INTERACTIONS, "interactions")
        return self.store.interactions()

    def history(self, user: str) -> list[Any]:
        """One user's interactions, oldest first (KeyError naming an unknown user)."""
        require(self.store, INTERACTIONS, "history")
        rows = self.store.history(str(user))
        if not rows:
            raise KeyError(f"user {user!r} has no interactions in this collection")
        return rows

    def recommend(self, liked: Any = None, k: int = 10, weights: dict[str, float] | None = None,
                  exclude_liked: bool = True, where: dict[str, Any] | str | None = None, diversify: float = 0.0,
                  user: str | None = None, half_life_days: float | None = 180.0) -> Any:
        """Items for someone who liked ``liked`` (ids, or (id, timestamp) pairs), or for a known ``user``.

        See ``jointspace.tasks.recommend.Recommender.recommend`` (a task over this collection's fields)."""
        from jointspace.tasks.recommend import recommender_for

        return recommender_for(self).recommend(liked=liked, k=k, weights=weights, exclude_liked=exclude_liked,
                                               where=where, diversify=diversify, user=user,
                                               half_life_days=half_life_days)


# -- helpers ------------------------------------------------------------------------------------------
def _check_k(k: int) -> None:
    if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 1:
        raise JointspaceError(f"k must be a whole number of at least 1, got {k!r}")


def _is_many(ids: Any) -> bool:
    """A list/tuple/set/array of ids (a string or a number is ONE id, never its characters)."""
    return isinstance(ids, list | tuple | set | frozenset | np.ndarray) or (
        hasattr(ids, "__iter__") and not isinstance(ids, str | bytes | dict) and not np.isscalar(ids))


def _vector_problem(vector: np.ndarray, dim: int | None, holder: str = "this collection") -> str | None:
    """Why a vector cannot be stored or searched by (None when it can): its size, a NaN, or no direction."""
    if dim is not None and vector.shape[0] != dim:
        return f"vector of dim {vector.shape[0]}; {holder} holds dim {dim}"
    if not np.isfinite(vector).all():
        return "vector holds NaN or infinite values"
    if not np.abs(vector).sum():
        return "vector is all zero: it has no direction to search in"
    return None


def _id_text(value: Any) -> str:
    """An id to read or delete by: a string, or an integer as its decimal string (as writes store it)."""
    if isinstance(value, bool) or not isinstance(value, str | int | np.integer):
        raise JointspaceError(f"an id must be a string or an integer, not {type(value).__name__} {value!r}")
    return str(int(value)) if not isinstance(value, str) else value


def _as_records(records: Any) -> Iterable[Any]:
    """Records from dicts, a pandas DataFrame, or any iterable of mappings."""
    if type(records).__name__ == "DataFrame" and hasattr(records, "to_dict"):
        # rows as they are: the write cleans each value (NaN -> null, said in the report; numpy -> Python)
        return (dict(r) for r in records.to_dict("records"))
    if isinstance(records, dict):
        return [records]
    return records


def _content_hash(encoder_name: str, fields: dict[str, Any]) -> str:
    text = json.dumps(fields, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.blake2b(f"{encoder_name}\n{text}".encode(), digest_size=16).hexdigest()
