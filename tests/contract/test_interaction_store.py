"""InteractionStore contract, on SQLite and on the DynamoDB interactions table: each event stored once,
history newest first, seen videos, counters that never count a duplicate, and the export's time window."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from reelmind.domain.interactions import Interaction, InteractionType
from reelmind.ports import InteractionStore, Stored
from reelmind.ranking.types import VideoStats
from tests.contract.conftest import ADAPTERS

LONG_VIEW_S = 10.0
DAY = 86400.0
T0 = 1_795_000_000.0  # 2026-11-18T11:06:40Z

OpenStore = Callable[[], InteractionStore]


@pytest.fixture(params=ADAPTERS)
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> OpenStore:
    """A new adapter object over the test's storage on each call (a restarted process)."""
    if request.param == "aws":
        from reelmind.adapters.aws.interactions import DynamoInteractionStore

        name = request.getfixturevalue("interactions_table")
        return lambda: DynamoInteractionStore(name, long_view_s=LONG_VIEW_S)
    from reelmind.adapters.local.interactions import SqliteInteractionStore

    return lambda: SqliteInteractionStore(tmp_path / "interactions.db", long_view_s=LONG_VIEW_S)


@pytest.fixture
def store(open_store: OpenStore) -> InteractionStore:
    return open_store()


def ev(
    event_id: str,
    type_: InteractionType = InteractionType.IMPRESSION,
    *,
    user: str = "u1",
    video: str = "v1",
    at: float = T0,
    watch_s: float | None = None,
    position: int | None = None,
    request_id: str | None = None,
) -> Interaction:
    return Interaction(event_id, user, video, type_, at, watch_s, position, request_id)


def test_each_event_is_stored_once_and_a_retried_batch_is_all_duplicates(store: InteractionStore) -> None:
    batch = [
        ev("e1", position=0, request_id="r1"),
        ev("e2", InteractionType.PLAY, at=T0 + 1, watch_s=12.5, position=0, request_id="r1"),
    ]
    assert store.put_events(batch) == Stored(stored=2, duplicates=0)
    assert store.put_events(batch) == Stored(stored=0, duplicates=2)
    # A third batch mixing a new event with an old one, and the same new event twice.
    again = [ev("e3", InteractionType.LIKE, at=T0 + 2), batch[0], ev("e3", InteractionType.LIKE, at=T0 + 2)]
    assert store.put_events(again) == Stored(stored=1, duplicates=2)
    assert sorted(e.event_id for e in store.events_between(T0 - 1, T0 + 10)) == ["e1", "e2", "e3"]


def test_a_duplicate_id_never_rewrites_the_stored_event(store: InteractionStore) -> None:
    store.put_events([ev("e1", at=T0, video="v1")])
    changed = ev("e1", InteractionType.PLAY, at=T0 + 5, video="v2", watch_s=30.0)
    assert store.put_events([changed]) == Stored(stored=0, duplicates=1)
    assert store.history("u1", 10) == [ev("e1", at=T0, video="v1")]
    assert store.video_stats(["v1", "v2"]) == {"v1": VideoStats(impressions=1)}


def test_every_field_round_trips(store: InteractionStore) -> None:
    full = ev("e-ü/1", InteractionType.PLAY, user="用户#7", video="v#9", at=T0 + 0.123456, watch_s=3.25,
              position=4, request_id="req-1")  # fmt: skip
    bare = ev("e2", InteractionType.SHARE, at=T0 + 1)
    store.put_events([full, bare])
    assert store.history("用户#7", 5) == [full]
    assert store.history("u1", 5) == [bare]


def test_history_is_newest_first_per_user_and_limited(store: InteractionStore) -> None:
    events = [ev(f"e{i}", at=T0 + i, video=f"v{i}") for i in range(6)]
    other = ev("x", user="u2", at=T0 + 100)
    store.put_events([*events[3:], other, *events[:3]])  # arrival order differs from event time
    assert [e.event_id for e in store.history("u1", 4)] == ["e5", "e4", "e3", "e2"]
    assert [e.event_id for e in store.history("u1", 50)] == ["e5", "e4", "e3", "e2", "e1", "e0"]
    assert store.history("u2", 10) == [other]
    assert store.history("nobody", 10) == []
    assert store.history("u1", 0) == []


