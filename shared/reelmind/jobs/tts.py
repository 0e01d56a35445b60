"""Text to speech: English text -> 24 kHz mono speech, delivered as WAV and as AAC in an .m4a file.

The voice is hibari's "heart" (hibari-tts, Apache-2.0; American English, female), a 7.9 MB int8 ONNX
model distilled from Kokoro-82M. Text becomes misaki-style phonemes through hibari's own G2P: a text
normalizer, spaCy's tokenizer rules, a perceptron tagger, misaki's lexicons and a small ONNX net for
unknown words, all inside the package (no espeak-ng, no spaCy, nothing downloaded). The model turns phoneme
ids into five spectral parts and F0 per 12.5 ms frame; hibari's DSP (`hibari.dsp.synth`) turns those
into a waveform.

Both ONNX files and the phoneme vocabulary come from the model registry, verified against their SHA-256,
and the sessions are the registry's (its thread count). hibari's own `Hibari` class is not used: it opens
its own session, and for other voices downloads files. The rest of the G2P data (lexicons, tagger) is
read from the package as it is.

The text is read sentence by sentence (`split_sentences`); each sentence's leading and trailing silence is
trimmed and replaced by a fixed pause, longer after a sentence than after a clause. Speed is the model's
own input: it divides the predicted durations, while F0 is still predicted per frame, so the pitch stays
where it was; the pauses are divided by it too. Only English is spoken: Chinese characters have no
pronunciation in the lexicon and are skipped, and text with nothing else to say is refused.
"""

from __future__ import annotations

import json
import logging
import math
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import av
import numpy as np
from hibari import dsp  # type: ignore[import-untyped,unused-ignore]
from hibari.g2p import G2P  # type: ignore[import-untyped,unused-ignore]
from hibari.g2p.oov import OOV  # type: ignore[import-untyped,unused-ignore]

from reelmind.errors import BadRequest
from reelmind.media.encode import wav_bytes

if TYPE_CHECKING:
    import onnxruntime as ort

    from reelmind.models.registry import ModelRegistry

log = logging.getLogger(__name__)

MODEL = "hibari-heart"
OOV_MODEL = "hibari-oov"
VOCAB = "hibari-vocab"
SAMPLE_RATE = 24_000
#: the most characters one request may have read aloud (about five minutes of speech)
MAX_CHARS = 5_000
MIN_SPEED = 0.5
MAX_SPEED = 2.0
#: silence after a sentence and after a clause (a long sentence split at a comma), at speed 1
SENTENCE_PAUSE_S = 0.25
CLAUSE_PAUSE_S = 0.1
#: what is kept of the model's own silence before and after each piece
EDGE_S = 0.04
#: a frame quieter than the piece's loudest by this much is silence, for trimming
TRIM_DB = 50.0
#: the model reads at most this many phonemes well; longer inputs come out compressed
MAX_PHONEMES = 400
AAC_BIT_RATE = 80_000
#: the G2P reads whole numbers only below 10^36; longer digit runs are read digit by digit
MAX_NUMBER_DIGITS = 15
#: the G2P's time grows with the cube of a word's parts ("a-a-a-..."); longer words are broken up
MAX_WORD = 30

_INPUTS = ("ids", "speed")
_OUTPUTS = ("lh", "theta", "ln", "lr", "phi", "f0")
#: 12.5 ms, the model's frame
_FRAME = 300
_STOPS = ".!?…"
_CJK_STOPS = "。！？"
_CLOSERS = "\"'”’)]}»」』）】"
_CLAUSE_MARKS = ",;:—–，、；："
_BOUNDARY = re.compile(rf"[{_STOPS}]+[{re.escape(_CLOSERS)}]*\s+|[{_CJK_STOPS}]+[{re.escape(_CLOSERS)}]*\s*")
_OPENERS = "\"'“‘([{«「『（【"
#: words whose period does not end a sentence (titles and Latin abbreviations, compared in lower case)
_ABBREVIATIONS = frozenset(
    {
        *("mr", "mrs", "ms", "mx", "dr", "prof", "rev", "hon", "fr", "st", "mt", "ft", "sgt", "cpl", "capt"),
        *("lt", "col", "maj", "gen", "adm", "cmdr", "gov", "pres", "sen", "rep", "supt", "msgr"),
        *("vs", "e.g", "i.e", "cf", "approx", "fig"),
    }
)
#: full-width punctuation the G2P does not read, mapped to what it does
_FULL_WIDTH = str.maketrans(
    {
        "。": ".",
        "．": ".",
        "！": "!",
        "？": "?",
        "，": ",",
        "、": ",",
        "；": ";",
        "：": ":",
        "（": "(",
        "）": ")",
    }
)
_NUMBER = re.compile(r"\d[\d,]*")
_LONG_WORD = re.compile(rf"\S{{{MAX_WORD + 1},}}")
_WORD_BREAK = re.compile(r"([-_/\\.,:;+=~|&])")
#: phonemes that are punctuation, not sound
_SILENT_PHONEMES = frozenset(';:,.!?—…"()“” ')


