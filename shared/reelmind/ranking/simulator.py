"""A seeded synthetic world of users and videos whose true engagement probabilities are known.

No public short-video log installs offline, so ranking is trained and judged on this simulator. It
writes the same `Interaction` events a client posts (impression, play with watch_s, like, follow,
share, skip), and keeps for every impression the oracle's probabilities of KuaiRand's four signals.

The world:
- Videos: a top-level taxonomy category (the mix is skewed), an author (authors mostly stay in one
  category), quality 0-100, a duration (log-normal, median 20 s), an upload time, and a unit embedding
  near its category's centroid. The centroids are random unit vectors, or any vectors passed in (for
  example the MiniLM embeddings of the category names, `text_centroids`). A latent *appeal* (standard
  normal over the catalogue) comes mostly from content: quality, the category, a "trend" direction in
  embedding space, duration; the rest is noise no feature sees.
- Users: two to four interest points (unit vectors near a centroid of a category they like) and their
  own propensities to click, like and follow. Affinity to a video is its best cosine to an interest
  point. Each day a user focuses on one interest, which the serving policy partly follows, so recent
  history is narrower than long-term interest.
- Serving: each request shows `page` videos already uploaded: half from the day's focus category,
  half from the whole catalogue weighted by popularity (plays so far), in random order.
- Outcomes: click = examined (position bias, 1/(1+pos)^0.4) and attracted (logit of affinity, appeal,
  popularity so far, the user's bias); then, given a play, long view, like and follow are independent
  draws with their own logits. The oracle's probabilities are the unconditional ones (P(click and
  long view), ...), the same quantities the ranker predicts.
- Events: an impression per shown video; a skip for about half the unplayed ones; a play with its
  watch time (above `long_view_threshold` exactly when the draw was a long view); like, follow and a
  few shares after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from reelmind.domain.interactions import InteractionType
from reelmind.ranking.dataset import EventLog, VideoTable, _objects, long_view_threshold
from reelmind.ranking.types import TASKS, VideoFeatures

if TYPE_CHECKING:
    from reelmind.models.text import TextEmbedder

DAY = 86_400.0
#: the part of a video's appeal no feature sees (the rest comes from quality, category, trend, duration)
APPEAL_NOISE = 0.35
#: the simulation's clock starts here (2026-01-01 UTC), so logs look like real epoch seconds
EPOCH = 1_767_225_600.0


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return out


def _unit(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = (x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)).astype(np.float32)
    return out


@dataclass(frozen=True, slots=True)
class SimConfig:
    seed: int = 0
    n_users: int = 300
    n_videos: int = 600
    n_authors: int = 120
    dim: int = 32
    days: int = 8
    #: videos are uploaded from `upload_lead_days` before the first day to the last day
    upload_lead_days: float = 20.0
    requests_per_day: float = 2.0  # mean per user (each user's own rate is gamma-distributed)
    page: int = 8
    embedding_noise: float = 0.8  # norm of the noise added to a category centroid (a video)
    interest_noise: float = 0.3  # norm of the noise added to a category centroid (a user's interest point)
    position_bias: float = 0.4  # examination probability 1/(1+pos)^position_bias
    popularity_bias: float = 0.15  # click logit per log1p(plays so far)
    categories: tuple[str, ...] = ()  # empty: the taxonomy's top-level ids


@dataclass(frozen=True, slots=True)
class Videos:
    """The catalogue: features as ranking sees them, plus the latent truths only the oracle knows."""

    features: tuple[VideoFeatures, ...]
    appeal: np.ndarray  # (m,) latent, standard normal over the catalogue
    category_index: np.ndarray  # (m,) int
    author_index: np.ndarray  # (m,) int

    @property
    def table(self) -> VideoTable:
        return VideoTable.of(self.features)


@dataclass(frozen=True, eq=False)
class Catalogue:
    """How videos are drawn: categories, their centroids, share and appeal, the trend, the authors."""

    config: SimConfig
    categories: tuple[str, ...]
    centroids: np.ndarray  # (C, dim)
    category_share: np.ndarray  # (C,)
    category_appeal: np.ndarray  # (C,)
    trend: np.ndarray  # (dim,) unit
    author_category: np.ndarray  # (A,)
    author_followability: np.ndarray  # (A,)

    def draw(self, rng: np.random.Generator, n: int, t_lo: float, t_hi: float, prefix: str) -> Videos:
        return _make_videos(self, rng, n, t_lo, t_hi, prefix)


@dataclass(eq=False)
class World:
    catalogue: Catalogue
    videos: Videos
    user_ids: tuple[str, ...]
    user_points: np.ndarray  # (U, P, dim), zero rows unused
    user_point_category: np.ndarray  # (U, P) int, -1 unused
    user_point_weight: np.ndarray  # (U, P)
    user_rate: np.ndarray  # (U,) requests per day
    user_click_bias: np.ndarray
    user_like_bias: np.ndarray
    user_follow_bias: np.ndarray
    videos_embedding: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.videos_embedding = np.stack([v.embedding for v in self.videos.features]).astype(np.float32)

    @property
    def config(self) -> SimConfig:
        return self.catalogue.config

    @property
    def categories(self) -> tuple[str, ...]:
        return self.catalogue.categories

    # ------------------------------------------------------------------- the oracle
    def affinity(self, users: np.ndarray, videos: np.ndarray) -> np.ndarray:
        """Best cosine of each (user, video) pair to one of the user's interest points."""
        points = self.user_points[users]  # (n, P, dim)
        emb = self.videos_embedding[videos]  # (n, dim)
        cos = np.einsum("npd,nd->np", points, emb)
        cos = np.where(self.user_point_category[users] >= 0, cos, -1.0)
        out: np.ndarray = cos.max(axis=1)
        return out

    def logits(
        self, users: np.ndarray, videos: np.ndarray, plays_so_far: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Logits of attraction (before position bias), and of long view, like, follow given a play."""
        aff = self.affinity(users, videos)
        appeal = self.videos.appeal[videos]
        duration = np.array([self.videos.features[v].duration_s for v in videos], np.float64)
        quality = np.array([self.videos.features[v].quality for v in videos], np.float64)
        author = self.videos.author_index[videos]
        click = (
            -1.2
            + 3.0 * aff
            + 0.7 * appeal
            + self.config.popularity_bias * np.log1p(plays_so_far)
            + self.user_click_bias[users]
        )
        long_view = -0.3 + 2.0 * aff + 0.8 * appeal - 0.6 * np.log(duration / 20.0) + 0.01 * (quality - 60.0)
        like = -2.6 + 2.0 * aff + 0.9 * appeal + self.user_like_bias[users]
        follow = (
            -4.0
            + 2.0 * aff
            + 0.3 * appeal
            + 0.8 * self.catalogue.author_followability[author]
            + self.user_follow_bias[users]
        )
        return click, long_view, like, follow

    def probabilities(
        self, users: np.ndarray, videos: np.ndarray, positions: np.ndarray, plays_so_far: np.ndarray
    ) -> np.ndarray:
        """(n, 4) true probabilities of click, long_view, like, follow (unconditional), `TASKS` order."""
        click, long_view, like, follow = self.logits(users, videos, plays_so_far)
        p_click = self.examination(positions) * _sigmoid(click)
        out = np.stack(
            [p_click, p_click * _sigmoid(long_view), p_click * _sigmoid(like), p_click * _sigmoid(follow)],
            axis=1,
        )
        return out

    def examination(self, positions: np.ndarray) -> np.ndarray:
        out: np.ndarray = 1.0 / (1.0 + np.maximum(positions, 0)) ** self.config.position_bias
        return out

    # ------------------------------------------------------------------- catalogue
    def new_videos(self, n: int, created_at: float, seed: int) -> Videos:
        """`n` more videos from the same process (for cold start), uploaded at `created_at`."""
        rng = np.random.default_rng([self.config.seed, seed, 7])
        return self.catalogue.draw(rng, n, created_at, created_at, prefix=f"n{seed}-")


def text_centroids(embedder: TextEmbedder, categories: Sequence[str]) -> np.ndarray:
    """Category centroids in the real semantic space: the MiniLM embeddings of the category names
    ("a video about Animals"), so simulated embeddings live where the embed analyzer's do."""
    from reelmind.domain.taxonomy import default_taxonomy

    tax = default_taxonomy()
    names = [tax.level1[c].en if c in tax.level1 else c for c in categories]
    return _unit(np.asarray(embedder([f"a video about {n}" for n in names]), np.float32))


def cached_text_centroids(embedder: TextEmbedder, categories: Sequence[str], cache: Path) -> np.ndarray:
    """`text_centroids`, kept in `cache` (an .npy per category list) so tests and benchmarks embed once."""
    import hashlib

    key = hashlib.sha256(("\n".join(categories)).encode()).hexdigest()[:16]
    path = cache / f"category-centroids-{key}.npy"
    if path.exists():
        out: np.ndarray = np.load(path)
        return out
    centroids = text_centroids(embedder, categories)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, centroids)
    return centroids


