"""From the interaction log to training examples: labels per impression, replayed counters and histories.

The same code reads the production export and the simulator's log, so a model trained on either sees the
same labels and the same features.

Labels, per impression (KuaiRand's signals):
- `click`: the viewer played the video from this impression (a `play` event).
- `long_view`: the plays of this impression add up to at least `long_view_threshold(duration)`, which
  is `min(LONG_VIEW_S, LONG_VIEW_FRACTION * duration_s)`: 18 s of a long video, or nearly all (90 %) of
  a short one.
- `like`, `follow`: a `like` / `follow` event.

An event is attributed to an impression of the same user and video: the one with its `request_id` when
it has one, otherwise the latest impression at or before it, at most `ATTRIBUTION_S` earlier. Events
that match no impression (a video opened from a shared link, say) give no label.

Features are replayed from the log in time order, so an example sees only what serving would have seen
when the impression was made: the video's counters from impressions strictly before it (counted as
the interaction stores count them), and the user's history (played videos, most recent last) from
plays before its request.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reelmind.domain.interactions import EXPORT_COLUMNS, Interaction, InteractionType
from reelmind.ranking.types import TASKS, UserHistory, VideoFeatures

LONG_VIEW_S = 18.0
LONG_VIEW_FRACTION = 0.9
ATTRIBUTION_S = 6 * 3600.0
#: how many past plays an example's history keeps (most recent last)
HISTORY_LEN = 100
#: the user's own counters cover their last this many impressions: what the feed's window of recent
#: events (`InteractionStore.history`, 200 events) holds, so training and serving count alike
USER_WINDOW = 100
#: the long-view counter of `VideoStats` as the interaction stores keep it: plain watch time, since a store
#: does not know durations (their `REELMIND_LONG_VIEW_S` default); replayed counters follow the same rule
COUNTER_LONG_VIEW_S = 10.0
#: the order of `VideoStats` fields as columns of a counters matrix
STATS_FIELDS = ("impressions", "plays", "long_views", "likes", "follows", "shares")


def long_view_threshold(duration_s: np.ndarray | float) -> np.ndarray:
    return np.minimum(LONG_VIEW_S, LONG_VIEW_FRACTION * np.asarray(duration_s, np.float64))


def engagement(labels: np.ndarray) -> np.ndarray:
    """0..1 per played video from its (click, long_view, like, follow) labels: a play is 0.25, each
    further signal adds 0.25. What `UserHistory.engagement` holds."""
    labels = np.asarray(labels, np.float32).reshape(-1, len(TASKS))
    out: np.ndarray = labels.sum(axis=1) / len(TASKS)
    return out.astype(np.float32)


@dataclass(frozen=True, slots=True)
class EventLog:
    """Interaction events as columns (the export's columns, in its order). Missing values: `watch_s`
    NaN, `position` -1, `request_id` None."""

    event_id: np.ndarray  # object (str)
    user_id: np.ndarray  # object (str)
    video_id: np.ndarray  # object (str)
    type: np.ndarray  # object (str, an InteractionType value)
    at: np.ndarray  # float64
    watch_s: np.ndarray  # float64
    position: np.ndarray  # int64
    request_id: np.ndarray  # object (str | None)

    def __len__(self) -> int:
        return len(self.event_id)

    @classmethod
    def from_interactions(cls, events: Iterable[Interaction]) -> EventLog:
        rows = list(events)
        return cls(
            event_id=_objects([e.event_id for e in rows]),
            user_id=_objects([e.user_id for e in rows]),
            video_id=_objects([e.video_id for e in rows]),
            type=_objects([e.type.value for e in rows]),
            at=np.array([e.at for e in rows], np.float64),
            watch_s=np.array([np.nan if e.watch_s is None else e.watch_s for e in rows], np.float64),
            position=np.array([-1 if e.position is None else e.position for e in rows], np.int64),
            request_id=_objects([e.request_id for e in rows]),
        )

    def interactions(self) -> list[Interaction]:
        return [
            Interaction(
                event_id=str(self.event_id[i]),
                user_id=str(self.user_id[i]),
                video_id=str(self.video_id[i]),
                type=InteractionType(self.type[i]),
                at=float(self.at[i]),
                watch_s=None if np.isnan(self.watch_s[i]) else float(self.watch_s[i]),
                position=None if self.position[i] < 0 else int(self.position[i]),
                request_id=None if self.request_id[i] is None else str(self.request_id[i]),
            )
            for i in range(len(self))
        ]

    def take(self, index: np.ndarray) -> EventLog:
        return EventLog(**{name: getattr(self, name)[index] for name in EXPORT_COLUMNS})

    @staticmethod
    def concat(logs: Sequence[EventLog]) -> EventLog:
        return EventLog(**{name: np.concatenate([getattr(g, name) for g in logs]) for name in EXPORT_COLUMNS})


def _objects(values: Sequence[Any]) -> np.ndarray:
    out = np.empty(len(values), object)
    out[:] = values
    return out


# ------------------------------------------------------------------------------------------- Parquet


def to_parquet(log: EventLog) -> bytes:
    """The log as one Parquet file with `EXPORT_COLUMNS`, the production export's schema."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "event_id": pa.array(log.event_id.tolist(), pa.string()),
            "user_id": pa.array(log.user_id.tolist(), pa.string()),
            "video_id": pa.array(log.video_id.tolist(), pa.string()),
            "type": pa.array(log.type.tolist(), pa.string()),
            "at": pa.array(log.at, pa.float64()),
            "watch_s": pa.array(log.watch_s, pa.float64(), mask=np.isnan(log.watch_s)),
            "position": pa.array(log.position, pa.int64(), mask=log.position < 0),
            "request_id": pa.array(log.request_id.tolist(), pa.string()),
        }
    ).select(list(EXPORT_COLUMNS))
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def from_parquet(data: bytes) -> EventLog:
    """Read a Parquet file with (at least) `EXPORT_COLUMNS`; other columns are ignored."""
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data), columns=list(EXPORT_COLUMNS))
    cols = {name: table.column(name) for name in EXPORT_COLUMNS}
    return EventLog(
        event_id=_objects(cols["event_id"].to_pylist()),
        user_id=_objects(cols["user_id"].to_pylist()),
        video_id=_objects(cols["video_id"].to_pylist()),
        type=_objects(cols["type"].to_pylist()),
        at=cols["at"].to_numpy().astype(np.float64),
        watch_s=cols["watch_s"].cast("float64").fill_null(np.nan).to_numpy().astype(np.float64),
        position=cols["position"].cast("int64").fill_null(-1).to_numpy().astype(np.int64),
        request_id=_objects(cols["request_id"].to_pylist()),
    )


