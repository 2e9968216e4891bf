"""scikit-learn's estimator checks over jointspace's encoders, classifier features and MLP.

scikit-learn's ``parametrize_with_checks`` runs its whole suite on ``TorchMLPClassifier`` (numeric
input). For the encoders and ``EncoderFeatures`` the tags say "text" (or media, or interactions), as
scikit-learn's own ``TfidfVectorizer`` does, so scikit-learn itself keeps only the checks that do not
feed a numeric matrix (cloning); here the checks that need no data are run on every registry encoder
by calling scikit-learn's check functions directly, and the checks that do need data are run again
with the input each encoder takes (texts, audio arrays, interactions): fit returns self and takes y,
fit leaves the settings alone, unfitted use is an error, fit is idempotent, rows do not depend on
their batch, pickling, cloning, feature names, DataFrame/array/list input alike, save and load.

Encoders fitted and run here: bow, tfidf, lsa, lda, theme, word2vec, spacy-vectors, audio-stats,
behaviour, metric-space (on tfidf). Left to their own test files (they load pretrained networks of
hundreds of MB, minutes on this machine): minilm, minilm-onnx, efficientnet, image-text, joint,
speech, video, voice, and space (it needs a trained joint space); the data-free checks still run on
them.
"""

from __future__ import annotations

import json
import pickle
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import SkipTestWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import (
    check_do_not_raise_errors_in_init_or_set_params,
    check_estimator_cloneable,
    check_estimator_repr,
    check_estimator_tags_renamed,
    check_get_params_invariance,
    check_mixin_order,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
    check_valid_tag_types,
    estimator_checks_generator,
    parametrize_with_checks,
)

from jointspace.encoders import available, encoder, encoder_class, load_encoder
from jointspace.errors import ItemError, NotFittedError
from jointspace.evaluate.datasets import wordnet_sample
from jointspace.tasks.features import EncoderFeatures
from jointspace.tasks.mlp import TorchMLPClassifier

TEXTS = [s.definition for s in wordnet_sample(60, seed=3)]
PRETRAINED_HEAVY = {"minilm", "minilm-onnx", "efficientnet", "image-text", "joint", "speech", "video", "voice", "space"}


def _sounds(n: int = 12, seconds: float = 0.4) -> list[tuple[np.ndarray, int]]:
    """Tones and noise bursts at 16 kHz, as (samples, rate) pairs (what the audio readers take)."""
    rng = np.random.default_rng(0)
    t = np.arange(int(16000 * seconds)) / 16000
    out = []
    for i in range(n):
        tone = np.sin(2 * np.pi * (220 + 90 * i) * t) * (0.2 + 0.05 * (i % 4))
        noise = rng.normal(0, 0.02 + 0.03 * (i % 3), len(t))
        out.append(((tone + noise).astype(np.float32), 16000))
    return out


def _interactions() -> list[tuple[str, str]]:
    rng = np.random.default_rng(0)
    return [(f"u{u}", f"i{(u * 3 + int(k)) % 30}") for u in range(40) for k in rng.integers(0, 6, 5)]


@dataclass
class Case:
    """An estimator as the data checks see it: how to build it, what it fits on and what it transforms."""

    label: str
    make: Callable[[], Any]
    fit_data: Callable[[], Any]
    items: Callable[[], list[Any]] = field(default=lambda: TEXTS)
    tol: float = 1e-5

    @property
    def same_input(self) -> bool:
        return self.fit_data is self.items


def _texts() -> list[str]:
    return TEXTS


