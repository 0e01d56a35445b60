"""Technical quality of a whole video: one 0-100 score and the parts it is made of. Pure numpy/OpenCV.

Picture parts are measured on the keyframes, brought to one analysis size so that they do not depend on
the upload's resolution:

- sharpness: the blur effect of Crété-Roffet et al. (2007), how much of the picture's fine variation a
  strong re-blur keeps; a crisp picture loses most of it, a soft one little;
- exposure: mean luma, with clipped highlights and crushed shadows;
- noise: Immerkær's fast estimator (1996) restricted to the flattest half of the picture, so that edges
  and texture are not taken for noise.

Stream parts come from the media info: resolution (short side), bitrate (bits per pixel per frame
against what H.264 needs at that frame size) and frame rate. Time parts come from the per-frame luma
thumbnails of the scan: black stretches, frozen stretches (consecutive near-identical pictures) and
shake: the frame-to-frame translation found by phase correlation gives the camera path; shake is what
is left of the path after fitting it locally by straight lines in time, so a steady pan or a slow drift
is not shake, however irregularly the decoded samples are spaced.

The score is a weighted geometric mean of the part scores, so that one very poor part pulls the whole
down more than an average would, minus penalties for the share of the video covered by black, frozen
and shaky stretches, clamped to 0..100.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import cv2
import numpy as np

from reelmind.media.grab import stretches
from reelmind.media.resize import shrink

QUALITY_VERSION = "quality-4"  # 4: shake from a local straight-line fit in time (uneven samples)

ANALYSIS_SIDE = 640  # keyframes are measured with their long side at most this (never upscaled)

DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "sharpness": 0.22,
        "exposure": 0.15,
        "noise": 0.12,
        "resolution": 0.15,
        "bitrate": 0.10,
        "frame_rate": 0.08,
        "shake": 0.18,
    }
)

_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
_LEVELS = np.arange(256, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class QualityConfig:
    # Weights of the part scores in the overall geometric mean; a part not named here does not count.
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    # Points taken off the overall score when stretches of that kind cover the whole video.
    black_penalty: float = 100.0
    frozen_penalty: float = 60.0
    shake_penalty: float = 40.0
    # A picture or stream part scoring below this is also reported as a whole-video issue.
    issue_below: float = 40.0
    # Sharpness, 1 - blur effect: scores 0 at the first value, 100 at the second.
    sharpness_range: tuple[float, float] = (0.30, 0.65)
    blur_size: int = 9  # length of the re-blur's box, in analysis pixels
    # Exposure: a mean luma inside the band is fine, falling to 0 at the limits.
    exposure_band: tuple[float, float] = (70.0, 180.0)
    exposure_limits: tuple[float, float] = (12.0, 245.0)
    clip_weight: float = 2.0  # score share lost per share of clipped pixels (<= 4 or >= 251)
    # Noise sigma in 8-bit luma at analysis size: 100 at or below the first value, 0 at the second.
    noise_range: tuple[float, float] = (2.0, 10.0)
    flat_share: float = 0.5  # the share of the picture, lowest gradient first, where noise is measured
    # Resolution: (short side px, score) anchors, linear in between.
    resolution_steps: tuple[tuple[float, float], ...] = (
        (0.0, 0.0),
        (240.0, 30.0),
        (480.0, 60.0),
        (720.0, 85.0),
        (1080.0, 100.0),
    )
    # Bitrate: the bits per pixel per frame H.264 needs at 1280x720 for a clean picture; smaller frames
    # need more per pixel, as (720p pixels / pixels) ** bpp_size_exponent. Scores 0 at good / poor_factor.
    good_bpp_720p: float = 0.06
    bpp_size_exponent: float = 0.25
    bpp_poor_factor: float = 8.0
    # Frame rate: (fps, score) anchors.
    frame_rate_steps: tuple[tuple[float, float], ...] = (
        (0.0, 0.0),
        (10.0, 10.0),
        (15.0, 40.0),
        (24.0, 100.0),
    )
    # Black: thumbnail mean luma below this with little structure (limited-range black is 16).
    black_luma: float = 28.0
    black_std: float = 8.0
    black_min_s: float = 0.5
    # Frozen: mean absolute thumbnail difference from the previous frame below this.
    frozen_diff: float = 0.25
    frozen_min_s: float = 1.0
    # Shake, in % of the frame diagonal: the camera path's distance from its local straight-line fit,
    # scaled to the jitter that leaves it (see `_local_line`).
    shake_smooth_s: float = 0.1  # sigma of the fit's Gaussian weights; slower motion is camera work
    shake_window_s: float = 1.0  # RMS window for the local shake level
    shake_issue: float = 0.56  # a local level above this is a shaky stretch
    shake_min_s: float = 1.0
    shake_range: tuple[float, float] = (0.28, 1.68)  # 100 at or below, 0 at or above
    min_response: float = 0.05  # phase correlation peaks below this are not trusted (cuts, flat frames)
    max_shift: float = 0.25  # nor are shifts over this share of the thumbnail's short side


DEFAULT_QUALITY_CONFIG = QualityConfig()


@dataclass(frozen=True, slots=True)
class QualityInput:
    width: int  # of the pictures the thumbnails were made from, as stored
    height: int
    fps: float
    bitrate_bps: int  # 0 when unknown: the bitrate part is then left out
    duration_s: float
    times: np.ndarray  # seconds, per thumbnail
    features: np.ndarray  # (n, h, w) uint8 luma thumbnails of every decoded frame (a dense sample)
    keyframes: Sequence[np.ndarray]  # BGR uint8 (a 2-D array is taken as luma)


@dataclass(frozen=True, slots=True)
class Part:
    value: float  # the measurement, in `unit`
    score: float  # 0..100
    unit: str

    def to_dict(self) -> dict[str, float | str]:
        return {"value": _num(self.value, 4), "score": _num(self.score, 1), "unit": self.unit}


@dataclass(frozen=True, slots=True)
class Issue:
    # black | frozen | shake (stretches); blurry | noisy | underexposed | overexposed | low_resolution |
    # low_bitrate | low_frame_rate (the whole video)
    kind: str
    start_s: float
    end_s: float
    detail: str

    def to_dict(self) -> dict[str, float | str]:
        return {
            "kind": self.kind,
            "start_s": _num(self.start_s, 3),
            "end_s": _num(self.end_s, 3),
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class QualityReport:
    score: float  # 0..100
    parts: dict[str, Part]
    issues: list[Issue]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": QUALITY_VERSION,
            "score": _num(self.score, 1),
            "parts": {name: part.to_dict() for name, part in self.parts.items()},
            "issues": [issue.to_dict() for issue in self.issues],
        }


def assess(inp: QualityInput, config: QualityConfig = DEFAULT_QUALITY_CONFIG) -> QualityReport:
    """The technical quality report of one video. Raises ValueError on empty or inconsistent input."""
    features, times = _validate(inp)
    dt = _sample_period(times, inp.fps)  # the thumbnails may sample the frames (see media.signals)
    fps = inp.fps if inp.fps > 0 and math.isfinite(inp.fps) else 1.0 / dt
    duration = max(inp.duration_s if math.isfinite(inp.duration_s) else 0.0, _span(times, dt))

    lumas = [_analysis_luma(k) for k in inp.keyframes]
    hists = [_histogram(g) for g in lumas]
    usable = [g for g, h in zip(lumas, hists, strict=True) if _usable(h)] or lumas
    parts = {
        "sharpness": _sharpness(usable, config),
        "exposure": _exposure(hists, config),
        "noise": _noise(usable, config),
        "resolution": _resolution(inp.width, inp.height, config),
    }
    if inp.bitrate_bps > 0:
        parts["bitrate"] = _bitrate(inp.bitrate_bps, inp.width, inp.height, fps, config)
    parts["frame_rate"] = Part(fps, _interp(fps, config.frame_rate_steps), "fps")
    issues = _whole_video_issues(parts, duration, config)

    clock = _Clock(times, dt, 1.0 / dt)
    stretches = _timeline(features, clock, inp.width, inp.height, config)
    penalties = {
        "black": config.black_penalty,
        "frozen": config.frozen_penalty,
        "shake": config.shake_penalty,
    }
    penalty = 0.0
    for kind, (part, runs, found) in stretches.items():
        parts[kind] = part
        issues += found
        penalty += penalties[kind] * _share(runs, len(features))
    issues.sort(key=lambda issue: (issue.start_s, issue.kind))
    return QualityReport(
        score=_clamp(_geometric_mean(parts, config.weights) - penalty), parts=parts, issues=issues
    )


@dataclass(frozen=True, slots=True)
class _Clock:
    times: np.ndarray  # seconds, per frame, not decreasing
    dt: float  # one sample's duration
    fps: float  # samples per second

    def spans(self, runs: Sequence[tuple[int, int]]) -> list[tuple[float, float]]:
        """Frame runs in seconds: from the first frame's start to the last frame's end."""
        return [(float(self.times[a]), float(self.times[b - 1]) + self.dt) for a, b in runs]

    def runs(self, mask: np.ndarray, min_s: float) -> list[tuple[int, int]]:
        """[first, last + 1) frame ranges of the runs of True in `mask` that last at least `min_s`."""
        edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
        pairs = zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True)
        return [(a, b) for a, b in pairs if self.times[b - 1] + self.dt - self.times[a] >= min_s - 1e-6]


_Stretches = dict[str, tuple[Part, list[tuple[int, int]], list[Issue]]]


def _timeline(
    features: np.ndarray, clock: _Clock, width: int, height: int, config: QualityConfig
) -> _Stretches:
    """Black, frozen and shaky stretches on the thumbnails: per kind, its part, frame runs and issues."""
    n = len(features)
    flat = features.reshape(n, -1)
    black = _row_means(flat) < config.black_luma
    black[black] = flat[black].std(axis=1) < config.black_std  # dark, and without structure
    diff = _frame_diffs(features)
    out: _Stretches = {}

    runs = clock.runs(black, config.black_min_s)
    found = [Issue("black", s, e, f"black picture for {e - s:.2f} s") for s, e in clock.spans(runs)]
    out["black"] = (_share_part(runs, n), runs, found)

    same = (diff < config.frozen_diff) & ~black[1:] & ~black[:-1]
    frozen = np.zeros(n, bool)
    frozen[1:] |= same  # a frame that repeats the one before it ...
    frozen[:-1] |= same  # ... and the frame it repeats
    runs = clock.runs(frozen, config.frozen_min_s)
    found = [Issue("frozen", s, e, f"frozen picture for {e - s:.2f} s") for s, e in clock.spans(runs)]
    out["frozen"] = (_share_part(runs, n), runs, found)

    residual = _shake_residual(features, clock.times, black, diff, width, height, config)
    level = float(np.sqrt(np.mean(residual**2)))
    window = max(1, round(config.shake_window_s * clock.fps))
    start = (window - 1) // 2  # a centred moving RMS, n long even when the window is longer
    local = np.sqrt(np.convolve(residual**2, np.ones(window) / window)[start : start + n])
    runs = clock.runs(local > config.shake_issue, config.shake_min_s)
    found = [
        Issue("shake", s, e, f"camera shake, up to {float(local[a:b].max()):.2f}% of the diagonal")
        for (a, b), (s, e) in zip(runs, clock.spans(runs), strict=True)
    ]
    out["shake"] = (Part(level, _ramp_down(level, config.shake_range), "% of diagonal"), runs, found)
    return out


# --- validation and small helpers ---


def _validate(inp: QualityInput) -> tuple[np.ndarray, np.ndarray]:
    features = np.asarray(inp.features)
    if features.ndim != 3 or 0 in features.shape:
        raise ValueError(f"features must be a non-empty (frames, h, w) array, got shape {features.shape}")
    times = np.asarray(inp.times, dtype=np.float64).reshape(-1)
    if len(times) != len(features):
        raise ValueError(f"times has {len(times)} entries for {len(features)} feature frames")
    if not np.all(np.isfinite(times)) or np.any(np.diff(times) < 0):
        raise ValueError("times must be finite and must not decrease")
    if len(inp.keyframes) == 0:
        raise ValueError("at least one keyframe is needed to measure the picture")
    for k in inp.keyframes:
        if np.ndim(k) not in (2, 3) or 0 in np.shape(k):
            raise ValueError(f"a keyframe must be a non-empty image, got shape {np.shape(k)}")
    if inp.width <= 0 or inp.height <= 0:
        raise ValueError(f"the frame size must be positive, got {inp.width}x{inp.height}")
    if features.dtype != np.uint8:
        features = np.clip(features, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(features), times


def _sample_period(times: np.ndarray, fps: float) -> float:
    """The typical step between thumbnails; one frame's duration where there are too few to tell."""
    steps = np.diff(times)
    steps = steps[steps > 0]
    if len(steps):
        return float(np.median(steps))
    return 1.0 / fps if fps > 0 and math.isfinite(fps) else 1.0 / 30.0


