"""The personal feed: candidates from interest, freshness and popularity; exclusions; ranking; diversity.

One request (`FeedService.feed`):

1. **History.** The user's recent events (`InteractionStore.history`) become a `UserHistory` through
   the ranking package's own `history_from_events` (played videos, most recent last, with the same
   engagement 0..1 that training uses); `InteractionStore.seen` gives every video already shown.
2. **Candidates**, each with the reason that found it first:
   - *interest*: k-NN on the "semantic" vector index around the user's interest vector, the
     engagement-weighted mean of the history's embeddings;
   - *fresh*: videos uploaded in the last `fresh_window_s`, best first by a cold-start score (a
     content-only scorer; the default is quality, decayed by age);
   - *popular*: every eligible video by popularity (below), quality breaking ties, so a young
     catalogue without counters still has this source.
   Seen videos and ineligible ones (blocked, in review, duplicates, deleted, not fully analysed) are
   dropped from every source.
3. **Ranking.** A `Ranker` (`reelmind.ranking.types`) gives each candidate a probability per task;
   the score is their weighted sum, `FeedWeights` (click 0.2, long view 0.4, like 0.25, follow 0.15:
   a long view is the strongest sign of a good pick, follows are rare but valuable). The ranker comes
   from a provider called per request (so a newly promoted model serves at once) or is fixed; without
   one, `InterestPopularityRanker` serves.
4. **Diversity.** Greedy by score, skipping a video that would make more than `max_same_category`
   of one category in a row, while checking that the rest of the page can still obey the rule (so the
   rule holds whenever the candidates allow it at all).

Reads per request: the user's history and seen set, and one k-NN query. Video features live in an
in-memory snapshot (`FeatureSnapshot`) refreshed through `FeatureStore.changed_since` at most every
`refresh_s`, with a slice of the counters (`InteractionStore.video_stats`) so that every eligible
video's are re-read within `stats_refresh_s`; the fresh and popular lists are derived there, once per
refresh, not per request.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import numpy as np

from reelmind.errors import BadRequest
from reelmind.ports import FeatureStore, InteractionStore, VectorIndex
from reelmind.ranking.dataset import history_from_events
from reelmind.ranking.types import TASKS, Candidate, Ranker, UserHistory, VideoFeatures, VideoStats

log = logging.getLogger(__name__)

#: A user id: letters, digits and `_ . : @ -`, starting with a letter or digit, at most 128 characters.
USER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}")
INTEREST, FRESH, POPULAR = "interest", "fresh", "popular"
#: k-NN results asked for at most, however many videos the user has seen.
MAX_KNN = 600
DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class FeedWeights:
    """How much each task's probability counts in the feed score (they sum to 1, so scores lie in 0..1)."""

    click: float = 0.2
    long_view: float = 0.4
    like: float = 0.25
    follow: float = 0.15

    def combine(self, probs: dict[str, np.ndarray], n: int) -> np.ndarray:
        score = np.zeros(n, np.float64)
        for task in TASKS:
            p = probs.get(task)
            if p is not None:
                score += getattr(self, task) * np.asarray(p, np.float64).reshape(n)
        return score


@dataclass(frozen=True, slots=True)
class FeedConfig:
    max_same_category: int = 2  # never more of one category in a row, when the candidates allow it
    max_limit: int = 50
    refresh_s: float = 2.0  # features snapshot: read changes at most this often
    overlap_s: float = 10.0  # ... re-reading writes this much older than the last read (late index
    # writes, clock skew between writers and this process)
    stats_refresh_s: float = 30.0  # every eligible video's counters are re-read within this time
    history_limit: int = 200  # events read for the user's history
    interest_k: int = 100
    fresh_k: int = 60
    popular_k: int = 60
    fresh_window_s: float = 3 * DAY_S
    weights: FeedWeights = field(default_factory=FeedWeights)


def popularity(stats: VideoStats) -> float:
    """Smoothed engagement per impression times log(1 + plays): a video many played and many engaged
    with ranks high; a handful of lucky plays does not."""
    engaged = stats.long_views + 2 * stats.likes + 3 * stats.shares + 3 * stats.follows + 1
    return engaged / (stats.impressions + 10) * math.log1p(stats.plays)


