"""Search: text to video (hybrid k-NN + keywords), similar videos, and image to shot.

Scores fuse per source by normalised rank-weighted sums: each source's scores are scaled to 0..1 by
its best score, then weighted (semantic k-NN and keywords for text; visual and semantic k-NN for
similar videos). Filters (category, duration, upload time) and moderation are applied to candidates,
and a blocked video is never returned, whatever its score.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reelmind.domain.text import query_tokens
from reelmind.domain.video import Moderation, VideoStatus
from reelmind.errors import BadRequest, NotFound
from reelmind.media import encode
from reelmind.models.vision import ImageClassifier
from reelmind.ports import BlobStore, Hit, Result, ResultStore, TextIndex, VectorIndex
from reelmind.services.embed import (
    REGION_BOXES,
    REGIONS,
    SEMANTIC,
    SEMANTIC_DIM,
    VISUAL,
    VISUAL_DIM,
    SemanticEmbedder,
)

MAX_QUERY_CHARS = 500
MAX_IMAGE_BYTES = 10 << 20


@dataclass(frozen=True, slots=True)
class Filters:
    category: str | None = None  # a first- or second-level id: "animals" or "animals/cat"
    min_duration_s: float | None = None
    max_duration_s: float | None = None
    uploaded_after: float | None = None
    uploaded_before: float | None = None

    def accepts(self, meta: dict[str, Any]) -> bool:
        if self.category is not None and self.category not in meta.get("categories", []):
            return False
        d = float(meta.get("duration_s", 0.0))
        t = float(meta.get("created_at", 0.0))
        return not (
            (self.min_duration_s is not None and d < self.min_duration_s)
            or (self.max_duration_s is not None and d > self.max_duration_s)
            or (self.uploaded_after is not None and t < self.uploaded_after)
            or (self.uploaded_before is not None and t > self.uploaded_before)
        )


@dataclass(slots=True)
class Found:
    video_id: str
    score: float
    parts: dict[str, float] = field(default_factory=dict)
    shot: dict[str, Any] | None = None  # the matched keyframe: time and thumbnail

    def to_dict(self) -> dict[str, Any]:
        return {
            "video_id": self.video_id,
            "score": round(self.score, 4),
            "parts": {k: round(v, 4) for k, v in self.parts.items()},
            "shot": self.shot,
        }


@dataclass(frozen=True, slots=True)
class SearchWeights:
    semantic: float = 0.5
    keywords: float = 0.5
    visual: float = 0.6  # similar videos: visual vs semantic
    candidates: int = 100


def _normalised(hits: Sequence[Hit]) -> dict[str, float]:
    top = max((h.score for h in hits), default=0.0)
    return {h.id: (h.score / top if top > 0 else 0.0) for h in hits}


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode()


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        offset = int(json.loads(base64.urlsafe_b64decode(cursor.encode()))["o"])
    except (ValueError, KeyError, TypeError):
        raise BadRequest("the page cursor is not valid; pass back the cursor of the previous page") from None
    if offset < 0:
        raise BadRequest("the page cursor is not valid; pass back the cursor of the previous page")
    return offset


class SearchService:
    def __init__(
        self,
        blobs: BlobStore,
        results: ResultStore,
        indexes: Callable[[str, int], VectorIndex],
        text_index: Callable[[], TextIndex],
        semantic: Callable[[], SemanticEmbedder],
        classifier: Callable[[], ImageClassifier],
        weights: SearchWeights = SearchWeights(),
    ) -> None:
        self.blobs = blobs
        self.results = results
        self._indexes = indexes
        self._text_index = text_index
        self._semantic = semantic
        self._classifier = classifier
        self.weights = weights

    # -- text ----------------------------------------------------------------------------------
    def search(
        self, query: str, *, limit: int = 10, cursor: str | None = None, filters: Filters = Filters()
    ) -> tuple[list[Found], str | None]:
        query = query.strip()
        if not query:
            raise BadRequest("the query is empty; say what to look for")
        if len(query) > MAX_QUERY_CHARS:
            raise BadRequest(f"the query is {len(query)} characters long; the limit is {MAX_QUERY_CHARS}")
        if not 1 <= limit <= 50:
            raise BadRequest("limit must be between 1 and 50")
        offset = decode_cursor(cursor)
        if not query_tokens(query):
            return [], None  # punctuation or symbols only: nothing to match
        n = self.weights.candidates
        q = self._semantic().text([query])[0]
        semantic = self._indexes(SEMANTIC, SEMANTIC_DIM).query(q, n)
        keywords = self._text_index().search(query, n)
        fused = self._fuse(
            {"semantic": (semantic, self.weights.semantic), "keywords": (keywords, self.weights.keywords)},
            filters,
            need=offset + limit + 1,
        )
        page = fused[offset : offset + limit]
        for found in page:
            found.shot = self._best_shot(found.video_id, semantic_query=q)
        more = len(fused) > offset + limit
        return page, encode_cursor(offset + limit) if more else None

    # -- similar -------------------------------------------------------------------------------
    def similar(self, video_id: str, *, limit: int = 10) -> list[Found]:
        if not 1 <= limit <= 50:
            raise BadRequest("limit must be between 1 and 50")
        video = self.results.get_video(video_id)
        if video is None:
            raise NotFound(f"no video {video_id!r}")
        vectors = self._vectors(video_id)
        if vectors is None:
            raise NotFound(f"video {video_id} has no embeddings yet")
        visual, semantic = (self._video_vector(vectors[name]) for name in ("visual", "semantic"))
        n = self.weights.candidates
        sources = {
            "visual": (self._indexes(VISUAL, VISUAL_DIM).query(visual, n + 1), self.weights.visual),
            "semantic": (
                self._indexes(SEMANTIC, SEMANTIC_DIM).query(semantic, n + 1),
                1 - self.weights.visual,
            ),
        }
        fused = self._fuse(sources, Filters(), need=limit, exclude=video_id)
        for found in fused:
            found.shot = self._best_shot(found.video_id, visual_query=visual)
        return fused

    # -- image ---------------------------------------------------------------------------------
    def by_image(self, data: bytes, *, limit: int = 10) -> list[Found]:
        """Videos showing what the image shows, with the shot where it appears (element-level search)."""
        if not data:
            raise BadRequest("the image is empty")
        if len(data) > MAX_IMAGE_BYTES:
            raise BadRequest(f"the image is {len(data)} bytes; the limit is {MAX_IMAGE_BYTES}")
        image = encode.decode_image(data)
        if image is None or min(image.shape[:2]) < 16:
            raise BadRequest("the image could not be decoded, or is smaller than 16 pixels on a side")
        if not 1 <= limit <= 50:
            raise BadRequest("limit must be between 1 and 50")
        q = self._classifier()([image]).embeddings[0]
        hits = self._indexes(REGIONS, VISUAL_DIM).query(q, self.weights.candidates * 5)
        best: dict[str, Hit] = {}
        for hit in hits:
            vid = str(hit.meta.get("video_id", hit.id.split("#", 1)[0]))
            if vid not in best or hit.score > best[vid].score:
                best[vid] = hit
        out = []
        for vid, hit in sorted(best.items(), key=lambda kv: -kv[1].score):
            if not self._visible(vid):
                continue
            shot = {
                "time_s": hit.meta.get("time_s"),
                "key": hit.meta.get("key"),
                "region": hit.meta.get("region"),
            }
            out.append(Found(vid, hit.score, {"visual": hit.score}, self._with_url(shot)))
            if len(out) == limit:
                break
        return out

    def forget(self, video_id: str) -> None:
        """Remove a video from every index (its results and files are the store's business)."""
        for name, dim in ((VISUAL, VISUAL_DIM), (SEMANTIC, SEMANTIC_DIM)):
            self._indexes(name, dim).delete([video_id])
        vectors = self._vectors(video_id)
        count = 0 if vectors is None else len(vectors["visual"])
        self._indexes(REGIONS, VISUAL_DIM).delete(
            [f"{video_id}#{i}#{r}" for i in range(count) for r in range(len(REGION_BOXES))]
        )
        self._text_index().delete([video_id])
        self._indexes("originality", VISUAL_DIM).delete([video_id])

    # -- helpers -------------------------------------------------------------------------------
    def _fuse(
        self,
        sources: dict[str, tuple[list[Hit], float]],
        filters: Filters,
        need: int,
        exclude: str | None = None,
    ) -> list[Found]:
        """The best `need` candidates by weighted score that pass the filters and may be shown. Visibility
        is a store read per video, so it is checked in rank order only until `need` are found."""
        found: dict[str, Found] = {}
        metas: dict[str, dict[str, Any]] = {}
        for name, (hits, weight) in sources.items():
            for vid, score in _normalised(hits).items():
                f = found.setdefault(vid, Found(vid, 0.0))
                f.parts[name] = score
                f.score += weight * score
            for h in hits:
                metas.setdefault(h.id, h.meta)
        ranked = sorted(found.values(), key=lambda f: (-f.score, f.video_id))
        out: list[Found] = []
        for f in ranked:
            if (
                f.video_id != exclude
                and filters.accepts(metas.get(f.video_id, {}))
                and self._visible(f.video_id)
            ):
                out.append(f)
                if len(out) == need:
                    break
        return out

    def _visible(self, video_id: str) -> bool:
        video = self.results.get_video(video_id)
        return (
            video is not None
            and video.status is VideoStatus.READY
            and video.moderation is not Moderation.BLOCK
        )

    def _vectors(
        self, video_id: str, results: dict[str, Result] | None = None
    ) -> dict[str, np.ndarray] | None:
        """The per-keyframe vectors embed stored (`results`: the video's results, when already read)."""
        results = self.results.get_results(video_id) if results is None else results
        embed = results.get("embed")
        if embed is None or embed.payload.get("status") != "ok":
            return None
        with np.load(
            io.BytesIO(self.blobs.get_bytes(embed.payload["vectors"]["key"])), allow_pickle=False
        ) as z:
            return {k: z[k].astype(np.float32) for k in z.files}

    @staticmethod
    def _video_vector(rows: np.ndarray) -> np.ndarray:
        v = rows.mean(axis=0)
        out: np.ndarray = v / max(1e-12, float(np.linalg.norm(v)))
        return out

    def _best_shot(
        self,
        video_id: str,
        *,
        semantic_query: np.ndarray | None = None,
        visual_query: np.ndarray | None = None,
    ) -> dict[str, Any] | None:
        results = self.results.get_results(video_id)
        vectors = self._vectors(video_id, results)
        ingest = results.get("ingest")
        if vectors is None or ingest is None or not ingest.payload["keyframes"]:
            return None
        rows, q = (
            (vectors["semantic"], semantic_query)
            if semantic_query is not None
            else (vectors["visual"], visual_query)
        )
        assert q is not None
        i = int(np.argmax(rows @ q))
        kf = ingest.payload["keyframes"][min(i, len(ingest.payload["keyframes"]) - 1)]
        return self._with_url({"time_s": kf["time_s"], "key": kf["key"]})

    def _with_url(self, shot: dict[str, Any]) -> dict[str, Any]:
        key = shot.get("key")
        return {**shot, "thumbnail_url": self.blobs.url_for(key)} if isinstance(key, str) else shot