def test_seen_is_every_video_the_user_had_an_event_for(store: InteractionStore) -> None:
    store.put_events(
        [
            ev("a", video="v1"),
            ev("b", InteractionType.PLAY, video="v2", watch_s=1.0),
            ev("c", InteractionType.SKIP, video="v3"),
            ev("d", video="v1", at=T0 + 1),
            ev("e", user="u2", video="v4"),
        ]
    )
    assert store.seen("u1") == {"v1", "v2", "v3"}
    assert store.seen("u2") == {"v4"}
    assert store.seen("nobody") == set()


def test_counters_follow_the_counting_rule(store: InteractionStore) -> None:
    store.put_events(
        [
            ev("i1", video="v1"),
            ev("i2", video="v1", user="u2"),
            ev("p-short", InteractionType.PLAY, video="v1", watch_s=LONG_VIEW_S - 0.5),
            ev("p-long", InteractionType.PLAY, video="v1", watch_s=LONG_VIEW_S),
            ev("l", InteractionType.LIKE, video="v1"),
            ev("f", InteractionType.FOLLOW, video="v1"),
            ev("s", InteractionType.SHARE, video="v1"),
            ev("k", InteractionType.SKIP, video="v2"),
            ev("p3", InteractionType.PLAY, video="v3", watch_s=45.0, user="u3"),
        ]
    )
    expected = {
        "v1": VideoStats(impressions=2, plays=2, long_views=1, likes=1, follows=1, shares=1),
        "v3": VideoStats(plays=1, long_views=1),
    }
    stats = store.video_stats(["v1", "v2", "v3", "absent"])
    # v2 had only a skip, which counts nothing: absent or all zeros are both "no engagement".
    assert stats.pop("v2", VideoStats()) == VideoStats()
    assert stats == expected


def test_duplicates_never_count_twice(open_store: OpenStore) -> None:
    batch = [ev("p", InteractionType.PLAY, watch_s=60.0), ev("i")]
    open_store().put_events(batch)
    open_store().put_events(batch)  # a retry, from a fresh process
    open_store().put_events([batch[1], ev("i2")])
    assert open_store().video_stats(["v1"]) == {"v1": VideoStats(impressions=2, plays=1, long_views=1)}


def test_video_stats_reads_many_ids_at_once(store: InteractionStore) -> None:
    store.put_events([ev(f"e{i}", video=f"v{i}") for i in range(130)])
    wanted = [f"v{i}" for i in range(130)] + ["v0", "nope"]  # over one BatchGetItem, one id twice
    stats = store.video_stats(wanted)
    assert set(stats) == {f"v{i}" for i in range(130)}
    assert all(s == VideoStats(impressions=1) for s in stats.values())


def test_events_between_is_a_half_open_window_across_days(store: InteractionStore) -> None:
    times = {
        "before": T0 - 0.001,
        "start": T0,
        "same-day": T0 + 3600.5,
        "next-day": T0 + DAY,
        "two-days-on": T0 + 2 * DAY + 5,
        "end": T0 + 3 * DAY,
        "after": T0 + 3 * DAY + 60,
    }
    store.put_events([ev(name, at=at, user=name) for name, at in times.items()])
    window = list(store.events_between(T0, T0 + 3 * DAY))
    assert sorted(e.event_id for e in window) == ["next-day", "same-day", "start", "two-days-on"]
    assert {e.event_id: e.at for e in window}["same-day"] == times["same-day"]
    later = store.events_between(T0 + 3 * DAY, T0 + 4 * DAY)
    assert sorted(e.event_id for e in later) == ["after", "end"]
    assert list(store.events_between(T0 + 10 * DAY, T0 + 11 * DAY)) == []
    assert list(store.events_between(T0, T0)) == []


def test_events_between_sees_many_events_of_one_day(store: InteractionStore) -> None:
    events = [ev(f"e{i:03d}", at=T0 + i * 7.0, user=f"u{i % 9}", video=f"v{i % 13}") for i in range(240)]
    store.put_events(events)
    got = sorted(store.events_between(T0, T0 + DAY), key=lambda e: e.event_id)
    assert got == events
