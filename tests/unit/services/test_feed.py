"""Feed rules on the real local stores (SQLite features and interactions, an hnswlib index): exclusions,
new users, interest candidates that follow the history, diversity, the ranker seam, input checks."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reelmind.adapters.local.features import SqliteFeatureStore
from reelmind.adapters.local.interactions import SqliteInteractionStore
from reelmind.adapters.local.vectors import HnswVectorIndex
from reelmind.domain.interactions import Interaction, InteractionType
from reelmind.errors import BadRequest
from reelmind.ranking.types import TASKS, Candidate, UserHistory, VideoFeatures
from reelmind.services.feed import FeedConfig, FeedService, diversify

DIM = 32
NOW = 1_800_000_000.0
CATEGORIES = ("animals", "food", "sports", "vehicles")


def max_run(categories: Sequence[str]) -> int:
    return max((len(list(g)) for _, g in itertools.groupby(categories)), default=0)


# -- diversity ------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    cats=st.lists(st.sampled_from("ABC"), min_size=1, max_size=7),
    limit=st.integers(1, 7),
    n=st.integers(1, 3),
)
def test_diversify_never_makes_longer_runs_than_the_candidates_force(
    cats: list[str], limit: int, n: int
) -> None:
    picked = diversify(cats, limit, n)
    assert len(picked) == min(limit, len(cats)) and len(set(picked)) == len(picked)
    possible = any(
        max_run([cats[i] for i in perm]) <= n
        for perm in itertools.permutations(range(len(cats)), len(picked))
    )
    if possible:
        assert max_run([cats[i] for i in picked]) <= n, (cats, limit, n, picked)


def test_diversify_keeps_the_ranking_where_the_rule_allows() -> None:
    cats = ["A", "A", "A", "B", "A", "C"]
    assert diversify(cats, 6, 2) == [0, 1, 3, 2, 4, 5]
    assert diversify(["A", "B", "A", "B"], 4, 2) == [0, 1, 2, 3]
    assert diversify(["A", "A", "A"], 3, 2) == [0, 1, 2]  # nothing else to put between them


# -- a small world on the real local stores -------------------------------------------------------


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    features: SqliteFeatureStore
    interactions: SqliteInteractionStore
    index: HnswVectorIndex
    clock: Clock
    videos: dict[str, VideoFeatures]

    def service(self, **kwargs: object) -> FeedService:
        config = kwargs.pop("config", FeedConfig())
        return FeedService(
            self.features,
            self.interactions,
            lambda: self.index,
            config=config,  # type: ignore[arg-type]
            clock=self.clock,
            **kwargs,  # type: ignore[arg-type]
        )

    def put(self, video: VideoFeatures, *, eligible: bool = True) -> None:
        self.videos[video.video_id] = video
        self.features.put_features(video, eligible=eligible, updated_at=self.clock())
        self.index.upsert([video.video_id], video.embedding[None, :], [{"video_id": video.video_id}])

    def watch(self, user: str, video_id: str, *, watch_s: float = 30.0, like: bool = False) -> None:
        """An impression and a play (and a like) of the video, as a client reports them."""
        self.clock.now += 60
        req = uuid.uuid4().hex
        events = [
            Interaction(
                uuid.uuid4().hex, user, video_id, InteractionType.IMPRESSION, self.clock.now, request_id=req
            ),
            Interaction(
                uuid.uuid4().hex, user, video_id, InteractionType.PLAY, self.clock.now + 1, watch_s, 0, req
            ),
        ]
        if like:
            events.append(
                Interaction(
                    uuid.uuid4().hex, user, video_id, InteractionType.LIKE, self.clock.now + 2, request_id=req
                )
            )
        self.interactions.put_events(events)

    def show(self, user: str, video_id: str) -> None:
        self.clock.now += 1
        event = Interaction(uuid.uuid4().hex, user, video_id, InteractionType.IMPRESSION, self.clock.now)
        self.interactions.put_events([event])


def _unit(v: np.ndarray) -> np.ndarray:
    out: np.ndarray = (v / np.linalg.norm(v)).astype(np.float32)
    return out


@pytest.fixture
def world(tmp_path: Path) -> World:
    """60 videos, 15 per category, each embedding near its category's centroid; uploads spread over
    ten days; quality varies. Nobody has watched anything yet."""
    rng = np.random.default_rng(7)
    centroids = {c: _unit(rng.standard_normal(DIM)) for c in CATEGORIES}
    w = World(
        SqliteFeatureStore(tmp_path / "features.db"),
        SqliteInteractionStore(tmp_path / "interactions.db", long_view_s=10.0),
        HnswVectorIndex(tmp_path / "vectors", DIM),
        Clock(NOW),
        {},
    )
    for i in range(60):
        cat = CATEGORIES[i % 4]
        w.put(
            VideoFeatures(
                video_id=f"{cat[:3]}{i:02d}",
                category=cat,
                quality=float(40 + (i * 7) % 60),
                embedding=_unit(centroids[cat] + 0.12 * rng.standard_normal(DIM)),
                created_at=NOW - (i % 10) * 86400.0 - 3600.0,
                duration_s=30.0,
            )
        )
    return w


def ids_of(page: object) -> list[str]:
    return [item.video_id for item in page.items]  # type: ignore[attr-defined]


def test_a_new_user_gets_a_diversified_page_of_fresh_and_popular_videos(world: World) -> None:
    page = world.service().feed("newcomer", limit=20)
    assert len(page.items) == 20 and len(set(ids_of(page))) == 20
    assert {i.reason for i in page.items} <= {"fresh", "popular"} and "fresh" in {
        i.reason for i in page.items
    }
    assert max_run([i.category for i in page.items]) <= 2
    assert all(0.0 <= i.score <= 1.0 for i in page.items)
    assert page.ranker == "interest-popularity-1" and len(page.request_id) == 32
    assert world.service().feed("newcomer", limit=20).request_id != page.request_id


def test_interest_candidates_follow_the_history(world: World) -> None:
    for vid in ("ani00", "ani04", "ani08", "ani12"):
        world.watch("cat-lover", vid, like=True)
    for vid in ("foo01", "foo05", "foo09", "foo13"):
        world.watch("foodie", vid, like=True)
    svc = world.service(config=FeedConfig(interest_k=10))
    for user, cat in (("cat-lover", "animals"), ("foodie", "food")):
        page = svc.feed(user, limit=30)
        interest = [i for i in page.items if i.reason == "interest"]
        assert len(interest) >= 8
        assert sum(i.category == cat for i in interest) / len(interest) >= 0.8, [i.category for i in interest]
        top = [i.category for i in page.items[:6]]
        assert top.count(cat) >= 3, top  # the interest ranks high, within the diversity rule
        assert max_run([i.category for i in page.items]) <= 2


def test_seen_blocked_duplicate_and_deleted_videos_never_appear(world: World) -> None:
    world.watch("u1", "ani00", like=True)
    world.show("u1", "ani04")  # shown, never played: still seen
    excluded = {"ani08": "blocked", "ani12": "duplicate", "ani16": "deleted"}
    for vid in excluded:
        world.features.put_features(world.videos[vid], eligible=False, updated_at=world.clock())
    svc = world.service(config=FeedConfig(max_limit=60))
    page = svc.feed("u1", limit=60)
    shown = set(ids_of(page))
    assert len(shown) == 60 - 2 - 3
    assert not shown & {"ani00", "ani04", *excluded}


def test_a_video_made_ineligible_leaves_the_feed_at_the_next_refresh(world: World) -> None:
    config = FeedConfig(refresh_s=2.0, max_limit=60)
    svc = world.service(config=config)
    assert "veh03" in ids_of(svc.feed("u2", limit=60))
    world.clock.now += 1
    world.features.put_features(world.videos["veh03"], eligible=False, updated_at=world.clock())
    world.clock.now += 2
    assert "veh03" not in ids_of(svc.feed("u2", limit=60))
    world.clock.now += 1
    world.features.put_features(world.videos["veh03"], eligible=True, updated_at=world.clock())
    world.clock.now += 2
    assert "veh03" in ids_of(svc.feed("u2", limit=60))


class Prefers:
    """A ranker that likes one video above all."""

    def __init__(self, video_id: str) -> None:
        self.video_id = video_id
        self.version = f"prefers-{video_id}"
        self.calls: list[tuple[UserHistory, int]] = []

    def score(self, user: UserHistory, candidates: Sequence[Candidate], now: float) -> dict[str, np.ndarray]:
        self.calls.append((user, len(candidates)))
        p = np.array([0.9 if c.video.video_id == self.video_id else 0.1 for c in candidates])
        return {t: p for t in TASKS}


def test_a_ranker_or_a_ranker_provider_plugs_in(world: World) -> None:
    fixed = Prefers("spo42")
    page = world.service(ranker=fixed).feed("u3", limit=5)
    assert page.ranker == "prefers-spo42" and page.items[0].video_id == "spo42"
    assert page.items[0].score == pytest.approx(0.9) and fixed.calls[0][0].user_id == "u3"
    promoted: list[Prefers] = []
    svc = world.service(ranker=lambda: promoted[-1] if promoted else None)
    assert svc.feed("u3", limit=5).ranker == "interest-popularity-1"
    promoted.append(Prefers("veh07"))
    assert ids_of(svc.feed("u3", limit=5))[0] == "veh07"


def test_popular_videos_rise_for_a_new_user(world: World) -> None:
    for n in range(12):
        world.watch(f"fan{n}", "spo30", watch_s=40.0, like=True)
    world.clock.now += 60  # past the counters' refresh interval
    page = world.service().feed("someone-new", limit=10)
    first = page.items[0]
    assert first.video_id == "spo30" and first.reason in {"popular", "fresh"}


def test_counters_are_re_read_in_slices_within_the_stats_interval(world: World) -> None:
    svc = world.service(config=FeedConfig(refresh_s=1.0, stats_refresh_s=4.0))
    assert svc.feed("early-bird", limit=10).items[0].video_id != "spo30"
    for n in range(12):
        world.watch(f"fan{n}", "spo30", watch_s=40.0, like=True)
    assert svc.snapshot.stats["spo30"].plays == 0  # not re-read yet
    for _ in range(5):  # one slice (a quarter of the catalogue) per refresh
        world.clock.now += 1.0
        svc.snapshot.refresh()
    assert svc.snapshot.stats["spo30"].plays == 12
    assert svc.feed("late-comer", limit=10).items[0].video_id == "spo30"


class CountingStore:
    """The real feature store, counting the rows each `changed_since` gives."""

    def __init__(self, store: SqliteFeatureStore) -> None:
        self.store = store
        self.rows: list[int] = []

    def put_features(self, features: VideoFeatures, *, eligible: bool, updated_at: float) -> None:
        self.store.put_features(features, eligible=eligible, updated_at=updated_at)

    def get_features(self, video_ids: Sequence[str]) -> dict[str, VideoFeatures]:
        return self.store.get_features(video_ids)

    def changed_since(self, updated_at: float) -> Iterator[tuple[VideoFeatures, bool, float]]:
        found = list(self.store.changed_since(updated_at))
        self.rows.append(len(found))
        return iter(found)


def test_late_writes_are_caught_and_old_ones_are_not_read_again(world: World) -> None:
    counting = CountingStore(world.features)
    svc = FeedService(counting, world.interactions, lambda: world.index, clock=world.clock)
    svc.snapshot.refresh()
    world.clock.now += 20.0
    svc.snapshot.refresh()
    assert counting.rows == [60, 60]  # written just before the first read: read once more, then no more
    # stamped 5 s before the last refresh (a lagging index, a writer's clock a little behind)
    world.features.put_features(world.videos["foo05"], eligible=False, updated_at=world.clock() - 5.0)
    for _ in range(15):
        world.clock.now += 2.0
        svc.snapshot.refresh()
    assert "foo05" not in svc.snapshot.eligible
    assert counting.rows[2] == 1 and sum(counting.rows[3:]) <= 4  # read again only within the overlap
    assert counting.rows[-5:] == [0] * 5


@pytest.mark.parametrize("user_id", ["", "a" * 129, "bad id", "../etc", "-lead", "é"])
def test_a_bad_user_id_is_refused(world: World, user_id: str) -> None:
    with pytest.raises(BadRequest, match="user id"):
        world.service().feed(user_id)


@pytest.mark.parametrize("limit", [0, 51])
def test_a_limit_out_of_range_is_refused(world: World, limit: int) -> None:
    with pytest.raises(BadRequest, match="limit"):
        world.service().feed("u4", limit=limit)
