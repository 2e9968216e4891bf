"""Request and response bodies (they make the OpenAPI schema at /openapi.json)."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator

HARD_MAX_RECORDS = 10_000
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
Scalar = str | Int64 | float | bool | None
Condition = Scalar | dict[str, Scalar | list[Scalar]]
Where = dict[str, Condition] | str | None


def check_finite(value: Any, where: str = "value") -> Any:
    """JSON values without NaN/Infinity or integers SQLite cannot hold (both would break later reads)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: NaN and Infinity are not allowed")
    if isinstance(value, int | float) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        # a float that large is a whole number too: the same bound for both (and the schema says so)
        raise ValueError(f"{where}: number out of the 64-bit integer range")
    if isinstance(value, dict):
        for key, item in value.items():
            check_finite(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_finite(item, f"{where}[{i}]")
    return value


class Media(BaseModel):
    field: str = Field(description="the item field naming the file")
    kind: str = Field(description="image, audio or video")
    url: str = Field(description="where the page can load it (inside the media folder only)")


class HitOut(BaseModel):
    id: str
    score: float
    fields: dict[str, Any]
    text: str = Field(description="the item's embedded text fields, shortened, for display")
    media: list[Media] = Field(default_factory=list)
    explain: dict[str, Any] | None = Field(None, description="with explain=true: each side's score and rank, "
                                           "the matched terms, the fused score")


class SearchOut(BaseModel):
    query: str | None = Field(description="the text query, or the uploaded file's name")
    modality: str
    k: int
    took_ms: float
    hits: list[HitOut]


class SearchIn(BaseModel):
    query: str = Field(min_length=1, max_length=100_000, pattern=r"\S", description="text to search for")
    k: int = Field(10, ge=1, le=10_000, description="number of results (at most the server's max_k)")
    where: Where = Field(None, description='filter: {"year": {"$gte": 2000}} or "year >= 2000 and genre = drama"')
    mode: Literal["dense", "lexical", "hybrid"] = Field("dense", description="dense, lexical (BM25) or hybrid")
    alpha: float | None = Field(None, ge=0, le=1, description="hybrid: weight of the dense side; none = rank fusion")
    explain: bool = Field(False, description="say why each hit ranks where it does")


class SimilarIn(BaseModel):
    id: str = Field(min_length=1, max_length=10_000)
    k: int = Field(10, ge=1, le=10_000)
    where: Where = None


class RecordsIn(BaseModel):
    records: list[dict[str, Any]] = Field(max_length=HARD_MAX_RECORDS,
                                          description="records with an id and the collection's text fields")

    @field_validator("records")
    @classmethod
    def _finite(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for i, record in enumerate(value):
            check_finite(record, f"records[{i}]")
        return value


class IdsIn(BaseModel):
    ids: list[str] = Field(max_length=HARD_MAX_RECORDS)


class SkippedOut(BaseModel):
    item: str
    reason: str


class WriteOut(BaseModel):
    added: int
    updated: int
    deleted: int
    skipped: list[SkippedOut]
    count: int = Field(description="items in the collection after the write")


class InfoOut(BaseModel):
    jointspace: str
    count: int
    encoder: dict[str, Any]
    fields: list[str]
    id_field: str
    index: dict[str, Any]
    modalities: list[str] = Field(description="query modalities this collection can be searched by")
    writable: bool
    max_k: int
    max_upload_bytes: int
    capabilities: list[str] = Field(description="the API's optional capabilities available here")


class HealthOut(BaseModel):
    status: str
    count: int


class ItemOut(BaseModel):
    id: str
    fields: dict[str, Any]
    text: str
    media: list[Media] = Field(default_factory=list)