def _abbreviated(before: str) -> bool:
    """Whether a period after this text is an abbreviation's or an initial's ("Dr.", "J.")."""
    word = before.rsplit(None, 1)[-1].lstrip(_OPENERS) if before.strip() else ""
    return word.lower() in _ABBREVIATIONS or (len(word) == 1 and word.isupper())


def _ends_sentence(para: str, match: re.Match[str]) -> bool:
    stops = match.group().rstrip()
    if any(c in _CJK_STOPS for c in stops):
        return True
    if match.end() < len(para) and para[match.end()].islower():
        return False  # "e.g. this", "What? no."
    return not (stops.rstrip(_CLOSERS) == "." and _abbreviated(para[: match.start()]))


def _split_long(sentence: str, max_chars: int) -> list[str]:
    """A sentence in pieces of at most max_chars: at the last clause mark in reach (if it is not too early),
    else at the last space, else (a run without either) exactly at max_chars."""
    pieces: list[str] = []
    rest = sentence
    while len(rest) > max_chars:
        window = rest[:max_chars]
        cut = max((window.rfind(c) for c in _CLAUSE_MARKS), default=-1) + 1
        if cut < max(1, max_chars // 3):
            space = rest.rfind(" ", 0, max_chars + 1)
            cut = space if space > 0 else max_chars
        piece, rest = rest[:cut].strip(), rest[cut:].strip()
        if piece:
            pieces.append(piece)
    if rest:
        pieces.append(rest)
    return pieces


def split_sentences(text: str, max_chars: int = 300) -> list[str]:
    """Text -> the pieces it is read in: sentences, none longer than max_chars.

    Every line break ends a piece. Within a line, a sentence ends at . ! ? or … (with any closing quotes or
    brackets) followed by a space and not by a lower-case letter, except a period after a title, a Latin
    abbreviation or an initial ("Dr. Lee", "J. K. Rowling"); it also ends at Chinese 。！？, space or not.
    A longer sentence is split at its last comma (or ; : — ，、) within max_chars, else at its last space,
    else cut. Runs of spaces become one space.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, not {max_chars}")
    out: list[str] = []
    for line in text.splitlines():
        para = " ".join(line.split())
        cut = 0
        for match in _BOUNDARY.finditer(para):
            if _ends_sentence(para, match):
                out.extend(_split_long(para[cut : match.end()].strip(), max_chars))
                cut = match.end()
        out.extend(_split_long(para[cut:].strip(), max_chars))
    return [s for s in out if s]


def _fit_phonemes(phonemes: str, limit: int = MAX_PHONEMES) -> list[str]:
    """A phoneme string in pieces of at most `limit`: at clause punctuation, else spaces, else cut."""
    pieces: list[str] = []
    rest = phonemes.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = max((window.rfind(c) for c in ",;:—"), default=-1) + 1
        if cut < max(1, limit // 3):
            space = rest.rfind(" ", 0, limit + 1)
            cut = space if space > 0 else limit
        pieces.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    return [p for p in [*pieces, rest] if p]


def _trim(audio: np.ndarray, rate: int) -> np.ndarray:
    """The piece without its leading and trailing silence, EDGE_S of it kept at each end."""
    frames = len(audio) // _FRAME
    if frames == 0:
        return audio
    power = np.square(audio[: frames * _FRAME].reshape(frames, _FRAME), dtype=np.float64).mean(axis=1)
    peak = float(power.max())
    if peak <= 0:
        return audio[:0]
    loud = np.flatnonzero(power >= peak * 10 ** (-TRIM_DB / 10))
    edge = round(EDGE_S * rate)
    start = max(0, int(loud[0]) * _FRAME - edge)
    end = min(len(audio), (int(loud[-1]) + 1) * _FRAME + edge)
    return audio[start:end]


def _readable(sentence: str) -> str:
    """What the G2P is given for a sentence: full-width punctuation as ASCII, a number of more than
    MAX_NUMBER_DIGITS digits as single digits, a run of more than MAX_WORD characters without a space broken
    after its punctuation and then every MAX_WORD characters."""

    def digits(match: re.Match[str]) -> str:
        run = [c for c in match.group() if c.isdigit()]
        return " ".join(run) if len(run) > MAX_NUMBER_DIGITS else match.group()

    def words(match: re.Match[str]) -> str:
        parts = _WORD_BREAK.sub(r"\1 ", match.group()).split()
        return " ".join(p[i : i + MAX_WORD] for p in parts for i in range(0, len(p), MAX_WORD))

    return _LONG_WORD.sub(words, _NUMBER.sub(digits, sentence.translate(_FULL_WIDTH)))


@dataclass(frozen=True, slots=True)
class _Piece:
    ids: np.ndarray
    pause_s: float


class Synthesizer:
    """Text -> (float32 mono samples in [-1, 1], sample rate), with hibari's "heart" voice.

    `session` is the acoustic model (inputs ids and speed; outputs lh, theta, ln, lr, phi, f0), `g2p` turns
    one sentence into a phoneme string, `vocab` maps phonemes to the model's ids. Instances keep no
    per-call state and can be shared by threads.
    """

    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        session: ort.InferenceSession,
        g2p: Callable[[str], str],
        vocab: Mapping[str, int],
        *,
        max_chars: int = MAX_CHARS,
        model_ref: str | None = None,
    ) -> None:
        inputs = {i.name for i in session.get_inputs()}
        outputs = {o.name for o in session.get_outputs()}
        if inputs != set(_INPUTS) or not set(_OUTPUTS) <= outputs:
            raise ValueError(
                f"not a hibari acoustic model: inputs {sorted(inputs)}, outputs {sorted(outputs)}; "
                f"expected inputs {list(_INPUTS)} and outputs {list(_OUTPUTS)}"
            )
        self.session = session
        self.g2p = g2p
        self.vocab = dict(vocab)
        self.max_chars = max_chars
        self.model_ref = model_ref

    @classmethod
    def from_registry(cls, registry: ModelRegistry, *, max_chars: int = MAX_CHARS) -> Synthesizer:
        """The registry's verified model, out-of-vocabulary net and vocabulary (raises ModelUnavailable /
        ModelChecksumMismatch); the G2P's lexicons and tagger load from the package (about 0.7 s)."""
        vocab = json.loads(registry.path(VOCAB).read_text(encoding="utf-8"))
        # OOV reads its alphabet from the .json beside the .onnx; the session is the registry's.
        oov = OOV(str(registry.path(OOV_MODEL)), session=registry.session(OOV_MODEL))
        return cls(
            registry.session(MODEL),
            G2P(oov=oov),
            vocab,
            max_chars=max_chars,
            model_ref=registry.spec(MODEL).ref,
        )

    def _check(self, text: str, speed: float) -> None:
        """Refuse bad requests before any work; a long text is refused on its length alone."""
        if not isinstance(text, str):
            raise BadRequest(f"text must be a string, not {type(text).__name__}")
        if len(text) > self.max_chars:
            raise BadRequest(f"text is {len(text):,} characters long; at most {self.max_chars:,} can be read")
        if not text.strip():
            raise BadRequest("text is empty")
        if isinstance(speed, bool) or not isinstance(speed, int | float) or not math.isfinite(speed):
            raise BadRequest(f"speed must be a number, not {speed!r}")
        if not MIN_SPEED <= speed <= MAX_SPEED:
            raise BadRequest(f"speed must be within {MIN_SPEED}..{MAX_SPEED}, not {speed}")

    def _ids(self, phonemes: str) -> np.ndarray:
        return np.asarray([[0, *(self.vocab[c] for c in phonemes if c in self.vocab), 0]], np.int64)

    def phonemize(self, text: str) -> list[tuple[str, float]]:
        """(phoneme string, pause after it at speed 1) for each piece with something to say; raises
        BadRequest for a sentence the G2P cannot read. A piece that ends a sentence or a line is followed by
        the sentence pause, one cut from a longer sentence by the clause pause."""
        sentences = [
            (s, i == len(line) - 1)
            for line in map(split_sentences, text.splitlines())
            for i, s in enumerate(line)
        ]
        pieces: list[tuple[str, float]] = []
        for sentence, line_end in sentences:
            try:
                phonemes = str(self.g2p(_readable(sentence)) or "")
            except Exception as exc:  # the G2P's own failure on odd input: a request it cannot serve
                log.warning("G2P failed on %r: %r", sentence[:80], exc)
                raise BadRequest(f"could not read {sentence[:80]!r} aloud") from exc
            spoken = [p for p in _fit_phonemes(phonemes) if any(c not in _SILENT_PHONEMES for c in p)]
            tail = sentence.rstrip(_CLOSERS)[-1:]
            ends = line_end or (bool(tail) and tail in _STOPS + _CJK_STOPS)
            for i, part in enumerate(spoken):
                last = i == len(spoken) - 1
                pieces.append((part, SENTENCE_PAUSE_S if last and ends else CLAUSE_PAUSE_S))
        return pieces

    def _render(self, ids: np.ndarray, speed: float, rng: np.random.Generator) -> np.ndarray:
        feeds = {"ids": ids, "speed": np.asarray([speed], np.float32)}
        parts = [np.asarray(p)[0] for p in self.session.run(list(_OUTPUTS), feeds)]
        audio: np.ndarray = np.asarray(dsp.synth(*parts, rng), np.float32)
        return audio

    def __call__(
        self,
        text: str,
        speed: float = 1.0,
        progress: Callable[[float], None] | None = None,
        *,
        seed: int | None = None,
    ) -> tuple[np.ndarray, int]:
        """Speech for `text`: (float32 mono samples, sample rate).

        speed: 0.5 (slow) .. 2.0 (fast), 1.0 the voice's own pace. progress, if given, is called after each
        piece with the fraction done (by phonemes), the last time with 1.0. seed fixes the noise component,
        so the same call gives the same samples. Raises BadRequest for empty text, text over `max_chars`
        characters, a speed out of range, or text with nothing to pronounce.
        """
        self._check(text, speed)
        plan = [_Piece(self._ids(ps), pause) for ps, pause in self.phonemize(text)]
        if not plan:
            raise BadRequest("text has nothing to pronounce; the voice reads English words and numbers")
        rng = np.random.default_rng(seed)
        total = sum(p.ids.shape[1] for p in plan)
        done = 0
        parts: list[np.ndarray] = []
        for i, piece in enumerate(plan):
            parts.append(_trim(self._render(piece.ids, speed, rng), self.sample_rate))
            if i < len(plan) - 1:
                parts.append(np.zeros(round(piece.pause_s / speed * self.sample_rate), np.float32))
            done += piece.ids.shape[1]
            if progress is not None:
                progress(done / total)
        samples = np.clip(np.concatenate(parts), -1.0, 1.0).astype(np.float32, copy=False)
        return samples, self.sample_rate