def _span(times: np.ndarray, dt: float) -> float:
    return float(times[-1] - times[0]) + dt


def _interp(x: float, steps: Sequence[tuple[float, float]]) -> float:
    xs, ys = zip(*steps, strict=True)
    return _clamp(float(np.interp(x, xs, ys)))


def _ramp_down(x: float, good_bad: tuple[float, float]) -> float:
    """100 at or below `good`, 0 at or above `bad`, linear in between."""
    good, bad = good_bad
    return _clamp(100.0 * (bad - x) / (bad - good))


def _ramp_up(x: float, bad_good: tuple[float, float]) -> float:
    """0 at or below `bad`, 100 at or above `good`, linear in between."""
    bad, good = bad_good
    return _clamp(100.0 * (x - bad) / (good - bad))


def _clamp(x: float) -> float:
    return float(min(100.0, max(0.0, x))) if math.isfinite(x) else 0.0


def _num(x: float, digits: int) -> float:
    return round(float(x), digits) if math.isfinite(x) else 0.0


def _geometric_mean(parts: Mapping[str, Part], weights: Mapping[str, float]) -> float:
    used = [(parts[name].score, w) for name, w in weights.items() if name in parts and w > 0]
    total = sum(w for _, w in used)
    if total <= 0:
        return 100.0
    return 100.0 * math.exp(sum(w * math.log(max(1.0, s) / 100.0) for s, w in used) / total)