# ------------------------------------------------------------------------------------------- labels


@dataclass(frozen=True, slots=True)
class Impressions:
    """One row per impression, in time order, with its labels (columns in `TASKS` order)."""

    event_id: np.ndarray  # object: the impression event's id
    user_id: np.ndarray  # object
    video_id: np.ndarray  # object
    request_id: np.ndarray  # object (a synthetic "~user@at" when the impression had none)
    at: np.ndarray  # float64
    position: np.ndarray  # int64, -1 unknown
    watch_s: np.ndarray  # float64: seconds played from this impression (0 when not played)
    shares: np.ndarray  # int64: share events attributed to it
    labels: np.ndarray  # (n, 4) float32

    def __len__(self) -> int:
        return len(self.event_id)


def label_impressions(log: EventLog, durations: Mapping[str, float]) -> Impressions:
    """Labels of every impression of a video with a known duration (see the module doc for the rules)."""
    imp_rows = np.flatnonzero(log.type == InteractionType.IMPRESSION.value)
    imp_rows = imp_rows[np.fromiter((v in durations for v in log.video_id[imp_rows]), bool, len(imp_rows))]
    imp_rows = imp_rows[np.argsort(log.at[imp_rows], kind="stable")]
    n = len(imp_rows)
    by_request: dict[tuple[str, str, str], int] = {}
    by_pair: dict[tuple[str, str], list[int]] = defaultdict(list)  # row numbers, ascending time
    for i, r in enumerate(imp_rows):
        user, video, req = log.user_id[r], log.video_id[r], log.request_id[r]
        if req is not None:
            by_request[user, video, req] = i
        by_pair[user, video].append(i)
    imp_at = log.at[imp_rows]

    watch = np.zeros(n, np.float64)
    played = np.zeros(n, bool)
    liked = np.zeros(n, bool)
    followed = np.zeros(n, bool)
    shares = np.zeros(n, np.int64)
    other = np.flatnonzero(
        np.isin(
            log.type, [InteractionType.PLAY.value, InteractionType.LIKE.value, InteractionType.FOLLOW.value]
        )
        | (log.type == InteractionType.SHARE.value)
    )
    for r in other:
        user, video, req, at = log.user_id[r], log.video_id[r], log.request_id[r], log.at[r]
        i = by_request.get((user, video, req), -1) if req is not None else -1
        if i < 0:
            rows = by_pair.get((user, video))
            if not rows:
                continue
            times = imp_at[rows]
            k = int(np.searchsorted(times, at, side="right")) - 1
            if k < 0 or at - times[k] > ATTRIBUTION_S:
                continue
            i = rows[k]
        kind = log.type[r]
        if kind == InteractionType.PLAY.value:
            played[i] = True
            w = log.watch_s[r]
            watch[i] += 0.0 if np.isnan(w) else w
        elif kind == InteractionType.LIKE.value:
            liked[i] = True
        elif kind == InteractionType.FOLLOW.value:
            followed[i] = True
        else:
            shares[i] += 1
    duration = np.array([durations[v] for v in log.video_id[imp_rows]], np.float64)
    long_view = played & (watch >= long_view_threshold(duration))
    labels = np.stack([played, long_view, liked, followed], axis=1).astype(np.float32)
    requests = log.request_id[imp_rows].copy()
    missing = np.array([r is None for r in requests], bool)
    for j in np.flatnonzero(missing):
        requests[j] = f"~{log.user_id[imp_rows[j]]}@{imp_at[j]:.0f}"
    return Impressions(
        event_id=log.event_id[imp_rows],
        user_id=log.user_id[imp_rows],
        video_id=log.video_id[imp_rows],
        request_id=requests,
        at=imp_at,
        position=log.position[imp_rows],
        watch_s=watch,
        shares=shares,
        labels=labels,
    )


