"""Per-frame picture quality for keyframe and cover choice. Pure functions on numpy arrays."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from reelmind.media.resize import shrink

ANALYSIS_WIDTH = 320


@dataclass(frozen=True, slots=True)
class FrameQuality:
    sharpness: float  # 0..1, from the variance of the Laplacian
    exposure: float  # 0..1, 1 when the mean is mid-grey and little is clipped
    contrast: float  # 0..1, from the luma standard deviation
    black: bool  # nearly uniform dark frame
    flat: bool  # nearly uniform frame of any brightness (a slate, a blank)

    @property
    def usable(self) -> bool:
        return not (self.black or self.flat)

    @property
    def score(self) -> float:
        """0..1: what a cover should maximise; unusable frames score 0."""
        if not self.usable:
            return 0.0
        return 0.45 * self.sharpness + 0.35 * self.exposure + 0.20 * self.contrast

    def to_dict(self) -> dict[str, float | bool]:
        out: dict[str, float | bool] = {
            k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()
        }
        out["score"] = round(self.score, 4)
        return out


def luma_of(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)


def analysis_luma(luma: np.ndarray) -> np.ndarray:
    """Luma resized to a fixed width so scores do not depend on resolution."""
    h, w = luma.shape[:2]
    if w == ANALYSIS_WIDTH:
        return luma
    height = max(2, round(h * ANALYSIS_WIDTH / w))
    return shrink(luma, ANALYSIS_WIDTH, height)


def frame_quality(luma: np.ndarray) -> FrameQuality:
    g = analysis_luma(luma)
    # OpenCV's one-pass statistics: the same figures as numpy's mean, std and var, a third of the time.
    m, s = cv2.meanStdDev(g)
    mean, std = float(m[0, 0]), float(s[0, 0])
    lap = float(cv2.meanStdDev(cv2.Laplacian(g, cv2.CV_32F))[1][0, 0]) ** 2
    sharpness = float(1.0 - np.exp(-lap / 300.0))
    clipped = 1.0 - cv2.countNonZero(cv2.inRange(g, 8, 247)) / g.size
    exposure = float(max(0.0, 1.0 - abs(mean - 118.0) / 118.0) * (1.0 - clipped))
    contrast = float(min(1.0, std / 64.0))
    return FrameQuality(
        sharpness=sharpness,
        exposure=exposure,
        contrast=contrast,
        black=mean < 24.0 and std < 12.0,
        flat=std < 4.0,
    )
