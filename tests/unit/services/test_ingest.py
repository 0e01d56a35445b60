"""Ingest: idempotent registration, typed failures for bad input, nothing half-written."""

from __future__ import annotations

import io
import random
import shutil
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from reelmind import samples
from reelmind.domain.video import Video, VideoStatus, video_id_for_content
from reelmind.errors import BadRequest, Busy, InputError
from reelmind.files import sha256_file
from reelmind.media import encode, probe
from reelmind.runtime import Runtime
from reelmind.services.ingest import CLEANUP_S
from reelmind.settings import Settings
from tests.conftest import runtime_with


def _upload(runtime: Runtime, key: str, path: Path) -> None:
    runtime.blobs.put_file(key, path)


def _ingested(runtime: Runtime, key: str, path: Path) -> Video:
    """Upload `path` under `key`, ingest it, and return the READY video with its media."""
    _upload(runtime, key, path)
    outcome = runtime.ingest.handle_upload(key)
    assert outcome.status is VideoStatus.READY, outcome
    video = runtime.results.get_video(outcome.video_id)
    assert video is not None and video.status is VideoStatus.READY and video.media is not None
    return video


def _assert_nothing_derived(runtime: Runtime, video_id: str) -> None:
    assert list(runtime.blobs.list(f"derived/{video_id}/")) == []
    assert "ingest" not in runtime.results.get_results(video_id)


def test_a_clip_becomes_a_ready_video_with_shots_keyframes_and_audio(
    runtime: Runtime, clips: dict[str, samples.ClipTruth]
) -> None:
    clip = clips["speech"]
    video = _ingested(runtime, "uploads/a/speech.mp4", clip.path)
    assert video.media is not None
    assert (video.media.width, video.media.height, video.media.has_audio) == (320, 180, True)
    payload = runtime.results.get_results(video.video_id)["ingest"].payload
    assert len(payload["shots"]) == 2 and len(payload["keyframes"]) == 2
    assert payload["colour"] == {"matrix": "bt601", "full_range": False, "transfer": "sdr", "hdr": False}
    wav = runtime.blobs.get_bytes(payload["audio"]["key"])
    audio, rate = sf.read(io.BytesIO(wav))
    assert rate == 16_000 and audio.ndim == 1
    assert abs(len(audio) / rate - clip.duration_s) < 0.15
    assert np.abs(audio).max() > 0.05, "the speech track is not silent"


def test_a_phones_portrait_video_stored_on_its_side_is_kept_upright(
    runtime: Runtime, clips: dict[str, samples.ClipTruth]
) -> None:
    clip = clips["phone"]
    video = _ingested(runtime, "uploads/phone.mp4", clip.path)
    assert video.media is not None
    assert (video.media.width, video.media.height, video.media.rotation) == (180, 320, 270)
    assert video.media.orientation == "portrait"
    truth = list(samples.frames(clip.spec))
    payload = runtime.results.get_results(video.video_id)["ingest"].payload
    # Coded full range in BT.709, as Android phones record: read as BT.601 limited range, the stills
    # came out with crushed shadows, blown highlights and shifted hues (mean error 9.7 levels).
    assert payload["colour"] == {"matrix": "bt709", "full_range": True, "transfer": "sdr", "hdr": False}
    assert len(payload["keyframes"]) == 2
    for kf in payload["keyframes"]:
        assert (kf["width"], kf["height"]) == (180, 320)
        img = encode.decode_image(runtime.blobs.get_bytes(kf["key"]))
        assert img is not None and img.shape == (320, 180, 3)
        upright = truth[kf["frame"]][:, :, ::-1].astype(int)  # RGB -> BGR
        assert np.abs(img.astype(int) - upright).mean() < 6, "the keyframe is not the upright picture"
    cover = runtime.thumbnail.handle_video_ready(video.video_id)
    assert cover is not None and all(s["height"] > s["width"] for s in cover["cover"]["sizes"])
    largest = encode.decode_image(runtime.blobs.get_bytes(cover["cover"]["sizes"][0]["key"]))
    assert largest is not None
    expected = truth[cover["cover"]["frame"]][:, :, ::-1].astype(int)
    assert np.abs(largest.astype(int) - expected).mean() < 6


