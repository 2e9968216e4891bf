"""The demo's media part: a folder of real images and recordings indexed into the text space, then
searched by text, by an image and by a recording.

Data: a Fashion-MNIST sample (MIT) and Asterisk voice prompts (CC-BY-SA-3.0), both shipped in
``jointspace/data/samples``. The garments are shown inverted (dark on white, like product photos);
the images are 28x28 greyscale, so ImageNet's classes fit them only loosely.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from PIL import Image, ImageOps
from rich.table import Table

from jointspace.collection import Collection
from jointspace.display import console, out, progress_bar
from jointspace.samples import image_samples, speech_samples

TEXT_QUERIES = ["a flower", "a temple", "a photo of a sneaker", "a handbag", "thank you for calling", "a beep"]


def prepare_files(folder: Path) -> int:
    """Copy the samples into ``folder``: inverted garment images, English voice prompts, and the two
    photos that ship with scikit-learn (a flower, a temple; a dependency, not redistributed here)."""
    import sklearn

    folder.mkdir(parents=True, exist_ok=True)
    for name in ("flower.jpg", "china.jpg"):
        shutil.copyfile(Path(sklearn.__file__).parent / "datasets" / "images" / name, folder / f"photo-{name}")
    for sample in image_samples():
        ImageOps.invert(Image.open(sample.path).convert("L")).save(folder / sample.path.name)
    for sample in speech_samples():
        if sample.language == "en":
            shutil.copyfile(sample.path, folder / sample.path.name)
    return sum(1 for _ in folder.iterdir())


def build_media_collection(workdir: Path) -> Collection:
    path = workdir / "media"
    if (path / "manifest.json").exists():
        col = Collection.open(path)
        if len(col) > 0:
            console.print(f"[dim]reusing {path} ({len(col)} items)[/dim]")
            return col
        col.close()
    folder = workdir / "media-files"
    n = prepare_files(folder)
    col = Collection.create(path, encoder="joint", fields=["file"], media={"file": "file"}, overwrite=True)
    records = [{"id": p.name, "file": str(p.resolve())} for p in sorted(folder.iterdir())]
    start = time.perf_counter()
    with progress_bar("indexing images and recordings (joint: ConSE + speech)", n) as advance:
        report = col.add(records, batch_size=16, progress=advance)
    console.print(f"indexed {report.added} files ({len(report.skipped)} skipped) in "
                  f"{time.perf_counter() - start:.1f}s -> {path}")
    return col


def _table(title: str, hits: list) -> Table:
    from jointspace.display import describe

    table = Table(title=title, title_justify="left")
    for name, just in (("#", "right"), ("score", "right"), ("hit", "left")):
        table.add_column(name, justify=just)  # type: ignore[arg-type]
    for rank, hit in enumerate(hits, start=1):
        table.add_row(str(rank), f"{hit.score:.3f}", f"[bold]{hit.id}[/bold] {describe(hit)}")
    return table


def run_media_demo(workdir: Path) -> None:
    out.rule("[bold]images and speech in the same space (no paired training data)")
    col = build_media_collection(workdir)
    for query in TEXT_QUERIES:
        out.print(_table(f"\"{query}\"", col.search(query, k=3)))
    example = workdir / "media-files" / "en-tt-weasels.wav"
    if example.exists():
        out.print(_table(f"query by recording: {example.name} (other clips, by what is said)",
                         col.search({"audio": str(example)}, k=3, where={"modality": "audio"})))
    sneaker = next((p for p in (workdir / "media-files").glob("sneaker-*.png")), None)
    if sneaker is not None:
        out.print(_table(f"query by image: {sneaker.name} (images only)",
                         col.search({"image": str(sneaker)}, k=3, where={"modality": "image"})))
    col.close()
    out.print("Measure it:  [bold]jointspace evaluate zero-shot --dataset fashion-mnist[/bold]   "
              "[bold]jointspace evaluate retrieval --dataset asterisk-prompts[/bold]")
    out.print(f"Index your own folder:  [bold]jointspace index PHOTOS_AND_AUDIO/ --out {workdir / 'mine'}[/bold]"
              f"  then  [bold]jointspace search {workdir / 'mine'} \"a cup of coffee\"[/bold]")
