"""Video fingerprints for originality: recognise a re-upload of the same content. Pure numpy and OpenCV.

A fingerprint is a short sequence of 64-bit perceptual hashes sampled at a fixed rate from the luma
thumbnails the ingest scan keeps for every frame (`ScanResult.times`, `ScanResult.features`), so making
one decodes nothing. It survives re-encoding, downscaling, cropping up to about 10% around the centre,
left-right mirroring, a corner watermark and trimming; distinct videos built from the same pictures
(other framing, order or camera motion) do not match. An off-centre crop, which also shifts the
picture by up to 5%, is beyond what these hashes tolerate.

Frame hash (the low 63 bits). The thumbnail is made left-right symmetric by averaging it with its
mirror image, weighted by a centred Gaussian so that the border, where crops and watermarks act, counts
for almost nothing, and projected on the 63 lowest 2-D DCT frequencies that have an even horizontal
index: those basis functions are themselves symmetric, so a mirrored picture gives the very same
coefficients. Each bit says whether a coefficient lies above the median of the 63, which ignores
brightness and contrast; low frequencies of the centre move little under re-encoding, scaling or a
crop. A picture without structure (black, a uniform slate) has hash 0.

Unsteady samples (bit 63). A copy that was trimmed is sampled at another phase, up to half a sample
interval away from the original's samples; where the picture changes faster than that (a fast pan, a
cut), the two copies' samples show different pictures. Such samples are flagged: a pair of aligned
samples that are both flagged (or blank) says nothing and is left out of the score, while a flagged
sample facing a steady one is still compared, so fast motion never hides a difference in content.

Comparison. Every pair of samples is compared at once (XOR and popcount on an n x m matrix); summing
agreements along each diagonal gives, for every time offset, how many aligned samples agree. The score
of an offset is that fraction, and the best offset among those whose overlap covers most of the
shorter fingerprint wins, so a trimmed or extended copy matches at its offset while a video that merely
shares a stretch of pictures with another scores low.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import cv2
import numpy as np

FINGERPRINT_VERSION = "dct63-mirror-gauss-v1"
DEFAULT_RATE_HZ = 4.0

#: The thumbnail size hashes are computed on (the size `reelmind.media.scan` keeps for every frame).
BASE_W, BASE_H = 64, 36
HASH_BITS = 63  # bits 0..62 hold the frame hash
UNSTEADY_BIT = np.uint64(1 << 63)  # set on a sample whose picture changes within half a sample interval
HASH_MASK = np.uint64((1 << 63) - 1)
BLANK_HASH = 0  # a picture without structure

#: Standard deviation of the centre weighting, as a fraction of the thumbnail's width and height.
CENTRE_SIGMA = 0.2
#: DCT frequencies considered (vertical 0..MAX_KY, horizontal even 0..MAX_KX); the 63 lowest are used.
MAX_KY, MAX_KX = 10, 14
#: Below this weighted standard deviation (0-255 luma units) a picture counts as blank.
BLANK_STD = 2.0
#: A sample is unsteady when the frames half a sample interval before or after hash further than this.
STEADY_DISTANCE = 16


@dataclass(frozen=True, slots=True)
class MatchConfig:
    max_distance: int = 16  # Hamming distance (of 63 bits) within which two samples agree
    min_score: float = 0.8  # fraction of compared samples that must agree for a duplicate
    min_overlap: float = 0.9  # aligned span, as a fraction of the shorter fingerprint (one sample of slack)
    min_samples: int = 4  # fewer compared sample pairs than this never match


DEFAULT_MATCH_CONFIG = MatchConfig()


@dataclass(frozen=True, slots=True)
class Match:
    score: float  # 0..1: the fraction of compared samples that agree at the best offset
    offset_s: float  # the time in a of b's first sample (negative: b starts before a)
    overlap_s: float  # the duration both cover at that offset

    def to_dict(self) -> dict[str, float]:
        return {
            "score": round(self.score, 4),
            "offset_s": round(self.offset_s, 3),
            "overlap_s": round(self.overlap_s, 3),
        }


NO_MATCH = Match(score=0.0, offset_s=0.0, overlap_s=0.0)


@dataclass(frozen=True, eq=False)
class Fingerprint:
    times: np.ndarray  # float32 seconds of each sample, from 0
    hashes: np.ndarray  # uint64 per sample: the frame hash, plus UNSTEADY_BIT where flagged
    version: str = FINGERPRINT_VERSION

    @property
    def step_s(self) -> float:
        """The sampling interval (the median gap between samples; 1 / DEFAULT_RATE_HZ when unknown)."""
        if len(self.times) < 2:
            return 1.0 / DEFAULT_RATE_HZ
        return float(np.median(np.diff(self.times)))

    @property
    def duration_s(self) -> float:
        return float(self.times[-1] - self.times[0]) + self.step_s if len(self.times) else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: times in seconds (to the millisecond) and hashes as 16-digit hex strings."""
        return {
            "version": self.version,
            "times": [round(float(t), 3) for t in self.times],
            "hashes": [f"{int(h):016x}" for h in self.hashes],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fingerprint:
        times = np.asarray(data.get("times", []), dtype=np.float32)
        hashes = np.asarray([int(h, 16) for h in data.get("hashes", [])], dtype=np.uint64)
        if times.shape != hashes.shape:
            raise ValueError(
                f"a fingerprint needs one time per hash ({times.size} times, {hashes.size} hashes)"
            )
        return cls(times=times, hashes=hashes, version=str(data.get("version", FINGERPRINT_VERSION)))


def frame_hash(luma: np.ndarray) -> int:
    """The perceptual hash of one luma image of any size (bit 63 is always 0; see the module notes)."""
    if luma.ndim != 2 or luma.size == 0:
        raise ValueError(f"frame_hash needs a 2-D luma image, got shape {luma.shape}")
    return int(frame_hashes(luma[None])[0])


def frame_hashes(lumas: np.ndarray) -> np.ndarray:
    """`frame_hash` of every image of a (n, h, w) stack, as uint64; vectorised over the stack."""
    if lumas.ndim != 3:
        raise ValueError(f"frame_hashes needs a (n, h, w) stack, got shape {lumas.shape}")
    n = lumas.shape[0]
    if n == 0 or lumas.shape[1] == 0 or lumas.shape[2] == 0:
        return np.zeros(n, np.uint64)
    if lumas.shape[1:] != (BASE_H, BASE_W):
        lumas = np.stack(
            [
                cv2.resize(np.asarray(x, np.uint8), (BASE_W, BASE_H), interpolation=cv2.INTER_AREA)
                for x in lumas
            ]
        )
    img = lumas.astype(np.float32)
    # Bit-exactly symmetric: x + mirror(x) adds the same two numbers in either order.
    img = 0.5 * (img + img[:, :, ::-1])
    window, rows, cols, pick = _tables()
    mean = np.einsum("nyx,yx->n", img, window)  # the window sums to 1
    centred = img - mean[:, None, None]
    spread = np.sqrt(np.einsum("nyx,yx->n", centred * centred, window))
    coeffs = (rows @ (centred * window) @ cols.T).reshape(n, -1)[:, pick]
    bits = coeffs > np.median(coeffs, axis=1, keepdims=True)
    bits[spread < BLANK_STD] = False
    weights = np.left_shift(np.uint64(1), np.arange(HASH_BITS, dtype=np.uint64))
    out: np.ndarray = (bits.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
    return out


def fingerprint(times: np.ndarray, features: np.ndarray, rate_hz: float = DEFAULT_RATE_HZ) -> Fingerprint:
    """Sample per-frame thumbnails (`ScanResult.times`, increasing, and `.features`) at `rate_hz`.

    Samples lie on a fixed grid from the first frame's time and take the frame nearest their time; a
    sample is flagged unsteady when the frames nearest half an interval before and after it hash more
    than STEADY_DISTANCE away from it.
    """
    if not rate_hz > 0:
        raise ValueError(f"rate_hz must be positive, got {rate_hz}")
    times = np.asarray(times, dtype=np.float64).ravel()
    if len(times) != len(features):
        raise ValueError(f"one time per frame is needed ({len(times)} times, {len(features)} frames)")
    if len(times) == 0:
        return Fingerprint(times=np.zeros(0, np.float32), hashes=np.zeros(0, np.uint64))
    start, end = float(times[0]), float(times[-1])
    grid = start + np.arange(math.floor(max(0.0, end - start) * rate_hz + 1e-6) + 1) / rate_hz
    half = 0.5 / rate_hz
    at = np.concatenate([_nearest(times, grid), _nearest(times, grid - half), _nearest(times, grid + half)])
    frames, inverse = np.unique(at, return_inverse=True)
    hashed = frame_hashes(np.asarray(features)[frames])[inverse.ravel()].reshape(3, len(grid))
    centre, before, after = hashed
    drift = np.maximum(_popcount(centre ^ before), _popcount(centre ^ after))
    hashes = np.where(drift > STEADY_DISTANCE, centre | UNSTEADY_BIT, centre).astype(np.uint64)
    return Fingerprint(times=(grid - start).astype(np.float32), hashes=hashes)


def compare(a: Fingerprint, b: Fingerprint, config: MatchConfig = DEFAULT_MATCH_CONFIG) -> Match:
    """How well `b` matches `a` at the best time offset (b may be a trimmed or extended copy of a)."""
    if a.version != b.version:
        raise ValueError(f"fingerprints of different versions cannot be compared ({a.version}, {b.version})")
    na, nb = len(a.hashes), len(b.hashes)
    if min(na, nb) < max(1, config.min_samples):
        return NO_MATCH
    step = 0.5 * (a.step_s + b.step_s)
    if abs(a.step_s - b.step_s) > 0.05 * step:
        raise ValueError(f"fingerprints sampled at different rates ({a.step_s:.3f} s, {b.step_s:.3f} s)")
    ha, hb = a.hashes.astype(np.uint64), b.hashes.astype(np.uint64)
    blank_a, blank_b = (ha & HASH_MASK) == BLANK_HASH, (hb & HASH_MASK) == BLANK_HASH
    vague_a = blank_a | ((ha & UNSTEADY_BIT) != 0)
    vague_b = blank_b | ((hb & UNSTEADY_BIT) != 0)
    counted = ~(vague_a[:, None] & vague_b[None, :])
    close = _popcount((ha[:, None] ^ hb[None, :]) & HASH_MASK) <= config.max_distance
    agree = counted & close & ~blank_a[:, None] & ~blank_b[None, :]
    # Offset k aligns b[j] with a[j + k]; its diagonal index k + nb - 1 runs over 0 .. na + nb - 2.
    diagonal = (np.arange(na)[:, None] - np.arange(nb)[None, :] + (nb - 1)).ravel()
    agreeing = np.bincount(diagonal, weights=agree.ravel(), minlength=na + nb - 1)
    compared = np.bincount(diagonal, weights=counted.ravel(), minlength=na + nb - 1)
    offsets = np.arange(-(nb - 1), na)
    overlap = np.minimum(na, offsets + nb) - np.maximum(0, offsets)
    valid = (overlap + 1 >= config.min_overlap * min(na, nb)) & (compared >= config.min_samples)
    if not valid.any():
        return NO_MATCH
    scores = np.where(valid, agreeing / np.maximum(compared, 1), -1.0)
    best = int(np.argmax(scores + overlap * 1e-9))  # ties: the longer overlap
    return Match(
        score=float(scores[best]), offset_s=float(offsets[best]) * step, overlap_s=float(overlap[best]) * step
    )


def is_duplicate(match: Match, config: MatchConfig = DEFAULT_MATCH_CONFIG) -> bool:
    return match.score >= config.min_score


def _nearest(times: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Index of the time nearest each of `at` (times increasing)."""
    if len(times) == 1:
        return np.zeros(len(at), np.intp)
    right = np.clip(np.searchsorted(times, at), 1, len(times) - 1)
    left = right - 1
    out: np.ndarray = np.where(at - times[left] <= times[right] - at, left, right)
    return out


@cache
def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The centre window (summing to 1), the row and column DCT-II bases, and which of their products
    (row-major over (ky, kx)) are the hash's 63 coefficients."""
    y = (np.arange(BASE_H) + 0.5) / BASE_H - 0.5
    x = (np.arange(BASE_W) + 0.5) / BASE_W - 0.5
    window = np.exp(-(y[:, None] ** 2 + x[None, :] ** 2) / (2 * CENTRE_SIGMA**2))
    window = 0.5 * (window + window[:, ::-1])
    window /= window.sum()
    ky, kx = np.arange(MAX_KY + 1), np.arange(0, MAX_KX + 1, 2)

    def dct(freqs: np.ndarray, n: int) -> np.ndarray:
        return np.cos(np.pi * freqs[:, None] * ((2 * np.arange(n) + 1) / (2 * n))[None, :])

    fy, fx = np.meshgrid(ky, kx, indexing="ij")
    order = np.lexsort((fx.ravel(), (fy.ravel() / BASE_H) ** 2 + (fx.ravel() / BASE_W) ** 2))
    pick = order[1 : HASH_BITS + 1]  # the first is the DC term
    f32 = np.float32
    return window.astype(f32), dct(ky, BASE_H).astype(f32), dct(kx, BASE_W).astype(f32), pick


_BYTE_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _popcount(x: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 (numpy 2's bitwise_count, or a byte table on numpy 1.26)."""
    count = getattr(np, "bitwise_count", None)
    if count is not None:
        out: np.ndarray = count(x)
        return out
    table: np.ndarray = _BYTE_POPCOUNT[x.view(np.uint8).reshape(*x.shape, 8)].sum(axis=-1, dtype=np.uint8)
    return table
