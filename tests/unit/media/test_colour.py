"""Pictures are read in the YUV matrix and range their stream is tagged with, as phones tag them."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from reelmind import samples
from reelmind.media import colour, grab, scan

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


# --- HDR: SDR pictures coded as HLG and PQ by the standards' forward formulas, read back as SDR ---

_BT709_TO_BT2020 = np.array([[0.6274, 0.3293, 0.0433], [0.0691, 0.9195, 0.0114], [0.0164, 0.0880, 0.8956]])


def _linear(rgb: np.ndarray) -> np.ndarray:
    """sRGB 8-bit -> linear BT.2020 light, SDR white = 1."""
    e = rgb.astype(np.float64) / 255.0
    out: np.ndarray = np.where(e <= 0.04045, e / 12.92, ((e + 0.055) / 1.055) ** 2.4) @ _BT709_TO_BT2020.T
    return out


def _pq_signal(light: np.ndarray) -> np.ndarray:  # SMPTE ST 2084 inverse EOTF, SDR white at 203 cd/m2
    m1, m2, c1, c2, c3 = 0.1593017578125, 78.84375, 0.8359375, 18.8515625, 18.6875
    p = np.clip(light * 203.0 / 10000.0, 0, 1) ** m1
    out: np.ndarray = ((c1 + c2 * p) / (1 + c3 * p)) ** m2
    return out


def _hlg_signal(light: np.ndarray) -> np.ndarray:  # BT.2100 inverse OOTF (1000 cd/m2) and OETF
    display = light * 203.0 / 1000.0
    yd = np.maximum(display @ np.array([0.2627, 0.6780, 0.0593]), 1e-9)
    scene = display * (yd ** (1 / 1.2) / yd)[..., None]
    a, b, c = 0.17883277, 0.28466892, 0.55991073
    out: np.ndarray = np.where(
        scene <= 1 / 12, np.sqrt(3 * scene), a * np.log(np.maximum(12 * scene - b, 1e-9)) + c
    )
    return out


@pytest.mark.parametrize(("transfer", "trc"), [("hlg", 18), ("pq", 16)])
def test_hdr_keyframes_are_mapped_to_sdr(tmp_path: Path, rgb: np.ndarray, transfer: str, trc: int) -> None:
    signal = (_hlg_signal if transfer == "hlg" else _pq_signal)(_linear(rgb))
    rgb48 = np.rint(np.clip(signal, 0, 1) * 65535).astype(np.uint16)
    path = tmp_path / f"{transfer}.mp4"
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx265", rate=25)
        vs.width, vs.height, vs.pix_fmt = rgb.shape[1], rgb.shape[0], "yuv420p10le"
        vs.options = {"preset": "veryfast", "x265-params": "log-level=error"}
        cc = vs.codec_context
        cc.colorspace, cc.color_range, cc.color_trc, cc.color_primaries = 9, 1, trc, 9  # BT.2020
        for _ in range(10):
            picture = av.VideoFrame.from_ndarray(rgb48, format="rgb48le").reformat(
                format="yuv420p10le", dst_colorspace="BT2020", dst_color_range="MPEG"
            )
            for packet in vs.encode(picture):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
    result = scan.scan(path, 10)
    candidate = result.candidates[-1]
    assert candidate.space == result.space == colour.YuvSpace("bt2020", False, transfer)
    mapped = _error(candidate.bgr(), rgb)
    as_sdr = _error(colour.i420_to_bgr(*candidate.planes, colour.YuvSpace("bt2020")), rgb)
    # Highlights above the knee are compressed, so not every level comes back; read as SDR, the
    # picture is pale (HLG) or flat grey (PQ).
    assert mapped < 7.0 and as_sdr > 3 * mapped
    # Frames decoded again for the models (OCR) are mapped the same way.
    assert _error(grab.grab_frames(path, [5])[5], rgb) < 7.0