def interest_vector(user: UserHistory) -> np.ndarray | None:
    """The engagement-weighted mean of the history's embeddings, unit length; None without engagement."""
    if user.is_new or user.embeddings.size == 0:
        return None
    w = np.asarray(user.engagement, np.float32).reshape(-1)
    if float(w.sum()) <= 0:
        return None
    v = (np.asarray(user.embeddings, np.float32) * w[:, None]).sum(axis=0)
    norm = float(np.linalg.norm(v))
    if norm == 0.0 or not math.isfinite(norm):
        return None
    out: np.ndarray = v / norm
    return out


class ColdStartScorer(Protocol):
    """Scores videos from their content and counters alone (no user), higher is better."""

    def __call__(self, candidates: Sequence[Candidate], now: float) -> np.ndarray: ...


def quality_cold_start(candidates: Sequence[Candidate], now: float) -> np.ndarray:
    """The default cold-start score: quality 0..1, halved every day of age."""
    q = np.array([c.video.quality for c in candidates], np.float64) / 100.0
    age_days = np.maximum(0.0, now - np.array([c.video.created_at for c in candidates], np.float64)) / DAY_S
    out: np.ndarray = q * np.power(0.5, age_days)
    return out


def ranker_cold_start(ranker: Ranker, weights: FeedWeights = FeedWeights()) -> ColdStartScorer:
    """A content-only `Ranker` (scoring for a user with no history) as a cold-start scorer."""

    def score(candidates: Sequence[Candidate], now: float) -> np.ndarray:
        return weights.combine(ranker.score(UserHistory(user_id=""), candidates, now), len(candidates))

    return score


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return out


class InterestPopularityRanker:
    """The ranker until a trained one is promoted: hand-set logits of interest (cosine to the interest
    vector, and the share of the user's engagement in the candidate's category), popularity and its
    rates, quality and freshness. A new user gets popularity, quality and freshness only."""

    version = "interest-popularity-1"

    def score(self, user: UserHistory, candidates: Sequence[Candidate], now: float) -> dict[str, np.ndarray]:
        n = len(candidates)
        if n == 0:
            return {t: np.zeros(0) for t in TASKS}
        emb = np.stack([np.asarray(c.video.embedding, np.float32) for c in candidates])
        interest = interest_vector(user)
        sim = emb @ interest if interest is not None and interest.shape[0] == emb.shape[1] else np.zeros(n)
        affinity = np.zeros(n)
        if not user.is_new and float(np.sum(user.engagement)) > 0:
            per_cat: dict[str, float] = {}
            for cat, e in zip(user.categories, np.asarray(user.engagement, np.float64), strict=False):
                per_cat[cat] = per_cat.get(cat, 0.0) + float(e)
            total = sum(per_cat.values())
            affinity = np.array([per_cat.get(c.video.category, 0.0) / total for c in candidates])
        counters = np.array(
            [(c.stats.impressions, c.stats.plays, c.stats.long_views, c.stats.likes, c.stats.follows, c.stats.shares)
             for c in candidates],
            np.float64,
        ).reshape(n, 6)  # fmt: skip
        impressions, plays, long_views, likes, follows, shares = counters.T
        content = np.array([(c.video.quality, c.video.created_at) for c in candidates], np.float64).reshape(
            n, 2
        )
        pop = (long_views + 2 * likes + 3 * shares + 3 * follows + 1) / (impressions + 10) * np.log1p(plays)
        pop_n = pop / (pop + 1.0)
        like_rate = (likes + 0.5) / (plays + 10.0)
        follow_rate = (follows + 0.1) / (plays + 10.0)
        long_rate = (long_views + 2.0) / (plays + 5.0)
        play_rate = (plays + 1.0) / (impressions + 5.0)
        quality = content[:, 0] / 100.0 - 0.5
        age_days = np.maximum(0.0, now - content[:, 1]) / DAY_S
        fresh = np.power(0.5, age_days / 3.0)
        click = _sigmoid(
            -1.5 + 3.0 * sim + 1.0 * affinity + 1.5 * pop_n + 1.0 * play_rate + quality + 0.5 * fresh
        )
        return {
            "click": click,
            "long_view": click * _sigmoid(-0.5 + 2.0 * sim + 2.0 * long_rate + 1.5 * quality),
            "like": click * _sigmoid(-2.5 + 2.0 * sim + 8.0 * like_rate),
            "follow": click * _sigmoid(-3.5 + 2.0 * sim + 20.0 * follow_rate),
        }


