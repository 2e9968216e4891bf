"""recommend, classify and nearest: one router per capability, mounted only where it is available.

- ``/recommend`` is there on every backend (``collection.recommend(liked=..., k=...)``); its
  results are hits (``id``/``score``/``fields``, and whatever ``to_dict()`` adds, e.g. a reason).
- ``/classify`` and ``/nearest`` appear when the server was given such a model (``--classifier DIR``,
  ``--nearest DIR``); a model is any object with ``predict(texts) -> list`` of JSON-able results, one per
  text in order. Loaders are looked up by kind in ``MODEL_LOADERS`` (register yours there), else in
  ``jointspace.tasks.<kind>:load`` when that module exists.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from jointspace.errors import JointspaceError
from jointspace.server.errors import ApiError
from jointspace.server.routers.common import check_k, hit_out
from jointspace.server.schemas import Where
from jointspace.server.state import ServerState, get_state, in_thread


class _TextClassifier:
    """A classifier model folder answering ``predict(texts)`` (its text field filled from each text)."""

    def __init__(self, path: Path) -> None:
        from jointspace.tasks.classify import ClassifierModel

        self.model = ClassifierModel(path)

    def predict(self, texts: list[str]) -> list[Any]:
        field = self.model.config.text_field
        results, _ = self.model.predict([{field: t} for t in texts])
        return results


def _nearest(path: Path) -> Any:
    from jointspace.tasks.nearest import NearestModel

    return NearestModel(path)


MODEL_LOADERS: dict[str, Callable[[Path], Any]] = {"classify": _TextClassifier, "nearest": _nearest}


def load_model(kind: str, path: Path) -> Any:
    """A task model from its folder, by the loader registered for ``kind``."""
    loader = MODEL_LOADERS.get(kind)
    if loader is None:
        try:
            loader = importlib.import_module(f"jointspace.tasks.{kind}").load
        except (ImportError, AttributeError) as exc:
            raise JointspaceError(f"this jointspace cannot load {kind} models (no loader for {kind!r})") from exc
    return loader(Path(path))


class RecommendIn(BaseModel):
    liked: list[str] = Field(min_length=1, max_length=1000, description="ids of items the reader picked")
    k: int = Field(10, ge=1, le=10_000)
    weights: dict[str, float] | None = Field(None, description="per-field weights, e.g. {\"text\": 1, \"image\": 0.5}")
    exclude_liked: bool = True
    where: Where = None


class TextsIn(BaseModel):
    texts: list[str] = Field(min_length=1, max_length=1000)


class PredictionsOut(BaseModel):
    results: list[Any] = Field(description="one result per input text, in order")


def _jsonable(result: Any) -> Any:
    return result.to_dict() if hasattr(result, "to_dict") else result


def build_recommend(state: ServerState) -> APIRouter | None:
    """Every backend recommends by content; stores with vector fields fuse behaviour and other fields too."""
    router = APIRouter(tags=["recommend"])

    @router.post("/recommend", summary="collection.recommend(liked, k, weights, ...)",
                 responses={404: {"description": "none of the liked ids exist"}})
    async def recommend(body: RecommendIn, state: ServerState = Depends(get_state)) -> dict[str, Any]:
        check_k(state, body.k)
        params = body.model_dump(exclude_none=True)

        def run() -> list[dict[str, Any]]:
            hits = state.collection.recommend(**params)  # type: ignore[attr-defined]
            return [{**_jsonable(h), **hit_out(state, h).model_dump()} for h in hits]

        return {"hits": await in_thread(state.locked(run))}

    return router


def _predict_router(kind: str, summary: str) -> Callable[[ServerState], APIRouter | None]:
    def build(state: ServerState) -> APIRouter | None:
        if kind not in state.models:
            return None
        router = APIRouter(tags=[kind])

        @router.post(f"/{kind}", response_model=PredictionsOut, summary=summary)
        async def predict(body: TextsIn, state: ServerState = Depends(get_state)) -> PredictionsOut:
            if any(not t.strip() for t in body.texts):
                raise ApiError(400, f"texts[{[i for i, t in enumerate(body.texts) if not t.strip()][0]}]: empty text")
            results = await in_thread(lambda: state.models[kind].predict(body.texts))
            return PredictionsOut(results=[_jsonable(r) for r in results])

        return router

    return build


build_classify = _predict_router("classify", "classify texts with the server's classifier model")
build_nearest = _predict_router("nearest", "label texts by their nearest known examples")
