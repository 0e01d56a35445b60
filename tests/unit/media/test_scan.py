"""The scan decodes a sample of the frames in parts side by side, and still finds every cut to the frame.

Clips are encoded here with settings that put cuts where the scan's shortcuts would hurt: inside
runs of skipped B-frames (no key frame at the cut; H.264, HEVC and AV1, whose decoders honour the skip
setting differently), and open GOPs whose leading pictures straddle the boundary between two parts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from reelmind import samples
from reelmind.domain.limits import Limits
from reelmind.errors import CorruptMedia, TooLong
from reelmind.media import grab, scan
from reelmind.media.keyframes import segment

SEGMENTS = samples.standard_specs()[0].segments  # four shots, cuts at known frames, pans and zooms
ENCODINGS = {
    # One key frame per 10 s and no scene-cut detection: every cut lies between two decoded samples.
    "cuts_in_b_runs": ("libx264", "scenecut=0:keyint=250:bframes=3"),
    "hevc_cuts_in_b_runs": ("libx265", "scenecut=0:keyint=250:bframes=8:b-pyramid=1"),
    # SVT-AV1 puts one key frame at the start of a short clip; dav1d reads the skip setting only once.
    "av1": ("libsvtav1", ""),
    # Open GOPs every 30 frames: B-frames after a key frame in decode order are shown before it.
    "open_gop": ("libx264", "open-gop=1:keyint=30:min-keyint=30:scenecut=0"),
    # A key frame every second and none at cuts, as hardware encoders write.
    "fixed_gop": ("libx264", "scenecut=0:keyint=25:min-keyint=25:bframes=3"),
    "hevc_fixed_gop": ("libx265", "scenecut=0:keyint=25:min-keyint=25:bframes=3:b-pyramid=1"),
    # No B-frames at all: nothing to skip.
    "no_b_frames": ("libx264", "bframes=0:keyint=50:scenecut=0"),
}


def _write(
    path: Path,
    spec: samples.ClipSpec,
    *,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    options: dict[str, str] | None = None,
    container_format: str | None = None,
    times_ms: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Encode the spec's pictures as the arguments say (for streams `samples.write_clip` does not
    make: other pixel formats, containers, timestamps); returns the pictures, RGB."""
    pictures = list(samples.frames(spec))
    with av.open(str(path), "w", format=container_format) as out:
        vs = out.add_stream(codec, rate=spec.fps)
        vs.width, vs.height, vs.pix_fmt = spec.width, spec.height, pix_fmt
        vs.options = options or {}
        if times_ms is not None:
            vs.codec_context.time_base = Fraction(1, 1000)
        for i, img in enumerate(pictures):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format=pix_fmt)
            if times_ms is not None:
                frame.pts, frame.time_base = int(times_ms[i]), Fraction(1, 1000)
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
    return pictures


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, samples.ClipTruth]:
    folder = tmp_path_factory.mktemp("encoded")
    return {
        name: samples.write_clip(
            samples.ClipSpec(name, SEGMENTS, codec=codec, encoder_params=params), folder / f"{name}.mp4"
        )
        for name, (codec, params) in ENCODINGS.items()
    }


@pytest.mark.parametrize("name", ["cuts_in_b_runs", "hevc_cuts_in_b_runs", "av1"])
def test_cuts_between_skipped_frames_are_located_to_the_frame(
    encoded: dict[str, samples.ClipTruth], name: str
) -> None:
    clip = encoded[name]
    result = scan.scan(clip.path, clip.frame_count, scan.ScanConfig(parts=3, min_part_s=1.0))
    assert result.parts == 1, "one key frame: nowhere to split"
    assert len(result.frames) < 0.7 * clip.frame_count, "disposable frames were not skipped"
    decoded = set(result.frames.tolist())
    # A cut is exact without refinement only when both the frame before it and the frame itself are samples.
    between = [c for c in clip.cuts if not {c - 1, c} <= decoded]
    assert between, "no cut fell between two samples: the clip does not test refinement"
    assert result.refined >= len(between)
    assert result.cuts == clip.cuts
    shots = segment(result, 48).shots
    assert [s.start_frame for s in shots if s.entry == "cut"] == clip.cuts


