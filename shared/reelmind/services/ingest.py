"""Ingest: turn an uploaded object into a registered video with shots, keyframes and audio.

Idempotent by construction: the video id is derived from the bytes, the row is created only when
absent, work happens under a lease, derived files are written before the status says READY, and a
failure removes them before the status says FAILED. A duplicate event, a retry, or the same bytes
under another key change nothing.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from reelmind.domain import keys
from reelmind.domain.events import VideoReady
from reelmind.domain.limits import Limits, check_limits, refused_audio
from reelmind.domain.video import (
    MediaInfo,
    Video,
    VideoStatus,
    video_id_for_content,
    video_id_for_rejected_key,
)
from reelmind.errors import Busy, EmptyFile, InputError, TooLarge, TooLong, TransientError
from reelmind.files import sha256_file
from reelmind.media import encode, orient, probe, scan
from reelmind.media.keyframes import PickedKeyframe, Segmentation, segment
from reelmind.media.signals import FILENAME as SIGNALS_FILE
from reelmind.media.signals import Signals
from reelmind.ports import BlobStore, Event, EventBus, Result, ResultStore

log = logging.getLogger(__name__)

#: Seconds kept back from the caller's time to record a failure and remove what was written.
CLEANUP_S = 30.0
INGEST_VERSION = "ingest-4"  # 4: keyframes in the stream's colour space, HDR mapped to SDR; colour


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    video_id: str
    status: VideoStatus
    duplicate: bool = False
    error_code: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["status"] = self.status.value
        return out


@dataclass(frozen=True, slots=True)
class IngestConfig:
    limits: Limits
    lease_s: float = 300.0
    max_keyframes: int = 48
    scan: scan.ScanConfig = field(default_factory=scan.ScanConfig)


class IngestService:
    def __init__(
        self,
        blobs: BlobStore,
        results: ResultStore,
        events: EventBus,
        config: IngestConfig,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.blobs = blobs
        self.results = results
        self.events = events
        self.config = config
        self.clock = clock

    def handle_object_created(
        self, raw_key: str, progress: scan.Progress | None = None, *, time_left_s: float | None = None
    ) -> IngestOutcome:
        """Entry point for an S3 notification: `raw_key` is form-encoded, as S3 sends it."""
        try:
            key = keys.decode_event_key(raw_key)
        except InputError as exc:
            return self._reject(raw_key, exc)
        return self.handle_upload(key, progress, time_left_s=time_left_s)

    def handle_upload(
        self, key: str, progress: scan.Progress | None = None, *, time_left_s: float | None = None
    ) -> IngestOutcome:
        """`key` is the decoded object key. `time_left_s`: how long the caller may still run (a Lambda
        function's remaining time); a scan still going `CLEANUP_S` before that ends the video FAILED
        (`too_long`) while there is time to say so, rather than being cut off and retried."""
        deadline = None if time_left_s is None else time.monotonic() + time_left_s - CLEANUP_S
        try:
            keys.validate_upload_key(key)
        except InputError as exc:
            return self._reject(key, exc)
        info = self.blobs.head(key)
        if info is None:
            # The object was deleted (or overwritten and deleted) before we got to it: nothing to do.
            log.warning("object %r is gone; ignoring its event", key)
            return IngestOutcome(
                video_id_for_rejected_key(key),
                VideoStatus.FAILED,
                error_code="gone",
                error="the object no longer exists",
            )
        if info.size == 0:
            return self._reject(key, EmptyFile("the uploaded file is empty (0 bytes)"))
        if info.size > self.config.limits.max_bytes:
            return self._reject(
                key, TooLarge(f"the file is {info.size} bytes; the limit is {self.config.limits.max_bytes}")
            )
        with tempfile.TemporaryDirectory(prefix="reelmind-ingest-") as tmp:
            suffix = PurePosixPath(key).suffix.lower()[:8] if PurePosixPath(key).suffix else ""
            path = self.blobs.download(key, Path(tmp) / f"source{suffix}")
            sha256 = sha256_file(path)
            video_id = video_id_for_content(sha256)
            now = self.clock()
            video = Video(
                video_id=video_id,
                source_key=key,
                status=VideoStatus.PROCESSING,
                created_at=now,
                updated_at=now,
                sha256=sha256,
                title=keys.title_from_key(key),
            )
            if not self.results.create_video(video):
                existing = self.results.get_video(video_id)
                assert existing is not None
                if existing.source_key != key:
                    self.results.add_alias(video_id, key)
                if existing.status is not VideoStatus.PROCESSING:
                    log.info(
                        "video %s already %s; event for %r is a duplicate", video_id, existing.status, key
                    )
                    return IngestOutcome(
                        video_id,
                        existing.status,
                        duplicate=True,
                        error_code=existing.error_code,
                        error=existing.error,
                    )
            if not self.results.claim(video_id, self.clock(), self.config.lease_s):
                raise Busy(f"video {video_id} is being ingested by another worker; retry later")
            return self._process(video_id, path, _guarded(progress, deadline, time_left_s))

    def _process(self, video_id: str, path: Path, progress: scan.Progress | None) -> IngestOutcome:
        try:
            media = probe.probe(path)
            check_limits(media, self.config.limits)
            audio_refused = refused_audio(media, self.config.limits)
            scan_config = self.config.scan
            if audio_refused is not None:
                scan_config = replace(scan_config, extract_audio=False)
            scanned = scan.scan(path, media.frame_count, scan_config, progress, limits=self.config.limits)
            if scanned.rotation:  # the header gives the stored size; the pictures are shown turned
                width, height = orient.display_size(media.width, media.height, scanned.rotation)
                media = replace(media, width=width, height=height, rotation=scanned.rotation)
            # Compressing the signals and encoding the keyframes release the GIL: they run on a second
            # core while this thread picks the keyframes and stores what is ready.
            with ThreadPoolExecutor(max_workers=2) as pool:
                signals = Signals(scanned.times, scanned.scores, scanned.features, scanned.frames)
                signals_bytes = pool.submit(signals.to_bytes)
                seg = segment(scanned, self.config.max_keyframes)
                payload = self._write_derived(video_id, media, scanned, seg, pool, signals_bytes)
            if audio_refused is not None:
                payload["audio_refused"] = audio_refused
            self.results.put_result(Result(video_id, "ingest", INGEST_VERSION, payload, self.clock()))
            # Announce before READY: if the announcement fails the event is retried and redone; analyzers
            # are idempotent, so a second announcement is harmless while a lost one would not be.
            self.events.publish([Event(VideoReady.detail_type, VideoReady(video_id).detail())])
        except InputError as exc:
            self.blobs.delete_prefix(keys.derived_key(video_id, ""))
            self._fail(video_id, exc)
            return IngestOutcome(video_id, VideoStatus.FAILED, error_code=exc.code, error=exc.message)
        except TransientError:
            self.results.release(video_id)
            raise
        except Exception as exc:
            self.blobs.delete_prefix(keys.derived_key(video_id, ""))
            self._fail(
                video_id, exc, code="internal", message=f"ingest failed unexpectedly: {type(exc).__name__}"
            )
            raise
        self.results.transition(
            video_id,
            VideoStatus.READY,
            expected=[VideoStatus.PROCESSING],
            changes={"media": asdict(media), "updated_at": self.clock()},
        )
        return IngestOutcome(video_id, VideoStatus.READY)

    def _write_derived(
        self,
        video_id: str,
        media: MediaInfo,
        scanned: scan.ScanResult,
        seg: Segmentation,
        pool: Executor,
        signals_bytes: Future[bytes],
    ) -> dict[str, Any]:
        signals_key = keys.derived_key(video_id, SIGNALS_FILE)
        keyframes = []
        jpegs = pool.map(_keyframe_jpeg, seg.keyframes)
        for pick, jpeg in zip(seg.keyframes, jpegs, strict=True):
            c = pick.candidate
            key = keys.derived_key(video_id, "keyframes", f"{c.frame:06d}.jpg")
            self.blobs.put_bytes(key, jpeg, "image/jpeg")
            keyframes.append(
                {
                    "key": key,
                    "frame": c.frame,
                    "time_s": round(c.time_s, 3),
                    "shot": pick.shot.index,
                    "width": c.width,
                    "height": c.height,
                    "transition": pick.transition,
                    "quality": pick.quality.to_dict(),
                }
            )
        audio_key = None
        if scanned.audio is not None and len(scanned.audio):
            audio_key = keys.derived_key(video_id, "audio.wav")
            wav = encode.wav_bytes(scanned.audio, scan.AUDIO_RATE)
            self.blobs.put_bytes(audio_key, wav, "audio/wav")
        self.blobs.put_bytes(signals_key, signals_bytes.result(), "application/octet-stream")
        return {
            "media": asdict(media),
            "signals": {"key": signals_key, "frames": len(scanned.frames)},
            "frames": scanned.frame_count,
            "frames_decoded": len(scanned.frames),
            "cuts_refined": scanned.refined,
            "decode_errors": scanned.decode_errors,
            # How the pictures are coded; keyframes are SDR sRGB whatever it is (HDR mapped).
            "colour": {**asdict(scanned.space), "hdr": scanned.space.transfer != "sdr"},
            "shots": [asdict(s) for s in seg.shots],
            "keyframes": keyframes,
            "audio": None
            if audio_key is None
            else {
                "key": audio_key,
                "sample_rate": scan.AUDIO_RATE,
                "channels": 1,
                "duration_s": round(len(scanned.audio) / scan.AUDIO_RATE, 3)
                if scanned.audio is not None
                else 0.0,
            },
        }

    def _fail(
        self, video_id: str, exc: Exception, code: str | None = None, message: str | None = None
    ) -> None:
        code = code or getattr(exc, "code", "internal")
        message = message or str(exc)
        log.warning("video %s failed: %s (%s)", video_id, message, code)
        self.results.transition(
            video_id,
            VideoStatus.FAILED,
            expected=[VideoStatus.PROCESSING],
            changes={"error_code": code, "error": message, "updated_at": self.clock()},
        )

    def _reject(self, key: str, exc: InputError) -> IngestOutcome:
        """Record an upload refused before its bytes were read; keyed by the key itself."""
        video_id = video_id_for_rejected_key(key)
        now = self.clock()
        self.results.create_video(
            Video(
                video_id=video_id,
                source_key=key,
                status=VideoStatus.FAILED,
                created_at=now,
                updated_at=now,
                title=keys.title_from_key(key) if key else None,
                error_code=exc.code,
                error=exc.message,
            )
        )
        log.warning("upload %r rejected: %s (%s)", key, exc.message, exc.code)
        return IngestOutcome(video_id, VideoStatus.FAILED, error_code=exc.code, error=exc.message)


def _guarded(
    progress: scan.Progress | None, deadline: float | None, time_left_s: float | None
) -> scan.Progress | None:
    """`progress`, checking the deadline whenever the scan reports (every few dozen frames, from each
    decoder's thread, so every decoder stops soon after it passes)."""
    if deadline is None:
        return progress

    def report(frames: int) -> None:
        if time.monotonic() > deadline:
            raise TooLong(
                f"the video could not be processed in the {time_left_s:.0f} s the function had left; "
                "it is too long or too large for this deployment's limits"
            )
        if progress is not None:
            progress(frames)

    return report


def _keyframe_jpeg(pick: PickedKeyframe) -> bytes:
    # Read by analyzers, never served: Huffman optimisation would double the encoding time for 2 %.
    return encode.encode_image(pick.candidate.bgr(), "jpeg", 90, optimize=False)
