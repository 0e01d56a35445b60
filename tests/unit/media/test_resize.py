"""`shrink` gives OpenCV's area average (to within rounding) whatever the ratio, channels or layout."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from reelmind import samples
from reelmind.media.resize import shrink


def _photo(width: int, height: int) -> np.ndarray:
    bgr = cv2.cvtColor(samples.photo("astronaut"), cv2.COLOR_RGB2BGR)
    return cv2.resize(bgr, (width, height), interpolation=cv2.INTER_CUBIC)


def _direct(img: np.ndarray, width: int, height: int) -> np.ndarray:
    out: np.ndarray = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
    return out


@pytest.mark.parametrize(
    ("source", "target", "tolerance"),
    [
        ((1280, 720), (320, 180), 1),  # two halvings: only rounding differs
        ((1280, 720), (640, 360), 0),  # one halving is OpenCV's own path
        ((1280, 720), (160, 90), 2),  # a sprite tile: three halvings
        ((1920, 1080), (320, 180), 1),  # a halving, then a third
        ((720, 1280), (90, 160), 2),  # portrait
        ((1280, 720), (224, 224), 0),  # the square a classifier reads: no whole halving, OpenCV as is
        ((1280, 720), (480, 270), 0),  # no whole halving either
        ((1281, 721), (320, 180), 0),  # odd
    ],
)
def test_shrink_is_the_area_average(source: tuple[int, int], target: tuple[int, int], tolerance: int) -> None:
    img = _photo(*source)
    got = shrink(img, *target)
    want = _direct(img, *target)
    assert got.shape == want.shape == (target[1], target[0], 3)
    assert got.dtype == np.uint8
    diff = np.abs(got.astype(np.int16) - want.astype(np.int16))
    assert int(diff.max()) <= tolerance
    assert float(diff.mean()) < 0.5


def test_shrink_reads_planes_and_views() -> None:
    luma = cv2.cvtColor(_photo(1344, 720), cv2.COLOR_BGR2GRAY)
    view = luma[:, :1280]  # a decoder's plane: rows longer than the picture
    got = shrink(view, 320, 180)
    assert got.shape == (180, 320)
    assert int(np.abs(got.astype(np.int16) - _direct(np.ascontiguousarray(view), 320, 180)).max()) <= 1


def test_shrink_to_the_same_size_or_larger_is_opencv() -> None:
    img = _photo(320, 180)
    assert shrink(img, 320, 180) is img
    assert np.array_equal(shrink(img, 480, 270), _direct(img, 480, 270))


def test_shrink_refuses_an_empty_size() -> None:
    with pytest.raises(ValueError, match="0x180"):
        shrink(_photo(320, 180), 0, 180)
