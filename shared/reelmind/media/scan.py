"""Decoding a video for analysis: per-sample features, hard cuts to the frame, keyframe candidates, audio.

Decoding dominates ingest, so the scan decodes as little as it can, on every core:

- The decoder skips disposable frames (`skip_frame=NONREF`): the B-frames no other frame is predicted
  from, about half of a typical H.264 or HEVC stream, are dropped before any work is done on them.
  What is decoded is a dense sample of the video (all of it where the stream has no B-frames), and
  every later analysis (transitions, quality, originality, OCR) reads that sample by its times.
- A hard cut between two samples that are more than a frame apart is then located to the frame by
  decoding just the frames between them (`_refine`). Encoders that start a new group of pictures at
  a scene change (x264 does) put the cut on a sample already. Those that do not (hardware encoders
  with a fixed key frame interval) code the first reference picture after a cut far larger than the
  ones before it: the H.264 and HEVC decoders then decode the skipped frames shown just before that
  picture after all (`_Jumps`), so the cut is found in the same pass; only a cut this misses is
  decoded again.
- The stream is cut at key frames into units, decoded side by side by single-threaded decoders, one
  per core, each on its own thread (FFmpeg releases the GIL): unlike frame threads, no hand-over
  between threads for every frame. Each decoder starts on a run of units of its own; one that is
  done takes over the back half of the largest run not yet decoded (`_Work`), so decoders finish
  together although pictures differ several-fold in what they cost. A stream with too few key
  frames to cut is decoded by one decoder with frame threads.
- The audio track is decoded and resampled on another thread.

Frame numbers are positions in presentation order, taken from an index of every packet's timestamp
(a demux without decoding, a few milliseconds), so they are exact whatever was skipped. Files whose
packets carry no usable timestamps are decoded frame by frame, every frame, in one part.

Memory stays flat with duration: each frame contributes a strided view of its planes (a few kB
copied) that is reduced a chunk at a time, and keyframe candidates keep decoded planes without a copy
at a bounded count (the sampling stride doubles when a long video would exceed it).

Features are of the pictures as stored. Candidates know the display matrix's turn and hand out upright
pictures (`reelmind.media.orient`: a phone's portrait video is stored on its side). Streams deeper
than 8 bits (10-bit HDR from phones) are reduced from the top 8 bits of their planes; only candidates
are converted by FFmpeg.
"""

from __future__ import annotations

import os
import statistics
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from reelmind.domain.limits import Limits
from reelmind.errors import CorruptMedia, FrameTooLarge, TooLong
from reelmind.media import colour, orient
from reelmind.media import shots as shotlib
from reelmind.media.frames import FrameQuality, frame_quality
from reelmind.media.probe import open_for_decoding, video_stream
from reelmind.media.resize import shrink

AUDIO_RATE = 16_000
AUDIO_SLACK_S = 1.0  # audio kept past the last picture
MAX_CANDIDATE_SIDE = 1280
#: Decoders that read `skip_frame` for every picture, so it can change from one packet to the next.
SKIP_PER_PICTURE = frozenset({"h264", "hevc"})
MAX_ERROR_SHARE = 0.1  # more of the decoded packets rejected than this, and the file counts as damaged


@dataclass(frozen=True, slots=True)
class ScanConfig:
    candidates_per_second: float = 3.0
    max_candidates: int = 160
    cut: shotlib.CutConfig = field(default_factory=shotlib.CutConfig)
    # Decode only the frames other frames reference; cuts between samples are then refined to the frame.
    skip_disposable: bool = True
    # Where a reference picture is coded this many times larger than the median of those before it,
    # decode the skipped frames shown before it too (0: never; cuts are then all refined afterwards).
    jump_ratio: float = 2.5
    # Decoders side by side (0: one per available core), sharing out the stream cut at key frames into
    # units at least `min_part_s` long (see `_Work`).
    parts: int = 0
    min_part_s: float = 2.0
    extract_audio: bool = True


@dataclass(slots=True)
class Candidate:
    frame: int  # position in presentation order
    sample: int  # position among the decoded samples
    time_s: float
    planes: tuple[np.ndarray, np.ndarray, np.ndarray]  # Y, U, V (4:2:0) views of the decoded frame
    coded_width: int  # of the planes, as decoded
    coded_height: int
    rotation: int  # the display matrix's turn (see `reelmind.media.orient`)
    quality: FrameQuality  # of the upright picture, measured on the part's thread beside the other parts
    space: colour.YuvSpace = colour.OPENCV_SPACE  # the stream's YUV matrix, range and transfer (HDR)
    mirror: bool = False  # flipped left to right once turned (see `reelmind.media.orient`)

    @property
    def width(self) -> int:
        """As shown, upright."""
        return orient.display_size(self.coded_width, self.coded_height, self.rotation)[0]

    @property
    def height(self) -> int:
        return orient.display_size(self.coded_width, self.coded_height, self.rotation)[1]

    def bgr(self) -> np.ndarray:
        """The picture, upright."""
        return orient.upright(colour.i420_to_bgr(*self.planes, self.space), self.rotation, self.mirror)

    def luma(self) -> np.ndarray:
        """The luma plane, upright."""
        return orient.upright(self.planes[0], self.rotation, self.mirror)