def _share(runs: Sequence[tuple[int, int]], n: int) -> float:
    return sum(b - a for a, b in runs) / n


def _share_part(runs: Sequence[tuple[int, int]], n: int) -> Part:
    share = _share(runs, n)
    return Part(100.0 * share, 100.0 * (1.0 - share), "% of frames")


# --- picture parts, on keyframes ---


def _analysis_luma(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 3:
        img = (
            cv2.cvtColor(np.ascontiguousarray(img[:, :, :3]), cv2.COLOR_BGR2GRAY)
            if img.shape[2] >= 3
            else img[:, :, 0]
        )
    h, w = img.shape
    scale = ANALYSIS_SIDE / max(h, w)
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        img = shrink(img, *size)
    return np.ascontiguousarray(img)


def blur_effect(luma: np.ndarray, size: int = 9) -> float:
    """0 (crisp) .. 1 (blurred), the worse of the two directions (Crété-Roffet, Dolmiere, Ladret &
    Nicolas, "The blur effect: perception and estimation with a new no-reference perceptual blur
    metric", 2007): the share of neighbour-to-neighbour variation that survives a `size`-long box blur.
    A direction without any variation is left out; a picture without any counts as fully blurred."""
    effects = []
    h, w = luma.shape
    for vertical in (True, False):
        if (h if vertical else w) < 2:
            continue
        blurred = cv2.blur(luma, (1, size) if vertical else (size, 1))
        if vertical:
            d_f = cv2.absdiff(luma[1:], luma[:-1])
            d_b = cv2.absdiff(blurred[1:], blurred[:-1])
        else:
            d_f = cv2.absdiff(luma[:, 1:], luma[:, :-1])
            d_b = cv2.absdiff(blurred[:, 1:], blurred[:, :-1])
        total = float(cv2.sumElems(d_f)[0])
        if total > 0.0:
            lost = float(cv2.sumElems(cv2.subtract(d_f, d_b))[0])  # uint8: saturates at 0
            effects.append((total - lost) / total)
    return max(effects, default=1.0)


def noise_sigma(luma: np.ndarray, flat_share: float = 0.5) -> float:
    """Gaussian noise sigma in 8-bit luma units (Immerkær, "Fast noise variance estimation", 1996).

    The 3x3 mask cancels flat areas and ramps and answers noise of sigma s with mean |response|
    6 * s * sqrt(2 / pi). It is averaged over the flattest `flat_share` of the picture, found by the
    gradient of a lightly smoothed copy, so that edges and texture are not counted as noise.
    """
    if min(luma.shape) < 3:
        return 0.0
    response = np.abs(cv2.filter2D(luma, cv2.CV_16S, _IMMERKAER, borderType=cv2.BORDER_REFLECT))
    gx, gy = cv2.spatialGradient(cv2.GaussianBlur(luma, (5, 5), 1.0))  # Sobel, int16
    grad = cv2.add(cv2.convertScaleAbs(gx, alpha=0.25), cv2.convertScaleAbs(gy, alpha=0.25))
    limit = int(np.searchsorted(np.cumsum(_histogram(grad)), flat_share))
    mask = (grad <= limit).astype(np.uint8)
    return float(cv2.mean(response, mask=mask)[0]) * math.sqrt(math.pi / 2.0) / 6.0


def _histogram(luma: np.ndarray) -> np.ndarray:
    """The share of pixels at each of the 256 luma levels."""
    hist: np.ndarray = cv2.calcHist([luma], [0], None, [256], [0, 256]).reshape(-1).astype(np.float64)
    return hist / max(1.0, float(hist.sum()))


def _usable(hist: np.ndarray) -> bool:
    """Not a black or flat picture, by the same limits as `reelmind.media.frames.frame_quality` (which
    also measures what is not needed here, and would take a tenth of the time budget)."""
    mean = float(hist @ _LEVELS)
    std = math.sqrt(max(0.0, float(hist @ (_LEVELS - mean) ** 2)))
    black = mean < 24.0 and std < 12.0
    return not black and std >= 4.0


def _sharpness(lumas: Sequence[np.ndarray], config: QualityConfig) -> Part:
    value = float(np.median([1.0 - blur_effect(g, config.blur_size) for g in lumas]))
    return Part(value, _ramp_up(value, config.sharpness_range), "1 - blur effect")


def _exposure(hists: Sequence[np.ndarray], config: QualityConfig) -> Part:
    (lo, hi), (lo_limit, hi_limit) = config.exposure_band, config.exposure_limits
    means, scores = [], []
    for hist in hists:
        mean = float(hist @ _LEVELS)
        clipped = float(hist[:5].sum() + hist[251:].sum())
        if mean < lo:
            level = (mean - lo_limit) / (lo - lo_limit)
        elif mean > hi:
            level = (hi_limit - mean) / (hi_limit - hi)
        else:
            level = 1.0
        means.append(mean)
        scores.append(100.0 * min(1.0, max(0.0, level)) * max(0.0, 1.0 - config.clip_weight * clipped))
    return Part(float(np.median(means)), float(np.median(scores)), "mean luma")


def _noise(lumas: Sequence[np.ndarray], config: QualityConfig) -> Part:
    value = float(np.median([noise_sigma(g, config.flat_share) for g in lumas]))
    return Part(value, _ramp_down(value, config.noise_range), "luma sigma")


# --- stream parts, from the media info ---


def _resolution(width: int, height: int, config: QualityConfig) -> Part:
    short = float(min(width, height))
    return Part(short, _interp(short, config.resolution_steps), "px (short side)")


def _bitrate(bitrate_bps: int, width: int, height: int, fps: float, config: QualityConfig) -> Part:
    pixels = float(width) * float(height)
    bpp = bitrate_bps / (pixels * fps)
    good = config.good_bpp_720p * (1280.0 * 720.0 / pixels) ** config.bpp_size_exponent
    below = math.log(max(bpp, 1e-12) / good) / math.log(config.bpp_poor_factor)  # 0 at good, -1 at poor
    return Part(bpp, _clamp(100.0 * (1.0 + below)), "bits/pixel/frame")


# --- time parts, on the luma thumbnails ---


def _frame_diffs(features: np.ndarray) -> np.ndarray:
    """Mean absolute difference of each thumbnail from the one before (n - 1 values)."""
    n, w = features.shape[0], features.shape[2]
    if n < 2:
        return np.zeros(0)
    d = cv2.absdiff(features[1:].reshape(-1, w), features[:-1].reshape(-1, w))
    return _row_means(d.reshape(n - 1, -1))


def _row_means(rows: np.ndarray) -> np.ndarray:
    """The mean of each row of a 2-D uint8 array (cv2.reduce is many times faster than numpy here)."""
    sums = cv2.reduce(rows, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).reshape(-1)  # exact for any thumbnail
    out: np.ndarray = sums / rows.shape[1]
    return out


def _shake_residual(
    features: np.ndarray,
    times: np.ndarray,
    skip: np.ndarray,
    diff: np.ndarray,
    width: int,
    height: int,
    config: QualityConfig,
) -> np.ndarray:
    """Per frame, the camera's distance from its smoothed path in % of the frame diagonal.

    Consecutive thumbnails are phase-correlated; a step is trusted when the correlation peak is clear
    and the shift plausible (not across a cut, not on a black or flat picture). The path is continuous
    only across trusted steps, and each continuous piece is smoothed on its own.
    """
    n, fh, fw = features.shape
    residual = np.zeros(n)
    if n < 3 or fh < 4 or fw < 4:
        return residual
    # The window is applied here once: phaseCorrelate's own window argument multiplies its inputs in
    # place in some OpenCV builds, which would window every frame twice.
    windowed = np.empty(features.shape, np.float32)
    np.multiply(features, cv2.createHanningWindow((fw, fh), cv2.CV_32F), out=windowed, dtype=np.float32)
    frames = list(windowed)
    steps = [(0.0, 0.0)] * n
    trusted = [False] * n
    limit = config.max_shift * min(fw, fh)
    skipped, repeats = skip.tolist(), (diff == 0.0).tolist()
    # Abrupt changes (cuts, a caption appearing) are not camera motion: the path breaks there.
    abrupt = {a for a, _ in stretches(features)}
    for i in range(1, n):
        if skipped[i] or skipped[i - 1] or i in abrupt:
            continue
        if repeats[i - 1]:  # an exact repeat: no motion, and nothing to correlate
            trusted[i] = True
            continue
        (dx, dy), response = cv2.phaseCorrelate(frames[i - 1], frames[i])
        if response >= config.min_response and abs(dx) <= limit and abs(dy) <= limit:
            steps[i] = (dx, dy)
            trusted[i] = True
    shifts = np.array(steps) * (width / fw, height / fh)  # thumbnail pixels to frame pixels
    gaps = np.diff(times)
    sigma = max(config.shake_smooth_s, float(np.median(gaps[gaps > 0])) if np.any(gaps > 0) else 0.0)
    diagonal = math.hypot(width, height)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], np.array(trusted, np.int8), [0]])))
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        if b - a < 2:
            continue
        path = np.zeros((b - a + 1, 2))  # the camera position at frames a-1 .. b-1
        path[1:] = np.cumsum(shifts[a:b], axis=0)
        fitted, gain = _local_line(times[a - 1 : b], path, sigma)
        rest = path - fitted
        residual[a - 1 : b] = np.hypot(rest[:, 0], rest[:, 1]) / diagonal * 100.0 / gain
    return residual


