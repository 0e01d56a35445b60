"""Labels from events, Parquet in the export's columns, and replayed counters and histories."""

from __future__ import annotations

import io

import numpy as np
import pyarrow.parquet as pq
import pytest

from reelmind.domain.interactions import EXPORT_COLUMNS, Interaction, InteractionType
from reelmind.ranking.dataset import (
    ATTRIBUTION_S,
    EventLog,
    VideoTable,
    build_examples,
    from_parquet,
    history_from_events,
    label_impressions,
    long_view_threshold,
    to_parquet,
)
from reelmind.ranking.simulator import SimLog
from reelmind.ranking.types import VideoFeatures

T = 1_800_000_000.0


def _video(vid: str, duration: float, category: str = "animals") -> VideoFeatures:
    emb = np.zeros(4, np.float32)
    emb[ord(vid[0]) % 4] = 1.0
    return VideoFeatures(vid, category, 50.0, emb, T - 1000, duration, author_id="a")


def _ev(n: int, user: str, video: str, kind: InteractionType, at: float, **kw: object) -> Interaction:
    return Interaction(f"e{n}", user, video, kind, at, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("duration", "watched", "long_view"),
    [(60.0, 17.99, False), (60.0, 18.0, True), (10.0, 8.99, False), (10.0, 9.0, True), (10.0, 25.0, True)],
)
def test_a_long_view_is_18_seconds_or_nine_tenths_of_a_short_video(
    duration: float, watched: float, long_view: bool
) -> None:
    log = EventLog.from_interactions(
        [
            _ev(1, "u", "v", InteractionType.IMPRESSION, T, position=0, request_id="r"),
            _ev(2, "u", "v", InteractionType.PLAY, T + 5, watch_s=watched, position=0, request_id="r"),
        ]
    )
    labels = label_impressions(log, {"v": duration}).labels
    assert labels.tolist() == [[1.0, float(long_view), 0.0, 0.0]]
    assert float(long_view_threshold(duration)) == min(18.0, 0.9 * duration)


def test_events_are_attributed_by_request_or_to_the_latest_impression_in_the_window() -> None:
    log = EventLog.from_interactions(
        [
            _ev(1, "u", "v", InteractionType.IMPRESSION, T, position=0, request_id="r1"),
            _ev(2, "u", "v", InteractionType.IMPRESSION, T + 100, position=3, request_id="r2"),
            # names the first request: goes there although the second impression is later
            _ev(3, "u", "v", InteractionType.LIKE, T + 200, request_id="r1"),
            # no request: the latest impression before it (the second)
            _ev(4, "u", "v", InteractionType.PLAY, T + 150, watch_s=5.0),
            _ev(5, "u", "v", InteractionType.PLAY, T + 160, watch_s=14.0),  # replays add up: 19 s
            # too late after any impression: no label
            _ev(6, "u", "v", InteractionType.FOLLOW, T + 100 + ATTRIBUTION_S + 1),
            # a video never shown to this user, and another user's event: nothing
            _ev(7, "u", "w", InteractionType.PLAY, T + 10, watch_s=30.0),
            _ev(8, "x", "v", InteractionType.LIKE, T + 10),
            _ev(9, "u", "v", InteractionType.SHARE, T + 170),
        ]
    )
    imps = label_impressions(log, {"v": 60.0, "w": 60.0})
    assert imps.event_id.tolist() == ["e1", "e2"]
    assert imps.labels.tolist() == [[0, 0, 1, 0], [1, 1, 0, 0]]
    assert imps.watch_s.tolist() == [0.0, 19.0]
    assert imps.shares.tolist() == [0, 1]


def test_impressions_of_videos_without_features_are_left_out() -> None:
    log = EventLog.from_interactions([_ev(1, "u", "gone", InteractionType.IMPRESSION, T, position=0)])
    assert len(label_impressions(log, {"v": 10.0})) == 0


def test_parquet_keeps_every_column_and_missing_value(sim: SimLog) -> None:
    log = sim.log.take(np.arange(500))
    data = to_parquet(log)
    table = pq.read_table(io.BytesIO(data))
    assert tuple(table.column_names) == EXPORT_COLUMNS
    back = from_parquet(data)
    assert back.interactions() == log.interactions()
    assert table.column("watch_s").null_count == int(np.isnan(log.watch_s).sum()) > 0
    assert table.column("position").null_count == int((log.position < 0).sum()) > 0


def test_interactions_round_trip_through_the_columns() -> None:
    events = [
        _ev(1, "u", "v", InteractionType.IMPRESSION, T, position=2, request_id="r"),
        _ev(2, "u", "v", InteractionType.PLAY, T + 1, watch_s=3.5, position=2),
        _ev(3, "u", "v", InteractionType.SKIP, T + 2),
    ]
    assert EventLog.from_interactions(events).interactions() == events
    assert from_parquet(to_parquet(EventLog.from_interactions(events))).interactions() == events


