"""Frame quality: the figures are the textbook ones (numpy's mean, std and variance of the Laplacian)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from reelmind.media.frames import analysis_luma, frame_quality


def _reference(luma: np.ndarray) -> tuple[float, float, float, float]:
    g = analysis_luma(luma)
    lap = float(cv2.Laplacian(g, cv2.CV_32F).var())
    return float(g.mean()), float(g.std()), lap, float(np.mean((g < 8) | (g > 247)))


def _pictures() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    noise = (rng.random((720, 1280)) * 255).astype(np.uint8)
    padded = np.zeros((720, 1344), np.uint8)  # a decoder's plane: rows longer than the picture
    padded[:, :1280] = cv2.GaussianBlur(noise, (0, 0), 12)
    ramp = np.tile(np.linspace(0, 255, 333).astype(np.uint8), (187, 1))  # odd size, both ends clipped
    return {
        "noise": noise,
        "blurred view of padded rows": padded[:, :1280],
        "odd-sized ramp": ramp,
        "black": np.full((360, 640), 5, np.uint8),
        "grey": np.full((360, 640), 128, np.uint8),
        "white": np.full((360, 640), 252, np.uint8),
    }


@pytest.mark.parametrize("name", list(_pictures()))
def test_quality_figures_equal_the_numpy_definitions(name: str) -> None:
    luma = _pictures()[name]
    mean, std, lap, clipped = _reference(luma)
    q = frame_quality(luma)
    # numpy sums the float32 Laplacian in float32, OpenCV in float64: they part in the ninth digit
    assert q.sharpness == pytest.approx(1.0 - np.exp(-lap / 300.0), abs=1e-7)
    assert q.contrast == pytest.approx(min(1.0, std / 64.0), abs=1e-9)
    assert q.exposure == pytest.approx(max(0.0, 1.0 - abs(mean - 118.0) / 118.0) * (1.0 - clipped), abs=1e-9)
    assert q.black == (mean < 24.0 and std < 12.0)
    assert q.flat == (std < 4.0)


def test_the_extremes_read_as_expected() -> None:
    pictures = _pictures()
    assert frame_quality(pictures["black"]).black and not frame_quality(pictures["black"]).usable
    assert frame_quality(pictures["white"]).exposure == 0.0  # every pixel clipped
    assert frame_quality(pictures["noise"]).sharpness > 0.99
    assert frame_quality(pictures["blurred view of padded rows"]).sharpness < 0.5