def make_world(config: SimConfig, centroids: np.ndarray | None = None) -> World:
    """A world drawn from `config.seed`; `centroids` (C, dim) replaces the random category centroids."""
    from reelmind.domain.taxonomy import default_taxonomy

    rng = np.random.default_rng([config.seed, 1])
    categories = config.categories or default_taxonomy().level1_ids
    c = len(categories)
    if centroids is None:
        centroids = _unit(rng.standard_normal((c, config.dim)))
    centroids = _unit(np.asarray(centroids, np.float32))
    if centroids.shape[0] != c:
        raise ValueError(f"need {c} centroids, got {centroids.shape[0]}")
    dim = centroids.shape[1]
    share = rng.dirichlet(np.full(c, 2.0))
    catalogue = Catalogue(
        config=config,
        categories=tuple(categories),
        centroids=centroids,
        category_share=share,
        category_appeal=rng.normal(0.0, 0.5, c),
        trend=_unit(np.asarray(rng.standard_normal(dim))),
        author_category=rng.choice(c, size=config.n_authors, p=share),
        author_followability=rng.normal(0.0, 1.0, config.n_authors),
    )
    start = EPOCH - config.upload_lead_days * DAY
    videos = catalogue.draw(rng, config.n_videos, start, EPOCH + config.days * DAY, prefix="v")

    u = config.n_users
    n_points = 4
    counts = rng.integers(2, n_points + 1, size=u)
    used = np.arange(n_points)[None, :] < counts[:, None]
    point_cat = np.where(used, rng.choice(c, size=(u, n_points), p=share), -1)
    noise = rng.standard_normal((u, n_points, dim))
    noise *= config.interest_noise / np.linalg.norm(noise, axis=-1, keepdims=True)
    points = _unit(centroids[np.maximum(point_cat, 0)] + noise) * used[..., None]
    weight = rng.dirichlet(np.ones(n_points), size=u) * used
    return World(
        catalogue=catalogue,
        videos=videos,
        user_ids=tuple(f"u{config.seed}-{i:05d}" for i in range(u)),
        user_points=points.astype(np.float32),
        user_point_category=point_cat,
        user_point_weight=weight / weight.sum(axis=1, keepdims=True),
        user_rate=rng.gamma(2.0, config.requests_per_day / 2.0, size=u),
        user_click_bias=rng.normal(0.0, 0.3, u),
        user_like_bias=rng.normal(0.0, 0.7, u),
        user_follow_bias=rng.normal(0.0, 0.7, u),
    )


