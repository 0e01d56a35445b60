"""Text to speech: sentence splitting, synthesis with hibari's voice offline, validation, WAV and AAC."""

from __future__ import annotations

import io
import math
import socket
import time
from collections.abc import Iterator
from typing import Any, cast

import av
import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from reelmind.errors import BadRequest
from reelmind.jobs.tts import (
    CLAUSE_PAUSE_S,
    MAX_CHARS,
    MODEL,
    OOV_MODEL,
    SAMPLE_RATE,
    SENTENCE_PAUSE_S,
    Synthesizer,
    encode_outputs,
    split_sentences,
)
from reelmind.models.registry import ModelRegistry
from reelmind.settings import Settings

SENTENCE = "Every morning the small team reviews the videos that were uploaded overnight."
TWO_SENTENCES = "The upload finished at noon. Zorblaxian captions were added later, by hand."


@pytest.fixture(scope="module", autouse=True)
def offline() -> Iterator[None]:
    """No network for this module: hibari must not download anything for its bundled voice."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError("network access in a text-to-speech test")

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket, "create_connection", refuse)
        yield


@pytest.fixture(scope="module")
def registry(offline: None) -> ModelRegistry:
    return ModelRegistry(Settings().model_dir, threads=2)


@pytest.fixture(scope="module")
def synth(registry: ModelRegistry) -> Synthesizer:
    return Synthesizer.from_registry(registry)


@pytest.fixture(scope="module")
def speech(synth: Synthesizer) -> tuple[np.ndarray, int]:
    return synth(SENTENCE, seed=0)


# -- sentences --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello there. How are you? I'm fine!", ["Hello there.", "How are you?", "I'm fine!"]),
        ("Dr. Lee met J. K. Rowling. Then they left.", ["Dr. Lee met J. K. Rowling.", "Then they left."]),
        ("Bring snacks, e.g. chips. Yes.", ["Bring snacks, e.g. chips.", "Yes."]),
        ('He said "Hi." Then   he left…', ['He said "Hi."', "Then he left…"]),
        ("It costs $3.50. Cheap?! Wait... what? ok.", ["It costs $3.50.", "Cheap?!", "Wait... what? ok."]),
        ("你好。世界！再见？", ["你好。", "世界！", "再见？"]),
        ("Hello。World！ Done.", ["Hello。", "World！", "Done."]),
        ("Title line\nFirst point.\n\n  Second point", ["Title line", "First point.", "Second point"]),
        ("", []),
        (" \n\t ", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_long_sentences_split_at_commas_then_spaces_then_anywhere() -> None:
    clauses = ", ".join(f"clause number {i} goes here" for i in range(12)) + "."
    pieces = split_sentences(clauses, max_chars=80)
    assert len(pieces) > 1 and all(len(p) <= 80 for p in pieces)
    assert all(p.endswith((",", ".")) for p in pieces), "cut after a comma"
    words = split_sentences("word " * 100, max_chars=42)
    assert all(len(p) <= 42 for p in words) and " ".join(words).split() == ["word"] * 100
    assert split_sentences("字" * 700) == ["字" * 300, "字" * 300, "字" * 100]
    with pytest.raises(ValueError, match="max_chars"):
        split_sentences("x", max_chars=0)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab Z.,!?。！？\n", max_size=300), st.integers(1, 40))
def test_pieces_keep_every_character_and_fit(text: str, max_chars: int) -> None:
    pieces = split_sentences(text, max_chars)
    assert all(0 < len(p) <= max_chars and p == p.strip() for p in pieces)
    assert "".join("".join(pieces).split()) == "".join(text.split())


# -- synthesis --------------------------------------------------------------------------------------------


def test_a_sentence_sounds_like_speech(speech: tuple[np.ndarray, int]) -> None:
    samples, rate = speech
    assert rate == SAMPLE_RATE and samples.dtype == np.float32 and samples.ndim == 1
    words = len(SENTENCE.split())
    assert 0.3 * words <= len(samples) / rate <= 1.0 * words
    assert float(np.sqrt(np.mean(samples**2))) > 0.01 and float(np.abs(samples).max()) <= 1.0


def test_speed_shortens_the_audio_through_the_model(synth: Synthesizer) -> None:
    normal, _ = synth(SENTENCE, 1.0, seed=1)
    fast, _ = synth(SENTENCE, 1.5, seed=1)
    ratio = len(fast) / len(normal)
    assert abs(ratio - 1 / 1.5) <= 0.15 / 1.5, ratio


def test_sentences_are_read_in_order_with_a_pause_and_progress(synth: Synthesizer) -> None:
    seen: list[float] = []
    samples, rate = synth(TWO_SENTENCES, progress=seen.append, seed=2)
    assert len(seen) >= 2 and seen == sorted(seen) and seen[-1] == 1.0
    silent = np.abs(samples) < 1e-6
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, silent.astype(np.int8), 0])).reshape(-1, 2), axis=1)
    assert runs.max() >= 0.2 * rate, "a pause between the two sentences"
    again, _ = synth(TWO_SENTENCES, seed=2)
    assert np.array_equal(samples, again), "a seed makes the noise reproducible"


def test_pauses_follow_sentences_and_lines_and_are_shorter_after_clauses(synth: Synthesizer) -> None:
    text = "Top tips\n" + ", ".join(["drink some water before you start filming"] * 9) + ". Done!"
    pauses = [pause for _, pause in synth.phonemize(text)]
    assert pauses[0] == SENTENCE_PAUSE_S and pauses[-2:] == [SENTENCE_PAUSE_S] * 2
    assert CLAUSE_PAUSE_S in pauses[1:-2] and CLAUSE_PAUSE_S < SENTENCE_PAUSE_S


def test_the_sessions_are_the_registrys(synth: Synthesizer, registry: ModelRegistry) -> None:
    assert synth.session is registry.session(MODEL)
    assert cast(Any, synth.g2p).oov.sess is registry.session(OOV_MODEL)
    assert synth.model_ref == "hibari-heart@0.2.1"


# -- validation -------------------------------------------------------------------------------------------


class _Spy:
    """Counts the calls that would do work: the G2P and the acoustic model."""

    def __init__(self, synth: Synthesizer) -> None:
        self.g2p_calls = 0
        self.runs = 0
        self.session = synth.session
        outer = self

        class Session:
            def get_inputs(self) -> Any:
                return outer.session.get_inputs()

            def get_outputs(self) -> Any:
                return outer.session.get_outputs()

            def run(self, *args: Any) -> Any:
                outer.runs += 1
                return outer.session.run(*args)

        def g2p(text: str) -> str:
            self.g2p_calls += 1
            return synth.g2p(text)

        self.synth = Synthesizer(Session(), g2p, synth.vocab, max_chars=40)


@pytest.fixture
def spy(synth: Synthesizer) -> _Spy:
    return _Spy(synth)


@pytest.mark.parametrize("text", ["", "  \n\t", "x" * 41])
def test_empty_or_long_text_is_refused_before_any_work(spy: _Spy, text: str) -> None:
    with pytest.raises(BadRequest):
        spy.synth(text)
    assert spy.g2p_calls == spy.runs == 0


def test_a_megabyte_is_refused_at_once(synth: Synthesizer, spy: _Spy) -> None:
    text = "All work and no play. " * 50_000
    start = time.perf_counter()
    with pytest.raises(BadRequest, match=f"at most {MAX_CHARS:,}"):
        synth(text)
    with pytest.raises(BadRequest, match="at most 40"):
        spy.synth(text)
    assert time.perf_counter() - start < 0.5
    assert spy.g2p_calls == spy.runs == 0


@pytest.mark.parametrize("speed", [0.49, 2.01, math.nan, math.inf, 0.0, -1.0])
def test_a_speed_out_of_range_is_refused(spy: _Spy, speed: float) -> None:
    with pytest.raises(BadRequest, match="speed"):
        spy.synth("Hello.", speed)
    assert spy.g2p_calls == spy.runs == 0


@pytest.mark.parametrize("text", ["你好，世界。", "... !!! ???", "🙂🙂 — 🙂"])
def test_text_with_nothing_to_pronounce_is_refused_without_synthesis(spy: _Spy, text: str) -> None:
    with pytest.raises(BadRequest, match="nothing to pronounce"):
        spy.synth(text)
    assert spy.runs == 0


def test_odd_text_is_read_quickly_or_refused(synth: Synthesizer, spy: _Spy) -> None:
    start = time.perf_counter()
    pieces = synth.phonemize(("a-" * 150 + " ") * 3 + "1" * 60 + " " + "x1" * 150)
    assert time.perf_counter() - start < 3.0, "long words are broken up before the G2P"
    assert len(pieces) > 1 and all(len(p) <= 400 for p, _ in pieces)

    def broken(text: str) -> str:
        raise IndexError("list index out of range")

    with pytest.raises(BadRequest, match="could not read"):
        Synthesizer(spy.session, broken, synth.vocab)("Hello.")


def test_the_limits_are_inclusive(spy: _Spy) -> None:
    samples, _ = spy.synth("Go now." + " " * 33, speed=2.0)
    assert len(samples) > 0 and spy.runs == 1


# -- outputs ----------------------------------------------------------------------------------------------


def test_wav_and_aac_decode_to_the_same_duration(speech: tuple[np.ndarray, int]) -> None:
    samples, rate = speech
    out = encode_outputs(samples, rate)
    duration = len(samples) / rate

    wav, wav_rate = sf.read(io.BytesIO(out["wav"]), dtype="float32")
    assert wav_rate == rate and len(wav) == len(samples)
    assert np.abs(wav - samples).max() < 1e-3

    data = out["m4a"]
    assert data[4:8] == b"ftyp" and 0 < data.find(b"moov") < data.find(b"mdat"), "index first"
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "aac" and stream.sample_rate == rate and stream.channels == 1
        decoded = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(stream)])
        assert container.duration is not None
        assert abs(container.duration / av.time_base - duration) < 0.05
    assert abs(len(decoded) / rate - duration) < 0.05
    assert 64_000 <= len(data) * 8 / duration <= 96_000 * 1.1
    assert np.sqrt(np.mean(decoded**2)) == pytest.approx(np.sqrt(np.mean(samples**2)), rel=0.2)


def test_encoding_wants_mono_samples() -> None:
    with pytest.raises(ValueError, match="mono"):
        encode_outputs(np.zeros(0, np.float32), SAMPLE_RATE)
    with pytest.raises(ValueError, match="mono"):
        encode_outputs(np.zeros((2, 100), np.float32), SAMPLE_RATE)
