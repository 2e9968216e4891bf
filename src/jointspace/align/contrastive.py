"""Small projection heads trained with CLIP's loss: symmetric InfoNCE with a learnable temperature.

Each side gets its own head (linear, or a 2-layer MLP) into a shared ``dim``-d space. Training runs on
CPU with torch, seeded; a slice of the training pairs is held back and the epoch with the best
recall on it is kept (early stopping). Pairs of the same group (e.g. one class description shared by
many images) count as positives for each other, so shared captions are not pushed apart.
The fitted heads are exported as numpy arrays: using a saved space does not need torch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from jointspace.align.base import Aligner, Progress
from jointspace.errors import JointspaceError

HEADS = ("linear", "mlp")


def _gelu(x: np.ndarray) -> np.ndarray:
    # tanh approximation; torch trains with the same one (nn.GELU(approximate="tanh"))
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def holdout_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train, held-out) pair positions, each sorted."""
    order = np.random.default_rng(seed).permutation(n)
    n_held = int(round(n * fraction))
    return np.sort(order[n_held:]), np.sort(order[:n_held])


class _AdamW:
    """AdamW in a few lines: ``torch.optim`` imports torch._dynamo on first use, seconds on a busy CPU."""

    def __init__(self, params: list[Any], lr: float, weight_decay: float, decay: list[bool],
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        import torch

        self.params, self.decay = params, decay
        self.lr, self.weight_decay, self.betas, self.eps = lr, weight_decay, betas, eps
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        import torch

        self.t += 1
        b1, b2 = self.betas
        with torch.no_grad():
            for p, m, v, decay in zip(self.params, self.m, self.v, self.decay, strict=True):
                if p.grad is None:
                    continue
                if decay:
                    p.mul_(1 - self.lr * self.weight_decay)
                m.mul_(b1).add_(p.grad, alpha=1 - b1)
                v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                denom = (v / (1 - b2**self.t)).sqrt_().add_(self.eps)
                p.addcdiv_(m, denom, value=-self.lr / (1 - b1**self.t))


class ContrastiveAligner(Aligner):
    """Projection heads trained with symmetric InfoNCE.

    ``head``: "linear" or "mlp" (Linear-GELU-Dropout-Linear, ``hidden`` units). ``dim``: the joint
    dimension (default 128, or the input dim for residual heads). ``residual``: each head adds its
    output to its (centred) input, starting from the identity: when both sides already share a space
    (e.g. a bridge into the text space) training then starts from that zero-shot space and can only be
    kept if it does better. Default: residual when both input dims are equal. ``temperature``: the
    starting softmax temperature (learned unless ``learn_temperature=False``). ``val_fraction`` of
    the pairs is held back for early stopping with ``patience`` epochs; the best epoch is kept.
    ``centre_output``: subtract each side's mean output (over the training pairs) before the final
    normalisation; InfoNCE leaves the two sides in separate cones (the modality gap), this closes it.
    """

    name = "contrastive"
    min_pairs = 8

    def __init__(self, dim: int | None = None, head: str = "mlp", hidden: int = 512, dropout: float = 0.1,
                 residual: bool | None = None, epochs: int = 200, batch_size: int = 256, lr: float = 1e-3,
                 weight_decay: float = 1e-4, temperature: float = 0.07, learn_temperature: bool = True,
                 val_fraction: float = 0.15, patience: int = 15, centre_output: bool = True,
                 seed: int = 0) -> None:
        super().__init__()
        if head not in HEADS:
            raise JointspaceError(f"contrastive: head must be one of {HEADS}, got {head!r}")
        if (dim is not None and dim < 1) or hidden < 1 or epochs < 1 or batch_size < 2:
            raise JointspaceError("contrastive: dim, hidden and epochs must be >= 1, batch_size >= 2")
        if not 0 < val_fraction < 0.9:
            raise JointspaceError(f"contrastive: val_fraction must be in (0, 0.9), got {val_fraction}")
        self.dim_param, self.head, self.hidden, self.dropout, self.residual = dim, head, hidden, dropout, residual
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay
        self.temperature, self.learn_temperature = temperature, learn_temperature
        self.val_fraction, self.patience, self.seed = val_fraction, patience, seed
        self.centre_output = centre_output
        self.history: list[dict[str, float]] = []

    def _shape(self, left_dim: int, right_dim: int) -> tuple[int, bool]:
        """(joint dim, residual) for these input dims."""
        residual = self.residual if self.residual is not None else (
            left_dim == right_dim and self.dim_param in (None, left_dim))
        if residual and not (left_dim == right_dim and self.dim_param in (None, left_dim)):
            raise JointspaceError(f"contrastive: residual heads need equal dims (left {left_dim}, right {right_dim}"
                                  f", dim {self.dim_param})")
        return (left_dim if residual else self.dim_param or 128), residual

    # -- torch ----------------------------------------------------------------------------------
    def _make_head(self, in_dim: int, out_dim: int, residual: bool) -> Any:
        from torch import nn

        class Head(nn.Module):
            def __init__(self, layers: list[Any]) -> None:
                super().__init__()
                self.layers = nn.ModuleList(layers)
                self.act, self.drop = nn.GELU(approximate="tanh"), nn.Dropout(dropout)

            def forward(self, x: Any) -> Any:
                y = self.layers[0](x)
                if len(self.layers) > 1:
                    y = self.layers[1](self.drop(self.act(y)))
                return x + y if residual else y

        dropout = self.dropout
        if self.head == "linear":
            layers = [nn.Linear(in_dim, out_dim)]
        else:
            layers = [nn.Linear(in_dim, self.hidden), nn.Linear(self.hidden, out_dim)]
        if residual:  # start at the identity map
            nn.init.zeros_(layers[-1].weight)
            nn.init.zeros_(layers[-1].bias)
        return Head(layers)

    def _fit(self, left: np.ndarray, right: np.ndarray, groups: np.ndarray,
             progress: Progress | None) -> dict[str, np.ndarray]:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the heads are small: one thread is faster than several fighting for cores
        try:
            return self._train(left, right, groups, progress)
        finally:
            torch.set_num_threads(threads)

    def _train(self, left: np.ndarray, right: np.ndarray, groups: np.ndarray,
               progress: Progress | None) -> dict[str, np.ndarray]:
        import torch

        from jointspace.evaluate.alignment import cross_modal_metrics

        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        train, val = holdout_split(len(left), self.val_fraction, self.seed)
        if len(train) < 2 or len(val) < 2:
            raise JointspaceError(f"{len(left)} pairs are too few to train and hold some back for early stopping")
        dim, residual = self._shape(left.shape[1], right.shape[1])
        lmean, rmean = left[train].mean(axis=0), right[train].mean(axis=0)
        lt = torch.from_numpy((left - lmean).astype(np.float32))
        rt = torch.from_numpy((right - rmean).astype(np.float32))
        gt = torch.from_numpy(groups.astype(np.int64))
        lhead = self._make_head(left.shape[1], dim, residual)
        rhead = self._make_head(right.shape[1], dim, residual)
        log_scale = torch.nn.Parameter(torch.tensor(math.log(1.0 / self.temperature)),
                                       requires_grad=self.learn_temperature)
        weights = [*lhead.parameters(), *rhead.parameters()]
        optimiser = _AdamW([*weights, log_scale], self.lr, self.weight_decay,
                           decay=[p.ndim > 1 for p in weights] + [False])

        def loss_of(idx: np.ndarray) -> Any:
            a = torch.nn.functional.normalize(lhead(lt[idx]), dim=1)
            b = torch.nn.functional.normalize(rhead(rt[idx]), dim=1)
            logits = log_scale.clamp(max=math.log(100.0)).exp() * a @ b.T
            g = gt[idx]
            positive = g[:, None] == g[None, :]
            masked = logits.masked_fill(~positive, float("-inf"))
            l2r = torch.logsumexp(logits, 1) - torch.logsumexp(masked, 1)
            r2l = torch.logsumexp(logits, 0) - torch.logsumexp(masked, 0)
            return (l2r.mean() + r2l.mean()) / 2

        def evaluate(epoch: int, loss: float) -> tuple[float, dict[str, np.ndarray], dict[str, float]]:
            lhead.eval()
            rhead.eval()
            state = self._export(lhead, rhead, lmean, rmean, dim, residual)
            self.state = {**state, "left_dim": np.array(left.shape[1]), "right_dim": np.array(right.shape[1])}
            if self.centre_output:
                for side, x in (("left", left[train]), ("right", right[train])):
                    state[f"{side}_out_mean"] = self._unit_outputs(x.astype(np.float64), side).mean(axis=0)
                self.state.update(state)
            metrics = cross_modal_metrics(self.transform_left(left[val]), self.transform_right(right[val]),
                                          groups[val], groups[val])
            score = float(np.mean([metrics[d][f"recall@{k}"] for d in ("left->right", "right->left")
                                   for k in (1, 5, 10)]))
            info = {"epoch": epoch, "loss": loss, "val_recall": score,
                    "temperature": float(1.0 / log_scale.detach().exp())}
            return score, state, info

        self.history = []
        best_score, best_state, info = evaluate(0, float("nan"))  # the starting point counts too
        self.history.append(info)
        stale = 0
        batch = min(self.batch_size, len(train))
        for epoch in range(1, self.epochs + 1):
            lhead.train()
            rhead.train()
            order = rng.permutation(train)
            losses = []
            for start in range(0, len(order) - batch + 1, batch):
                loss = loss_of(order[start:start + batch])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                losses.append(float(loss.detach()))
            score, state, info = evaluate(epoch, float(np.mean(losses)))
            self.history.append(info)
            if score > best_score + 1e-6:
                best_score, best_state, stale = score, state, 0
            else:
                stale += 1
            if progress:
                progress(epoch, self.epochs, info)
            if stale >= self.patience:
                break
        self.state = {}
        return {**best_state, "best_val_recall": np.array(best_score),
                "best_epoch": np.array(max(h["epoch"] for h in self.history if h["val_recall"] == best_score))}

    def _export(self, lhead: Any, rhead: Any, lmean: np.ndarray, rmean: np.ndarray, dim: int,
                residual: bool) -> dict[str, np.ndarray]:
        state: dict[str, np.ndarray] = {"out_dim": np.array(dim), "left_mean": lmean, "right_mean": rmean,
                                        "residual": np.array(residual)}
        for side, head in (("left", lhead), ("right", rhead)):
            for i, layer in enumerate(head.layers):
                state[f"{side}_w{i}"] = layer.weight.detach().numpy().T.astype(np.float64)
                state[f"{side}_b{i}"] = layer.bias.detach().numpy().astype(np.float64)
        return state

    def _unit_outputs(self, vectors: np.ndarray, side: str) -> np.ndarray:
        """The head's outputs, unit length (what the loss compared)."""
        s = self.state
        x = vectors - s[f"{side}_mean"]
        out = x @ s[f"{side}_w0"] + s[f"{side}_b0"]
        if f"{side}_w1" in s:
            out = _gelu(out) @ s[f"{side}_w1"] + s[f"{side}_b1"]
        out = x + out if bool(s.get("residual", False)) else out
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)

    def _map(self, vectors: np.ndarray, side: str) -> np.ndarray:
        out = self._unit_outputs(vectors, side)
        centre = self.state.get(f"{side}_out_mean")
        return out - centre if centre is not None else out
