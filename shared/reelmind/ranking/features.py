"""The one feature path of the ranker: training (from replayed examples) and serving (from a request)
both fill a `FeatureInput` and call `encode`. Pure numpy.

`encode` gives two matrices:
- `sparse` (n, 4) int64: hashed user, video and author ids (CRC-32 of the UTF-8 id into a fixed number
  of buckets; the model embeds each bucket) and the category (1 + its index in `spec.categories`; 0 for
  none or unknown).
- `dense` (n, d) float32, in `spec.dense_names()` order:
  - content: quality / 100, log1p(age in hours) / 5, log1p(duration s) / 5;
  - popularity: log1p of each `VideoStats` counter / 10, and plays, long views, likes, follows per
    impression (each / (impressions + 10), so a video few have seen stays near 0);
  - the video's embedding;
  - the user, over their last `dataset.USER_WINDOW` impressions: log1p(impressions) / 10 and the play
    rate (plays + 3.5) / (impressions + 10);
  - recent interest: log1p(history length) / 5, the mean and the max cosine of the candidate to the
    last `spec.recent` played videos, and the share of them in the candidate's category;
  - long-term interest (`spec.long_term`), search-based as in SIM (Pi et al., 2020): from the whole
    history (`spec.history_len` plays) the `top_k` videos most similar to the candidate, each with its
    cosine, its engagement and whether its category is the candidate's (zeros when the history is
    shorter), then the engagement-weighted similarity over the top k, the share of the whole history in
    the candidate's category and the mean engagement of those.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from reelmind.ranking.dataset import STATS_FIELDS, Examples
from reelmind.ranking.types import Candidate, UserHistory

#: a user's play rate starts here and moves with their impressions (this many impressions' weight)
USER_PRIOR_PLAY_RATE, USER_PRIOR_WEIGHT = 0.35, 10.0
#: rows per chunk when gathering history embeddings (keeps memory flat on large training sets)
CHUNK = 8192


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    dim: int  # video embedding dimension
    categories: tuple[str, ...]
    user_buckets: int = 1 << 13
    video_buckets: int = 1 << 13
    author_buckets: int = 1 << 11
    history_len: int = 100
    recent: int = 10
    top_k: int = 8
    long_term: bool = True

    def sparse_sizes(self) -> tuple[int, int, int, int]:
        return (self.user_buckets, self.video_buckets, self.author_buckets, len(self.categories) + 1)

    def dense_names(self) -> list[str]:
        names = ["quality", "age", "duration"]
        names += [f"log_{s}" for s in STATS_FIELDS]
        names += ["play_rate", "long_view_rate", "like_rate", "follow_rate"]
        names += [f"emb_{i}" for i in range(self.dim)]
        names += ["user_impressions", "user_play_rate"]
        names += ["history_len", "recent_mean_sim", "recent_max_sim", "recent_same_category"]
        if self.long_term:
            k = self.top_k
            names += [f"lti_sim_{i}" for i in range(k)]
            names += [f"lti_engagement_{i}" for i in range(k)]
            names += [f"lti_same_category_{i}" for i in range(k)]
            names += ["lti_weighted_engagement", "lti_category_share", "lti_category_engagement"]
            names += ["lti_pooled_sim", "lti_engaged_pooled_sim"]
        return names

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str) -> FeatureSpec:
        d = json.loads(raw)
        d["categories"] = tuple(d["categories"])
        return cls(**d)


@dataclass(frozen=True, slots=True)
class FeatureInput:
    """Rows (candidates or impressions) and groups (one user at one moment) whose history they share."""

    group_user: np.ndarray  # (g,) object
    row_group: np.ndarray  # (n,) int
    video_id: np.ndarray  # (n,) object
    author_id: np.ndarray  # (n,) object
    category: np.ndarray  # (n,) object
    quality: np.ndarray  # (n,)
    created_at: np.ndarray  # (n,)
    duration_s: np.ndarray  # (n,)
    stats: np.ndarray  # (n, 6) STATS_FIELDS
    embedding: np.ndarray  # (n, dim)
    now: np.ndarray  # (n,)
    hist_emb: np.ndarray  # (m, dim): a table the histories point into
    hist_cat: np.ndarray  # (m,) object
    hist_idx: np.ndarray  # (g, H) int, rows of the table, most recent last, -1 padding on the left
    hist_eng: np.ndarray  # (g, H)
    group_impressions: np.ndarray  # (g,) the user's impressions so far
    group_plays: np.ndarray  # (g,) ... of which played

    def __len__(self) -> int:
        return len(self.row_group)


def bucket(ids: Sequence[str] | np.ndarray, n: int) -> np.ndarray:
    """Stable hash buckets (CRC-32 of UTF-8) of string ids; the same in every process and on every host."""
    uniq, inverse = np.unique(np.asarray(ids, dtype=object).astype(str), return_inverse=True)
    hashed = np.fromiter((zlib.crc32(u.encode("utf-8")) % n for u in uniq), np.int64, len(uniq))
    out: np.ndarray = hashed[inverse.reshape(-1)]
    return out


def category_index(spec: FeatureSpec, categories: np.ndarray) -> np.ndarray:
    lookup = {c: i + 1 for i, c in enumerate(spec.categories)}
    return np.fromiter((lookup.get(str(c), 0) for c in categories), np.int64, len(categories))


def from_examples(spec: FeatureSpec, ex: Examples) -> FeatureInput:
    v = ex.videos
    rows = ex.row_video
    hist = ex.hist_idx[:, -spec.history_len :] if spec.history_len else ex.hist_idx[:, :0]
    return FeatureInput(
        group_user=ex.group_user,
        row_group=ex.row_group,
        video_id=v.ids[rows],
        author_id=v.author_id[rows],
        category=v.category[rows],
        quality=v.quality[rows],
        created_at=v.created_at[rows],
        duration_s=v.duration_s[rows],
        stats=ex.stats,
        embedding=v.embedding[rows],
        now=ex.now,
        hist_emb=v.embedding,
        hist_cat=v.category,
        hist_idx=hist,
        hist_eng=ex.hist_eng[:, -hist.shape[1] :] if hist.shape[1] else ex.hist_eng[:, :0],
        group_impressions=ex.group_impressions,
        group_plays=ex.group_plays,
    )


def from_request(
    spec: FeatureSpec, user: UserHistory, candidates: Sequence[Candidate], now: float
) -> FeatureInput:
    """One serving request: the user's history (most recent last) and the candidates, in their order."""
    n = len(candidates)
    h = min(len(user.video_ids), spec.history_len)
    hist_idx = np.full((1, spec.history_len), -1, np.int64)
    hist_eng = np.zeros((1, spec.history_len), np.float32)
    if h:
        hist_emb = np.asarray(user.embeddings, np.float32)[-h:]
        hist_idx[0, spec.history_len - h :] = np.arange(h)
        hist_eng[0, spec.history_len - h :] = np.asarray(user.engagement, np.float32)[-h:]
        hist_cat = np.array(list(user.categories)[-h:], dtype=object)
    else:
        hist_emb = np.zeros((0, spec.dim), np.float32)
        hist_cat = np.zeros(0, object)
    videos = [c.video for c in candidates]
    return FeatureInput(
        group_user=np.array([user.user_id], dtype=object),
        row_group=np.zeros(n, np.int64),
        video_id=np.array([v.video_id for v in videos], dtype=object),
        author_id=np.array([v.author_id for v in videos], dtype=object),
        category=np.array([v.category for v in videos], dtype=object),
        quality=np.array([v.quality for v in videos], np.float32),
        created_at=np.array([v.created_at for v in videos], np.float64),
        duration_s=np.array([v.duration_s for v in videos], np.float32),
        stats=np.array([[getattr(c.stats, f) for f in STATS_FIELDS] for c in candidates], np.float32).reshape(
            n, len(STATS_FIELDS)
        ),
        embedding=np.stack([np.asarray(v.embedding, np.float32) for v in videos])
        if n
        else np.zeros((0, spec.dim), np.float32),
        now=np.full(n, now, np.float64),
        hist_emb=hist_emb,
        hist_cat=hist_cat,
        hist_idx=hist_idx,
        hist_eng=hist_eng,
        group_impressions=np.array([user.impressions], np.int64),
        group_plays=np.array([user.plays], np.int64),
    )


