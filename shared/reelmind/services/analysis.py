"""Running analyzers: each turns a READY video into one stored result, idempotently and by version.

An analyzer names its version from everything that shapes its output (algorithm, model files,
taxonomy or policy, and the results it reads), so a result is recomputed exactly when one of those
changes: `reelmind reanalyze` finds such stale results and asks for them again. Bad media (an
unreadable keyframe, frames too small to judge) gives a stored failure with a typed code, never a
crash loop; anything else propagates so the platform retries and then dead-letters the event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import numpy as np

from reelmind.domain.events import AnalysisCompleted, AnalysisRequested
from reelmind.domain.video import Video, VideoStatus
from reelmind.errors import Busy, CorruptMedia, InputError, NotFound
from reelmind.media import encode
from reelmind.media.signals import Signals
from reelmind.ports import BlobStore, Event, EventBus, Result, ResultStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Keyframe:
    frame: int
    time_s: float
    shot: int
    transition: bool
    image: np.ndarray  # BGR uint8


@dataclass
class VideoContext:
    """One video as analyzers see it; keyframes and signals are loaded once, on first use."""

    video: Video
    ingest: dict[str, Any]
    results: dict[str, Result]
    blobs: BlobStore
    _keyframes: list[Keyframe] | None = field(default=None, repr=False)
    _signals: Signals | None = field(default=None, repr=False)

    @property
    def video_id(self) -> str:
        return self.video.video_id

    @property
    def duration_s(self) -> float:
        return float(self.ingest["media"]["duration_s"])

    def keyframes(self) -> list[Keyframe]:
        if self._keyframes is None:
            out = []
            for kf in self.ingest["keyframes"]:
                img = encode.decode_image(self.blobs.get_bytes(kf["key"]))
                if img is None:
                    raise CorruptMedia(f"keyframe at {kf['time_s']} s ({kf['key']}) could not be decoded")
                out.append(
                    Keyframe(kf["frame"], float(kf["time_s"]), kf["shot"], bool(kf["transition"]), img)
                )
            self._keyframes = out
        return self._keyframes

    def shot_weights(self) -> np.ndarray:
        """How much of the video each keyframe stands for: its shot's length shared among the shot's keyframes."""
        shots = {s["index"]: s for s in self.ingest["shots"]}
        per_shot: dict[int, int] = {}
        for kf in self.ingest["keyframes"]:
            per_shot[kf["shot"]] = per_shot.get(kf["shot"], 0) + 1
        return np.array(
            [
                (shots[kf["shot"]]["end_s"] - shots[kf["shot"]]["start_s"]) / per_shot[kf["shot"]]
                for kf in self.ingest["keyframes"]
            ],
            np.float64,
        )

    def download_source(self, folder: Path) -> Path:
        """The uploaded file, fetched into `folder` (for analyzers that must decode frames again)."""
        suffix = PurePosixPath(self.video.source_key).suffix
        return self.blobs.download(self.video.source_key, folder / f"source{suffix}")

    def signals(self) -> Signals:
        if self._signals is None:
            meta = self.ingest.get("signals")
            if not meta:
                raise NotFound(f"video {self.video_id} was ingested without per-frame signals; re-ingest it")
            self._signals = Signals.from_bytes(self.blobs.get_bytes(meta["key"]))
        return self._signals


class Analyzer(Protocol):
    kind: str

    def version(self, ctx: VideoContext) -> str:
        """Everything that shapes the output, as one string; a different string means recompute."""
        ...

    def analyze(self, ctx: VideoContext) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    video_id: str
    kind: str
    status: str  # "ok" | "failed" | "unchanged" | "gone"
    payload: dict[str, Any] | None = None

    def summary(self) -> dict[str, str]:
        return {"video_id": self.video_id, "kind": self.kind, "status": self.status}


class AnalysisService:
    def __init__(
        self,
        blobs: BlobStore,
        results: ResultStore,
        events: EventBus,
        analyzers: dict[str, Callable[[], Analyzer]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.blobs = blobs
        self.results = results
        self.events = events
        self._factories = analyzers
        self._built: dict[str, Analyzer] = {}
        self.clock = clock

    @property
    def kinds(self) -> list[str]:
        return list(self._factories)

    def analyzer(self, kind: str) -> Analyzer:
        """The analyzer, built on first use (model sessions open once per process, only where needed)."""
        if kind not in self._built:
            try:
                factory = self._factories[kind]
            except KeyError:
                raise NotFound(f"no analyzer {kind!r}; known: {', '.join(self.kinds)}") from None
            self._built[kind] = factory()
        return self._built[kind]

    def context(self, video_id: str, video: Video | None = None) -> VideoContext:
        video = video or self.results.get_video(video_id)
        if video is None:
            raise NotFound(f"no video {video_id!r}")
        results = self.results.get_results(video_id)
        if video.status is VideoStatus.PROCESSING:
            # "VideoReady" is announced just before the status flips: let the platform retry shortly.
            raise Busy(f"video {video_id} is still being ingested; retry shortly")
        if video.status is not VideoStatus.READY or "ingest" not in results:
            raise NotFound(f"video {video_id} is {video.status.value}, not READY; nothing to analyze")
        return VideoContext(video, results["ingest"].payload, results, self.blobs)

    def run(self, kind: str, video_id: str, *, force: bool = False) -> Outcome:
        """Analyze the video; "gone" (nothing done) when it was deleted after the event naming it was
        sent: retrying could not help, and a dead letter for every such event would hide real ones."""
        analyzer = self.analyzer(kind)
        video = self.results.get_video(video_id)
        if video is None:
            log.info("video %s no longer exists; no %s to do", video_id, kind)
            return Outcome(video_id, kind, "gone")
        ctx = self.context(video_id, video)
        version = analyzer.version(ctx)
        existing = ctx.results.get(kind)
        if existing is not None and existing.version == version and not force:
            log.info("video %s already has %s (%s); announcing it again", video_id, kind, version)
            # A run that stored its result and died before announcing it left nothing else to announce
            # it: a retry must, or whatever waits for it (safety and embed wait for ocr) never runs.
            # Subscribers are idempotent, so announcing twice is harmless; never announcing is not.
            self._announce(video_id, kind, version, str(existing.payload.get("status", "ok")))
            return Outcome(video_id, kind, "unchanged", existing.payload)
        started = time.perf_counter()
        try:
            payload = analyzer.analyze(ctx)
            status = "ok"
        except InputError as exc:
            log.warning("%s of video %s failed: %s (%s)", kind, video_id, exc.message, exc.code)
            payload = {"error": {"code": exc.code, "message": exc.message}}
            status = "failed"
        payload = {**payload, "status": status, "elapsed_s": round(time.perf_counter() - started, 3)}
        self.results.put_result(Result(video_id, kind, version, payload, self.clock()), replace=force)
        self._announce(video_id, kind, version, status)
        return Outcome(video_id, kind, status, payload)

    def _announce(self, video_id: str, kind: str, version: str, status: str) -> None:
        detail = AnalysisCompleted(video_id, kind, version, status).detail()
        self.events.publish([Event(AnalysisCompleted.detail_type, detail)])

    def stale(self, kinds: Sequence[str] | None = None) -> Iterator[tuple[str, list[str]]]:
        """READY videos whose stored results are missing or of another version than today's analyzers."""
        kinds = self._known(kinds or self.kinds)
        cursor: str | None = None
        while True:
            page = self.results.list_videos(status=VideoStatus.READY, limit=100, cursor=cursor)
            for video in page.items:
                try:
                    ctx = self.context(video.video_id, video)
                except NotFound:  # deleted since the page was read
                    continue
                todo = [
                    k
                    for k in kinds
                    if (r := ctx.results.get(k)) is None or r.version != self.analyzer(k).version(ctx)
                ]
                if todo:
                    yield video.video_id, todo
            if page.cursor is None:
                return
            cursor = page.cursor

    def _known(self, kinds: Sequence[str]) -> list[str]:
        unknown = sorted(set(kinds) - set(self.kinds))
        if unknown:
            raise NotFound(f"no analyzer {', '.join(unknown)}; known: {', '.join(self.kinds)}")
        return list(kinds)

    def request(self, video_id: str, kinds: Sequence[str], *, force: bool = False) -> None:
        detail = AnalysisRequested(video_id, tuple(self._known(kinds)), force).detail()
        self.events.publish([Event(AnalysisRequested.detail_type, detail)])
