"""One decoding pass over a video: per-frame features for shot detection, keyframe candidates, audio.

Decoding dominates ingest time, so everything that needs pixels or samples happens in this single
demux loop. Candidates for keyframes are kept as compact YUV 4:2:0 arrays at a bounded count (the
sampling stride doubles when a long video would exceed it), so memory stays flat with duration.
"""

from __future__ import annotations

from collections.abc import Callable
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
    thread_type: str = "SLICE"  # measured fastest on 2 cores (docs/BENCHMARKS.md); "AUTO" adds frame threads
    extract_audio: bool = True


@dataclass(slots=True)
class Candidate:
    frame: int
    time_s: float
    yuv: np.ndarray  # I420 layout, (h * 3 / 2, w)
    width: int
    height: int

    def bgr(self) -> np.ndarray:
        return cv2.cvtColor(self.yuv, cv2.COLOR_YUV2BGR_I420)

    def luma(self) -> np.ndarray:
        return self.yuv[: self.height]


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
        audio_chunks: list[np.ndarray] = []
        resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE) if audio_stream else None
        streams = [vs] + ([audio_stream] if audio_stream is not None else [])
        decode_errors = 0
        try:
            for packet in container.demux(*streams):
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError:
                    decode_errors += 1
                    continue
                for frame in frames:
                    if isinstance(frame, av.VideoFrame):
                        stride = state.add_video(frame, stride, config.max_candidates)
                        if progress is not None and state.n % 30 == 0:
                            progress(30)
                    elif resampler is not None and isinstance(frame, av.AudioFrame):
                        audio_chunks.extend(f.to_ndarray()[0] for f in resampler.resample(frame))
            if resampler is not None:
                audio_chunks.extend(f.to_ndarray()[0] for f in resampler.resample(None))
        except av.error.FFmpegError as exc:
            raise CorruptMedia(f"decoding failed after {state.n} frames: {exc}") from None
    if state.n == 0:
        raise CorruptMedia("no video frame could be decoded; the file is damaged or truncated")
    if expected_frames and state.n < 0.9 * expected_frames - 2:
        raise CorruptMedia(
            f"only {state.n} of {expected_frames} frames could be decoded; the file is damaged or truncated"
        )
    audio = (np.concatenate(audio_chunks).astype(np.float32) / 32768.0) if audio_chunks else None
    return ScanResult(
        frame_count=state.n,
        fps=fps,
        times=np.asarray(state.times, dtype=np.float64),
        scores=np.asarray(state.scores, dtype=np.float32),
        features=np.stack(state.features)
        if state.features
        else np.zeros((0, shotlib.FEATURE_H, shotlib.FEATURE_W), np.uint8),
        candidates=state.candidates,
        audio=audio,
        decode_errors=decode_errors,
    )


class _State:
    """Accumulates per-frame features and the bounded candidate pool during the pass."""

    def __init__(self, expected_frames: int) -> None:
        self.n = 0
        self.times: list[float] = []
        self.scores: list[float] = []
        self.features: list[np.ndarray] = []
        self.candidates: list[Candidate] = []
        self._prev: tuple[np.ndarray, np.ndarray] | None = None
        self._t0: float | None = None

    def add_video(self, frame: av.VideoFrame, stride: int, max_candidates: int) -> int:
        if frame.format.name != "yuv420p" or frame.width % 2 or frame.height % 2:
            frame = frame.reformat(width=frame.width // 2 * 2, height=frame.height // 2 * 2, format="yuv420p")
        y, u, v = (_plane(frame, i) for i in range(3))
        # Stride down to about twice the feature size first (a view, free), then area-average: this keeps
        # the feature cost flat whatever the resolution.
        step = max(1, min(y.shape[1] // (2 * shotlib.FEATURE_W), y.shape[0] // (2 * shotlib.FEATURE_H)))
        cstep = max(1, step // 2)
        small = cv2.resize(
            y[::step, ::step], (shotlib.FEATURE_W, shotlib.FEATURE_H), interpolation=cv2.INTER_AREA
        )
        half = (shotlib.FEATURE_W // 2, shotlib.FEATURE_H // 2)
        su = cv2.resize(u[::cstep, ::cstep], half, interpolation=cv2.INTER_AREA)
        sv = cv2.resize(v[::cstep, ::cstep], half, interpolation=cv2.INTER_AREA)
        hist = shotlib.histogram(small, su, sv)
        score = 0.0 if self._prev is None else shotlib.frame_score(self._prev[0], small, self._prev[1], hist)
        self._prev = (small, hist)
        t = float(frame.time) if frame.time is not None else self.n / 30.0
        if self._t0 is None:
            self._t0 = t
        self.times.append(t - self._t0)
        self.scores.append(score)
        self.features.append(small)
        if self.n % stride == 0:
            self.candidates.append(_candidate(frame, self.n, t - self._t0))
            if len(self.candidates) > max_candidates:
                self.candidates = self.candidates[::2]
                stride *= 2
        self.n += 1
        return stride


def _plane(frame: av.VideoFrame, index: int) -> np.ndarray:
    plane = frame.planes[index]
    buf: np.ndarray = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
    return buf[:, : plane.width]


def _candidate(frame: av.VideoFrame, index: int, time_s: float) -> Candidate:
    w, h = frame.width, frame.height
    scale = min(1.0, MAX_CANDIDATE_SIDE / max(w, h))
    if scale < 1.0:
        w, h = int(w * scale) // 2 * 2, int(h * scale) // 2 * 2
        frame = frame.reformat(width=w, height=h, format="yuv420p")
    yuv = np.empty((h * 3 // 2, w), np.uint8)
    y, u, v = (_plane(frame, i) for i in range(3))
    yuv[:h] = y
    yuv[h:].reshape(-1)[: u.size] = u.reshape(-1)
    yuv[h:].reshape(-1)[u.size :] = v.reshape(-1)
    return Candidate(frame=index, time_s=time_s, yuv=yuv, width=w, height=h)
