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


@dataclass(frozen=True, slots=True)
class AnalysisCompleted:
    """An analyzer stored its result (or its typed failure) for a video."""

    video_id: str
    kind: str
    version: str
    status: str  # "ok" | "failed"
    detail_type = "AnalysisCompleted"

    def detail(self) -> dict[str, str]:
        return {"video_id": self.video_id, "kind": self.kind, "version": self.version, "status": self.status}


@dataclass(frozen=True, slots=True)
class AnalysisRequested:
    """Run these analyzers again for a video (a model version changed, or an operator asked)."""

    video_id: str
    kinds: tuple[str, ...]
    force: bool = False  # recompute even when the stored result is of the current version
    detail_type = "AnalysisRequested"

    def detail(self) -> dict[str, str | list[str] | bool]:
        return {"video_id": self.video_id, "kinds": list(self.kinds), "force": self.force}