CASES = [
    Case("bow", lambda: encoder("bow", dim=128), _texts, _texts),
    Case("tfidf", lambda: encoder("tfidf", dim=128), _texts, _texts),
    Case("lsa", lambda: encoder("lsa", dim=8), _texts, _texts),
    # lda's per-document inference stops at a tolerance, so rows agree to about 1e-3, not exactly
    Case("lda", lambda: encoder("lda", n_topics=4, passes=2), _texts, _texts, tol=5e-3),
    Case("theme", lambda: encoder("theme"), _texts, _texts),
    Case("word2vec", lambda: encoder("word2vec", dim=16, min_count=1, epochs=2, workers=1), _texts, _texts),
    Case("spacy-vectors", lambda: encoder("spacy-vectors"), _texts, _texts),
    Case("metric-space", lambda: encoder("metric-space", base="tfidf", base_params={"dim": 64}, space="fusion",
                                         tfidf_dim=32), _texts, _texts),
    Case("audio-stats", lambda: encoder("audio-stats"), _sounds, _sounds),
    Case("behaviour", lambda: encoder("behaviour", factors=4, iterations=3), _interactions,
         lambda: [f"i{j}" for j in range(0, 30, 2)]),
    Case("EncoderFeatures-tfidf", lambda: EncoderFeatures("tfidf", {"dim": 64}), _texts, _texts),
    Case("EncoderFeatures-lsa", lambda: EncoderFeatures("lsa", {"dim": 4}), _texts, _texts),
]
CASE_IDS = [c.label for c in CASES]


def _transform(est: Any, items: Any) -> np.ndarray:
    return np.asarray(est.transform(items))


# -- scikit-learn's own suite -------------------------------------------------------------------------
def _sklearn_estimators() -> list[Any]:
    out = [encoder_class(name)() for name in available()]
    return out + [TorchMLPClassifier(hidden=32, max_epochs=15), EncoderFeatures("tfidf", {"dim": 64})]


with warnings.catch_warnings():
    # scikit-learn says it skips its numeric-matrix checks for text input: that is what the tags are for
    warnings.simplefilter("ignore", SkipTestWarning)
    _SKLEARN_CHECKS = parametrize_with_checks(_sklearn_estimators())


@_SKLEARN_CHECKS
def test_scikit_learn_checks(estimator: Any, check: Callable[[Any], None]) -> None:
    check(estimator)


