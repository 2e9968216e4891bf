"""Images, audio and video on the command line: the helpers that let ``index`` take a folder of mixed files
or records with file fields, and ``search`` take a media query."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jointspace.cli.app import console, fail, progress_bar

# -- mixed-media indexing and search (called by `index` and `search` in collection_commands) ---------
MEDIA_KINDS = ("image", "audio", "video")  # the media fields a record may name (--image/--audio/--video)


def folder_records(folder: Path) -> tuple[list[dict[str, Any]], list[Any]]:
    """One record per file under ``folder``, id = relative path; and what the walk left out, and why."""
    from jointspace.readers.files import walk_folder

    walk = walk_folder(folder)
    records = [{"id": rel, "file": str(path.resolve()), "name": path.name} for rel, path in walk.files]
    return records, walk.skipped


def resolve_media(record: dict[str, Any], fields: list[str], base: Path) -> dict[str, Any]:
    """Relative file paths in ``fields`` resolved against ``base`` (the records file's folder)."""
    for name in fields:
        value = record.get(name)
        if isinstance(value, str) and value.strip() and not Path(value).is_absolute():
            candidate = base / value
            if candidate.exists() or not Path(value).exists():
                record[name] = str(candidate)
    return record


def index_folder(folder: Path, out_dir: Path, batch_size: int, index_kind: str) -> None:
    """`jointspace index FOLDER --out DIR`: every file, its modality detected by content, in one space."""
    from jointspace.collection import Collection

    records, left_out = folder_records(folder)
    if (out_dir / "manifest.json").exists():
        col = Collection.open(out_dir)
    else:
        col = Collection.create(out_dir, encoder="joint", fields=["file"], media={"file": "file"},
                                index=index_kind)
    with progress_bar(f"indexing {folder.name}/ (text, images, audio, video)", len(records)) as advance:
        report = col.upsert(records, batch_size=batch_size, progress=advance)
    report_write(out_dir, col, report.added, report.updated, left_out + report.skipped)
    col.close()


def report_write(out_dir: Path, col: Any, added: int, updated: int, skipped: list[Any]) -> None:
    kinds: dict[str, int] = {}
    for value, n in col.value_counts("modality").items():
        kinds[value or "text"] = kinds.get(value or "text", 0) + n
    shown = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    console.print(f"[green]{out_dir}[/green]: {added} added, {updated} updated, {len(skipped)} skipped; "
                  f"{len(col)} items ({shown})")
    for s in skipped[:20]:
        console.print(f"  [yellow]skipped[/yellow] {s}")
    if len(skipped) > 20:
        console.print(f"  ... and {len(skipped) - 20} more")


def media_query(text: str | None, image: Path | None, audio: Path | None, video: Path | None
                ) -> tuple[Any, str]:
    """The search query and its modality: text, or one media file (``Collection.embed_query`` embeds it)."""
    given = [(k, v) for k, v in (("image", image), ("audio", audio), ("video", video)) if v is not None]
    if len(given) + (text is not None) != 1:
        fail("give exactly one query: TEXT, --image PATH, --audio PATH or --video PATH")
    if text is not None:
        return text, "text"
    kind, path = given[0]
    if not Path(path).is_file():
        fail(f"{path}: no such file")
    return Path(path), kind


def modality_where(modality: str | None, where: str | None) -> Any:
    """``--modality image`` as a filter on the stored ``modality`` field, AND-ed with ``--where``."""
    if not modality:
        return where
    from jointspace.encoders.joint import modality_combinations
    from jointspace.readers.detect import MODALITIES
    from jointspace.stores.filters import all_of

    if modality not in MODALITIES:
        fail(f"unknown modality {modality!r}; use one of {MODALITIES}")
    return all_of(where, {"modality": {"$in": modality_combinations(modality)}})