def test_vertical_and_silent_clips(runtime: Runtime, clips: dict[str, samples.ClipTruth]) -> None:
    _upload(runtime, "uploads/v.mp4", clips["vertical"].path)
    _upload(runtime, "uploads/s.mp4", clips["silent"].path)
    vertical = runtime.ingest.handle_upload("uploads/v.mp4")
    silent = runtime.ingest.handle_upload("uploads/s.mp4")
    v = runtime.results.get_video(vertical.video_id)
    assert v is not None and v.media is not None and v.media.orientation == "portrait"
    assert runtime.results.get_results(silent.video_id)["ingest"].payload["audio"] is None


def test_the_same_event_twice_changes_nothing(runtime: Runtime, clips: dict[str, samples.ClipTruth]) -> None:
    _upload(runtime, "uploads/x/cuts.mp4", clips["cuts"].path)
    first = runtime.ingest.handle_upload("uploads/x/cuts.mp4")
    stored = runtime.results.get_results(first.video_id)["ingest"]
    blobs = sorted((b.key, b.etag) for b in runtime.blobs.list(f"derived/{first.video_id}/"))
    second = runtime.ingest.handle_upload("uploads/x/cuts.mp4")
    assert second.video_id == first.video_id and second.duplicate
    assert runtime.results.get_results(first.video_id)["ingest"] == stored
    assert sorted((b.key, b.etag) for b in runtime.blobs.list(f"derived/{first.video_id}/")) == blobs
    assert len(runtime.results.list_videos().items) == 1


def test_the_same_bytes_under_two_keys_are_one_video(
    runtime: Runtime, clips: dict[str, samples.ClipTruth]
) -> None:
    _upload(runtime, "uploads/one/clip.mp4", clips["cuts"].path)
    _upload(runtime, "uploads/two/copy of clip.mp4", clips["cuts"].path)
    a = runtime.ingest.handle_upload("uploads/one/clip.mp4")
    b = runtime.ingest.handle_upload("uploads/two/copy of clip.mp4")
    assert a.video_id == b.video_id and b.duplicate
    video = runtime.results.get_video(a.video_id)
    assert video is not None
    assert video.source_key == "uploads/one/clip.mp4" and video.aliases == ["uploads/two/copy of clip.mp4"]
    assert len(runtime.results.list_videos().items) == 1


def test_a_live_lease_makes_a_concurrent_worker_back_off(
    runtime: Runtime, clips: dict[str, samples.ClipTruth]
) -> None:
    """A second worker on the same bytes while the first holds the lease raises a retryable error."""
    _upload(runtime, "uploads/c.mp4", clips["silent"].path)
    vid = video_id_for_content(sha256_file(clips["silent"].path))
    now = runtime.ingest.clock()
    runtime.results.create_video(Video(vid, "uploads/c.mp4", VideoStatus.PROCESSING, now, now))
    assert runtime.results.claim(vid, now, 300)
    with pytest.raises(Busy):
        runtime.ingest.handle_upload("uploads/c.mp4")


def test_an_interrupted_ingest_is_redone_once_its_lease_expires(
    runtime: Runtime, clips: dict[str, samples.ClipTruth]
) -> None:
    _upload(runtime, "uploads/c.mp4", clips["silent"].path)
    vid = video_id_for_content(sha256_file(clips["silent"].path))
    past = runtime.ingest.clock() - 1000
    runtime.results.create_video(Video(vid, "uploads/c.mp4", VideoStatus.PROCESSING, past, past))
    assert runtime.results.claim(vid, past, 300)  # a worker that died long ago
    runtime.blobs.put_bytes(f"derived/{vid}/keyframes/999999.jpg", b"partial")  # and left a stray file
    outcome = runtime.ingest.handle_upload("uploads/c.mp4")
    assert outcome.status is VideoStatus.READY and not outcome.duplicate


# ----------------------------------------------------------------------------- bad input


def _text_as_mp4(tmp: Path) -> Path:
    p = tmp / "notes.mp4"
    p.write_text("this is a shopping list, not a video\n" * 20)
    return p


def _empty(tmp: Path) -> Path:
    p = tmp / "empty.mp4"
    p.write_bytes(b"")
    return p


