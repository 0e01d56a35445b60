"""Interaction store on SQLite: the event log keyed by event id, with per-user and per-video reads.

Tables:

* `interactions` - one row per event, `event_id` the primary key, so `INSERT OR IGNORE` stores an
  event once and tells a duplicate (a retried batch) by its row count. Indexed by `(user_id, at)`
  for history, `(user_id, video_id)` for seen, and `(at)` for the export's time window.
* `video_stats` - the counters of each video, bumped in the same transaction as the event rows, and
  only for events that were new, so a duplicate never counts twice.

Counters follow `reelmind.domain.engagement` (a long view is a play of at least `long_view_s`
seconds of watch time, since the store does not know durations). `seen` is every video the user has
any event for: each event type is about a video that was on the user's screen.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from reelmind.adapters.local.sqlite import Database
from reelmind.domain.engagement import COUNTERS, increments
from reelmind.domain.interactions import Interaction
from reelmind.ports import Stored
from reelmind.ranking.types import VideoStats

SCHEMA = """
CREATE TABLE IF NOT EXISTS interactions (
    event_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    video_id TEXT NOT NULL,
    type TEXT NOT NULL,
    at REAL NOT NULL,
    watch_s REAL,
    position INTEGER,
    request_id TEXT
);
CREATE INDEX IF NOT EXISTS interactions_by_user ON interactions (user_id, at, event_id);
CREATE INDEX IF NOT EXISTS interactions_by_user_video ON interactions (user_id, video_id);
CREATE INDEX IF NOT EXISTS interactions_by_time ON interactions (at);
CREATE TABLE IF NOT EXISTS video_stats (
    video_id TEXT PRIMARY KEY,
    impressions INTEGER NOT NULL DEFAULT 0,
    plays INTEGER NOT NULL DEFAULT 0,
    long_views INTEGER NOT NULL DEFAULT 0,
    likes INTEGER NOT NULL DEFAULT 0,
    follows INTEGER NOT NULL DEFAULT 0,
    shares INTEGER NOT NULL DEFAULT 0
);
"""

#: SQLite's default limit on bound parameters is 999 in older builds; stay under it.
_CHUNK = 500
_COLUMNS = "event_id, user_id, video_id, type, at, watch_s, position, request_id"


class SqliteInteractionStore:
    """The `InteractionStore` port on a SQLite file; `long_view_s` is the long-view watch threshold."""

    def __init__(self, path: Path, *, long_view_s: float) -> None:
        self.db = Database(path, SCHEMA)
        self.long_view_s = long_view_s

    def put_events(self, events: Sequence[Interaction]) -> Stored:
        stored = 0
        with self.db.tx() as conn:
            for e in events:
                cur = conn.execute(
                    f"INSERT OR IGNORE INTO interactions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        e.event_id,
                        e.user_id,
                        e.video_id,
                        e.type.value,
                        e.at,
                        e.watch_s,
                        e.position,
                        e.request_id,
                    ),
                )
                if cur.rowcount != 1:
                    continue
                stored += 1
                bumps = increments(e, self.long_view_s)
                if bumps:
                    conn.execute("INSERT OR IGNORE INTO video_stats (video_id) VALUES (?)", (e.video_id,))
                    sets = ", ".join(f"{name} = {name} + ?" for name in bumps)
                    conn.execute(
                        f"UPDATE video_stats SET {sets} WHERE video_id = ?", [*bumps.values(), e.video_id]
                    )
        return Stored(stored=stored, duplicates=len(events) - stored)

    def history(self, user_id: str, limit: int) -> list[Interaction]:
        if limit < 1:
            return []
        rows = self.db.read().execute(
            f"SELECT {_COLUMNS} FROM interactions WHERE user_id = ? ORDER BY at DESC, event_id DESC LIMIT ?",
            (user_id, limit),
        )
        return [Interaction.from_dict(dict(r)) for r in rows]

    def seen(self, user_id: str) -> set[str]:
        rows = self.db.read().execute(
            "SELECT DISTINCT video_id FROM interactions WHERE user_id = ?", (user_id,)
        )
        return {r["video_id"] for r in rows}

    def video_stats(self, video_ids: Sequence[str]) -> dict[str, VideoStats]:
        ids = list(dict.fromkeys(video_ids))
        out: dict[str, VideoStats] = {}
        conn = self.db.read()
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            for r in conn.execute(
                f"SELECT video_id, {', '.join(COUNTERS)} FROM video_stats WHERE video_id IN ({marks})", chunk
            ):
                out[r["video_id"]] = VideoStats(**{name: int(r[name]) for name in COUNTERS})
        return out

    def events_between(self, start: float, end: float) -> Iterator[Interaction]:
        cur = self.db.read().execute(
            f"SELECT {_COLUMNS} FROM interactions WHERE at >= ? AND at < ?", (start, end)
        )
        while rows := cur.fetchmany(1000):
            for r in rows:
                yield Interaction.from_dict(dict(r))
