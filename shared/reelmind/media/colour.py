"""Decoded 4:2:0 pictures to BGR as the stream says they were made: its YUV matrix and range.

Phones tag their videos BT.709 (HD) and often full range; an untagged stream is read as FFmpeg reads
it, BT.601 limited range. OpenCV's own converter knows only BT.601 limited range: reading a full-range
BT.709 picture with it flattens the contrast and shifts the hues of every keyframe and cover. The
other spaces are one affine map of the Y, U, V samples per pixel (chroma upsampled first), done by
OpenCV's `transform` with saturation, about as fast as its converter.

HDR video (HLG, what phones record by default, and PQ) cannot be shown as it is coded: read as SDR it
comes out flat and pale. Its pictures are mapped to SDR sRGB for stills: the transfer undone to light
(with HLG's system gamma for a 1000 cd/m2 display), BT.2020 primaries to BT.709, light scaled so HDR
reference white (203 cd/m2, ITU-R BT.2408) is SDR white, highlights above a knee compressed smoothly
instead of clipped, and the sRGB curve applied. Both curves are table lookups.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import av
import cv2
import numpy as np

#: (Kr, Kb) of each matrix: luma = Kr R + (1 - Kr - Kb) G + Kb B.
_WEIGHTS = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722), "bt2020": (0.2627, 0.0593)}
#: FFmpeg's AVColorSpace values for them; anything else (unspecified, FCC, SMPTE 240M) reads as BT.601.
_MATRIX_OF = {1: "bt709", 5: "bt601", 6: "bt601", 9: "bt2020", 10: "bt2020"}
_JPEG_RANGE = 2  # AVCOL_RANGE_JPEG
#: FFmpeg's AVColorTransferCharacteristic values of the HDR transfers.
_TRANSFER_OF = {16: "pq", 18: "hlg"}


@dataclass(frozen=True, slots=True)
class YuvSpace:
    matrix: str = "bt601"
    full_range: bool = False
    transfer: str = "sdr"  # or "hlg", "pq": HDR, mapped to SDR when converted

    @classmethod
    def of(cls, frame: av.VideoFrame) -> YuvSpace:
        full = frame.color_range == _JPEG_RANGE or frame.format.name.startswith("yuvj")
        transfer = _TRANSFER_OF.get(int(frame.color_trc), "sdr")
        return cls(_MATRIX_OF.get(int(frame.colorspace), "bt601"), full, transfer)

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
    yuv = cv2.merge([y, full_u, full_v])
    if space.transfer == "sdr":
        mapped: np.ndarray = cv2.transform(yuv, space.bgr_matrix())
        return mapped
    return _hdr_to_sdr(cv2.transform(yuv.astype(np.float32), space.bgr_matrix()), space.transfer)


# --- HDR to SDR ---

REFERENCE_WHITE = 203.0  # cd/m2: HDR's diffuse white, shown as SDR white (ITU-R BT.2408)
HLG_PEAK = 1000.0  # cd/m2: the display HLG's system gamma is taken for
HLG_GAMMA = 1.2 + 0.42 * math.log10(HLG_PEAK / 1000.0)  # ITU-R BT.2100
KNEE = 0.75  # SDR level above which highlights are compressed rather than clipped
#: Linear BT.2020 to linear BT.709 (ITU-R BT.2087), on (B, G, R).
_BT2020_TO_BT709_BGR = np.array(
    [[1.1187, -0.1006, -0.0182], [-0.0083, 1.1329, -0.1246], [-0.0728, -0.5876, 1.6605]], np.float32
)
_SIGNAL_STEPS = 1024  # the coded signal, quantised as 10-bit video is
_LIGHT_STEPS = 16384  # SDR-relative light, quantised on a square-root scale (fine in the shadows)
_LIGHT_MAX = 10000.0 / REFERENCE_WHITE  # PQ's peak, in reference whites


def _pq_to_nits(e: np.ndarray) -> np.ndarray:
    m1, m2, c1, c2, c3 = 0.1593017578125, 78.84375, 0.8359375, 18.8515625, 18.6875
    p = np.power(e, 1.0 / m2)
    out: np.ndarray = 10000.0 * np.power(np.maximum(p - c1, 0.0) / (c2 - c3 * p), 1.0 / m1)
    return out


def _hlg_to_scene(e: np.ndarray) -> np.ndarray:
    a, b, c = 0.17883277, 0.28466892, 0.55991073
    out: np.ndarray = np.where(e <= 0.5, e * e / 3.0, (np.exp((e - c) / a) + b) / 12.0)
    return out


_SIGNAL = np.linspace(0.0, 1.0, _SIGNAL_STEPS)
#: Coded signal -> linear light: PQ in reference whites, HLG as scene light (0..1).
_TO_LIGHT = {
    "pq": (_pq_to_nits(_SIGNAL) / REFERENCE_WHITE).astype(np.float32),
    "hlg": _hlg_to_scene(_SIGNAL).astype(np.float32),
}


def _sdr_table() -> np.ndarray:
    """Light in reference whites (indexed by sqrt(light / _LIGHT_MAX)) -> 8-bit sRGB: linear up to the
    knee, then an exponential shoulder that meets 1 only at infinity."""
    x = np.square(np.linspace(0.0, 1.0, _LIGHT_STEPS)) * _LIGHT_MAX
    shoulder = KNEE + (1.0 - KNEE) * (1.0 - np.exp(-(x - KNEE) / (1.0 - KNEE)))
    sdr = np.where(x <= KNEE, x, shoulder)
    srgb = np.where(sdr <= 0.0031308, 12.92 * sdr, 1.055 * np.power(sdr, 1.0 / 2.4) - 0.055)
    out: np.ndarray = np.clip(np.rint(srgb * 255.0), 0, 255).astype(np.uint8)
    return out


_TO_SDR = _sdr_table()


def _hdr_to_sdr(coded: np.ndarray, transfer: str) -> np.ndarray:
    """(h, w, 3) float32 BGR signal in 8-bit units (BT.2020, HLG or PQ) -> 8-bit sRGB BGR."""
    index = np.clip(coded * ((_SIGNAL_STEPS - 1) / 255.0) + 0.5, 0, _SIGNAL_STEPS - 1).astype(np.int16)
    light: np.ndarray = _TO_LIGHT[transfer][index]
    if transfer == "hlg":  # the OOTF: scene light to display light, then in reference whites
        luma = light @ np.array([0.0593, 0.6780, 0.2627], np.float32)
        gain = np.power(np.maximum(luma, np.float32(1e-6)), HLG_GAMMA - 1.0)
        light = light * (gain * np.float32(HLG_PEAK / REFERENCE_WHITE))[:, :, None]
    light = cv2.transform(light, _BT2020_TO_BT709_BGR)
    scaled = np.sqrt(np.clip(light, 0.0, _LIGHT_MAX) / _LIGHT_MAX) * (_LIGHT_STEPS - 1) + 0.5
    out: np.ndarray = _TO_SDR[scaled.astype(np.int32)]
    return out


#: 8-bit planar 4:2:0, limited and full range: the same layout.
PLANAR_420 = frozenset({"yuv420p", "yuvj420p"})


def as_i420(frame: av.VideoFrame, width: int | None = None, height: int | None = None) -> av.VideoFrame:
    """The frame as 8-bit planar 4:2:0 of an even size (or `width` x `height`), by swscale where it is
    not already, keeping its matrix, range and transfer: full-range streams keep their levels, and
    the tags `YuvSpace.of` reads stay on the frame."""
    w, h = width or frame.width // 2 * 2, height or frame.height // 2 * 2
    if frame.format.name in PLANAR_420 and (w, h) == (frame.width, frame.height):
        return frame
    full = YuvSpace.of(frame).full_range
    return frame.reformat(
        width=w,
        height=h,
        format="yuvj420p" if full else "yuv420p",
        src_color_range="JPEG" if full else "MPEG",
        dst_color_range="JPEG" if full else "MPEG",
    )


def frame_to_bgr(frame: av.VideoFrame, width: int | None = None, height: int | None = None) -> np.ndarray:
    """The decoded frame as BGR (of `width` x `height` if given) in its own YUV space, HDR mapped to
    SDR. Other SDR layouts (4:2:2, RGB, odd sizes) are converted by swscale, told the range."""
    w, h = width or frame.width, height or frame.height
    space = YuvSpace.of(frame)
    as_decoded = (
        frame.format.name in PLANAR_420 and (w, h) == (frame.width, frame.height) and w % 2 == h % 2 == 0
    )
    if space.transfer == "sdr" and not as_decoded:
        rgb: np.ndarray = frame.to_ndarray(
            format="bgr24", width=w, height=h, src_color_range="JPEG" if space.full_range else "MPEG"
        )
        return rgb
    w, h = w // 2 * 2, h // 2 * 2
    i420 = as_i420(frame, w, h).to_ndarray()  # Y, then U and V, laid out flat
    chroma = i420[h:].reshape(2, h // 2, w // 2)
    return i420_to_bgr(i420[:h], chroma[0], chroma[1], space)
