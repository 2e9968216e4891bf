"""The classic text encoders (issue 3) on real WordNet text: bow, tfidf, lsa, lda, word2vec, spacy-vectors, theme."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from scipy.sparse.linalg import svds

from jointspace import Collection, ItemError, JointspaceError, encoder, load_encoder
from jointspace.encoders.tfidf import l2_rows, tfidf_weights
from jointspace.evaluate.classic_data import synset_text
from jointspace.evaluate.datasets import wordnet_synsets


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    """3,000 real WordNet noun synsets as documents (lemmas + gloss + examples)."""
    synsets = [s for s in wordnet_synsets("n")][::20][:3000]
    return [synset_text(s) for s in synsets]


# -- bow / tfidf -------------------------------------------------------------------------------------------
def test_tfidf_default_behaviour_and_sparse_output(corpus: list[str]) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    enc = encoder("tfidf", dim=512).fit(corpus)
    dense = enc.encode(corpus[:50])
    sparse = enc.encode_sparse(corpus[:50])
    assert dense.shape == sparse.shape == (50, 512)
    np.testing.assert_allclose(sparse.toarray(), dense, atol=1e-6)
    # the same numbers as scikit-learn's TfidfVectorizer with the same vocabulary and settings
    ref = TfidfVectorizer(sublinear_tf=True, stop_words="english", vocabulary=enc.vocabulary_)
    ref.fit(corpus)
    np.testing.assert_allclose(dense[:, : len(enc.vocabulary_)], ref.transform(corpus[:50]).toarray(), atol=1e-5)


def test_tfidf_options_and_dim_above_vocabulary() -> None:
    texts = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog"]
    enc = encoder("tfidf", dim=100, ngram_range=(1, 2), stop_words=None, min_df=2).fit(texts)
    assert set(enc.vocabulary_) == {"cat", "dog", "on", "on the", "sat", "sat on", "the"}
    vectors = enc.encode(["the cat sat"])
    assert vectors.shape == (1, 100) and np.all(vectors[:, len(enc.vocabulary_):] == 0)  # documented padding
    assert np.isclose(np.linalg.norm(vectors), 1.0)


def test_bow_counts_and_binary() -> None:
    texts = ["apple apple banana", "banana cherry"]
    counts = encoder("bow", dim=3).fit(texts)
    row = counts.encode(["apple apple banana"])[0]
    assert counts.vocabulary_ == ["apple", "banana", "cherry"]
    np.testing.assert_allclose(row, np.array([2, 1, 0]) / np.sqrt(5), atol=1e-6)
    binary = encoder("bow", dim=3, binary=True).fit(texts)
    np.testing.assert_allclose(binary.encode(["apple apple banana"])[0], np.array([1, 1, 0]) / np.sqrt(2), atol=1e-6)


# -- lsa ---------------------------------------------------------------------------------------------------
def test_lsa_streams_and_matches_exact_svd(corpus: list[str]) -> None:
    enc = encoder("lsa", dim=20, chunk_size=500).fit(t for t in corpus)  # a generator, 6 chunks
    weights = l2_rows(tfidf_weights(enc.counts(corpus), enc.idf_, True))
    exact = np.sort(svds(weights.astype(np.float64), k=20)[1])[::-1]
    assert np.all(np.diff(enc.singular_values_) <= 1e-6)
    np.testing.assert_allclose(enc.singular_values_[:5], exact[:5], rtol=0.02)  # a randomized method: close
    np.testing.assert_allclose(enc.singular_values_[:10], exact[:10], rtol=0.04)
    # chunking does not change the model: one big chunk gives the same space
    whole = encoder("lsa", dim=20, chunk_size=100_000).fit(corpus)
    assert whole.vocabulary_ == enc.vocabulary_
    np.testing.assert_allclose(np.abs(whole.components_[:, :5] * enc.components_[:, :5]).sum(0), 1.0, atol=1e-3)


def test_lsa_topics_fold_in_and_save(corpus: list[str], tmp_path) -> None:
    enc = encoder("lsa", dim=30).fit(corpus)
    topics = enc.topics(5)
    assert len(topics) == 30 and all(len(t) == 5 for t in topics)
    assert all(isinstance(term, str) and term in enc.vocabulary_ for term, _ in topics[0])
    before = enc.components_.copy()
    new = enc.encode(["a small domesticated carnivorous mammal with soft fur", "a vessel for travel on water"])
    np.testing.assert_array_equal(before, enc.components_)  # folding in does not refit
    assert new.shape == (2, 30) and np.allclose(np.linalg.norm(new, axis=1), 1.0, atol=1e-5)
    enc.save(tmp_path / "lsa")
    again = load_encoder(tmp_path / "lsa")
    np.testing.assert_allclose(again.encode(corpus[:5]), enc.encode(corpus[:5]), atol=1e-6)
    np.testing.assert_allclose(again.singular_values_, enc.singular_values_)


def test_lsa_bad_input() -> None:
    with pytest.raises(JointspaceError, match="empty corpus"):
        encoder("lsa").fit([])
    with pytest.raises(JointspaceError, match="empty corpus"):
        encoder("lsa").fit(["", "   "])
    with pytest.raises(JointspaceError, match="no term left"):
        encoder("lsa").fit(["the and of", "it is the"])  # only stop words
    with pytest.raises(ItemError, match="item 1"):
        encoder("lsa").fit(["a text about cats", 42])
    with pytest.warns(UserWarning, match="supports only 1 components"):
        one = encoder("lsa", dim=10).fit(["one single document about ships and harbours"])
    assert one.dim == 10 and np.count_nonzero(one.singular_values_) == 1
    assert np.isclose(np.linalg.norm(one.encode(["ships"])), 1.0)
    with pytest.raises(ItemError, match="no word of this text"):
        one.encode(["ships", "zebra quantum"])


def test_non_utf8_and_very_long_documents(tmp_path) -> None:
    from jointspace.encoders.streaming import read_lines

    path = tmp_path / "corpus.txt"
    long_doc = " ".join(["ocean wave tide harbour ship sailor anchor"] * 30_000)  # 210,000 words
    path.write_bytes(b"caf\xe9 latte espresso\n\nship in the harbour\n" + long_doc.encode() + b"\n")
    enc = encoder("lsa", dim=5).fit(read_lines(path))
    assert "caf" in " ".join(enc.vocabulary_)  # the undecodable byte became U+FFFD, the rest survived
    lda = encoder("lda", n_topics=3, passes=1).fit(read_lines(path))
    assert lda.transform([long_doc]).shape == (1, 3)
    assert encoder("lsa", dim=5).fit(read_lines(path)).encode([b"ship \xff harbour"]).shape == (1, 5)


# -- lda ---------------------------------------------------------------------------------------------------
def test_lda_topics_proportions_and_perplexity(corpus: list[str], tmp_path) -> None:
    nouns = wordnet_synsets("n")
    fish = [s for s in nouns if " fish" in s.definition][:300]
    music = [s for s in nouns if " music" in s.definition][:300]
    texts = [synset_text(s) for s in fish + music]
    rng = np.random.default_rng(0)
    rng.shuffle(texts)
    held, train = texts[:60], texts[60:]
    enc = encoder("lda", n_topics=2, passes=5, chunk_size=100, seed=0).fit(iter(train))
    words = [{w for w, _ in topic} for topic in enc.topics(15)]
    assert any("fish" in w for w in words) and any("music" in w for w in words)
    props = enc.transform(["a freshwater fish of rivers", "a piece of music for the piano"])
    np.testing.assert_allclose(props.sum(axis=1), 1.0, atol=1e-5)
    assert props[0].argmax() != props[1].argmax()
    fitted = enc.perplexity(held)
    barely = encoder("lda", n_topics=2, passes=1, chunk_size=10_000, max_doc_iter=1, seed=0).fit(train).perplexity(held)
    assert np.isfinite(fitted) and fitted < barely
    enc.save(tmp_path / "lda")
    np.testing.assert_allclose(load_encoder(tmp_path / "lda").encode(held[:3]), enc.encode(held[:3]), atol=1e-5)


# -- word vectors ------------------------------------------------------------------------------------------
def test_word2vec_sif(corpus: list[str], tmp_path) -> None:
    enc = encoder("word2vec", dim=32, epochs=3, workers=1).fit(t for t in corpus)
    assert enc.common_component_ is not None and enc.dim == 32
    vectors = enc.encode(["a large wild cat", "zzqx a large wild cat"])  # unknown words are skipped
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-5)
    with pytest.raises(ItemError, match="item 1"):
        enc.encode(["a cat", "zzqx qqzx"])
    enc.save(tmp_path / "w2v")
    np.testing.assert_allclose(load_encoder(tmp_path / "w2v").encode(corpus[:4]), enc.encode(corpus[:4]), atol=1e-6)
    single = encoder("word2vec", dim=8, min_count=1, workers=1).fit(["just one small document here"])
    assert single.common_component_ is None  # documented: not estimated from one text
    assert np.isclose(np.linalg.norm(single.encode(["small document"])), 1.0)
    with pytest.raises(JointspaceError, match="empty corpus"):
        encoder("word2vec").fit([" "])


def test_spacy_vectors(corpus: list[str], tmp_path) -> None:
    enc = encoder("spacy-vectors")
    vectors, known = enc.word_vectors(["king", "queen", "banana", "qzxqzx"])
    assert known.tolist() == [True, True, True, False]
    unit = vectors[:3] / np.linalg.norm(vectors[:3], axis=1, keepdims=True)
    assert unit[0] @ unit[1] > unit[0] @ unit[2]  # king is nearer queen than banana
    enc.fit(iter(corpus[:500]))
    out = enc.encode(["a boat for fishing", "a small fishing vessel", "the theory of numbers"])
    assert out.shape == (3, 300)
    assert out[0] @ out[1] > out[0] @ out[2]
    enc.save(tmp_path / "sp")
    np.testing.assert_allclose(load_encoder(tmp_path / "sp").encode(corpus[:3]), enc.encode(corpus[:3]), atol=1e-6)


# -- theme -------------------------------------------------------------------------------------------------
def test_theme_default_lexicon_and_stemming(tmp_path) -> None:
    enc = encoder("theme")
    assert enc.themes == ["stress", "anxiety"] and enc.dim == 3
    scores = enc.scores(["Stressful days and a stressed mind", "A calm walk by the sea", "worried and anxious"])
    assert scores[0, 0] == pytest.approx(2 / 6) and scores[0, 1] == 0  # "stressful", "stressed" count for stress
    np.testing.assert_allclose(scores[1], [0, 0, 1])
    assert scores[2, 1] == pytest.approx(2 / 3)
    with pytest.raises(ItemError, match="no words"):
        enc.scores(["1234 !!"])
    lexicon = tmp_path / "lex.json"
    lexicon.write_text(json.dumps({"sea": ["ocean", "wave", "high tide"], "food": ["bread"]}))
    custom = encoder("theme", lexicon=str(lexicon))
    assert custom.scores(["waves, high tide"])[0, 0] == pytest.approx(1.0)
    col = Collection.create(tmp_path / "col", encoder=custom, fields=["text"])
    col.add([{"id": "a", "text": "the ocean waves"}, {"id": "b", "text": "fresh bread"}])
    col.close()
    lexicon.unlink()  # the collection keeps its own copy of the lexicon
    with Collection.open(tmp_path / "col") as again:
        assert again.search("bread and more bread", k=1)[0].id == "b"
    with pytest.raises(JointspaceError, match="not found"):
        _ = encoder("theme", lexicon=str(tmp_path / "missing.json")).dim
    with pytest.raises(JointspaceError, match="list of words"):
        _ = encoder("theme", lexicon={"x": "not a list"}).dim


def test_warnings_are_not_errors_for_small_lsa_in_collections(tmp_path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        col = Collection.create(tmp_path / "c", encoder="lsa", fields=["text"])
        report = col.add([{"id": str(i), "text": t} for i, t in enumerate(["red apples", "green apples", "blue sea"])])
    assert report.added == 3
    assert col.search("apples", k=1)[0].id in {"0", "1"}
    col.close()
