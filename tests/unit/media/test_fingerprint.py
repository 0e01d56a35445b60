"""Video fingerprints recognise re-uploads (re-encoded, downscaled, cropped, mirrored, watermarked,
trimmed) of the generated clips and never confuse distinct clips, even those built from the same photos."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from reelmind import samples
from reelmind.media import probe, scan, transforms
from reelmind.media.fingerprint import (
    DEFAULT_MATCH_CONFIG,
    FINGERPRINT_VERSION,
    NO_MATCH,
    UNSTEADY_BIT,
    Fingerprint,
    compare,
    fingerprint,
    frame_hash,
    is_duplicate,
)

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")
SIX_PHOTOS = (*PHOTOS, "hubble_deep_field", "cat")


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def luma_frame(name: str, width: int = 640, height: int = 360) -> np.ndarray:
    """A 16:9 grey frame of a bundled photo (the largest centred 16:9 window, resized)."""
    rgb = samples.photo(name)
    h, w = rgb.shape[:2]
    if w * 9 >= h * 16:
        cw = h * 16 // 9
        rgb = rgb[:, (w - cw) // 2 : (w - cw) // 2 + cw]
    else:
        ch = w * 9 // 16
        rgb = rgb[(h - ch) // 2 : (h - ch) // 2 + ch]
    grey = cv2.cvtColor(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(grey)


# Frame hash -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PHOTOS)
def test_a_mirrored_photo_hashes_the_same(name: str) -> None:
    luma = luma_frame(name)
    assert hamming(frame_hash(luma), frame_hash(luma[:, ::-1].copy())) <= 2


def test_mirror_invariance_is_exact_on_thumbnails() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        thumb = cv2.GaussianBlur(rng.integers(0, 256, (36, 64), dtype=np.uint8), (5, 5), 0)
        assert frame_hash(thumb) == frame_hash(thumb[:, ::-1].copy())


@pytest.mark.parametrize("name", PHOTOS)
def test_crop_scale_watermark_and_compression_change_few_bits(name: str) -> None:
    luma = luma_frame(name)
    h, w = luma.shape
    original = frame_hash(luma)
    cropped = luma[h // 20 : h - h // 20, w // 20 : w - w // 20]  # 10% of width and height removed
    half = cv2.resize(luma, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    marked = luma.copy()
    cv2.putText(marked, "@reelmind", (w - 200, h - 20), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 255, 2, cv2.LINE_AA)
    ok, jpeg = cv2.imencode(".jpg", luma, [cv2.IMWRITE_JPEG_QUALITY, 20])
    assert ok
    compressed = cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE)
    assert compressed is not None
    distances = {
        "crop": hamming(original, frame_hash(cropped)),
        "scale": hamming(original, frame_hash(half)),
        "watermark": hamming(original, frame_hash(marked)),
        "jpeg": hamming(original, frame_hash(compressed)),
    }
    assert distances["crop"] <= 10, distances
    assert max(distances["scale"], distances["watermark"], distances["jpeg"]) <= 6, distances


def test_different_photos_hash_far_apart() -> None:
    hashes = {name: frame_hash(luma_frame(name)) for name in PHOTOS}
    distances = {(a, b): hamming(hashes[a], hashes[b]) for a, b in itertools.combinations(PHOTOS, 2)}
    assert min(distances.values()) >= 24, distances
    assert min(distances.values()) > 1.5 * DEFAULT_MATCH_CONFIG.max_distance, distances


def test_a_uniform_picture_hashes_to_zero() -> None:
    assert frame_hash(np.full((36, 64), 128, np.uint8)) == 0
    assert frame_hash(np.zeros((360, 640), np.uint8)) == 0


def test_frame_hash_rejects_what_is_not_an_image() -> None:
    with pytest.raises(ValueError):
        frame_hash(np.zeros((3, 36, 64), np.uint8))
    with pytest.raises(ValueError):
        frame_hash(np.zeros((0, 64), np.uint8))


# Fingerprints and comparison on synthetic features ---------------------------------------------------


def panning_features(seconds: float, fps: float = 25.0, photos: tuple[str, ...] = SIX_PHOTOS) -> np.ndarray:
    """Thumbnails of a slow pan across each photo in turn, two seconds per photo."""
    frames = round(seconds * fps)
    per = round(2 * fps)
    out = np.empty((frames, 36, 64), np.uint8)
    sources = {name: luma_frame(name, 160, 90) for name in photos}
    for i in range(frames):
        src = sources[photos[(i // per) % len(photos)]]
        x = round(32 * (i % per) / per)
        out[i] = cv2.resize(src[5:77, x : x + 128], (64, 36), interpolation=cv2.INTER_AREA)
    return out


def test_a_trimmed_copy_matches_at_its_offset() -> None:
    fps = 25.0
    features = panning_features(12.0, fps)
    times = np.arange(len(features)) / fps
    whole = fingerprint(times, features)
    cut = 70  # 2.8 s
    tail = fingerprint(times[cut:] - times[cut], features[cut:])
    match = compare(whole, tail)
    assert is_duplicate(match)
    assert match.score == pytest.approx(1.0)
    assert match.offset_s == pytest.approx(cut / fps, abs=whole.step_s)
    assert match.overlap_s == pytest.approx(tail.duration_s, abs=whole.step_s)
    reverse = compare(tail, whole)  # b extends a on both sides
    assert is_duplicate(reverse)
    assert reverse.offset_s == pytest.approx(-cut / fps, abs=whole.step_s)


def test_samples_follow_the_rate() -> None:
    features = panning_features(10.0)
    times = np.arange(len(features)) / 25.0
    fp4 = fingerprint(times, features)
    fp8 = fingerprint(times, features, rate_hz=8.0)
    assert len(fp4.hashes) == 40 and len(fp8.hashes) == 80
    assert fp4.step_s == pytest.approx(0.25)
    assert fp4.times.dtype == np.float32 and fp4.hashes.dtype == np.uint64
    with pytest.raises(ValueError):
        compare(fp4, fp8)
    with pytest.raises(ValueError):
        fingerprint(times, features, rate_hz=0)
    with pytest.raises(ValueError):
        fingerprint(times[:-1], features)


def test_fast_motion_is_flagged_and_a_still_is_not() -> None:
    rng = np.random.default_rng(0)
    noise = cv2.resize(rng.integers(0, 256, (90, 160), dtype=np.uint8), (64, 36))
    still = np.repeat(luma_frame("coffee", 64, 36)[None], 50, axis=0)
    flicker = np.stack([noise if i % 2 else noise[::-1] for i in range(50)])
    times = np.arange(50) / 25.0
    assert not np.any(fingerprint(times, still).hashes & UNSTEADY_BIT)
    assert np.all(fingerprint(times, flicker).hashes & UNSTEADY_BIT)


def test_json_round_trip() -> None:
    features = panning_features(5.0)
    fp = fingerprint(np.arange(len(features)) / 25.0, features)
    data = json.loads(json.dumps(fp.to_dict()))
    assert data["version"] == FINGERPRINT_VERSION
    assert all(isinstance(h, str) and len(h) == 16 for h in data["hashes"])
    back = Fingerprint.from_dict(data)
    assert np.array_equal(back.hashes, fp.hashes)
    assert np.allclose(back.times, fp.times, atol=1e-3)
    assert back.version == fp.version
    assert compare(fp, back).score == 1.0
    with pytest.raises(ValueError):
        Fingerprint.from_dict({"times": [0.0], "hashes": []})


def test_empty_short_and_blank_videos_never_match() -> None:
    empty = fingerprint(np.zeros(0), np.zeros((0, 36, 64), np.uint8))
    assert len(empty.hashes) == 0 and empty.duration_s == 0.0
    one = fingerprint(np.zeros(1), panning_features(0.04))
    few = fingerprint(np.arange(3) / 25.0, panning_features(0.12))
    assert len(one.hashes) == 1 and len(few.hashes) == 1
    black = fingerprint(np.arange(250) / 25.0, np.full((250, 36, 64), 16, np.uint8))
    assert not np.any(black.hashes)
    normal = fingerprint(np.arange(250) / 25.0, panning_features(10.0))
    for a, b in [(empty, empty), (empty, normal), (one, one), (few, normal), (one, few), (black, black)]:
        assert compare(a, b) == NO_MATCH
        assert compare(b, a) == NO_MATCH
        assert not is_duplicate(compare(a, b))
    assert not is_duplicate(compare(black, normal))


def test_versions_must_agree() -> None:
    features = panning_features(3.0)
    fp = fingerprint(np.arange(len(features)) / 25.0, features)
    other = Fingerprint(times=fp.times, hashes=fp.hashes, version="another")
    with pytest.raises(ValueError):
        compare(fp, other)


def test_comparing_two_minute_long_fingerprints_takes_well_under_10_ms() -> None:
    rng = np.random.default_rng(1)
    times = (np.arange(240) / 4.0).astype(np.float32)
    a = Fingerprint(times=times, hashes=rng.integers(0, 2**63, 240, dtype=np.uint64))
    b = Fingerprint(times=times, hashes=np.roll(a.hashes, 17))
    compare(a, b)
    runs = []
    for _ in range(20):
        start = time.perf_counter()
        compare(a, b)
        runs.append(time.perf_counter() - start)
    assert float(np.median(runs)) < 0.010, f"median {1e3 * float(np.median(runs)):.2f} ms"


# Acceptance over real encodes of the fixture clips ----------------------------------------------------


@dataclass(frozen=True)
class Upload:
    origin: str  # the clip it was made from
    path: Path
    fingerprint: Fingerprint


@pytest.fixture(scope="module")
def uploads(reuploads: dict[str, tuple[str, Path]]) -> dict[str, Upload]:
    """Every fixture clip and its six transformed copies, each scanned and fingerprinted."""
    out = {}
    for key, (origin, path) in reuploads.items():
        result = scan.scan(path, probe.probe(path).frame_count)
        out[key] = Upload(origin, path, fingerprint(result.times, result.features))
    return out


@pytest.mark.slow
def test_transforms_write_what_they_claim(uploads: dict[str, Upload]) -> None:
    for name in ["cuts", "vertical", "silent"]:
        src = probe.probe(uploads[name].path)
        got = {kind: probe.probe(uploads[f"{name}.{kind}"].path) for kind in transforms.TRANSFORMS}
        assert (got["scale"].width, got["scale"].height) == (
            src.width // 2 // 2 * 2,
            src.height // 2 // 2 * 2,
        )
        assert got["crop"].width == pytest.approx(0.9 * src.width, abs=2)
        assert got["crop"].height == pytest.approx(0.9 * src.height, abs=2)
        assert got["reencode"].bitrate_bps < src.bitrate_bps
        assert got["trim"].frame_count == pytest.approx(0.8 * src.frame_count, abs=1)
        for info in got.values():
            assert info.video_codec == "h264" and info.width % 2 == 0 and info.height % 2 == 0
            assert (info.audio_codec is None) == (src.audio_codec is None)
            assert info.frame_count in (src.frame_count, got["trim"].frame_count)


@pytest.mark.slow
def test_reuploads_are_recognised_and_distinct_clips_are_not(uploads: dict[str, Upload]) -> None:
    true_scores: list[tuple[float, str, str]] = []
    false_scores: list[tuple[float, str, str]] = []
    tp = fp = fn = 0
    for a, b in itertools.combinations(sorted(uploads), 2):
        match = compare(uploads[a].fingerprint, uploads[b].fingerprint)
        same = uploads[a].origin == uploads[b].origin
        found = is_duplicate(match)
        (true_scores if same else false_scores).append((match.score, a, b))
        tp += same and found
        fp += found and not same
        fn += same and not found
    precision = tp / max(1, tp + fp)
    recall = tp / max(1, tp + fn)
    lowest_true, highest_false = min(true_scores), max(false_scores)
    report = (
        f"{len(uploads)} files, {len(true_scores)} same-clip and {len(false_scores)} distinct-clip pairs: "
        f"precision {precision:.3f}, recall {recall:.3f}; min same-clip score {lowest_true[0]:.3f} "
        f"({lowest_true[1]} ~ {lowest_true[2]}), max distinct-clip score {highest_false[0]:.3f} "
        f"({highest_false[1]} ~ {highest_false[2]}), threshold {DEFAULT_MATCH_CONFIG.min_score}"
    )
    print(report)
    assert precision >= 0.95 and recall >= 0.95, report
    assert fp == 0, report


@pytest.mark.slow
def test_a_trimmed_upload_is_located_in_its_original(uploads: dict[str, Upload]) -> None:
    for name in ["cuts", "transitions", "speech", "reordered"]:
        original, trimmed = uploads[name].fingerprint, uploads[f"{name}.trim"].fingerprint
        match = compare(original, trimmed)
        assert is_duplicate(match)
        assert match.offset_s == pytest.approx(0.2 * original.duration_s, abs=2 * original.step_s)
