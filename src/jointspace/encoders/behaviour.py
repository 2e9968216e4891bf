"""Item and user vectors from user-item interactions: implicit-feedback ALS (Hu, Koren & Volinsky 2008)
or EASE (Steck 2019), chosen by ``model="als"|"ease"``.

EASE is a closed-form item-item model: with the item Gram matrix G = X'X (X the users x items matrix of
interactions), P = (G + l2 I)^-1 and B = I - P diag(1 / diag P) (so diag B = 0); a profile x scores
the items by x B. It needs one dense items x items inverse (fine up to ~20,000 items) and on MovieLens
100K it ranks better than ALS (docs/recommendation.md). Its item vectors (``encode``, for item-item
similarity in a collection) are the leading ``factors`` eigenvectors of G scaled by the square roots of
their eigenvalues, i.e. PureSVD's item factors.

Each observed (user, item) pair gets a preference of 1 and a confidence ``1 + alpha * weight``
(``weight`` is 1 for a click, or the rating when ``use_weights``); unobserved pairs have preference 0
and confidence 1. User and item factors are fitted by alternating least squares, each half-step solved
by a few conjugate-gradient steps over all rows at once (sparse products, no per-row Python loop).

``encode(item_ids)`` gives L2-normalised item factors (for item-item similarity); scores for a person
use the raw factors: ``fold_in(items)`` solves that person's least-squares step against the fixed item
factors, so a new user gets a vector without refitting, and ``score`` ranks items by ``u . y``.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from jointspace.encoders.base import Encoder, check_int
from jointspace.errors import ItemError, JointspaceError, NotFittedError

MODELS = ("als", "ease")
EASE_MAX_ITEMS = 20_000


def _cg_half_step(conf: sp.csr_matrix, fixed: np.ndarray, start: np.ndarray, reg: float, steps: int
                  ) -> np.ndarray:
    """Rows x minimising the weighted ALS loss for each row of ``conf`` against ``fixed`` factors.

    Solves (F'F + F' (C_u - I) F + reg I) x_u = F' C_u p_u for every row u at once with ``steps``
    conjugate-gradient iterations started from ``start`` (warm starts make 3 steps enough).
    """
    f = fixed.shape[1]
    gram = fixed.T @ fixed + reg * np.eye(f, dtype=fixed.dtype)
    rows = np.repeat(np.arange(conf.shape[0]), np.diff(conf.indptr))
    fixed_nz = fixed[conf.indices]

    def apply(x: np.ndarray) -> np.ndarray:
        vals = np.einsum("ij,ij->i", fixed_nz, x[rows]) * conf.data
        return x @ gram + sp.csr_matrix((vals, conf.indices, conf.indptr), shape=conf.shape) @ fixed

    rhs = sp.csr_matrix((1 + conf.data, conf.indices, conf.indptr), shape=conf.shape) @ fixed
    x = start.copy()
    r = rhs - apply(x)
    p = r.copy()
    rs = np.einsum("ij,ij->i", r, r)
    for _ in range(steps):
        ap = apply(p)
        step = rs / np.maximum(np.einsum("ij,ij->i", p, ap), 1e-20)
        x += step[:, None] * p
        r -= step[:, None] * ap
        rs_new = np.einsum("ij,ij->i", r, r)
        p = r + (rs_new / np.maximum(rs, 1e-20))[:, None] * p
        rs = rs_new
    return x


def _triples(interactions: Iterable[Any]) -> list[tuple[str, str, float]]:
    """(user, item, weight) from tuples, dicts with user/item[/weight], or Interaction objects."""
    out = []
    for n, row in enumerate(interactions):
        if isinstance(row, dict):
            user, item, weight = row.get("user"), row.get("item"), row.get("weight", 1.0)
        elif hasattr(row, "user") and hasattr(row, "item"):
            user, item, weight = row.user, row.item, getattr(row, "weight", 1.0)
        else:
            try:
                user, item, *rest = row
            except (TypeError, ValueError) as exc:
                raise ItemError(f"interaction {n}", "expected (user, item[, weight])", position=n) from exc
            weight = rest[0] if rest else 1.0
        if user is None or item is None:
            raise ItemError(f"interaction {n}", "missing user or item", position=n)
        try:
            weight = float(1.0 if weight is None else weight)
        except (TypeError, ValueError) as exc:
            raise ItemError(f"interaction {n}", f"weight {weight!r} is not a number", position=n) from exc
        out.append((str(user), str(item), weight))
    return out


class BehaviourEncoder(Encoder):
    """Implicit-feedback matrix factorisation: items in, item vectors out; users by fold-in."""

    name = "behaviour"
    modality = "interaction"
    trainable = True
    item_ids_: list[str] | None = None
    user_ids_: list[str] | None = None
    item_factors_: np.ndarray | None = None
    user_factors_: np.ndarray | None = None
    item_weights_: np.ndarray | None = None  # EASE's B (items x items)

    def __init__(self, factors: int = 32, regularization: float = 30.0, alpha: float = 5.0,
                 iterations: int = 15, cg_steps: int = 3, use_weights: bool = False, seed: int = 0,
                 model: str = "als", l2: float = 500.0) -> None:
        self.model = model
        self.l2 = l2
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.cg_steps = cg_steps
        self.use_weights = use_weights
        self.seed = seed
        self._item_pos: dict[str, int] = {}
        self._user_pos: dict[str, int] = {}

    @property
    def dim(self) -> int:
        return self.factors

    @property
    def is_fitted(self) -> bool:
        return self.item_factors_ is not None

    def _confidence(self, weights: np.ndarray) -> np.ndarray:
        return self.alpha * (weights if self.use_weights else np.ones_like(weights))

    # -- fitting ------------------------------------------------------------------------------------
    def fit(self, items: Iterable[Any], y: object = None) -> BehaviourEncoder:
        """Fit on interactions: ``(user, item[, weight])`` tuples, ``{"user", "item", "weight"}`` dicts."""
        for what in ("factors", "iterations", "cg_steps"):
            check_int("behaviour", what, getattr(self, what))
        if not (isinstance(self.regularization, numbers.Real) and isinstance(self.alpha, numbers.Real)
                and self.regularization >= 0 and self.alpha > 0):
            raise JointspaceError("behaviour: regularization must be >= 0 and alpha > 0")
        if self.model not in MODELS:
            raise JointspaceError(f"behaviour: unknown model {self.model!r}; use one of {', '.join(MODELS)}")
        if not (isinstance(self.l2, numbers.Real) and self.l2 > 0):
            raise JointspaceError("behaviour: l2 must be > 0")
        triples = _triples(items)
        if not triples:
            raise JointspaceError("behaviour: cannot fit on no interactions")
        users = sorted({t[0] for t in triples})
        items_ = sorted({t[1] for t in triples})
        upos = {u: i for i, u in enumerate(users)}
        ipos = {t: i for i, t in enumerate(items_)}
        pairs: dict[tuple[int, int], float] = {}
        for user, item, weight in triples:  # a repeated pair keeps its last weight
            pairs[(upos[user], ipos[item])] = weight
        keys = np.array(list(pairs), dtype=np.int64).reshape(-1, 2)
        conf = sp.csr_matrix((self._confidence(np.array(list(pairs.values()), dtype=np.float64)),
                              (keys[:, 0], keys[:, 1])), shape=(len(users), len(items_)))
        if self.model == "ease":
            self.user_ids_, self.item_ids_ = users, items_
            self._fit_ease(conf / self.alpha)
            self._index_ids()
            return self
        conf_t = conf.T.tocsr()
        rng = np.random.default_rng(self.seed)
        user_f = rng.normal(0, 0.01, (len(users), self.factors))
        item_f = rng.normal(0, 0.01, (len(items_), self.factors))
        for _ in range(self.iterations):
            user_f = _cg_half_step(conf, item_f, user_f, self.regularization, self.cg_steps)
            item_f = _cg_half_step(conf_t, user_f, item_f, self.regularization, self.cg_steps)
        self.user_ids_, self.item_ids_ = users, items_
        self.user_factors_ = user_f.astype(np.float32)
        self.item_factors_ = item_f.astype(np.float32)
        self._index_ids()
        return self

    def _fit_ease(self, x: sp.csr_matrix) -> None:
        n = x.shape[1]
        if n > EASE_MAX_ITEMS:
            raise JointspaceError(f"behaviour: EASE inverts an items x items matrix; {n} items is more than "
                                  f"{EASE_MAX_ITEMS} (keep the items with the most interactions, or use model='als')")
        x = sp.csr_matrix(x, dtype=np.float64)
        gram = np.asarray((x.T @ x).toarray(), dtype=np.float64)
        item_f = np.zeros((n, self.factors))
        k = min(self.factors, min(x.shape) - 1)
        if k >= 1:  # PureSVD item factors V S: the eigenvectors of G scaled by sqrt(eigenvalues)
            from scipy.sparse.linalg import svds

            _, values, vt = svds(x, k=k, random_state=self.seed)
            item_f[:, :k] = vt.T * values
        gram[np.diag_indices(n)] += self.l2
        inverse = np.linalg.inv(gram)
        weights = -inverse / np.diag(inverse)[None, :]
        np.fill_diagonal(weights, 0.0)
        self.item_weights_ = weights.astype(np.float32)
        self.item_factors_ = item_f.astype(np.float32)
        profiles = np.asarray(x @ item_f)  # users in the same space: their items' factors summed
        self.user_factors_ = profiles.astype(np.float32)

    def _index_ids(self) -> None:
        self._item_pos = {t: i for i, t in enumerate(self.item_ids_ or [])}
        self._user_pos = {u: i for i, u in enumerate(self.user_ids_ or [])}

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError("encoder 'behaviour' must be fitted before use")

    # -- items --------------------------------------------------------------------------------------
    def knows(self, item_id: str) -> bool:
        return str(item_id) in self._item_pos

    def _encode(self, items: list[Any], batch_size: int, show_progress: bool) -> np.ndarray:
        positions = []
        for i, item in enumerate(items):
            pos = self._item_pos.get(str(item))
            if pos is None:
                raise ItemError(f"item {item!r}", "no interactions for this item (cold start)", position=i)
            positions.append(pos)
        assert self.item_factors_ is not None
        return self.item_factors_[positions]

    def raw_item_factors(self, item_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Unnormalised factors of ``item_ids`` (zeros for unknown ones) and a mask of the known."""
        self._check_fitted()
        assert self.item_factors_ is not None
        pos = np.array([self._item_pos.get(str(t), -1) for t in item_ids], dtype=np.int64)
        known = pos >= 0
        out = np.zeros((len(item_ids), self.factors), dtype=np.float32)
        out[known] = self.item_factors_[pos[known]]
        return out, known

    # -- users --------------------------------------------------------------------------------------
    def user_vector(self, user_id: str) -> np.ndarray:
        """The fitted (raw) vector of a known user; KeyError naming an unknown one."""
        self._check_fitted()
        pos = self._user_pos.get(str(user_id))
        if pos is None:
            raise KeyError(f"user {user_id!r} has no interactions in this behaviour model")
        assert self.user_factors_ is not None
        return self.user_factors_[pos]

    def fold_in(self, histories: Sequence[Sequence[str]], weights: Sequence[Sequence[float]] | None = None
                ) -> np.ndarray:
        """Raw user vectors for new users from their items, without refitting (items unknown to the
        model are ignored; a history with none known gets a zero vector).

        ``weights`` multiply each item's confidence ``alpha`` (e.g. ratings, or recency; default 1).
        One least-squares solve per
        user against the fixed item factors, i.e. exactly the user half-step of ALS.
        """
        self._check_fitted()
        assert self.item_factors_ is not None
        rows, cols, vals = self._history_cells(histories, weights)
        conf = sp.csr_matrix((self.alpha * np.array(vals, dtype=np.float64), (rows, cols)),
                             shape=(len(histories), len(self.item_factors_)))
        fixed = self.item_factors_.astype(np.float64)
        gram = fixed.T @ fixed + self.regularization * np.eye(self.factors)
        out = np.zeros((len(histories), self.factors), dtype=np.float32)
        for u in range(len(histories)):  # exact solves: a few f x f systems, cheap
            lo, hi = conf.indptr[u], conf.indptr[u + 1]
            if lo == hi:
                continue
            idx, c = conf.indices[lo:hi], conf.data[lo:hi]
            sub = fixed[idx]
            out[u] = np.linalg.solve(gram + (sub.T * c) @ sub, (sub.T * (1 + c)).sum(axis=1))
        return out

    def _history_cells(self, histories: Sequence[Sequence[str]], weights: Sequence[Sequence[float]] | None
                       ) -> tuple[list[int], list[int], list[float]]:
        """(profile, item position, weight) cells of liked items the model knows (a repeat keeps the last)."""
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for u, history in enumerate(histories):
            ws = weights[u] if weights is not None else [1.0] * len(history)
            seen: dict[int, float] = {}
            for item, w in zip(history, ws, strict=True):
                pos = self._item_pos.get(str(item))
                if pos is not None:
                    seen[pos] = float(w)
            rows += [u] * len(seen)
            cols += list(seen)
            vals += list(seen.values())
        return rows, cols, vals

    def score(self, user_vectors: np.ndarray, item_ids: Sequence[str]) -> np.ndarray:
        """Preference scores ``u . y`` of each user for each item; NaN for items without interactions."""
        factors, known = self.raw_item_factors(item_ids)
        scores = np.atleast_2d(user_vectors).astype(np.float32) @ factors.T
        scores[:, ~known] = np.nan
        return scores

    def profile_scores(self, histories: Sequence[Sequence[str]], weights: Sequence[Sequence[float]] | None,
                       item_ids: Sequence[str]) -> np.ndarray:
        """Scores of ``item_ids`` for profiles given by liked items (the recommend task's hook).

        ALS folds each profile in and scores ``u . y``; EASE scores ``x B`` (``weights`` scale each liked
        item's row). Items without interactions score NaN.
        """
        if getattr(self, "model", "als") != "ease":
            return self.score(self.fold_in(histories, weights), item_ids)
        self._check_fitted()
        assert self.item_weights_ is not None
        rows, cols, vals = self._history_cells(histories, weights)
        x = sp.csr_matrix((np.array(vals, dtype=np.float32), (rows, cols)),
                          shape=(len(histories), len(self.item_weights_)))
        pos = np.array([self._item_pos.get(str(t), -1) for t in item_ids], dtype=np.int64)
        known = pos >= 0
        scores = np.full((len(histories), len(item_ids)), np.nan, dtype=np.float32)
        scores[:, known] = np.asarray(x @ self.item_weights_[:, pos[known]])
        return scores

    # -- persistence --------------------------------------------------------------------------------
    def _save_state(self, path: Path) -> None:
        if self.is_fitted:
            (path / "ids.json").write_text(json.dumps({"items": self.item_ids_, "users": self.user_ids_}))
            np.save(path / "item_factors.npy", self.item_factors_)
            np.save(path / "user_factors.npy", self.user_factors_)
            if self.item_weights_ is not None:
                np.save(path / "item_weights.npy", self.item_weights_)

    def _load_state(self, path: Path) -> None:
        if (path / "ids.json").exists():
            ids = json.loads((path / "ids.json").read_text())
            self.item_ids_, self.user_ids_ = ids["items"], ids["users"]
            self.item_factors_ = np.load(path / "item_factors.npy")
            self.user_factors_ = np.load(path / "user_factors.npy")
            if (path / "item_weights.npy").exists():
                self.item_weights_ = np.load(path / "item_weights.npy")
            if self.item_factors_.shape != (len(self.item_ids_), self.factors):
                raise JointspaceError(f"{path}: behaviour factors do not match their ids; refit the model")
            self._index_ids()
