"""Thumbnail: pick the cover among ingest's keyframes and write it in several sizes, plus a sprite sheet."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
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
        # Fetching and JPEG coding release the GIL: keyframes are read and decoded, and the outputs
        # encoded, a few at a time.
        with ThreadPoolExecutor(max_workers=IO_WORKERS) as pool:
            datas = list(pool.map(lambda kf: self.blobs.get_bytes(kf["key"]), keyframes))
            tiles = pool.map(self._tile, keyframes, datas)  # decoded while the cover is chosen and coded
            scored = [
                (*self._score(kf, data, shots[kf["shot"]], duration), i)
                for i, (kf, data) in enumerate(zip(keyframes, datas, strict=True))
            ]
            best_score, best_q, best = max(scored, key=lambda t: (t[0], -t[2]))
            cover = self._full(keyframes[best], datas[best])
            sprite = encode.sprite_sheet(
                list(tiles), self.config.sprite_tile_width, self.config.sprite_columns
            )
            sprite_data = pool.submit(encode.encode_image, sprite, self.config.fmt, 80)
            sizes = self._write_covers(video_id, cover, pool)
            ext, ctype = encode.EXTENSIONS[self.config.fmt], encode.CONTENT_TYPES[self.config.fmt]
            sprite_key = keys.derived_key(video_id, "thumbnails", f"sprite.{ext}")
            self.blobs.put_bytes(sprite_key, sprite_data.result(), ctype)
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
        self, kf: dict[str, Any], data: bytes, shot: dict[str, Any], duration: float
    ) -> tuple[float, FrameQuality]:
        """By the quality ingest measured on the decoded frame itself (measured here for older results)."""
        stored = kf.get("quality")
        q = _quality(stored) if stored else frame_quality(luma_of(self._full(kf, data)))
        return cover_score(q, kf["transition"], (shot["end_s"] - shot["start_s"]) / duration), q

    def _write_covers(self, video_id: str, cover: np.ndarray, pool: Executor) -> list[dict[str, Any]]:
        ext, ctype = encode.EXTENSIONS[self.config.fmt], encode.CONTENT_TYPES[self.config.fmt]
        widths = sorted({min(w, int(cover.shape[1])) for w in self.config.widths}, reverse=True)
        images = [encode.resize_to_width(cover, width) for width in widths]
        sizes = []
        for img, data in zip(
            images, pool.map(lambda i: encode.encode_image(i, self.config.fmt), images), strict=True
        ):
            key = keys.derived_key(video_id, "thumbnails", f"cover-{int(img.shape[1])}.{ext}")
            self.blobs.put_bytes(key, data, ctype)
            sizes.append({"key": key, "width": int(img.shape[1]), "height": int(img.shape[0])})
        return sizes

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
