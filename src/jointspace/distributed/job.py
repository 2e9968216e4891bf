"""Embedding as a Ray Data job: records -> shards -> actors that load the encoder once -> Parquet -> collection.

The driver reads the records with jointspace's own readers (bad rows are reported, not fatal) and cuts
them into shards of ``shard_rows`` in input order, so a shard's contents never change between runs. Ray
Data sends the shards that are not written yet through ``map_batches`` on a pool of actors (each loads
the model once); the driver writes each finished shard as ``shard-NNNNN.parquet`` (id, vector, fields,
error) by atomic rename. A re-run after a crash, Ctrl-C or a lost worker skips the complete shards and
redoes the rest; the collection is then built from the shards by upserting by id, so nothing is lost or
duplicated.

Work directory::

    job.json              what the shards were made from (inputs with size and mtime, encoder, fields)
    encoder/              the encoder the vectors came from (fitted on the driver when it learns)
    shard-00000.parquet   one file per shard, written whole or not at all
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.errors import JointspaceError
from jointspace.readers.records import FORMATS, Skipped, read_records

JOB_FORMAT = 1
JOB_FILE = "job.json"


@dataclass
class JobResult:
    """What a distributed index did: shards, items written to the collection, and what was skipped."""

    shards: int = 0
    shards_reused: int = 0
    items: int = 0
    added: int = 0
    updated: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.shards} shards ({self.shards_reused} reused), {self.added} added, {self.updated} updated, "
                f"{len(self.skipped)} skipped; {self.items} items")


# -- inputs -------------------------------------------------------------------------------------------
def input_files(data: str | Path) -> list[Path]:
    """The record files of ``data``: the file itself, or every supported file in a folder (sorted)."""
    data = Path(data)
    if data.is_dir():
        files = sorted(p for p in data.rglob("*") if p.is_file() and p.suffix.lower() in FORMATS)
        if not files:
            raise JointspaceError(f"{data}: no record files (.jsonl, .csv, .tsv, .parquet) in this folder")
        return files
    if not data.exists():
        raise JointspaceError(f"{data}: no such file or folder")
    return [data]


def _fingerprint(files: list[Path], settings: dict[str, Any]) -> dict[str, Any]:
    stats = [{"path": str(p.resolve()), "size": p.stat().st_size, "mtime_ns": p.stat().st_mtime_ns} for p in files]
    return {"format": JOB_FORMAT, "inputs": stats, **settings}


def _records(files: list[Path], skipped: list[Skipped]) -> Iterator[dict[str, Any]]:
    for path in files:
        source = read_records(path)
        yield from source
        skipped.extend(source.skipped)  # each names its file and line already


# -- Ray --------------------------------------------------------------------------------------------
def check_address(address: str, timeout: float = 5.0) -> None:
    """Fail fast, and clearly, when nothing answers at a Ray cluster's GCS address (host:port)."""
    host, sep, port = address.rpartition(":")
    if address.startswith("ray://") or address == "auto":
        return
    if not sep or not port.isdigit():
        raise JointspaceError(f"Ray address {address!r}: expected host:port (the head node's GCS address)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise JointspaceError(f"cannot reach a Ray cluster at {address}: {exc.strerror or exc}") from exc


def connect_ray(address: str | None, workers: int | None) -> Any:
    import logging

    import ray
    import ray.data

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # our own progress bar says how far it is
    ray.data.DataContext.get_current().enable_progress_bars = False
    if ray.is_initialized():
        return ray
    if address:
        check_address(address)
        ray.init(address=address, logging_level="WARNING", log_to_driver=False)
    else:
        ray.init(num_cpus=workers, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    return ray


class EncodeShard:
    """A Ray Data actor: loads the encoder once, then turns batches of texts into vectors."""

    def __init__(self, encoder_blob: bytes, threads: int = 1) -> None:
        from jointspace.stores.base import encoder_from_bytes

        try:
            import torch

            torch.set_num_threads(max(1, threads))  # one CPU per actor, as Ray schedules it
        except ImportError:
            pass
        self.encoder = encoder_from_bytes(encoder_blob)

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        texts = batch.column("text").to_pylist()
        from jointspace.encoders.robust import encode_each

        dim = self.encoder.dim
        vectors = np.zeros((len(texts), dim), dtype=np.float32)
        result = encode_each(self.encoder, texts)
        vectors[result.kept] = result.vectors
        errors: list[str | None] = [result.errors.get(i) for i in range(len(texts))]
        flat = pa.array(vectors.reshape(-1), type=pa.float32())
        column = pa.FixedSizeListArray.from_arrays(flat, dim)
        return pa.table({"shard": batch.column("shard"), "id": batch.column("id"), "vector": column,
                         "fields": batch.column("fields"), "error": pa.array(errors, type=pa.string())})


# -- shards -----------------------------------------------------------------------------------------
def shard_path(work: Path, i: int) -> Path:
    return work / f"shard-{i:05d}.parquet"


def shard_done(path: Path, rows: int) -> bool:
    """A shard counts as written when its file reads back with exactly the expected rows."""
    import pyarrow.parquet as pq

    if not path.exists():
        return False
    try:
        return pq.read_metadata(path).num_rows == rows
    except Exception:  # a damaged file: written again
        return False


def write_shard(path: Path, table: Any) -> None:
    """Write one shard whole or not at all (temporary file, fsync, rename)."""
    import pyarrow.parquet as pq

    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table.drop_columns(["shard"]), tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    tmp.replace(path)


def _prepare(files: list[Path], work: Path, settings: dict[str, Any], fields: list[str], id_field: str,
             keep: list[str] | None, encoder: Any, shard_rows: int, result: JobResult) -> tuple[list[Any], Any]:
    """Read, validate and cut the records into shard tables; fit and save the encoder when it learns."""
    import pyarrow as pa

    from jointspace.encoders import load_encoder

    work.mkdir(parents=True, exist_ok=True)
    for stale in work.glob("*.tmp"):  # half-written shards of an interrupted run
        stale.unlink()
    fingerprint = _fingerprint(files, settings)
    job_file = work / JOB_FILE
    if job_file.exists():
        if json.loads(job_file.read_text()) != fingerprint:
            raise JointspaceError(f"{work}: holds embedding shards of another job (other inputs or settings); "
                                  "remove it or choose another --work-dir")
    rows: list[tuple[str, str, str]] = []
    for record in _records(files, result.skipped):
        item_id = record.get(id_field)
        if item_id is None or str(item_id).strip() == "":
            result.skipped.append(Skipped("record without id", f"missing id field {id_field!r}"))
            continue
        parts = []
        for name in fields:
            value = record.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                result.skipped.append(Skipped(f"id {str(item_id)!r}", f"missing or empty field {name!r}"))
                break
            parts.append(str(value))
        else:
            kept = {k: v for k, v in record.items() if k != id_field and (keep is None or k in keep)}
            rows.append((str(item_id), "\n".join(parts), json.dumps(kept, default=str, ensure_ascii=False)))
    if (work / "encoder").exists():
        enc = load_encoder(work / "encoder")
    else:
        if not encoder.is_fitted:
            encoder.fit([r[1] for r in rows])
        tmp = work / "encoder.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        encoder.save(tmp)
        tmp.replace(work / "encoder")
        enc = encoder
    if not job_file.exists():
        tmp_job = job_file.with_suffix(".tmp")
        tmp_job.write_text(json.dumps(fingerprint, indent=2))
        tmp_job.replace(job_file)
    tables = []
    for start in range(0, len(rows), shard_rows):
        part = rows[start:start + shard_rows]
        i = start // shard_rows
        tables.append(pa.table({"shard": pa.array([i] * len(part), pa.int32()), "id": [r[0] for r in part],
                                "text": [r[1] for r in part], "fields": [r[2] for r in part]}))
    return tables, enc


def run_shards(tables: list[Any], work: Path, encoder_blob: bytes, ray: Any, workers: int, batch_size: int,
               progress: Callable[[int], None] | None) -> None:
    """Encode the shard tables on a Ray actor pool; write each shard as soon as all its rows are back."""
    import pyarrow as pa
    import pyarrow.compute as pc

    expected = {int(t.column("shard")[0].as_py()): t.num_rows for t in tables}
    ds = ray.data.from_arrow(tables)
    # min_size=1: a pool that loses a node's actors goes on with the others instead of waiting for them
    pool = ray.data.ActorPoolStrategy(min_size=1, max_size=workers)
    ds = ds.map_batches(EncodeShard, fn_constructor_args=(encoder_blob,), batch_size=batch_size,
                        batch_format="pyarrow", compute=pool, num_cpus=1)
    pending: dict[int, list[Any]] = {}
    got: dict[int, int] = {}
    for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        for i in sorted(set(batch.column("shard").to_pylist())):
            part = batch.filter(pc.equal(batch.column("shard"), i))
            pending.setdefault(i, []).append(part)
            got[i] = got.get(i, 0) + part.num_rows
            if progress:
                progress(part.num_rows)
            if got[i] == expected[i]:
                write_shard(shard_path(work, i), pa.concat_tables(pending.pop(i)))


def index(data: str | Path, out: str | Path, fields: list[str] | tuple[str, ...] = ("text",), id_field: str = "id",
          encoder: Any = "minilm", index: str | None = None, shards: int | None = None, keep: list[str] | None = None,
          batch_size: int = 256, shard_rows: int = 2000, address: str | None = None, workers: int | None = None,
          work_dir: str | Path | None = None, show_progress: bool = False,
          progress: Callable[[int], None] | None = None, **encoder_params: Any) -> JobResult:
    """Embed ``data`` with a Ray Data job and build the collection at ``out`` (directory or postgresql:// URL).

    ``address``: a running cluster (host:port), else a local Ray is started. ``workers``: encoder actors
    (default: the cluster's CPUs). Shards go to ``work_dir`` (default ``out/_embeddings``); a re-run
    reuses the complete ones.
    """
    from jointspace.encoders import Encoder
    from jointspace.encoders import encoder as make_encoder
    from jointspace.stores import is_database_url
    from jointspace.stores.base import encoder_to_bytes

    t0 = time.perf_counter()
    fields = [fields] if isinstance(fields, str) else list(fields)
    if shard_rows < 1 or batch_size < 1:
        raise JointspaceError("shard_rows and batch_size must be at least 1")
    if work_dir is None:
        if is_database_url(out):
            raise JointspaceError("a distributed index into PostgreSQL needs a work directory for its "
                                  "embedding shards (--work-dir DIR)")
        work_dir = Path(out) / "_embeddings"
    work = Path(work_dir)
    files = input_files(data)
    enc = make_encoder(encoder, **encoder_params) if isinstance(encoder, str) else encoder
    if not isinstance(enc, Encoder):
        raise JointspaceError(f"not an encoder: {encoder!r}")
    settings = {"fields": fields, "id_field": id_field, "keep": keep, "shard_rows": shard_rows,
                "encoder": {"name": enc.name, "params": json.loads(json.dumps(enc.get_params(), default=str))}}
    result = JobResult()
    tables, enc = _prepare(files, work, settings, fields, id_field, keep, enc, shard_rows, result)
    result.shards = len(tables)
    todo = [t for i, t in enumerate(tables) if not shard_done(shard_path(work, i), t.num_rows)]
    result.shards_reused = len(tables) - len(todo)
    result.seconds["read"] = time.perf_counter() - t0
    if todo:
        t1 = time.perf_counter()
        ray = connect_ray(address, workers)
        result.seconds["ray_start"] = time.perf_counter() - t1
        n_workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        t2 = time.perf_counter()
        try:
            with _progress(show_progress, "embedding (Ray)", sum(t.num_rows for t in todo), progress) as advance:
                run_shards(todo, work, encoder_to_bytes(enc), ray, n_workers, batch_size, advance)
        except JointspaceError:
            raise
        except Exception as exc:
            done = sum(shard_done(shard_path(work, i), t.num_rows) for i, t in enumerate(tables))
            raise JointspaceError(f"the Ray job stopped ({type(exc).__name__}: {str(exc).splitlines()[0][:300]}); "
                                  f"{done} of {len(tables)} shards are written in {work}: run the same command "
                                  "again to finish the rest") from exc
        result.seconds["embed"] = time.perf_counter() - t2
    t3 = time.perf_counter()
    build(work, len(tables), out, enc, fields, id_field, index, shards, result, show_progress, progress)
    result.seconds["build"] = time.perf_counter() - t3
    result.seconds["total"] = time.perf_counter() - t0
    return result


def read_shard(path: Path) -> tuple[list[str], list[dict[str, Any]], np.ndarray, list[Skipped]]:
    """The good rows of one shard as (ids, fields, vectors), and the rows the encoder rejected."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    errors = table.column("error").to_pylist()
    ids = table.column("id").to_pylist()
    good = [i for i, e in enumerate(errors) if e is None]
    skipped = [Skipped(f"id {ids[i]!r}", e) for i, e in enumerate(errors) if e is not None]
    vectors = table.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    vectors = vectors.reshape(len(ids), -1)[good].astype(np.float32)
    fields_json = table.column("fields").to_pylist()
    return [ids[i] for i in good], [json.loads(fields_json[i]) for i in good], vectors, skipped


def build(work: Path, n_shards: int, out: str | Path, enc: Any, fields: list[str], id_field: str,
          index: str | None, shards: int | None, result: JobResult, show_progress: bool = False,
          progress: Callable[[int], None] | None = None, chunk_rows: int = 100_000) -> None:
    """Upsert every shard's vectors into the collection at ``out`` (idempotent: upserts by id)."""
    import pyarrow.parquet as pq

    from jointspace.collection import Collection

    col = Collection.open_or_create(out, encoder=enc, fields=fields, id_field=id_field, index=index, shards=shards,
                                    check_encoder=False)
    try:
        if col.manifest["encoder"]["name"] != enc.name or col.encoder.dim != enc.dim:
            raise JointspaceError(f"{out}: holds encoder {col.manifest['encoder']['name']!r}, the shards "
                                  f"{enc.name!r}; build into a new location")
        total = sum(pq.read_metadata(shard_path(work, i)).num_rows for i in range(n_shards))
        from jointspace.collection import WriteReport

        report = WriteReport()
        with _progress(show_progress, "building collection", total, None) as advance:
            buffer: list[tuple[list[str], list[dict[str, Any]], np.ndarray]] = []

            def flush() -> None:
                if buffer:
                    ids = [i for b in buffer for i in b[0]]
                    fl = [f for b in buffer for f in b[1]]
                    vec = np.concatenate([b[2] for b in buffer])
                    report.merge(col.upsert_vectors(ids, fl, vec, progress=advance))
                    buffer.clear()

            for i in range(n_shards):
                ids, fl, vec, skipped = read_shard(shard_path(work, i))
                result.skipped.extend(skipped)
                buffer.append((ids, fl, vec))
                if sum(len(b[0]) for b in buffer) >= chunk_rows:
                    flush()
            flush()
        result.added, result.updated = report.added, report.updated
        result.skipped.extend(report.skipped)
        result.items = len(col)
    finally:
        col.close()


class _progress:
    """A rich bar when asked (CLI), else the caller's callback, else nothing."""

    def __init__(self, show: bool, description: str, total: int, callback: Callable[[int], None] | None) -> None:
        self.show, self.description, self.total, self.callback = show, description, total, callback
        self._ctx: Any = None

    def __enter__(self) -> Callable[[int], None]:
        if self.show:
            from jointspace.display import progress_bar

            self._ctx = progress_bar(self.description, self.total)
            return self._ctx.__enter__()
        return self.callback or (lambda n: None)

    def __exit__(self, *exc: Any) -> None:
        if self._ctx is not None:
            self._ctx.__exit__(*exc)
