"""Any sentence-transformers model as a jointspace encoder: a local model folder or a SentenceTransformer object.

Why its own module: the ``minilm`` encoder is one fixed model; users coming from sentence-transformers bring
their own (a fine-tuned folder, an object in memory). The model is run the fast way when it can be: the
transformer body exported once to ONNX (fused by onnxruntime when it is a BERT) with the model's own
tokenizer and pooling done here, so queries never import torch; by sentence-transformers itself when it
cannot (modules other than Transformer, Pooling, Normalize; no ``tokenizer.json``; an export that fails).

Nothing is downloaded: a hub name is used only when a copy is already in the local Hugging Face cache,
otherwise it is a clear error. An object is saved once into the jointspace cache under its checksum. A
collection stores the model by reference (its folder) and checksum (of the folder's files); on open, a
folder whose files differ is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.cache import cache_dir, sha256
from jointspace.encoders.base import Encoder
from jointspace.errors import FormatError, JointspaceError

BACKENDS = ("auto", "onnx", "torch")
REFERENCE_FILE = "st-model.json"
#: Bump when the export recipe changes: exported models of an older recipe are then rebuilt.
EXPORT_VERSION = 1
#: The modules the ONNX path runs itself (anything else: torch).
ONNX_MODULES = ("Transformer", "Pooling", "Normalize")
POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".onnx", ".h5", ".msgpack")


def model_checksum(folder: Path) -> str:
    """sha256 over the folder's files (relative name + content), README and hidden files left out."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(folder).parts) and p.name.lower() != "readme.md")
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(sha256(path).encode())
    return digest.hexdigest()


def resolve_folder(model: Any) -> Path:
    """The local folder of ``model``: a folder path as it is, a hub name from the local HF cache (never fetched),
    a SentenceTransformer object saved once into the jointspace cache under its checksum."""
    if isinstance(model, str | os.PathLike):
        path = Path(model).expanduser()
        if path.is_dir():
            if not (path / "modules.json").exists() and not (path / "config.json").exists():
                raise JointspaceError(f"{path}: not a sentence-transformers model folder (no modules.json "
                                      "or config.json)")
            return path.resolve()
        if path.exists():
            raise JointspaceError(f"{path}: a sentence-transformers model is a folder, not a file")
        name = str(model)
        if name.count("/") <= 1 and not name.startswith((".", "/", "~")):
            try:
                from huggingface_hub import snapshot_download

                return Path(snapshot_download(name, local_files_only=True))
            except Exception as exc:  # not in the local cache: no download, ever
                raise JointspaceError(
                    f"sentence-transformers model {name!r}: no such folder, and no local copy of a hub model "
                    "of that name (jointspace never downloads models; copy the model folder here and pass "
                    "its path)") from exc
        raise JointspaceError(f"sentence-transformers model {name!r}: no such folder")
    if type(model).__name__ == "SentenceTransformer" or hasattr(model, "save") and hasattr(model, "encode"):
        return _saved_object(model)
    raise JointspaceError(f"model must be a model folder, a hub name or a SentenceTransformer object, "
                          f"got {type(model).__name__}")


def _saved_object(model: Any) -> Path:
    """A SentenceTransformer object saved into the cache, under the checksum of what it saved."""
    import shutil
    import tempfile

    root = cache_dir() / "st-models"
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".saving-", dir=root))
    try:
        model.save(str(tmp))
        for readme in tmp.glob("README.md"):
            readme.unlink()
        target = root / model_checksum(tmp)[:24]
        if not target.exists():
            os.replace(tmp, target)
        return target
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def read_modules(folder: Path) -> list[dict[str, Any]]:
    """modules.json (a bare transformers folder counts as Transformer + mean Pooling, as sentence-transformers does)."""
    file = folder / "modules.json"
    if not file.exists():
        return [{"type": "Transformer", "path": ""}, {"type": "Pooling", "path": ""}]
    modules = json.loads(file.read_text())
    return [{**m, "type": str(m.get("type", "")).rsplit(".", 1)[-1]} for m in modules]


LEGACY_POOLING = {"pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max",
                  "pooling_mode_mean_tokens": "mean", "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
                  "pooling_mode_weightedmean_tokens": "weightedmean", "pooling_mode_lasttoken": "lasttoken"}


