"""One decoding pass over a video: per-frame features for shot detection, keyframe candidates, audio.

Decoding dominates ingest time, so everything that needs pixels or samples happens in this single
demux loop. It runs on a thread of its own, a few frames ahead of the analysis, and the per-frame
work is kept small: a strided view of each plane is copied (a few kB) and the features, histograms
and change scores are computed a chunk of frames at a time. Candidates for keyframes keep the
decoded 4:2:0 planes themselves, without a copy, at a bounded count (the sampling stride doubles
when a long video would exceed it), so memory stays flat with duration.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np

from reelmind.errors import CorruptMedia
from reelmind.media import shots as shotlib

AUDIO_RATE = 16_000
MAX_CANDIDATE_SIDE = 1280


@dataclass(frozen=True, slots=True)
class ScanConfig:
    candidates_per_second: float = 3.0
    max_candidates: int = 160
    cut: shotlib.CutConfig = field(default_factory=shotlib.CutConfig)
    # Frame threads (slice threads where a codec has no frame threading): decoding runs on its own threads
    # while this one extracts features, and a stream with one slice per picture, which slice threads
    # leave on a single core, still decodes on all of them. See docs/BENCHMARKS.md.
    thread_type: str = "AUTO"
    extract_audio: bool = True


@dataclass(slots=True)
class Candidate:
    frame: int
    time_s: float
    planes: tuple[np.ndarray, np.ndarray, np.ndarray]  # Y, U, V (4:2:0) views of the decoded frame
    width: int
    height: int

    def bgr(self) -> np.ndarray:
        y, u, v = self.planes
        h = self.height
        yuv = np.empty((h * 3 // 2, self.width), np.uint8)  # I420 layout
        yuv[:h] = y
        yuv[h:].reshape(-1)[: u.size] = u.reshape(-1)
        yuv[h:].reshape(-1)[u.size :] = v.reshape(-1)
        return cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420)

    def luma(self) -> np.ndarray:
        return self.planes[0]


@dataclass(slots=True)
class ScanResult:
    frame_count: int
    fps: float
    times: np.ndarray  # seconds, per decoded frame
    scores: np.ndarray  # difference from the previous frame, per frame
    features: np.ndarray  # (frames, FEATURE_H, FEATURE_W) uint8 luma thumbnails
    candidates: list[Candidate]
    audio: np.ndarray | None  # float32 mono at AUDIO_RATE
    decode_errors: int


Progress = Callable[[int], None]


def scan(
    path: Path, expected_frames: int, config: ScanConfig | None = None, progress: Progress | None = None
) -> ScanResult:
    config = config or ScanConfig()
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise CorruptMedia(f"the file could not be opened for decoding: {exc}") from None
    with container:
        vs = container.streams.video[0]
        vs.thread_type = config.thread_type
        audio_stream = (
            container.streams.audio[0] if (config.extract_audio and container.streams.audio) else None
        )
        fps = float(vs.average_rate or vs.guessed_rate or 25)
        stride = max(1, round(fps / config.candidates_per_second))
        state = _State(expected_frames)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE) if audio_stream else None
        streams = [vs] + ([audio_stream] if audio_stream is not None else [])
        decoder = _Decoder(container, streams, resampler)
        decoder.start()
        try:
            while (frame := decoder.next_frame()) is not None:
                stride = state.add_video(frame, stride, config.max_candidates)
                if progress is not None and state.n % 30 == 0:
                    progress(30)
        except av.error.FFmpegError as exc:
            raise CorruptMedia(f"decoding failed after {state.n} frames: {exc}") from None
        finally:
            decoder.stop()
        decode_errors, audio_chunks = decoder.errors, decoder.audio
    if state.n == 0:
        raise CorruptMedia("no video frame could be decoded; the file is damaged or truncated")
    if expected_frames and state.n < 0.9 * expected_frames - 2:
        raise CorruptMedia(
            f"only {state.n} of {expected_frames} frames could be decoded; the file is damaged or truncated"
        )
    features, scores = state.features.result()
    audio = (np.concatenate(audio_chunks).astype(np.float32) / 32768.0) if audio_chunks else None
    return ScanResult(
        frame_count=state.n,
        fps=fps,
        times=np.asarray(state.times, dtype=np.float64),
        scores=scores,
        features=features,
        candidates=state.candidates,
        audio=audio,
        decode_errors=decode_errors,
    )


class _Decoder:
    """Demuxes and decodes on a thread of its own, a few frames ahead of the thread that analyses them.

    PyAV releases the GIL while FFmpeg decodes, so decoding goes on while the analysing thread works on
    earlier frames or waits for a core, instead of stopping whenever that thread is busy. Audio is
    resampled here too. Errors are handed over and raised by `next_frame`.
    """

    AHEAD = 32  # frames decoded before the analysing thread must take one

    def __init__(
        self,
        container: av.container.InputContainer,
        streams: Sequence[av.stream.Stream],
        resampler: av.AudioResampler | None,
    ) -> None:
        self.errors = 0  # packets the decoder rejected
        self.audio: list[np.ndarray] = []
        self._container, self._streams, self._resampler = container, streams, resampler
        self._queue: queue.Queue[av.VideoFrame | BaseException | None] = queue.Queue(self.AHEAD)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scan-decode", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def next_frame(self) -> av.VideoFrame | None:
        """The next video frame in presentation order, or None at the end."""
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def stop(self) -> None:
        """Stop early if the analysis failed, and wait for the thread: the container is closed next."""
        self._stopping.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)  # unblock a thread waiting to hand over a frame
        self._thread.join()

    def _run(self) -> None:
        try:
            for packet in self._container.demux(*self._streams):
                if self._stopping.is_set():
                    return
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError:
                    self.errors += 1
                    continue
                for frame in frames:
                    if isinstance(frame, av.VideoFrame):
                        self._queue.put(frame)
                    elif self._resampler is not None and isinstance(frame, av.AudioFrame):
                        self.audio.extend(f.to_ndarray()[0] for f in self._resampler.resample(frame))
            if self._resampler is not None:
                self.audio.extend(f.to_ndarray()[0] for f in self._resampler.resample(None))
        except BaseException as exc:  # handed to the analysing thread, which raises it
            self._queue.put(exc)
        else:
            self._queue.put(None)


class _State:
    """Accumulates per-frame features and the bounded candidate pool during the pass."""

    def __init__(self, expected_frames: int) -> None:
        self.n = 0
        self.times: list[float] = []
        self.features = _Features()
        self.candidates: list[Candidate] = []
        self._t0: float | None = None

    def add_video(self, frame: av.VideoFrame, stride: int, max_candidates: int) -> int:
        if frame.format.name != "yuv420p" or frame.width % 2 or frame.height % 2:
            frame = frame.reformat(width=frame.width // 2 * 2, height=frame.height // 2 * 2, format="yuv420p")
        planes = _planes(frame)
        self.features.add(*planes)
        t = float(frame.time) if frame.time is not None else self.n / 30.0
        if self._t0 is None:
            self._t0 = t
        self.times.append(t - self._t0)
        if self.n % stride == 0:
            self.candidates.append(_candidate(frame, planes, self.n, t - self._t0))
            if len(self.candidates) > max_candidates:
                self.candidates = self.candidates[::2]
                stride *= 2
        self.n += 1
        return stride


class _Features:
    """Per-frame luma thumbnails, chroma histograms and change scores, computed a chunk of frames at a time.

    Each frame only contributes a strided view of its planes (a few kB copied); the area averaging,
    histograms and scores then run vectorised over the chunk, which costs far less per frame than doing
    them frame by frame. The results are the same as `cv2.resize(..., INTER_AREA)` per frame followed by
    `shots.histogram` and `shots.frame_score`.
    """

    CHUNK = 64

    def __init__(self) -> None:
        self.features: list[np.ndarray] = []  # chunks of (k, FEATURE_H, FEATURE_W) uint8
        self.scores: list[np.ndarray] = []  # chunks of (k,) float64
        self._y: list[np.ndarray] = []
        self._u: list[np.ndarray] = []
        self._v: list[np.ndarray] = []
        self._prev: tuple[np.ndarray, np.ndarray] | None = None  # last frame's feature and histogram

    def add(self, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
        # Stride down to about twice the feature size first (a view, free), then area-average: this keeps
        # the feature cost flat whatever the resolution.
        fw, fh = shotlib.FEATURE_W, shotlib.FEATURE_H
        step = max(1, min(y.shape[1] // (2 * fw), y.shape[0] // (2 * fh)))
        cstep = max(1, step // 2)
        sy, su, sv = y[::step, ::step], u[::cstep, ::cstep], v[::cstep, ::cstep]
        if self._y and (sy.shape != self._y[0].shape or su.shape != self._u[0].shape):
            self.flush()  # the frame size changed mid-stream
        self._y.append(sy.copy())
        self._u.append(su.copy())
        self._v.append(sv.copy())
        if len(self._y) >= self.CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self._y:
            return
        fw, fh = shotlib.FEATURE_W, shotlib.FEATURE_H
        small = _area(np.stack(self._y), fw, fh)
        su = _area(np.stack(self._u), fw // 2, fh // 2)
        sv = _area(np.stack(self._v), fw // 2, fh // 2)
        self._y, self._u, self._v = [], [], []
        hists = shotlib.histograms(small, su, sv)
        if self._prev is None:
            scores = shotlib.frame_scores(small, hists)
        else:
            scores = shotlib.frame_scores(
                np.concatenate([self._prev[0][None], small]), np.concatenate([self._prev[1][None], hists])
            )[1:]
        self._prev = (small[-1], hists[-1])
        self.features.append(small)
        self.scores.append(scores)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        self.flush()
        if not self.features:
            return np.zeros((0, shotlib.FEATURE_H, shotlib.FEATURE_W), np.uint8), np.zeros(0, np.float32)
        return np.concatenate(self.features), np.concatenate(self.scores).astype(np.float32)


def _area(planes: np.ndarray, width: int, height: int) -> np.ndarray:
    """`cv2.resize(p, (width, height), interpolation=cv2.INTER_AREA)` of every plane in (n, h, w).

    An exact integer shrink (the usual case: 16:9 frames stride to twice the feature size) is a block
    mean done for all planes at once, rounded as OpenCV rounds it; any other ratio goes plane by plane
    through OpenCV.
    """
    h, w = planes.shape[1:]
    if h % height or w % width:
        return np.stack([cv2.resize(p, (width, height), interpolation=cv2.INTER_AREA) for p in planes])
    fy, fx = h // height, w // width
    if fy == fx == 1:
        return planes
    wide = planes.astype(np.uint32)
    rows = wide[:, 0::fy].copy()
    for k in range(1, fy):
        rows += wide[:, k::fy]
    sums = rows[:, :, 0::fx].copy()
    for k in range(1, fx):
        sums += rows[:, :, k::fx]
    if fy == fx == 2:  # OpenCV's 2x2 path rounds halves up; its other integer shrinks round to even
        out: np.ndarray = ((sums + 2) >> 2).astype(np.uint8)
    else:
        out = np.rint(sums * (1.0 / (fy * fx))).astype(np.uint8)
    return out


def _planes(frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of a yuv420p frame's Y, U and V planes, without their row padding."""
    out = []
    for plane in frame.planes:  # `planes` builds new objects at every access: read it once
        buf: np.ndarray = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
        out.append(buf[:, : plane.width])
    y, u, v = out
    return y, u, v


def _candidate(
    frame: av.VideoFrame, planes: tuple[np.ndarray, np.ndarray, np.ndarray], index: int, time_s: float
) -> Candidate:
    w, h = frame.width, frame.height
    scale = min(1.0, MAX_CANDIDATE_SIDE / max(w, h))
    if scale < 1.0:
        w, h = int(w * scale) // 2 * 2, int(h * scale) // 2 * 2
        planes = _planes(frame.reformat(width=w, height=h, format="yuv420p"))
    # Views, not copies: they keep the decoded frame alive, and the decoder hands out a fresh buffer for
    # every frame, so the pixels stay as decoded. Thinning the pool releases the frames it drops.
    return Candidate(frame=index, time_s=time_s, planes=planes, width=w, height=h)