def m4a_bytes(samples: np.ndarray, rate: int, bit_rate: int = AAC_BIT_RATE) -> bytes:
    """Mono float samples -> AAC-LC in an .m4a (MP4) file, its index first so that playback can start at once.

    The first frame is stamped pts 0, so the muxer records the encoder's 1024 priming samples in an edit
    list and players (and FFmpeg) skip them: the file plays for exactly len(samples) / rate seconds.
    """
    with tempfile.TemporaryDirectory(prefix="reelmind-tts-") as folder:
        path = Path(folder) / "speech.m4a"
        # +faststart rewrites the file with its index first; FFmpeg needs a real file for that.
        with av.open(str(path), "w", format="ipod", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("aac", rate=rate, layout="mono")
            stream.bit_rate = bit_rate
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(samples, np.float32)[None, :], format="flt", layout="mono"
            )
            frame.sample_rate = rate
            frame.pts = 0
            frame.time_base = Fraction(1, rate)
            for packet in stream.encode(frame):
                container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
        return path.read_bytes()


def encode_outputs(samples: np.ndarray, rate: int) -> dict[str, bytes]:
    """Speech -> {"wav": 16-bit PCM WAV, "m4a": AAC-LC at 80 kbps in an .m4a file}."""
    audio = np.asarray(samples, np.float32)
    if audio.ndim != 1 or audio.size == 0:
        raise ValueError(f"expected non-empty mono samples, got shape {audio.shape}")
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, not {rate}")
    audio = np.clip(audio, -1.0, 1.0)
    return {"wav": wav_bytes(audio, rate), "m4a": m4a_bytes(audio, rate)}
