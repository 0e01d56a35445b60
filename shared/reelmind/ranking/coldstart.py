"""Cold start: how well a brand-new video will do, from what content understanding says about it.

Before a video has impressions its counters say nothing, so the feed needs a content-only prior. This
model predicts a video's *early engagement*, the mean engagement (`dataset.engagement`: a play 1/4, a long
view, a like, a follow 1/4 more each) of its first `EARLY_IMPRESSIONS` impressions, from its category
(one-hot over the spec's categories), quality, log duration and semantic embedding: ridge regression on
the logit of that rate, weighted by each video's number of early impressions, solved in closed form with
numpy. The model is a small JSON document (weights, categories, version), so serving needs no runtime.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reelmind.ranking.dataset import Examples, engagement
from reelmind.ranking.types import VideoFeatures

EARLY_IMPRESSIONS = 50
#: videos with fewer early impressions than this are left out of training
MIN_IMPRESSIONS = 5
RIDGE = 1.0


def content_matrix(videos: Sequence[VideoFeatures], categories: Sequence[str], dim: int) -> np.ndarray:
    """(n, C + 3 + dim): category one-hot, quality / 100, log1p(duration) / 5, embedding, then a bias column."""
    n = len(videos)
    lookup = {c: i for i, c in enumerate(categories)}
    x = np.zeros((n, len(categories) + 3 + dim), np.float64)
    for i, v in enumerate(videos):
        k = lookup.get(v.category)
        if k is not None:
            x[i, k] = 1.0
        emb = np.asarray(v.embedding, np.float64)
        if emb.shape != (dim,):
            raise ValueError(f"the cold-start model expects {dim}-d embeddings, not {emb.shape}")
        c = len(categories)
        x[i, c] = v.quality / 100.0
        x[i, c + 1] = np.log1p(max(v.duration_s, 0.0)) / 5.0
        x[i, c + 2] = 1.0
        x[i, c + 3 :] = emb
    return x


@dataclass(frozen=True, slots=True)
class ColdStartModel:
    version: str
    categories: tuple[str, ...]
    dim: int
    weights: np.ndarray  # (C + 3 + dim,)

    def predict(self, videos: Sequence[VideoFeatures]) -> np.ndarray:
        """Predicted early engagement (0..1) of each video, in order."""
        if not videos:
            return np.zeros(0, np.float32)
        z = content_matrix(videos, self.categories, self.dim) @ self.weights
        out: np.ndarray = (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
        return out

    def to_bytes(self) -> bytes:
        doc = {
            "version": self.version,
            "categories": list(self.categories),
            "dim": self.dim,
            "weights": [float(w) for w in self.weights],
        }
        return json.dumps(doc).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> ColdStartModel:
        doc = json.loads(data)
        return cls(
            doc["version"], tuple(doc["categories"]), int(doc["dim"]), np.asarray(doc["weights"], np.float64)
        )


def early_engagement(
    examples: Examples, first: int = EARLY_IMPRESSIONS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(video rows, early impressions, mean engagement over them) for every video with impressions."""
    order = np.lexsort((examples.now, examples.row_video))
    videos = examples.row_video[order]
    eng = engagement(examples.labels[order])
    starts = np.r_[0, np.flatnonzero(np.diff(videos)) + 1]
    rank = np.arange(len(videos)) - np.repeat(starts, np.diff(np.r_[starts, len(videos)]))
    keep = rank < first
    uniq, inverse = np.unique(videos[keep], return_inverse=True)
    count = np.bincount(inverse, minlength=len(uniq)).astype(np.float64)
    total = np.bincount(inverse, weights=eng[keep], minlength=len(uniq))
    return uniq, count, total / np.maximum(count, 1.0)


def fit_coldstart(
    examples: Examples, categories: Sequence[str], version: str, ridge: float = RIDGE
) -> ColdStartModel:
    rows, count, rate = early_engagement(examples)
    keep = count >= MIN_IMPRESSIONS
    rows, count, rate = rows[keep], count[keep], rate[keep]
    if len(rows) < 2:
        raise ValueError("too few videos with early impressions to fit a cold-start model")
    table = examples.videos
    dim = table.embedding.shape[1]
    feats = [
        VideoFeatures(
            str(table.ids[i]),
            str(table.category[i]),
            float(table.quality[i]),
            table.embedding[i],
            float(table.created_at[i]),
            float(table.duration_s[i]),
        )
        for i in rows
    ]
    x = content_matrix(feats, categories, dim)
    # smoothed toward the overall rate, then the logit: a video seen 5 times is not 0 or 1
    prior = float((rate * count).sum() / count.sum())
    smoothed = (rate * count + 5.0 * prior) / (count + 5.0)
    y = np.log(smoothed / (1.0 - smoothed))
    w = count / count.mean()
    xtw = x.T * w
    reg = ridge * np.eye(x.shape[1])
    reg[len(categories) + 2, len(categories) + 2] = 0.0  # the bias is not shrunk
    weights = np.linalg.solve(xtw @ x + reg, xtw @ y)
    return ColdStartModel(version, tuple(categories), dim, weights)
