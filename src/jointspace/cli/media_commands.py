"""Images, audio and video on the command line: the helpers that let ``index`` take a folder of mixed files
or records with file fields, and ``search`` take a media query."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jointspace.cli.app import console, fail, progress_bar

# -- mixed-media indexing and search (called by `index` and `search` in collection_commands) ---------
MEDIA_KINDS = ("image", "audio", "video")


def folder_records(folder: Path) -> list[dict[str, Any]]:
    """One record per file under ``folder`` (hidden files and folders skipped), id = relative path."""
    records = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            records.append({"id": rel.as_posix(), "file": str(path.resolve()), "name": path.name})
    return records


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

    records = folder_records(folder)
    if (out_dir / "manifest.json").exists():
        col = Collection.open(out_dir)
    else:
        col = Collection.create(out_dir, encoder="joint", fields=["file"], media={"file": "file"},
                                index=index_kind)
    with progress_bar(f"indexing {folder.name}/ (text, images, audio, video)", len(records)) as advance:
        report = col.upsert(records, batch_size=batch_size, progress=advance)
    report_write(out_dir, col, report.added, report.updated, report.skipped)
    col.close()


def report_write(out_dir: Path, col: Any, added: int, updated: int, skipped: list[Any]) -> None:
    kinds: dict[str, int] = {}
    for (value,) in col._db.execute("SELECT json_extract(fields, '$.modality') FROM items"):
        kinds[value or "text"] = kinds.get(value or "text", 0) + 1
    shown = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    console.print(f"[green]{out_dir}[/green]: {added} added, {updated} updated, {len(skipped)} skipped; "
                  f"{len(col)} items ({shown})")
    for s in skipped[:20]:
        console.print(f"  [yellow]skipped[/yellow] {s}")
    if len(skipped) > 20:
        console.print(f"  ... and {len(skipped) - 20} more")


def media_query(text: str | None, image: Path | None, audio: Path | None, video: Path | None) -> Any:
    """The search query: text, or a dict naming one media file (for the joint encoder)."""
    given = [(k, v) for k, v in (("image", image), ("audio", audio), ("video", video)) if v is not None]
    if len(given) + (text is not None) != 1:
        fail("give exactly one query: TEXT, --image PATH, --audio PATH or --video PATH")
    if text is not None:
        return text
    kind, path = given[0]
    if not Path(path).is_file():
        fail(f"{path}: no such file")
    return {kind: str(path)}


def modality_where(modality: str | None, where: str | None) -> dict[str, Any] | str | None:
    """``--modality image`` as a filter on the stored ``modality`` field, AND-ed with ``--where``."""
    if not modality:
        return where
    from jointspace.encoders.joint import modality_combinations
    from jointspace.filters import parse_where
    from jointspace.readers.detect import MODALITIES

    if modality not in MODALITIES:
        fail(f"unknown modality {modality!r}; use one of {MODALITIES}")
    combos = modality_combinations(modality)
    condition: dict[str, Any] = {"modality": {"$in": combos}}
    out = parse_where(where) if where else {}
    if "modality" in out:
        fail("--modality and a --where condition on modality cannot be combined")
    out.update(condition)
    return out


def describe(hit: Any) -> str:
    """What a hit is, for people: its kind, file and what the bridge saw or heard."""
    f = hit.fields
    kind = f.get("modality", "text")
    where = f.get("file") or next((f[k] for k in MEDIA_KINDS if isinstance(f.get(k), str)), "")
    parts = [f"[bold]\\[{kind}][/bold]"]
    if where:
        parts.append(str(where))
    if f.get("transcript"):
        parts.append(f"said: \"{f['transcript']}\"")
    elif "transcript" in f:
        parts.append("(no words recognised)")
    if f.get("labels"):
        parts.append(f"looks like: {f['labels']}")
    if f.get("snippet") and kind == "text":
        parts.append(f"\"{f['snippet'][:160]}\"")
    return " ".join(parts)