def _make_videos(
    world: Catalogue, rng: np.random.Generator, n: int, t_lo: float, t_hi: float, prefix: str
) -> Videos:
    c = len(world.categories)
    dim = world.centroids.shape[1]
    author = rng.integers(0, len(world.author_category), size=n)
    own = rng.random(n) < 0.8
    category = np.where(own, world.author_category[author], rng.choice(c, size=n, p=world.category_share))
    noise = rng.standard_normal((n, dim))
    noise *= world.config.embedding_noise / np.linalg.norm(noise, axis=1, keepdims=True)
    embedding = _unit(world.centroids[category] + noise)
    quality = np.clip(rng.normal(60.0, 15.0, n), 0.0, 100.0)
    duration = np.clip(np.exp(rng.normal(np.log(20.0), 0.7, n)), 3.0, 300.0)
    created = np.sort(rng.uniform(t_lo, t_hi, n)) if t_hi > t_lo else np.full(n, t_lo)
    trend = embedding @ world.trend * np.sqrt(dim) * 0.5
    raw = (
        0.8 * (quality - 60.0) / 15.0
        + world.category_appeal[category]
        + trend
        - 0.3 * np.log(duration / 20.0)
        + rng.normal(0.0, APPEAL_NOISE, n)
    )
    # scaled by the process's own variance (not the sample's), so new videos are comparable
    appeal = raw / np.sqrt(0.8**2 + 0.5**2 + 0.5**2 + 0.3**2 * 0.7**2 + APPEAL_NOISE**2)
    features = tuple(
        VideoFeatures(
            video_id=f"{prefix}{world.config.seed}-{i:06d}",
            category=world.categories[category[i]],
            quality=float(round(quality[i], 1)),
            embedding=embedding[i],
            created_at=float(created[i]),
            duration_s=float(round(duration[i], 2)),
            author_id=f"a{world.config.seed}-{author[i]:05d}",
        )
        for i in range(n)
    )
    return Videos(features=features, appeal=appeal, category_index=category, author_index=author)


