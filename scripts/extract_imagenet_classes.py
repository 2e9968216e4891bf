"""Build the ImageNet-1k class list shipped in src/jointspace/data/imagenet_classes.tsv.

The class names come from timm's data files (Apache-2.0; the names and definitions are WordNet 3.0's),
read out of the timm wheel without installing it (timm would pull torchvision):
    pip download --no-deps timm==1.0.31 -d /tmp/timm && unzip -o /tmp/timm/timm-*.whl 'timm/data/_info/*' -d /tmp/timm
    python scripts/extract_imagenet_classes.py /tmp/timm/timm/data/_info

Writes one class a line in model output order: ``synset <TAB> lemmas (", "-separated) <TAB> definition``.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(src: str, out: str = "src/jointspace/data/imagenet_classes.tsv") -> None:
    info = Path(src)
    synsets = info.joinpath("imagenet_synsets.txt").read_text().split()
    assert len(synsets) == 1000, len(synsets)
    wanted = set(synsets)

    def table(name: str) -> dict[str, str]:
        rows = {}
        for line in info.joinpath(name).read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("\t")
            if key in wanted:
                rows[key] = " ".join(value.split())
        return rows

    lemmas, definitions = table("imagenet_synset_to_lemma.txt"), table("imagenet_synset_to_definition.txt")
    lines = [f"{s}\t{lemmas[s]}\t{definitions.get(s, '')}" for s in synsets]
    Path(out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} classes to {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