def longest_valid(counts: dict[str, int], run_category: str | None, run_length: int, max_run: int) -> int:
    """How long a sequence drawn from items of these categories (counts) can be without more than
    `max_run` of one category in a row, continuing a run of `run_length` items of `run_category`.

    A category with n items among `others` of other categories fits when n <= max_run * (others + 1)
    (blocks of at most max_run between the others), less the run it continues; beyond that, its extra
    items cannot be placed."""
    total = sum(counts.values())
    best = total
    for category, n in counts.items():
        others = total - n
        room = max_run * (others + 1) - (run_length if category == run_category else 0)
        best = min(best, others + max(0, min(n, room)))
    return best


def diversify(categories: Sequence[str], limit: int, max_run: int) -> list[int]:
    """Indexes into `categories` (given best first), at most `limit`: the best next item that neither
    makes more than `max_run` of one category in a row nor leaves the rest of the page unable to avoid
    that. Where the candidates cannot avoid it (one category left), the best item is taken."""
    remaining = list(range(len(categories)))
    counts = Counter(categories)
    out: list[int] = []
    run_category: str | None = None
    run_length = 0
    while remaining and len(out) < limit:
        slots_after = min(limit - len(out), len(remaining)) - 1
        chosen: int | None = None
        fallback: int | None = None
        for i in remaining:
            c = categories[i]
            length = run_length + 1 if c == run_category else 1
            if length > max_run:
                continue
            if fallback is None:
                fallback = i
            counts[c] -= 1
            fits = longest_valid(+counts, c, length, max_run) >= slots_after
            counts[c] += 1
            if fits:
                chosen = i
                break
        pick = chosen if chosen is not None else fallback if fallback is not None else remaining[0]
        c = categories[pick]
        run_length = run_length + 1 if c == run_category else 1
        run_category = c
        counts[c] -= 1
        remaining.remove(pick)
        out.append(pick)
    return out


