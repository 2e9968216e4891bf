"""Issue 16: LSA weightings, EASE beside ALS, classifier defaults and --tune, nearest defaults (k and vote
chosen, `unknown` only when asked), on real text (WordNet glosses, SMS, Rotten Tomatoes) and real models."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from jointspace.encoders import encoder, load_encoder
from jointspace.encoders.behaviour import BehaviourEncoder
from jointspace.encoders.lsa import entropy_weights
from jointspace.errors import JointspaceError
from jointspace.evaluate.datasets import wordnet_sample

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def glosses() -> list[str]:
    return [s.definition for s in wordnet_sample(800, seed=1)]


# -- LSA ------------------------------------------------------------------------------------------------
def test_entropy_weights_follow_the_definition() -> None:
    # term 0 evenly in all 4 documents -> weight 0; term 1 in one document -> 1; term 2 in two -> 1 - log2/log4
    counts = sp.csr_matrix(np.array([[1, 3, 1], [1, 0, 1], [1, 0, 0], [1, 0, 0]], dtype=np.float32))
    g = entropy_weights([counts[:2], counts[2:]], 3, 4)
    assert g == pytest.approx([0.0, 1.0, 0.5], abs=1e-6)


def test_lsa_weightings_differ_and_survive_save_load(glosses: list[str], tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        le = encoder("lsa", dim=20).fit(glosses)
        tf = encoder("lsa", dim=20, weighting="tfidf").fit(glosses)
    assert le.weighting == "log-entropy" and 0.0 <= le.idf_.min() and le.idf_.max() <= 1.0
    assert not np.allclose(le.idf_, tf.idf_)
    texts = glosses[:5]
    le.save(tmp_path / "le")
    again = load_encoder(tmp_path / "le")
    assert again.weighting == "log-entropy"
    np.testing.assert_allclose(again.encode(texts), le.encode(texts), atol=1e-6)
    # a model saved before weightings existed (no "weighting" in its params) keeps its TF-IDF fold-in
    tf.save(tmp_path / "old")
    config = json.loads((tmp_path / "old" / "encoder.json").read_text())
    for key in ("weighting", "singular_power"):
        config["params"].pop(key)
    (tmp_path / "old" / "encoder.json").write_text(json.dumps(config))
    old = load_encoder(tmp_path / "old")
    assert old.weighting == "tfidf"
    np.testing.assert_allclose(old.encode(texts), tf.encode(texts), atol=1e-6)
    with pytest.raises(JointspaceError, match="weighting"):
        encoder("lsa", weighting="bm25").fit(glosses)


def test_singular_power_rescales_components(glosses: list[str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = encoder("lsa", dim=10).fit(glosses)
    two = encoder("lsa", dim=10, singular_power=2.0)
    for name in ("vocabulary_", "idf_", "components_", "singular_values_", "_term_index"):
        setattr(two, name, getattr(one, name))
    x = one.transform_tfidf(glosses[:3]) @ one.components_
    expected = x * one.singular_values_
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(two.encode(glosses[:3]), expected, atol=1e-5)


def test_doc_similarity_on_a_pairs_file(glosses: list[str], tmp_path: Path) -> None:
    from jointspace.evaluate.doc_similarity import load_pairs, score_pairs

    # a gloss against itself with a word dropped (similar) and against an unrelated gloss (not)
    rows = []
    for i in range(0, 40, 2):
        words = glosses[i].split()
        rows.append({"text1": glosses[i], "text2": " ".join(words[1:]) or glosses[i], "score": 0.9})
        rows.append({"text1": glosses[i], "text2": glosses[i + 101], "score": 0.1})
    pd.DataFrame(rows).to_csv(tmp_path / "pairs.csv", index=False)
    (tmp_path / "bg.txt").write_text("\n".join(glosses[200:600]))
    pairs = load_pairs(tmp_path / "pairs.csv", background=tmp_path / "bg.txt")
    assert len(pairs.scores) == 40 and len(pairs.background) == 400
    result = {r["encoder"]: r for r in score_pairs(pairs, ["tfidf:dim=50000", "lsa:dim=30"])}
    assert result["tfidf:dim=50000"]["pearson"] > 0.8 and result["lsa:dim=30"]["pearson"] > 0.5
    pd.DataFrame([{"text1": "a", "text2": "", "score": 1}] * 3).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(JointspaceError, match="row 1"):
        load_pairs(tmp_path / "bad.csv")


# -- EASE ------------------------------------------------------------------------------------------------
def _interactions(seed: int = 0) -> list[tuple[str, str]]:
    rng = np.random.default_rng(seed)
    out = []
    for u in range(60):  # two tastes: items a0..a9 or b0..b9, a few crossovers
        group = "a" if u % 2 else "b"
        for i in rng.choice(10, size=5, replace=False):
            out.append((f"u{u}", f"{group}{i}"))
        if u % 7 == 0:
            out.append((f"u{u}", f"{'b' if group == 'a' else 'a'}{u % 10}"))
    return out


def test_ease_is_the_closed_form_and_ranks_by_taste(tmp_path: Path) -> None:
    inter = _interactions()
    ease = BehaviourEncoder(model="ease", l2=10.0, factors=4).fit(inter)
    items = ease.item_ids_
    x = np.zeros((60, len(items)))
    pos = {t: i for i, t in enumerate(items)}
    for u, i in inter:
        x[int(u[1:]), pos[i]] = 1
    p = np.linalg.inv(x.T @ x + 10.0 * np.eye(len(items)))
    b = -p / np.diag(p)
    np.fill_diagonal(b, 0.0)
    np.testing.assert_allclose(ease.item_weights_, b, atol=1e-4)
    scores = ease.profile_scores([["a1", "a2"], ["b3"]], None, items + ["never-seen"])
    assert np.isnan(scores[:, -1]).all()
    best = [items[j] for j in np.argsort(-np.nan_to_num(scores[0, :-1], nan=-9))[:5]]
    assert all(t.startswith("a") for t in best if t not in ("a1", "a2"))
    assert ease.encode(["a1"]).shape == (1, 4)
    ease.save(tmp_path / "ease")
    again = load_encoder(tmp_path / "ease")
    np.testing.assert_allclose(again.profile_scores([["a1"]], None, items), ease.profile_scores([["a1"]], None, items))
    with pytest.raises(JointspaceError, match="unknown model"):
        BehaviourEncoder(model="svd").fit(inter)
    assert BehaviourEncoder(model="als", factors=4, iterations=3).fit(inter).item_weights_ is None


def test_ease_as_a_collection_field_beside_als(tmp_path: Path) -> None:
    from jointspace.collection import Collection

    inter = _interactions(1)
    col = Collection.create(tmp_path / "c", encoder="tfidf", fields=["text"])
    col.add([{"id": f"{g}{i}", "text": f"{'apple' if g == 'a' else 'boat'} item number {i}"}
             for g in "ab" for i in range(10)])
    col.add_interactions(inter, merge=False)
    col.add_interactions(inter, field="ease", merge=False, model="ease", l2=10.0)
    recs = col.recommend(liked=["a1", "a2", "a3"], k=5, weights={"ease": 1.0})
    assert len(recs) == 5 and sum(r.id.startswith("a") for r in recs) >= 4
    col.close()


# -- classify defaults ---------------------------------------------------------------------------------
def test_classifier_keeps_question_words_and_tunes(tmp_path: Path) -> None:
    from jointspace.tasks.classify import ClassifierConfig, encoder_params, evaluate

    # questions told apart only by their question word, which the English stop-word list drops
    subjects = [s.word.replace("_", " ") for s in wordnet_sample(60, seed=5)]
    rows = [{"text": f"{q} is the {s}", "label": q} for s in subjects for q in ("who", "what", "where")]
    frame = pd.DataFrame(rows)
    assert encoder_params(ClassifierConfig(encoder="tfidf"))["stop_words"] is None
    kept, _ = evaluate(frame, ClassifierConfig(encoder="tfidf", folds=3))
    dropped, _ = evaluate(frame, ClassifierConfig(encoder="tfidf", folds=3,
                                                  encoder_params={"stop_words": "english"}))
    assert kept.summary["accuracy"] > 0.95 and dropped.summary["accuracy"] < 0.6
    tuned, _ = evaluate(frame, ClassifierConfig(encoder="tfidf", folds=3, tune=True))
    assert tuned.tuning is not None and len(tuned.tuning["grid"]) == 10
    assert tuned.tuning["chosen"]["C"] in (0.3, 1.0, 3.0, 10.0, 30.0)
    assert tuned.report()["tuning"]["chosen"] == tuned.tuning["chosen"]


# -- nearest defaults ---------------------------------------------------------------------------------
def test_nearest_chooses_k_and_vote_and_answers_unknown_only_when_asked(tmp_path: Path) -> None:
    from jointspace.evaluate.sms_data import rotten_tomatoes
    from jointspace.tasks.nearest import K_GRID, VOTES, NearestModel, train_nearest

    rt = rotten_tomatoes(per_class=60, seed=2)
    manifest = train_nearest(rt, tmp_path / "m", encoder="tfidf", encoder_params={"dim": 2048})
    assert manifest["threshold"] is None and manifest["space"]["space"] == "supervised"
    assert manifest["k"] in K_GRID and manifest["vote"] in VOTES
    assert len(manifest["calibration"]["k_grid"]) == len(K_GRID) * len(VOTES)
    model = NearestModel(tmp_path / "m")
    glosses = [s.definition for s in wordnet_sample(20, seed=9)]
    assert all(r["label"] != "unknown" for r in model.predict(glosses))  # off by default
    model.close()
    asked = train_nearest(rt, tmp_path / "a", encoder="tfidf", encoder_params={"dim": 2048}, accept_rate=0.5, k=5,
                          vote="uniform")
    assert asked["threshold"] is not None and asked["k"] == 5 and asked["vote"] == "uniform"
    assert asked["calibration"]["held_out_accepted"] == pytest.approx(0.5, abs=0.05)
    with pytest.raises(JointspaceError, match="vote"):
        train_nearest(rt, tmp_path / "b", encoder="tfidf", vote="majority")