@dataclass(frozen=True, slots=True)
class SimLog:
    """What a simulation produced: the event log and, per impression event, the oracle's probabilities."""

    log: EventLog
    impression_ids: np.ndarray  # object
    oracle: np.ndarray  # (n, 4) in TASKS order, aligned with impression_ids

    def oracle_for(self, event_ids: np.ndarray) -> np.ndarray:
        index = {e: i for i, e in enumerate(self.impression_ids)}
        return self.oracle[[index[e] for e in event_ids]]


def simulate(world: World, seed: int | None = None) -> SimLog:
    """Serve `config.days` days of requests and log what every user did."""
    cfg = world.config
    rng = np.random.default_rng([cfg.seed, 2 if seed is None else 1000 + seed])
    m = len(world.videos.features)
    created = np.array([v.created_at for v in world.videos.features])
    duration = np.array([v.duration_s for v in world.videos.features])
    by_category = [np.flatnonzero(world.videos.category_index == k) for k in range(len(world.categories))]
    plays = np.zeros(m)
    counter = 0
    request_no = 0
    columns: dict[str, list[np.ndarray]] = {
        k: [] for k in ("eid", "user", "video", "type", "at", "watch", "pos", "req")
    }
    oracle_parts: list[np.ndarray] = []
    imp_id_parts: list[np.ndarray] = []

    for day in range(cfg.days):
        day_start = EPOCH + day * DAY
        n_req = rng.poisson(world.user_rate)
        focus = np.array(
            [
                rng.choice(world.user_point_weight.shape[1], p=world.user_point_weight[u])
                for u in range(cfg.n_users)
            ]
        )
        req_user = np.repeat(np.arange(cfg.n_users), n_req)
        req_at = np.sort(day_start + rng.uniform(0, DAY - 3600.0, len(req_user)))
        rng.shuffle(req_user)
        users_l: list[np.ndarray] = []
        videos_l: list[np.ndarray] = []
        pos_l: list[np.ndarray] = []
        at_l: list[np.ndarray] = []
        req_l: list[np.ndarray] = []
        weight_all = np.where(created < day_start, (1.0 + plays) ** 0.5, 0.0)
        for u, t in zip(req_user, req_at, strict=True):
            live = created < t
            cat = world.user_point_category[u, focus[u]]
            pool = by_category[cat][live[by_category[cat]]]
            half = cfg.page // 2
            chosen = (
                rng.choice(pool, size=min(half, len(pool)), replace=False)
                if len(pool)
                else np.zeros(0, np.int64)
            )
            w = weight_all * live
            w[chosen] = 0.0
            rest = cfg.page - len(chosen)
            if w.sum() <= 0 or rest <= 0:
                continue
            other = rng.choice(m, size=min(rest, int((w > 0).sum())), replace=False, p=w / w.sum())
            page = np.concatenate([chosen, other]).astype(np.int64)
            rng.shuffle(page)
            users_l.append(np.full(len(page), u))
            videos_l.append(page)
            pos_l.append(np.arange(len(page)))
            at_l.append(t + np.arange(len(page)) * 25.0)
            req_l.append(np.full(len(page), request_no))
            request_no += 1
        if not users_l:
            continue
        users = np.concatenate(users_l)
        videos = np.concatenate(videos_l)
        pos = np.concatenate(pos_l)
        at = np.concatenate(at_l)
        reqs = np.concatenate(req_l)
        k = len(users)
        click_z, lv_z, like_z, follow_z = world.logits(users, videos, plays[videos])
        p_click = world.examination(pos) * _sigmoid(click_z)
        oracle = np.stack(
            [p_click, p_click * _sigmoid(lv_z), p_click * _sigmoid(like_z), p_click * _sigmoid(follow_z)],
            axis=1,
        )
        click = rng.random(k) < p_click
        lv = click & (rng.random(k) < _sigmoid(lv_z))
        like = click & (rng.random(k) < _sigmoid(like_z))
        follow = click & (rng.random(k) < _sigmoid(follow_z))
        share = like & (rng.random(k) < 0.2)
        skip = ~click & (rng.random(k) < 0.5)
        threshold = long_view_threshold(duration[videos])
        watch = np.where(
            lv, threshold * rng.uniform(1.0, 2.5, k) + 0.5, threshold * rng.uniform(0.05, 0.9, k)
        )
        watch = np.round(watch, 2)
        watch = np.where(
            lv, np.maximum(watch, np.ceil(threshold * 100) / 100), np.minimum(watch, threshold - 0.01)
        )

        ids = np.array([f"e{cfg.seed}-{counter + i:09d}" for i in range(k)], object)
        counter += k
        imp_id_parts.append(ids)
        oracle_parts.append(oracle)
        end = at + 1.0 + np.where(click, watch, 0.0)
        for kind, mask, when in (
            (InteractionType.IMPRESSION, np.ones(k, bool), at),
            (InteractionType.SKIP, skip, at + 1.0),
            (InteractionType.PLAY, click, end),
            (InteractionType.LIKE, like, at + 1.0 + watch * 0.5),
            (InteractionType.FOLLOW, follow, end),
            (InteractionType.SHARE, share, end + 1.0),
        ):
            rows = np.flatnonzero(mask)
            is_imp = kind is InteractionType.IMPRESSION
            columns["eid"].append(ids[rows] if is_imp else np.full(len(rows), None, object))
            columns["user"].append(users[rows])
            columns["video"].append(videos[rows])
            columns["type"].append(np.full(len(rows), kind.value, object))
            columns["at"].append(np.round(when[rows], 3))
            columns["watch"].append(
                watch[rows] if kind is InteractionType.PLAY else np.full(len(rows), np.nan)
            )
            shown = kind in {InteractionType.IMPRESSION, InteractionType.PLAY}
            columns["pos"].append(pos[rows] if shown else np.full(len(rows), -1, np.int64))
            columns["req"].append(reqs[rows])
        np.add.at(plays, videos[click], 1.0)

    user_names = _objects(list(world.user_ids))
    video_names = _objects([v.video_id for v in world.videos.features])
    event_ids = np.concatenate(columns["eid"]) if columns["eid"] else np.zeros(0, object)
    fresh = np.flatnonzero(np.array([e is None for e in event_ids], bool))
    event_ids[fresh] = _objects([f"e{cfg.seed}-{counter + i:09d}" for i in range(len(fresh))])
    if not columns["eid"]:
        return SimLog(_empty_log(), np.zeros(0, object), np.zeros((0, len(TASKS))))
    req = np.concatenate(columns["req"])
    log = EventLog(
        event_id=event_ids,
        user_id=user_names[np.concatenate(columns["user"]).astype(np.int64)],
        video_id=video_names[np.concatenate(columns["video"]).astype(np.int64)],
        type=np.concatenate(columns["type"]),
        at=np.concatenate(columns["at"]).astype(np.float64),
        watch_s=np.concatenate(columns["watch"]).astype(np.float64),
        position=np.concatenate(columns["pos"]).astype(np.int64),
        request_id=_objects([f"q{cfg.seed}-{r:07d}" for r in req]),
    )
    order = np.argsort(log.at, kind="stable")
    return SimLog(
        log=log.take(order),
        impression_ids=np.concatenate(imp_id_parts),
        oracle=np.concatenate(oracle_parts),
    )


def _empty_log() -> EventLog:
    empty = np.zeros(0, object)
    return EventLog(empty, empty, empty, empty, np.zeros(0), np.zeros(0), np.zeros(0, np.int64), empty)