def test_the_refined_cut_is_where_the_picture_changes_not_the_next_sample(
    encoded: dict[str, samples.ClipTruth],
) -> None:
    clip = encoded["cuts_in_b_runs"]
    result = scan.scan(clip.path, clip.frame_count, scan.ScanConfig(parts=1))
    for cut in clip.cuts:
        after = int(result.frames[result.sample_at(cut - 1) + 1])  # the first sample past the last shot
        if after != cut:
            break
    else:
        pytest.fail("every cut is on a sample: nothing was refined")
    assert cut in result.cuts and after not in result.cuts


@pytest.mark.parametrize("name", ["open_gop", "no_b_frames"])
def test_parts_decoded_side_by_side_give_what_one_decoder_gives(
    encoded: dict[str, samples.ClipTruth], name: str
) -> None:
    clip = encoded[name]
    # Without the extra frames decoded after large pictures: one decoder runs frame threads and so
    # cannot change what it skips from one packet to the next.
    one = scan.scan(clip.path, clip.frame_count, scan.ScanConfig(parts=1, jump_ratio=0))
    three = scan.scan(clip.path, clip.frame_count, scan.ScanConfig(parts=3, min_part_s=1.0, jump_ratio=0))
    assert three.parts == 3
    assert np.array_equal(one.frames, three.frames)
    assert np.array_equal(one.features, three.features)
    assert np.allclose(one.scores[1:], three.scores[1:])
    assert one.cuts == three.cuts == clip.cuts
    assert [c.frame for c in one.candidates][:5] == [c.frame for c in three.candidates][:5]


@pytest.mark.parametrize("name", ["open_gop", "fixed_gop"])
def test_a_decoder_that_runs_out_takes_over_the_rest_of_anothers_run(
    encoded: dict[str, samples.ClipTruth], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second decoder is given nothing, so everything it decodes it took over from the back of the
    first one's run, seeking there and again after each stretch; the result is one decoder's."""
    clip = encoded[name]
    config = scan.ScanConfig(parts=2, min_part_s=1.0, jump_ratio=0)
    planned = scan._Work.plan
    works: list[scan._Work] = []

    def lopsided(index: scan._Index, fps: float, config: scan.ScanConfig) -> scan._Work:
        work = planned(index, fps, config)
        assert work is not None
        units = len(work.splits) + 1
        works.append(scan._Work(index, work.splits, [0, units, units]))
        return works[-1]

    monkeypatch.setattr(scan._Work, "plan", lopsided)
    shared = scan.scan(clip.path, clip.frame_count, config)
    monkeypatch.undo()
    one = scan.scan(clip.path, clip.frame_count, replace(config, parts=1))
    assert shared.parts == 2 and len(works[0]._next) > 2, "the second decoder took nothing over"
    assert np.array_equal(one.frames, shared.frames)
    assert np.array_equal(one.features, shared.features)
    assert one.cuts == shared.cuts == clip.cuts


def test_every_unit_is_decoded_once_whoever_takes_it() -> None:
    """Decoders claim units as their key frames come and take over halves of others' runs, in any order."""
    rng = np.random.default_rng(3)
    for _ in range(200):
        units, decoders = int(rng.integers(2, 30)), int(rng.integers(2, 5))
        bounds = sorted({0, *rng.integers(0, units + 1, decoders - 1).tolist(), units})
        work = scan._Work(None, [], [*bounds, *[units] * (decoders + 1 - len(bounds))])  # type: ignore[arg-type]
        # Each decoder: (range, unit it is decoding) or None once finished.
        at = [work.first(d) for d in range(work.decoders)]
        at = [a if a is not None else work.steal() for a in at]
        decoded = [a[1] for a in at if a is not None]
        while any(a is not None for a in at):
            d = int(rng.choice([i for i, a in enumerate(at) if a is not None]))
            r, unit = at[d]  # type: ignore[misc]
            if unit + 1 < units and work.take(r, unit + 1):
                at[d] = (r, unit + 1)
            else:
                at[d] = work.steal()
            if at[d] is not None:
                decoded.append(at[d][1])  # type: ignore[index]
        assert sorted(decoded) == list(range(units))


def test_open_gop_clip_has_leading_pictures(encoded: dict[str, samples.ClipTruth]) -> None:
    """The open-GOP case above only tests the part boundary if its key frames have leading pictures."""
    with av.open(str(encoded["open_gop"].path)) as container:
        index = scan._Index.build(container, container.streams.video[0])
    assert index is not None and sum(k.leading for k in index.keys[1:]) >= 2


def test_a_stream_without_b_frames_is_decoded_whole(encoded: dict[str, samples.ClipTruth]) -> None:
    clip = encoded["no_b_frames"]
    result = scan.scan(clip.path, clip.frame_count)
    assert np.array_equal(result.frames, np.arange(clip.frame_count))
    assert result.refined == 0 and result.cuts == clip.cuts


def test_decoding_every_frame_finds_the_same_cuts(encoded: dict[str, samples.ClipTruth]) -> None:
    clip = encoded["open_gop"]
    sampled = scan.scan(clip.path, clip.frame_count)
    every = scan.scan(clip.path, clip.frame_count, scan.ScanConfig(skip_disposable=False))
    assert len(every.frames) == clip.frame_count > len(sampled.frames)
    assert every.cuts == sampled.cuts == clip.cuts
    # The samples' thumbnails are the same pictures as those frames decoded in full.
    at = np.searchsorted(every.frames, sampled.frames)
    assert np.array_equal(every.features[at], sampled.features)


def test_progress_counts_the_decoded_frames(encoded: dict[str, samples.ClipTruth]) -> None:
    clip = encoded["cuts_in_b_runs"]
    seen: list[int] = []
    result = scan.scan(clip.path, clip.frame_count, scan.ScanConfig(parts=2, min_part_s=1.0), seen.append)
    assert all(step >= 30 for step in seen)
    assert len(result.frames) - 30 < sum(seen) <= len(result.frames)


def test_keyframe_candidates_are_numbered_and_timed_like_the_samples(
    encoded: dict[str, samples.ClipTruth],
) -> None:
    clip = encoded["open_gop"]
    result = scan.scan(clip.path, clip.frame_count, scan.ScanConfig(parts=2, min_part_s=1.0))
    assert len(result.candidates) >= clip.duration_s * 2
    for c in result.candidates:
        assert result.frames[c.sample] == c.frame
        assert c.time_s == pytest.approx(c.frame / clip.spec.fps, abs=1e-3)
        assert c.bgr().shape == (clip.spec.height, clip.spec.width, 3)


def test_a_file_cut_short_is_damaged(tmp_path: Path, encoded: dict[str, samples.ClipTruth]) -> None:
    clip = encoded["no_b_frames"]
    data = clip.path.read_bytes()
    short = tmp_path / "short.mp4"
    short.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptMedia):
        scan.scan(short, clip.frame_count)