def pooling(folder: Path, modules: list[dict[str, Any]]) -> tuple[tuple[str, ...], int | None]:
    """The Pooling module's modes (in order) and token width, from either config format
    (``pooling_mode`` as sentence-transformers 6 writes it, or the older ``pooling_mode_*`` flags)."""
    pool = next((m for m in modules if m["type"] == "Pooling"), None)
    file = folder / pool["path"] / "config.json" if pool and pool.get("path") else None
    config = json.loads(file.read_text()) if file is not None and file.exists() else {}
    width = config.get("embedding_dimension") or config.get("word_embedding_dimension")
    mode = config.get("pooling_mode")
    if mode is None:
        modes = tuple(name for key, name in LEGACY_POOLING.items() if config.get(key)) or ("mean",)
    else:
        modes = (mode,) if isinstance(mode, str) else tuple(mode)
    return modes, (int(width) if width else None)


def onnx_blocker(folder: Path) -> str | None:
    """Why this model cannot run on the ONNX path (None when it can)."""
    modules = read_modules(folder)
    others = [m["type"] for m in modules if m["type"] not in ONNX_MODULES]
    if others:
        return f"modules {others} are run by sentence-transformers only"
    if [m["type"] for m in modules][:1] != ["Transformer"] or any(m.get("path") for m in modules
                                                                  if m["type"] == "Transformer"):
        return "the transformer is not the first module at the folder's top"
    if not (folder / "tokenizer.json").exists():
        return "no tokenizer.json (a fast tokenizer file)"
    unsupported = [mode for mode in pooling(folder, modules)[0] if mode not in POOLING_MODES]
    if unsupported:
        return f"pooling {unsupported} is run by sentence-transformers only"
    return None


class OnnxSentenceModel:
    """Tokenizer -> ONNX transformer body -> pooling (-> L2 when the model has a Normalize module)."""

    def __init__(self, folder: Path, onnx_file: Path, max_seq_length: int, threads: int | None) -> None:
        from tokenizers import Tokenizer

        from jointspace.encoders.minilm_onnx import physical_cores, session

        self.folder = folder
        self.session = session(str(onnx_file), threads or physical_cores())
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_seq_length)
        self.tokenizer.no_padding()
        modules = read_modules(folder)
        self.modes = pooling(folder, modules)[0]
        self.normalize = any(m["type"] == "Normalize" for m in modules)
        self.pad_id = pad_token_id(folder)

    def pool(self, tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """sentence-transformers' Pooling: the chosen modes concatenated in its order."""
        weights = mask.astype(np.float32)[:, :, None]
        counts = np.maximum(weights.sum(axis=1), 1e-9)
        parts = []
        for mode in self.modes:
            if mode == "cls":
                parts.append(tokens[:, 0])
            elif mode == "max":
                parts.append(np.where(weights > 0, tokens, -np.inf).max(axis=1))
            elif mode in ("mean", "mean_sqrt_len_tokens"):
                summed = (tokens * weights).sum(axis=1)
                parts.append(summed / (counts if mode == "mean" else np.sqrt(counts)))
            elif mode == "weightedmean":  # token i (from 1) weighs i; right padding
                positions = weights * np.arange(1, tokens.shape[1] + 1, dtype=np.float32)[None, :, None]
                parts.append((tokens * positions).sum(axis=1) / np.maximum(positions.sum(axis=1), 1e-9))
            elif mode == "lasttoken":
                last = mask.sum(axis=1).astype(np.int64) - 1
                parts.append(tokens[np.arange(len(tokens)), np.maximum(last, 0)])
            else:
                raise JointspaceError(f"pooling mode {mode!r} is not supported on the onnx backend")
        return np.concatenate(parts, axis=1)

    def encode(self, texts: list[str], batch_size: int, progress: Any = None) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        order = np.argsort(-lengths, kind="stable")
        out: np.ndarray | None = None
        for b in range(0, len(order), batch_size):
            rows = order[b:b + batch_size]
            width = int(lengths[rows].max())
            ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                ids[r, :lengths[i]] = encodings[i].ids
                mask[r, :lengths[i]] = 1
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.input_names:
                feed["token_type_ids"] = np.zeros_like(ids)
            pooled = self.pool(self.session.run(None, feed)[0], mask)
            if out is None:
                out = np.empty((len(texts), pooled.shape[1]), dtype=np.float32)
            out[rows] = pooled
            if progress is not None:
                progress(len(rows))
        assert out is not None
        if self.normalize:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out


def pad_token_id(folder: Path) -> int:
    try:
        config = json.loads((folder / "config.json").read_text())
        if config.get("pad_token_id") is not None:
            return int(config["pad_token_id"])
    except (OSError, ValueError):
        pass
    return 0


def max_seq_length_of(folder: Path) -> int:
    """sentence_bert_config.json's max_seq_length, else the model's positions (at most 512)."""
    for name in ("sentence_bert_config.json",):
        file = folder / name
        if file.exists():
            value = json.loads(file.read_text()).get("max_seq_length")
            if value:
                return int(value)
    try:
        return min(512, int(json.loads((folder / "config.json").read_text()).get("max_position_embeddings", 512)))
    except (OSError, ValueError):
        return 512


def exported_model(folder: Path, checksum: str) -> Path:
    """The ONNX body of the model in ``folder``, exported once into the cache (under the folder's checksum)."""
    from jointspace.encoders.minilm_build import _locked, _quiet, _write_atomic, announce, version_key

    out_dir = cache_dir() / "st-onnx" / f"{checksum[:24]}-e{EXPORT_VERSION}-{version_key()}"
    target = out_dir / "model.onnx"
    if target.exists():
        return target
    announce(f"exporting the sentence-transformers model {folder} to ONNX (once; torch is needed for this "
             f"export only) into {out_dir}")
    with _locked(out_dir), _quiet():
        if not target.exists():
            plain = out_dir / "plain.onnx"
            if not plain.exists():
                _write_atomic(lambda path: _export(folder, path), plain)
            fused = _fuse_if_bert(folder, plain)
            if fused is None:
                os.replace(plain, target)
            else:
                _write_atomic(fused, target)
                plain.unlink()
    return target


def _export(folder: Path, path: str) -> None:
    import torch
    from transformers import AutoModel

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        body = AutoModel.from_pretrained(str(folder), attn_implementation="eager", local_files_only=True).eval()
    except (TypeError, ValueError):
        body = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
    names = ["input_ids", "attention_mask"]
    if getattr(body.config, "type_vocab_size", 0):
        names.append("token_type_ids")

    class Body(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.inner(**dict(zip(names, inputs, strict=True))).last_hidden_state

    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]]).clamp(max=body.config.vocab_size - 1)
    example = [ids, (ids > 0).long(), torch.zeros_like(ids)][:len(names)]
    axes = {name: {0: "batch", 1: "sequence"} for name in (*names, "last_hidden_state")}
    with torch.no_grad():
        torch.onnx.export(Body(body), tuple(example), path, input_names=names, output_names=["last_hidden_state"],
                          dynamic_axes=axes, opset_version=17, do_constant_folding=True, dynamo=False)


