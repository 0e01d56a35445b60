"""Edits a re-uploader typically makes, done with real encoding: the test and benchmark inputs for originality.

Every function decodes `src`, changes the pictures (or the time span), and writes `dst` as an H.264 MP4
in yuv420p with even dimensions. Audio, when present, is re-encoded as AAC over the same time span.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from av.video.reformatter import ColorRange, Colorspace

FrameEdit = Callable[[np.ndarray], np.ndarray]

DEFAULT_CRF = 23
BITRATE_FRACTION = 0.4  # reencode's default target, as a fraction of the source's video bitrate
MIN_BITRATE = 32_000


def reencode(src: Path, dst: Path, bitrate: int | None = None) -> Path:
    """The same pictures at a lower bitrate (x264 in average-bitrate mode), in bits per second;
    by default BITRATE_FRACTION of the source's video bitrate."""
    if bitrate is None:
        bitrate = max(MIN_BITRATE, round(BITRATE_FRACTION * _video_bitrate(src)))
    return _transcode(src, dst, None, bitrate=bitrate)


def scale(src: Path, dst: Path, factor: float = 0.5) -> Path:
    """The pictures resized by `factor` (area interpolation when shrinking)."""
    if not factor > 0:
        raise ValueError(f"the scale factor must be positive, got {factor}")

    def edit(rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        size = (_even(w * factor), _even(h * factor))
        interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
        return cv2.resize(rgb, size, interpolation=interpolation)

    return _transcode(src, dst, edit)


def crop(src: Path, dst: Path, fraction: float = 0.1, anchor: tuple[float, float] = (0.5, 0.5)) -> Path:
    """Remove `fraction` of the width and of the height. `anchor` (x, y in 0..1) places the kept window:
    (0.5, 0.5) removes the same amount on each side, (0, 0) keeps the top-left corner."""
    if not 0 <= fraction < 1 or not all(0 <= a <= 1 for a in anchor):
        raise ValueError(f"crop needs 0 <= fraction < 1 and an anchor in 0..1, got {fraction}, {anchor}")

    def edit(rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        cw, ch = _even(w * (1 - fraction)), _even(h * (1 - fraction))
        x, y = round((w - cw) * anchor[0]), round((h - ch) * anchor[1])
        return rgb[y : y + ch, x : x + cw]

    return _transcode(src, dst, edit)


def mirror(src: Path, dst: Path) -> Path:
    """The pictures flipped left to right."""
    return _transcode(src, dst, lambda rgb: rgb[:, ::-1])


def watermark(src: Path, dst: Path, text: str = "@reelmind", corner: str = "bottom-right") -> Path:
    """`text` drawn in white with a dark outline in a corner (top-left, top-right, bottom-left, bottom-right)."""

    def edit(rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        out = np.ascontiguousarray(rgb)
        font = cv2.FONT_HERSHEY_SIMPLEX
        font_scale = max(0.3, min(w, h) / 360)
        thickness = max(1, round(2 * font_scale))
        (tw, th), baseline = cv2.getTextSize(text, font, font_scale, thickness)
        margin = max(2, round(0.03 * min(w, h)))
        x = margin if corner.endswith("left") else w - tw - margin
        y = margin + th if corner.startswith("top") else h - margin - baseline
        cv2.putText(out, text, (x, y), font, font_scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
        cv2.putText(out, text, (x, y), font, font_scale, (255, 255, 255), thickness, cv2.LINE_AA)
        return out

    return _transcode(src, dst, edit)


def trim(src: Path, dst: Path, start_fraction: float = 0.2) -> Path:
    """Drop the first `start_fraction` of the duration (video and audio)."""
    if not 0 <= start_fraction < 1:
        raise ValueError(f"start_fraction must be in [0, 1), got {start_fraction}")
    with av.open(str(src), metadata_errors="ignore") as container:
        duration = _duration(container)
    return _transcode(src, dst, None, start_s=duration * start_fraction)


TRANSFORMS: dict[str, Callable[[Path, Path], Path]] = {
    "reencode": reencode,
    "scale": scale,
    "crop": crop,
    "mirror": mirror,
    "watermark": watermark,
    "trim": trim,
}


def _duration(container: av.container.InputContainer) -> float:
    vs = container.streams.video[0]
    if vs.duration and vs.time_base:
        return float(vs.duration * vs.time_base)
    return float(container.duration or 0) / av.time_base


def _video_bitrate(src: Path) -> float:
    with av.open(str(src), metadata_errors="ignore") as container:
        vs = container.streams.video[0]
        if vs.bit_rate:
            return float(vs.bit_rate)
        duration = _duration(container)
        return 8 * src.stat().st_size / duration if duration > 0 else 1_000_000.0


def _even(x: float) -> int:
    return max(2, round(x) // 2 * 2)


def _transcode(
    src: Path, dst: Path, edit: FrameEdit | None, bitrate: int | None = None, start_s: float = 0.0
) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(src), metadata_errors="ignore") as inp, av.open(str(dst), "w", format="mp4") as out:
        in_video = inp.streams.video[0]
        in_audio = inp.streams.audio[0] if inp.streams.audio else None
        # The output size, from the edit of a blank frame, so the header is right whichever stream muxes first.
        blank = np.zeros((in_video.codec_context.height, in_video.codec_context.width, 3), np.uint8)
        out_h, out_w = (edit(blank) if edit is not None else blank).shape[:2]
        vs = out.add_stream("libx264", rate=in_video.average_rate or in_video.guessed_rate or 25)
        vs.width, vs.height, vs.pix_fmt = out_w // 2 * 2, out_h // 2 * 2, "yuv420p"
        # swscale writes the RGB pictures as BT.601 limited range; say so, or players guess.
        vs.codec_context.colorspace, vs.codec_context.color_range = Colorspace.ITU601, ColorRange.MPEG
        if bitrate is not None:
            vs.bit_rate = bitrate
            vs.options = {"preset": "veryfast"}
        else:
            vs.options = {"preset": "veryfast", "crf": str(DEFAULT_CRF)}
        audio_out = None
        if in_audio is not None:
            audio_out = out.add_stream("aac", rate=in_audio.rate)
            audio_out.layout = in_audio.layout.name
        start, base = in_video.start_time, in_video.time_base
        origin = float(start * base) if start is not None and base is not None else 0.0
        audio_written = 0
        for frame in inp.decode(*([in_video] + ([in_audio] if in_audio is not None else []))):
            if not isinstance(frame, av.VideoFrame | av.AudioFrame):
                continue
            if frame.time is not None and frame.time - origin < start_s - 1e-6:
                continue
            if isinstance(frame, av.VideoFrame):
                rgb: np.ndarray = frame.to_ndarray(format="rgb24")
                if edit is not None:
                    rgb = edit(rgb)
                rgb = np.ascontiguousarray(rgb[: vs.height, : vs.width])
                for packet in vs.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                    out.mux(packet)
            elif audio_out is not None and isinstance(frame, av.AudioFrame):
                frame.pts = audio_written
                frame.time_base = Fraction(1, frame.sample_rate)
                audio_written += frame.samples
                for packet in audio_out.encode(frame):
                    out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if audio_out is not None:
            for packet in audio_out.encode():
                out.mux(packet)
    return dst
