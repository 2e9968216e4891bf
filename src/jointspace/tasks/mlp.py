"""A small torch network as an sklearn classifier: BCE-with-logits for two classes, softmax CE for more.

Class weights counter imbalance (``pos_weight`` = negatives/positives; balanced weights for softmax).
A stratified slice of the training data is held out for early stopping; the best epoch's weights are
kept, and the same slice calibrates the probabilities (Platt scaling of the logit for two classes, a
multinomial logistic regression on the logits for more): the class weights that help training skew
raw probabilities, and this undoes it. Fitted weights are stored as numpy arrays, so a pickled model
needs no torch internals. When a class has too few examples to hold any out (under 2, or fewer
examples than would leave each class one in the slice), early stopping and calibration use the
training data itself. Input is checked as every scikit-learn classifier checks it (``validate_data``),
and scikit-learn's own estimator checks pass (tests/test_sklearn_checks.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from jointspace.encoders.base import check_int


def _network(n_in: int, hidden: int, n_out: int, dropout: float) -> Any:
    import torch.nn as nn

    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_out))


class TorchMLPClassifier(ClassifierMixin, BaseEstimator):
    """One hidden layer, Adam, early stopping on a held-out slice."""

    def __init__(self, hidden: int = 128, dropout: float = 0.2, lr: float = 1e-3, weight_decay: float = 1e-4,
                 batch_size: int = 64, max_epochs: int = 40, patience: int = 4, val_fraction: float = 0.15,
                 random_state: int = 0) -> None:
        self.hidden = hidden
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.val_fraction = val_fraction
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> TorchMLPClassifier:
        import torch

        X, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        for what in ("hidden", "batch_size", "max_epochs", "patience"):
            check_int("TorchMLPClassifier", what, getattr(self, what))
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must lie in (0, 1), got {self.val_fraction!r}")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a small net: one thread is as fast, and kinder to a shared machine
        try:
            return self._fit(X, y)
        finally:
            torch.set_num_threads(threads)

    def _split(self, X: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """A stratified held-out slice, or the training data itself when a class is too small to split."""
        n_classes = len(self.classes_)
        n_val = int(np.ceil(self.val_fraction * len(X)))
        if np.bincount(codes).min() >= 2 and n_val >= n_classes and len(X) - n_val >= n_classes:
            return train_test_split(X, codes, test_size=n_val, stratify=codes, random_state=self.random_state)
        return X, X, codes, codes

    def _fit(self, X: np.ndarray, y: Any) -> TorchMLPClassifier:
        import torch

        self.classes_ = unique_labels(y)
        if len(self.classes_) < 2:
            raise ValueError(f"the network needs at least two classes, got one class: {self.classes_[0]!r}")
        codes = np.searchsorted(self.classes_, np.asarray(y))
        binary = len(self.classes_) == 2
        torch.manual_seed(self.random_state)
        X_tr, X_va, y_tr, y_va = self._split(X, codes)
        net = _network(X.shape[1], self.hidden, 1 if binary else len(self.classes_), self.dropout)
        counts = np.bincount(y_tr, minlength=len(self.classes_)).astype(np.float32)
        if binary:
            loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(counts[0] / max(counts[1], 1.0)))
        else:
            weights = counts.sum() / (len(counts) * np.maximum(counts, 1.0))
            loss_fn = torch.nn.CrossEntropyLoss(weight=torch.tensor(weights))

        def loss_of(xb: Any, yb: Any) -> Any:
            out = net(xb)
            return loss_fn(out.squeeze(1), yb.float()) if binary else loss_fn(out, yb)

        opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        xt, yt = torch.tensor(X_tr), torch.tensor(y_tr)  # copies: the input may be read-only
        xv, yv = torch.tensor(X_va), torch.tensor(y_va)
        gen = torch.Generator().manual_seed(self.random_state)
        best, best_state, waited = float("inf"), None, 0
        self.n_epochs_ = 0
        for _ in range(self.max_epochs):
            net.train()
            for idx in torch.randperm(len(xt), generator=gen).split(self.batch_size):
                opt.zero_grad()
                loss_of(xt[idx], yt[idx]).backward()
                opt.step()
            net.eval()
            with torch.no_grad():
                val = float(loss_of(xv, yv))
            self.n_epochs_ += 1
            if val < best - 1e-4:
                best, waited = val, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                waited += 1
                if waited >= self.patience:
                    break
        assert best_state is not None
        self.weights_ = {k: v.numpy().copy() for k, v in best_state.items()}
        self._calibrate(self._logits(X_va, check=False), y_va)
        self.best_val_loss_ = best
        return self

    def _calibrate(self, logits: np.ndarray, codes: np.ndarray) -> None:
        from sklearn.linear_model import LogisticRegression

        features = logits.reshape(len(logits), -1)
        if len(set(codes)) < len(self.classes_):  # a class missing from the slice: keep raw scores
            self.calibration_ = None
            return
        lr = LogisticRegression(C=1.0, max_iter=1000).fit(features, codes)
        self.calibration_ = (lr.coef_.astype(np.float64), lr.intercept_.astype(np.float64))

    def decision_function(self, X: Any) -> np.ndarray:
        """Calibrated logits: one column for two classes (the log-odds of the second), else one per class."""
        logits = self._logits(X)
        if getattr(self, "calibration_", None) is None:
            return logits
        coef, intercept = self.calibration_
        out = logits.reshape(len(logits), -1) @ coef.T + intercept
        return out[:, 0] if out.shape[1] == 1 else out

    def _logits(self, X: Any, check: bool = True) -> np.ndarray:
        if check:
            check_is_fitted(self)
            X = validate_data(self, X, dtype=np.float32, reset=False)
        w = self.weights_
        hidden = np.maximum(X @ w["0.weight"].T + w["0.bias"], 0.0)
        logits = hidden @ w["3.weight"].T + w["3.bias"]
        return logits[:, 0] if logits.shape[1] == 1 else logits

    def predict_proba(self, X: Any) -> np.ndarray:
        logits = self.decision_function(X)
        if logits.ndim == 1:
            p = 1.0 / (1.0 + np.exp(-logits))
            return np.column_stack([1 - p, p])
        logits = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
