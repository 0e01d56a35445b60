"""Text to speech, then speech to text: what the voice says is what was written (WER <= 10%)."""

from __future__ import annotations

import numpy as np

from reelmind.jobs.asr import SpeechRecognizer, word_errors
from reelmind.jobs.tts import Synthesizer
from reelmind.models.registry import ModelRegistry
from reelmind.settings import Settings

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Short videos are easy to watch on a phone.",
    "Please upload your clip before midnight.",
    "The weather today is sunny with a light breeze.",
    "We recommend new music to everyone who likes jazz.",
    "A cat is sleeping on the warm windowsill.",
)


def _to_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    n = round(len(samples) * 16_000 / rate)
    return np.interp(np.linspace(0, len(samples) - 1, n), np.arange(len(samples)), samples).astype(np.float32)


def test_spoken_sentences_are_transcribed_back() -> None:
    registry = ModelRegistry(Settings().model_dir, threads=2)
    speak, listen = Synthesizer.from_registry(registry), SpeechRecognizer.from_registry(registry)
    edits = words = 0
    heard = []
    for sentence in SENTENCES:
        samples, rate = speak(sentence, seed=1)
        text = listen(_to_16k(samples, rate)).text
        e, n = word_errors(sentence, text)
        edits, words = edits + e, words + n
        heard.append(f"{sentence!r} -> {text!r}")
    assert edits / words <= 0.10, f"WER {edits / words:.3f}: " + "; ".join(heard)
