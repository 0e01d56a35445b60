"""Domain events that cross function boundaries, and their wire names."""

from __future__ import annotations

from dataclasses import dataclass

EVENT_SOURCE = "reelmind"


@dataclass(frozen=True, slots=True)
class VideoReady:
    """Ingest finished: keyframes, shots and audio are under derived/{video_id}/."""

    video_id: str
    detail_type = "VideoReady"

    def detail(self) -> dict[str, str]:
        return {"video_id": self.video_id}