def _truncated(tmp: Path, clip: samples.ClipTruth, faststart: bool) -> Path:
    src = clip.path
    if faststart:
        src = samples.write_clip(
            samples.ClipSpec("fs", clip.spec.segments, faststart=True), tmp / "fs.mp4"
        ).path
    data = src.read_bytes()
    p = tmp / ("truncated-fast.mp4" if faststart else "truncated.mp4")
    p.write_bytes(data[: len(data) // 2])
    return p


def _audio_only(tmp: Path, cover: bool = False) -> Path:
    """A song; with `cover`, its cover art too, which FFmpeg shows as a one-picture video stream."""
    p = tmp / "song.mp4"
    with av.open(str(p), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=44_100)
        stream.layout = "mono"
        if cover:
            art = out.add_stream("mjpeg", rate=1)
            art.width, art.height, art.pix_fmt = 64, 64, "yuvj420p"
            art.disposition = av.stream.Disposition.attached_pic
            picture = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 90, np.uint8), format="rgb24")
            for packet in [*art.encode(picture.reformat(format="yuvj420p")), *art.encode()]:
                out.mux(packet)
        tone = (0.2 * np.sin(np.arange(44_100 * 2) * 2 * np.pi * 440 / 44_100)).astype(np.float32)
        for start in range(0, len(tone), 1024):
            frame = av.AudioFrame.from_ndarray(
                tone[start : start + 1024].reshape(1, -1), format="flt", layout="mono"
            )
            frame.sample_rate, frame.pts = 44_100, start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return p


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("empty", "empty_file"),
        ("text", "unsupported_media"),
        ("truncated", "corrupt_media"),
        ("truncated_faststart", "corrupt_media"),
        ("audio_only", "no_video_stream"),
        ("song_with_cover_art", "no_video_stream"),
    ],
)
def test_bad_files_end_failed_with_a_typed_reason(
    runtime: Runtime, clips: dict[str, samples.ClipTruth], tmp_path: Path, case: str, code: str
) -> None:
    path = {
        "empty": lambda: _empty(tmp_path),
        "text": lambda: _text_as_mp4(tmp_path),
        "truncated": lambda: _truncated(tmp_path, clips["cuts"], faststart=False),
        "truncated_faststart": lambda: _truncated(tmp_path, clips["cuts"], faststart=True),
        "audio_only": lambda: _audio_only(tmp_path),
        "song_with_cover_art": lambda: _audio_only(tmp_path, cover=True),
    }[case]()
    key = f"uploads/bad/{path.name}"
    _upload(runtime, key, path)
    outcome = runtime.ingest.handle_upload(key)
    assert (outcome.status, outcome.error_code) == (VideoStatus.FAILED, code)
    video = runtime.results.get_video(outcome.video_id)
    assert video is not None and video.status is VideoStatus.FAILED
    assert video.error_code == code and video.error and len(video.error) > 15
    _assert_nothing_derived(runtime, outcome.video_id)
    again = runtime.ingest.handle_upload(key)  # a retry is a no-op, not a crash loop
    assert again.status is VideoStatus.FAILED and again.video_id == outcome.video_id


def _input_codes() -> set[str]:
    found, todo = set(), [InputError]
    while todo:
        cls = todo.pop()
        found.add(cls.code)
        todo.extend(cls.__subclasses__())
    return found


@pytest.mark.parametrize("seed", range(3))
def test_damaged_copies_of_a_clip_end_ready_or_failed_with_a_typed_reason(
    runtime: Runtime, tmp_path: Path, seed: int
) -> None:
    """Copies of a small clip with bits flipped, a range zeroed or garbage inserted anywhere (header,
    index, pictures, sound): each ends READY with its thumbnails, or FAILED with a typed reason and
    nothing under derived/; none escapes as an unexpected error."""
    rng = random.Random(seed)
    spec = samples.ClipSpec("damaged", (samples.Segment("coffee", 20), samples.Segment("rocket", 20, "zoom")))
    data = samples.write_clip(spec, tmp_path / "clip.mp4").path.read_bytes()
    codes = _input_codes()
    for i in range(20):
        damaged, at = bytearray(data), rng.randrange(len(data))
        damage = rng.choice(["flip", "zero", "insert"])
        if damage == "flip":
            for _ in range(rng.randint(1, 40)):
                damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
        elif damage == "zero":
            end = min(len(damaged), at + rng.randint(1, 4000))
            damaged[at:end] = bytes(end - at)
        else:
            damaged[at:at] = rng.randbytes(rng.randint(1, 2000))
        key = f"uploads/damaged/{seed}-{i}.mp4"
        runtime.blobs.put_bytes(key, bytes(damaged))
        outcome = runtime.ingest.handle_upload(key)
        if outcome.status is VideoStatus.READY:
            assert runtime.thumbnail.handle_video_ready(outcome.video_id) is not None
        else:
            assert outcome.status is VideoStatus.FAILED and outcome.error_code in codes, (damage, outcome)
            _assert_nothing_derived(runtime, outcome.video_id)