def test_a_raw_stream_without_timestamps_is_decoded_frame_by_frame(tmp_path: Path) -> None:
    """Raw H.264 (Annex B) carries no timestamps: there is nothing to number skipped frames by."""
    spec = samples.ClipSpec("raw", SEGMENTS)
    raw = tmp_path / "clip.h264"
    _write(raw, spec, container_format="h264")
    truth = samples.truth(spec, raw)
    result = scan.scan(raw, 0, scan.ScanConfig(parts=2, min_part_s=1.0))
    assert result.parts == 1
    assert np.array_equal(result.frames, np.arange(truth.frame_count))
    assert result.cuts == truth.cuts
    assert result.frame_times[-1] == pytest.approx((truth.frame_count - 1) / spec.fps, abs=1e-3)


def test_frames_past_the_limit_are_refused_whatever_the_header_says(tmp_path: Path) -> None:
    """Counted in the packet index before decoding; in a raw stream, which has no index, while
    decoding, which stops just past the limit."""
    spec = samples.ClipSpec("raw", SEGMENTS)
    raw, mp4 = tmp_path / "clip.h264", tmp_path / "clip.mp4"
    _write(raw, spec, container_format="h264")
    _write(mp4, spec)
    count = samples.truth(spec, mp4).frame_count
    for path in (raw, mp4):
        with pytest.raises(TooLong, match=f"the limit is {count - 1}"):
            scan.scan(path, 10, limits=Limits(max_frames=count - 1))
        assert len(scan.scan(path, 10, limits=Limits(max_frames=count)).frames) > 0


_ONE, _W = 1 << 16, 1 << 30  # 1.0 in the display matrix's 16.16 entries, and its w entry (2.30)


