"""Read side and uploads: what the API and the CLI show about videos."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from reelmind.domain import keys
from reelmind.domain.video import Moderation, VideoStatus, video_id_for_content, video_id_for_rejected_key
from reelmind.errors import BadRequest, NotFound
from reelmind.ports import BlobStore, Page, PresignedUpload, ResultStore

_SAFE_NAME = re.compile(r"[^\w.\- ]+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class UploadPolicy:
    max_bytes: int
    ttl_s: int


def upload_key(filename: str) -> str:
    """A fresh key under uploads/ that keeps a cleaned-up version of the client's file name."""
    name = PurePosixPath(filename.replace("\\", "/")).name
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    ext = ext.lower()
    if "." + ext not in keys.VIDEO_SUFFIXES:
        raise BadRequest(f"file name must end in one of {', '.join(sorted(keys.VIDEO_SUFFIXES))}")
    clean = _SAFE_NAME.sub("_", stem).strip(" ._")[:100] or "video"
    return f"{keys.UPLOAD_PREFIX}{uuid.uuid4().hex}/{clean}.{ext}"


class CatalogService:
    def __init__(
        self,
        blobs: BlobStore,
        results: ResultStore,
        policy: UploadPolicy,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.blobs = blobs
        self.results = results
        self.policy = policy
        self.clock = clock

    def new_upload(self, filename: str) -> PresignedUpload:
        return self.blobs.presign_upload(upload_key(filename), self.policy.max_bytes, self.policy.ttl_s)

    def video(self, video_id: str) -> dict[str, Any]:
        video = self.results.get_video(video_id)
        if video is None:
            raise NotFound(f"no video {video_id!r}")
        out = video.to_dict()
        out["results"] = {
            kind: {"version": r.version, "created_at": r.created_at, **self._with_urls(r.payload)}
            for kind, r in self.results.get_results(video_id).items()
        }
        return out

    def video_for_upload(self, key: str, sha256: str) -> dict[str, Any] | None:
        """The video an upload became: by its content, or (when refused unread) by its key."""
        for video_id in (video_id_for_content(sha256), video_id_for_rejected_key(key)):
            if self.results.get_video(video_id) is not None:
                return self.video(video_id)
        return None

    def videos(self, status: VideoStatus | None, limit: int, cursor: str | None) -> Page:
        """The catalog, newest first; blocked videos are left out (a page may then hold fewer items)."""
        if not 1 <= limit <= 200:
            raise BadRequest("limit must be between 1 and 200")
        page = self.results.list_videos(status=status, limit=limit, cursor=cursor)
        return Page(items=[v for v in page.items if not v.hidden], cursor=page.cursor)

    def delete(self, video_id: str, forget: Callable[[str], None]) -> dict[str, Any]:
        """Remove a video everywhere: from the search indexes (`forget`), its files, then its records.
        The records go last, so a failure midway leaves a video that can be deleted again."""
        video = self.results.get_video(video_id)
        if video is None:
            raise NotFound(f"no video {video_id!r}")
        forget(video_id)
        removed = self.blobs.delete_prefix(keys.derived_key(video_id, ""))
        for key in [video.source_key, *video.aliases]:
            if key.startswith(keys.UPLOAD_PREFIX):
                self.blobs.delete(key)
                removed += 1
        self.results.delete_video(video_id)
        return {"video_id": video_id, "deleted": True, "files_removed": removed}

    def review_queue(self, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """Videos the safety verdict sent to a person, newest first, each with the verdict and its reasons."""
        if not 1 <= limit <= 200:
            raise BadRequest("limit must be between 1 and 200")
        page = self.results.list_videos(moderation=Moderation.REVIEW, limit=limit, cursor=cursor)
        items = []
        for video in page.items:
            safety = self.results.get_results(video.video_id).get("safety")
            items.append({**video.to_dict(), "safety": self._with_urls(safety.payload) if safety else None})
        return items, page.cursor

    def decide(self, video_id: str, decision: str) -> dict[str, Any]:
        """A reviewer's decision: "allow" shows the video, "block" hides it; it is final for automation."""
        try:
            verdict = Moderation(decision)
        except ValueError:
            raise BadRequest("decision must be 'allow' or 'block'") from None
        if verdict is Moderation.REVIEW:
            raise BadRequest("decision must be 'allow' or 'block'")
        if not self.results.moderate(video_id, verdict, by="human", at=self.clock()):
            raise NotFound(f"no video {video_id!r}")
        return self.video(video_id)

    def _with_urls(self, value: Any) -> Any:
        """Every {"key": ...} object in a payload also gets a "url" a client can fetch."""
        if isinstance(value, dict):
            out = {k: self._with_urls(v) for k, v in value.items()}
            if isinstance(value.get("key"), str) and value["key"].startswith(keys.DERIVED_PREFIX):
                out["url"] = self.blobs.url_for(value["key"])
            return out
        if isinstance(value, list):
            return [self._with_urls(v) for v in value]
        return value