def encode(spec: FeatureSpec, inp: FeatureInput) -> tuple[np.ndarray, np.ndarray]:
    """(sparse (n, 4) int64, dense (n, d) float32) as the module doc describes."""
    n = len(inp)
    if inp.embedding.shape[1:] != (spec.dim,):
        raise ValueError(f"the ranker expects {spec.dim}-d video embeddings, not {inp.embedding.shape[1:]}")
    cat = category_index(spec, inp.category)
    sparse = np.stack(
        [
            bucket(inp.group_user, spec.user_buckets)[inp.row_group]
            if len(inp.group_user)
            else np.zeros(n, np.int64),
            bucket(inp.video_id, spec.video_buckets),
            bucket(inp.author_id, spec.author_buckets),
            cat,
        ],
        axis=1,
    ).astype(np.int64)

    stats = np.maximum(np.asarray(inp.stats, np.float64), 0.0)
    age_h = np.maximum(np.asarray(inp.now, np.float64) - np.asarray(inp.created_at, np.float64), 0.0) / 3600.0
    content = np.stack(
        [
            np.asarray(inp.quality, np.float64) / 100.0,
            np.log1p(age_h) / 5.0,
            np.log1p(np.maximum(np.asarray(inp.duration_s, np.float64), 0.0)) / 5.0,
        ],
        axis=1,
    )
    rates = stats[:, 1:5] / (stats[:, :1] + 10.0)
    user_imp = np.asarray(inp.group_impressions, np.float64)[inp.row_group]
    user_plays = np.asarray(inp.group_plays, np.float64)[inp.row_group]
    user = np.stack(
        [
            np.log1p(user_imp) / 10.0,
            (user_plays + USER_PRIOR_WEIGHT * USER_PRIOR_PLAY_RATE) / (user_imp + USER_PRIOR_WEIGHT),
        ],
        axis=1,
    ).reshape(n, 2)
    parts = [content, np.log1p(stats) / 10.0, rates, np.asarray(inp.embedding, np.float64), user]
    parts.append(_interest(spec, inp, cat))
    dense = np.concatenate(parts, axis=1).astype(np.float32)
    return sparse, dense