def test_text_tags_leave_only_the_checks_that_apply() -> None:
    """The tags are what turns the numeric checks off (as for TfidfVectorizer), nothing done by hand."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    for est in (encoder("tfidf"), EncoderFeatures("tfidf"), TfidfVectorizer()):
        tags = get_tags(est)
        assert tags.input_tags.string and not tags.input_tags.two_d_array
        with pytest.warns(SkipTestWarning, match="Can't test estimator .* string=True"):
            checks = [check.func.__name__ for _, check in estimator_checks_generator(est)]
        assert checks == ["check_estimator_cloneable"]
    assert not get_tags(encoder("tfidf")).transformer_tags.preserves_dtype
    assert get_tags(encoder("tfidf")).requires_fit and not get_tags(encoder("theme")).requires_fit
    assert get_tags(encoder("behaviour")).input_tags.dict and not get_tags(encoder("behaviour")).input_tags.string
    mlp_checks = [check.func.__name__ for _, check in estimator_checks_generator(TorchMLPClassifier())]
    assert "check_classifiers_train" in mlp_checks and len(mlp_checks) > 40


# -- the data-free checks, on every registry encoder ----------------------------------------------------
API_CHECKS = [check_estimator_cloneable, check_estimator_repr, check_estimator_tags_renamed, check_valid_tag_types,
              check_no_attributes_set_in_init, check_mixin_order, check_get_params_invariance, check_set_params,
              check_parameters_default_constructible, check_do_not_raise_errors_in_init_or_set_params]


@pytest.mark.parametrize("check", API_CHECKS, ids=[c.__name__ for c in API_CHECKS])
@pytest.mark.parametrize("name", available())
def test_api_checks_on_every_registry_encoder(name: str, check: Callable[[str, Any], None]) -> None:
    check(name, encoder(name))


# -- the checks that need data, with the data each estimator takes ---------------------------------------
@pytest.fixture(scope="module")
def fitted() -> dict[str, Any]:
    """Each case fitted once (the checks below that only read a fitted estimator share it)."""
    return {case.label: case.make().fit(case.fit_data()) for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_fit_takes_y_returns_self_and_leaves_the_settings(case: Case) -> None:
    est = case.make()
    before = est.get_params(deep=True)
    public_before = {k for k in vars(est) if not k.startswith("_")}
    y = np.arange(len(case.fit_data())) % 2
    assert est.fit(case.fit_data(), y) is est
    after = est.get_params(deep=True)
    assert before.keys() == after.keys()
    assert all(after[k] is before[k] for k in before), "fit changed a constructor setting"
    added = {k for k in vars(est) if not k.startswith("_")} - public_before
    assert all(k.endswith("_") for k in added), f"fit set public attributes without a trailing _: {added}"


@pytest.mark.parametrize("case", [c for c in CASES if get_tags(c.make()).requires_fit], ids=lambda c: c.label)
def test_unfitted_use_is_an_error(case: Case) -> None:
    from sklearn.exceptions import NotFittedError as SklearnNotFitted
    from sklearn.utils.validation import check_is_fitted

    est = case.make()
    with pytest.raises(SklearnNotFitted):
        check_is_fitted(est)
    with pytest.raises((NotFittedError, SklearnNotFitted)):
        est.transform(case.items()[:2])
    check_is_fitted(est.fit(case.fit_data()))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_transform_shape_names_and_idempotent_fit(case: Case, fitted: dict[str, Any]) -> None:
    est = fitted[case.label]
    out = _transform(est, case.items())
    names = est.get_feature_names_out()
    assert out.shape == (len(case.items()), len(names)) and out.dtype == np.float32
    assert len(set(names)) == len(names) and all(isinstance(n, str) for n in names)
    if hasattr(est, "encode"):  # unit rows (a text with no term in a capped vocabulary is a zero row)
        norms = np.linalg.norm(est.encode(case.items()), axis=1)
        assert np.all((np.abs(norms - 1) < 1e-5) | (norms == 0)) and (norms > 0).mean() > 0.5
    again = case.make().fit(case.fit_data())
    np.testing.assert_allclose(_transform(again, case.items()), out, atol=case.tol)
    if case.same_input:
        np.testing.assert_allclose(case.make().fit_transform(case.fit_data()), out, atol=case.tol)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_rows_do_not_depend_on_their_batch(case: Case, fitted: dict[str, Any]) -> None:
    """scikit-learn's sample-order and subset invariance: a row's vector is the same in any batch."""
    est, items = fitted[case.label], case.items()
    full = _transform(est, items)
    order = np.random.default_rng(1).permutation(len(items))
    np.testing.assert_allclose(_transform(est, [items[i] for i in order]), full[order], atol=case.tol)
    for start in range(0, len(items), 7):
        np.testing.assert_allclose(_transform(est, items[start:start + 7]), full[start:start + 7], atol=case.tol)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_pickle_and_clone(case: Case, fitted: dict[str, Any]) -> None:
    est = fitted[case.label]
    out = _transform(est, case.items())
    np.testing.assert_array_equal(_transform(pickle.loads(pickle.dumps(est)), case.items()), out)
    fresh = clone(est)
    assert fresh.get_params().keys() == est.get_params().keys()
    assert not {k for k in vars(fresh) if k.endswith("_") and not k.startswith("_")}
    if get_tags(fresh).requires_fit:
        with pytest.raises((NotFittedError, ValueError)):
            fresh.transform(case.items()[:1])


@pytest.mark.parametrize("case", [c for c in CASES if c.items is _texts], ids=lambda c: c.label)
def test_list_array_series_and_dataframe_input_alike(case: Case, fitted: dict[str, Any]) -> None:
    est = fitted[case.label]
    texts = case.items()[:10]
    out = _transform(est, texts)
    for form in (np.array(texts), np.array(texts, dtype=object)[:, None], pd.Series(texts),
                 pd.DataFrame({"text": texts}), tuple(texts)):
        np.testing.assert_array_equal(_transform(est, form), out)
    with pytest.raises(Exception, match="2 columns"):
        est.transform(pd.DataFrame({"text": texts, "other": texts}))
    with pytest.raises(Exception, match="item 1"):
        est.transform(pd.Series([texts[0], None, texts[1]]))


@pytest.mark.parametrize("case", [c for c in CASES if not c.label.startswith("EncoderFeatures")],
                         ids=lambda c: c.label)
def test_save_load_round_trip(case: Case, fitted: dict[str, Any], tmp_path: Any) -> None:
    est = fitted[case.label]
    loaded = load_encoder(est.save(tmp_path / "enc"))
    assert json.loads(json.dumps(loaded.get_params())) == json.loads(json.dumps(est.get_params()))
    np.testing.assert_allclose(loaded.encode(case.items()), est.encode(case.items()), atol=1e-6)


def test_set_output_pandas_names_the_columns(fitted: dict[str, Any]) -> None:
    est = clone(fitted["lsa"]).set_output(transform="pandas").fit(TEXTS)
    frame = est.transform(TEXTS[:3])
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == [f"lsa{i}" for i in range(8)]


def test_constructor_keeps_arguments_and_fit_checks_them() -> None:
    enc = encoder("tfidf", dim=0, ngram_range=[1, 2])
    assert enc.dim == 0 and enc.ngram_range == [1, 2]  # unchanged, not validated yet
    with pytest.raises(Exception, match="dim must be an integer of at least 1"):
        enc.fit(TEXTS)
    assert enc.set_params(dim=64).fit(TEXTS).encode(TEXTS[:2]).shape == (2, 64)
    with pytest.raises(Exception, match="n_topics"):
        encoder("lda", n_topics=-1).fit(TEXTS)
    with pytest.raises(Exception, match="factors"):
        encoder("behaviour", factors=0).fit(_interactions())
    with pytest.raises(Exception, match="unknown space"):
        encoder("metric-space", space="nope").fit(TEXTS)


def test_theme_rereads_its_lexicon_after_set_params() -> None:
    enc = encoder("theme", lexicon={"sea": ["ocean", "ship"]})
    assert enc.dim == 2
    enc.set_params(lexicon={"sea": ["ocean"], "sky": ["cloud"], "land": ["hill"]})
    assert enc.dim == 4 and enc.themes == ["sea", "sky", "land"]


# -- in scikit-learn's compositions ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def sms() -> pd.DataFrame:
    from jointspace.evaluate.sms_data import sms_spam

    df = sms_spam(with_meta=False)
    spam, ham = df[df.label == "spam"].sample(60, random_state=0), df[df.label == "ham"].sample(140, random_state=0)
    out = pd.concat([spam, ham]).sample(frac=1.0, random_state=1).reset_index(drop=True)
    out["length"] = out["text"].str.len()
    return out


def test_encoder_in_a_pipeline_and_a_grid_search(sms: pd.DataFrame) -> None:
    pipe = Pipeline([("enc", encoder("tfidf", dim=64)), ("clf", LogisticRegression(max_iter=500))])
    X_tr, y_tr, X_te, y_te = sms.text[:150], sms.label[:150], sms.text[150:], sms.label[150:]
    assert pipe.fit(X_tr, y_tr).score(X_te, y_te) > 0.8
    grid = GridSearchCV(pipe, {"enc__dim": [8, 512], "enc__sublinear_tf": [True, False]},
                        cv=StratifiedKFold(3, shuffle=True, random_state=0))
    grid.fit(sms.text, sms.label)
    assert [p["enc__dim"] for p in grid.cv_results_["params"]] == [8, 8, 512, 512]
    assert len(set(np.round(grid.cv_results_["mean_test_score"], 6))) > 1  # the settings reached the encoder
    best = grid.best_estimator_.named_steps["enc"]
    assert best.dim == grid.best_params_["enc__dim"] and len(best.vocabulary_) <= best.dim
    assert pipe.named_steps["enc"].dim == 64  # the grid cloned it, the original is untouched


def test_encoder_in_a_column_transformer(sms: pd.DataFrame) -> None:
    ct = ColumnTransformer([("text", encoder("bow", dim=32), "text"), ("meta", StandardScaler(), ["length"])])
    out = ct.fit_transform(sms, sms.label)
    assert out.shape == (len(sms), 33)
    assert list(ct.get_feature_names_out())[:2] == ["text__bow0", "text__bow1"]
    assert ct.get_feature_names_out()[-1] == "meta__length"
    as_list = ColumnTransformer([("text", encoder("bow", dim=32), ["text"])]).fit_transform(sms)  # a 1-column frame
    np.testing.assert_allclose(as_list, out[:, :32], atol=1e-6)
    model = Pipeline([("features", ct), ("clf", LogisticRegression(max_iter=500))]).fit(sms[:150], sms.label[:150])
    assert model.score(sms[150:], sms.label[150:]) > 0.7
    # lsa embeds no text without a known word: the column transformer says which, it does not guess
    lsa = ColumnTransformer([("text", encoder("lsa", dim=6), "text")]).fit(pd.DataFrame({"text": TEXTS}))
    unknown = pd.DataFrame({"text": ["a large body of water", "zzzz qqqq"]})
    with pytest.raises(ItemError, match="item 1: no word of this text is in the lsa vocabulary"):
        lsa.transform(unknown)


@pytest.mark.parametrize("model", ["logreg", "mlp"])
def test_the_classification_pipeline_behaves_as_an_estimator(sms: pd.DataFrame, model: str) -> None:
    """tasks.classify's pipeline (encoder + metadata features, then a model) on the records it takes.

    scikit-learn's suite feeds numeric matrices, which this pipeline (named text and metadata columns)
    does not take; these are its checks with the input it does take.
    """
    from sklearn.exceptions import NotFittedError as SklearnNotFitted

    from jointspace.tasks.classify import ClassifierConfig, build_pipeline

    config = ClassifierConfig(encoder="tfidf", encoder_params={"dim": 128}, model=model, meta=["length", "channel"])
    frame = sms.assign(channel=np.where(sms.text.str.contains("http|www"), "web", "sms"))
    pipe = build_pipeline(config, ["length"], ["channel"])
    for check in API_CHECKS:
        check("classification pipeline", pipe)
    with pytest.raises(SklearnNotFitted):
        pipe.predict_proba(frame[:3])
    params = pipe.get_params(deep=True)
    X, y = frame[:150], frame.label[:150]
    assert pipe.fit(X, y) is pipe
    ours = [k for k in params if k.startswith(("features__text__", "model__"))]  # (Pipeline itself swaps steps)
    assert ours and all(pipe.get_params(deep=True)[k] is params[k] for k in ours)
    proba = pipe.predict_proba(frame[150:])
    assert proba.shape == (50, 2) and np.allclose(proba.sum(axis=1), 1)
    assert pipe.score(frame[150:], frame.label[150:]) > 0.7
    order = np.random.default_rng(0).permutation(50)
    np.testing.assert_allclose(pipe.predict_proba(frame[150:].iloc[order]), proba[order], atol=1e-6)
    np.testing.assert_allclose(pipe.predict_proba(frame[160:170]), proba[10:20], atol=1e-6)
    np.testing.assert_allclose(clone(pipe).fit(X, y).predict_proba(frame[150:]), proba, atol=1e-6)  # idempotent
    np.testing.assert_allclose(pickle.loads(pickle.dumps(pipe)).predict_proba(frame[150:]), proba)
    assert list(pipe[:-1].get_feature_names_out()[:2]) == ["text__tfidf_0", "text__tfidf_1"]
    grid = GridSearchCV(clone(pipe), {"features__text__encoder_params": [{"dim": 16}, {"dim": 128}]}, cv=2)
    grid.fit(X, y)
    assert grid.best_estimator_.named_steps["features"].named_transformers_["text"].dim_ in (16, 128)


def test_encoders_pickled_before_the_scikit_learn_contract_still_load() -> None:
    """Classifier models saved earlier hold encoders whose dimension was the private ``_dim``."""
    enc = encoder("tfidf", dim=32).fit(TEXTS)
    state = dict(vars(enc))
    state["_dim"] = state.pop("dim")
    old = type(enc).__new__(type(enc))
    old.__setstate__(state)
    assert old.dim == 32 and "_dim" not in vars(old)
    np.testing.assert_array_equal(old.encode(TEXTS[:3]), enc.encode(TEXTS[:3]))


def test_lda_transform_gives_proportions_encode_unit_vectors(fitted: dict[str, Any]) -> None:
    lda = fitted["lda"]
    props = lda.transform(TEXTS[:5])
    np.testing.assert_allclose(props.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(lda.encode(TEXTS[:5]), props / np.linalg.norm(props, axis=1, keepdims=True), atol=1e-6)
    frame = clone(lda).set_output(transform="pandas").fit(TEXTS).transform(TEXTS[:2])
    assert list(frame.columns) == ["lda0", "lda1", "lda2", "lda3"]