def _fuse_if_bert(folder: Path, plain: Path) -> Any:
    """onnxruntime's BERT fusions when the model is a BERT and they all apply (else None: the plain export)."""
    config = json.loads((folder / "config.json").read_text())
    if config.get("model_type") != "bert":
        return None
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    layers = int(config["num_hidden_layers"])
    optimised = optimize_model(str(plain), model_type="bert", num_heads=int(config["num_attention_heads"]),
                               hidden_size=int(config["hidden_size"]), optimization_options=FusionOptions("bert"),
                               opt_level=0)
    fused = optimised.get_fused_operator_statistics()
    if fused.get("Attention", 0) != layers or fused.get("SkipLayerNormalization", 0) < layers:
        return None
    return optimised.save_model_to_file


@lru_cache(maxsize=4)
def _sentence_transformer(folder: str, device: str) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(folder, device=device, local_files_only=True)


class SentenceTransformerEncoder(Encoder):
    """A sentence-transformers model (``model``: folder, local hub name or ``SentenceTransformer`` object).

    ``backend="auto"`` runs ONNX when the model allows it (see the module docstring) and torch when not;
    ``"onnx"`` refuses a model it cannot export; ``"torch"`` always runs sentence-transformers.
    ``max_seq_length`` defaults to the model's own. ``device`` applies to torch, ``threads`` to onnxruntime.
    """

    name = "sentence-transformers"
    modality = "text"

    def __init__(self, model: Any = None, backend: str = "auto", max_seq_length: int | None = None,
                 device: str = "cpu", threads: int | None = None) -> None:
        self.model = model
        self.backend = backend
        self.max_seq_length = max_seq_length
        self.device = device
        self.threads = threads
        self._folder: Path | None = None
        self._checksum: str | None = None
        self._runner: Any = None
        self._backend_used: str | None = None

    # -- resolution (first use) -----------------------------------------------------------------
    def _resolve(self) -> Path:
        if self._folder is None:
            if self.model is None:
                raise JointspaceError("encoder('sentence-transformers') needs model=a model folder or a "
                                      "SentenceTransformer object")
            if self.backend not in BACKENDS:
                raise JointspaceError(f"unknown sentence-transformers backend {self.backend!r}; "
                                      f"choose one of {', '.join(BACKENDS)}")
            self._folder = resolve_folder(self.model)
            self._checksum = model_checksum(self._folder)
        return self._folder

    @property
    def folder(self) -> Path:
        """The model's local folder (what a saved collection refers to)."""
        return self._resolve()

    @property
    def checksum(self) -> str:
        self._resolve()
        assert self._checksum is not None
        return self._checksum

    @property
    def backend_used(self) -> str:
        """``"onnx"`` or ``"torch"``: what ``backend`` resolved to for this model."""
        self._runner_for()
        assert self._backend_used is not None
        return self._backend_used

    def fit(self, items: Any = None) -> SentenceTransformerEncoder:
        self._resolve()
        return self

    def _seq_length(self) -> int:
        return int(self.max_seq_length or max_seq_length_of(self._resolve()))

    def _runner_for(self) -> Any:
        if self._runner is not None:
            return self._runner
        folder = self._resolve()
        blocker = onnx_blocker(folder) if self.backend != "torch" else "torch was asked for"
        if blocker is None:
            try:
                onnx_file = exported_model(folder, self.checksum)
            except Exception as exc:  # an architecture the exporter cannot trace
                if self.backend == "onnx":
                    raise JointspaceError(f"{folder}: ONNX export failed ({exc})") from exc
                blocker = f"ONNX export failed: {exc}"
            else:
                self._runner = OnnxSentenceModel(folder, onnx_file, self._seq_length(), self.threads)
                self._backend_used = "onnx"
                return self._runner
        if self.backend == "onnx":
            raise JointspaceError(f"{folder}: cannot run on onnx: {blocker}")
        model = _sentence_transformer(str(folder), self.device)
        model.max_seq_length = self._seq_length()
        self._runner, self._backend_used = model, "torch"
        return model

    @property
    def dim(self) -> int:
        folder = self._resolve()
        modules = read_modules(folder)
        dense = [m for m in modules if m["type"] == "Dense"]
        if dense:
            config = json.loads((folder / dense[-1]["path"] / "config.json").read_text())
            return int(config["out_features"])
        if any(m["type"] not in ONNX_MODULES for m in modules):
            return int(self._runner_for().get_sentence_embedding_dimension())
        modes, width = pooling(folder, modules)
        width = width or json.loads((folder / "config.json").read_text())["hidden_size"]
        return int(width) * len(modes)

    def _encode(self, items: list[str], batch_size: int, show_progress: bool) -> np.ndarray:
        runner = self._runner_for()
        if self._backend_used == "torch":
            return runner.encode(items, batch_size=batch_size, show_progress_bar=show_progress,
                                 convert_to_numpy=True, normalize_embeddings=False)
        if not show_progress:
            return runner.encode(items, batch_size=batch_size)
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("sentence-transformers (onnx)", total=len(items))
            return runner.encode(items, batch_size=batch_size, progress=lambda n: bar.advance(task, n))

    # -- persistence: by reference and checksum ----------------------------------------------------
    def _save_state(self, path: Path) -> None:
        reference = {"folder": str(self.folder), "checksum": self.checksum}
        (path / REFERENCE_FILE).write_text(json.dumps(reference, indent=2))
        config_file = path / "encoder.json"  # the model as a folder, even when an object was given
        config = json.loads(config_file.read_text())
        config["params"]["model"] = str(self.folder)
        config_file.write_text(json.dumps(config, indent=2, default=str))

    def _load_state(self, path: Path) -> None:
        file = path / REFERENCE_FILE
        if not file.exists():
            raise FormatError(f"{path}: no {REFERENCE_FILE}: the sentence-transformers model reference is missing")
        reference = json.loads(file.read_text())
        folder = Path(reference["folder"])
        if not folder.is_dir():
            raise JointspaceError(f"the sentence-transformers model this collection was built with, {folder}, "
                                  "is not there; put it back (the same files) to open it")
        found = model_checksum(folder)
        if found != reference["checksum"]:
            raise JointspaceError(
                f"the sentence-transformers model at {folder} differs from the one this collection was built with "
                f"(checksum {found[:12]}, expected {reference['checksum'][:12]}): its vectors would not match")
        self._folder, self._checksum = folder, found
