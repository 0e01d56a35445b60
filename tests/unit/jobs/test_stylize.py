"""Stylized video: every look keeps the frames, size and audio, visibly changes the picture, and does not
flicker more than the source (the flicker measure is `stylize.flicker`)."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from reelmind import samples
from reelmind.errors import BadRequest
from reelmind.jobs import stylize
from reelmind.media import orient

SPEC = samples.ClipSpec(
    "stylize",
    (
        samples.Segment("astronaut", 30, "pan"),
        samples.Segment("coffee", 25, "zoom"),
        samples.Segment("chelsea", 20, "pan"),
    ),
    width=320,
    height=180,
    fps=25,
    audio="tone",
)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> samples.ClipTruth:
    return samples.write_clip(SPEC, tmp_path_factory.mktemp("stylize") / "clip.mp4")


@pytest.fixture(scope="module")
def progress_calls() -> dict[str, list[float]]:
    return {}


@pytest.fixture(scope="module")
def outputs(
    clip: samples.ClipTruth, progress_calls: dict[str, list[float]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("stylized")
    done = {}
    for style in stylize.STYLES:
        calls = progress_calls.setdefault(style, [])
        done[style] = stylize.stylize_video(clip.path, folder / f"{style}.mp4", style, calls.append)
    return done


def _video(path: Path) -> tuple[list[np.ndarray], tuple[int, int], object]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(stream)]
        return frames, (stream.codec_context.width, stream.codec_context.height), stream.average_rate


def _audio(path: Path) -> tuple[float, str, list[bytes]]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        assert stream.duration is not None and stream.time_base is not None
        duration = float(stream.duration * stream.time_base)
        packets = [bytes(p) for p in container.demux(stream) if p.dts is not None]
        return duration, stream.codec_context.name, packets


@pytest.mark.parametrize("style", stylize.STYLES)
def test_keeps_frames_size_rate_and_audio(
    style: str, clip: samples.ClipTruth, outputs: dict[str, Path], progress_calls: dict[str, list[float]]
) -> None:
    frames, size, rate = _video(outputs[style])
    _, src_size, src_rate = _video(clip.path)
    assert len(frames) == clip.frame_count
    assert size == src_size == (SPEC.width, SPEC.height)
    assert rate == src_rate
    duration, codec, packets = _audio(outputs[style])
    src_duration, src_codec, src_packets = _audio(clip.path)
    assert abs(duration - src_duration) <= 0.05
    assert codec == src_codec
    assert packets == src_packets  # copied, not re-encoded
    calls = progress_calls[style]
    assert calls == sorted(calls) and calls[-1] == 1.0


@pytest.mark.parametrize("style", stylize.STYLES)
def test_flicker_stays_within_one_and_a_half_times_the_source(
    style: str, clip: samples.ClipTruth, outputs: dict[str, Path]
) -> None:
    source = stylize.flicker(clip.path, skip=clip.cuts)
    assert source > 1.0  # the clip moves: the measure has something to compare against
    assert stylize.flicker(outputs[style], skip=clip.cuts) <= 1.5 * source


@pytest.mark.parametrize("style", stylize.STYLES)
def test_changes_the_picture_visibly(style: str, clip: samples.ClipTruth, outputs: dict[str, Path]) -> None:
    src, _, _ = _video(clip.path)
    out, _, _ = _video(outputs[style])
    change = np.mean(
        [np.abs(a.astype(np.int16) - b).mean() for a, b in zip(src[::10], out[::10], strict=True)]
    )
    assert change > 8.0


def _still_frames(count: int = 30) -> list[np.ndarray]:
    """A still shot with fresh sensor noise in every frame, as a camera on a tripod would give."""
    spec = samples.ClipSpec("still", (samples.Segment("chelsea", count, "still"),), width=320, height=180)
    return [cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) for rgb in samples.frames(spec)]


@pytest.mark.parametrize("style", stylize.STYLES)
def test_a_still_scene_gives_a_still_picture(style: str) -> None:
    frames = _still_frames()
    stylizer = stylize.stylizer_for(style, 320, 180)
    out = [stylizer(f) for f in frames]
    # Noise changes the input by about 1.5 levels a frame; thresholds and textures must not boil.
    assert stylize.flicker_of(out[5:]) <= 0.4 * stylize.flicker_of(frames[5:])
    assert stylize.flicker_of(out[5:]) < 1.0
    # The very same frame twice: the output settles at once.
    again = stylize.stylizer_for(style, 320, 180)
    first, second, third = again(frames[0]), again(frames[0]), again(frames[0])
    assert np.array_equal(second, third)
    assert first.shape == frames[0].shape and first.dtype == np.uint8


@pytest.mark.parametrize("style", stylize.STYLES)
def test_each_video_gets_its_own_state_and_cuts_reset_it(style: str) -> None:
    still = _still_frames(8)
    other = samples.ClipSpec("other", (samples.Segment("rocket", 3, "still"),), width=320, height=180)
    after_cut = cv2.cvtColor(next(samples.frames(other)), cv2.COLOR_RGB2BGR)
    used = stylize.stylizer_for(style, 320, 180)
    for frame in still:
        used(frame)
    fresh = stylize.stylizer_for(style, 320, 180)
    assert fresh is not used
    # A new shot starts from the new picture: no trace of the previous shot's temporal state.
    assert np.array_equal(used(after_cut), fresh(after_cut))


def test_flicker_measure() -> None:
    flat = np.full((360, 640), 100, np.uint8)
    assert stylize.flicker_of([flat, flat, flat]) == 0.0
    assert stylize.flicker_of([flat, flat + 10, flat]) == pytest.approx(10.0)
    assert stylize.flicker_of([flat, flat + 10, flat, flat], skip=[1]) == pytest.approx(5.0)
    colour = np.zeros((4, 4, 3), np.uint8)
    assert stylize.frame_differences([colour, colour + 50]).tolist() == [50.0]


@pytest.mark.parametrize(
    "matrix",
    [
        None,  # a quarter turn, set as a rotation
        [0, 1 << 16, 0, 1 << 16, 0, 0, 0, 0, 1 << 30],  # a quarter turn and a mirror (a transpose)
    ],
    ids=["turn", "turn_and_mirror"],
)
def test_keeps_the_display_matrix(tmp_path: Path, matrix: list[int] | None) -> None:
    src = tmp_path / "portrait.mp4"
    with av.open(str(src), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        if matrix is None:
            stream.set_display_rotation(90)
        else:
            stream.set_display_matrix(matrix)
        for i in range(10):
            picture = np.full((48, 64, 3), 20 * i, np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="bgr24")))
        out.mux(stream.encode(None))
    with av.open(str(src)) as container:
        wanted = orient.display_matrix(next(container.decode(video=0)))
    dst = stylize.stylize_video(src, tmp_path / "styled.mp4", "cartoon")
    with av.open(str(dst)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 10 and wanted is not None and orient.display_matrix(frames[0]) == wanted
    assert orient.orientation_of(frames[0]) == ((90, False) if matrix is None else (270, True))


def test_unknown_style_is_a_bad_request(clip: samples.ClipTruth, tmp_path: Path) -> None:
    with pytest.raises(BadRequest):
        stylize.stylizer_for("vaporwave", 320, 180)
    with pytest.raises(BadRequest):
        stylize.stylize_video(clip.path, tmp_path / "out.mp4", "vaporwave")
    assert not (tmp_path / "out.mp4").exists()


def test_output_says_how_its_pictures_were_written(outputs: dict[str, Path]) -> None:
    with av.open(str(outputs[stylize.STYLES[0]])) as container:
        frame = next(container.decode(video=0))
    assert (int(frame.colorspace), int(frame.color_range)) == (5, 1)  # BT.601, limited range


def test_a_full_range_hd_frame_is_read_in_its_own_space() -> None:
    rgb = cv2.resize(samples.photo("coffee"), (320, 180))
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
        format="yuvj420p", dst_colorspace="ITU709", dst_color_range="JPEG"
    )
    error = np.abs(stylize._frame_bgr(frame, 320, 180)[:, :, ::-1].astype(int) - rgb.astype(int)).mean()
    as_bt601 = cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2RGB_I420)  # OpenCV's converter alone
    assert error < 3.0 and error < 0.5 * np.abs(as_bt601.astype(int) - rgb.astype(int)).mean()
