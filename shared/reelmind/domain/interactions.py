"""Interactions: what a viewer did with a video in the feed, as the client reports it.

One `Interaction` is one event. Its `event_id` is chosen by the client (a UUID is typical) and makes
the event idempotent: a retried batch stores nothing twice. Events are the raw log; training labels
(click, long view, like, follow) are derived from them per impression, so the log stays what the
client saw and did.

The export to training data writes these fields, in this order, as Parquet columns.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from typing import Any


class InteractionType(enum.StrEnum):
    IMPRESSION = "impression"  # the video was shown (position = its slot in the feed page)
    PLAY = "play"  # the viewer watched it; watch_s says for how long
    LIKE = "like"
    FOLLOW = "follow"  # followed the video's author from this video
    SHARE = "share"
    SKIP = "skip"  # swiped away before it started playing in earnest


@dataclass(frozen=True, slots=True)
class Interaction:
    event_id: str
    user_id: str
    video_id: str
    type: InteractionType
    at: float  # epoch seconds, when it happened on the client
    watch_s: float | None = None  # play only: seconds watched (replays count)
    position: int | None = None  # impression/play: slot in the feed page, 0 at the top
    request_id: str | None = None  # the feed request that served the video, when it came from one

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["type"] = self.type.value
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Interaction:
        return cls(
            event_id=str(d["event_id"]),
            user_id=str(d["user_id"]),
            video_id=str(d["video_id"]),
            type=InteractionType(d["type"]),
            at=float(d["at"]),
            watch_s=None if d.get("watch_s") is None else float(d["watch_s"]),
            position=None if d.get("position") is None else int(d["position"]),
            request_id=None if d.get("request_id") is None else str(d["request_id"]),
        )


#: Column order of the exported Parquet files.
EXPORT_COLUMNS = ("event_id", "user_id", "video_id", "type", "at", "watch_s", "position", "request_id")
