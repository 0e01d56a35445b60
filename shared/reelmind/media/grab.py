"""Pick the moments where the picture settled after a visible change, and decode exactly those frames.

Keyframes stand for shots, but on-screen text can change inside a shot (a new caption on the same
background). Ingest's per-frame 64x36 luma thumbnails show such changes; this module picks one frame
per stable stretch and decodes those frames from the source in one sequential pass.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np

from reelmind.errors import CorruptMedia
from reelmind.media import colour, orient
from reelmind.media.probe import open_for_decoding, video_stream
from reelmind.media.resize import shrink


def block_change(a: np.ndarray, b: np.ndarray, grid: tuple[int, int] = (4, 8)) -> float:
    """The largest mean absolute difference over a grid of blocks: a new caption changes a few blocks a
    lot, which a whole-picture mean would dilute."""
    h, w = a.shape
    gh, gw = _grid(grid, h, w)
    d = np.abs(a.astype(np.float32) - b.astype(np.float32))[: h - h % gh, : w - w % gw]
    return float(d.reshape(gh, h // gh, gw, w // gw).mean(axis=(1, 3)).max())


def frame_changes(features: np.ndarray, grid: tuple[int, int] = (4, 8)) -> np.ndarray:
    """`block_change` of every frame against the one before (0 for the first), vectorised."""
    n, h, w = features.shape
    if n < 2 or h == 0 or w == 0:
        return np.zeros(n, np.float32)
    gh, gw = _grid(grid, h, w)
    f = features[:, : h - h % gh, : w - w % gw].astype(np.float32)
    d = np.abs(np.diff(f, axis=0)).reshape(n - 1, gh, h // gh, gw, w // gw).mean(axis=(2, 4))
    return np.concatenate([[0.0], d.reshape(n - 1, -1).max(axis=1)]).astype(np.float32)


def _grid(grid: tuple[int, int], h: int, w: int) -> tuple[int, int]:
    """The block grid, no finer than the picture (a block is at least one pixel)."""
    return max(1, min(grid[0], h)), max(1, min(grid[1], w))


def stretches(
    features: np.ndarray, change: float = 12.0, contrast: float = 3.0, window: int = 5
) -> list[tuple[int, int]]:
    """[start, end) frame ranges between abrupt changes (a cut, a caption appearing or going): frames
    whose `block_change` from the previous frame exceeds `change` and is `contrast` times the typical
    change around them, so steady camera motion, however fast, never splits a stretch."""
    n = len(features)
    if n == 0:
        return []
    d = frame_changes(features)
    padded = np.pad(d, window, mode="edge")
    around = np.lib.stride_tricks.sliding_window_view(padded, 2 * window + 1)
    # the typical change near each frame, leaving the frame itself out
    typical = np.median(np.delete(around, window, axis=1), axis=1)
    events = [0] + [int(i) for i in np.flatnonzero((d > change) & (d > contrast * typical)) if i > 0] + [n]
    return [(a, b) for a, b in itertools.pairwise(events) if b > a]


def stable_samples(
    times: np.ndarray,
    features: np.ndarray,
    max_frames: int,
    change: float = 12.0,
    min_stretch_s: float = 0.2,
    max_gap_s: float = 3.0,
) -> list[tuple[int, tuple[int, int]]]:
    """(frame, its stretch): the middle of every stretch (see `stretches`), and more in long stretches
    so no two picks are over `max_gap_s` apart. Stretches shorter than `min_stretch_s` (flashes) are
    skipped. When there are more than `max_frames`, they are spread over the video."""
    n = len(features)
    if n == 0 or max_frames < 1:
        return []
    picks: list[tuple[int, tuple[int, int]]] = []
    for a, b in stretches(features, change):
        duration = float(times[b - 1] - times[a]) if b - 1 > a else 0.0
        if duration < min_stretch_s and not (a == 0 and b == n):
            continue
        count = max(1, int(np.ceil(duration / max_gap_s)))
        picks += [(a + int((k + 0.5) * (b - a) / count), (a, b)) for k in range(count)]
    if len(picks) > max_frames:
        idx = np.linspace(0, len(picks) - 1, max_frames).round().astype(int)
        picks = [picks[i] for i in sorted(set(idx.tolist()))]
    return picks


def grab_frames(path: Path, indices: Sequence[int], max_side: int = 1280) -> dict[int, np.ndarray]:
    """Decode the video once and keep the frames at `indices` (frame numbers in presentation order, as
    the scan numbers them), as BGR, upright, long side at most `max_side`."""
    wanted = set(indices)
    out: dict[int, np.ndarray] = {}
    if not wanted:
        return out
    last = max(wanted)
    try:
        with open_for_decoding(path) as container:
            stream = video_stream(container)
            stream.thread_type = "AUTO"
            for n, frame in enumerate(container.decode(stream)):
                if n in wanted:
                    img: np.ndarray = orient.upright(
                        colour.frame_to_bgr(frame), *orient.orientation_of(frame)
                    )
                    h, w = img.shape[:2]
                    scale = max_side / max(h, w)
                    out[n] = (
                        shrink(img, max(1, round(w * scale)), max(1, round(h * scale))) if scale < 1 else img
                    )
                if n >= last:
                    break
    except (av.error.FFmpegError, IndexError) as exc:
        raise CorruptMedia(f"the video could not be decoded again for frame sampling: {exc}") from None
    return out