@dataclass(slots=True)
class ScanResult:
    frame_count: int  # frames in the stream
    fps: float
    frame_times: np.ndarray  # seconds from the first frame, per frame in presentation order
    frames: np.ndarray  # int64 frame number of each decoded sample, increasing
    times: np.ndarray  # seconds, per sample
    scores: np.ndarray  # difference from the previous sample, per sample
    features: np.ndarray  # (samples, FEATURE_H, FEATURE_W) uint8 luma thumbnails
    cuts: list[int]  # frames that start a new shot after a hard cut, each located to the frame
    refined: int  # cuts that had to be located by decoding the frames between two samples
    candidates: list[Candidate]
    audio: np.ndarray | None  # float32 mono at AUDIO_RATE
    decode_errors: int
    parts: int  # how many decoders ran side by side
    rotation: int  # the display matrix's turn of the pictures (see `reelmind.media.orient`)
    space: colour.YuvSpace = colour.OPENCV_SPACE  # YUV matrix, range and transfer the stream is tagged with

    @property
    def sample_rate(self) -> float:
        """Samples per second: the frame rate where every frame was decoded."""
        n = len(self.times)
        span = float(self.times[-1] - self.times[0]) if n > 1 else 0.0
        return (n - 1) / span if span > 0 else self.fps

    def sample_at(self, frame: int) -> int:
        """The last sample at or before `frame`."""
        return max(0, int(np.searchsorted(self.frames, frame, side="right")) - 1)


Progress = Callable[[int], None]


def scan(
    path: Path,
    expected_frames: int,
    config: ScanConfig | None = None,
    progress: Progress | None = None,
    *,
    limits: Limits | None = None,
) -> ScanResult:
    """`expected_frames` is what the header says (0: unknown). A header can lie: with `limits`, a file
    holding more frames, or frames spanning longer, than they allow raises TooLong before anything is
    decoded (without timestamps to count them by, as soon as decoding passes the frame limit), and a
    picture larger than they allow (the frame size can change mid-stream) raises FrameTooLarge when it
    is decoded."""
    config = config or ScanConfig()
    fps, has_audio, index = _open(path, expected_frames, limits)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="scan-audio") as pool:
        keep = _audio_span(index, fps, expected_frames)
        audio = pool.submit(_audio, path, keep) if (config.extract_audio and has_audio) else None
        parts, decoders = _decode(path, index, fps, config, _Progress(progress), limits)
        track = audio.result() if audio is not None else None
    samples = _merge(parts, config.max_candidates)
    frame_times = _frame_times(parts, samples, index, expected_frames)
    times = frame_times[samples.frames]
    for c in samples.candidates:
        c.time_s = float(times[c.sample])
    scores = shotlib.frame_scores(samples.features, samples.hists).astype(np.float32)
    cut_config = _per_sample(config.cut, samples.frames)
    cuts, refined = _locate_cuts(path, index, samples.frames, scores, cut_config, config.parts or _cores())
    return ScanResult(
        frame_count=len(frame_times),
        fps=fps,
        frame_times=frame_times,
        frames=samples.frames,
        times=times,
        scores=scores,
        features=samples.features,
        cuts=cuts,
        refined=refined,
        candidates=samples.candidates,
        audio=track,
        decode_errors=sum(p.errors for p in parts),
        parts=decoders,
        rotation=next((p.rotation for p in parts if p.rotation is not None), 0),
        space=next((p.space for p in parts if p.space is not None), colour.OPENCV_SPACE),
    )


def _open(path: Path, expected_frames: int, limits: Limits | None) -> tuple[float, bool, _Index | None]:
    """Frame rate, whether there is audio, and the packet index (None where it cannot number frames)."""
    try:
        with open_for_decoding(path) as container:
            vs = video_stream(container)
            fps = float(vs.average_rate or vs.guessed_rate or 25)
            has_audio = bool(container.streams.audio)
            index = _Index.build(container, vs)
    except av.error.FFmpegError as exc:
        raise CorruptMedia(f"the file could not be read: {exc}") from None
    if index is not None and expected_frames and index.count < 0.9 * expected_frames - 2:
        raise CorruptMedia(
            f"only {index.count} of {expected_frames} frames are in the file; it is damaged or truncated"
        )
    if index is not None and limits is not None:
        if index.count > limits.max_frames:
            raise _too_many(index.count, limits.max_frames)
        span = float(index.pts[-1] - index.pts[0]) * float(index.time_base)
        if span > limits.max_duration_s:
            raise TooLong(
                f"the pictures span {span:.1f} s (whatever the header says); "
                f"the limit is {limits.max_duration_s:.0f} s"
            )
    return fps, has_audio, index


