"""Shot-cut detection and transition detection on small per-frame features. Pure numpy, no I/O.

Every decoded frame is reduced to a tiny luma thumbnail plus coarse chroma. A hard cut is a frame
whose difference from its predecessor is both large in absolute terms and far above the typical
difference around it (so fast motion, which raises every frame's difference, is not a cut). A
gradual transition (dissolve or fade) is a frame that is close to the average of its neighbours
half a second away while those neighbours differ a lot: a linear blend of two pictures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FEATURE_W, FEATURE_H = 64, 36
HIST_BINS = 16


@dataclass(frozen=True, slots=True)
class CutConfig:
    min_score: float = 12.0  # an absolute floor on the combined score
    ratio: float = 3.0  # how far above the local median a cut must stand
    window: int = 8  # frames each side used for the local median
    min_shot_frames: int = 4  # no two cuts closer than this


DEFAULT_CUT_CONFIG = CutConfig()


def frame_score(prev: np.ndarray, cur: np.ndarray, prev_hist: np.ndarray, cur_hist: np.ndarray) -> float:
    """Combined difference in 0-255 luma units: mean absolute pixel change plus histogram change."""
    pixel = float(np.mean(np.abs(cur.astype(np.int16) - prev.astype(np.int16))))
    hist = float(np.abs(cur_hist - prev_hist).sum()) * 0.5 * 255.0  # total variation distance, scaled
    return 0.5 * pixel + 0.5 * hist


def histogram(luma: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Normalised joint of three marginal histograms (Y, U, V), summing to 1."""
    parts = [np.bincount(ch.ravel() // (256 // HIST_BINS), minlength=HIST_BINS) for ch in (luma, u, v)]
    h: np.ndarray = np.concatenate(parts).astype(np.float32)
    out: np.ndarray = h / h.sum()
    return out


def histograms(luma: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """`histogram` of many frames at once: (n, h, w) planes in, (n, 3 * HIST_BINS) rows out."""
    n = len(luma)
    parts = []
    for ch in (luma, u, v):
        bins = ch.reshape(n, -1) // (256 // HIST_BINS) + (np.arange(n) * HIST_BINS)[:, None]
        parts.append(np.bincount(bins.ravel(), minlength=n * HIST_BINS).reshape(n, HIST_BINS))
    h: np.ndarray = np.concatenate(parts, axis=1).astype(np.float32)
    out: np.ndarray = h / h.sum(axis=1, keepdims=True)
    return out


def frame_scores(features: np.ndarray, hists: np.ndarray) -> np.ndarray:
    """`frame_score` of every frame against the one before (0 for the first), vectorised."""
    n = len(features)
    out = np.zeros(n, np.float64)
    if n < 2:
        return out
    f = features.reshape(n, -1).astype(np.int16)
    pixel = np.abs(f[1:] - f[:-1]).sum(axis=1, dtype=np.int32) / f.shape[1]  # exact integer sums
    hist = np.abs(np.diff(hists, axis=0)).sum(axis=1, dtype=np.float32).astype(np.float64) * 0.5 * 255.0
    out[1:] = 0.5 * pixel + 0.5 * hist
    return out


def detect_cuts(scores: np.ndarray, config: CutConfig = DEFAULT_CUT_CONFIG) -> list[int]:
    """Frame indices that start a new shot. `scores[i]` is the difference between frame i-1 and i."""
    n = len(scores)
    cuts: list[int] = []
    for i in range(1, n):
        s = scores[i]
        if s < config.min_score:
            continue
        lo, hi = max(1, i - config.window), min(n, i + config.window + 1)
        neighbours = np.concatenate([scores[lo:i], scores[i + 1 : hi]])
        base = float(np.median(neighbours)) if len(neighbours) else 0.0
        if s < config.ratio * max(base, 1.0):
            continue
        if not _is_local_peak(scores, i, config.min_shot_frames):
            continue
        if cuts and i - cuts[-1] < config.min_shot_frames:
            continue
        cuts.append(i)
    return cuts


def _is_local_peak(scores: np.ndarray, i: int, radius: int) -> bool:
    lo, hi = max(1, i - radius), min(len(scores), i + radius + 1)
    return bool(scores[i] >= scores[lo:hi].max())


def transition_mask(features: np.ndarray, fps: float) -> np.ndarray:
    """True for frames that sit inside a dissolve or fade (a linear blend of distant frames)."""
    n = len(features)
    k = max(2, round(fps / 2))
    mask = np.zeros(n, dtype=bool)
    if n <= 2 * k:
        return mask
    # In integers (|2 mid - before - after| is twice the distance from the blend): exact, and a quarter
    # of the memory traffic of floats.
    f = features.reshape(n, -1).astype(np.int16)
    size = f.shape[1]
    before, mid, after = f[: n - 2 * k], f[k : n - k], f[2 * k :]
    far = np.abs(after - before).sum(axis=1, dtype=np.int32) / size
    blend = np.abs(2 * mid - before - after).sum(axis=1, dtype=np.int32) / (2 * size)
    mask[k : n - k] = (far > 20.0) & (blend < 0.3 * far)
    return mask


DARK_LUMA = 24.0


def gradual_boundaries(
    features: np.ndarray, transitions: np.ndarray, fps: float, cuts: list[int]
) -> list[int]:
    """Middles of dissolves and of fades through black, away from the ends and from hard cuts.

    A run of blended or dark frames that does not touch the first or last frame separates two
    shots even though no single frame jumps; its middle is where the new shot starts.
    """
    n = len(features)
    if n == 0:
        return []
    brightness = features.reshape(n, -1).mean(axis=1)
    marked = transitions | (brightness < DARK_LUMA) | _dips(brightness, max(2, round(fps / 2)))
    min_run = max(3, round(fps / 8))
    found: list[int] = []
    i = 0
    while i < n:
        if not marked[i]:
            i += 1
            continue
        j = i
        while j < n and marked[j]:
            j += 1
        if j - i >= min_run and i > 0 and j < n:
            middle = (i + j) // 2
            if all(abs(middle - c) > (j - i) // 2 + 2 for c in cuts):
                found.append(middle)
        i = j
    return found


def _dips(brightness: np.ndarray, k: int) -> np.ndarray:
    """Frames at the bottom of a fade out and back in: far darker than the frames k either side."""
    n = len(brightness)
    out = np.zeros(n, dtype=bool)
    if n <= 2 * k:
        return out
    mid, before, after = brightness[k : n - k], brightness[: n - 2 * k], brightness[2 * k :]
    out[k : n - k] = mid < 0.45 * np.minimum(before, after)
    return out


def shot_bounds(cuts: list[int], frame_count: int) -> list[tuple[int, int]]:
    """[start, end) frame ranges from boundary positions."""
    starts = [0, *cuts]
    ends = [*cuts, frame_count]
    return [(s, e) for s, e in zip(starts, ends, strict=True) if e > s]
