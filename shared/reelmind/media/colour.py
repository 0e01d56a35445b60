"""Decoded 4:2:0 pictures to BGR as the stream says they were made: its YUV matrix and range.

Phones tag their videos BT.709 (HD) and often full range; an untagged stream is read as FFmpeg reads
it, BT.601 limited range. OpenCV's own converter knows only BT.601 limited range: reading a full-range
BT.709 picture with it flattens the contrast and shifts the hues of every keyframe and cover. The
other spaces are one affine map of the Y, U, V samples per pixel (chroma upsampled first), done by
OpenCV's `transform` with saturation, about as fast as its converter.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import cv2
import numpy as np

#: (Kr, Kb) of each matrix: luma = Kr R + (1 - Kr - Kb) G + Kb B.
_WEIGHTS = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722), "bt2020": (0.2627, 0.0593)}
#: FFmpeg's AVColorSpace values for them; anything else (unspecified, FCC, SMPTE 240M) reads as BT.601.
_MATRIX_OF = {1: "bt709", 5: "bt601", 6: "bt601", 9: "bt2020", 10: "bt2020"}
_JPEG_RANGE = 2  # AVCOL_RANGE_JPEG


@dataclass(frozen=True, slots=True)
class YuvSpace:
    matrix: str = "bt601"
    full_range: bool = False

    @classmethod
    def of(cls, frame: av.VideoFrame) -> YuvSpace:
        full = frame.color_range == _JPEG_RANGE or frame.format.name.startswith("yuvj")
        return cls(_MATRIX_OF.get(int(frame.colorspace), "bt601"), full)

    def bgr_matrix(self) -> np.ndarray:
        """3 x 4: (B, G, R) = M @ (Y, U, V, 1), in 8-bit sample values."""
        kr, kb = _WEIGHTS[self.matrix]
        kg = 1.0 - kr - kb
        ys, cs, y0 = (1.0, 1.0, 0.0) if self.full_range else (255 / 219, 255 / 224, 16.0)
        m = np.array(
            [
                [ys, 2.0 * (1.0 - kb) * cs, 0.0],
                [ys, -2.0 * kb * (1.0 - kb) / kg * cs, -2.0 * kr * (1.0 - kr) / kg * cs],
                [ys, 0.0, 2.0 * (1.0 - kr) * cs],
            ]
        )
        offset = -ys * y0 - 128.0 * (m[:, 1] + m[:, 2])
        out: np.ndarray = np.column_stack([m, offset])
        return out


#: What OpenCV's I420 converter assumes.
OPENCV_SPACE = YuvSpace()


def i420_to_bgr(y: np.ndarray, u: np.ndarray, v: np.ndarray, space: YuvSpace) -> np.ndarray:
    """BGR (h, w, 3) uint8 from 8-bit Y (h, w) and U, V (h/2, w/2) planes in `space`."""
    h, w = y.shape
    if space == OPENCV_SPACE:
        yuv = np.empty((h * 3 // 2, w), np.uint8)  # I420 layout
        yuv[:h] = y
        yuv[h:].reshape(-1)[: u.size] = u.reshape(-1)
        yuv[h:].reshape(-1)[u.size :] = v.reshape(-1)
        out: np.ndarray = cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420)
        return out
    full_u = cv2.resize(u, (w, h), interpolation=cv2.INTER_LINEAR)
    full_v = cv2.resize(v, (w, h), interpolation=cv2.INTER_LINEAR)
    mapped: np.ndarray = cv2.transform(cv2.merge([y, full_u, full_v]), space.bgr_matrix())
    return mapped


def frame_to_bgr(frame: av.VideoFrame) -> np.ndarray | None:
    """BGR of an 8-bit planar 4:2:0 frame of even size, in the frame's own space; None for others."""
    if frame.format.name not in ("yuv420p", "yuvj420p") or frame.width % 2 or frame.height % 2:
        return None
    h, w = frame.height, frame.width
    i420 = frame.to_ndarray()  # (h * 3 / 2, w): Y, then U and V, each (h / 2, w / 2) laid out flat
    chroma = i420[h:].reshape(2, h // 2, w // 2)
    return i420_to_bgr(i420[:h], chroma[0], chroma[1], YuvSpace.of(frame))
