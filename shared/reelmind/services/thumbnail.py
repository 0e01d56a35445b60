"""Thumbnail: pick the cover among ingest's keyframes and write it in several sizes, plus a sprite sheet."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from reelmind.domain import keys
from reelmind.errors import NotFound
from reelmind.media import encode
from reelmind.media.frames import FrameQuality, frame_quality, luma_of
from reelmind.ports import BlobStore, Result, ResultStore

log = logging.getLogger(__name__)

THUMBNAIL_VERSION = "thumbnail-2"
IO_WORKERS = 4  # keyframes fetched (from S3 on AWS) and coded side by side


@dataclass(frozen=True, slots=True)
class ThumbnailConfig:
    widths: tuple[int, ...] = (1280, 640, 320)
    fmt: str = "jpeg"
    sprite_tile_width: int = 160
    sprite_columns: int = 8


def cover_score(quality: FrameQuality, transition: bool, shot_share: float) -> float:
    """Picture quality first; a blend frame or an unusable (black, flat) frame never wins over a usable one."""
    if transition or not quality.usable:
        return -1.0 + quality.score * 0.1
    return quality.score + 0.1 * min(1.0, shot_share * 4)


class ThumbnailService:
    def __init__(
        self,
        blobs: BlobStore,
        results: ResultStore,
        config: ThumbnailConfig,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.blobs = blobs
        self.results = results
        self.config = config
        self.clock = clock

    def handle_video_ready(self, video_id: str) -> dict[str, Any] | None:
        """The thumbnails; None when there is nothing to make them from (no keyframes, or the video was
        deleted after the event was sent)."""
        if self.results.get_video(video_id) is None:
            log.info("video %s no longer exists; no thumbnails", video_id)
            return None
        results = self.results.get_results(video_id)
        existing = results.get("thumbnail")
        if existing is not None and existing.version == THUMBNAIL_VERSION:
            log.info("video %s already has thumbnails (%s)", video_id, THUMBNAIL_VERSION)
            return existing.payload
        ingest = results.get("ingest")
        if ingest is None:
            raise NotFound(f"video {video_id} has no ingest result yet")
        keyframes = ingest.payload["keyframes"]
        if not keyframes:
            log.warning("video %s has no keyframes; no thumbnails", video_id)
            return None
        duration = max(1e-6, float(ingest.payload["media"]["duration_s"]))
        shots = {s["index"]: s for s in ingest.payload["shots"]}
        with ThreadPoolExecutor(max_workers=IO_WORKERS) as pool:
            # Fetching and JPEG coding release the GIL. The cover is chosen by the quality ingest
            # measured, so its keyframe is fetched and coded on this thread at once while the pool
            # fetches and decodes the others (from S3 on AWS) for the sprite.
            # Older results have no stored quality: each keyframe is then decoded to be scored.
            stored = all(kf.get("quality") for kf in keyframes)
            datas = {} if stored else dict(enumerate(pool.map(self._fetch, keyframes)))
            scored = [
                (*self._score(kf, datas.get(i), shots[kf["shot"]], duration), i)
                for i, kf in enumerate(keyframes)
            ]
            best_score, best_q, best = max(scored, key=lambda t: (t[0], -t[2]))
            best_data = datas[best] if best in datas else self._fetch(keyframes[best])
            pending = {
                i: pool.submit(self._tile, kf, datas[i]) if i in datas else pool.submit(self._fetch_tile, kf)
                for i, kf in enumerate(keyframes)
                if i != best
            }
            cover = self._full(keyframes[best], best_data)
            sizes = self._write_covers(video_id, cover)
            tiles = [cover if i == best else pending[i].result() for i in range(len(keyframes))]
        sprite = encode.sprite_sheet(tiles, self.config.sprite_tile_width, self.config.sprite_columns)
        ext, ctype = encode.EXTENSIONS[self.config.fmt], encode.CONTENT_TYPES[self.config.fmt]
        sprite_key = keys.derived_key(video_id, "thumbnails", f"sprite.{ext}")
        self.blobs.put_bytes(sprite_key, encode.encode_image(sprite, self.config.fmt, 80), ctype)
        tile_h = sprite.shape[0] // max(1, -(-len(keyframes) // self.config.sprite_columns))
        payload = {
            "cover": {
                "frame": keyframes[best]["frame"],
                "time_s": keyframes[best]["time_s"],
                "score": round(best_score, 4),
                "quality": best_q.to_dict(),
                "sizes": sizes,
            },
            "sprite": {
                "key": sprite_key,
                "columns": min(self.config.sprite_columns, len(keyframes)),
                "tile_width": self.config.sprite_tile_width,
                "tile_height": tile_h,
                "times_s": [kf["time_s"] for kf in keyframes],
            },
        }
        self.results.put_result(Result(video_id, "thumbnail", THUMBNAIL_VERSION, payload, self.clock()))
        return payload

    def _score(
        self, kf: dict[str, Any], data: bytes | None, shot: dict[str, Any], duration: float
    ) -> tuple[float, FrameQuality]:
        """By the quality ingest measured on the decoded frame itself (measured here, from `data`, for
        older results)."""
        stored = kf.get("quality")
        if stored:
            q = _quality(stored)
        elif data is None:
            raise ValueError("a keyframe without a stored quality needs its bytes to be scored")
        else:
            q = frame_quality(luma_of(self._full(kf, data)))
        return cover_score(q, kf["transition"], (shot["end_s"] - shot["start_s"]) / duration), q

    def _write_covers(self, video_id: str, cover: np.ndarray) -> list[dict[str, Any]]:
        ext, ctype = encode.EXTENSIONS[self.config.fmt], encode.CONTENT_TYPES[self.config.fmt]
        widths = sorted({min(w, int(cover.shape[1])) for w in self.config.widths}, reverse=True)
        sizes = []
        for width in widths:
            img = encode.resize_to_width(cover, width)
            key = keys.derived_key(video_id, "thumbnails", f"cover-{int(img.shape[1])}.{ext}")
            self.blobs.put_bytes(key, encode.encode_image(img, self.config.fmt), ctype)
            sizes.append({"key": key, "width": int(img.shape[1]), "height": int(img.shape[0])})
        return sizes

    def _fetch(self, kf: dict[str, Any]) -> bytes:
        return self.blobs.get_bytes(kf["key"])

    def _fetch_tile(self, kf: dict[str, Any]) -> np.ndarray:
        return self._tile(kf, self._fetch(kf))

    def _tile(self, kf: dict[str, Any], data: bytes) -> np.ndarray:
        """The keyframe decoded already shrunk to about the sprite's tile width."""
        img = encode.decode_image(data, _reduction(int(kf.get("width") or 0), self.config.sprite_tile_width))
        if img is None:
            raise NotFound(f"keyframe {kf['key']} is missing or unreadable")
        return img

    @staticmethod
    def _full(kf: dict[str, Any], data: bytes) -> np.ndarray:
        img = encode.decode_image(data)
        if img is None:
            raise NotFound(f"keyframe {kf['key']} is missing or unreadable")
        return img


def _reduction(width: int, tile_width: int) -> int:
    """The largest JPEG decoding reduction (8, 4, 2) that still leaves at least `tile_width` pixels."""
    return next((r for r in (8, 4, 2) if width and width // r >= tile_width), 1)


def _quality(stored: dict[str, Any]) -> FrameQuality:
    return FrameQuality(
        sharpness=float(stored["sharpness"]),
        exposure=float(stored["exposure"]),
        contrast=float(stored["contrast"]),
        black=bool(stored["black"]),
        flat=bool(stored["flat"]),
    )