# ------------------------------------------------------------------------------------------- replay


@dataclass(frozen=True, slots=True)
class VideoTable:
    """The videos a set of examples refers to, as columns (row i is `ids[i]`)."""

    ids: np.ndarray  # object
    index: dict[str, int]
    author_id: np.ndarray  # object
    category: np.ndarray  # object
    quality: np.ndarray  # float32
    created_at: np.ndarray  # float64
    duration_s: np.ndarray  # float32
    embedding: np.ndarray  # (m, dim) float32

    @classmethod
    def of(cls, videos: Iterable[VideoFeatures]) -> VideoTable:
        rows = list(videos)
        dim = rows[0].embedding.shape[0] if rows else 0
        return cls(
            ids=_objects([v.video_id for v in rows]),
            index={v.video_id: i for i, v in enumerate(rows)},
            author_id=_objects([v.author_id for v in rows]),
            category=_objects([v.category for v in rows]),
            quality=np.array([v.quality for v in rows], np.float32),
            created_at=np.array([v.created_at for v in rows], np.float64),
            duration_s=np.array([v.duration_s for v in rows], np.float32),
            embedding=np.stack([np.asarray(v.embedding, np.float32) for v in rows])
            if rows
            else np.zeros((0, dim), np.float32),
        )

    def durations(self) -> dict[str, float]:
        return {str(v): float(d) for v, d in zip(self.ids, self.duration_s, strict=True)}