def _local_line(times: np.ndarray, path: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """The (m, 2) path fitted at each sample by a straight line in time, weighted by a Gaussian of
    `sigma` seconds around it, and how much of a white-noise jitter each sample's residual keeps.

    A line, not a moving average: samples decoded at uneven intervals (only the frames other frames
    refer to) make a steady pan a straight line in time but a crooked one in sample order, and a
    moving average in either bends it. The gain, sqrt(1 - 2 H_ii + sum_j H_ij^2) of the fit's hat
    matrix H, divides the residual so that shake reads the same at any sampling and at the ends.
    """
    m = len(times)
    t = times - times[0]
    reach = 3.0 * sigma
    width = int(np.max(np.searchsorted(t, t + reach, side="right") - np.arange(m))) if m else 0
    offsets = np.arange(-width, width + 1)
    idx = np.arange(m)[:, None] + offsets[None, :]
    inside = (idx >= 0) & (idx < m)
    idx = np.clip(idx, 0, m - 1)
    dt = t[idx] - t[:, None]
    w = np.where(inside & (np.abs(dt) <= reach), np.exp(-0.5 * (dt / sigma) ** 2), 0.0)
    s0, s1, s2 = w.sum(axis=1), (w * dt).sum(axis=1), (w * dt * dt).sum(axis=1)
    det = s0 * s2 - s1 * s1
    line = det > 1e-12 * np.maximum(s0 * s2, 1e-300)
    # Row i of the hat matrix over its neighbours: a line through them, or their mean where a line
    # is not determined (a lone sample).
    hat = np.where(
        line[:, None],
        w * (s2[:, None] - s1[:, None] * dt) / np.where(line, det, 1.0)[:, None],
        w / s0[:, None],
    )
    fitted = np.einsum("ij,ijc->ic", hat, path[idx])
    self_weight = hat[:, width]
    gain = np.sqrt(np.maximum(1.0 - 2.0 * self_weight + (hat * hat).sum(axis=1), 1e-12))
    return fitted, gain


def _whole_video_issues(parts: Mapping[str, Part], duration: float, config: QualityConfig) -> list[Issue]:
    out = []
    checks = {
        "sharpness": ("blurry", "the picture is soft"),
        "noise": ("noisy", "visible noise"),
        "resolution": ("low_resolution", "low resolution"),
        "bitrate": ("low_bitrate", "low bitrate for the frame size"),
        "frame_rate": ("low_frame_rate", "low frame rate"),
    }
    for name, (kind, text) in checks.items():
        part = parts.get(name)
        if part is not None and part.score < config.issue_below:
            out.append(Issue(kind, 0.0, duration, f"{text}: {part.value:.3g} {part.unit}"))
    exposure = parts["exposure"]
    if exposure.score < config.issue_below:
        kind = "underexposed" if exposure.value < sum(config.exposure_band) / 2 else "overexposed"
        out.append(Issue(kind, 0.0, duration, f"{kind}: mean luma {exposure.value:.0f}"))
    return out
