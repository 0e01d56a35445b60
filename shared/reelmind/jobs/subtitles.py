"""Burned-in subtitles: each cue drawn onto the frames it spans (white text with a dark outline, in the
lower part of the picture, Chinese-capable font), the audio copied unchanged."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

import numpy as np

from reelmind.jobs.asr import Cue
from reelmind.jobs.stylize import Progress, filter_video
from reelmind.samples import CJK_FONT


@cache
def _layer(text: str, width: int, height: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The cue rendered once: (BGR, alpha 0..1) of the text band, and the band's top row."""
    from PIL import Image, ImageDraw, ImageFont

    size = max(12, height // 16)
    font = ImageFont.truetype(str(CJK_FONT), size)
    band_h = int(size * 1.8)
    band = Image.new("RGBA", (width, band_h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(band)
    box = draw.textbbox((0, 0), text, font=font, stroke_width=2)
    x = max(0, (width - (box[2] - box[0])) // 2)
    draw.text(
        (x, (band_h - size) // 2),
        text,
        font=font,
        fill=(255, 255, 255, 255),
        stroke_width=2,
        stroke_fill=(0, 0, 0, 255),
    )
    rgba = np.asarray(band, np.float32)
    top = height - band_h - height // 20
    return rgba[:, :, 2::-1].copy(), rgba[:, :, 3:] / 255.0, top


class SubtitleBurner:
    """Per video: counts frames to know the time, draws the cue showing at that time."""

    def __init__(self, cues: Sequence[Cue], width: int, height: int, fps: float) -> None:
        self.cues = sorted(cues, key=lambda c: c.start_s)
        self.width, self.height, self.fps = width, height, fps
        self._frame = 0

    def cue_at(self, time_s: float) -> Cue | None:
        for cue in self.cues:
            if cue.start_s <= time_s < cue.end_s:
                return cue
        return None

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        cue = self.cue_at(self._frame / self.fps)
        self._frame += 1
        if cue is None:
            return frame
        bgr, alpha, top = _layer(cue.text, self.width, self.height)
        out = frame.copy()
        rows = out[top : top + bgr.shape[0]]
        rows[:] = (rows * (1.0 - alpha) + bgr * alpha).astype(np.uint8)
        return out


def burn_in(src: Path, dst: Path, cues: Sequence[Cue], progress: Progress | None = None) -> Path:
    def make(width: int, height: int, fps: float) -> Callable[[np.ndarray], np.ndarray]:
        return SubtitleBurner(cues, width, height, fps)

    return filter_video(src, dst, make, progress)
