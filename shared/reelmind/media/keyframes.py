"""Shots and keyframes from a scan: one representative, good-looking, stable frame per shot."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reelmind.domain.video import Shot
from reelmind.media import shots as shotlib
from reelmind.media.frames import FrameQuality
from reelmind.media.scan import Candidate, ScanResult


@dataclass(frozen=True, slots=True)
class PickedKeyframe:
    shot: Shot
    candidate: Candidate
    quality: FrameQuality
    transition: bool


@dataclass(frozen=True, slots=True)
class Segmentation:
    shots: list[Shot]
    keyframes: list[PickedKeyframe]
    transitions: np.ndarray  # bool per frame


def segment(result: ScanResult, max_keyframes: int) -> Segmentation:
    """Shots from the scan's hard cuts and from gradual transitions, and a keyframe for each shot.

    Transitions are found on the decoded samples, at their own rate, and reported per frame."""
    rate = result.sample_rate
    sampled = shotlib.transition_mask(result.features, rate)
    at_cuts = [result.sample_at(c) for c in result.cuts]
    gradual = [
        int(result.frames[i]) for i in shotlib.gradual_boundaries(result.features, sampled, rate, at_cuts)
    ]
    cuts = result.cuts
    entries = {0: "start", **dict.fromkeys(cuts, "cut"), **dict.fromkeys(gradual, "gradual")}
    shots = [
        Shot(
            index=i,
            start_frame=s,
            end_frame=e,
            start_s=round(float(result.frame_times[s]), 3),
            end_s=round(float(result.frame_times[e]) if e < result.frame_count else _end_time(result), 3),
            entry=entries[s],
        )
        for i, (s, e) in enumerate(shotlib.shot_bounds(sorted({*cuts, *gradual}), result.frame_count))
    ]
    per_frame = sampled[_sample_of_each_frame(result)] if len(sampled) else np.zeros(result.frame_count, bool)
    picks = [p for shot in shots if (p := _pick(shot, result.candidates, per_frame)) is not None]
    if not picks:  # a clip of a few frames may have no candidate away from a shot's edges: still one
        edges = (_pick(shot, result.candidates, per_frame, margin=0) for shot in shots)
        picks = sorted((p for p in edges if p is not None), key=lambda p: p.quality.score)[-1:]
    if len(picks) > max_keyframes:
        longest = sorted(picks, key=lambda p: p.shot.end_frame - p.shot.start_frame, reverse=True)[
            :max_keyframes
        ]
        picks = sorted(longest, key=lambda p: p.shot.index)
    return Segmentation(shots=shots, keyframes=picks, transitions=per_frame)


def _sample_of_each_frame(result: ScanResult) -> np.ndarray:
    """For every frame, the last sample at or before it (the first sample for frames before it)."""
    at = np.searchsorted(result.frames, np.arange(result.frame_count), side="right") - 1
    return np.clip(at, 0, None)


def _end_time(result: ScanResult) -> float:
    last = float(result.frame_times[-1]) if len(result.frame_times) else 0.0
    return last + 1.0 / result.fps


def _pick(
    shot: Shot, candidates: list[Candidate], transitions: np.ndarray, margin: int | None = None
) -> PickedKeyframe | None:
    """Best candidate of the shot, preferring its middle and avoiding its edges (`margin` frames, by
    default up to 3) and any blend."""
    length = shot.end_frame - shot.start_frame
    margin = min(3, length // 4) if margin is None else margin
    inside = [c for c in candidates if shot.start_frame + margin <= c.frame < shot.end_frame - margin]
    if not inside:
        return None
    middle = (shot.start_frame + shot.end_frame) / 2
    best: PickedKeyframe | None = None
    best_key = -1.0
    for c in inside:
        q = c.quality
        in_blend = bool(transitions[c.frame])
        centred = 1.0 - abs(c.frame - middle) / max(1.0, length / 2)
        key = (0.0 if in_blend else 1.0) + q.score + 0.15 * centred
        if key > best_key:
            best_key, best = key, PickedKeyframe(shot, c, q, in_blend)
    return best