@pytest.mark.parametrize(
    ("matrix", "shown"),
    [
        # How FFmpeg's players show the stored picture under each matrix (fftools' autorotate): the
        # stored pictures are made by undoing that (each of these flips is its own inverse).
        ((-_ONE, 0, 0, 0, _ONE, 0, 0, 0, _W), lambda p: p[:, ::-1]),  # mirrored left to right
        ((_ONE, 0, 0, 0, -_ONE, 0, 0, 0, _W), lambda p: p[::-1]),  # mirrored top to bottom
        ((0, _ONE, 0, _ONE, 0, 0, 0, 0, _W), lambda p: p.transpose(1, 0, 2)),  # turned and mirrored
        ((0, -_ONE, 0, -_ONE, 0, 0, 0, 0, _W), lambda p: p.transpose(1, 0, 2)[::-1, ::-1]),
    ],
    ids=["hflip", "vflip", "transpose", "antitranspose"],
)
def test_a_display_matrix_that_mirrors_is_undone_as_players_undo_it(
    tmp_path: Path, matrix: tuple[int, ...], shown: Callable[[np.ndarray], np.ndarray]
) -> None:
    spec = samples.ClipSpec("mirror", (samples.Segment("chelsea", 12),), width=160, height=96, audio=None)
    truth = list(samples.frames(spec))
    path = tmp_path / "mirror.mp4"
    with av.open(str(path), "w") as out:
        stored_h, stored_w = shown(truth[0]).shape[:2]
        vs = out.add_stream("libx264", rate=spec.fps)
        vs.width, vs.height, vs.pix_fmt = stored_w, stored_h, "yuv420p"
        vs.set_display_matrix(list(matrix))
        for picture in truth:
            stored = np.ascontiguousarray(shown(picture))
            out.mux(vs.encode(av.VideoFrame.from_ndarray(stored, format="rgb24")))
        out.mux(vs.encode())
    candidate = scan.scan(path, len(truth)).candidates[-1]
    upright = truth[candidate.frame][:, :, ::-1].astype(int)
    assert candidate.bgr().shape == upright.shape
    assert np.abs(candidate.bgr().astype(int) - upright).mean() < 12
    again = grab.grab_frames(path, [candidate.frame])[candidate.frame]  # frames decoded again for OCR
    assert np.abs(again.astype(int) - upright).mean() < 12


def test_a_phone_video_stored_on_its_side_is_seen_upright(clips: dict[str, samples.ClipTruth]) -> None:
    clip = clips["phone"]
    result = scan.scan(clip.path, clip.frame_count)
    assert result.rotation == 270 and result.cuts == clip.cuts
    truth = list(samples.frames(clip.spec))
    candidate = result.candidates[len(result.candidates) // 2]
    assert (candidate.width, candidate.height) == (clip.spec.width, clip.spec.height)
    upright = truth[candidate.frame][:, :, ::-1].astype(int)
    assert np.abs(candidate.bgr().astype(int) - upright).mean() < 12
    assert candidate.luma().shape == (clip.spec.height, clip.spec.width)
    # Frames decoded again (for OCR) are turned the same way.
    again = grab.grab_frames(clip.path, [candidate.frame])[candidate.frame]
    assert np.abs(again.astype(int) - upright).mean() < 12


def test_a_variable_frame_rate_video_keeps_every_frames_own_time(tmp_path: Path) -> None:
    """Phones vary the frame rate: frame numbers and times come from each frame's timestamp."""
    spec = samples.ClipSpec("vfr", SEGMENTS)
    count = sum(segment.frames for segment in SEGMENTS)
    ms = np.cumsum([0] + [80 if i % 3 == 0 else 40 for i in range(count - 1)])
    path = tmp_path / "vfr.mp4"
    _write(path, spec, times_ms=ms)
    truth = samples.truth(spec, path)
    result = scan.scan(path, truth.frame_count)
    assert np.allclose(result.frame_times, ms / 1000.0, atol=1e-3)
    assert result.cuts == truth.cuts
    starts = {s.start_frame: s.start_s for s in segment(result, 48).shots}
    for cut in truth.cuts:
        assert starts[cut] == pytest.approx(ms[cut] / 1000.0, abs=1e-3)


def test_a_10_bit_hdr_style_stream_is_read_from_its_top_8_bits(tmp_path: Path) -> None:
    """Phones record HEVC with 10 bits; the features read the planes as they are, candidates convert."""
    spec = samples.ClipSpec("deep", SEGMENTS)
    path = tmp_path / "deep.mp4"
    options = {"preset": "veryfast", "x265-params": "log-level=error"}
    pictures = _write(path, spec, codec="libx265", pix_fmt="yuv420p10le", options=options)
    truth = samples.truth(spec, path)
    result = scan.scan(path, truth.frame_count)
    assert result.cuts == truth.cuts
    # The same frames converted to 8 bits by FFmpeg, then reduced as 8-bit streams are: the top bits
    # differ from its rounding by at most one level.
    with av.open(str(path)) as container:
        decoded = [f.reformat(format="yuv420p") for f in container.decode(video=0)]
    converted = [scan._strided(*scan._planes(decoded[n])) for n in result.frames]
    reference, _ = scan._reduced(*zip(*converted, strict=True))
    assert np.abs(result.features.astype(int) - reference.astype(int)).mean() < 1.0
    candidate = result.candidates[len(result.candidates) // 2]
    upright = pictures[candidate.frame][:, :, ::-1].astype(int)
    assert np.abs(candidate.bgr().astype(int) - upright).mean() < 12


def _textured_pan(path: Path) -> None:
    """A fast pan over fine texture with a moving disc: x264 then predicts P-frames from its pyramid
    B-frames (the photo clips rarely make it), so only B-frames no picture refers to may be skipped."""
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur((rng.random((600, 1200, 3)) * 255).astype(np.uint8), (0, 0), 2)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=30)
        vs.width, vs.height, vs.pix_fmt = 320, 180, "yuv420p"
        for i in range(90):
            x, y = int(100 + 60 * np.sin(i / 9) + 3 * i), int(100 + 40 * np.cos(i / 13))
            img = texture[y : y + 180, x : x + 320].copy()
            cv2.circle(img, (int(160 + 100 * np.sin(i / 5)), 90), 20, (255, 255, 0), -1)
            for packet in vs.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)


