"""Shrinking pictures: OpenCV's area average, by the road OpenCV makes fast.

`cv2.resize(..., INTER_AREA)` has a vectorised path for an exact halving only; any other ratio (1280 to
320 wide, 1280 to a 160 px sprite tile) takes a generic path several times slower. Where the ratio
holds whole halvings, halving first and averaging the rest of the way is the same average (each output
pixel still covers the same block of input pixels), so the picture is the same to within rounding, for
a fraction of the time. Other ratios go to OpenCV as they are.
"""

from __future__ import annotations

import cv2
import numpy as np


def shrink(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """`img` (h, w) or (h, w, c) resized to `width` x `height` by area averaging: what
    `cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)` gives, to within a level of 255
    per halving taken."""
    if width < 1 or height < 1:
        raise ValueError(f"cannot shrink to {width}x{height}")
    h, w = img.shape[:2]
    while w % (2 * width) == 0 and h % (2 * height) == 0:
        w, h = w // 2, h // 2
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    if (w, h) == (width, height):
        return img
    out: np.ndarray = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
    return out
