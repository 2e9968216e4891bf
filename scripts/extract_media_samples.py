"""Build the small media samples shipped in src/jointspace/data/samples/ (used by the demo and tests).

- ``asterisk/``: a few Asterisk voice prompts (Allison Smith, US English; two by Carlo, Italian), 8 kHz WAV,
  CC-BY-SA-3.0, with their transcripts and an attribution file. Source: Debian's asterisk-core-sounds-en-wav,
  asterisk-core-sounds-en (transcripts) and asterisk-core-sounds-it-wav.
- ``fashion-mnist/``: 3 test images per class as PNG (Zalando, MIT licence), with labels.

Usage: python scripts/extract_media_samples.py   (fetches the Debian packages into the cache first)
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from jointspace.cache import deb_files
from jointspace.evaluate.fashion_data import CLASSES, load_fashion_mnist

OUT = Path("src/jointspace/data/samples")
ENGLISH = ["agent-pass", "all-circuits-busy-now", "auth-thankyou", "beep", "beeperr", "conf-onlyperson",
           "demo-thanks", "hello-world", "pbx-invalid", "queue-thankyou", "tt-monkeys", "tt-weasels",
           "vm-goodbye", "vm-nomore", "digits/5"]
ITALIAN = ["please-try-call-later", "conf-getpin"]
ATTRIBUTION = """Asterisk core sound prompts, redistributed under their Creative Commons licences.

en-*.wav: Copyright 2003-2010 Allison Smith, recorded by Allison Smith (http://www.theivrvoice.com).
          Licence: CC-BY-SA-3.0 (https://creativecommons.org/licenses/by-sa/3.0/).
it-*.wav: Copyright 2012 Carlo Flora, recorded by Carlo Flora (http://www.carloflora.com),
          translated by Silvia Petrin. Licence: CC-BY-3.0 (https://creativecommons.org/licenses/by/3.0/).
Source: the Asterisk project's core sounds 1.6.1 (downloads.asterisk.org), as packaged by Debian
(asterisk-core-sounds-en-wav, asterisk-core-sounds-en, asterisk-core-sounds-it-wav).
Unchanged except for the file names (a "digits/" folder became "digits-"). transcripts.tsv is from
core-sounds-en.txt of the same release.
"""


def transcripts() -> dict[str, str]:
    path = deb_files("asterisk-core-sounds-en") / "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"
    out = {}
    for line in gzip.open(path, "rt", encoding="utf-8", errors="replace"):
        if ":" in line and not line.startswith(";"):
            name, text = line.split(":", 1)
            out[name.strip()] = " ".join(text.split())
    return out


def main() -> None:
    audio_dir = OUT / "asterisk"
    audio_dir.mkdir(parents=True, exist_ok=True)
    en = deb_files("asterisk-core-sounds-en-wav") / "usr/share/asterisk/sounds/en_US_f_Allison"
    it = deb_files("asterisk-core-sounds-it-wav") / "usr/share/asterisk/sounds/it_IT_m_Carlo"
    texts = transcripts()
    rows = []
    for name in ENGLISH:
        target = f"en-{name.replace('/', '-')}.wav"
        shutil.copyfile(en / f"{name}.wav", audio_dir / target)
        rows.append(f"{target}\ten\t{texts[name]}")
    for name in ITALIAN:
        target = f"it-{name}.wav"
        shutil.copyfile(it / f"{name}.wav", audio_dir / target)
        rows.append(f"{target}\tit\t")
    (audio_dir / "transcripts.tsv").write_text("file\tlanguage\ttranscript\n" + "\n".join(rows) + "\n")
    (audio_dir / "ATTRIBUTION.txt").write_text(ATTRIBUTION)

    image_dir = OUT / "fashion-mnist"
    image_dir.mkdir(parents=True, exist_ok=True)
    images, labels = load_fashion_mnist("test")
    lines = []
    for c, name in enumerate(CLASSES):
        for i in np.flatnonzero(labels == c)[:3]:
            file = f"{name.lower().replace('/', '-').replace(' ', '-')}-{i}.png"
            Image.fromarray(images[i]).save(image_dir / file)
            lines.append(f"{file}\t{name}")
    (image_dir / "labels.tsv").write_text("file\tlabel\n" + "\n".join(lines) + "\n")
    (image_dir / "LICENSE").write_text(
        "Fashion-MNIST test images (Zalando Research), MIT licence, Copyright (c) 2017 Zalando SE.\n"
        "https://github.com/zalandoresearch/fashion-mnist (as packaged by Debian: dataset-fashion-mnist)\n")
    size = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {OUT}: {size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
