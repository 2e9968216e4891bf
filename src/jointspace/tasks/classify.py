"""Classifiers on embeddings: encoder vectors + metadata -> logreg / calibrated SVM / torch MLP.

``train`` cross-validates (stratified k-fold) to report and to choose the decision threshold on
out-of-fold predictions, then fits on all rows and writes a versioned model directory:

    model.json        format, versions, fields, classes, threshold, cross-validated figures
    pipeline.joblib   the fitted sklearn pipeline (features + model), one unit
    neighbours.npz    training vectors, texts and labels: the 3 nearest explain each prediction
    report.json, roc.png, pr.png, confusion.png
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from jointspace.errors import FormatError, JointspaceError
from jointspace.readers.records import Skipped, read_records
from jointspace.tasks import report as rep
from jointspace.tasks.features import build_features, split_meta, vector_cache
from jointspace.tasks.mlp import TorchMLPClassifier
from jointspace.tasks.modeldir import atomic_dir, read_manifest, write_json
from jointspace.version import __version__

MODELS = ("logreg", "svm", "mlp")
MANIFEST = "model.json"
KIND = "jointspace-classifier"
FORMAT = 1
POSITIVE_NAMES = ("1", "true", "yes", "spam", "fraud", "abuse", "positive", "toxic")
Progress = Callable[[int], None]


DEFAULT_C = {"logreg": 10.0, "svm": 1.0}
# the --tune grid: inverse regularisation C for the linear models, and word n-grams for lexical encoders
TUNE_C = (0.3, 1.0, 3.0, 10.0, 30.0)
TUNE_NGRAMS = ((1, 1), (1, 2))
TUNE_FOLDS = 3
LEXICAL = ("tfidf", "bow", "lsa")  # encoders with a stop-word list; classification keeps every word by default


def make_model(name: str, seed: int = 0, C: float | None = None) -> Any:
    """logreg (calibrated by its log-loss), svm (sigmoid-calibrated on 3 internal folds), mlp (calibrated on
    its early-stopping slice). ``C`` (inverse regularisation) defaults to ``DEFAULT_C``.

    logreg uses the newton-cg solver: on 1,500 TF-IDF rows it fits in 0.7 s where lbfgs takes 6 s
    (scipy 1.17's L-BFGS-B dominates), same optimum.
    """
    if name == "logreg":
        return LogisticRegression(C=DEFAULT_C["logreg"] if C is None else C, max_iter=5000, solver="newton-cg")
    if name == "svm":
        return CalibratedClassifierCV(LinearSVC(C=DEFAULT_C["svm"] if C is None else C, class_weight="balanced",
                                                max_iter=10000), method="sigmoid", cv=3)
    if name == "mlp":
        return TorchMLPClassifier(random_state=seed)
    raise JointspaceError(f"unknown model {name!r}; use one of {', '.join(MODELS)}")


@dataclass
class ClassifierConfig:
    text_field: str = "text"
    label_field: str = "label"
    meta: list[str] = field(default_factory=list)
    encoder: str = "minilm"
    encoder_params: dict[str, Any] = field(default_factory=dict)
    model: str = "logreg"
    folds: int = 5
    seed: int = 0
    target_precision: float | None = None
    target_recall: float | None = None
    positive: str | None = None
    C: float | None = None  # None: DEFAULT_C of the model
    tune: bool = False  # choose C (and n-grams for lexical encoders) by cross-validation before training
    tuning: dict[str, Any] | None = None  # what --tune measured and chose (filled by train / evaluate)


# -- data ---------------------------------------------------------------------------------------------
def normalise_labels(values: Sequence[Any]) -> list[Any]:
    """Integers stay integers (1.0 -> 1, True -> 1); anything else becomes a stripped string."""
    out: list[Any] = []
    for v in values:
        if isinstance(v, bool | np.bool_):
            v = int(v)
        if isinstance(v, float | np.floating) and float(v).is_integer():
            v = int(v)
        out.append(int(v) if isinstance(v, int | np.integer) else str(v).strip())
    if len({type(v) for v in out}) > 1:
        out = [str(v) for v in out]
    return out


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or (
        isinstance(value, str) and not value.strip())


def load_frame(data: str | Path | pd.DataFrame | Iterable[dict[str, Any]]) -> tuple[pd.DataFrame, list[Skipped]]:
    """Records as a DataFrame (row order kept) and the unreadable rows the reader skipped."""
    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True), []
    if isinstance(data, str | Path):
        source = read_records(data)
        frame = pd.DataFrame(list(source))
        return frame, list(source.skipped)
    return pd.DataFrame(list(data)), []


def labelled_rows(frame: pd.DataFrame, text_field: str, label_field: str
                  ) -> tuple[pd.DataFrame, list[Any], list[Skipped]]:
    """Rows with a text and a label; the others are reported, not fatal."""
    for name in (text_field, label_field):
        if name not in frame.columns:
            raise JointspaceError(f"no field {name!r} in the data (fields: {', '.join(map(str, frame.columns))})")
    skipped, keep = [], []
    for i, (text, label) in enumerate(zip(frame[text_field], frame[label_field], strict=True)):
        if _missing(text) or not isinstance(text, str):
            skipped.append(Skipped(f"row {i + 1}", f"missing text in {text_field!r}"))
        elif _missing(label):
            skipped.append(Skipped(f"row {i + 1}", f"missing label in {label_field!r}"))
        else:
            keep.append(i)
    rows = frame.iloc[keep].reset_index(drop=True)
    return rows, normalise_labels(list(rows[label_field])), skipped


def check_labels(labels: Sequence[Any], folds: int) -> list[Any]:
    """The sorted classes; one class only, or a class too small for the folds, is an error."""
    counts = pd.Series(labels).value_counts()
    if len(counts) < 2:
        only = counts.index[0] if len(counts) else "nothing"
        raise JointspaceError(f"the label column has one class only ({only!r}); a classifier needs two or more")
    small = counts[counts < folds]
    if len(small):
        raise JointspaceError(f"class {small.index[0]!r} has {small.iloc[0]} example(s); "
                              f"{folds}-fold cross-validation needs at least {folds} per class")
    return sorted(counts.index, key=str)


def positive_class(classes: Sequence[Any], labels: Sequence[Any], wanted: str | None) -> int | None:
    """Index of the positive class for two classes (None for more): as asked, a usual name, else the rarer."""
    if len(classes) != 2:
        return None
    names = [str(c).lower() for c in classes]
    if wanted is not None:
        if str(wanted).lower() not in names:
            raise JointspaceError(f"--positive {wanted!r} is not one of the labels {list(classes)}")
        return names.index(str(wanted).lower())
    for name in POSITIVE_NAMES:
        if name in names:
            return names.index(name)
    counts = pd.Series(labels).value_counts()
    return int(np.argmin([counts[c] for c in classes]))


# -- training -----------------------------------------------------------------------------------------
def encoder_params(config: ClassifierConfig) -> dict[str, Any]:
    """The encoder settings used for classification: lexical encoders keep stop words (who, what, not...)
    unless ``stop_words`` is given, since they carry the class of a question or a negation."""
    params = dict(config.encoder_params or {})
    if config.encoder in LEXICAL:
        params.setdefault("stop_words", None)
    if config.encoder == "tfidf" and config.model != "mlp":
        params.setdefault("dim", 65536)  # sparse inside the classifier: the vocabulary need not be capped hard
    return params


def build_pipeline(config: ClassifierConfig, numeric: list[str], categorical: list[str]) -> Pipeline:
    features = build_features(config.text_field, config.encoder, encoder_params(config), numeric, categorical,
                              sparse=config.model != "mlp")
    return Pipeline([("features", features), ("model", make_model(config.model, config.seed, config.C))])


def tune(frame: pd.DataFrame, labels: list[Any], config: ClassifierConfig) -> ClassifierConfig:
    """A small grid search (``TUNE_C`` x ``TUNE_NGRAMS`` for lexical encoders) by ``TUNE_FOLDS``-fold
    stratified cross-validation on macro F1; returns the config with the best setting and the grid scores.

    The mlp has no C: only the n-gram range is searched for it (nothing for pretrained encoders).
    """
    from dataclasses import replace

    from sklearn.metrics import f1_score

    classes = check_labels(labels, TUNE_FOLDS)
    numeric, categorical = split_meta(frame, config.meta)
    y = np.array(labels, dtype=object)
    codes = np.array([classes.index(label) for label in labels])
    lexical = config.encoder in LEXICAL and "ngram_range" not in (config.encoder_params or {})
    grid_c: tuple[float | None, ...] = TUNE_C if config.model in DEFAULT_C and config.C is None else (config.C,)
    grid_n: tuple[tuple[int, int] | None, ...] = TUNE_NGRAMS if lexical else (None,)
    splits = list(StratifiedKFold(TUNE_FOLDS, shuffle=True, random_state=config.seed).split(frame, codes))
    scores = []
    for ngrams in grid_n:
        params = dict(config.encoder_params or {})
        if ngrams is not None:
            params["ngram_range"] = list(ngrams)
        for c in grid_c:
            trial = replace(config, encoder_params=params, C=c, tune=False)
            pred = np.empty(len(y), dtype=object)
            for tr, te in splits:
                pipe = build_pipeline(trial, numeric, categorical).fit(frame.iloc[tr], y[tr])
                pred[te] = pipe.predict(frame.iloc[te])
            f1 = float(f1_score([str(v) for v in y], [str(v) for v in pred], average="macro"))
            scores.append({"C": c, "ngram_range": None if ngrams is None else list(ngrams), "macro_f1": round(f1, 4)})
    best = max(scores, key=lambda row: row["macro_f1"])
    params = dict(config.encoder_params or {})
    if best["ngram_range"] is not None:
        params["ngram_range"] = best["ngram_range"]
    return replace(config, encoder_params=params, C=best["C"], tune=False,
                   tuning={"folds": TUNE_FOLDS, "metric": "macro_f1", "chosen": best, "grid": scores})


@dataclass
class CVResult:
    classes: list[Any]
    positive: int | None
    codes: np.ndarray
    proba: np.ndarray  # out-of-fold probabilities, (n, k)
    folds: list[dict[str, Any]]
    summary: dict[str, Any]
    threshold: dict[str, Any] | None
    seconds: float
    tuning: dict[str, Any] | None = None

    def report(self) -> dict[str, Any]:
        pooled = (rep.binary_metrics((self.codes == self.positive).astype(int), self.proba[:, self.positive],
                                     self.threshold["threshold"]) if self.positive is not None and self.threshold
                  else rep.multiclass_metrics(self.codes, self.proba))
        return {"classes": self.classes, "positive": None if self.positive is None else self.classes[self.positive],
                "folds": len(self.folds), "mean": self.summary, "per_fold": self.folds,
                "pooled_confusion": pooled["confusion"], "threshold": self.threshold,
                "seconds": round(self.seconds, 1), **({"tuning": self.tuning} if self.tuning else {})}


def cross_validate(frame: pd.DataFrame, labels: list[Any], config: ClassifierConfig,
                   progress: Progress | None = None) -> CVResult:
    """Stratified k-fold: out-of-fold probabilities, per-fold figures and a validation-chosen threshold.

    Each fold's figures use a threshold chosen on the *other* folds' out-of-fold predictions, so the
    reported precision/recall are not tuned on the rows they are measured on.
    """
    start = time.perf_counter()
    classes = check_labels(labels, config.folds)
    pos = positive_class(classes, labels, config.positive)
    if pos is None and (config.target_precision is not None or config.target_recall is not None):
        raise JointspaceError("--target-precision / --target-recall need two classes (a positive one)")
    numeric, categorical = split_meta(frame, config.meta)
    codes = np.array([classes.index(label) for label in labels])
    proba = np.zeros((len(codes), len(classes)))
    splits = list(StratifiedKFold(config.folds, shuffle=True, random_state=config.seed).split(frame, codes))
    for train_idx, test_idx in splits:
        pipe = build_pipeline(config, numeric, categorical)
        pipe.fit(frame.iloc[train_idx], np.array(classes, dtype=object)[codes[train_idx]])
        proba[test_idx] = _ordered_proba(pipe, frame.iloc[test_idx], classes)
        if progress:
            progress(1)
    folds, threshold = [], None
    if pos is not None:
        y = (codes == pos).astype(int)
        threshold = rep.choose_threshold(y, proba[:, pos], config.target_precision, config.target_recall)
        for _, test_idx in splits:
            rest = np.setdiff1d(np.arange(len(y)), test_idx)
            cut = rep.choose_threshold(y[rest], proba[rest, pos], config.target_precision,
                                       config.target_recall)["threshold"]
            folds.append(rep.binary_metrics(y[test_idx], proba[test_idx, pos], cut))
    else:
        folds = [rep.multiclass_metrics(codes[t], proba[t]) for _, t in splits]
    return CVResult(classes, pos, codes, proba, folds, rep.summarise_folds(folds), threshold,
                    time.perf_counter() - start)


def _ordered_proba(pipe: Pipeline, rows: pd.DataFrame, classes: list[Any]) -> np.ndarray:
    p = pipe.predict_proba(rows)
    order = [list(pipe.classes_).index(c) for c in classes]
    return p[:, order]


def train(data: Any, config: ClassifierConfig, out_dir: str | Path, progress: Progress | None = None,
          title: str = "") -> dict[str, Any]:
    """Cross-validate, fit on all rows, write the model directory; returns the manifest."""
    frame, skipped = load_frame(data)
    frame, labels, bad = labelled_rows(frame, config.text_field, config.label_field)
    skipped += bad
    for spec in config.meta:
        name = spec.partition(":")[0]
        if name not in frame.columns:
            raise JointspaceError(f"metadata field {name!r} is not in the data")
    numeric, categorical = split_meta(frame, config.meta)
    with vector_cache():
        if config.tune:
            config = tune(frame, labels, config)
        cv = cross_validate(frame, labels, config, progress)
        pipe = build_pipeline(config, numeric, categorical)
        pipe.fit(frame, np.array(labels, dtype=object))
        text_step = pipe.named_steps["features"].named_transformers_["text"]
        vectors = text_step.transform(frame[[config.text_field]])
    if progress:
        progress(1)
    cv.tuning = config.tuning
    report = cv.report()
    with atomic_dir(out_dir, MANIFEST) as tmp:
        import joblib

        joblib.dump(pipe, tmp / "pipeline.joblib")
        _save_neighbours(tmp / "neighbours.npz", vectors, list(frame[config.text_field]), labels)
        paths = rep.curve_plots(cv.codes, cv.proba, cv.classes, cv.positive, tmp, title)
        rep.confusion_plot(report["pooled_confusion"], cv.classes, tmp / "confusion.png", title)
        write_json(tmp / "report.json", report)
        manifest = {
            "format": FORMAT, "kind": KIND, "jointspace": __version__, "sklearn": _sklearn_version(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "config": asdict(config), "numeric": numeric, "categorical": categorical,
            "classes": cv.classes, "positive": report["positive"],
            "threshold": cv.threshold["threshold"] if cv.threshold else None, "threshold_info": cv.threshold,
            "cv": report["mean"], "rows": len(frame), "skipped": [str(s) for s in skipped],
            "figures": sorted([p.name for p in paths.values()] + ["confusion.png"]),
        }
        write_json(tmp / MANIFEST, manifest)
    return manifest


def evaluate(data: Any, config: ClassifierConfig, progress: Progress | None = None
             ) -> tuple[CVResult, list[Skipped]]:
    """Stratified k-fold figures only; nothing is written."""
    frame, skipped = load_frame(data)
    frame, labels, bad = labelled_rows(frame, config.text_field, config.label_field)
    with vector_cache():
        if config.tune:
            config = tune(frame, labels, config)
        result = cross_validate(frame, labels, config, progress)
        result.tuning = config.tuning
        return result, skipped + bad


def _sklearn_version() -> str:
    import sklearn

    return sklearn.__version__


def _save_neighbours(path: Path, vectors: Any, texts: list[str], labels: list[Any]) -> None:
    import scipy.sparse as sp

    if sp.issparse(vectors):
        density = vectors.nnz / max(vectors.shape[0] * vectors.shape[1], 1)
    else:
        density = np.count_nonzero(vectors) / max(vectors.size, 1)
    stored = sp.csr_matrix(vectors) if density < 0.25 else np.asarray(
        vectors.toarray() if sp.issparse(vectors) else vectors).astype(np.float16)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, texts=np.array(texts, dtype=object), labels=json.dumps(labels),
                            sparse=density < 0.25,
                            **({"data": stored.data, "indices": stored.indices, "indptr": stored.indptr,
                                "shape": stored.shape} if density < 0.25 else {"dense": stored}))


# -- prediction ---------------------------------------------------------------------------------------
class ClassifierModel:
    """A trained model directory: ``predict`` records -> label, probability and 3 nearest training examples."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.manifest = read_manifest(path, MANIFEST, KIND, FORMAT)
        if self.manifest["sklearn"] != _sklearn_version():
            raise FormatError(f"{path}: written with scikit-learn {self.manifest['sklearn']}, this environment "
                              f"has {_sklearn_version()}; retrain the model with this version")
        import joblib

        try:
            self.pipeline: Pipeline = joblib.load(self.path / "pipeline.joblib")
        except Exception as exc:  # a damaged pickle can raise nearly anything
            raise FormatError(f"{path}: pipeline.joblib is damaged or unreadable ({exc})") from exc
        self.config = ClassifierConfig(**self.manifest["config"])
        self.classes: list[Any] = self.manifest["classes"]
        self.threshold: float | None = self.manifest["threshold"]
        self._neighbours: tuple[Any, np.ndarray, list[Any]] | None = None

    def _load_neighbours(self) -> tuple[Any, np.ndarray, list[Any]]:
        if self._neighbours is None:
            import scipy.sparse as sp

            z = np.load(self.path / "neighbours.npz", allow_pickle=True)
            if bool(z["sparse"]):
                vectors: Any = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
            else:
                vectors = z["dense"].astype(np.float32)
            self._neighbours = (vectors, z["texts"], json.loads(str(z["labels"])))
        return self._neighbours

    def predict(self, data: Any, neighbours: int = 3) -> tuple[list[dict[str, Any]], list[Skipped]]:
        """One dict per input row, in order; a row without text gets ``label: None`` and an ``error``."""
        frame, skipped = load_frame(data)
        text = self.config.text_field
        needed = [text] + self.manifest["numeric"] + self.manifest["categorical"]
        absent = [name for name in needed if name not in frame.columns]
        if absent:
            raise JointspaceError(f"field(s) {', '.join(map(repr, absent))} used in training are missing "
                                  f"from the data")
        results: list[dict[str, Any]] = [{} for _ in range(len(frame))]
        good = []
        for i, value in enumerate(frame[text]):
            if _missing(value) or not isinstance(value, str):
                results[i] = {"label": None, "probability": None, "neighbours": [],
                              "error": f"row {i + 1}: missing text in {text!r}"}
                skipped.append(Skipped(f"row {i + 1}", f"missing text in {text!r}"))
            else:
                good.append(i)
        if good:
            rows = frame.iloc[good]
            proba = _ordered_proba(self.pipeline, rows, self.classes)
            text_step = self.pipeline.named_steps["features"].named_transformers_["text"]
            near = self._nearest(text_step.transform(rows[[text]]), neighbours)
            for j, i in enumerate(good):
                results[i] = self._result(proba[j], near[j])
        return results, skipped

    def _result(self, p: np.ndarray, near: list[dict[str, Any]]) -> dict[str, Any]:
        if self.threshold is not None:
            pos = self.classes.index(self.manifest["positive"])
            c = pos if p[pos] >= self.threshold else 1 - pos
        else:
            c = int(np.argmax(p))
        return {"label": self.classes[c], "probability": round(float(p[c]), 6),
                "probabilities": {str(k): round(float(v), 6) for k, v in zip(self.classes, p, strict=True)},
                "neighbours": near}

    def _nearest(self, queries: np.ndarray, k: int) -> list[list[dict[str, Any]]]:
        import scipy.sparse as sp

        vectors, texts, labels = self._load_neighbours()
        if sp.issparse(vectors) or sp.issparse(queries):
            product = vectors @ queries.T
            sims = (product.toarray() if sp.issparse(product) else np.asarray(product)).T
        else:
            sims = queries @ vectors.T
        out = []
        for row in np.atleast_2d(sims):
            top = np.argsort(-row, kind="stable")[:k]
            out.append([{"text": str(texts[t]), "label": labels[t], "similarity": round(float(row[t]), 4)}
                        for t in top])
        return out

    def score(self, data: Any, label_field: str) -> dict[str, Any]:
        """Figures of this model on labelled data; labels the model never saw are an error naming them."""
        frame, _ = load_frame(data)
        frame, labels, _ = labelled_rows(frame, self.config.text_field, label_field)
        unknown = sorted({str(label) for label in labels} - {str(c) for c in self.classes})
        if unknown:
            raise JointspaceError(f"label(s) {', '.join(map(repr, unknown))} in {label_field!r} were not in "
                                  f"training (known: {', '.join(map(str, self.classes))})")
        results, _ = self.predict(frame, neighbours=0)
        codes = np.array([[str(c) for c in self.classes].index(str(label)) for label in labels])
        proba = np.array([[r["probabilities"][str(c)] for c in self.classes] for r in results])
        if self.threshold is not None:
            pos = self.classes.index(self.manifest["positive"])
            return rep.binary_metrics((codes == pos).astype(int), proba[:, pos], self.threshold)
        return rep.multiclass_metrics(codes, proba)