def _encode(path: Path, container: str, video: str, audio: str, rate: int, audio_s: float = 2.0) -> None:
    """A clip of 40 sample pictures (1.6 s) with `audio_s` of a tone, in the given container and codecs."""
    spec = samples.ClipSpec("codecs", (samples.Segment("coffee", 20), samples.Segment("rocket", 20)))
    with av.open(str(path), "w", format=container) as out:
        vs = out.add_stream(video, rate=spec.fps)
        vs.width, vs.height, vs.pix_fmt = spec.width, spec.height, "yuv420p"
        audio_stream = out.add_stream(audio, rate=rate)
        for img in samples.frames(spec):
            for packet in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        size = audio_stream.codec_context.frame_size or 1024
        tone = (0.2 * np.sin(np.arange(int(audio_s * rate)) * 2 * np.pi * 440 / rate)).astype(np.float32)
        for start in range(0, len(tone) - size, size):
            frame = av.AudioFrame.from_ndarray(tone[None, start : start + size], format="flt", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            for packet in audio_stream.encode(frame):
                out.mux(packet)
        for packet in audio_stream.encode():
            out.mux(packet)


@pytest.mark.parametrize(
    ("name", "container", "video", "audio", "rate", "codecs"),
    [
        # FFmpeg decodes these with decoders named otherwise (libdav1d, mp3float): the media record and
        # the limits go by the format.
        ("av1.mp4", "mp4", "libsvtav1", "aac", 16_000, ("av1", "aac")),
        ("mp3.mp4", "mp4", "libx264", "libmp3lame", 22_050, ("h264", "mp3")),
        # WebM states no frame count, and its length is the longest track's (here the audio, 2 s
        # against 1.6 s of pictures): the video's own length is in a tag.
        ("vp9.webm", "webm", "libvpx-vp9", "libopus", 48_000, ("vp9", "opus")),
    ],
)
def test_every_accepted_codec_is_accepted_whatever_decodes_it(
    runtime: Runtime,
    tmp_path: Path,
    name: str,
    container: str,
    video: str,
    audio: str,
    rate: int,
    codecs: tuple[str, str],
) -> None:
    path = tmp_path / name
    _encode(path, container, video, audio, rate)
    ingested = _ingested(runtime, f"uploads/codecs/{name}", path)
    assert ingested.media is not None
    assert (ingested.media.video_codec, ingested.media.audio_codec) == codecs
    payload = runtime.results.get_results(ingested.video_id)["ingest"].payload
    assert [s["start_frame"] for s in payload["shots"] if s["entry"] == "cut"] == [20]
    assert payload["audio"] is not None


@pytest.mark.parametrize("codec", ["ac3", "unknown"])
def test_sound_in_a_codec_not_on_the_list_is_left_out_and_the_pictures_taken(
    runtime: Runtime, tmp_path: Path, codec: str
) -> None:
    """AC-3 (as camcorders record it) is not on the list, and a sound track whose sample entry FFmpeg
    cannot identify has no decoder at all: neither is decoded, the video is READY without a sound
    track, and a job that needs sound says why it cannot run."""
    path = tmp_path / "camcorder.mp4"
    _encode(path, "mp4", "libx264", "ac3" if codec == "ac3" else "aac", 48_000)
    if codec == "unknown":  # the AAC sample entry and its decoder configuration, renamed
        path.write_bytes(path.read_bytes().replace(b"mp4a", b"qqqq").replace(b"esds", b"zzzz"))
    video = _ingested(runtime, "uploads/codecs/camcorder.mp4", path)
    assert video.media is not None and video.media.audio_codec == codec
    payload = runtime.results.get_results(video.video_id)["ingest"].payload
    assert payload["audio"] is None and f"{codec!r} is not accepted" in payload["audio_refused"]
    assert [s["start_frame"] for s in payload["shots"] if s["entry"] == "cut"] == [20]
    assert not [i for i in runtime.blobs.list(f"derived/{video.video_id}/") if i.key.endswith(".wav")]
    with pytest.raises(BadRequest, match=f"{codec!r} is not accepted"):
        runtime.jobs.create("voice", video.video_id, {"preset": "deeper"})


def test_audio_running_on_past_the_pictures_is_cut_where_they_end(runtime: Runtime, tmp_path: Path) -> None:
    """Two minutes of sound behind 1.6 s of pictures: what is kept (and decoded into memory) is the
    pictures' length and a second."""
    path = tmp_path / "long_tail.mp4"
    _encode(path, "mp4", "libx264", "aac", 16_000, audio_s=120.0)
    video = _ingested(runtime, "uploads/tail/long_tail.mp4", path)
    payload = runtime.results.get_results(video.video_id)["ingest"].payload
    assert 2.5 <= payload["audio"]["duration_s"] <= 2.7
    audio, rate = sf.read(io.BytesIO(runtime.blobs.get_bytes(payload["audio"]["key"])))
    assert len(audio) / rate == pytest.approx(payload["audio"]["duration_s"], abs=1e-3)


@pytest.mark.parametrize(
    ("limits", "code"),
    [
        ({"max_width": 256}, "frame_too_large"),
        ({"max_duration_s": 2.0}, "too_long"),
        ({"max_frames": 50}, "too_long"),
        ({"max_bytes": 1000}, "too_large"),
    ],
)
def test_limits_are_enforced(
    settings: Settings, clips: dict[str, samples.ClipTruth], limits: dict[str, float], code: str
) -> None:
    runtime = runtime_with(settings, **limits)
    _upload(runtime, "uploads/big.mp4", clips["cuts"].path)
    outcome = runtime.ingest.handle_upload("uploads/big.mp4")
    assert (outcome.status, outcome.error_code) == (VideoStatus.FAILED, code)
    assert outcome.error and str(int(next(iter(limits.values())))) in outcome.error
    _assert_nothing_derived(runtime, outcome.video_id)


@pytest.mark.parametrize(
    ("limits", "says"),
    [({"max_frames": 20}, "holds 40 frames"), ({"max_duration_s": 1.0}, "span 1.6 s")],
)
def test_a_header_that_understates_the_length_does_not_get_past_the_limits(
    settings: Settings, tmp_path: Path, limits: dict[str, float], says: str
) -> None:
    """Matroska states its length in its header (a duration, and a per-track tag) and no frame count:
    rewrite both to a quarter, and the file claims 10 frames (0.4 s) while it holds 40 (1.6 s)."""
    spec = samples.ClipSpec("long", (samples.Segment("coffee", 20), samples.Segment("rocket", 20)))
    path = tmp_path / "understated.mkv"
    with av.open(str(path), "w", format="matroska") as out:
        vs = out.add_stream("libx264", rate=spec.fps)
        vs.width, vs.height, vs.pix_fmt = spec.width, spec.height, "yuv420p"
        for img in samples.frames(spec):
            out.mux(vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(vs.encode())
    data = path.read_bytes()
    duration = b"\x44\x89\x88" + struct.pack(">d", 1600.0)  # Segment Info: Duration, in milliseconds
    tag = b"00:00:01.600000000"  # the track's DURATION tag
    assert data.count(duration) == 1 and data.count(tag) == 1
    data = data.replace(duration, b"\x44\x89\x88" + struct.pack(">d", 400.0))
    path.write_bytes(data.replace(tag, b"00:00:00.400000000"))
    assert probe.probe(path).frame_count == 10

    runtime = runtime_with(settings, **limits)
    _upload(runtime, "uploads/understated.mkv", path)
    outcome = runtime.ingest.handle_upload("uploads/understated.mkv")
    assert (outcome.status, outcome.error_code) == (VideoStatus.FAILED, "too_long")
    assert outcome.error and says in outcome.error
    assert f"the limit is {int(next(iter(limits.values())))}" in outcome.error
    _assert_nothing_derived(runtime, outcome.video_id)


def test_a_frame_size_that_grows_mid_stream_does_not_get_past_the_size_limit(
    settings: Settings, tmp_path: Path
) -> None:
    """H.264 may change its frame size at any key frame; the header shows the first one. Two raw
    streams joined, 64x64 then 320x240, remuxed into an MP4 that says 64x64."""
    raw = b""
    for i, (width, height) in enumerate(((64, 64), (320, 240))):
        part = tmp_path / f"part{i}.h264"
        with av.open(str(part), "w", format="h264") as out:
            vs = out.add_stream("libx264", rate=25, options={"x264-params": "bframes=0"})
            vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
            for j in range(25):
                img = np.full((height, width, 3), 60 + 120 * i, np.uint8)
                img[:, (j * 3) % width] = 255
                out.mux(vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
            out.mux(vs.encode())
        raw += part.read_bytes()
    (tmp_path / "joined.h264").write_bytes(raw)
    path = tmp_path / "grows.mp4"
    with av.open(str(tmp_path / "joined.h264")) as src, av.open(str(path), "w") as dst:
        out_stream = dst.add_stream_from_template(src.streams.video[0])
        out_stream.time_base = Fraction(1, 25)
        for n, packet in enumerate(p for p in src.demux(video=0) if p.size):
            packet.stream, packet.time_base = out_stream, Fraction(1, 25)
            packet.pts, packet.dts, packet.duration = n, n, 1
            dst.mux(packet)
    media = probe.probe(path)
    assert (media.width, media.height, media.frame_count, media.duration_s) == (64, 64, 50, 2.0)

    runtime = runtime_with(settings, max_width=128, max_height=128)
    _upload(runtime, "uploads/grows.mp4", path)
    outcome = runtime.ingest.handle_upload("uploads/grows.mp4")
    assert (outcome.status, outcome.error_code) == (VideoStatus.FAILED, "frame_too_large")
    assert outcome.error and "320x240" in outcome.error and "128x128" in outcome.error
    _assert_nothing_derived(runtime, outcome.video_id)


def test_a_scan_that_would_outrun_the_function_ends_failed_while_there_is_time_to_say_so(
    runtime: Runtime, clips: dict[str, samples.ClipTruth]
) -> None:
    _upload(runtime, "uploads/slow/clip.mp4", clips["cuts"].path)
    # GIVEN no more time left than ingest keeps back to record a failure
    outcome = runtime.ingest.handle_upload("uploads/slow/clip.mp4", time_left_s=CLEANUP_S + 0.01)
    assert (outcome.status, outcome.error_code) == (VideoStatus.FAILED, "too_long")
    assert outcome.error and "the function had left" in outcome.error
    _assert_nothing_derived(runtime, outcome.video_id)
    # Without a deadline (the local default) the same upload, under another key, is the same video:
    # the failure is recorded, not retried into a loop.
    _upload(runtime, "uploads/slow/again.mp4", clips["cuts"].path)
    again = runtime.ingest.handle_upload("uploads/slow/again.mp4")
    assert again.video_id == outcome.video_id and again.status is VideoStatus.FAILED and again.duplicate


def test_an_8k_frame_is_refused_before_decoding(settings: Settings, tmp_path: Path) -> None:
    spec = samples.ClipSpec(
        "huge", (samples.Segment("black", 3, "still"),), width=7680, height=64, fps=5, audio=None
    )
    clip = samples.write_clip(spec, tmp_path / "huge.mp4")
    runtime = runtime_with(settings)
    _upload(runtime, "uploads/huge.mp4", clip.path)
    outcome = runtime.ingest.handle_upload("uploads/huge.mp4")
    assert outcome.error_code == "frame_too_large"


@pytest.mark.parametrize(
    "raw_key",
    ["uploads/../secrets.mp4", "uploads/%2E%2E/secrets.mp4", "uploads/%FF.mp4", "derived/x/keyframes/1.jpg"],
)
def test_unsafe_event_keys_end_failed_without_touching_storage(runtime: Runtime, raw_key: str) -> None:
    outcome = runtime.ingest.handle_object_created(raw_key)
    assert (outcome.status, outcome.error_code) == (VideoStatus.FAILED, "invalid_key")
    video = runtime.results.get_video(outcome.video_id)
    assert video is not None and video.status is VideoStatus.FAILED and video.error


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        ("uploads/my holiday clip.mp4", "uploads/my+holiday+clip.mp4"),
        ("uploads/a+b.mp4", "uploads/a%2Bb.mp4"),
        ("uploads/100%20real.mp4", "uploads/100%2520real.mp4"),
        ("uploads/我的猫 視頻.mp4", "uploads/%E6%88%91%E7%9A%84%E7%8C%AB+%E8%A6%96%E9%A0%BB.mp4"),
    ],
)
def test_unusual_keys_are_decoded_exactly_and_processed(
    runtime: Runtime, clips: dict[str, samples.ClipTruth], tmp_path: Path, key: str, raw: str
) -> None:
    """Spaces, '+', a literal '%20' and non-ASCII names are legitimate: the event's encoded key finds the object."""
    # Distinct bytes per case, so each key is its own video.
    path = tmp_path / "clip.mp4"
    shutil.copyfile(clips["silent"].path, path)
    with path.open("ab") as fh:
        fh.write(key.encode())
    _upload(runtime, key, path)
    outcome = runtime.ingest.handle_object_created(raw)
    video = runtime.results.get_video(outcome.video_id)
    assert video is not None and video.source_key == key
    assert outcome.status is VideoStatus.READY
