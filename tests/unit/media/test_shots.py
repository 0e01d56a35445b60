"""Shot cuts land within one frame of the generated ground truth; blends are not cuts."""

from __future__ import annotations

import numpy as np
import pytest

from reelmind import samples
from reelmind.media import probe, scan
from reelmind.media.keyframes import segment
from reelmind.media.shots import (
    FEATURE_H,
    FEATURE_W,
    CutConfig,
    detect_cuts,
    frame_scores,
    transition_mask,
)


@pytest.mark.parametrize("name", ["cuts", "transitions", "silent", "vertical", "phone", "speech"])
def test_cuts_match_ground_truth_within_one_frame(clips: dict[str, samples.ClipTruth], name: str) -> None:
    clip = clips[name]
    media = probe.probe(clip.path)
    result = scan.scan(clip.path, media.frame_count)
    found = [s.start_frame for s in segment(result, 48).shots if s.entry == "cut"]
    assert len(found) == len(clip.cuts), f"found {found}, expected {clip.cuts}"
    for got, want in zip(found, clip.cuts, strict=True):
        assert abs(got - want) <= 1


def test_every_frame_is_numbered_and_the_samples_keep_their_times(
    clips: dict[str, samples.ClipTruth],
) -> None:
    clip = clips["cuts"]
    result = scan.scan(clip.path, clip.frame_count)
    assert result.frame_count == clip.frame_count
    assert np.allclose(result.frame_times, np.arange(clip.frame_count) / clip.spec.fps, atol=1e-3)
    assert np.all(np.diff(result.frames) > 0) and result.frames[0] == 0
    assert np.array_equal(result.times, result.frame_times[result.frames])
    # x264's disposable B-frames are skipped: about half the frames are decoded, none far from the next.
    assert 0.3 * clip.frame_count < len(result.frames) < 0.8 * clip.frame_count
    assert np.diff(result.frames).max() <= 4


def test_a_spike_is_a_cut_but_steady_motion_is_not() -> None:
    rng = np.random.default_rng(0)
    scores = rng.uniform(20, 30, 200).astype(np.float32)  # fast motion everywhere
    scores[0] = 0
    scores[100] = 120  # one real cut
    assert detect_cuts(scores, CutConfig()) == [100]


def test_cuts_closer_than_the_minimum_shot_are_merged() -> None:
    scores = np.zeros(100, np.float32)
    scores[[50, 52]] = [100, 90]
    assert detect_cuts(scores, CutConfig(min_shot_frames=4)) == [50]


def test_a_fade_through_black_is_not_reported_as_several_cuts(clips: dict[str, samples.ClipTruth]) -> None:
    clip = clips["transitions"]
    result = scan.scan(clip.path, clip.frame_count)
    cuts = result.cuts
    for start, end in clip.blends:
        assert not [c for c in cuts if start + 1 < c < end - 1], f"cut inside blend {start}-{end}: {cuts}"


def test_dissolve_frames_are_flagged_as_transitions(clips: dict[str, samples.ClipTruth]) -> None:
    clip = clips["transitions"]
    result = scan.scan(clip.path, clip.frame_count)
    seg = segment(result, 48)
    dissolve_start, dissolve_end = clip.blends[1]
    middle = (dissolve_start + dissolve_end) // 2
    assert seg.transitions[middle - 2 : middle + 3].any()
    assert not seg.transitions[:20].any(), "a steady pan at the start is not a transition"


def test_dissolves_and_fades_start_new_shots_so_every_scene_gets_a_keyframe(
    clips: dict[str, samples.ClipTruth],
) -> None:
    clip = clips["transitions"]
    seg = segment(scan.scan(clip.path, clip.frame_count), 48)
    gradual = [s.start_frame for s in seg.shots if s.entry == "gradual"]
    assert len(gradual) == len(clip.blends)
    for start, (lo, hi) in zip(gradual, clip.blends, strict=True):
        assert lo <= start < hi
    assert len(seg.keyframes) == len(clip.spec.segments)


def test_a_linear_blend_of_distant_frames_is_a_transition_and_a_still_is_not() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (FEATURE_H, FEATURE_W)).astype(np.float64)
    b = rng.integers(0, 256, (FEATURE_H, FEATURE_W)).astype(np.float64)
    fps, k = 30.0, 15
    weights = np.concatenate([np.zeros(40), np.linspace(0, 1, 31), np.ones(40)])
    frames = np.stack([np.rint((1 - w) * a + w * b) for w in weights]).astype(np.uint8)
    mask = transition_mask(frames, fps)
    # Inside the dissolve (frames 40-70) and only there: each is the mean of the frames k either side.
    assert mask[40 + k // 2 : 70 - k // 2].all()
    assert not mask[: 40 - k].any() and not mask[70 + k :].any()
    assert not transition_mask(np.repeat(frames[:1], len(frames), axis=0), fps).any()


def test_transition_mask_and_frame_scores_equal_their_definitions_in_floats() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.integers(0, 256, (2, FEATURE_H, FEATURE_W))
    w = np.clip((np.arange(90) - 30) / 30, 0, 1)[:, None, None]
    noise = rng.normal(0, 12, (90, FEATURE_H, FEATURE_W))  # enough that some blend frames fail the test
    features = np.clip(np.rint((1 - w) * a + w * b + noise), 0, 255).astype(np.uint8)
    hists = rng.random((90, 48)).astype(np.float32)
    f, k = features.astype(np.float64), 15
    far = np.abs(f[2 * k :] - f[: -2 * k]).mean(axis=(1, 2))
    blend = np.abs(f[k:-k] - 0.5 * (f[: -2 * k] + f[2 * k :])).mean(axis=(1, 2))
    expected = np.zeros(90, bool)
    expected[k:-k] = (far > 20.0) & (blend < 0.3 * far)
    assert 0 < expected.sum() < 60
    assert np.array_equal(transition_mask(features, 30.0), expected)
    pixel = np.abs(np.diff(f, axis=0)).mean(axis=(1, 2))
    hist = np.abs(np.diff(hists, axis=0)).sum(axis=1) * 0.5 * 255.0
    assert np.allclose(frame_scores(features, hists)[1:], 0.5 * pixel + 0.5 * hist, rtol=1e-6)