class FeatureSnapshot:
    """Every video's features and eligibility in memory, kept current through `changed_since`, with the
    counters of eligible videos and the global fresh and popular lists derived from them.

    Work per refresh is bounded, so the request that happens to do it stays fast: the features that
    changed (a handful in steady state), the counters of one slice of the catalogue (every video's are
    re-read within `stats_refresh_s`; a new video's at once), popularity as one vectorised pass, and the
    cold-start score of the videos inside the fresh window only. The first load reads everything.
    Changes are read from `overlap_s` before the previous read (a write that became visible late, or
    was stamped by a clock a little behind, is still caught), so a burst of writes is read again for
    `overlap_s` at most, not on every refresh."""

    def __init__(
        self,
        store: FeatureStore,
        video_stats: Callable[[Sequence[str]], dict[str, VideoStats]],
        cold_start: Callable[[], ColdStartScorer],
        config: FeedConfig,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._video_stats = video_stats
        self._cold_start = cold_start
        self.config = config
        self.clock = clock
        self.features: dict[str, VideoFeatures] = {}
        self.eligible: set[str] = set()
        self.stats: dict[str, VideoStats] = {}
        self.fresh: tuple[str, ...] = ()
        self.popular: tuple[str, ...] = ()
        self._updated: dict[str, float] = {}
        self._rows: dict[str, int] = {}  # video id -> row of the arrays below
        self._ids: list[str] = []
        self._ok = np.zeros(0, bool)  # eligible, per row
        self._created = np.zeros(0, np.float64)
        self._quality = np.zeros(0, np.float64)
        self._counters = np.zeros((0, 6), np.float64)  # VideoStats fields, in order, per row
        self._stats_cursor = 0
        self._read_from = 0.0  # every write older than this was visible at an earlier read
        self._checked_at = -math.inf
        self._loaded = False
        self._lock = threading.Lock()

    def refresh(self, *, force: bool = False) -> bool:
        """Read what changed when `refresh_s` has passed (or `force`: everything, as the first load does);
        True when any video changed. One thread refreshes at a time; the others keep serving from the
        current snapshot, except before the first load, which they wait for."""
        now = self.clock()
        if not force and now - self._checked_at < self.config.refresh_s:
            return False
        if not self._lock.acquire(blocking=not self._loaded):
            return False
        try:
            first = force or not self._loaded
            self._checked_at = now
            changed, new_ids = self._read_changes(self._read_from)
            self._read_from = max(self._read_from, now - self.config.overlap_s)
            self._read_stats(self._ids if first else new_ids + self._stats_slice())
            self._derive(now)
            if first:
                log.info("feature snapshot: %d videos, %d eligible", len(self._ids), len(self.eligible))
            self._loaded = True
            return changed
        finally:
            self._lock.release()

    def _row(self, video_id: str) -> int:
        row = self._rows.get(video_id)
        if row is None:
            row = len(self._ids)
            if row == len(self._ok):
                size = max(1024, 2 * row)
                self._ok = np.resize(self._ok, size)
                self._created = np.resize(self._created, size)
                self._quality = np.resize(self._quality, size)
                self._counters = np.resize(self._counters, (size, 6))
            self._counters[row] = 0.0
            self._rows[video_id] = row
            self._ids.append(video_id)
        return row

    def _read_changes(self, since: float) -> tuple[bool, list[str]]:
        changed = False
        new_ids: list[str] = []
        for features, eligible, updated_at in self.store.changed_since(since):
            vid = features.video_id
            known = self._updated.get(vid, -math.inf)
            if updated_at < known or (updated_at == known and (vid in self.eligible) == eligible):
                continue  # an older or the same version, read again through the overlap
            if vid not in self.stats:
                new_ids.append(vid)  # new, or never eligible before: its counters are read at once
            row = self._row(vid)
            self._updated[vid] = updated_at
            self.features[vid] = features
            self._ok[row] = eligible
            self._created[row] = features.created_at
            self._quality[row] = features.quality
            if eligible:
                self.eligible.add(vid)
            else:
                self.eligible.discard(vid)
            changed = True
        return changed, new_ids

    def _stats_slice(self) -> list[str]:
        """The next slice of the catalogue whose counters are due, round robin."""
        n = len(self._ids)
        if n == 0:
            return []
        size = max(1, math.ceil(n * self.config.refresh_s / self.config.stats_refresh_s))
        start = self._stats_cursor % n
        self._stats_cursor = start + size
        return self._ids[start : start + size] + self._ids[: max(0, start + size - n)]

    def _read_stats(self, ids: Sequence[str]) -> None:
        wanted = [v for v in dict.fromkeys(ids) if v in self.eligible]
        if not wanted:
            return
        found = self._video_stats(wanted)
        for vid in wanted:
            stats = found.get(vid, VideoStats())
            self.stats[vid] = stats
            self._counters[self._rows[vid]] = (
                stats.impressions, stats.plays, stats.long_views, stats.likes, stats.follows, stats.shares,
            )  # fmt: skip

    def _derive(self, now: float) -> None:
        n = len(self._ids)
        ok = self._ok[:n]
        impressions, plays, long_views, likes, follows, shares = self._counters[:n].T
        pop = (long_views + 2 * likes + 3 * shares + 3 * follows + 1) / (impressions + 10) * np.log1p(plays)
        rows = np.flatnonzero(ok)
        keep = self.config.popular_k * 5  # room for what a user has seen
        order = np.lexsort((-self._quality[rows], -pop[rows]))[:keep]  # popularity, then quality
        self.popular = tuple(self._ids[r] for r in rows[order])
        recent = np.flatnonzero(ok & (now - self._created[:n] <= self.config.fresh_window_s))
        if len(recent) == 0:
            self.fresh = ()
            return
        ids = [self._ids[r] for r in recent]
        cands = [Candidate(self.features[v], self.stats.get(v, VideoStats())) for v in ids]
        scores = np.asarray(self._cold_start()(cands, now), np.float64).reshape(len(ids))
        best = np.lexsort((np.array(ids), -scores))[: self.config.fresh_k * 5]
        self.fresh = tuple(ids[i] for i in best)


@dataclass(frozen=True, slots=True)
class FeedItem:
    video_id: str
    score: float
    reason: str  # interest | fresh | popular
    category: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "video_id": self.video_id,
            "score": round(self.score, 6),
            "reason": self.reason,
            "category": self.category,
        }