@dataclass(frozen=True, slots=True)
class Examples:
    """Impressions with what serving would have known then: the input of `features.encode`.

    Rows are impressions; groups are requests (one user, one moment), whose history rows share.
    `hist_idx` holds rows of `videos`, most recent last, -1 padding on the left.
    """

    videos: VideoTable
    row_video: np.ndarray  # (n,) int: row of videos
    row_group: np.ndarray  # (n,) int
    now: np.ndarray  # (n,) float64: the impression time
    stats: np.ndarray  # (n, 6) float32, STATS_FIELDS before the impression
    labels: np.ndarray  # (n, 4) float32
    user_id: np.ndarray  # (n,) object, for per-user metrics
    event_id: np.ndarray  # (n,) object: the impression event
    position: np.ndarray  # (n,) int64
    group_user: np.ndarray  # (g,) object
    hist_idx: np.ndarray  # (g, H) int64
    hist_eng: np.ndarray  # (g, H) float32
    group_impressions: np.ndarray  # (g,) the user's impressions before the request
    group_plays: np.ndarray  # (g,) ... of which played

    def __len__(self) -> int:
        return len(self.row_video)

    def take(self, rows: np.ndarray) -> Examples:
        """A subset of rows (groups are kept whole; unused ones cost nothing)."""
        return Examples(
            videos=self.videos,
            row_video=self.row_video[rows],
            row_group=self.row_group[rows],
            now=self.now[rows],
            stats=self.stats[rows],
            labels=self.labels[rows],
            user_id=self.user_id[rows],
            event_id=self.event_id[rows],
            position=self.position[rows],
            group_user=self.group_user,
            hist_idx=self.hist_idx,
            hist_eng=self.hist_eng,
            group_impressions=self.group_impressions,
            group_plays=self.group_plays,
        )

    def with_labels(self, labels: np.ndarray) -> Examples:
        return Examples(
            self.videos,
            self.row_video,
            self.row_group,
            self.now,
            self.stats,
            np.asarray(labels, np.float32),
            self.user_id,
            self.event_id,
            self.position,
            self.group_user,
            self.hist_idx,
            self.hist_eng,
            self.group_impressions,
            self.group_plays,
        )


def build_examples(
    log: EventLog,
    videos: VideoTable,
    history_len: int = HISTORY_LEN,
    counter_long_view_s: float = COUNTER_LONG_VIEW_S,
) -> Examples:
    """Label every impression and replay the counters and histories it was served with."""
    imps = label_impressions(log, videos.durations())
    n = len(imps)
    row_video = np.array([videos.index[v] for v in imps.video_id], np.int64)
    shared = imps.shares > 0

    # counters strictly before each impression: per video, cumulative sums in time order minus own row
    outcome = np.concatenate(
        [np.ones((n, 1)), imps.labels.astype(np.float64), shared[:, None].astype(np.float64)], axis=1
    )
    outcome[:, 2] = (imps.labels[:, 0] > 0) & (imps.watch_s >= counter_long_view_s)
    order = np.lexsort((imps.at, row_video))
    cum = np.cumsum(outcome[order], axis=0) - outcome[order]
    starts = np.r_[0, np.flatnonzero(np.diff(row_video[order])) + 1]
    seg_id = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
    cum -= (np.cumsum(outcome[order], axis=0) - outcome[order])[starts][seg_id]
    stats = np.empty_like(cum)
    stats[order] = cum

    # requests: (user, request id) -> group, at its first impression's time
    group_keys: dict[tuple[str, str], int] = {}
    row_group = np.empty(n, np.int64)
    for i in range(n):
        row_group[i] = group_keys.setdefault((imps.user_id[i], imps.request_id[i]), len(group_keys))
    g = len(group_keys)
    group_user = _objects([k[0] for k in group_keys])
    group_at = np.full(g, np.inf)
    np.minimum.at(group_at, row_group, imps.at)

    # histories: each user's plays in time order; a request sees those before its time
    plays = np.flatnonzero(imps.labels[:, 0] > 0)
    users, user_of_play = np.unique(imps.user_id[plays].astype(str), return_inverse=True)
    p_order = np.lexsort((imps.at[plays], user_of_play))
    p_rows = plays[p_order]
    p_user = user_of_play[p_order]
    p_at = imps.at[p_rows]
    p_video = row_video[p_rows]
    p_eng = engagement(imps.labels[p_rows])
    seg_start = np.searchsorted(p_user, np.arange(len(users)), side="left")
    user_pos = {str(u): k for k, u in enumerate(users)}
    g_user = np.array([user_pos.get(str(u), -1) for u in group_user], np.int64)
    hist_idx = np.full((g, history_len), -1, np.int64)
    hist_eng = np.zeros((g, history_len), np.float32)
    has = g_user >= 0
    if has.any() and history_len > 0:
        gu = g_user[has]
        lo = seg_start[gu]
        # plays strictly before the request: search (user, time) keys, users spaced wider than any time span
        base = min(float(p_at.min()), float(group_at.min()))
        span = max(float(p_at.max()), float(group_at.max())) - base + 1.0
        keys = p_user * span + (p_at - base)
        end = np.searchsorted(keys, gu * span + (group_at[has] - base), side="left").astype(np.int64)
        take = end[:, None] - history_len + np.arange(history_len)[None, :]
        valid = take >= lo[:, None]
        take = np.where(valid, take, 0)
        hi_rows = np.where(valid, p_video[take] if len(p_video) else -1, -1)
        he_rows = np.where(valid, p_eng[take] if len(p_eng) else 0.0, 0.0)
        hist_idx[has] = hi_rows
        hist_eng[has] = he_rows
    group_impressions, group_plays = _recent_counts(
        imps.user_id, imps.at, imps.labels[:, 0] > 0, group_user, group_at, USER_WINDOW
    )
    return Examples(
        videos=videos,
        row_video=row_video,
        row_group=row_group,
        now=imps.at,
        stats=stats.astype(np.float32)[:, : len(STATS_FIELDS)],
        labels=imps.labels,
        user_id=imps.user_id,
        event_id=imps.event_id,
        position=imps.position,
        group_user=group_user,
        hist_idx=hist_idx,
        hist_eng=hist_eng,
        group_impressions=group_impressions,
        group_plays=group_plays,
    )


