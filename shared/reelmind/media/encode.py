"""Still-image and audio encoding."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import cv2
import numpy as np
import soundfile as sf

from reelmind.errors import ConfigError
from reelmind.media.resize import shrink

CONTENT_TYPES = {"jpeg": "image/jpeg", "webp": "image/webp"}
EXTENSIONS = {"jpeg": "jpg", "webp": "webp"}


def encode_image(bgr: np.ndarray, fmt: str = "jpeg", quality: int = 85, optimize: bool = True) -> bytes:
    """`optimize` (JPEG only) builds Huffman tables for this image: about 2 % smaller files for twice the
    encoding time, the same pixels. Worth it for what is served; not for frames only analyzers read."""
    if fmt == "jpeg":
        params = [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_OPTIMIZE, int(optimize)]
        ok, buf = cv2.imencode(".jpg", bgr, params)
    elif fmt == "webp":
        ok, buf = cv2.imencode(".webp", bgr, [cv2.IMWRITE_WEBP_QUALITY, quality])
    else:
        raise ConfigError(f"unknown image format {fmt!r}")
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {bgr.shape} image as {fmt}")
    return bytes(buf.tobytes())


_REDUCED = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


def decode_image(data: bytes, reduce: int = 1) -> np.ndarray | None:
    """BGR image, or None when the bytes are not an image OpenCV can read. `reduce` (1, 2, 4 or 8) shrinks
    it by that factor while decoding, which for a JPEG is much cheaper than decoding it whole."""
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), _REDUCED[reduce])
    return arr if arr is not None and arr.size else None


def resize_to_width(bgr: np.ndarray, width: int) -> np.ndarray:
    h, w = bgr.shape[:2]
    if w <= width:
        return bgr
    height = max(2, round(h * width / w))
    return shrink(bgr, width, height)


def sprite_sheet(images: Sequence[np.ndarray], tile_width: int = 160, columns: int = 8) -> np.ndarray:
    """Tiles in reading order, each resized to `tile_width` and the first image's aspect ratio."""
    if not images:
        raise ValueError("a sprite sheet needs at least one image")
    h0, w0 = images[0].shape[:2]
    tile_h = max(2, round(h0 * tile_width / w0))
    cols = min(columns, len(images))
    rows = math.ceil(len(images) / cols)
    sheet = np.zeros((rows * tile_h, cols * tile_width, 3), np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        tile = shrink(img, tile_width, tile_h)
        sheet[r * tile_h : (r + 1) * tile_h, c * tile_width : (c + 1) * tile_width] = tile
    return sheet


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()