def _too_many(frames: int | None, max_frames: int) -> TooLong:
    """`frames` None: counted while decoding, which stops past the limit."""
    held = f"{frames} frames" if frames is not None else f"more than {max_frames} frames"
    return TooLong(f"the file holds {held} (whatever its header says); the limit is {max_frames}")


def _decode(
    path: Path,
    index: _Index | None,
    fps: float,
    config: ScanConfig,
    report: _Progress,
    limits: Limits | None,
) -> tuple[list[_Part], int]:
    """The parts the decoders produced side by side, and how many decoders there were; one decoder
    from the start if seeking is not exact."""
    stride = max(1, round(fps / config.candidates_per_second))
    size = (limits.max_width, limits.max_height) if limits is not None else None
    work = _Work.plan(index, fps, config)
    if work is not None:
        cap = max(8, config.max_candidates // work.decoders)
        with ThreadPoolExecutor(max_workers=work.decoders, thread_name_prefix="scan") as pool:
            jobs = [
                pool.submit(_decoder, path, work, w, config, lambda: _Part(stride, cap, fps, size), report)
                for w in range(work.decoders)
            ]
            try:
                return [part for job in jobs for part in job.result()], work.decoders
            except _SeekMissed:
                pass
        report.reset()
    whole = _Part(stride, config.max_candidates, fps, size)
    max_frames = limits.max_frames if limits is not None else None
    return [_decode_whole(path, index, config, whole, report, max_frames)], 1


def _frame_times(
    parts: Sequence[_Part], samples: _Samples, index: _Index | None, expected_frames: int
) -> np.ndarray:
    """Seconds from the first frame, per frame; raises CorruptMedia for what decoding showed damaged."""
    decoded, errors = sum(p.packets for p in parts), sum(p.errors for p in parts)
    if len(samples.frames) == 0:
        raise CorruptMedia("no video frame could be decoded; the file is damaged or truncated")
    if errors > MAX_ERROR_SHARE * max(1, decoded):
        raise CorruptMedia(f"{errors} of {decoded} video packets could not be decoded; the file is damaged")
    if index is not None:
        return index.times()
    # Without an index every frame was decoded, numbered as it came.
    if expected_frames and len(samples.frames) < 0.9 * expected_frames - 2:
        raise CorruptMedia(
            f"only {len(samples.frames)} of {expected_frames} frames could be decoded; "
            "the file is damaged or truncated"
        )
    out: np.ndarray = samples.times - samples.times[0]
    return out


# --- the packet index and the units decoders share ---


@dataclass(frozen=True, slots=True)
class _Key:
    """A key frame: where a part's decoder can start."""

    pts: int
    frame: int  # its position in presentation order
    leading: bool  # packets after it in decode order show before it (an open GOP): they need it decoded


@dataclass(frozen=True, slots=True)
class _Index:
    pts: np.ndarray  # int64, every video packet's timestamp, in presentation order
    keys: list[_Key]  # in decode order
    time_base: Fraction
    positions: dict[int, int]  # timestamp -> frame number: looked up for every decoded frame

    @property
    def count(self) -> int:
        return len(self.pts)

    @classmethod
    def build(cls, container: av.container.InputContainer, vs: av.VideoStream) -> _Index | None:
        """Every packet's timestamps, read without decoding; None where they cannot number the frames
        (missing or repeated timestamps, as in some raw streams), which are then decoded in order."""
        decode_order: list[int] = []
        key_at: list[int] = []  # positions in decode order
        for packet in container.demux(vs):
            if packet.size == 0:
                continue
            if packet.pts is None:
                return None
            if packet.is_keyframe:
                key_at.append(len(decode_order))
            decode_order.append(int(packet.pts))
        if not decode_order or not key_at or vs.time_base is None:
            return None
        order = np.asarray(decode_order, np.int64)
        pts = np.sort(order)
        if np.any(np.diff(pts) == 0):
            return None
        # The smallest timestamp after each position in decode order: a key frame followed by a smaller
        # one has leading pictures.
        after = np.minimum.accumulate(np.append(order, np.iinfo(np.int64).max)[::-1])[::-1][1:]
        keys = [
            _Key(int(order[i]), int(np.searchsorted(pts, order[i])), bool(after[i] < order[i]))
            for i in key_at
        ]
        return cls(pts, keys, Fraction(vs.time_base), {int(p): i for i, p in enumerate(pts)})

    def times(self) -> np.ndarray:
        out: np.ndarray = (self.pts - self.pts[0]).astype(np.float64) * float(self.time_base)
        return out

    def frame_of(self, pts: int | None) -> int:
        """The frame a decoded picture's timestamp belongs to, or -1 for one not in the index."""
        return -1 if pts is None else self.positions.get(pts, -1)


_Span = tuple[_Key | None, _Key | None]  # [from this key frame, to the next one's)


class _Work:
    """The stream cut at key frames into units (runs at least `min_part_s` long), shared out among
    decoders that run side by side.

    Each decoder owns a range of consecutive units and decodes it front to back, taking each unit as it
    reaches the unit's key frame, so it never seeks within its range. A decoder whose range is done
    takes the back half of the range with the most units nobody has taken yet (a seek), and so on:
    pictures cost very different amounts to decode, and the decoders still finish within about one
    unit of each other, without knowing the costs in advance.
    """

    def __init__(self, index: _Index, splits: list[_Key], ranges: list[int]) -> None:
        self.index = index
        self.splits = splits  # the key frames units 1, 2, ... begin at; unit 0 begins the stream
        self.decoders = len(ranges) - 1
        self._lock = threading.Lock()
        self._next = ranges[:-1]  # per range: its first unit not taken yet
        self._end = ranges[1:]  # per range: one past its last unit

    @classmethod
    def plan(cls, index: _Index | None, fps: float, config: ScanConfig) -> _Work | None:
        """Units, and a first range of about as many frames for each decoder; None where one decoder
        does it all (no exact timestamps, or too few key frames far enough apart)."""
        wanted = config.parts or _cores()
        if index is None or wanted < 2:
            return None
        shortest = max(1, round(config.min_part_s * fps))
        splits: list[_Key] = []
        for key in sorted(index.keys, key=lambda k: k.frame):
            previous = splits[-1].frame if splits else 0
            if key.frame - previous >= shortest and index.count - key.frame >= shortest:
                splits.append(key)
        decoders = min(wanted, len(splits) + 1)
        if decoders < 2:
            return None
        starts = [0, *(k.frame for k in splits)]
        firsts = {
            min(range(len(starts)), key=lambda u: abs(starts[u] - j * index.count / decoders))
            for j in range(decoders)
        }
        return cls(index, splits, [*sorted(firsts), len(starts)]) if len(firsts) > 1 else None

    def span(self, unit: int) -> _Span:
        """Where unit `unit` begins (None: with the stream) and where the next one begins (None: the end)."""
        lo = self.splits[unit - 1] if unit > 0 else None
        return lo, self.splits[unit] if unit < len(self.splits) else None

    def first(self, decoder: int) -> tuple[int, int] | None:
        """The decoder's own range, its first unit taken: (range, unit); None if it starts empty."""
        with self._lock:
            if self._next[decoder] >= self._end[decoder]:
                return None
            unit = self._next[decoder]
            self._next[decoder] += 1
            return decoder, unit

    def take(self, r: int, unit: int) -> bool:
        """Range r's decoder has reached the key frame of `unit`: whether the unit is still its own."""
        with self._lock:
            if unit < self._end[r]:
                self._next[r] = unit + 1
                return True
            return False

    def steal(self) -> tuple[int, int] | None:
        """A new range made of the back half of the largest range not yet taken, its first unit taken:
        (range, unit); None when every unit is taken."""
        with self._lock:
            r = max(range(len(self._next)), key=lambda i: self._end[i] - self._next[i])
            left = self._end[r] - self._next[r]
            if left <= 0:
                return None
            cut = self._end[r] - (left + 1) // 2
            self._next.append(cut + 1)
            self._end.append(self._end[r])
            self._end[r] = cut
            return len(self._next) - 1, cut


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# --- decoding a part ---


class _SeekMissed(Exception):
    """Seeking landed after the key frame a part starts at."""


class _Progress:
    """Frames decoded so far, reported from the parts' threads in steps of `STEP`."""

    STEP = 30

    def __init__(self, callback: Progress | None) -> None:
        self._callback, self._lock, self._pending = callback, threading.Lock(), 0

    def add(self, frames: int) -> None:
        if self._callback is None:
            return
        with self._lock:
            self._pending += frames
            if self._pending >= self.STEP:
                self._callback(self._pending)
                self._pending = 0

    def reset(self) -> None:
        with self._lock:
            self._pending = 0


def _decoder(
    path: Path,
    work: _Work,
    decoder: int,
    config: ScanConfig,
    new_part: Callable[[], _Part],
    report: _Progress,
) -> list[_Part]:
    """One of the decoders side by side: its own range of units, then ranges taken from the others."""
    parts: list[_Part] = []
    try:
        with open_for_decoding(path) as container:
            cc = video_stream(container).codec_context
            cc.thread_count = 1  # the decoders are the threads, and `skip_frame` then applies per packet
            if config.skip_disposable:
                cc.skip_frame = "NONREF"
            claim = work.first(decoder) or work.steal()
            while claim is not None:
                parts.append(new_part())
                _decode_range(container, work, *claim, config, parts[-1], report)
                claim = work.steal()
    except av.error.FFmpegError as exc:
        decoded = sum(p.count for p in parts)
        raise CorruptMedia(f"decoding failed after {decoded} frames: {exc}") from None
    return parts


def _decode_range(
    container: av.container.InputContainer,
    work: _Work,
    r: int,
    unit: int,
    config: ScanConfig,
    part: _Part,
    report: _Progress,
) -> None:
    """Decode range r from `unit` on into `part`, going on into each next unit while it is still the
    range's when its key frame comes.

    A range that ends at an open-GOP key frame decodes that key frame too, for the leading pictures
    shown before it; they belong to this range, and the next range drops what it cannot decode of them.
    """
    vs = video_stream(container)
    cc = vs.codec_context
    jumps = None
    if config.skip_disposable and config.jump_ratio > 0 and cc.name in SKIP_PER_PICTURE:
        jumps = _Jumps(config.jump_ratio)
    lo, hi = work.span(unit)
    if lo is not None:
        cc.flush_buffers()  # after another range: forget its pictures
        container.seek(lo.pts, stream=vs, backward=True, any_frame=False)
    first, passed = True, False
    for packet in container.demux(vs):
        if packet.size == 0:
            continue
        if first and lo is not None and (packet.pts is None or packet.pts > lo.pts):
            raise _SeekMissed
        first = False
        if hi is not None and packet.pts is not None:
            if packet.pts == hi.pts and not passed:
                if work.take(r, unit + 1):
                    unit += 1
                    hi = work.span(unit)[1]
                elif hi.leading:
                    passed = True
                else:
                    break
            elif passed and packet.pts > hi.pts:
                break
        if jumps is not None:
            cc.skip_frame = "DEFAULT" if jumps.decode_all(packet) else "NONREF"
        _feed(cc, packet, part, work.index, lo, hi, report)
    _feed(cc, None, part, work.index, lo, hi, report)
    part.flush()


def _decode_whole(
    path: Path,
    index: _Index | None,
    config: ScanConfig,
    part: _Part,
    report: _Progress,
    max_frames: int | None,
) -> _Part:
    """The whole stream by one decoder with frame threads; without an index every frame is decoded,
    so the count of decoded frames is held to `max_frames`."""
    try:
        with open_for_decoding(path) as container:
            vs = video_stream(container)
            vs.thread_type = "AUTO"
            if config.skip_disposable and index is not None:
                vs.codec_context.skip_frame = "NONREF"
            for packet in container.demux(vs):
                if packet.size:
                    _feed(vs.codec_context, packet, part, index, None, None, report)
                if max_frames is not None and part.count > max_frames:
                    raise _too_many(None, max_frames)
            _feed(vs.codec_context, None, part, index, None, None, report)
    except av.error.FFmpegError as exc:
        raise CorruptMedia(f"decoding failed after {part.count} frames: {exc}") from None
    if max_frames is not None and part.count > max_frames:  # the last few come out of the threads
        raise _too_many(None, max_frames)
    part.flush()
    return part


def _feed(
    cc: av.VideoCodecContext,
    packet: av.Packet[av.VideoStream] | None,
    part: _Part,
    index: _Index | None,
    lo: _Key | None,
    hi: _Key | None,
    report: _Progress,
) -> None:
    """One packet into the decoder (None: drain it), what comes out into the part."""
    if packet is not None:
        part.packets += 1
    try:
        decoded = cc.decode(packet)
    except av.error.InvalidDataError:
        part.errors += 1
        return
    report.add(_take(part, decoded, index, lo, hi))


class _Jumps:
    """Which packets to decode whole although disposable: those shown between the last picture that was
    furthest ahead in presentation order and a new one coded much larger than the recent ones.

    In decode order an encoder sends the next reference picture ahead (an I or P-frame, or HEVC's
    equivalent) before the B-frames shown before it. Where the picture changed completely between
    the two references, the new one cannot be predicted from the old and comes out several times its
    usual size; the cut is then among the B-frames that follow it in decode order, and decoding them
    (with the references they need, already decoded) puts a sample on each side of it. Bursts of
    motion also grow a picture; they only cost the few frames decoded for nothing. Key frames are
    always large and say nothing. Needs a decoder that reads `skip_frame` per picture, single-threaded.
    """

    WINDOW = 16  # reference pictures whose median size is the usual one
    MIN_SEEN = 4

    def __init__(self, ratio: float) -> None:
        self._ratio = ratio
        self._sizes: deque[int] = deque(maxlen=self.WINDOW)
        self._front: int | None = None
        self._span: tuple[int, int] | None = None

    def decode_all(self, packet: av.Packet[av.VideoStream]) -> bool:
        pts = packet.pts
        if pts is None:
            return False
        if self._front is not None and pts <= self._front:
            return self._span is not None and self._span[0] < pts < self._span[1]
        previous, self._front, self._span = self._front, pts, None
        if not packet.is_keyframe:
            size = packet.size
            if (
                previous is not None
                and len(self._sizes) >= self.MIN_SEEN
                and size > self._ratio * statistics.median(self._sizes)
            ):
                self._span = (previous, pts)
            self._sizes.append(size)
        return False  # a picture ahead of every other is a reference: decoded anyway


def _take(
    part: _Part, frames: Iterable[av.VideoFrame], index: _Index | None, lo: _Key | None, hi: _Key | None
) -> int:
    taken = 0
    for frame in frames:
        if index is None:
            number = part.count
            t = float(frame.time) if frame.time is not None else number / part.fps
        else:
            number = index.frame_of(frame.pts)
            if (
                number < 0
                or (lo is not None and number < lo.frame)
                or (hi is not None and number >= hi.frame)
            ):
                continue  # outside this part (another part's, or a leading picture it cannot decode)
            t = 0.0
        part.add(frame, number, t)
        taken += 1
    return taken


class _Part:
    """The samples of one part: frame numbers, reduced planes, and a bounded pool of candidates."""

    CHUNK = 64

    def __init__(
        self, stride: int, max_candidates: int, fps: float, max_size: tuple[int, int] | None = None
    ) -> None:
        self.fps = fps  # for frames without timestamps
        self.max_size = max_size  # (width, height) no picture may exceed, as coded
        self.rotation: int | None = None  # of the first frame; a stream has one display matrix
        self.mirror = False
        self.space: colour.YuvSpace | None = None  # of the first frame too
        self.packets = self.errors = self.count = 0
        self.frames: list[int] = []
        self.times: list[float] = []  # only where frames are numbered as they come
        self.small: list[np.ndarray] = []  # chunks of (k, FEATURE_H, FEATURE_W) uint8
        self.hists: list[np.ndarray] = []  # chunks of (k, 3 * HIST_BINS) float32
        self.candidates: list[Candidate] = []
        self.stride, self._max, self._next = stride, max_candidates, 0
        self._y: list[np.ndarray] = []
        self._u: list[np.ndarray] = []
        self._v: list[np.ndarray] = []

    def add(self, frame: av.VideoFrame, number: int, time_s: float) -> None:
        if self.max_size is not None and (frame.width > self.max_size[0] or frame.height > self.max_size[1]):
            raise FrameTooLarge(
                f"a frame in the file is {frame.width}x{frame.height} (whatever its header says); "
                f"the limit is {self.max_size[0]}x{self.max_size[1]}"
            )
        if self.rotation is None:
            self.rotation, self.mirror = orient.orientation_of(frame)
            self.space = colour.YuvSpace.of(frame)
        strided, converted = _sample_planes(frame)
        self._reduce(*strided)
        if number >= self._next:
            frame, planes = converted or _converted(frame)
            self.candidates.append(_candidate(frame, planes, number, self.rotation, self.mirror))
            self._next = number + self.stride
            if len(self.candidates) > self._max:
                self.candidates, self.stride = self.candidates[::2], self.stride * 2
        self.frames.append(number)
        self.times.append(time_s)
        self.count += 1

    def _reduce(self, sy: np.ndarray, su: np.ndarray, sv: np.ndarray) -> None:
        if self._y and (sy.shape != self._y[0].shape or su.shape != self._u[0].shape):
            self.flush()  # the frame size changed mid-stream
        self._y.append(sy)
        self._u.append(su)
        self._v.append(sv)
        if len(self._y) >= self.CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self._y:
            return
        small, hists = _reduced(self._y, self._u, self._v)
        self._y, self._u, self._v = [], [], []
        self.small.append(small)
        self.hists.append(hists)


def _reduced(
    y: Sequence[np.ndarray], u: Sequence[np.ndarray], v: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Luma thumbnails and chroma histograms of strided planes: `cv2.resize(..., INTER_AREA)` per
    frame, then `shots.histogram` vectorised over the frames."""
    fw, fh = shotlib.FEATURE_W, shotlib.FEATURE_H
    small = _area(y, fw, fh)
    su = _area(u, fw // 2, fh // 2)
    sv = _area(v, fw // 2, fh // 2)
    return small, shotlib.histograms(small, su, sv)


@dataclass(slots=True)
class _Samples:
    frames: np.ndarray
    times: np.ndarray
    features: np.ndarray
    hists: np.ndarray
    candidates: list[Candidate]


def _merge(parts: Sequence[_Part], max_candidates: int) -> _Samples:
    """The parts' samples in order, numbered, with one candidate pool."""
    parts = sorted(parts, key=lambda p: p.frames[0] if p.frames else 0)  # each a run of frames
    frames = np.asarray([f for p in parts for f in p.frames], np.int64)
    times = np.asarray([t for p in parts for t in p.times], np.float64)
    small = [c for p in parts for c in p.small]
    hists = [h for p in parts for h in p.hists]
    features = (
        np.concatenate(small) if small else np.zeros((0, shotlib.FEATURE_H, shotlib.FEATURE_W), np.uint8)
    )
    hist = np.concatenate(hists) if hists else np.zeros((0, 3 * shotlib.HIST_BINS), np.float32)
    if len(frames) > 1 and np.any(np.diff(frames) <= 0):  # a decoder handed frames out of order
        order = np.unique(frames, return_index=True)[1]
        frames, times, features, hist = frames[order], times[order], features[order], hist[order]
    candidates = sorted((c for p in parts for c in p.candidates), key=lambda c: c.frame)
    while len(candidates) > max_candidates:
        candidates = candidates[::2]
    for c in candidates:
        c.sample = int(np.searchsorted(frames, c.frame))
    return _Samples(frames, times, features, hist, candidates)


# --- locating hard cuts to the frame ---


def _per_sample(config: shotlib.CutConfig, frames: np.ndarray) -> shotlib.CutConfig:
    """The cut detector's frame counts as sample counts: its window must span the same time, or a
    dissolve a few samples long would stand out against the steady frames around it."""
    if len(frames) < 2:
        return config
    per_frame = (len(frames) - 1) / max(1, int(frames[-1] - frames[0]))
    return replace(
        config,
        window=max(2, round(config.window * per_frame)),
        min_shot_frames=max(2, round(config.min_shot_frames * per_frame)),
    )


def _locate_cuts(
    path: Path,
    index: _Index | None,
    frames: np.ndarray,
    scores: np.ndarray,
    config: shotlib.CutConfig,
    workers: int,
) -> tuple[list[int], int]:
    """Hard cuts as frame numbers: a cut between adjacent frames is exact; one between samples further
    apart is searched for among the frames between them."""
    cuts, gaps = [], []
    for i in shotlib.detect_cuts(scores, config):
        a, b = int(frames[i - 1]), int(frames[i])
        if b - a <= 1 or index is None:
            cuts.append(b)
        else:
            gaps.append((a, b))
    if gaps:
        assert index is not None
        cuts += _refine(path, index, gaps, workers)
    return sorted(cuts), len(gaps)


def _refine(path: Path, index: _Index, gaps: Sequence[tuple[int, int]], workers: int) -> list[int]:
    """For each (a, b) pair of samples, the frame in (a, b] that differs most from the one before it.

    Each group of gaps after one key frame is decoded from that key frame, skipping disposable frames
    except those inside the gaps, so its cost is the reference frames up to its last gap plus the gaps
    themselves; groups are decoded side by side.
    """
    by_key: dict[_Key, list[tuple[int, int]]] = {}
    for a, b in gaps:
        key = max((k for k in index.keys if k.frame <= a), key=lambda k: k.frame, default=index.keys[0])
        by_key.setdefault(key, []).append((a, b))
    with ThreadPoolExecutor(
        max_workers=max(1, min(workers, len(by_key))), thread_name_prefix="refine"
    ) as pool:
        found = pool.map(lambda item: _refine_group(path, index, *item), by_key.items())
        return [cut for cuts in found for cut in cuts]


def _refine_group(path: Path, index: _Index, key: _Key, group: list[tuple[int, int]]) -> list[int]:
    wanted = {int(index.pts[f]) for a, b in group for f in range(a, b + 1)}
    pictures = _decode_wanted(path, key, wanted, index)
    out = []
    for a, b in group:
        have = [f for f in range(a, b + 1) if f in pictures]
        if len(have) < 2:
            out.append(b)
            continue
        small, hists = _reduced(*zip(*(pictures[f] for f in have), strict=True))
        scores = shotlib.frame_scores(small, hists)
        out.append(have[int(np.argmax(scores[1:])) + 1])
    return out


def _decode_wanted(
    path: Path, key: _Key, wanted: set[int], index: _Index
) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Strided planes of the frames whose timestamps are in `wanted`, decoding from `key`.

    H.264 and HEVC decoders read the skip setting for every picture, so only the wanted disposable
    frames are decoded; other decoders (dav1d for AV1 reads it once, when it opens) decode every frame.
    """
    out: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    remaining = set(wanted)
    try:
        with open_for_decoding(path) as container:
            vs = video_stream(container)
            cc = vs.codec_context
            cc.thread_count = 1  # so that the skip setting applies to exactly the packet sent next
            toggles = cc.name in SKIP_PER_PICTURE
            container.seek(key.pts, stream=vs, backward=True, any_frame=False)
            for packet in container.demux(vs):
                if not remaining:
                    break
                if packet.size == 0:
                    continue
                remaining.discard(packet.pts)
                if toggles:
                    cc.skip_frame = "DEFAULT" if packet.pts in wanted else "NONREF"
                try:
                    _keep_wanted(cc.decode(packet), wanted, index, out)
                except av.error.InvalidDataError:
                    continue
            _keep_wanted(cc.decode(None), wanted, index, out)
    except av.error.FFmpegError:
        pass  # the cut stays at the later sample
    return out


def _keep_wanted(
    frames: Iterable[av.VideoFrame],
    wanted: set[int],
    index: _Index,
    out: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> None:
    for frame in frames:
        if frame.pts in wanted:
            out[index.frame_of(frame.pts)] = _sample_planes(frame)[0]


# --- audio ---


def _audio(path: Path, max_s: float | None) -> np.ndarray | None:
    """The first audio track as float32 mono at AUDIO_RATE, decoded on its own, at most `max_s` of it:
    the limits bound the video's length, and a track running on for hours past a short video (a file
    made to exhaust memory, or a mistake) is cut where the pictures end."""
    chunks: list[np.ndarray] = []
    wanted = None if max_s is None else round(max_s * AUDIO_RATE)
    have = 0
    try:
        with open_for_decoding(path) as container:
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)
            for packet in container.demux(stream):
                if wanted is not None and have >= wanted:
                    break
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError:
                    continue
                for frame in frames:
                    for resampled in resampler.resample(frame):
                        chunks.append(resampled.to_ndarray()[0])
                        have += len(chunks[-1])
            chunks.extend(f.to_ndarray()[0] for f in resampler.resample(None))
    except av.error.FFmpegError:
        if not chunks:
            return None
    if not chunks:
        return None
    out: np.ndarray = np.concatenate(chunks)[:wanted].astype(np.float32) / 32768.0
    return out


def _audio_span(index: _Index | None, fps: float, expected_frames: int) -> float | None:
    """Seconds of audio worth keeping: as long as the pictures, and a second more."""
    if index is not None:
        return float(index.times()[-1]) + 1.0 / fps + AUDIO_SLACK_S
    return expected_frames / fps + AUDIO_SLACK_S if expected_frames else None


# --- pixels ---


_Planes = tuple[np.ndarray, np.ndarray, np.ndarray]


def _sample_planes(frame: av.VideoFrame) -> tuple[_Planes, tuple[av.VideoFrame, _Planes] | None]:
    """The strided 8-bit planes the features are reduced from, and the frame as 8-bit 4:2:0 with its
    planes where it had to be converted for them (None for 10 or 12 bits, HDR from phones: the top
    8 bits of their planes are taken as they are, and only a keyframe candidate is converted, which
    costs as much as decoding the frame)."""
    shift = _DEEP_420.get(frame.format.name)
    if shift is not None and not (frame.width % 2 or frame.height % 2):
        y, u, v = (_top_bits(p, shift) for p in _strided(*_planes(frame, np.uint16)))
        return (y, u, v), None
    converted = _converted(frame)
    return _strided(*converted[1]), converted


def _converted(frame: av.VideoFrame) -> tuple[av.VideoFrame, _Planes]:
    frame = colour.as_i420(frame)
    return frame, _planes(frame)


def _strided(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Copies of the planes strided down to about twice the feature size (a few kB); the area average
    over a chunk of them then keeps the feature cost flat whatever the resolution."""
    fw, fh = shotlib.FEATURE_W, shotlib.FEATURE_H
    step = max(1, min(y.shape[1] // (2 * fw), y.shape[0] // (2 * fh)))
    cstep = max(1, step // 2)
    return y[::step, ::step].copy(), u[::cstep, ::cstep].copy(), v[::cstep, ::cstep].copy()


def _area(planes: Sequence[np.ndarray], width: int, height: int) -> np.ndarray:
    """Every plane shrunk to `width` x `height` by area averaging, stacked: planes strided to twice the
    size take OpenCV's vectorised halving, a few microseconds each."""
    return np.stack([shrink(p, width, height) for p in planes])


#: Planar 4:2:0 formats deeper than 8 bits, and the shift that keeps their top 8 bits.
_DEEP_420 = {"yuv420p10le": 2, "yuv420p12le": 4}


def _planes(
    frame: av.VideoFrame, dtype: type[np.uint8] | type[np.uint16] = np.uint8
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of a planar 4:2:0 frame's Y, U and V planes, without their row padding."""
    size = np.dtype(dtype).itemsize
    out = []
    for plane in frame.planes:  # `planes` builds new objects at every access: read it once
        buf: np.ndarray = np.frombuffer(memoryview(plane), dtype).reshape(
            plane.height, plane.line_size // size
        )
        out.append(buf[:, : plane.width])
    y, u, v = out
    return y, u, v


def _top_bits(plane: np.ndarray, shift: int) -> np.ndarray:
    out: np.ndarray = (plane >> shift).astype(np.uint8)
    return out


def _candidate(
    frame: av.VideoFrame,
    planes: tuple[np.ndarray, np.ndarray, np.ndarray],
    number: int,
    rotation: int,
    mirror: bool,
) -> Candidate:
    w, h = frame.width, frame.height
    scale = min(1.0, MAX_CANDIDATE_SIDE / max(w, h))
    if scale < 1.0:
        w, h = int(w * scale) // 2 * 2, int(h * scale) // 2 * 2
        frame = colour.as_i420(frame, w, h)
        planes = _planes(frame)
    # Views, not copies: they keep the decoded frame alive, and the decoder hands out a fresh buffer for
    # every frame, so the pixels stay as decoded. Thinning the pool releases the frames it drops.
    quality = frame_quality(orient.upright(planes[0], rotation))  # a mirror image scores the same
    space = colour.YuvSpace.of(frame)
    return Candidate(number, -1, 0.0, planes, w, h, rotation, quality, space, mirror)
