"""Ranking features of each video, built from its understanding results and kept in the `FeatureStore`.

A video's `VideoFeatures` come from what the analyzers stored:

- `category`: the top-level category with the highest score in the `tags` result ("" without one);
- `quality`: the `quality` result's 0-100 score (50 until it exists);
- `embedding`: the pooled semantic vector, the one the embed analyzer puts in the "semantic" index,
  read from `derived/{id}/embeddings.npz` (`semantic_video`); an older file without it gives the
  normalised mean of its per-keyframe semantic vectors. Zeros until the video is embedded.
- `created_at`, `duration_s` from the video record.

A video is eligible for the feed only when it is READY, allowed by moderation (automatic or a person),
checked by originality and not a duplicate, and embedded. Anything else (blocked, waiting for review,
not yet judged, a duplicate of an earlier upload, a failed analysis, deleted) keeps it out, and the
stored row says so, so feed snapshots drop it on their next refresh. `reasons` name what keeps it out.

Writes are idempotent: a retried or duplicate event builds the same features from the same results and
replaces the row with the same values (only `updated_at` moves). The function runs on every
`AnalysisCompleted` of the kinds that shape features; originality also refreshes the videos it matched,
since finding an original can mark a later upload a duplicate without an event of its own. A person's
moderation decision and a delete refresh the row directly (the API calls `refresh` and `removed`).
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from reelmind.domain.video import Moderation, Video, VideoStatus
from reelmind.errors import NotFound
from reelmind.ports import BlobStore, FeatureStore, Result, ResultStore
from reelmind.ranking.types import VideoFeatures
from reelmind.services.embed import SEMANTIC_DIM

log = logging.getLogger(__name__)

#: The analyzers whose results shape a video's features or eligibility.
FEATURE_KINDS = frozenset({"tags", "quality", "embed", "safety", "originality"})
DEFAULT_QUALITY = 50.0


@dataclass(frozen=True, slots=True)
class Built:
    features: VideoFeatures
    eligible: bool
    reasons: tuple[str, ...]  # why the video is not eligible; empty when it is

    def summary(self) -> dict[str, Any]:
        f = self.features
        return {
            "video_id": f.video_id,
            "eligible": self.eligible,
            "reasons": list(self.reasons),
            "category": f.category,
            "quality": f.quality,
        }


def _ok(result: Result | None) -> bool:
    return result is not None and result.payload.get("status", "ok") == "ok"


def category_of(tags: Result | None) -> str:
    """The best-scoring top-level category of a tags result ("" when there is none)."""
    if not _ok(tags):
        return ""
    assert tags is not None
    categories = tags.payload.get("categories") or []
    best = max(categories, key=lambda c: float(c.get("score", 0.0)), default=None)
    return str(best["id"]) if best is not None else ""


def quality_of(quality: Result | None) -> float:
    if not _ok(quality):
        return DEFAULT_QUALITY
    assert quality is not None
    score = quality.payload.get("score")
    return float(score) if isinstance(score, int | float) else DEFAULT_QUALITY


def ineligible_reasons(video: Video, results: dict[str, Result], embedded: bool) -> tuple[str, ...]:
    """What keeps a video out of the feed; () when nothing does."""
    reasons = []
    if video.status is not VideoStatus.READY:
        reasons.append("not_ready")
    if video.moderation is Moderation.BLOCK:
        reasons.append("blocked")
    elif video.moderation is Moderation.REVIEW:
        reasons.append("in_review")
    elif video.moderation is None:
        reasons.append("not_moderated")
    originality = results.get("originality")
    if originality is None:
        reasons.append("originality_pending")
    elif not _ok(originality):
        reasons.append("originality_failed")
    elif originality.payload.get("duplicate_of"):
        reasons.append("duplicate")
    if not embedded:
        reasons.append("not_embedded")
    return tuple(reasons)


class FeatureService:
    def __init__(
        self,
        blobs: BlobStore,
        results: ResultStore,
        store: FeatureStore,
        clock: Callable[[], float] = time.time,
        dim: int = SEMANTIC_DIM,
    ) -> None:
        self.blobs = blobs
        self.results = results
        self.store = store
        self.clock = clock
        self.dim = dim

    def build(self, video_id: str) -> Built | None:
        """The video's features and eligibility from its stored results; None when the video is absent."""
        video = self.results.get_video(video_id)
        if video is None:
            return None
        results = self.results.get_results(video_id)
        embedding = self._embedding(results.get("embed"))
        embedded = embedding is not None
        media = results["ingest"].payload.get("media", {}) if "ingest" in results else {}
        duration = video.media.duration_s if video.media else float(media.get("duration_s", 0.0))
        features = VideoFeatures(
            video_id=video_id,
            category=category_of(results.get("tags")),
            quality=quality_of(results.get("quality")),
            embedding=embedding if embedding is not None else np.zeros(self.dim, np.float32),
            created_at=video.created_at,
            duration_s=float(duration),
        )
        reasons = ineligible_reasons(video, results, embedded)
        return Built(features, not reasons, reasons)

    def refresh(self, video_id: str) -> dict[str, Any]:
        """Build and store the video's features (a deleted video's row is marked ineligible)."""
        built = self.build(video_id)
        if built is None:
            return self.removed(video_id)
        self.store.put_features(built.features, eligible=built.eligible, updated_at=self.clock())
        log.info("features of %s: eligible=%s %s", video_id, built.eligible, ",".join(built.reasons))
        return built.summary()

    def on_analysis(self, video_id: str, kind: str) -> dict[str, Any]:
        """An analyzer finished: refresh the video, and for originality every video it matched."""
        if kind not in FEATURE_KINDS:
            return {"video_id": video_id, "kind": kind, "refreshed": []}
        ids = [video_id]
        if kind == "originality":
            payload = (self.results.get_results(video_id).get("originality") or _EMPTY).payload
            ids += [str(m["video_id"]) for m in payload.get("matches") or [] if m.get("video_id") != video_id]
        return {
            "video_id": video_id,
            "kind": kind,
            "refreshed": [self.refresh(v) for v in dict.fromkeys(ids)],
        }

    def removed(self, video_id: str) -> dict[str, Any]:
        """The video is gone: keep its last features (histories still point at it) but never show it."""
        known = self.store.get_features([video_id]).get(video_id)
        if known is not None:
            self.store.put_features(known, eligible=False, updated_at=self.clock())
        return {"video_id": video_id, "eligible": False, "reasons": ["deleted"], "known": known is not None}

    def backfill(self) -> Iterator[dict[str, Any]]:
        """Refresh every stored video (a new deployment, or after a change of these rules)."""
        cursor: str | None = None
        while True:
            page = self.results.list_videos(limit=100, cursor=cursor)
            for video in page.items:
                yield self.refresh(video.video_id)
            if page.cursor is None:
                return
            cursor = page.cursor

    def _embedding(self, embed: Result | None) -> np.ndarray | None:
        if not _ok(embed):
            return None
        assert embed is not None
        key = (embed.payload.get("vectors") or {}).get("key")
        if not isinstance(key, str):
            return None
        try:
            data = self.blobs.get_bytes(key)
        except NotFound:
            log.warning("the embeddings file %s named by the embed result is missing", key)
            return None
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            rows = z["semantic_video"] if "semantic_video" in z.files else z["semantic"]
            v = rows.astype(np.float32).mean(axis=0)
        norm = float(np.linalg.norm(v))
        if v.shape != (self.dim,) or not np.isfinite(norm) or norm == 0.0:
            return None
        out: np.ndarray = v / norm
        return out


_EMPTY = Result("", "", "", {}, 0.0)
