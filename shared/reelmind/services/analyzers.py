"""The CPU analyzers "video ready" fans out to: tags, ocr, safety, quality, originality.

Each is small: take the video's keyframes or frame signals from the context, run its models, shape
one JSON payload. Running, versioning, storing and failure handling live in `AnalysisService`.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import tempfile
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reelmind.domain import policy as safety_policy
from reelmind.domain.taxonomy import Taxonomy, aggregate
from reelmind.domain.video import Moderation, Video
from reelmind.media import fingerprint as fp
from reelmind.media import grab, orient, quality
from reelmind.models.ocr import OcrEngine
from reelmind.models.vision import ImageClassifier, NsfwScorer, NudityDetector, l2_normalize
from reelmind.ports import Result, ResultStore, VectorIndex
from reelmind.services.analysis import Keyframe, VideoContext

TAGS_VERSION = "tags-1"
OCR_VERSION = "ocr-2"  # 2: stretches of sampled signals mapped to frame numbers
SAFETY_VERSION = "safety-1"
ORIGINALITY_VERSION = "originality-1"


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:8]


def _content_keyframes(ctx: VideoContext) -> list[Keyframe]:
    """Keyframes that show a shot rather than a blend between two; all of them if none does."""
    frames = ctx.keyframes()
    clean = [k for k in frames if not k.transition]
    return clean or frames


class TagsAnalyzer:
    """Per-keyframe ImageNet classes, weighted by how long each keyframe's shot lasts, into the
    two-level category tree and fine tags of the taxonomy."""

    kind = "tags"

    def __init__(
        self, classifier: ImageClassifier, model_ref: str, taxonomy: Taxonomy, top_k: int = 10
    ) -> None:
        self.classifier = classifier
        self.model_ref = model_ref
        self.taxonomy = taxonomy
        self.top_k = top_k
        self._thresholds = _digest(np.round(taxonomy.thresholds, 4).tolist())

    def version(self, ctx: VideoContext) -> str:
        return f"{TAGS_VERSION}+{self.model_ref}+{self.taxonomy.version}+t{self._thresholds}"

    def analyze(self, ctx: VideoContext) -> dict[str, Any]:
        frames = ctx.keyframes()
        weights = ctx.shot_weights()
        keep = [i for i, k in enumerate(frames) if not k.transition] or list(range(len(frames)))
        result = self.classifier([frames[i].image for i in keep])
        summary = aggregate(self.taxonomy, result.probs, weights[keep], top_k=self.top_k)
        per_frame = []
        for row, i in zip(result.probs, keep, strict=True):
            top = np.argsort(-row)[:3]
            per_frame.append(
                {
                    "time_s": frames[i].time_s,
                    "top": [
                        {"tag": self.taxonomy.classes[j].tag, "score": round(float(row[j]), 4)} for j in top
                    ],
                }
            )
        return {
            "model": self.model_ref,
            "taxonomy": self.taxonomy.version,
            **summary.to_dict(),
            "keyframes": per_frame,
        }


@dataclass(frozen=True, slots=True)
class OcrConfig:
    max_frames: int = 10
    min_score: float = 0.7  # readings the recogniser is less sure of are dropped
    same_text_ratio: float = 0.8  # lines this similar (after normalising) are one line seen twice


def _text_key(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


def merge_lines(
    seen: Sequence[tuple[float, str, float, tuple[int, int, int, int]]], ratio: float
) -> list[dict[str, Any]]:
    """(time, text, score, box) readings -> distinct lines with every time they were seen."""
    lines: list[dict[str, Any]] = []
    for time_s, text, score, box in sorted(seen, key=lambda s: s[0]):
        key = _text_key(text)
        if len(key) < 2:
            continue
        for line in lines:
            if difflib.SequenceMatcher(None, line["_key"], key).ratio() >= ratio:
                line["times_s"].append(time_s)
                if score > line["score"]:
                    line.update(text=text, score=score, box=list(box), _key=key)
                break
        else:
            lines.append({"text": text, "score": score, "box": list(box), "times_s": [time_s], "_key": key})
    for line in lines:
        del line["_key"]
        line["times_s"] = sorted(set(line["times_s"]))
        line["start_s"], line["end_s"] = line["times_s"][0], line["times_s"][-1]
    return lines


class OcrAnalyzer:
    """On-screen text from the moments the picture settles after a change (a new shot, or a new
    caption on the same background), read once each, deduplicated across frames, with times."""

    kind = "ocr"

    def __init__(self, engine: Callable[[], OcrEngine], model_refs: Sequence[str], config: OcrConfig) -> None:
        self._engine_factory = engine
        self._engine: OcrEngine | None = None
        self.model_refs = list(model_refs)
        self.config = config

    def version(self, ctx: VideoContext) -> str:
        return f"{OCR_VERSION}+{'+'.join(self.model_refs)}+n{self.config.max_frames}"

    def analyze(self, ctx: VideoContext) -> dict[str, Any]:
        if self._engine is None:
            self._engine = self._engine_factory()
        signals = ctx.signals()
        picks = grab.stable_samples(signals.times, signals.features, self.config.max_frames)
        frames, decoded = self._frames(ctx, picks, signals.frames)
        seen = [
            (round(float(signals.times[i]), 3), line.text, line.score, line.box)
            for i, img in sorted(frames.items())
            for line in self._engine(img)
            if line.score >= self.config.min_score
        ]
        lines = merge_lines(seen, self.config.same_text_ratio)
        return {
            "models": self.model_refs,
            "frames_read_s": [round(float(signals.times[i]), 3) for i in sorted(frames)],
            "frames_decoded": decoded,
            "lines": lines,
            "text": "\n".join(line["text"] for line in lines),
        }

    @staticmethod
    def _frames(
        ctx: VideoContext, picks: list[tuple[int, tuple[int, int]]], numbers: np.ndarray
    ) -> tuple[dict[int, np.ndarray], int]:
        """The picked samples' pictures, and how many had to be decoded. A keyframe inside a pick's
        stretch shows the same on-screen text (a stretch has no abrupt change), so it stands in, read
        once; the source is decoded again only for stretches without a keyframe (a caption that changed
        inside a shot). Picks and stretches are sample positions; keyframes go by frame number."""
        keyframes = ctx.keyframes()
        frames: dict[int, np.ndarray] = {}
        used: set[int] = set()
        missing: dict[int, int] = {}  # frame number -> sample
        for pick, (a, b) in picks:
            first, end, frame = int(numbers[a]), int(numbers[b - 1]) + 1, int(numbers[pick])
            inside = [k for k in keyframes if first <= k.frame < end]
            if not inside:
                missing[frame] = pick
                continue
            nearest = min(inside, key=lambda k: abs(k.frame - frame))
            if nearest.frame not in used:
                used.add(nearest.frame)
                frames[pick] = nearest.image
        if missing:
            with tempfile.TemporaryDirectory(prefix="reelmind-ocr-") as tmp:
                grabbed = grab.grab_frames(ctx.download_source(Path(tmp)), list(missing))
            frames.update({missing[n]: img for n, img in grabbed.items()})
        return frames, len(missing)


class SafetyAnalyzer:
    """NSFW score and nudity detection on keyframes, plus on-screen text and transcript words against
    the policy's term lists, into a verdict; the video's moderation state follows the verdict unless a
    person has already decided."""

    kind = "safety"

    def __init__(
        self,
        nsfw: NsfwScorer,
        nudity: NudityDetector,
        model_refs: Sequence[str],
        policy: safety_policy.SafetyPolicy,
        results: ResultStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.nsfw = nsfw
        self.nudity = nudity
        self.model_refs = list(model_refs)
        self.policy = policy
        self.results = results
        self.clock = clock

    def version(self, ctx: VideoContext) -> str:
        inputs = "+".join(f"{k}:{r.version}" for k in ("ocr", "asr") if (r := ctx.results.get(k)) is not None)
        return f"{SAFETY_VERSION}+{'+'.join(self.model_refs)}+{self.policy.version}+[{inputs}]"

    def analyze(self, ctx: VideoContext) -> dict[str, Any]:
        frames = ctx.keyframes()
        scores = self.nsfw([k.image for k in frames])
        signals = [
            safety_policy.FrameSignals(
                time_s=k.time_s,
                nsfw=float(score),
                detections=tuple(safety_policy.Detection(d.label, d.score) for d in self.nudity(k.image)),
            )
            for k, score in zip(frames, scores, strict=True)
        ]
        spans = text_spans(ctx.results)
        verdict = safety_policy.decide(signals, spans, self.policy)
        self.results.moderate(ctx.video_id, Moderation(verdict.action), by="auto", at=self.clock())
        return {
            "models": self.model_refs,
            "policy": self.policy.version,
            "inputs": sorted({s.source for s in spans}),
            **verdict.to_dict(),
            "frames": [
                {
                    "time_s": s.time_s,
                    "nsfw": round(s.nsfw, 4),
                    "detections": [{"label": d.label, "score": d.score} for d in s.detections],
                }
                for s in signals
            ],
        }


def text_spans(results: dict[str, Result]) -> list[safety_policy.TextSpan]:
    """On-screen lines (ocr) and transcript segments (asr) as timed text for the term lists."""
    spans: list[safety_policy.TextSpan] = []
    ocr = results.get("ocr")
    if ocr is not None:
        for line in ocr.payload.get("lines", []):
            spans.append(safety_policy.TextSpan(line["text"], line["start_s"], line["end_s"], "ocr"))
    asr = results.get("asr")
    if asr is not None:
        for seg in asr.payload.get("segments", []):
            spans.append(safety_policy.TextSpan(seg["text"], seg["start_s"], seg["end_s"], "transcript"))
    return spans


class QualityAnalyzer:
    kind = "quality"

    def __init__(self, config: quality.QualityConfig = quality.DEFAULT_QUALITY_CONFIG) -> None:
        self.config = config

    def version(self, ctx: VideoContext) -> str:
        return quality.QUALITY_VERSION

    def analyze(self, ctx: VideoContext) -> dict[str, Any]:
        media = ctx.ingest["media"]
        signals = ctx.signals()
        # The frame signals are thumbnails of the pictures as stored: a phone's portrait video lies on
        # its side there, and camera motion is measured along the stored axes.
        width, height = orient.display_size(
            int(media["width"]), int(media["height"]), int(media.get("rotation", 0))
        )
        report = quality.assess(
            quality.QualityInput(
                width=width,
                height=height,
                fps=float(media["fps"]),
                bitrate_bps=int(media["bitrate_bps"]),
                duration_s=float(media["duration_s"]),
                times=signals.times,
                features=signals.features,
                keyframes=[k.image for k in _content_keyframes(ctx)],
            ),
            self.config,
        )
        return report.to_dict()


class OriginalityAnalyzer:
    """Fingerprint the video, find earlier uploads of the same content, and mark the earliest one the
    original: a later upload is a duplicate of it, whichever of the two is analyzed first.

    Candidates come from the visual-embedding index (nearest neighbours of the mean keyframe
    embedding); the fingerprints decide."""

    kind = "originality"

    def __init__(
        self,
        classifier: ImageClassifier,
        model_ref: str,
        index: Callable[[], VectorIndex],
        results: ResultStore,
        candidates: int = 20,
        match: fp.MatchConfig = fp.DEFAULT_MATCH_CONFIG,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.classifier = classifier
        self.model_ref = model_ref
        self._index_factory = index
        self._index: VectorIndex | None = None
        self.results = results
        self.candidates = candidates
        self.match = match
        self.clock = clock

    def version(self, ctx: VideoContext) -> str:
        return f"{ORIGINALITY_VERSION}+{fp.FINGERPRINT_VERSION}+{self.model_ref}"

    @property
    def index(self) -> VectorIndex:
        if self._index is None:
            self._index = self._index_factory()
        return self._index

    def analyze(self, ctx: VideoContext) -> dict[str, Any]:
        signals = ctx.signals()
        print_ = fp.fingerprint(signals.times, signals.features)
        frames = _content_keyframes(ctx)
        embedding = l2_normalize(self.classifier([k.image for k in frames]).embeddings.mean(axis=0))
        me = (ctx.video.created_at, ctx.video_id)
        self.index.upsert([ctx.video_id], embedding[None, :], [{"created_at": ctx.video.created_at}])
        matches = []
        for hit in self.index.query(embedding, self.candidates + 1):
            if hit.id == ctx.video_id:
                continue
            other = self.results.get_results(hit.id).get(self.kind)
            if other is None or "fingerprint" not in other.payload:
                continue
            m = fp.compare(print_, fp.Fingerprint.from_dict(other.payload["fingerprint"]), self.match)
            if fp.is_duplicate(m, self.match):
                created = float(hit.meta.get("created_at", 0.0))
                matches.append(((created, hit.id), m, other))
        earlier = sorted((key, m, other) for key, m, other in matches if key < me)
        original = None
        if earlier:
            (_, first_id), m, other = earlier[0]
            original = {
                "video_id": (other.payload.get("duplicate_of") or {}).get("video_id") or first_id,
                **m.to_dict(),
            }
        for key, m, other in matches:
            if key > me:
                self._claim(key[1], other, ctx.video, m)
        return {
            "fingerprint": print_.to_dict(),
            "original": original is None,
            "duplicate_of": original,
            "matches": [{"video_id": key[1], **m.to_dict()} for key, m, _ in sorted(matches)],
            "model": self.model_ref,
        }

    def _claim(self, later_id: str, result: Result, original: Video, m: fp.Match) -> None:
        """A video uploaded after this one was analyzed first: it is a duplicate of this one, unless it
        already names an original older than this one."""
        current = (result.payload.get("duplicate_of") or {}).get("video_id")
        if current is not None:
            known = self.results.get_video(current)
            if known is not None and (known.created_at, known.video_id) < (
                original.created_at,
                original.video_id,
            ):
                return
        payload = dict(result.payload)
        payload["original"] = False
        payload["duplicate_of"] = {"video_id": original.video_id, **m.to_dict()}
        self.results.put_result(
            Result(later_id, self.kind, result.version, payload, self.clock()), replace=True
        )
