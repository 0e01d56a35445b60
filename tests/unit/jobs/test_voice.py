"""Voice conversion on real read speech (LibriVox): length kept, pitch and formants moved, video remuxed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import av
import numpy as np
import pytest

from reelmind import samples
from reelmind.errors import BadRequest
from reelmind.jobs import voice

RATE = 16_000
SECONDS = 6


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return samples.speech(RATE)[: SECONDS * RATE]


@pytest.fixture(scope="module")
def speech_pitch(speech: np.ndarray) -> float:
    pitch = voice.median_pitch(speech, RATE)
    assert pitch is not None and 70 < pitch < 250, pitch
    return pitch


@pytest.fixture(scope="module")
def converted(speech: np.ndarray) -> dict[str, np.ndarray]:
    return {name: voice.convert(speech, RATE, name) for name in voice.PRESETS}


@pytest.mark.parametrize("preset", list(voice.PRESETS))
def test_every_preset_keeps_the_length_and_moves_the_median_pitch(
    preset: str, speech: np.ndarray, speech_pitch: float, converted: dict[str, np.ndarray]
) -> None:
    out = converted[preset]
    assert out.dtype == np.float32 and out.ndim == 1
    assert len(out) == len(speech)
    assert np.all(np.isfinite(out)) and float(np.max(np.abs(out))) <= voice.PEAK
    pitch = voice.median_pitch(out, RATE)
    assert pitch is not None
    expected = voice.PRESETS[preset].expected_ratio(speech_pitch)
    assert pitch / speech_pitch == pytest.approx(expected, rel=0.10)


def _envelope_warp(before: np.ndarray, after: np.ndarray) -> float:
    """The factor that best maps the long-term spectral envelope of `before` onto `after` (250-3500 Hz)."""

    def envelope(x: np.ndarray) -> np.ndarray:
        frames = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), 1024)[::256] * np.hanning(
            1024
        )
        cepstrum = np.fft.irfft(np.log(np.mean(np.abs(np.fft.rfft(frames, axis=1)) ** 2, axis=0) + 1e-12))
        cepstrum[30:-30] = 0.0
        smooth: np.ndarray = np.fft.rfft(cepstrum).real
        return smooth

    a, b = envelope(before), envelope(after)
    f = np.arange(len(a)) * RATE / 1024
    band = (f > 250) & (f < 3500)
    factors = np.arange(0.6, 1.7, 0.01)
    scores = [np.corrcoef(np.interp(f / k, f, a)[band], b[band])[0, 1] for k in factors]
    return float(factors[int(np.argmax(scores))])


@pytest.mark.parametrize("preset", ["deeper", "higher", "child"])
def test_formants_move_by_their_own_ratio_not_the_pitch_ratio(
    preset: str, speech: np.ndarray, converted: dict[str, np.ndarray]
) -> None:
    chosen = voice.PRESETS[preset]
    warp = _envelope_warp(speech, converted[preset])
    assert warp == pytest.approx(chosen.formant_ratio, abs=0.04)
    assert chosen.pitch_ratio is not None and abs(warp - chosen.pitch_ratio) > 0.1


@pytest.mark.parametrize("rate", [16_000, 44_100])
def test_median_pitch_of_a_sawtooth(rate: int) -> None:
    t = np.arange(2 * rate) / rate
    saw = (0.5 * (2.0 * ((200.0 * t) % 1.0) - 1.0)).astype(np.float32)
    assert voice.median_pitch(saw, rate) == pytest.approx(200.0, rel=0.03)


def test_nothing_voiced_has_no_pitch() -> None:
    assert voice.median_pitch(np.zeros(RATE, np.float32), RATE) is None
    noise = np.random.default_rng(3).standard_normal(RATE).astype(np.float32) * 0.1
    assert voice.median_pitch(noise, RATE) is None


@pytest.mark.parametrize("rate", [16_000, 48_000])
def test_silence_stays_silent(rate: int) -> None:
    for preset in voice.PRESETS:
        out = voice.convert(np.zeros(rate // 2, np.float32), rate, preset)
        assert len(out) == rate // 2 and not np.any(out)


def test_loud_input_is_not_clipped_at_48k() -> None:
    t = np.arange(48_000) / 48_000
    tone = np.sign(np.sin(2 * np.pi * 150.0 * t)).astype(np.float32)  # a full-scale square wave
    for preset in voice.PRESETS:
        out = voice.convert(tone, 48_000, preset)
        assert len(out) == len(tone) and 0.5 < float(np.max(np.abs(out))) <= voice.PEAK


def test_bad_requests() -> None:
    with pytest.raises(BadRequest, match="unknown voice preset"):
        voice.convert(np.zeros(100, np.float32), RATE, "whisper")
    with pytest.raises(BadRequest, match="empty"):
        voice.convert(np.zeros(0, np.float32), RATE, "deeper")
    with pytest.raises(BadRequest, match="mono"):
        voice.convert(np.zeros((2, 100), np.float32), RATE, "deeper")


def _video_packets(path: Path) -> list[str]:
    with av.open(str(path)) as container:
        return [
            hashlib.sha1(bytes(p)).hexdigest() for p in container.demux(container.streams.video[0]) if p.size
        ]


def _streams(path: Path) -> tuple[int, float, float, str, np.ndarray]:
    """(decoded video frames, video seconds, audio seconds, audio codec, audio decoded at 16 kHz mono)."""
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.duration and video.time_base and audio.duration and audio.time_base
        video_s = float(video.duration * video.time_base)
        audio_s = float(audio.duration * audio.time_base)
        codec = audio.codec_context.name
        frames = sum(1 for _ in container.decode(video))
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        chunks = [
            f.to_ndarray()[0].copy()
            for frame in container.decode(container.streams.audio[0])
            for f in resampler.resample(frame)
        ]
    return frames, video_s, audio_s, codec, np.concatenate(chunks)


def test_convert_video_copies_the_video_and_converts_the_voice(tmp_path: Path) -> None:
    spec = samples.ClipSpec(
        "talk", (samples.Segment("astronaut", 50, "zoom"), samples.Segment("coffee", 50)), audio="speech"
    )
    clip = samples.write_clip(spec, tmp_path / "talk.mp4")
    seen: list[float] = []
    out = voice.convert_video(clip.path, tmp_path / "deeper.mp4", "deeper", progress=seen.append)
    frames_in, video_in, audio_in, _, pcm_in = _streams(clip.path)
    frames_out, video_out, audio_out, codec, pcm_out = _streams(out)
    assert frames_in == frames_out == clip.frame_count
    assert video_out == pytest.approx(video_in, rel=0.01)
    assert audio_out == pytest.approx(audio_in, rel=0.01)
    assert codec == "aac"
    assert _video_packets(out) == _video_packets(clip.path)  # copied, not re-encoded
    before, after = voice.median_pitch(pcm_in, RATE), voice.median_pitch(pcm_out, RATE)
    assert before is not None and after is not None
    assert after / before == pytest.approx(0.75, rel=0.10)
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)


def test_convert_video_without_audio_is_a_bad_request(tmp_path: Path) -> None:
    clip = samples.write_clip(
        samples.ClipSpec("mute", (samples.Segment("rocket", 10),), audio=None), tmp_path / "mute.mp4"
    )
    with pytest.raises(BadRequest, match="has no audio track"):
        voice.convert_video(clip.path, tmp_path / "out.mp4", "robot")
    with pytest.raises(BadRequest, match="unknown voice preset"):
        voice.convert_video(clip.path, tmp_path / "out.mp4", "whisper")


def test_sound_running_on_past_the_pictures_is_converted_only_while_they_last(tmp_path: Path) -> None:
    """1.6 s of pictures over a minute of tone: the sound is kept for the pictures and a second more."""
    spec = samples.ClipSpec("tail", (samples.Segment("coffee", 20), samples.Segment("rocket", 20)))
    path = tmp_path / "tail.mp4"
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=spec.fps)
        vs.width, vs.height, vs.pix_fmt = spec.width, spec.height, "yuv420p"
        audio = out.add_stream("aac", rate=RATE)
        for img in samples.frames(spec):
            out.mux(vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(vs.encode())
        tone = (0.2 * np.sin(np.arange(60 * RATE) * 2 * np.pi * 220 / RATE)).astype(np.float32)
        size = audio.codec_context.frame_size or 1024
        for start in range(0, len(tone) - size, size):
            frame = av.AudioFrame.from_ndarray(tone[None, start : start + size], format="flt", layout="mono")
            frame.sample_rate, frame.pts = RATE, start
            out.mux(audio.encode(frame))
        out.mux(audio.encode())
    assert _streams(path)[2] > 59
    out_path = voice.convert_video(path, tmp_path / "robot.mp4", "robot")
    frames, video_s, audio_s, _, _ = _streams(out_path)
    assert frames == 40 and video_s == pytest.approx(1.6, abs=0.05)
    assert audio_s == pytest.approx(1.6 + 1.0, abs=0.1)
