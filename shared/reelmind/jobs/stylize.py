"""Stylized video: cartoon, sketch, watercolor and oil looks, stable from frame to frame, fast on the CPU.

Each look is a chain of OpenCV filters. The expensive, low-frequency parts (edge-preserving smoothing,
the Kuwahara filter, wide blurs) run on a reduced copy of the frame, whose area is bounded whatever the
input size; the parts that carry fine detail (outlines, pencil strokes, paper grain) run at full size,
mostly as uint8 lookup tables and multiplications.

Thresholds and quantisation amplify noise, so a naive per-frame filter boils. Four things keep the
output still where the picture is still:

* the inputs to every threshold go through a motion-adaptive exponential moving average
  (`TemporalFilter`): a pixel that changed by less than the noise level is averaged with its past, one
  that changed more (motion) is taken as it is, so moving content does not smear; the state resets on a
  scene cut;
* thresholds and quantisation steps are soft (smooth ramps in lookup tables, not hard steps), with fixed
  levels chosen once, never per frame from the frame's own statistics;
* textures (paper, canvas, hatching, pigment) are generated once per video from a fixed seed;
* every `Stylizer` instance belongs to one video; nothing temporal is shared between videos.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
from av.video.reformatter import ColorRange, Colorspace

from reelmind.errors import BadRequest, CorruptMedia
from reelmind.media import colour, orient
from reelmind.media.probe import video_stream

STYLES: tuple[str, ...] = ("cartoon", "sketch", "watercolor", "oil")

#: x264 settings for the stylized stream; flat stylized pictures compress well at this quality.
PRESET = "veryfast"
CRF = 23
#: FFmpeg decoder threads; slices were measured fastest for decoding on 2 cores (docs/BENCHMARKS.md).
DECODE_THREADS = "SLICE"

#: The flicker measure looks at luma shrunk so that its longer side is at most this many pixels.
FLICKER_SIDE = 320
#: A mean absolute change above this (0-255 luma, on a 32x18 thumbnail) is a scene cut.
CUT_LEVEL = 24.0

Image = np.ndarray
Progress = Callable[[float], None]


# --------------------------------------------------------------------------------------------------
# Temporal stabilisation


class TemporalFilter:
    """Motion-adaptive exponential moving average of an image (float32 state).

    Each pixel moves towards the new value by a weight that grows with the size of the change: below
    `noise` (levels) the weight falls linearly to `floor`, at or above it the new value is taken whole.
    Sensor and compression noise are averaged away while anything that really moves follows at once.
    Works in place on buffers kept from frame to frame: at 720p a fresh array per operation cost four
    times the arithmetic (page faults).
    """

    def __init__(self, noise: float, floor: float) -> None:
        self.noise = noise
        self.floor = floor
        self._state: np.ndarray | None = None
        self._scratch: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def reset(self) -> None:
        self._state = None

    def __call__(self, image: Image) -> np.ndarray:
        """The filtered image (float32, the shape of `image`). It is the filter's state: read it, do not
        modify it, and do not keep it past the next call."""
        flat = image.reshape(image.shape[0], -1)  # one channel, so that OpenCV's scalars apply to all
        state = self._state
        if state is None or state.shape != flat.shape:
            self._state = flat.astype(np.float32)
            self._scratch = None
            return self._state.reshape(image.shape)
        if self._scratch is None:
            self._scratch = (np.empty_like(state), np.empty_like(state), np.empty_like(state))
        cur, delta, weight = self._scratch
        cur[...] = flat
        cv2.subtract(cur, state, dst=delta)
        cv2.absdiff(cur, state, dst=weight)
        np.clip(weight, self.floor * self.noise, self.noise, out=weight)
        cv2.multiply(delta, weight, dst=delta, scale=1.0 / self.noise)
        cv2.add(state, delta, dst=state)
        return state.reshape(image.shape)


class _CutDetector:
    """True on the first frame of a new shot: a large mean change of a tiny luma thumbnail."""

    def __init__(self, level: float = CUT_LEVEL) -> None:
        self.level = level
        self._prev: np.ndarray | None = None

    def __call__(self, frame_bgr: Image) -> bool:
        step = max(1, min(frame_bgr.shape[0] // 36, frame_bgr.shape[1] // 64))  # a free strided view first
        thumb = cv2.resize(frame_bgr[::step, ::step], (32, 18), interpolation=cv2.INTER_AREA)
        luma = cv2.cvtColor(thumb, cv2.COLOR_BGR2GRAY).astype(np.float32)
        prev, self._prev = self._prev, luma
        return prev is not None and float(np.mean(np.abs(luma - prev))) > self.level


# --------------------------------------------------------------------------------------------------
# Lookup tables and textures (fixed per video)


def _soft_levels(levels: int, softness: float) -> np.ndarray:
    """A uint8 lookup table quantising 0-255 into `levels` flat steps joined by smooth ramps.

    `softness` is the ramp's width as a fraction of a step; the steepest slope is 1.5 / softness,
    which bounds how much the quantiser can amplify noise.
    """
    step = 255.0 / (levels - 1)
    x = np.arange(256, dtype=np.float64)
    k = np.floor(x / step)
    frac = x / step - k  # 0..1 within a step; the jump to the next level is centred at 0.5
    t = np.clip((frac - 0.5) / softness + 0.5, 0.0, 1.0)
    smooth = t * t * (3.0 - 2.0 * t)
    out = (k + smooth) * step
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _curve(fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    x = np.arange(256, dtype=np.float64) / 255.0
    return np.clip(np.round(255.0 * fn(x)), 0, 255).astype(np.uint8)


def _noise(rng: np.random.Generator, width: int, height: int, sigma: float) -> np.ndarray:
    """Gaussian-blurred white noise normalised to 0..1 (float32)."""
    field: np.ndarray = rng.standard_normal((height, width)).astype(np.float32)
    if sigma > 0:
        field = cv2.GaussianBlur(field, (0, 0), sigma)
    lo, hi = float(field.min()), float(field.max())
    out: np.ndarray = (field - lo) / max(hi - lo, 1e-6)
    return out


def _seed(style: str, width: int, height: int) -> int:
    digest = sum(ord(c) * pow(131, i, 2**32) for i, c in enumerate(style))
    return int((digest + 7919 * width + 104_729 * height) % 2**32)


def _work_size(width: int, height: int, max_area: int) -> tuple[int, int]:
    """The size of the reduced copy: the frame shrunk (never enlarged) to at most `max_area` pixels."""
    scale = min(1.0, math.sqrt(max_area / (width * height)))
    return max(8, round(width * scale)), max(8, round(height * scale))


def _multiply(image: Image, mask: Image) -> np.ndarray:
    """image * mask / 255 for a uint8 image and a one-channel uint8 mask."""
    if image.ndim == 3 and mask.ndim == 2:
        mask = cv2.merge([mask, mask, mask])
    out: np.ndarray = cv2.multiply(image, mask, scale=1.0 / 255.0)
    return out


# --------------------------------------------------------------------------------------------------
# Stylizers


class Stylizer:
    """A look applied frame by frame to one video. Holds that video's temporal state: make one per video.

    Call it with each frame in order (BGR uint8, the size given at construction); it returns the
    stylized frame (BGR uint8, same size).
    """

    style = ""

    def __init__(self, width: int, height: int) -> None:
        if width < 8 or height < 8:
            raise BadRequest(f"frames must be at least 8x8 pixels to stylize, not {width}x{height}")
        self.width, self.height = width, height
        self.rng = np.random.default_rng(_seed(self.style, width, height))
        self._cuts = _CutDetector()
        self._filters: list[TemporalFilter] = []
        self._buffers: dict[str, np.ndarray] = {}

    def temporal(self, noise: float, floor: float) -> TemporalFilter:
        """A temporal filter that is reset with the others on every scene cut."""
        f = TemporalFilter(noise, floor)
        self._filters.append(f)
        return f

    def reset(self) -> None:
        for f in self._filters:
            f.reset()

    def buffer(self, name: str, channels: int = 1, dtype: type = np.float32) -> np.ndarray:
        """A full-size scratch array kept for the next frames: allocating a fresh one each frame costs
        about as much as the filter writing into it."""
        shape = (self.height, self.width, channels) if channels > 1 else (self.height, self.width)
        buf = self._buffers.get(name)
        if buf is None:
            buf = self._buffers[name] = np.empty(shape, dtype)
        return buf

    def __call__(self, frame_bgr: Image) -> np.ndarray:
        if frame_bgr.shape != (self.height, self.width, 3) or frame_bgr.dtype != np.uint8:
            raise ValueError(
                f"expected a {self.width}x{self.height} BGR uint8 frame, got {frame_bgr.shape} {frame_bgr.dtype}"
            )
        if self._cuts(frame_bgr):
            self.reset()
        return self.render(frame_bgr)

    def render(self, frame_bgr: Image) -> np.ndarray:
        raise NotImplementedError


class Cartoon(Stylizer):
    """Flat colour and ink outlines.

    Reduced copy: stabilised, smoothed with three bilateral passes. Enlarged, its luma is quantised to
    fixed soft levels and its chroma saturated. Full size: a difference of Gaussians of the stabilised luma,
    soft-thresholded into dark outlines, multiplied over the enlarged colour.
    """

    style = "cartoon"

    def __init__(self, width: int, height: int) -> None:
        super().__init__(width, height)
        self.work = _work_size(width, height, 320 * 180)
        s = height / 720.0
        self.sigma = max(0.7, 1.1 * s)
        # Kernels cut at about 3 sigma: the DoG's two blurs are the costliest full-size step.
        self.kernels = [2 * math.ceil(3 * sigma) + 1 for sigma in (self.sigma, 1.6 * self.sigma)]
        self.half = _work_size(width, height, 640 * 360)
        self.median = 5 if s > 0.6 else 3  # removes specks (fur, grain) that would become ink dots
        self.stable_small = self.temporal(noise=10.0, floor=0.25)
        self.stable_luma = self.temporal(noise=12.0, floor=0.25)
        chroma = _curve(lambda x: 0.5 + 1.2 * (x - 0.5))
        self.palette = np.stack([_soft_levels(7, 0.3), chroma, chroma], axis=1).reshape(256, 1, 3)  # Y Cr Cb
        # DoG (x 8, offset 128) -> ink: none above -2 levels of DoG, the darkest (x 0.25) below -8.
        d = (np.arange(256, dtype=np.float64) - 128.0) / 8.0
        t = np.clip((d + 8.0) / 6.0, 0.0, 1.0)
        self.ink = np.round(255.0 * (0.25 + 0.75 * t * t * (3 - 2 * t))).astype(np.uint8)

    def render(self, frame_bgr: Image) -> np.ndarray:
        small = cv2.resize(frame_bgr, self.work, interpolation=cv2.INTER_AREA)
        small = self.stable_small(small).astype(np.uint8)
        for _ in range(3):  # three 5-pixel passes: as flat as two 7-pixel ones, at a quarter of the cost
            small = cv2.bilateralFilter(small, 5, 30, 5)
        # Quantised after enlarging to half size, so that the borders between levels are smooth curves,
        # not the reduced copy's pixel steps.
        half = cv2.resize(small, self.half, interpolation=cv2.INTER_LINEAR)
        flat = cv2.cvtColor(
            cv2.LUT(cv2.cvtColor(half, cv2.COLOR_BGR2YCrCb), self.palette), cv2.COLOR_YCrCb2BGR
        )
        colour = cv2.resize(flat, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        luma = self.stable_luma(cv2.medianBlur(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY), self.median))
        k1, k2 = self.kernels
        g1 = cv2.GaussianBlur(luma, (k1, k1), self.sigma, dst=self.buffer("g1"))
        g2 = cv2.GaussianBlur(luma, (k2, k2), self.sigma * 1.6, dst=self.buffer("g2"))
        dog = cv2.addWeighted(g1, 8.0, g2, -8.0, 128.0, dtype=cv2.CV_8U)
        return _multiply(colour, cv2.LUT(dog, self.ink))


class Sketch(Stylizer):
    """Pencil on paper.

    The stabilised luma divided by its wide blur (a colour dodge, computed with an offset so that dark
    areas do not amplify noise) gives the strokes; darker regions get a fixed diagonal hatching, and a
    fixed paper grain and a warm paper tint finish it. The wide blur runs on the reduced copy.
    """

    style = "sketch"
    #: Added to both sides of the dodge's division: it keeps dark areas from amplifying noise, and sets
    #: how dark the strokes get (a smaller offset draws darker lines, and more flicker).
    OFFSET = 64.0

    def __init__(self, width: int, height: int) -> None:
        super().__init__(width, height)
        self.work = _work_size(width, height, 320 * 180)
        s = height / 720.0
        self.blur = max(1.5, 16.0 * self.work[1] / 720.0)
        self.stable = self.temporal(noise=12.0, floor=0.2)
        self.tone = _curve(lambda x: x**1.5)
        grain = _noise(self.rng, width, height, 0.7)
        strokes: np.ndarray = self.rng.standard_normal((height, width)).astype(np.float32)
        kernel = np.eye(max(5, round(15 * max(s, 0.4))), dtype=np.float32)[::-1]
        strokes = cv2.filter2D(strokes, -1, kernel / kernel.sum())
        strokes = (strokes - strokes.min()) / max(float(strokes.max() - strokes.min()), 1e-6)
        # Soft strokes: sharp ones cost the encoder dearly wherever the shading under them changes.
        strokes = cv2.GaussianBlur(np.clip((strokes - 0.45) * 3.0, 0.0, 1.0), (0, 0), max(0.6, 1.2 * s))
        self.hatch = np.round(0.4 * 255.0 * strokes).astype(np.uint8)  # hatching strength, 0.4 at most
        # Hatching shows where the wide blur is more than 30 % dark, growing with the darkness beyond that.
        self.darkness = _curve(lambda x: np.clip((x - 0.3) / 0.7, 0.0, 1.0))
        self.paper = np.round(255.0 * (0.93 + 0.07 * grain)).astype(np.uint8)
        warm = [np.round(np.arange(256) * k).astype(np.uint8) for k in (0.93, 0.97, 1.0)]  # B G R
        self.tint = np.stack(warm, axis=1).reshape(256, 1, 3)

    def render(self, frame_bgr: Image) -> np.ndarray:
        luma = self.stable(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY))
        small = cv2.GaussianBlur(cv2.resize(luma, self.work, interpolation=cv2.INTER_AREA), (0, 0), self.blur)
        wide = cv2.resize(
            small, (self.width, self.height), dst=self.buffer("wide"), interpolation=cv2.INTER_LINEAR
        )
        num = np.add(luma, self.OFFSET, out=self.buffer("num"))
        den = np.add(wide, self.OFFSET, out=self.buffer("den"))
        dodge = cv2.divide(num, den, dst=num, scale=255.0)
        pencil = cv2.LUT(cv2.convertScaleAbs(dodge), self.tone)
        darkness = cv2.LUT(cv2.bitwise_not(cv2.convertScaleAbs(wide)), self.darkness)
        hatching = cv2.multiply(darkness, self.hatch, scale=1.0 / 255.0)
        gray = cv2.multiply(pencil, cv2.bitwise_not(hatching), scale=1.0 / 255.0)
        gray = cv2.multiply(gray, self.paper, scale=1.0 / 255.0)
        out: np.ndarray = cv2.LUT(cv2.merge([gray, gray, gray]), self.tint)
        return out


class Watercolor(Stylizer):
    """Washes of colour on grainy paper.

    Reduced copy: stabilised, flattened into washes by repeated median filters, its colour bled into a
    blurred copy through a fixed pigment mask, wash edges darkened (pigment pools where a wash ends),
    lightened like transparent paint. Full size: fixed pigment granulation and paper grain.
    """

    style = "watercolor"

    def __init__(self, width: int, height: int) -> None:
        super().__init__(width, height)
        self.work = _work_size(width, height, 320 * 180)
        ww, wh = self.work
        self.unit = wh / 180.0
        self.stable = self.temporal(noise=10.0, floor=0.25)
        self.edge_darkening = 0.03  # per level of difference from the local mean, up to 40 %
        self.bleed = _noise(self.rng, ww, wh, 6.0 * self.unit)[:, :, None] * 0.8
        s = height / 720.0
        fine = _noise(self.rng, width, height, max(0.6, 1.2 * s))
        grains = _noise(self.rng, width, height, max(0.8, 2.0 * s))
        coarse = _noise(self.rng, width, height, 6.0 * s)
        # Pigment granulation: x 0.88 .. 1.12 of the pigment (x 200 for a uint8 multiply). Finer or
        # stronger grain doubles the bitrate, since it moves with the paint.
        self.granulation = cv2.merge([np.round(200.0 * (0.88 + 0.24 * grains)).astype(np.uint8)] * 3)
        paper = 0.93 + 0.07 * (0.4 * fine + 0.6 * coarse)
        self.paper = cv2.merge([np.round(255.0 * paper).astype(np.uint8)] * 3)

    def render(self, frame_bgr: Image) -> np.ndarray:
        small = cv2.resize(frame_bgr, self.work, interpolation=cv2.INTER_AREA)
        small = self.stable(small).astype(np.uint8)
        for _ in range(4):  # four 5-pixel medians: much the washes of 5 + 7, at a fifth of the cost
            small = cv2.medianBlur(small, 5)
        wash = small.astype(np.float32)
        blurred = cv2.GaussianBlur(wash, (0, 0), 3.0 * self.unit)
        col = wash + (blurred - wash) * self.bleed
        lum = cv2.cvtColor(col, cv2.COLOR_BGR2GRAY)
        edge = cv2.absdiff(lum, cv2.GaussianBlur(lum, (0, 0), 2.0 * self.unit))
        col *= (1.0 - np.minimum(edge * self.edge_darkening, 0.4))[:, :, None]
        col = 255.0 - (255.0 - col) * 0.85  # transparent paint: lighter than the scene
        big = cv2.resize(
            np.clip(col, 0, 255).astype(np.uint8), (self.width, self.height), interpolation=cv2.INTER_CUBIC
        )
        pigment = cv2.multiply(cv2.bitwise_not(big), self.granulation, scale=1.0 / 200.0)
        out: np.ndarray = cv2.multiply(cv2.bitwise_not(pigment), self.paper, scale=1.0 / 255.0)
        return out


class Oil(Stylizer):
    """Thick paint: a generalised Kuwahara filter (four quadrants, weighted by their luma variance so
    the choice between them is smooth, not a hard argmin) on the stabilised reduced copy, saturated,
    lit like impasto from its own luma, then a fixed canvas weave at full size."""

    style = "oil"

    def __init__(self, width: int, height: int) -> None:
        super().__init__(width, height)
        self.work = _work_size(width, height, 640 * 360)
        self.radius = max(2, round(5 * self.work[1] / 360))  # box filters: the cost does not grow with it
        self.stable = self.temporal(noise=10.0, floor=0.25)
        saturate = _curve(lambda x: 0.5 + 1.3 * (x - 0.5))
        self.palette = np.stack([np.arange(256, dtype=np.uint8), saturate, saturate], axis=1).reshape(
            256, 1, 3
        )
        weave = _noise(self.rng, width, height, 0.6)
        self.canvas = cv2.merge([np.round(255.0 * (0.9 + 0.1 * weave)).astype(np.uint8)] * 3)

    def render(self, frame_bgr: Image) -> np.ndarray:
        small = cv2.resize(frame_bgr, self.work, interpolation=cv2.INTER_AREA)
        col = self.stable(small)
        col = kuwahara(col, self.radius)
        lum = cv2.cvtColor(col, cv2.COLOR_BGR2GRAY)
        relief = cv2.Sobel(cv2.GaussianBlur(lum, (0, 0), 1.0), cv2.CV_32F, 1, 1, ksize=3)
        col *= np.clip(1.0 + relief * 0.02, 0.8, 1.2)[:, :, None]
        u8 = np.clip(col, 0, 255).astype(np.uint8)
        u8 = cv2.cvtColor(cv2.LUT(cv2.cvtColor(u8, cv2.COLOR_BGR2YCrCb), self.palette), cv2.COLOR_YCrCb2BGR)
        big = cv2.resize(u8, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        out: np.ndarray = cv2.multiply(big, self.canvas, scale=1.0 / 255.0)
        return out


def kuwahara(image: Image, radius: int) -> np.ndarray:
    """Generalised Kuwahara filter of a BGR image (float32 out), with box filters over four quadrants.

    Each pixel is the average of the means of its four (radius+1)-square quadrants, weighted by
    1 / (1 + var / 25) ** 4, var being the quadrant's luma variance: the flattest quadrant dominates,
    and the weights change smoothly with the picture (a plain Kuwahara filter's argmin jumps).
    """
    img = np.ascontiguousarray(image, dtype=np.float32)
    h, w = img.shape[:2]
    r = radius
    size = (r + 1, r + 1)
    lum = cv2.copyMakeBorder(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), r, r, r, r, cv2.BORDER_REFLECT101)
    # With the anchor at the top-left corner, mean[y, x] covers padded[y : y + r + 1, x : x + r + 1]; the
    # quadrants of pixel (y, x) (padded (y + r, x + r)) then start at offsets (0 or r, 0 or r).
    box = cv2.boxFilter(cv2.copyMakeBorder(img, r, r, r, r, cv2.BORDER_REFLECT101), -1, size, anchor=(0, 0))
    planes = cv2.split(box)  # per channel: OpenCV's products need matching channel counts
    mean = cv2.boxFilter(lum, -1, size, anchor=(0, 0))
    square = cv2.sqrBoxFilter(lum, cv2.CV_32F, size, anchor=(0, 0))
    totals = [np.zeros((h, w), np.float32) for _ in planes]
    weights = np.zeros((h, w), np.float32)
    for dy, dx in ((0, 0), (0, r), (r, 0), (r, r)):
        m = mean[dy : dy + h, dx : dx + w]
        x = square[dy : dy + h, dx : dx + w] - m * m
        x *= 1.0 / 25.0
        x += 1.0
        x *= x
        x *= x
        wt = np.reciprocal(x, out=x)
        for plane, total in zip(planes, totals, strict=True):
            cv2.accumulateProduct(plane[dy : dy + h, dx : dx + w], wt, total)
        weights += wt
    out: np.ndarray = cv2.merge([cv2.divide(total, weights) for total in totals])
    return out


_KINDS: dict[str, type[Stylizer]] = {
    "cartoon": Cartoon,
    "sketch": Sketch,
    "watercolor": Watercolor,
    "oil": Oil,
}


def stylizer_for(style: str, width: int, height: int) -> Stylizer:
    """A fresh stylizer (with its own temporal state) for one video of the given frame size."""
    kind = _KINDS.get(style)
    if kind is None:
        raise BadRequest(f"style must be one of {', '.join(STYLES)}, not {style!r}")
    return kind(width, height)


# --------------------------------------------------------------------------------------------------
# Flicker


def frame_differences(frames: Iterable[Image]) -> np.ndarray:
    """Mean absolute change between consecutive frames (BGR or luma), per pair, on their luma shrunk so
    that its longer side is at most FLICKER_SIDE pixels. 0-255 levels."""
    diffs: list[float] = []
    prev: np.ndarray | None = None
    for frame in frames:
        luma = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        small = _flicker_size(luma).astype(np.int16)
        if prev is not None:
            diffs.append(float(np.mean(np.abs(small - prev))))
        prev = small
    return np.asarray(diffs, dtype=np.float64)


def flicker_of(frames: Iterable[Image], skip: Iterable[int] = ()) -> float:
    """The flicker measure of frames in memory: mean of `frame_differences`, leaving out the changes
    into the frames listed in `skip` (for example known scene cuts, which would hide flicker)."""
    return _mean_skipping(frame_differences(frames), skip)


def flicker(path: Path, skip: Iterable[int] = ()) -> float:
    """The flicker measure of a video file: the mean absolute frame-to-frame change of its luma, shrunk
    so that its longer side is FLICKER_SIDE pixels (0-255 levels). See `flicker_of`."""
    return _mean_skipping(frame_differences(_decode_luma(path)), skip)


def _mean_skipping(diffs: np.ndarray, skip: Iterable[int]) -> float:
    keep = np.ones(len(diffs), dtype=bool)
    for frame in skip:
        if 1 <= frame <= len(diffs):
            keep[frame - 1] = False
    return float(diffs[keep].mean()) if keep.any() else 0.0


def _flicker_size(luma: Image) -> np.ndarray:
    h, w = luma.shape[:2]
    scale = min(1.0, FLICKER_SIDE / max(w, h))
    if scale >= 1.0:
        return luma
    out: np.ndarray = cv2.resize(
        luma, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
    )
    return out


def _decode_luma(path: Path) -> Iterable[np.ndarray]:
    with av.open(str(path), metadata_errors="ignore") as container:
        vs = video_stream(container)
        vs.thread_type = DECODE_THREADS
        for frame in container.decode(vs):
            yield frame.to_ndarray(format="gray")


# --------------------------------------------------------------------------------------------------
# Video


#: Makes the per-video frame filter from the frame size and rate: (width, height, fps) -> filter.
FilterFactory = Callable[[int, int, float], Callable[[np.ndarray], np.ndarray]]


def stylize_video(src: Path, dst: Path, style: str, progress: Progress | None = None) -> Path:
    """Decode `src`, stylize every frame, encode H.264 to the MP4 `dst` (see `filter_video`)."""
    if style not in _KINDS:
        raise BadRequest(f"style must be one of {', '.join(STYLES)}, not {style!r}")
    return filter_video(src, dst, lambda width, height, fps: stylizer_for(style, width, height), progress)


def filter_video(src: Path, dst: Path, make: FilterFactory, progress: Progress | None = None) -> Path:
    """Decode `src`, pass every frame through the filter `make` builds, encode H.264 to the MP4 `dst` with
    the same frame size, frame rate, frame count and timestamps, and copy the audio packets unchanged.

    Three stages overlap: a reader thread demuxes, decodes and converts to BGR; the calling thread
    stylizes; a writer thread converts back to YUV, encodes and muxes. OpenCV releases the GIL inside
    its calls and x264 encodes on its own threads, so on two cores the stages run largely side by side.
    Returns `dst`; on failure `dst` is removed.
    """
    try:
        inp = av.open(str(src), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise CorruptMedia(f"the file could not be opened for decoding: {exc}") from None
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        with inp:
            vin = video_stream(inp)
            with av.open(str(dst), "w", format="mp4") as out:
                count = _transcode(inp, vin, out, make, progress)
    except BaseException:
        dst.unlink(missing_ok=True)
        raise
    if count == 0:
        dst.unlink(missing_ok=True)
        raise CorruptMedia("no video frame could be decoded; the file is damaged or truncated")
    if progress is not None:
        progress(1.0)
    return dst


#: How many frames each stage may run ahead of the next.
PIPELINE_DEPTH = 4


def _transcode(
    inp: av.container.InputContainer,
    vin: av.VideoStream,
    out: av.container.OutputContainer,
    make: FilterFactory,
    progress: Progress | None,
) -> int:
    vin.thread_type = DECODE_THREADS
    ain = inp.streams.audio[0] if inp.streams.audio else None
    # x264 needs even dimensions for 4:2:0: an odd-sized video is scaled to the even size just below.
    width, height = vin.codec_context.width // 2 * 2, vin.codec_context.height // 2 * 2
    if width < 8 or height < 8:
        raise CorruptMedia(f"the video stream has no usable frame size ({width}x{height})")
    rate = vin.average_rate or vin.guessed_rate or Fraction(25)
    vout = out.add_stream("libx264", rate=rate)
    vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
    vout.options = {"preset": PRESET, "crf": str(CRF)}
    # Pictures are written by OpenCV's converter, BT.601 limited range: say so, or players guess.
    vout.codec_context.colorspace, vout.codec_context.color_range = Colorspace.ITU601, ColorRange.MPEG
    if vin.time_base is not None:
        vout.codec_context.time_base = vin.time_base  # frames keep their own timestamps, unrounded
    aout = out.add_stream_from_template(ain) if ain is not None else None
    expected = int(vin.frames or 0) or round(float(inp.duration or 0) / av.time_base * float(rate))
    stylize = make(width, height, float(rate))

    def packets() -> Iterator[tuple[np.ndarray | None, av.Packet[Any] | av.VideoFrame]]:
        streams = [vin] + ([ain] if ain is not None else [])
        try:
            for packet in inp.demux(*streams):
                if packet.stream is ain:
                    if packet.dts is not None:  # the demuxer ends each stream with an empty packet
                        yield None, packet
                    continue
                for frame in packet.decode():
                    if isinstance(frame, av.VideoFrame):
                        yield _frame_bgr(frame, width, height), frame
        except av.error.FFmpegError as exc:
            raise CorruptMedia(f"decoding failed: {exc}") from None

    def write(picture: np.ndarray | None, item: av.Packet[Any] | av.VideoFrame | None, index: int) -> None:
        if isinstance(item, av.Packet):
            item.stream = aout
            out.mux(item)
            return
        if picture is None:  # the end: drain the encoder
            out.mux(vout.encode(None))
            return
        i420: np.ndarray = cv2.cvtColor(picture, cv2.COLOR_BGR2YUV_I420)
        frame = av.VideoFrame.from_ndarray(i420, format="yuv420p")
        if item is not None and item.pts is not None:
            frame.pts, frame.time_base = item.pts, item.time_base
        else:
            frame.pts, frame.time_base = index, 1 / rate
        out.mux(vout.encode(frame))

    count = 0
    source = packets()
    # Audio that comes before the first picture waits for it: the picture's display matrix has to be on the
    # output stream before anything is muxed (muxing writes the header).
    held: list[tuple[np.ndarray | None, av.Packet[Any] | av.VideoFrame, int]] | None = []
    with ThreadPoolExecutor(1, "stylize-read") as reader, ThreadPoolExecutor(1, "stylize-write") as writer:
        # One worker per pool runs the tasks in submission order: the reader's `next` calls yield the
        # packets and frames in file order, the writer muxes in that order.
        ahead = deque(reader.submit(next, source, None) for _ in range(PIPELINE_DEPTH))
        writes: deque[Future[None]] = deque()
        while True:
            got = ahead.popleft().result()
            if got is None:
                break
            ahead.append(reader.submit(next, source, None))
            picture, item = got
            if picture is not None:
                if held is not None:
                    matrix = orient.display_matrix(item) if isinstance(item, av.VideoFrame) else None
                    if matrix is not None:  # the turn, and a mirror where there is one
                        vout.set_display_matrix(matrix)
                    writes.extend(writer.submit(write, *args) for args in held)
                    held = None
                picture = stylize(picture)
                count += 1
                if progress is not None and count % 15 == 0 and expected:
                    progress(min(0.99, count / expected))
            if held is not None:
                held.append((picture, item, count - 1))
                continue
            writes.append(writer.submit(write, picture, item, count - 1))
            while len(writes) > PIPELINE_DEPTH:
                writes.popleft().result()
        for w in writes:
            w.result()
        if count:
            writer.submit(write, None, None, count).result()
    return count


def _frame_bgr(frame: av.VideoFrame, width: int, height: int) -> np.ndarray:
    """A decoded frame as BGR at width x height: 8-bit 4:2:0 goes through OpenCV (in the stream's YUV
    matrix and range), several times cheaper than swscale; HDR is mapped to SDR."""
    return colour.frame_to_bgr(frame, width, height)
