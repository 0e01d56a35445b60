"""The video aggregate: identity, status, what ingest learned about the media."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any


class VideoStatus(enum.StrEnum):
    PROCESSING = "PROCESSING"  # claimed by ingest; derived files may be partial
    READY = "READY"  # ingest finished; derived files complete; analyzers may run
    FAILED = "FAILED"  # terminal; `error_code` and `error` say why


class Moderation(enum.StrEnum):
    """Where a video stands with content safety: shown, waiting for a person, or hidden."""

    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"


#: Who set the moderation state; a person's decision is final and an automatic re-run never overrides it.
MODERATED_BY = ("auto", "human")


def video_id_for_content(sha256_hex: str) -> str:
    """Content-addressed id: the same bytes under any key are the same video."""
    return "v" + sha256_hex[:20]


def video_id_for_rejected_key(key: str) -> str:
    """Id for an upload rejected before its bytes were read (a key that is not safe to open)."""
    return "x" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:20]


@dataclass(frozen=True, slots=True)
class MediaInfo:
    container: str
    duration_s: float
    size_bytes: int
    width: int  # as shown: a phone's portrait video is taller than wide even if stored on its side
    height: int
    fps: float
    frame_count: int
    video_codec: str
    audio_codec: str | None
    audio_sample_rate: int | None
    bitrate_bps: int
    rotation: int = 0  # the display matrix's turn, counterclockwise degrees (see reelmind.media.orient)

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None

    @property
    def orientation(self) -> str:
        if self.height > self.width:
            return "portrait"
        return "landscape" if self.width > self.height else "square"


@dataclass(frozen=True, slots=True)
class Shot:
    index: int
    start_frame: int  # inclusive
    end_frame: int  # exclusive
    start_s: float
    end_s: float
    entry: str = "cut"  # how the shot begins: "start" of the video, a hard "cut", or a "gradual" blend


@dataclass(slots=True)
class Video:
    video_id: str
    source_key: str
    status: VideoStatus
    created_at: float
    updated_at: float
    sha256: str | None = None
    title: str | None = None
    media: MediaInfo | None = None
    error_code: str | None = None
    error: str | None = None
    aliases: list[str] = field(default_factory=list)
    moderation: Moderation | None = None
    moderated_by: str | None = None
    moderated_at: float | None = None

    @property
    def hidden(self) -> bool:
        """Blocked videos stay stored (and visible to their owner and reviewers) but are not listed."""
        return self.moderation is Moderation.BLOCK

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["status"] = self.status.value
        out["moderation"] = self.moderation.value if self.moderation else None
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Video:
        media = data.get("media")
        return cls(
            video_id=data["video_id"],
            source_key=data["source_key"],
            status=VideoStatus(data["status"]),
            created_at=float(data["created_at"]),
            updated_at=float(data["updated_at"]),
            sha256=data.get("sha256"),
            title=data.get("title"),
            media=MediaInfo(**media) if media else None,
            error_code=data.get("error_code"),
            error=data.get("error"),
            aliases=list(data.get("aliases") or []),
            moderation=Moderation(data["moderation"]) if data.get("moderation") else None,
            moderated_by=data.get("moderated_by"),
            moderated_at=data.get("moderated_at"),
        )
