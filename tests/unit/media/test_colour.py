"""Pictures are read in the YUV matrix and range their stream is tagged with, as phones tag them."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from reelmind import samples
from reelmind.media import colour, scan

SPACES = [("ITU601", "MPEG"), ("ITU709", "MPEG"), ("ITU709", "JPEG"), ("BT2020", "MPEG"), ("ITU601", "JPEG")]


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    out: np.ndarray = cv2.resize(samples.photo("astronaut"), (640, 360), interpolation=cv2.INTER_AREA)
    return out


def _error(bgr: np.ndarray, rgb: np.ndarray) -> float:
    return float(np.abs(bgr[:, :, ::-1].astype(int) - rgb.astype(int)).mean())


@pytest.mark.parametrize(("matrix", "levels"), SPACES)
def test_each_space_reads_back_what_ffmpeg_wrote(rgb: np.ndarray, matrix: str, levels: str) -> None:
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
        format="yuv420p", dst_colorspace=matrix, dst_color_range=levels
    )
    space = colour.YuvSpace.of(frame)
    assert space.full_range == (levels == "JPEG")
    bgr = colour.frame_to_bgr(frame)
    assert bgr is not None and bgr.shape == (360, 640, 3)
    assert _error(bgr, rgb) < 2.0  # 4:2:0 subsampling and rounding only
    if (matrix, levels) != ("ITU601", "MPEG"):
        # OpenCV's converter alone (BT.601, limited range) reads these pictures visibly wrong.
        legacy = colour.i420_to_bgr(*_planes(frame), colour.OPENCV_SPACE)
        assert _error(legacy, rgb) > _error(bgr, rgb) + 0.5


def test_an_untagged_frame_reads_as_ffmpeg_reads_it() -> None:
    frame = av.VideoFrame(64, 64, "yuv420p")
    assert colour.YuvSpace.of(frame) == colour.OPENCV_SPACE == colour.YuvSpace("bt601", False)


def _planes(frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    i420 = frame.to_ndarray()
    h, w = frame.height, frame.width
    chroma = i420[h:].reshape(2, h // 2, w // 2)
    return i420[:h], chroma[0], chroma[1]


def _encode(path: Path, rgb: np.ndarray, codec: str, pix_fmt: str, matrix: str, levels: str) -> None:
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=25)
        vs.width, vs.height, vs.pix_fmt = rgb.shape[1], rgb.shape[0], pix_fmt
        if codec == "libx265":
            vs.options = {"preset": "veryfast", "x265-params": "log-level=error"}
        vs.codec_context.colorspace = getattr(av.video.reformatter.Colorspace, matrix)
        vs.codec_context.color_range = getattr(av.video.reformatter.ColorRange, levels)
        for _ in range(20):
            picture = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                format=pix_fmt, dst_colorspace=matrix, dst_color_range=levels
            )
            for packet in vs.encode(picture):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)


@pytest.mark.parametrize(
    ("codec", "pix_fmt", "matrix", "levels"),
    [
        ("libx264", "yuv420p", "ITU709", "JPEG"),  # an Android phone's full-range HD video
        ("libx264", "yuv420p", "ITU709", "MPEG"),
        ("libx265", "yuv420p10le", "BT2020", "MPEG"),  # 10-bit, converted for candidates only
        ("libx265", "yuv420p10le", "ITU709", "JPEG"),
    ],
)
def test_keyframe_candidates_keep_the_streams_colours(
    tmp_path: Path, rgb: np.ndarray, codec: str, pix_fmt: str, matrix: str, levels: str
) -> None:
    path = tmp_path / "tagged.mp4"
    _encode(path, rgb, codec, pix_fmt, matrix, levels)
    result = scan.scan(path, 20)
    candidate = result.candidates[-1]
    assert candidate.space.full_range == (levels == "JPEG")
    assert _error(candidate.bgr(), rgb) < 3.5  # compression on top of subsampling
