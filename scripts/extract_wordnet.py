"""Build the compact WordNet 3.0 extract shipped in src/jointspace/data/.

Usage (needs Debian's wordnet-base, fetched without installing):
    apt-get download wordnet-base && dpkg -x wordnet-base_*.deb /tmp/wn
    python scripts/extract_wordnet.py /tmp/wn/usr/share/wordnet

Writes ``wordnet.tsv.gz``: one synset a line,
``synset_id <TAB> pos <TAB> lemmas (comma-separated) <TAB> definition <TAB> examples ("; "-separated)``.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

POS_FILES = {"n": "data.noun", "v": "data.verb", "a": "data.adj", "r": "data.adv"}


def parse_line(line: str, pos: str) -> tuple[str, str, str, str, str] | None:
    if line.startswith("  ") or " | " not in line:
        return None
    head, gloss = line.split(" | ", 1)
    parts = head.split()
    offset, n_words = parts[0], int(parts[3], 16)
    lemmas = []
    for i in range(n_words):
        word = parts[4 + 2 * i].replace("_", " ")
        word = word.split("(")[0]  # adjective markers such as "(a)"
        if word not in lemmas:
            lemmas.append(word)
    pieces = [p.strip() for p in gloss.strip().split(";")]
    definition = "; ".join(p for p in pieces if not p.startswith('"'))
    examples = "; ".join(p.strip('"') for p in pieces if p.startswith('"'))
    return f"{offset}-{pos}", pos, ", ".join(lemmas), definition, examples


def main(src: str, out_dir: str = "src/jointspace/data") -> None:
    rows = []
    for pos, name in POS_FILES.items():
        with open(Path(src) / name, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                row = parse_line(line, pos)
                if row and row[3]:
                    rows.append("\t".join(c.replace("\t", " ") for c in row))
    out = Path(out_dir)
    with gzip.open(out / "wordnet.tsv.gz", "wt", encoding="utf-8", compresslevel=9) as fh:
        fh.write("\n".join(rows) + "\n")
    print(f"{len(rows)} synsets -> {out / 'wordnet.tsv.gz'}")


if __name__ == "__main__":
    main(*sys.argv[1:])
