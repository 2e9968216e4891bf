"""Recommendation: behaviour encoder, named vector fields, fusion weights, exclusion, cold start, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from jointspace.cli import app
from jointspace.collection import Collection
from jointspace.encoders import encoder, load_encoder
from jointspace.encoders.behaviour import BehaviourEncoder
from jointspace.errors import ItemError, JointspaceError, NotFittedError
from jointspace.interactions import clean_interactions

# two tastes: space films and cooking films; "cook-new" has no interactions (cold start)
ITEMS = [
    {"id": "space-1", "title": "Rockets to the moon", "text": "astronauts fly a rocket to the moon and explore space"},
    {"id": "space-2", "title": "Mars colony", "text": "a space colony of astronauts on mars builds rockets"},
    {"id": "space-3", "title": "Orbit", "text": "a satellite in orbit around the planet, seen from space"},
    {"id": "space-4", "title": "Star gazing", "text": "a telescope, stars, galaxies and planets in deep space"},
    {"id": "cook-1", "title": "Kitchen secrets", "text": "a chef cooks pasta and bakes bread in a small kitchen"},
    {"id": "cook-2", "title": "Bread and butter", "text": "baking bread, butter and pastry recipes from a kitchen"},
    {"id": "cook-3", "title": "Soup season", "text": "a cook makes vegetable soup and stew recipes"},
    {"id": "cook-4", "title": "Pasta nights", "text": "fresh pasta, tomato sauce and a chef's kitchen recipes"},
    {"id": "cook-new", "title": "The new bakery", "text": "a baker bakes bread and pastry with butter in a kitchen"},
]


def _interactions() -> list[tuple[str, str, float, float]]:
    """Space fans also watch cook-1 (a cross-over hit); cooks watch the cooking films."""
    rows = []
    for u in range(12):
        for item in ("space-1", "space-2", "space-3", "cook-1"):
            rows.append((f"astro{u}", item, 5.0, 1000.0 + u))
        if u % 2:
            rows.append((f"astro{u}", "space-4", 4.0, 2000.0))
    for u in range(12):
        for item in ("cook-1", "cook-2", "cook-3", "cook-4"):
            rows.append((f"chef{u}", item, 4.0, 1000.0 + u))
    return rows


@pytest.fixture()
def col(tmp_path: Path) -> Collection:
    c = Collection.create(tmp_path / "c", encoder="tfidf", fields=["text"])
    c.add(ITEMS)
    c.add_interactions(_interactions(), factors=8, regularization=1.0, alpha=10.0, iterations=10)
    yield c
    c.close()


# -- behaviour encoder ------------------------------------------------------------------------------------
def test_behaviour_encoder_fit_fold_in_save_load(tmp_path: Path) -> None:
    enc = BehaviourEncoder(factors=8, regularization=1.0, alpha=10.0, iterations=10)
    with pytest.raises(NotFittedError):
        enc.encode(["space-1"])
    enc.fit(_interactions())
    vecs = enc.encode(["space-1", "space-2", "cook-2", "cook-3"])
    assert vecs.dtype == np.float32 and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)
    sim = vecs @ vecs.T
    assert sim[0, 1] > sim[0, 2] and sim[2, 3] > sim[0, 3]  # tastes cluster
    with pytest.raises(ItemError) as err:
        enc.encode(["space-1", "nope"])
    assert err.value.position == 1 and "nope" in str(err.value)

    # a new user who liked two space films, folded in without refitting
    user = enc.fold_in([["space-1", "space-2"]])
    scores = enc.score(user, ["space-3", "cook-3"])[0]
    assert scores[0] > scores[1]
    # fold-in of a known user's full history is close to the fitted vector (it is the same solve)
    hist = ["space-1", "space-2", "space-3", "cook-1", "space-4"]
    assert np.corrcoef(enc.fold_in([hist])[0], enc.user_vector("astro1"))[0, 1] > 0.99
    assert np.isnan(enc.score(user, ["unknown-item"])).all()

    enc.save(tmp_path / "enc")
    again = load_encoder(tmp_path / "enc")
    assert isinstance(again, BehaviourEncoder) and again.get_params() == enc.get_params()
    np.testing.assert_array_equal(again.encode(["cook-2"]), enc.encode(["cook-2"]))
    assert encoder("behaviour", factors=4).dim == 4


def test_clean_interactions_dedupes_and_reports_malformed() -> None:
    records = [
        {"u": "1", "i": "a", "r": "5", "t": "100"},
        {"u": "1", "i": "a", "r": "3", "t": "200"},  # duplicate, newer: kept
        {"u": "1", "i": "b", "r": "x", "t": "100"},  # malformed rating
        {"u": None, "i": "b", "r": "4", "t": "100"},  # no user
        {"u": "2", "i": "b", "r": "4", "t": "50"},
        {"u": "2", "i": "b", "r": "1", "t": "10"},  # duplicate, older: dropped
    ]
    clean, skipped = clean_interactions(records, "u", "i", "r", "t")
    assert {(c.user, c.item, c.weight) for c in clean} == {("1", "a", 3.0), ("2", "b", 4.0)}
    reasons = {s.where: s.reason for s in skipped}
    assert "duplicate" in reasons["row 1"] and "duplicate" in reasons["row 6"]
    assert "'r' is not a number" in reasons["row 3"] and "missing 'u'" in reasons["row 4"]


# -- named vector fields ------------------------------------------------------------------------------------
def test_named_vector_fields_are_stored_validated_and_deleted(col: Collection, tmp_path: Path) -> None:
    fields = col.vector_fields()
    assert fields["text"]["main"] and fields["behaviour"]["dim"] == 8
    assert "cook-new" not in col.field_vectors("behaviour")  # cold start: no interactions
    rng = np.random.default_rng(0)
    report = col.add_vectors("image", {"space-1": rng.normal(size=5), "cook-1": rng.normal(size=5),
                                       "ghost": rng.normal(size=5), "cook-2": rng.normal(size=7),
                                       "cook-3": np.zeros(5)})
    assert report.added == 2
    reasons = {s.where: s.reason for s in report.skipped}
    assert "no such item" in reasons["id 'ghost'"] and "dim 7" in reasons["id 'cook-2'"]
    assert "zero" in reasons["id 'cook-3'"]
    stored = col.field_vectors("image")
    assert np.isclose(np.linalg.norm(stored["space-1"]), 1.0)
    with pytest.raises(JointspaceError, match="main vector"):
        col.add_vectors("text", {"space-1": np.ones(3)})
    col.delete(["space-1"])
    assert "space-1" not in col.field_vectors("image") and "space-1" not in col.field_vectors("behaviour")
    col.close()
    reopened = Collection.open(col.path)
    assert set(reopened.vector_fields()) == {"text", "behaviour", "image"}
    assert isinstance(reopened.field_encoder("behaviour"), BehaviourEncoder)
    reopened.close()


def test_vector_field_write_is_atomic(col: Collection) -> None:
    before = col.field_vectors("behaviour")
    folders = sorted(p.name for p in (col.path / "vectors").iterdir())

    # an interaction that cannot be stored fails inside the field's transaction, after its vectors were written
    with pytest.raises(AttributeError):
        col.store.put_field("behaviour", {"space-1": np.ones(8, np.float32)}, 8, BehaviourEncoder(factors=8), {},
                            True, interactions=[object()])
    after = col.field_vectors("behaviour")
    assert after.keys() == before.keys() and all(np.array_equal(after[k], before[k]) for k in before)
    col.encode_field("words", "tfidf", ["title"])  # the next write removes the orphan folder
    names = sorted(p.name for p in (col.path / "vectors").iterdir())
    assert [n for n in names if n.startswith("behaviour-")] == folders


# -- recommend ------------------------------------------------------------------------------------------------
def test_fusion_weights_decide_between_content_and_behaviour(col: Collection) -> None:
    by_text = col.recommend(liked=["space-1"], k=3, weights={"text": 1})
    by_behaviour = col.recommend(liked=["space-1"], k=3, weights={"behaviour": 1})
    assert by_text[0].id.startswith("space-") and by_text[0].why["top_field"] == "text"
    assert "cook-1" in [r.id for r in by_behaviour] and "cook-1" not in [r.id for r in by_text]
    assert set(by_behaviour[0].why["contributions"]) == {"behaviour"}
    # the fused score is the weighted mean of the per-field contributions
    both = col.recommend(liked=["space-1"], k=5, weights={"text": 1, "behaviour": 3})
    for r in both:
        assert r.score == pytest.approx(sum(r.why["contributions"].values()), abs=1e-3)
        assert r.why["nearest_liked"] == "space-1"
    assert [r.score for r in both] == sorted((r.score for r in both), reverse=True)


def test_exclusion_where_and_diversify(col: Collection) -> None:
    ranked = col.recommend(liked=["space-1", "space-2"], k=9, weights={"text": 1})
    assert not {"space-1", "space-2"} & {r.id for r in ranked}
    kept = col.recommend(liked=["space-1", "space-2"], k=3, weights={"text": 1}, exclude_liked=False)
    assert {"space-1", "space-2"} & {r.id for r in kept}
    only = col.recommend(liked=["space-1"], k=5, where={"title": {"$in": ["Soup season", "Orbit"]}})
    assert {r.id for r in only} == {"cook-3", "space-3"}
    plain = col.recommend(liked=["space-1"], k=3, weights={"text": 1})
    diverse = col.recommend(liked=["space-1"], k=3, weights={"text": 1}, diversify=0.9)
    assert plain[0].id == diverse[0].id
    assert sum(r.id.startswith("cook") for r in diverse) > sum(r.id.startswith("cook") for r in plain)


def test_cold_start_item_recommended_by_content(col: Collection) -> None:
    recs = col.recommend(liked=["cook-2"], k=3)
    cold = next(r for r in recs if r.id == "cook-new")
    assert cold.why["missing_fields"] == ["behaviour"] and cold.why["top_field"] == "text"
    assert cold.why["contributions"]["behaviour"] == 0.0
    assert "cook-new" not in [r.id for r in col.recommend(liked=["cook-2"], k=3, weights={"behaviour": 1})]


def test_user_profile_and_recency(col: Collection) -> None:
    recs = col.recommend(user="astro0", k=2, weights={"behaviour": 1})
    assert recs.liked == ["space-1", "space-2", "space-3", "cook-1"] and "space-4" in [r.id for r in recs]
    day = 86_400.0
    recent_space = col.recommend(liked=[("cook-1", 0.0), ("space-3", 3000 * day)], k=1, weights={"text": 1},
                                 half_life_days=30)
    recent_cook = col.recommend(liked=[("cook-1", 3000 * day), ("space-3", 0.0)], k=1, weights={"text": 1},
                                half_life_days=30)
    assert recent_space[0].id.startswith("space") and recent_cook[0].id.startswith("cook")


def test_bad_input(col: Collection) -> None:
    recs = col.recommend(liked=["space-1", "no-such-film"], k=2)
    assert recs.unknown == ["no-such-film"] and len(recs) == 2
    with pytest.raises(JointspaceError, match="none of the liked ids"):
        col.recommend(liked=["nope", "nada"])
    with pytest.raises(JointspaceError, match="image"):
        col.recommend(liked=["space-1"], weights={"text": 1, "image": 0.5})
    with pytest.raises(JointspaceError, match="every weight is 0"):
        col.recommend(liked=["space-1"], weights={"text": 0})
    with pytest.raises(KeyError, match="nobody"):
        col.recommend(user="nobody")
    with pytest.raises(JointspaceError):
        col.recommend(liked=[])
    with pytest.raises(JointspaceError, match="diversify"):
        col.recommend(liked=["space-1"], diversify=2)


def test_cli_interactions_recommend_and_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    items = tmp_path / "items.jsonl"
    items.write_text("\n".join(json.dumps(r) for r in ITEMS))
    rows = ["user,item,rating,ts"] + [f"{u},{i},{r},{t}" for u, i, r, t in _interactions()]
    rows += ["astro0,space-1,5,1000", "astro1,space-2,oops,5", ",cook-1,3,1", "chef0,ghost-film,3,1"]
    (tmp_path / "ratings.csv").write_text("\n".join(rows))
    d = tmp_path / "col"
    assert runner.invoke(app, ["index", str(items), "--out", str(d), "--encoder", "tfidf"]).exit_code == 0
    res = runner.invoke(app, ["interactions", str(d), str(tmp_path / "ratings.csv"), "--weight-field", "rating",
                              "--time-field", "ts", "--factors", "8"])
    assert res.exit_code == 0, res.output
    assert "duplicate" in res.output and "not a number" in res.output and "missing 'user'" in res.output
    assert "ghost-film" in res.output
    res = runner.invoke(app, ["recommend", str(d), "--liked", "cook-2,nope", "-k", "3", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert len(out) == 3 and {"top_field", "nearest_liked"} <= out[0]["why"].keys() and "nope" in res.output
    res = runner.invoke(app, ["recommend", str(d), "--user", "chef3", "--weights", "behaviour=1", "--json"])
    assert res.exit_code == 0 and all(r["id"] != "cook-1" for r in json.loads(res.stdout.strip().splitlines()[-1]))
    res = runner.invoke(app, ["recommend", str(d), "--liked", "space-1", "--weights", "text=1,image=1"])
    assert res.exit_code == 1 and "image" in res.output
    res = runner.invoke(app, ["recommend", str(d), "--liked", "x,y"])
    assert res.exit_code == 1 and "none of the liked ids" in res.output
    res = runner.invoke(app, ["vectors", str(d), "--name", "titles", "--encoder", "tfidf", "--from", "title"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["recommend", str(d), "--liked", "space-1", "--weights", "titles=1", "-k", "2"])
    assert res.exit_code == 0, res.output


def test_movielens_star_wars_and_metrics(tmp_path: Path) -> None:
    """Real data: the demo's collection (100k ratings); Star Wars brings its sequels; metrics sane."""
    from jointspace.demos.recommend import build_movielens
    from jointspace.evaluate.recommend_eval import itemknn_scores, ranking_metrics, split_per_user, top_k_ranked

    col = build_movielens(tmp_path / "ml")
    recs = col.recommend(liked=["50"], k=10)
    assert {"172", "181"} & {r.id for r in recs}  # Empire Strikes Back, Return of the Jedi
    col.close()

    from jointspace.evaluate.movielens_data import movielens_100k

    ratings = movielens_100k().ratings
    train, test = split_per_user(ratings, seed=0)
    assert len(train) + len(test) == len(ratings) and abs(len(test) / len(ratings) - 0.2) < 0.01
    assert set(map(tuple, train[["user", "item"]].values)).isdisjoint(set(map(tuple, test[["user", "item"]].values)))
    import scipy.sparse as sp

    x = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 1, 1]], dtype=np.float64))
    top = top_k_ranked(itemknn_scores(x, neighbours=2), x, k=1)
    assert top[0, 0] == 2  # user 0's only unseen item co-occurring with their items
    m = ranking_metrics(np.array([[0, 1], [2, 3]]), [{0}, {3, 5}], n_items=10, k=2)
    assert m["precision@2"] == pytest.approx(0.5) and m["recall@2"] == pytest.approx(0.75)
    assert m["coverage@2"] == pytest.approx(0.4)