def _interest(spec: FeatureSpec, inp: FeatureInput, cat: np.ndarray) -> np.ndarray:
    n = len(inp)
    k = spec.top_k
    width = 4 + (3 * k + 5 if spec.long_term else 0)
    out = np.zeros((n, width), np.float64)
    hist_cat = category_index(spec, inp.hist_cat) if len(inp.hist_cat) else np.zeros(0, np.int64)
    if inp.hist_idx.shape[1] == 0 or len(inp.hist_emb) == 0:
        return out
    for lo in range(0, n, CHUNK):
        rows = slice(lo, min(n, lo + CHUNK))
        idx = inp.hist_idx[inp.row_group[rows]]  # (c, H)
        eng = np.asarray(inp.hist_eng, np.float64)[inp.row_group[rows]]
        valid = idx >= 0
        safe = np.where(valid, idx, 0)
        hist = inp.hist_emb[safe]  # (c, H, dim)
        cand = np.asarray(inp.embedding[rows], np.float64)
        sims = np.einsum("chd,cd->ch", hist, cand).astype(np.float64)
        same = (hist_cat[safe] == cat[rows, None]) & valid & (cat[rows, None] > 0)
        count = valid.sum(axis=1)
        c = out[rows]
        c[:, 0] = np.log1p(count) / 5.0
        r = min(spec.recent, idx.shape[1])
        rv = valid[:, -r:]
        rn = np.maximum(rv.sum(axis=1), 1)
        c[:, 1] = np.where(rv, sims[:, -r:], 0.0).sum(axis=1) / rn
        c[:, 2] = np.where(rv, sims[:, -r:], -1.0).max(axis=1) * (rv.any(axis=1))
        c[:, 3] = (same[:, -r:]).sum(axis=1) / rn
        if spec.long_term:
            masked = np.where(valid, sims, -np.inf)
            kk = min(k, idx.shape[1])
            top = np.argsort(-masked, axis=1, kind="stable")[:, :kk]
            top_valid = np.take_along_axis(valid, top, axis=1)
            top_sim = np.where(top_valid, np.take_along_axis(sims, top, axis=1), 0.0)
            top_eng = np.where(top_valid, np.take_along_axis(eng, top, axis=1), 0.0)
            top_same = np.take_along_axis(same, top, axis=1).astype(np.float64)
            c[:, 4 : 4 + kk] = top_sim
            c[:, 4 + k : 4 + k + kk] = top_eng
            c[:, 4 + 2 * k : 4 + 2 * k + kk] = top_same
            w = np.maximum(top_sim, 0.0)
            c[:, 4 + 3 * k] = (w * top_eng).sum(axis=1) / np.maximum(w.sum(axis=1), 1e-6)
            hn = np.maximum(count, 1)
            c[:, 5 + 3 * k] = same.sum(axis=1) / hn
            c[:, 6 + 3 * k] = (same * eng).sum(axis=1) / np.maximum(same.sum(axis=1), 1)
            # target-attention pooling: the top k averaged (by similarity, then by engagement) is a less
            # noisy picture of the interest the candidate touches than any one past video
            top_emb = np.take_along_axis(hist, top[:, :, None], axis=1).astype(np.float64)
            for j, weight in ((7, w), (8, w * top_eng)):
                pooled = (top_emb * weight[:, :, None]).sum(axis=1)
                norm = np.linalg.norm(pooled, axis=1)
                c[:, j + 3 * k] = np.where(
                    norm > 1e-9, (pooled * cand).sum(axis=1) / np.maximum(norm, 1e-9), 0.0
                )
        out[rows] = c
    return out