@dataclass(frozen=True, slots=True)
class FeedPage:
    request_id: str  # clients send it back with the impressions and plays of these items
    user_id: str
    ranker: str  # the ranker's version
    items: list[FeedItem]

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "user_id": self.user_id,
            "ranker": self.ranker,
            "items": [item.to_dict() for item in self.items],
        }


def validate_user_id(user_id: str) -> str:
    if not USER_ID.fullmatch(user_id):
        raise BadRequest(
            "the user id must be 1-128 characters: letters, digits and _ . : @ -, starting with a letter "
            "or a digit"
        )
    return user_id


class FeedService:
    def __init__(
        self,
        features: FeatureStore,
        interactions: InteractionStore,
        index: Callable[[], VectorIndex],
        *,
        ranker: Ranker | Callable[[], Ranker | None] | None = None,
        cold_start: Callable[[], ColdStartScorer | None] | None = None,
        config: FeedConfig = FeedConfig(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.interactions = interactions
        self._index = index
        self._ranker = ranker
        self._cold_start_source = cold_start
        self.config = config
        self.clock = clock
        self.default_ranker = InterestPopularityRanker()
        self.snapshot = FeatureSnapshot(features, interactions.video_stats, self._cold_start, config, clock)

    def ranker(self) -> Ranker:
        """The fixed ranker, else the provider's current one (a promoted model), else the default."""
        source = self._ranker
        if source is None:
            return self.default_ranker
        if hasattr(source, "score"):
            return cast(Ranker, source)
        provided = source()
        return provided if provided is not None else self.default_ranker

    def _cold_start(self) -> ColdStartScorer:
        """The provider's current cold-start scorer (a content-only model), else `quality_cold_start`."""
        provided = None if self._cold_start_source is None else self._cold_start_source()
        return provided if provided is not None else quality_cold_start

    def feed(self, user_id: str, limit: int = 20) -> FeedPage:
        validate_user_id(user_id)
        if not 1 <= limit <= self.config.max_limit:
            raise BadRequest(f"limit must be between 1 and {self.config.max_limit}")
        snap = self.snapshot
        snap.refresh()
        now = self.clock()
        user = history_from_events(
            user_id, self.interactions.history(user_id, self.config.history_limit), snap.features
        )
        seen = self.interactions.seen(user_id)
        found = self.candidates(user, seen)
        ranker = self.ranker()
        items: list[FeedItem] = []
        if found:
            cands = [Candidate(snap.features[v], snap.stats.get(v, VideoStats())) for v in found]
            scores = self.config.weights.combine(ranker.score(user, cands, now), len(cands))
            order = sorted(range(len(cands)), key=lambda i: (-scores[i], cands[i].video.video_id))
            cats = [cands[i].video.category for i in order]
            reasons = list(found.values())
            for j in diversify(cats, limit, self.config.max_same_category):
                i = order[j]
                items.append(FeedItem(cands[i].video.video_id, float(scores[i]), reasons[i], cats[j]))
        return FeedPage(uuid.uuid4().hex, user_id, ranker.version, items)

    def candidates(self, user: UserHistory, seen: set[str]) -> dict[str, str]:
        """video id -> the source that found it first (interest, fresh, popular); none seen or ineligible."""
        snap = self.snapshot
        eligible = snap.eligible
        out: dict[str, str] = {}

        def take(ids: Sequence[str], reason: str, k: int) -> None:
            n = 0
            for vid in ids:
                if n == k:
                    return
                if vid not in out and vid in eligible and vid not in seen and vid in snap.features:
                    out[vid] = reason
                    n += 1

        interest = interest_vector(user)
        if interest is not None:
            hits = self._index().query(interest, min(MAX_KNN, self.config.interest_k + len(seen)))
            take([h.id for h in hits], INTEREST, self.config.interest_k)
        take(snap.fresh, FRESH, self.config.fresh_k)
        take(snap.popular, POPULAR, self.config.popular_k)
        return out