def test_examples_see_only_counters_and_history_from_before_them() -> None:
    videos = VideoTable.of([_video("a", 30.0), _video("b", 30.0), _video("c", 30.0)])
    events = [
        # request 1: a and b shown, a played to the end and liked
        _ev(1, "u", "a", InteractionType.IMPRESSION, T, position=0, request_id="q1"),
        _ev(2, "u", "b", InteractionType.IMPRESSION, T + 1, position=1, request_id="q1"),
        _ev(3, "u", "a", InteractionType.PLAY, T + 40, watch_s=30.0, position=0, request_id="q1"),
        _ev(4, "u", "a", InteractionType.LIKE, T + 41, request_id="q1"),
        # another user sees a, plays it briefly
        _ev(5, "z", "a", InteractionType.IMPRESSION, T + 100, position=0, request_id="q2"),
        _ev(6, "z", "a", InteractionType.PLAY, T + 105, watch_s=2.0, request_id="q2"),
        # request 3 of u: a and c
        _ev(7, "u", "a", InteractionType.IMPRESSION, T + 200, position=0, request_id="q3"),
        _ev(8, "u", "c", InteractionType.IMPRESSION, T + 201, position=1, request_id="q3"),
        _ev(9, "u", "c", InteractionType.PLAY, T + 230, watch_s=20.0, request_id="q3"),
    ]
    ex = build_examples(EventLog.from_interactions(events), videos, history_len=3)
    assert ex.event_id.tolist() == ["e1", "e2", "e5", "e7", "e8"]
    # impressions, plays, long views, likes, follows, shares before each impression of the same video
    assert ex.stats[0].tolist() == [0, 0, 0, 0, 0, 0]
    assert ex.stats[2].tolist() == [1, 1, 1, 1, 0, 0]  # z sees u's play of a
    assert ex.stats[3].tolist() == [2, 2, 1, 1, 0, 0]
    assert ex.stats[4].tolist() == [0, 0, 0, 0, 0, 0]
    # histories: q1 none; q3 has a (played, long view, like: engagement 3/4); c's play comes later
    assert ex.row_group[0] == ex.row_group[1] != ex.row_group[3] == ex.row_group[4]
    g1, g3 = ex.row_group[0], ex.row_group[3]
    assert ex.hist_idx[g1].tolist() == [-1, -1, -1]
    assert ex.hist_idx[g3].tolist() == [-1, -1, videos.index["a"]]
    assert ex.hist_eng[g3].tolist() == [0.0, 0.0, 0.75]
    assert ex.labels.tolist() == [[1, 1, 1, 0], [0, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 0, 0]]
    # the user's own counters: before q3, u had two impressions and one play
    assert (ex.group_impressions[g1], ex.group_plays[g1]) == (0, 0)
    assert (ex.group_impressions[g3], ex.group_plays[g3]) == (2, 1)


def test_history_from_events_matches_training(examples: object) -> None:
    videos = {v: _video(v, 30.0, category=c) for v, c in (("a", "food"), ("b", "music"))}
    events = [
        _ev(1, "u", "a", InteractionType.IMPRESSION, T, position=0, request_id="q"),
        _ev(2, "u", "b", InteractionType.IMPRESSION, T + 1, position=1, request_id="q"),
        _ev(3, "u", "b", InteractionType.PLAY, T + 10, watch_s=3.0, request_id="q"),
        _ev(4, "u", "a", InteractionType.PLAY, T + 50, watch_s=28.0, request_id="q"),
        _ev(5, "u", "a", InteractionType.FOLLOW, T + 51, request_id="q"),
    ]
    history = history_from_events("u", reversed(events), videos)
    assert history.video_ids == ("a", "b")  # in impression order, most recent last
    assert history.categories == ("food", "music")
    assert history.engagement.tolist() == [0.75, 0.25]
    assert history.embeddings.shape == (2, 4)
    assert (history.impressions, history.plays) == (2, 2)
    assert history_from_events("nobody", events, videos).is_new


def test_a_users_own_counters_cover_their_last_hundred_impressions_in_training_and_serving() -> None:
    videos = {f"v{i}": _video(f"v{i}", 30.0) for i in range(131)}
    events = []
    for i in range(131):  # one impression per request; every third one played
        at = T + 100.0 * i
        events.append(
            _ev(2 * i, "u", f"v{i}", InteractionType.IMPRESSION, at, position=0, request_id=f"q{i}")
        )
        if i % 3 == 0:
            events.append(
                _ev(2 * i + 1, "u", f"v{i}", InteractionType.PLAY, at + 5, watch_s=3.0, request_id=f"q{i}")
            )
    ex = build_examples(EventLog.from_interactions(events), VideoTable.of(videos.values()))
    last = ex.row_group[-1]  # before the 131st request: 130 impressions, of which the last 100 count
    plays_in_last_100 = sum(1 for i in range(30, 130) if i % 3 == 0)
    assert (ex.group_impressions[last], ex.group_plays[last]) == (100, plays_in_last_100)
    g10 = ex.row_group[10]
    assert (ex.group_impressions[g10], ex.group_plays[g10]) == (10, 4)
    served = history_from_events("u", [e for e in events if e.at < T + 100.0 * 130], videos)
    assert (served.impressions, served.plays) == (100, plays_in_last_100)
