"""Heavy jobs on the CPU: real-time factors of asr, tts and voice, and stylize frames per second at 720p.

Baselines in the same run: the audio's own duration (a real-time factor is processing time over it),
and for stylize, decoding and re-encoding the same clip with no filter (the floor any video job pays).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from bench.ingest_bench import cached_clip
from bench.report import median, write_section
from reelmind import samples
from reelmind.jobs import stylize, voice
from reelmind.jobs.asr import SpeechRecognizer
from reelmind.jobs.tts import Synthesizer
from reelmind.models.registry import ModelRegistry
from reelmind.settings import Settings

PARAGRAPH = (
    "Short videos are how many people learn, laugh and share today. A good platform understands each "
    "clip: what it shows, what it says, and who will enjoy it. Subtitles help everyone follow along, "
    "and a clear voice makes a story easy to listen to, even on a busy street."
)


def timed(fn: object, runs: int) -> float:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append(time.perf_counter() - t)
    return median(out)


def reencode_only(src: Path, dst: Path) -> int:
    """Decode every frame and encode it again unchanged: the floor of a video-to-video job."""
    n = 0
    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mp4") as out:
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        vout = out.add_stream("libx264", rate=vin.average_rate)
        vout.width, vout.height, vout.pix_fmt = vin.codec_context.width, vin.codec_context.height, "yuv420p"
        vout.options = {"preset": "veryfast", "crf": "23"}
        for frame in inp.decode(vin):
            frame.pts = None
            for packet in vout.encode(frame):
                out.mux(packet)
            n += 1
        for packet in vout.encode():
            out.mux(packet)
    return n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5, help="length of the 720p clip for stylize")
    args = parser.parse_args()
    registry = ModelRegistry(Settings().model_dir, threads=2)
    speech = samples.speech(16_000)
    speech_s = len(speech) / 16_000
    asr = SpeechRecognizer.from_registry(registry)
    asr(speech[:16_000])  # warm up
    asr_s = timed(lambda: asr(speech), args.runs)
    tts = Synthesizer.from_registry(registry)
    audio, rate = tts(PARAGRAPH, seed=1)
    tts_audio_s = len(audio) / rate
    tts_s = timed(lambda: tts(PARAGRAPH, seed=1), args.runs)
    long_speech = np.tile(speech, 2)[: 30 * 16_000]
    voice_s = timed(lambda: voice.convert(long_speech, 16_000, "deeper"), args.runs)
    clip = cached_clip(samples.bench_spec(args.seconds)).path
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        frames = reencode_only(clip, Path(tmp) / "base.mp4")
        base_s = timed(lambda: reencode_only(clip, Path(tmp) / "base.mp4"), args.runs)
        for style in stylize.STYLES:
            wall = timed(
                lambda style=style: stylize.stylize_video(clip, Path(tmp) / f"{style}.mp4", style), args.runs
            )
            rows.append((style, frames / wall, wall / base_s))
    style_rows = "\n".join(
        f"| stylize {style} | {fps:.1f} fps | {ratio:.1f}x the re-encode | {'met' if fps >= 15 else 'not met'} (>= 15 fps) |"
        for style, fps, ratio in rows
    )
    body = f"""
{args.runs} runs, medians, 2 threads for the models. Audio: the five LibriVox clips of Debian's
pocketsphinx-testdata joined ({speech_s:.1f} s); TTS: a {len(PARAGRAPH)}-character paragraph
({tts_audio_s:.1f} s of speech); voice: 30 s of that speech; stylize: a {args.seconds} s 1280x720 30 fps clip
({frames} frames), decode + stylize + H.264 encode, audio copied.

| job | measured | against the baseline | target |
|---|---|---|---|
| asr (whisper tiny.en, int8, beam 1) | {asr_s:.2f} s | RTF {asr_s / speech_s:.3f} | {"met" if asr_s / speech_s <= 0.2 else "not met"} (<= 0.2) |
| tts (hibari, voice heart) | {tts_s:.2f} s | RTF {tts_s / tts_audio_s:.3f} | {"met" if tts_s / tts_audio_s <= 0.1 else "not met"} (<= 0.1) |
| voice (deeper) | {voice_s:.2f} s | RTF {voice_s / 30:.3f} | |
| baseline: decode + re-encode the 720p clip, no filter | {frames / base_s:.1f} fps | 1.0x | |
{style_rows}
"""
    print(body)
    write_section("heavy jobs on the CPU (bench/jobs_bench.py)", body)


if __name__ == "__main__":
    main()