def _recent_counts(
    users: np.ndarray,
    at: np.ndarray,
    played: np.ndarray,
    query_users: np.ndarray,
    query_at: np.ndarray,
    window: int,
) -> tuple[np.ndarray, np.ndarray]:
    """For each (user, time) query: how many of that user's impressions strictly earlier, at most the last
    `window`, and how many of those were played."""
    n = len(query_users)
    if len(users) == 0 or n == 0:
        return np.zeros(n, np.int64), np.zeros(n, np.int64)
    _, inverse = np.unique(np.concatenate([users, query_users]).astype(str), return_inverse=True)
    row_user, query_user = inverse[: len(users)], inverse[len(users) :]
    base = min(float(at.min()), float(query_at.min()))
    span = max(float(at.max()), float(query_at.max())) - base + 1.0
    keys = row_user * span + (at - base)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    cum_played = np.r_[0, np.cumsum(played[order].astype(np.int64))]
    first = np.searchsorted(keys, query_user * span, side="left")
    end = np.searchsorted(keys, query_user * span + (query_at - base), side="left")
    start = np.maximum(first, end - window)
    return (end - start).astype(np.int64), (cum_played[end] - cum_played[start]).astype(np.int64)


def history_from_events(
    user_id: str,
    events: Iterable[Interaction],
    videos: Mapping[str, VideoFeatures],
    limit: int = HISTORY_LEN,
) -> UserHistory:
    """A user's `UserHistory` from their events (any order; `InteractionStore.history` gives newest
    first), with the same labels and engagement as training: played videos, most recent last."""
    rows = [e for e in events if e.user_id == user_id and e.video_id in videos]
    if not rows:
        return UserHistory(user_id=user_id)
    log = EventLog.from_interactions(rows)
    imps = label_impressions(log, {v: videos[v].duration_s for v in set(log.video_id.tolist())})
    played_all = np.flatnonzero(imps.labels[:, 0] > 0)
    played = played_all[-limit:]
    ids = tuple(str(v) for v in imps.video_id[played])
    recent = imps.labels[-USER_WINDOW:, 0]
    impressions, plays = len(recent), int((recent > 0).sum())
    if not ids:
        return UserHistory(user_id=user_id, impressions=impressions, plays=plays)
    return UserHistory(
        user_id=user_id,
        video_ids=ids,
        embeddings=np.stack([np.asarray(videos[v].embedding, np.float32) for v in ids]),
        engagement=engagement(imps.labels[played]),
        categories=tuple(videos[v].category for v in ids),
        impressions=impressions,
        plays=plays,
    )