def test_only_pictures_no_other_picture_refers_to_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "pan.mp4"
    _textured_pan(path)

    def luma(skip: str) -> dict[int, np.ndarray]:
        with av.open(str(path)) as container:
            vs = container.streams.video[0]
            vs.codec_context.skip_frame = skip
            return {f.pts: f.to_ndarray(format="gray") for f in container.decode(vs)}

    every, without_b = luma("DEFAULT"), luma("BIDIR")
    # The clip is a fair test: skipping every B-frame would corrupt the P-frames that refer to one.
    assert any(not np.array_equal(every[pts], picture) for pts, picture in without_b.items())
    sampled = scan.scan(path, len(every))
    full = scan.scan(path, len(every), scan.ScanConfig(skip_disposable=False))
    assert len(sampled.frames) < len(every)
    at = np.searchsorted(full.frames, sampled.frames)
    assert np.array_equal(full.features[at], sampled.features)


@pytest.mark.parametrize("name", ["fixed_gop", "hevc_fixed_gop"])
def test_a_cut_inside_a_group_of_pictures_is_found_in_the_one_pass(
    encoded: dict[str, samples.ClipTruth], name: str
) -> None:
    """The first reference picture after a cut is coded large: the skipped frames before it are decoded
    in the pass, so there is a sample on each side of every cut and nothing is decoded again."""
    clip = encoded[name]
    config = scan.ScanConfig(parts=2, min_part_s=1.0)
    result = scan.scan(clip.path, clip.frame_count, config)
    assert result.parts == 2 and result.cuts == clip.cuts
    decoded = set(result.frames.tolist())
    assert all({c - 1, c} <= decoded for c in clip.cuts)
    assert result.refined == 0
    assert len(result.frames) < 0.7 * clip.frame_count, "the jumps decoded far more than the cuts"
    # Without the hint the same cuts are found by decoding their stretches again.
    plain = scan.scan(clip.path, clip.frame_count, replace(config, jump_ratio=0))
    assert plain.cuts == clip.cuts and plain.refined > 0
    assert len(plain.frames) < len(result.frames)


class _Packet:
    def __init__(self, pts: int, size: int, key: bool = False) -> None:
        self.pts, self.size, self.is_keyframe = pts, size, key


def test_jumps_decode_what_is_shown_before_a_large_reference_picture() -> None:
    jumps = scan._Jumps(2.5)
    # Decode order of an I P B B B P B B B ... stream: each P four frames ahead, then its three B-frames.
    sizes = {0: 50_000, 4: 5_000, 8: 5_200, 12: 4_800, 16: 5_100, 20: 30_000, 24: 5_000, 28: 12_000}
    decoded = []
    for p, size in sizes.items():
        packets = [_Packet(p, size, key=p == 0)] + (
            [_Packet(p - 3, 900), _Packet(p - 2, 1200), _Packet(p - 1, 900)] if p else []
        )
        decoded += [q.pts for q in packets if jumps.decode_all(q)]  # type: ignore[arg-type]
    # Frame 20 is six times the usual size: 17..19 are decoded; 28, under 2.5 times, is not a jump.
    assert decoded == [17, 18, 19]
