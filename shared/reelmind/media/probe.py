"""Read a container's header and streams without decoding the whole file."""

from __future__ import annotations

import re
from pathlib import Path

import av

from reelmind.domain.video import MediaInfo
from reelmind.errors import CorruptMedia, EmptyFile, NoVideoStream, UnsupportedMedia

_DURATION_TAG = re.compile(r"(\d+):(\d{2}):(\d{2}(?:\.\d+)?)")


def probe(path: Path) -> MediaInfo:
    size = path.stat().st_size
    if size == 0:
        raise EmptyFile("the uploaded file is empty (0 bytes)")
    try:
        container = open_for_decoding(path)
    except av.error.InvalidDataError:
        if _looks_like_iso_media(path):
            raise CorruptMedia(
                "the MP4/MOV file is damaged or truncated (its index could not be read)"
            ) from None
        raise UnsupportedMedia(
            "the file is not a video container that can be read (is it really a video?)"
        ) from None
    except av.error.FFmpegError as exc:
        raise CorruptMedia(f"the file could not be opened as media: {exc.strerror or exc}") from None
    with container:
        vs = video_stream(container)
        if not vs.codec_context or not vs.codec_context.name:
            raise UnsupportedMedia("the video stream's codec is unknown")
        width, height = vs.codec_context.width, vs.codec_context.height
        if not width or not height:
            raise CorruptMedia("the video stream has no frame size; the file is probably truncated")
        fps = float(vs.average_rate or vs.guessed_rate or 0) or 0.0
        duration_s = video_duration(container, vs)
        if duration_s <= 0 or fps <= 0:
            raise CorruptMedia(
                "the video stream has no duration or frame rate; the file is probably truncated"
            )
        frame_count = int(vs.frames) if vs.frames else round(duration_s * fps)
        audio = container.streams.audio[0] if container.streams.audio else None
        # A sound track FFmpeg has no decoder for (an unknown or damaged sample entry) has no codec
        # context: named "unknown", it is refused like any codec not on the list, the pictures kept.
        audio_cc = audio.codec_context if audio is not None else None
        audio_codec = None if audio is None else UNKNOWN_CODEC
        audio_rate = None
        if audio_cc is not None:
            audio_codec, audio_rate = audio_cc.codec.canonical_name, int(audio_cc.sample_rate or 0) or None
        bitrate = int(container.bit_rate or (size * 8 / duration_s))
        return MediaInfo(
            container=container.format.name,
            duration_s=round(duration_s, 3),
            size_bytes=size,
            width=int(width),
            height=int(height),
            fps=round(fps, 3),
            frame_count=frame_count,
            # The format's name, not the decoder's: FFmpeg decodes AV1 with libdav1d and MP3 with mp3float.
            video_codec=vs.codec_context.codec.canonical_name,
            audio_codec=audio_codec,
            audio_sample_rate=audio_rate,
            bitrate_bps=bitrate,
        )


#: The codec name of a stream FFmpeg cannot identify.
UNKNOWN_CODEC = "unknown"


def main_video(container: av.container.InputContainer) -> av.VideoStream | None:
    """The first video stream that is moving pictures: a song's cover art is a one-picture "video"
    stream too (an attached picture)."""
    return next(
        (s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic), None
    )


def video_stream(container: av.container.InputContainer) -> av.VideoStream:
    """`main_video`, or NoVideoStream where there is none."""
    vs = main_video(container)
    if vs is None:
        raise NoVideoStream("the file has no video stream (audio-only or data file)")
    return vs


def open_for_decoding(path: Path) -> av.container.InputContainer:
    """Open a file with its streams described from the header and packets alone: FFmpeg's stream
    analysis otherwise decodes the first pictures to learn what a decoder finds out anyway (12 of the
    15 ms an open of a 720p H.264 file takes; an ingest opens the file five times). Frame size, rate,
    duration and codecs, all probe reads, come from the header."""
    return av.open(str(path), metadata_errors="ignore", options={"skip_frame": "all"})


def video_duration(container: av.container.InputContainer, vs: av.video.stream.VideoStream) -> float:
    """The video stream's own length in seconds (0 when unknown): Matroska and WebM give it only as a
    tag (the container's length is that of its longest track, often the audio)."""
    if vs.duration is not None and vs.time_base is not None:
        return float(vs.duration * vs.time_base)
    tagged = _DURATION_TAG.fullmatch(str(vs.metadata.get("DURATION", "")))
    if tagged:
        hours, minutes, seconds = tagged.groups()
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    if container.duration is not None:
        return float(container.duration / av.time_base)
    return 0.0


def _looks_like_iso_media(path: Path) -> bool:
    """True when the file starts like an ISO base media file (MP4, MOV): a size then 'ftyp'."""
    with path.open("rb") as fh:
        head = fh.read(12)
    return len(head) >= 8 and head[4:8] in {b"ftyp", b"moov", b"mdat", b"wide", b"free"}
